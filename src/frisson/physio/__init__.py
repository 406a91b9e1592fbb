"""Physiology: readers, skin conductance, cardiac pipelines and quality flags.

Every output is a :class:`~frisson.timeseries.TimeSeries` that carries its own
rate and start time, so it aligns with stimulus time and resamples to any
analysis rate. NeuroKit2 does the generic signal processing (peak detectors,
cvxEDA, simulators); frisson adds the studies' methods, validation and checks.
"""

from frisson.physio.io import (
    CHANNEL_KINDS,
    channel_kind,
    read_acqknowledge,
    read_bids_physio,
    read_edf,
    read_physio,
    read_table_physio,
)

__all__ = [
    "CHANNEL_KINDS",
    "channel_kind",
    "read_acqknowledge",
    "read_bids_physio",
    "read_edf",
    "read_physio",
    "read_table_physio",
]
