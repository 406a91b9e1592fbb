"""Cardiac: PPG systolic peaks and ECG R-peaks, inter-beat intervals, heart rate and HRV.

Pipeline: :func:`find_beats` (NeuroKit2 cleaning + peak detector, run in
overlapping chunks so memory stays bounded on long recordings, then, for PPG
only by default, Kubios artefact correction with ``signal_fixpeaks``) ->
:class:`Beats` -> :func:`heart_rate` (the chills study's 10-s weighted IBI
average), :func:`instantaneous_heart_rate`, :func:`hrv` (RMSSD, SDNN in sliding
windows).

Gaps are not averaged over. An inter-beat interval longer than ``max_ibi_s``
(default :data:`DEFAULT_MAX_IBI_S` = 2.0 s, i.e. 30 bpm, the lower end of
:func:`frisson.physio.quality.check_beats`' plausible range) is a lost signal
segment or missed beats, not a heartbeat: every heart-rate sample whose window
overlaps it is NaN, and HRV drops it and the successive differences next to it.
Without this, a 6-s hole in a 72-bpm PPG reads as a 14-17 bpm heart rate.

Default detectors were chosen by measured accuracy, not by name
(``tests/test_physio_cardiac.py``, ``benchmarks/physio.py``):

* PPG, 10-s weighted HR on a 1-s grid against the ECG of the real pyphysio
  recording (120 s at 2048 Hz), MAE with / without artefact correction:
  ``elgendi`` 1.02 / 0.90 bpm (0.1 s), ``charlton`` 1.41 / 1.60 bpm,
  ``bishop`` 1.42 / 1.58 bpm (37 s, after resampling to 256 Hz). On HeartPy's
  raw PPG recordings only ``elgendi`` is usable: its 120-s segment rates on
  ``data3.csv`` match HeartPy's documented values within 0.4 bpm, while
  ``bishop`` and ``charlton`` report 120-190 bpm for a ~97 bpm heart.
* ECG: ``neurokit`` needs no artefact correction on the pyphysio ECG (0
  corrected beats), and correction harms real R-peaks: on the annotated
  MIT-BIH Arrhythmia record 100 (``tests/data/mitdb``, 2273 beats, 33 atrial
  premature beats and one PVC) the uncorrected detector puts a beat within
  50 ms of 2270 annotated beats, while Kubios correction moves 72 of those
  genuine R-peaks by 53-203 ms (all 33 atrial premature beats and 39 normal
  beats, 27 of them next to one: it takes premature beats for ectopic ones and
  shifts them towards a regular rhythm), leaving 2198 of 2273 within 50 ms.
  So ECG is not corrected by default (``correct_artifacts=None`` resolves to
  False for ECG, True for PPG; :attr:`Beats.corrected` records which). The
  ``neurokit`` ECG detector agrees with ``kalidas2017`` (0.08 bpm MAE),
  ``pantompkins1985`` (0.23), ``christov2004`` (0.28), ``nabian2018`` (0.02)
  and ``engzeemod2012`` (0.00); ``hamilton2002`` (1.45), ``elgendi2010``
  (1.18) and ``rodrigues2021`` (6.09) disagree.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "DEFAULT_CORRECT_ARTIFACTS",
    "DEFAULT_MAX_IBI_S",
    "DEFAULT_METHODS",
    "METHODS",
    "Beats",
    "find_beats",
    "heart_rate",
    "hrv",
    "instantaneous_heart_rate",
]

BeatSignal = Literal["ppg", "ecg"]
#: NeuroKit2 peak detectors frisson exposes, per signal kind.
METHODS: dict[str, tuple[str, ...]] = {
    "ppg": ("elgendi", "bishop", "charlton"),
    "ecg": (
        "neurokit",
        "pantompkins1985",
        "hamilton2002",
        "christov2004",
        "engzeemod2012",
        "elgendi2010",
        "kalidas2017",
        "rodrigues2021",
        "nabian2018",
    ),
}
#: Defaults, chosen by measured accuracy (module notes).
DEFAULT_METHODS: dict[str, str] = {"ppg": "elgendi", "ecg": "neurokit"}
#: Chunk length and overlap (s) per detector; ``bishop`` (MSPTD) allocates an
#: (n/2 x n) boolean scalogram per chunk, so it runs on short chunks.
_CHUNKS_S: dict[str, tuple[float, float]] = {"bishop": (10.0, 2.0)}
_DEFAULT_CHUNK_S = (300.0, 10.0)
_BISHOP_MAX_SAMPLES = 12_000  # ~72 MB of scalogram per chunk
#: NeuroKit2 cleaning method used before each detector.
CLEAN_METHODS: dict[str, str] = {"ppg": "elgendi", "ecg": "neurokit"}
#: Whether :func:`find_beats` runs Kubios artefact correction by default, per
#: signal kind: not for ECG, where it moves genuine (premature) R-peaks (module notes).
DEFAULT_CORRECT_ARTIFACTS: dict[str, bool] = {"ppg": True, "ecg": False}
#: Longest inter-beat interval (s) averaged over by default: 30 bpm.
DEFAULT_MAX_IBI_S = 2.0


@dataclass(frozen=True)
class Beats:
    """Heart beats found in one recording.

    Attributes
    ----------
    times_s : ndarray, shape (n_beats,)
        Beat times in seconds on the recording's time axis (after correction,
        if ``corrected``).
    kind : str
        ``"ppg"`` (systolic peaks) or ``"ecg"`` (R-peaks).
    method : str
        The NeuroKit2 detector.
    n_corrected : int
        Beats moved, added or removed by the artefact correction (0 when not
        ``corrected``).
    span_s : (float, float)
        Start and end of the analysed signal.
    params : dict
        Every setting used, for reports.
    corrected : bool
        Whether Kubios artefact correction was applied to ``times_s``
        (default False: planted or raw detector beats).

    """

    times_s: np.ndarray
    kind: str
    method: str
    n_corrected: int
    span_s: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)
    corrected: bool = False

    def __len__(self) -> int:
        return int(self.times_s.size)

    @property
    def ibi_s(self) -> np.ndarray:
        """Inter-beat intervals ``diff(times_s)`` in seconds, shape (n_beats - 1,)."""
        return np.diff(self.times_s)

    def to_frame(self):
        """A table with ``time_s`` and ``ibi_s`` (the interval ending at the beat; NaN first)."""
        import pandas as pd

        return pd.DataFrame({"time_s": self.times_s, "ibi_s": np.r_[np.nan, self.ibi_s]})


def _detect(
    x: np.ndarray, rate: float | int, kind: str, method: str, options: Mapping[str, Any]
) -> np.ndarray:
    import neurokit2 as nk

    if float(rate).is_integer():
        rate = int(rate)  # some NeuroKit2 detectors (charlton) need an integer rate
    elif method == "charlton":
        raise ParameterError(
            f"method='charlton' needs a whole-number rate, got {rate:g} Hz; resample the "
            "signal first (signal.resample(100.0))."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2 warns about its own internals
        if kind == "ppg":
            clean = nk.ppg_clean(x, sampling_rate=rate, method=CLEAN_METHODS["ppg"])
            peaks = nk.ppg_findpeaks(clean, sampling_rate=rate, method=method, **options)
            return np.asarray(peaks["PPG_Peaks"], dtype=int)
        clean = nk.ecg_clean(x, sampling_rate=rate, method=CLEAN_METHODS["ecg"])
        peaks = nk.ecg_findpeaks(clean, sampling_rate=rate, method=method, **options)
        return np.asarray(peaks["ECG_R_Peaks"], dtype=int)


def find_beats(
    signal: TimeSeries,
    *,
    kind: BeatSignal,
    method: str | None = None,
    correct_artifacts: bool | None = None,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    method_params: Mapping[str, Any] | None = None,
) -> Beats:
    """Heart beats from a PPG (systolic peaks) or ECG (R-peaks) recording.

    Parameters
    ----------
    signal : TimeSeries, shape (n_times, 1)
        The raw PPG or ECG, finite, at its own rate.
    kind : {'ppg', 'ecg'}
        What the signal is.
    method : str, optional
        A NeuroKit2 detector from :data:`METHODS`; default :data:`DEFAULT_METHODS`.
    correct_artifacts : bool, optional
        Correct missed, extra and ectopic beats with NeuroKit2's
        ``signal_fixpeaks`` (Kubios method, Lipponen & Tarvainen 2019).
        Default :data:`DEFAULT_CORRECT_ARTIFACTS`: True for PPG, False for ECG.
        On ECG the correction moves genuine premature R-peaks and their
        neighbours by 53-203 ms (72 of the 2273 annotated beats of MIT-BIH
        record 100; see the module notes), so pass True only for a noisy ECG
        whose detector errors you have checked.
        On PPG it may place a beat inside a lost segment; intervals still
        longer than ``max_ibi_s`` there keep :func:`heart_rate` NaN.
    chunk_s, overlap_s : float, optional
        Detection runs on chunks of ``chunk_s`` seconds overlapping by
        ``overlap_s``; each keeps the beats of its central part. This bounds the
        memory of detectors that grow faster than linearly with length.
        Default 300 s / 10 s, and 10 s / 2 s for ``bishop`` (MSPTD's
        scalogram is quadratic in the chunk's samples: above 12,000 samples per
        chunk it is refused; resample the signal first, e.g. ``signal.resample(200)``).
    method_params : mapping, optional
        Extra options for the NeuroKit2 detector.

    Returns
    -------
    Beats
        With ``corrected`` telling whether the correction ran.

    Examples
    --------
    >>> import neurokit2 as nk
    >>> ppg = nk.ppg_simulate(duration=60, sampling_rate=100, heart_rate=72, random_state=0)
    >>> beats = find_beats(TimeSeries(ppg, 100.0), kind="ppg")
    >>> round(60 / float(np.median(beats.ibi_s))), beats.corrected
    (72, True)

    """
    check_option("kind", kind, ("ppg", "ecg"))
    if correct_artifacts is None:
        correct_artifacts = DEFAULT_CORRECT_ARTIFACTS[kind]
    elif not isinstance(correct_artifacts, bool | np.bool_):
        raise ParameterError(
            f"correct_artifacts must be True, False or None (the kind's default), got "
            f"{correct_artifacts!r}."
        )
    correct_artifacts = bool(correct_artifacts)
    method = DEFAULT_METHODS[kind] if method is None else method
    check_option("method", method, METHODS[kind])
    default_chunk, default_overlap = _CHUNKS_S.get(method, _DEFAULT_CHUNK_S)
    chunk_s = check_positive("chunk_s", default_chunk if chunk_s is None else chunk_s)
    overlap_s = default_overlap if overlap_s is None else overlap_s
    overlap_s = check_positive("overlap_s", overlap_s, allow_zero=True)
    if overlap_s >= chunk_s / 2:
        raise ParameterError(f"overlap_s={overlap_s} must be less than half of chunk_s={chunk_s}.")
    options = dict(method_params or {})
    if signal.n_channels != 1:
        raise ParameterError(
            f"signal must have one channel, got {signal.n_channels}; select one first."
        )
    x = signal.values[:, 0].astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(
            f"{signal.names[0]}: {int(np.sum(~np.isfinite(x)))} NaN/inf samples; check it with "
            "frisson.physio.quality.check_signal and fill short gaps with series.interpolate_nan()."
        )
    rate = signal.rate_hz
    n = x.size
    chunk, overlap = round(chunk_s * rate), round(overlap_s * rate)
    if method == "bishop" and min(n, chunk) > _BISHOP_MAX_SAMPLES:
        raise ParameterError(
            f"method='bishop' on chunks of {min(n, chunk)} samples ({chunk_s:g} s at {rate:g} Hz) "
            f"would need {min(n, chunk) ** 2 / 2 / 2**30:.1f} GiB; resample the PPG first "
            f"(signal.resample(200.0)) or pass a chunk_s of at most "
            f"{_BISHOP_MAX_SAMPLES / rate:.1f} s."
        )
    found = []
    step = chunk - 2 * overlap
    for start in range(0, n, step):
        lo, hi = max(0, start - overlap), min(n, start + step + overlap)
        try:
            peaks = _detect(x[lo:hi], rate, kind, method, options) + lo
        except (IndexError, ValueError, ZeroDivisionError) as error:
            raise DataError(
                f"{signal.names[0]}: the {method!r} {kind.upper()} detector failed on "
                f"{lo / rate:.1f}-{hi / rate:.1f} s ({type(error).__name__}: {error}); check the "
                "signal (frisson.physio.quality.check_signal), its kind and its rate."
            ) from None
        keep_hi = min(n, start + step)
        found.append(peaks[(peaks >= start) & (peaks < keep_hi)])
        if keep_hi == n:
            break
    peaks = np.unique(np.concatenate(found)) if found else np.array([], dtype=int)
    if peaks.size < 3:
        raise DataError(
            f"{signal.names[0]}: only {peaks.size} beats found in {signal.duration_s:.1f} s of "
            f"{kind.upper()}; check the signal (quality flags), the kind and rate_hz="
            f"{rate:g}."
        )
    n_corrected = 0
    if correct_artifacts:
        import neurokit2 as nk

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, fixed = nk.signal_fixpeaks(
                peaks, sampling_rate=rate, iterative=True, method="Kubios"
            )
        fixed = np.unique(np.asarray(fixed, dtype=int))
        n_corrected = int(np.setxor1d(fixed, peaks).size)
        peaks = fixed
    params = {
        "kind": kind,
        "method": method,
        "clean_method": CLEAN_METHODS[kind],
        "correct_artifacts": correct_artifacts,
        "chunk_s": chunk_s,
        "overlap_s": overlap_s,
        "method_params": options,
    }
    logger.info(
        "%s beats: %d with %s, artefact correction %s (%d beats changed)",
        kind.upper(),
        peaks.size,
        method,
        "on" if correct_artifacts else "off",
        n_corrected,
    )
    return Beats(
        times_s=signal.start_s + peaks / rate,
        kind=kind,
        method=method,
        n_corrected=n_corrected,
        span_s=(signal.start_s, signal.end_s),
        params=params,
        corrected=correct_artifacts,
    )


def _grid(beats: Beats, rate_hz: float, start_s: float | None, end_s: float | None) -> np.ndarray:
    rate_hz = check_positive("rate_hz", rate_hz)
    start = beats.span_s[0] if start_s is None else float(start_s)
    end = beats.span_s[1] if end_s is None else float(end_s)
    if end < start:
        raise ParameterError(f"end_s={end} is before start_s={start}.")
    return start + np.arange(int(np.floor((end - start) * rate_hz + 1e-9)) + 1) / rate_hz


def _check_max_ibi(max_ibi_s: float | None) -> float:
    """``max_ibi_s`` as a float (inf for None, i.e. no limit)."""
    if max_ibi_s is None:
        return np.inf
    return check_positive("max_ibi_s", max_ibi_s)


def _beat_times(beats: Beats, minimum: int = 2) -> np.ndarray:
    b = np.asarray(beats.times_s, dtype=np.float64)
    if b.size < minimum:
        raise DataError(f"Need at least {minimum} beats, got {b.size}.")
    if not np.isfinite(b).all() or np.any(np.diff(b) <= 0):
        raise DataError(
            "Beat times must be finite and strictly increasing; sort them and drop "
            "duplicates (np.unique(times_s))."
        )
    return b


def _touches_long_interval(
    b: np.ndarray, max_ibi_s: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """True where ``(lo, hi)`` overlaps an interval longer than ``max_ibi_s`` by a positive time."""
    long = np.flatnonzero(np.diff(b) > max_ibi_s)
    if long.size == 0:
        return np.zeros(np.shape(lo), dtype=bool)
    starts, ends = b[long], b[long + 1]  # sorted and disjoint
    # intervals starting before hi, minus those ending at or before lo
    return np.searchsorted(starts, hi, side="left") - np.searchsorted(ends, lo, side="right") > 0


def heart_rate(
    beats: Beats,
    *,
    rate_hz: float,
    window_s: float = 10.0,
    min_coverage: float = 0.5,
    max_ibi_s: float | None = DEFAULT_MAX_IBI_S,
    start_s: float | None = None,
    end_s: float | None = None,
) -> TimeSeries:
    """Heart rate as the weighted average of inter-beat intervals over sliding windows.

    The chills study's method. For the window ``W = [t - window_s/2, t + window_s/2]``
    around each output time ``t``, every interval ``k`` between beats
    ``b_k`` and ``b_{k+1}`` is weighted by the time it overlaps the window,
    ``o_k = |[b_k, b_{k+1}] ∩ W|``::

        mean_ibi(t) = sum_k o_k * ibi_k / sum_k o_k
        hr_bpm(t)   = 60 / mean_ibi(t)

    so an interval half inside the window counts half, and the result moves
    smoothly as beats enter and leave. Computed exactly from the cumulative
    integral of the step function ``ibi(t)``.

    The value is NaN where it would not be a heart rate:

    * where any interval with ``o_k > 0`` is longer than ``max_ibi_s``: a gap
      in the beats (a lost PPG segment, missed beats) is never averaged in, so
      every sample whose window overlaps the gap, i.e. ``t`` within
      ``window_s / 2`` of it, is NaN;
    * where the beats cover less than ``min_coverage`` of the window (the
      recording's edges).

    Parameters
    ----------
    beats : Beats
        From :func:`find_beats` (or planted); times strictly increasing.
    rate_hz : float
        Output rate (e.g. 1 Hz, or the analysis grid's rate).
    window_s : float
        Window length (default 10 s, the study's).
    min_coverage : float
        Smallest fraction of a window the beats must cover (default 0.5).
    max_ibi_s : float or None
        Longest inter-beat interval taken as one heartbeat (default
        :data:`DEFAULT_MAX_IBI_S` = 2.0 s, i.e. 30 bpm, the lower end of
        :func:`~frisson.physio.quality.check_beats`' plausible range). Longer
        intervals are gaps and make the windows they touch NaN. None averages
        over everything (the old behaviour: a 6-s gap then reads as ~15 bpm).
    start_s, end_s : float, optional
        Output span; default the analysed signal's.

    Returns
    -------
    TimeSeries, shape (n, 1)
        Channel ``hr_bpm``, unit ``bpm``.

    Examples
    --------
    >>> beats = Beats(np.r_[np.arange(0, 30, 1.0), 30 + np.arange(0, 31) * 0.5], "ecg", "-", 0,
    ...               (0.0, 45.0))
    >>> hr = heart_rate(beats, rate_hz=1.0)
    >>> hr.values[[5, 30, 40], 0]
    array([ 60.,  80., 120.])

    A 6-s gap (no beats between 20 and 26 s) blanks every window that overlaps it:

    >>> gap = Beats(np.r_[np.arange(0, 21.0), np.arange(26, 45.0)], "ppg", "-", 0, (0.0, 44.0))
    >>> heart_rate(gap, rate_hz=1.0).values[14:33, 0]
    array([60., 60., nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
           nan, nan, nan, nan, 60., 60.])

    """
    window_s = check_positive("window_s", window_s)
    if not 0 < min_coverage <= 1:
        raise ParameterError(f"min_coverage must lie in (0, 1], got {min_coverage!r}.")
    limit = _check_max_ibi(max_ibi_s)
    times = _grid(beats, rate_hz, start_s, end_s)
    b = _beat_times(beats)
    ibi = np.diff(b)
    cumulative = np.r_[0.0, np.cumsum(ibi * ibi)]  # integral of ibi(t) from b_0 to each beat

    def integral(x: np.ndarray) -> np.ndarray:
        return np.interp(x, b, cumulative)  # exact: piecewise linear between beats

    lo, hi = times - window_s / 2, times + window_s / 2
    area = integral(hi) - integral(lo)
    covered = np.clip(hi, b[0], b[-1]) - np.clip(lo, b[0], b[-1])
    valid = (covered >= min_coverage * window_s) & ~_touches_long_interval(b, limit, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ibi = area / covered
        hr = np.where(valid, 60.0 / mean_ibi, np.nan)
    n_gap = int(np.sum(ibi > limit))
    if n_gap:
        logger.info(
            "heart_rate: %d inter-beat interval(s) over max_ibi_s=%g s; %d of %d samples NaN",
            n_gap,
            limit,
            int(np.sum(~valid)),
            valid.size,
        )
    return TimeSeries(hr, rate_hz, start_s=float(times[0]), names=["hr_bpm"], units=["bpm"])


def instantaneous_heart_rate(
    beats: Beats,
    *,
    rate_hz: float,
    max_ibi_s: float | None = DEFAULT_MAX_IBI_S,
    start_s: float | None = None,
    end_s: float | None = None,
) -> TimeSeries:
    """Beat-to-beat heart rate ``60 / ibi_k`` held from beat ``k`` to beat ``k + 1``.

    NaN before the first and after the last beat, and across every interval
    longer than ``max_ibi_s`` (a gap, not a heartbeat; default
    :data:`DEFAULT_MAX_IBI_S` = 2.0 s, None for no limit).

    Parameters
    ----------
    beats : Beats
        From :func:`find_beats` (or planted); times strictly increasing.
    rate_hz : float
        Output rate.
    max_ibi_s : float or None
        Longest interval held as a heart rate (see :func:`heart_rate`).
    start_s, end_s : float, optional
        Output span; default the analysed signal's.

    Returns
    -------
    TimeSeries, shape (n, 1)
        Channel ``hr_bpm``, unit ``bpm``.

    Examples
    --------
    >>> beats = Beats(np.array([0.0, 1.0, 1.5, 4.5, 5.0]), "ppg", "-", 0, (0.0, 5.0))
    >>> instantaneous_heart_rate(beats, rate_hz=2.0).values[:, 0]  # a 3-s gap from 1.5 s
    array([ 60.,  60., 120.,  nan,  nan,  nan,  nan,  nan,  nan, 120.,  nan])

    """
    limit = _check_max_ibi(max_ibi_s)
    times = _grid(beats, rate_hz, start_s, end_s)
    b = _beat_times(beats)
    ibi = np.diff(b)
    index = np.searchsorted(b, times, side="right") - 1
    inside = (index >= 0) & (index < b.size - 1)
    inside[inside] &= ibi[index[inside]] <= limit
    hr = np.full(times.size, np.nan)
    hr[inside] = 60.0 / ibi[index[inside]]
    return TimeSeries(hr, rate_hz, start_s=float(times[0]), names=["hr_bpm"], units=["bpm"])


def hrv(
    beats: Beats,
    *,
    window_s: float = 60.0,
    hop_s: float = 5.0,
    min_beats: int = 10,
    max_ibi_s: float | None = DEFAULT_MAX_IBI_S,
) -> TimeSeries:
    """RMSSD and SDNN of the inter-beat intervals in sliding windows.

    For the intervals whose two beats both fall in ``[t - window_s/2, t + window_s/2]``
    and that are at most ``max_ibi_s`` long:
    ``sdnn_ms = 1000 * std(ibi, ddof=1)`` over those intervals, and
    ``rmssd_ms = 1000 * sqrt(mean(d**2))`` over the successive differences
    ``d = ibi_{k+1} - ibi_k`` of consecutive usable intervals (NeuroKit2's
    ``hrv_time`` definitions). A longer interval is a gap, not a heartbeat:
    it is left out, and so are the two successive differences that would
    span it, so no difference compares beats across a gap.

    Parameters
    ----------
    beats : Beats
        From :func:`find_beats` (or planted); times strictly increasing.
    window_s : float
        Window length (default 60 s; short-term HRV needs at least ~30 s).
    hop_s : float
        Time between window centres (the output's period).
    min_beats : int
        Windows with fewer than ``min_beats - 1`` usable intervals (as many as
        ``min_beats`` beats without a gap) give NaN (default 10).
    max_ibi_s : float or None
        Longest usable interval (default :data:`DEFAULT_MAX_IBI_S` = 2.0 s,
        i.e. 30 bpm; None for no limit).

    Returns
    -------
    TimeSeries, shape (n_windows, 2)
        Channels ``rmssd_ms`` and ``sdnn_ms`` at the window centres, rate ``1 / hop_s``.

    Examples
    --------
    >>> ibi = [0.8, 0.9, 0.7, 0.8, 6.0, 0.75, 0.85, 0.8, 0.9]  # one 6-s gap
    >>> beats = Beats(np.r_[0.0, np.cumsum(ibi)], "ecg", "-", 0, (0.0, 12.5))
    >>> out = hrv(beats, window_s=12.5, min_beats=5)
    >>> round(float(out.values[0, 0]), 2)  # differences .1 -.2 .1 | .1 -.05 .1
    117.26

    """
    window_s = check_positive("window_s", window_s)
    hop_s = check_positive("hop_s", hop_s)
    min_beats = check_int("min_beats", min_beats, minimum=3)
    limit = _check_max_ibi(max_ibi_s)
    start, end = beats.span_s
    if end - start < window_s:
        raise DataError(
            f"The recording spans {end - start:.1f} s, shorter than one HRV window of "
            f"{window_s:g} s; use a shorter window_s."
        )
    n_windows = int(np.floor((end - start - window_s) / hop_s + 1e-9)) + 1
    centres = start + window_s / 2 + np.arange(n_windows) * hop_s
    b = _beat_times(beats)
    out = np.full((centres.size, 2), np.nan)
    for i, c in enumerate(centres):
        inside = b[(b >= c - window_s / 2) & (b <= c + window_s / 2)]
        ibi = np.diff(inside)
        usable = ibi <= limit
        if usable.sum() < min_beats - 1:
            continue
        pairs = usable[:-1] & usable[1:]
        out[i, 0] = 1000 * np.sqrt(np.mean(np.diff(ibi)[pairs] ** 2)) if pairs.any() else np.nan
        out[i, 1] = 1000 * np.std(ibi[usable], ddof=1)
    return TimeSeries(
        out,
        1.0 / hop_s,
        start_s=float(centres[0]),
        names=["rmssd_ms", "sdnn_ms"],
        units=["ms", "ms"],
    )
