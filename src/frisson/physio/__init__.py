"""Physiology: readers, skin conductance, cardiac pipelines and quality flags.

Every output is a :class:`~frisson.timeseries.TimeSeries` (or a typed result
holding times in seconds) that carries its own rate and start time, so it
aligns with stimulus time and resamples to any analysis rate. NeuroKit2 does
the generic signal processing (peak detectors, cvxEDA, simulators) and is
imported only when a function needs it; frisson adds the studies' methods,
validation and checks.

Modules: :mod:`~frisson.physio.io` (readers), :mod:`~frisson.physio.formats`
(lab formats with markers: E4, OpenSignals, XDF, EDF+, AcqKnowledge, WFDB, npy),
:mod:`~frisson.physio.eda`, :mod:`~frisson.physio.cardiac`, :mod:`~frisson.physio.quality`,
:mod:`~frisson.physio.simulate`.
"""

from frisson.physio.cardiac import (
    Beats,
    find_beats,
    heart_rate,
    hrv,
    instantaneous_heart_rate,
)
from frisson.physio.eda import (
    EdaComponents,
    Scrs,
    decompose,
    detrend,
    find_scrs,
    lowpass,
    normalize_trial,
    phasic_target,
)
from frisson.physio.formats import (
    FORMATS,
    Marker,
    Recording,
    read_e4,
    read_npy,
    read_opensignals,
    read_recording,
    read_wfdb,
    read_xdf,
)
from frisson.physio.io import (
    CHANNEL_KINDS,
    channel_kind,
    read_acqknowledge,
    read_bids_physio,
    read_edf,
    read_physio,
    read_table_physio,
)
from frisson.physio.quality import QualityFlag, QualityReport, check_beats, check_signal
from frisson.physio.simulate import SimulatedEda, simulate_eda

__all__ = [
    "CHANNEL_KINDS",
    "FORMATS",
    "Beats",
    "EdaComponents",
    "Marker",
    "QualityFlag",
    "QualityReport",
    "Recording",
    "Scrs",
    "SimulatedEda",
    "channel_kind",
    "check_beats",
    "check_signal",
    "decompose",
    "detrend",
    "find_beats",
    "find_scrs",
    "heart_rate",
    "hrv",
    "instantaneous_heart_rate",
    "lowpass",
    "normalize_trial",
    "phasic_target",
    "read_acqknowledge",
    "read_bids_physio",
    "read_e4",
    "read_edf",
    "read_npy",
    "read_opensignals",
    "read_physio",
    "read_recording",
    "read_table_physio",
    "read_wfdb",
    "read_xdf",
    "simulate_eda",
]
