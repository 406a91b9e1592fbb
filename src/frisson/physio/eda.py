"""Skin conductance: trial normalisation, filtering, tonic/phasic decomposition and SCRs.

The chills study normalised GSR per trial and detrended it linearly
(:func:`normalize_trial`), and its CNN predicted the *filtered, normalised
phasic* skin conductance (:func:`phasic_target`). SCRs (onsets, peaks,
amplitudes, rise times) come from :func:`find_scrs`.

Why :func:`find_scrs` works the same at 4 Hz and at 2 kHz
------------------------------------------------------------
Skin conductance holds nothing above ~2 Hz, but sensor noise spreads over the
whole band a recorder samples, so a peak finder run at the recording rate sees
more noise peaks the faster the recording (NeuroKit2's default ``eda_process``
reports 300+ SCRs for 40 simulated ones at 100-1000 Hz once noise is added).
frisson therefore (1) area-averages the signal to ``work_rate_hz`` (16 Hz:
anti-aliased, see :meth:`TimeSeries.resample`), (2) smooths it with a Gaussian
of ``smooth_s`` seconds (no ringing, so no filter-made troughs before a rise),
and (3) accepts a peak only when its prominence exceeds both
``amplitude_min`` and ``noise_multiple`` times the noise SD, estimated
robustly (1.4826 x MAD) from the residual of the smoothing. Onsets are where
the rising slope last reaches ``onset_slope_fraction`` of its maximum before
the peak. On NeuroKit2's simulator (40 SCRs in 400 s, Laplace noise 0.05 plus
white noise 0.02 uS) this finds >= 97 % of the onsets within 0.5 s with <= 3 %
false detections at 32, 100, 250 and 1000 Hz
(``tests/test_physio_eda.py::test_scr_detection_on_simulated_recordings``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "DECOMPOSITION_METHODS",
    "EdaComponents",
    "Scrs",
    "decompose",
    "detrend",
    "find_scrs",
    "lowpass",
    "normalize_trial",
    "phasic_target",
]

Normalization = Literal["zscore", "minmax"]
DecompositionMethod = Literal["cvxeda", "highpass", "smoothmedian", "sparse"]
#: NeuroKit2 ``eda_phasic`` methods frisson exposes, with the keyword options each accepts.
DECOMPOSITION_METHODS: dict[str, tuple[str, ...]] = {
    "cvxeda": ("tau0", "tau1", "delta_knot", "alpha", "gamma", "solver", "reltol"),
    "highpass": (),
    "smoothmedian": ("smoothing_factor",),
    "sparse": ("Lambda",),
}


def _series_1d(series: TimeSeries, name: str) -> np.ndarray:
    if not isinstance(series, TimeSeries):
        raise ParameterError(
            f"{name} must be a TimeSeries (values, rate_hz, start_s), got {type(series).__name__}."
        )
    if series.n_channels != 1:
        raise ParameterError(
            f"{name} must have one channel, got {series.n_channels} ({', '.join(series.names)}); "
            "select one with series.select([...])."
        )
    values = series.values[:, 0].astype(np.float64)
    if not np.isfinite(values).all():
        bad = int(np.sum(~np.isfinite(values)))
        raise DataError(
            f"{name} ({series.names[0]}) has {bad} NaN/inf samples; check it with "
            "frisson.physio.quality.check_signal and fill short gaps with "
            "series.interpolate_nan()."
        )
    return values


# --------------------------------------------------------------------- normalisation
def normalize_trial(
    series: TimeSeries, *, method: Normalization = "zscore", detrend_linear: bool = True
) -> TimeSeries:
    """Normalise one trial's skin conductance, optionally after a linear detrend (the study's).

    Parameters
    ----------
    series : TimeSeries, shape (n_times, 1)
        One trial (e.g. one song) of one participant.
    method : {'zscore', 'minmax'}
        ``'zscore'``: ``(x - mean) / sd``; ``'minmax'``: ``(x - min) / (max - min)``.
    detrend_linear : bool
        Subtract the least-squares line over time first (default True).

    Returns
    -------
    TimeSeries
        Same grid, unit ``"z"`` or ``"0-1"``.

    Raises
    ------
    DataError
        For a constant trial (nothing to normalise).

    Examples
    --------
    >>> import numpy as np
    >>> trial = TimeSeries(2.0 + 0.1 * np.arange(5) + np.array([0, 1, 0, -1, 0]), 1.0)
    >>> np.round(normalize_trial(trial).values[:, 0], 3)
    array([-0.707,  1.414,  0.   , -1.414,  0.707])

    """
    check_option("method", method, ("zscore", "minmax"))
    x = _series_1d(detrend(series) if detrend_linear else series, "series")
    tiny = 1e-10 * max(1.0, float(np.abs(series.values).max()))
    if method == "zscore":
        scale = x.std()
        out = (x - x.mean()) / scale if scale > tiny else None
    else:
        scale = x.max() - x.min()
        out = (x - x.min()) / scale if scale > tiny else None
    if out is None:
        raise DataError(
            f"Trial {series.names[0]!r} is constant after detrending; a flat line cannot be "
            "normalised (check the sensor: see frisson.physio.quality)."
        )
    return series.replace(out[:, np.newaxis], units=["z" if method == "zscore" else "0-1"])


def detrend(series: TimeSeries) -> TimeSeries:
    """Subtract the least-squares straight line over time (``scipy.signal.detrend``).

    Examples
    --------
    >>> detrend(TimeSeries([1.0, 2.0, 3.0, 5.0], 1.0)).values[:, 0]
    array([ 0.2, -0.1, -0.4,  0.3])

    """
    from scipy.signal import detrend as scipy_detrend

    x = _series_1d(series, "series")
    return series.replace(scipy_detrend(x, type="linear")[:, np.newaxis])


# ------------------------------------------------------------------------- filtering
def lowpass(series: TimeSeries, *, cutoff_hz: float, order: int = 4) -> TimeSeries:
    """Zero-phase Butterworth low-pass (``scipy.signal.butter`` + ``sosfiltfilt``).

    Filtering forwards and backwards doubles the order and cancels the phase:
    the magnitude response is ``1 / (1 + (f / cutoff_hz) ** (2 * order)))`` and
    no peak moves in time.

    Parameters
    ----------
    series : TimeSeries, shape (n_times, 1)
        The signal, finite.
    cutoff_hz : float
        -6 dB point of the two-pass filter, below the Nyquist frequency.
    order : int
        Order of the single-pass Butterworth filter (default 4).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2000) / 100.0
    >>> slow, fast = np.sin(2 * np.pi * 0.2 * t), np.sin(2 * np.pi * 10 * t)
    >>> out = lowpass(TimeSeries(slow + fast, 100.0), cutoff_hz=1.0).values[200:-200, 0]
    >>> float(np.abs(out - slow[200:-200]).max()) < 0.01
    True

    """
    from scipy.signal import butter, sosfiltfilt

    cutoff_hz = check_positive("cutoff_hz", cutoff_hz)
    order = check_int("order", order, minimum=1)
    if cutoff_hz >= series.rate_hz / 2:
        raise ParameterError(
            f"cutoff_hz={cutoff_hz:g} must be below the Nyquist frequency "
            f"({series.rate_hz / 2:g} Hz at {series.rate_hz:g} Hz)."
        )
    x = _series_1d(series, "series")
    sos = butter(order, cutoff_hz, btype="low", fs=series.rate_hz, output="sos")
    return series.replace(sosfiltfilt(sos, x)[:, np.newaxis])


def _to_rate(series: TimeSeries, rate_hz: float) -> TimeSeries:
    """Area-average down to ``rate_hz`` (never up)."""
    return series if series.rate_hz <= rate_hz else series.resample(rate_hz)


# --------------------------------------------------------------------- decomposition
@dataclass(frozen=True)
class EdaComponents:
    """Tonic (skin conductance level) and phasic (responses) parts of skin conductance.

    Attributes
    ----------
    tonic, phasic : TimeSeries, shape (n_times, 1)
        On the working grid (``params["work_rate_hz"]``), in the input's unit;
        ``tonic + phasic`` reproduces the (resampled) input up to the model's residual.
    method : str
        The NeuroKit2 ``eda_phasic`` method.
    params : dict
        Every setting used, for reports.

    """

    tonic: TimeSeries
    phasic: TimeSeries
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _cvxopt_options_restored() -> Iterator[None]:
    """NeuroKit2's cvxEDA changes cvxopt's global solver options; put them back afterwards."""
    try:
        import cvxopt
    except ImportError:  # pragma: no cover - a dependency
        yield
        return
    saved = dict(cvxopt.solvers.options)
    try:
        yield
    finally:
        cvxopt.solvers.options.clear()
        cvxopt.solvers.options.update(saved)


def decompose(
    eda: TimeSeries,
    *,
    method: DecompositionMethod = "cvxeda",
    work_rate_hz: float = 16.0,
    chunk_s: float = 600.0,
    overlap_s: float = 60.0,
    method_params: Mapping[str, Any] | None = None,
) -> EdaComponents:
    """Split skin conductance into tonic and phasic parts with NeuroKit2's ``eda_phasic``.

    Parameters
    ----------
    eda : TimeSeries, shape (n_times, 1)
        Skin conductance (uS), finite.
    method : {'cvxeda', 'highpass', 'smoothmedian', 'sparse'}
        ``'cvxeda'`` (Greco et al. 2016, convex optimisation of a sparse
        sudomotor driver, the default), ``'highpass'`` (0.05 Hz Butterworth),
        ``'smoothmedian'`` (4-s running median as tonic), ``'sparse'``
        (SparsEDA, Hernando-Gallego et al. 2018).
    work_rate_hz : float
        The signal is area-averaged to this rate first when faster (default
        16 Hz: skin conductance holds nothing above ~2 Hz, and cvxEDA's cost
        grows with the number of samples).
    chunk_s, overlap_s : float
        ``'cvxeda'`` and ``'sparse'`` run on chunks of ``chunk_s`` seconds
        that overlap by ``overlap_s``; each chunk keeps its central part, so
        memory stays bounded on hour-long recordings. Shorter recordings are one chunk.
    method_params : mapping, optional
        Options passed to the NeuroKit2 method (see :data:`DECOMPOSITION_METHODS`).

    Returns
    -------
    EdaComponents

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 60, 1 / 16)
    >>> scr = np.where(t > 20, np.exp(-(t - 20) / 4) * (1 - np.exp(-(t - 20) / 0.75)), 0)
    >>> parts = decompose(TimeSeries(2.0 + scr, 16.0), method="smoothmedian")
    >>> bool(parts.phasic.values[: 16 * 15].std() < 0.01 < parts.phasic.values.max())
    True

    """
    import neurokit2 as nk

    check_option("method", method, tuple(DECOMPOSITION_METHODS))
    options = dict(method_params or {})
    unknown = sorted(set(options) - set(DECOMPOSITION_METHODS[method]))
    if unknown:
        raise ParameterError(
            f"method_params {unknown} are not options of method={method!r}; it accepts "
            f"{list(DECOMPOSITION_METHODS[method]) or 'none'}."
        )
    check_positive("work_rate_hz", work_rate_hz)
    chunk_s = check_positive("chunk_s", chunk_s)
    overlap_s = check_positive("overlap_s", overlap_s, allow_zero=True)
    if overlap_s >= chunk_s / 2:
        raise ParameterError(f"overlap_s={overlap_s} must be less than half of chunk_s={chunk_s}.")
    work = _to_rate(eda, work_rate_hz)
    x = _series_1d(work, "eda")
    rate = work.rate_hz

    def run(segment: np.ndarray) -> np.ndarray:
        with _cvxopt_options_restored():
            frame = nk.eda_phasic(segment, sampling_rate=rate, method=method, **options)
        return frame[["EDA_Tonic", "EDA_Phasic"]].to_numpy(dtype=np.float64)

    n = x.size
    chunk, overlap = round(chunk_s * rate), round(overlap_s * rate)
    if method in ("cvxeda", "sparse") and n > chunk:
        out = np.empty((n, 2))
        step = chunk - 2 * overlap
        for start in range(0, n, step):
            lo, hi = max(0, start - overlap), min(n, start + step + overlap)
            part = run(x[lo:hi])
            keep_hi = min(n, start + step)
            out[start:keep_hi] = part[start - lo : keep_hi - lo]
            if keep_hi == n:
                break
    else:
        out = run(x)
    params = {
        "method": method,
        "work_rate_hz": rate,
        "chunk_s": chunk_s,
        "overlap_s": overlap_s,
        "method_params": options,
        "neurokit2": nk.__version__,
    }
    logger.info("EDA decomposition: %s", params)
    return EdaComponents(
        tonic=work.replace(out[:, :1], names=["eda_tonic"]),
        phasic=work.replace(out[:, 1:], names=["eda_phasic"]),
        method=method,
        params=params,
    )


def phasic_target(
    eda: TimeSeries,
    *,
    rate_hz: float,
    method: DecompositionMethod = "cvxeda",
    cutoff_hz: float = 1.0,
    order: int = 4,
    normalization: Normalization = "zscore",
    work_rate_hz: float = 16.0,
    method_params: Mapping[str, Any] | None = None,
) -> TimeSeries:
    """The filtered, normalised phasic skin conductance a model predicts (the chills target).

    Steps, in order: (1) :func:`decompose` (``method``, at ``work_rate_hz``);
    (2) zero-phase Butterworth low-pass of the phasic part, ``order`` per pass,
    -6 dB at ``cutoff_hz`` (:func:`lowpass`); (3) resampling to ``rate_hz``
    (area average down, linear up); (4) normalisation over the whole trial
    (``normalization``, without detrending: the phasic part has no trend).

    Parameters
    ----------
    eda : TimeSeries, shape (n_times, 1)
        One trial's skin conductance.
    rate_hz : float
        Rate of the returned target (e.g. the embedding's rate).
    method, work_rate_hz, method_params
        As in :func:`decompose`.
    cutoff_hz, order : float, int
        The low-pass filter (default 1 Hz, order 4).
    normalization : {'zscore', 'minmax'}
        As in :func:`normalize_trial`.

    Returns
    -------
    TimeSeries, shape (n, 1)
        Channel ``eda_phasic_target`` at ``rate_hz``, starting at the input's start.

    """
    rate_hz = check_positive("rate_hz", rate_hz)
    parts = decompose(eda, method=method, work_rate_hz=work_rate_hz, method_params=method_params)
    phasic = parts.phasic
    if cutoff_hz < phasic.rate_hz / 2:
        phasic = lowpass(phasic, cutoff_hz=cutoff_hz, order=order)
    else:
        logger.info("phasic target: cutoff %.3g Hz >= Nyquist, not filtered", cutoff_hz)
    target = normalize_trial(phasic.resample(rate_hz), method=normalization, detrend_linear=False)
    return target.replace(names=["eda_phasic_target"])


# ---------------------------------------------------------------------------- SCRs
@dataclass(frozen=True)
class Scrs:
    """Skin conductance responses found in one recording.

    Attributes
    ----------
    onsets_s, peaks_s : ndarray, shape (n_scrs,)
        Onset and peak times in seconds (on the input's time axis).
    amplitudes : ndarray, shape (n_scrs,)
        Peak minus onset level of the smoothed signal, in the input's unit.
    rise_times_s : ndarray, shape (n_scrs,)
        ``peaks_s - onsets_s``.
    threshold : float
        The amplitude threshold used, ``max(amplitude_min, noise_multiple * noise_sd)``.
    noise_sd : float
        Robust SD of the smoothing residual.
    params : dict
        Every setting used, for reports.

    """

    onsets_s: np.ndarray
    peaks_s: np.ndarray
    amplitudes: np.ndarray
    rise_times_s: np.ndarray
    threshold: float
    noise_sd: float
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.onsets_s.size)

    def to_frame(self):
        """A table with columns ``onset_s``, ``peak_s``, ``amplitude``, ``rise_time_s``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "onset_s": self.onsets_s,
                "peak_s": self.peaks_s,
                "amplitude": self.amplitudes,
                "rise_time_s": self.rise_times_s,
            }
        )


def find_scrs(
    eda: TimeSeries,
    *,
    work_rate_hz: float = 16.0,
    smooth_s: float = 0.3,
    amplitude_min: float = 0.01,
    noise_multiple: float = 3.0,
    onset_slope_fraction: float = 0.5,
) -> Scrs:
    """Skin conductance responses: onsets, peaks, amplitudes and rise times.

    See the module notes for the method and its validation.

    Parameters
    ----------
    eda : TimeSeries, shape (n_times, 1)
        Skin conductance (raw, tonic + phasic) at any rate.
    work_rate_hz : float
        Rate the signal is area-averaged to first (default 16 Hz; slower
        recordings are used as they are).
    smooth_s : float
        SD of the Gaussian smoothing kernel in seconds (default 0.3 s).
    amplitude_min : float
        Smallest SCR amplitude (peak prominence) accepted, in the signal's unit
        (default 0.01, i.e. 0.01 uS for a recording in uS).
    noise_multiple : float
        The threshold is at least this many noise SDs (default 3).
    onset_slope_fraction : float
        The onset is the last time before the peak at which the slope is at or
        below this fraction of the rise's maximum slope (default 0.5), in (0, 1).

    Returns
    -------
    Scrs

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 60, 1 / 32)
    >>> def shape(t0):  # rise time constant 0.7 s, recovery 5 s
    ...     return np.where(t > t0, (1 - np.exp(-(t - t0) / 0.7)) * np.exp(-(t - t0) / 5), 0)
    >>> eda = TimeSeries(2.0 + 0.5 * shape(10.0) + 0.3 * shape(35.0), 32.0, units=["uS"])
    >>> scrs = find_scrs(eda)
    >>> np.round(scrs.onsets_s, 1), np.round(scrs.amplitudes, 2)
    (array([ 9.8, 34.8]), array([0.3 , 0.18]))

    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    check_positive("work_rate_hz", work_rate_hz)
    check_positive("smooth_s", smooth_s)
    check_positive("amplitude_min", amplitude_min)
    check_positive("noise_multiple", noise_multiple, allow_zero=True)
    if not 0 < onset_slope_fraction < 1:
        raise ParameterError(
            f"onset_slope_fraction must lie in (0, 1), got {onset_slope_fraction!r}."
        )
    work = _to_rate(eda, work_rate_hz)
    raw = _series_1d(work, "eda")
    rate = work.rate_hz
    smooth = gaussian_filter1d(raw, smooth_s * rate, mode="nearest")
    residual = raw - smooth
    noise_sd = float(1.4826 * np.median(np.abs(residual - np.median(residual))))
    threshold = max(amplitude_min, noise_multiple * noise_sd)
    peaks, props = find_peaks(smooth, prominence=threshold)
    slope = np.gradient(smooth) * rate
    onsets = np.empty(peaks.size, dtype=np.float64)
    previous = np.r_[0, peaks[:-1]]
    for i, (peak, base) in enumerate(zip(peaks, props["left_bases"], strict=True)):
        # The prominence base can lie before earlier, lower peaks; search only after the last one.
        base = max(int(base), int(previous[i]))
        rise = slope[base : peak + 1]
        steepest = int(np.argmax(rise))
        below = np.flatnonzero(rise[: steepest + 1] <= onset_slope_fraction * rise[steepest])
        onsets[i] = base + (below[-1] if below.size else 0)
    onset_idx = onsets.astype(int)
    params = {
        "work_rate_hz": rate,
        "smooth_s": smooth_s,
        "amplitude_min": amplitude_min,
        "noise_multiple": noise_multiple,
        "onset_slope_fraction": onset_slope_fraction,
    }
    result = Scrs(
        onsets_s=work.start_s + onsets / rate,
        peaks_s=work.start_s + peaks / rate,
        amplitudes=smooth[peaks] - smooth[onset_idx],
        rise_times_s=(peaks - onsets) / rate,
        threshold=float(threshold),
        noise_sd=noise_sd,
        params=params,
    )
    logger.info(
        "SCRs: %d found (threshold %.4g, noise SD %.4g; %s)",
        len(result),
        threshold,
        noise_sd,
        params,
    )
    return result
