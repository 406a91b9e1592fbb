"""Acoustic descriptors of audio, each a :class:`~frisson.timeseries.TimeSeries` on a chosen grid.

Every feature is computed at a fine internal frame rate and then put on the
grid the caller asks for with :meth:`TimeSeries.resample
<frisson.timeseries.TimeSeries.resample>`: the result starts at ``start_s = 0``
and sample ``k`` lies at ``k / rate_hz`` seconds. Going down in rate averages
over each output sample's interval (an exact area average, see
:mod:`frisson.timeseries`); going up interpolates linearly.

Frame-time convention
---------------------
Spectral features use *centred* frames: the signal is padded with
``frame_samples // 2`` zeros at both ends and frame ``k`` covers samples
``k * hop - frame_samples // 2 .. k * hop + frame_samples // 2``, so it
describes the time ``k * hop / sr`` seconds (as ``librosa.stft(center=True)``).
``hop = round(hop_s * sr)`` samples, so the internal rate is exactly
``sr / hop`` Hz. A difference between frames ``k - 1`` and ``k`` (spectral
flux, onset strength) is attributed to frame ``k``, i.e. half a hop after the
midpoint of the two frames.

Units
-----
``FS`` is digital full scale: a sample value of 1. Spectral magnitudes are
scaled so that a sine of amplitude ``A`` gives a spectral peak of height ``A``
(``|X| * 2 / sum(window)``); levels in dB are relative to the mean square of a
full-scale sine (AES17 dBFS: a full-scale sine is 0 dB).

Features
--------
``amplitude_envelope``, ``spectral_flux``, ``roughness``, ``spectral_centroid``,
``rms``, ``loudness`` and ``onset_strength`` are registered in :data:`FEATURES`;
:func:`compute_features` stacks any of them as named channels of one series.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._logging import logger
from frisson.audio import Audio
from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "FEATURES",
    "RoughnessModel",
    "amplitude_envelope",
    "compute_features",
    "list_features",
    "loudness",
    "onset_strength",
    "rms",
    "roughness",
    "spectral_centroid",
    "spectral_flux",
]

#: Default frame length (s) of the short-time spectral features (about 2048 samples at 44.1 kHz).
FRAME_S = 0.046
#: Default hop (s) of the short-time features: a 200 Hz internal rate.
HOP_S = 0.005

# Plomp-Levelt curve as parameterised by Sethares and used by MIRtoolbox's mirroughness.m:
# d(f1, f2) = exp(-B1 * s * |f2 - f1|) - exp(-B2 * s * |f2 - f1|),
# s = X_STAR / (S1 * min(f1, f2) + S2).
_B1 = 3.51
_B2 = 5.75
_X_STAR = 0.24
_S1 = 0.0207
_S2 = 18.96
#: Vassilakis (2001, eq. 6.23) amplitude-fluctuation exponent and overall level exponent.
_VASSILAKIS_Y_EXP = 3.11
_VASSILAKIS_X_EXP = 0.1

RoughnessModel = Literal["sethares", "sethares_min", "vassilakis"]

# --------------------------------------------------------------------------- docs
_DOCS: dict[str, str] = {
    "audio": "Mono audio (:class:`frisson.audio.Audio`), full scale = 1.",
    "rate_hz": """Rate of the returned series in Hz (required; no default). Sample ``k``
        lies at ``k / rate_hz`` s; a rate below the internal frame rate
        averages over each sample's interval, a higher one interpolates
        linearly. At most the audio's sampling rate.""",
    "frame_s": """Length of each analysis frame in seconds (rounded to whole samples;
        the FFT size is the next power of two).""",
    "hop_s": """Hop between frames in seconds (rounded to whole samples, at most
        ``frame_s``); sets the internal rate ``sr / round(hop_s * sr)``.""",
    "window": "Window name understood by :func:`scipy.signal.get_window`.",
}


def _fill_doc(func: Callable) -> Callable:
    """Replace ``%(key)s`` placeholders in a docstring with the shared parameter descriptions."""
    doc = func.__doc__ or ""
    for key, text in _DOCS.items():
        doc = doc.replace(f"%({key})s", text)
    func.__doc__ = doc
    return func


# ------------------------------------------------------------------ conversions
def _check_rate(rate_hz: float, audio: Audio) -> float:
    rate_hz = check_positive("rate_hz", rate_hz)
    if rate_hz > audio.rate_hz:
        raise ParameterError(
            f"rate_hz={rate_hz:g} exceeds the audio's sampling rate ({audio.rate_hz:g} Hz); "
            "ask for a feature rate at or below it (e.g. 100 Hz)."
        )
    return rate_hz


def _frame_samples(
    audio: Audio, frame_s: float, hop_s: float, *, min_frame: int = 16
) -> tuple[int, int, int]:
    """Frame length, hop and FFT size in samples from seconds (the one converter)."""
    frame_s = check_positive("frame_s", frame_s)
    hop_s = check_positive("hop_s", hop_s)
    if hop_s > frame_s:
        raise ParameterError(
            f"hop_s={hop_s:g} s is longer than frame_s={frame_s:g} s, so samples between frames "
            "would be skipped; use hop_s <= frame_s."
        )
    frame = round(frame_s * audio.rate_hz)
    if frame < min_frame:
        raise ParameterError(
            f"frame_s={frame_s:g} s is {frame} samples at {audio.rate_hz:g} Hz, fewer than "
            f"{min_frame}; use frame_s >= {min_frame / audio.rate_hz:.4f}."
        )
    hop = max(1, round(hop_s * audio.rate_hz))
    n_fft = 1 << (frame - 1).bit_length()
    return frame, hop, n_fft


def _framed_series(values: np.ndarray, audio: Audio, hop: int, name: str, unit: str) -> TimeSeries:
    """Frame-wise values (frame ``k`` at ``k * hop / sr``) as a TimeSeries at ``sr / hop``."""
    return TimeSeries(
        np.asarray(values, dtype=np.float64), audio.rate_hz / hop, names=[name], units=[unit]
    )


def _to_grid(series: TimeSeries, rate_hz: float) -> TimeSeries:
    """The series on the requested grid (start 0, sample ``k`` at ``k / rate_hz``)."""
    if rate_hz > series.rate_hz * (1 + 1e-9):
        logger.debug(
            "%s: internal rate %.3f Hz < requested %.3f Hz; interpolating linearly",
            series.names[0],
            series.rate_hz,
            rate_hz,
        )
    return series.resample(rate_hz)


def _n_frames(audio: Audio, hop: int) -> int:
    """Number of centred frames: ``1 + n_samples // hop`` (as ``librosa.stft(center=True)``)."""
    return 1 + audio.samples.size // hop


def _frame_blocks(
    samples: np.ndarray,
    frame: int,
    hop: int,
    n_frames: int,
    *,
    block_frames: int = 256,
    dtype: type = np.float64,
) -> Iterator[tuple[int, np.ndarray]]:
    """Centred frames of ``samples``, a block at a time, without copying the whole signal.

    Frame ``k`` is ``samples[k * hop - frame // 2 : k * hop - frame // 2 + frame]``
    with zeros outside the signal (as padding the signal with ``frame // 2``
    zeros would give); each block is cut from a slice of the signal converted
    to ``dtype``, so memory grows with ``block_frames``, not with the duration.

    Yields
    ------
    first : int
        Index of the block's first frame.
    frames : ndarray, shape (n_block_frames, frame)
        A read-only view on the block's samples.

    """
    n = samples.size
    half = frame // 2
    for first in range(0, n_frames, block_frames):
        last = min(first + block_frames, n_frames)
        lo = first * hop - half
        hi = (last - 1) * hop - half + frame
        segment = np.zeros(hi - lo, dtype=dtype)
        a, b = max(lo, 0), min(hi, n)
        if b > a:
            segment[a - lo : b - lo] = samples[a:b]
        yield first, np.lib.stride_tricks.sliding_window_view(segment, frame)[::hop]


def _magnitude_blocks(
    audio: Audio,
    frame: int,
    hop: int,
    n_fft: int,
    window: str,
    *,
    block_frames: int = 256,
    dtype: type = np.float64,
) -> Iterator[tuple[int, np.ndarray]]:
    """Centred short-time magnitude spectra, a block of frames at a time.

    Frame ``k`` is ``samples[k * hop - frame // 2 : k * hop - frame // 2 + frame]``
    (zeros outside the signal) times the window, zero-padded to ``n_fft``.
    Only one block of frames and spectra exists at a time, so memory does not
    grow with the duration. ``dtype=np.float32`` transforms in single
    precision (about twice as fast; magnitudes within about 1e-6 of the
    largest one) and returns float32 magnitudes.

    Yields
    ------
    first : int
        Index of the block's first frame.
    magnitude : ndarray, shape (n_block_frames, n_fft // 2 + 1)
        ``|rfft| * 2 / sum(window)``: a sine of amplitude ``A`` peaks at ``A``.

    """
    import scipy.fft
    import scipy.signal

    win = scipy.signal.get_window(window, frame, fftbins=True)
    scale = 2.0 / win.sum()
    win = win.astype(dtype)
    blocks = _frame_blocks(
        audio.samples, frame, hop, _n_frames(audio, hop), block_frames=block_frames, dtype=dtype
    )
    # The windowed frames go into one zero-padded buffer (what rfft(n=n_fft) would
    # build anew for every block); the padding stays zero.
    padded = np.zeros((block_frames, n_fft), dtype=dtype)
    for first, frames in blocks:
        rows = padded[: frames.shape[0]]
        np.multiply(frames, win, out=rows[:, :frame])
        magnitude = np.abs(scipy.fft.rfft(rows, axis=1))
        magnitude *= magnitude.dtype.type(scale)
        yield first, magnitude


def _check_window(window: str) -> str:
    import scipy.signal

    try:
        scipy.signal.get_window(window, 16)
    except (ValueError, TypeError) as error:
        raise ParameterError(
            f"window={window!r} is not a window scipy.signal.get_window knows ({error}); "
            "use e.g. 'hann', 'hamming' or 'blackman'."
        ) from None
    return window


@dataclass
class _SpectralJob:
    """One feature computed from short-time magnitude spectra, fed a block at a time.

    Features whose ``spec`` (frame, hop, FFT size, window, precision) agree
    share one pass of :func:`_magnitude_blocks` in :func:`compute_features`:
    the spectra are computed once and handed to each job's ``consume``.
    """

    spec: tuple[int, int, int, str, type]
    consume: Callable[[int, np.ndarray], None]
    finish: Callable[[], TimeSeries]
    block_frames: int = 256


def _run_jobs(audio: Audio, jobs: Sequence[_SpectralJob]) -> list[TimeSeries]:
    """Run the jobs, one pass over the spectra per distinct ``spec``; results in job order."""
    groups: dict[tuple, list[_SpectralJob]] = {}
    for job in jobs:
        groups.setdefault(job.spec, []).append(job)
    for (frame, hop, n_fft, window, dtype), members in groups.items():
        block_frames = min(job.block_frames for job in members)
        blocks = _magnitude_blocks(
            audio, frame, hop, n_fft, window, block_frames=block_frames, dtype=dtype
        )
        for first, magnitude in blocks:
            for job in members:
                job.consume(first, magnitude)
    return [job.finish() for job in jobs]


# --------------------------------------------------------------------- envelope
def _analytic_magnitude_blocks(
    samples: np.ndarray, *, block_samples: int = 1 << 20, margin_samples: int = 1 << 14
) -> Iterator[tuple[int, np.ndarray]]:
    """``|hilbert(x)|`` in consecutive blocks ``(start, values)``, so memory stays bounded.

    Each block of ``block_samples`` is transformed with ``margin_samples`` of
    context on both sides, which are then discarded (overlap-save). The
    Hilbert kernel decays as ``1 / (pi n)``, so for audio carriers the error
    from the truncated context is negligible; a signal that fits in one block
    is transformed whole.
    """
    import scipy.fft

    n = samples.size
    if n <= block_samples + 2 * margin_samples:
        yield 0, _hilbert_magnitude(samples, scipy.fft.next_fast_len(n))
        return
    for start in range(0, n, block_samples):
        stop = min(n, start + block_samples)
        lo, hi = max(0, start - margin_samples), min(n, stop + margin_samples)
        magnitude = _hilbert_magnitude(samples[lo:hi], scipy.fft.next_fast_len(hi - lo))
        yield start, magnitude[start - lo : stop - lo]


def _hilbert_magnitude(segment: np.ndarray, n_fft: int) -> np.ndarray:
    """``|scipy.signal.hilbert(segment, n_fft)|`` on the segment's samples, from real FFTs.

    The analytic signal is ``x + i H{x}``; the Hilbert transform ``H{x}`` is the
    inverse real FFT of ``-i X`` with the DC and Nyquist terms zeroed (one real
    FFT each way, half the work of the two complex FFTs ``hilbert`` runs).
    """
    import scipy.fft

    segment = segment.astype(np.float64)
    spectrum = scipy.fft.rfft(segment, n_fft)
    spectrum *= -1j
    spectrum[0] = 0.0
    if n_fft % 2 == 0:
        spectrum[-1] = 0.0
    transform = scipy.fft.irfft(spectrum, n_fft)[: segment.size]
    return np.hypot(segment, transform)


def _analytic_magnitude(samples: np.ndarray, **blocks: int) -> np.ndarray:
    """``|hilbert(x)|`` of the whole signal (see :func:`_analytic_magnitude_blocks`)."""
    out = np.empty(samples.size, dtype=np.float64)
    for start, values in _analytic_magnitude_blocks(samples, **blocks):
        out[start : start + values.size] = values
    return out


def _area_average_blocks(
    blocks: Iterator[tuple[int, np.ndarray]], n: int, source_rate_hz: float, rate_hz: float
) -> np.ndarray:
    """``TimeSeries(x, source_rate_hz).resample(rate_hz)`` (downsampling) from blocks of ``x``.

    ``x`` (``n`` samples) arrives as consecutive ``(start, values)`` blocks and
    is never held whole: the cumulative integral of its sample-and-hold signal
    is evaluated block by block at the edges of the output samples' intervals,
    exactly as :meth:`TimeSeries.sample_at` does for ``width_s = 1 / rate_hz``
    (same grid, same interval shrinking at the ends). Equal to it up to the
    rounding of the running sums.
    """
    n_new = int(np.floor((n - 1) * rate_hz / source_rate_hz + 1e-9)) + 1
    pos = np.clip(np.arange(n_new) / rate_hz * source_rate_hz, 0, n - 1)
    half_width = 0.5 * source_rate_hz / rate_hz
    half = np.minimum(half_width, np.minimum(pos + 0.5, n - 0.5 - pos))
    query = np.concatenate([pos - half, pos + half])  # interval edges, in samples
    cell = np.minimum(np.floor(query + 0.5).astype(np.int64), n)  # sample whose cell holds q
    frac = query + 0.5 - cell
    order = np.argsort(cell, kind="stable")
    cell_sorted = cell[order]
    integral = np.empty(query.size)
    total = 0.0
    for start, values in blocks:
        stop = start + values.size
        a, b = np.searchsorted(cell_sorted, [start, stop])
        if b > a:
            chosen = order[a:b]
            local = cell[chosen] - start
            before = np.concatenate([[0.0], np.cumsum(values)])
            integral[chosen] = total + before[local] + frac[chosen] * values[local]
            total += before[-1]
        else:
            total += float(np.sum(values))
    integral[order[np.searchsorted(cell_sorted, n) :]] = total  # the end of the last cell
    lo, hi = integral[:n_new], integral[n_new:]
    return (hi - lo) / (2 * half)


@_fill_doc
def amplitude_envelope(
    audio: Audio,
    *,
    rate_hz: float,
    lowpass_hz: float | None = None,
    lowpass_order: int = 4,
) -> TimeSeries:
    """Amplitude envelope: the magnitude of the analytic signal, on a regular grid.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    lowpass_hz : float, optional
        Low-pass the envelope at this cutoff (zero-phase Butterworth,
        ``scipy.signal.sosfiltfilt``) before resampling; must be below the
        Nyquist frequency. Default: no extra filter (the area average of the
        resampling already removes most ripple above ``rate_hz / 2``).
    lowpass_order : int
        Order of the Butterworth low-pass (default 4; doubled by filtfilt).

    Returns
    -------
    TimeSeries
        One channel ``amplitude_envelope`` in full scale (``FS``):
        ``e(t) = |x(t) + i H{x}(t)|`` (``H`` the Hilbert transform), averaged
        over each output sample's interval. A sine of amplitude ``A`` gives
        ``A``. The analytic signal is computed in overlapping blocks of about
        a million samples, so long recordings need little memory.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000) / 16000
    >>> audio = audio_from_array(0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    >>> env = amplitude_envelope(audio, rate_hz=100)
    >>> env.n_times, env.units, round(float(np.median(env.values)), 3)
    (100, ('FS',), 0.5)

    """
    rate_hz = _check_rate(rate_hz, audio)
    order = check_int("lowpass_order", lowpass_order, minimum=1)
    names, units = ["amplitude_envelope"], ["FS"]
    if lowpass_hz is None and rate_hz < audio.rate_hz * (1 - 1e-12):
        # Averaged block by block: the full-rate envelope is never held whole.
        n = audio.samples.size
        values = _area_average_blocks(
            _analytic_magnitude_blocks(audio.samples), n, audio.rate_hz, rate_hz
        )
        logger.debug("amplitude_envelope: lowpass_hz=None, rate_hz=%g (streamed)", rate_hz)
        return TimeSeries(values, rate_hz, names=names, units=units)
    envelope = _analytic_magnitude(audio.samples)
    if lowpass_hz is not None:
        import scipy.signal

        lowpass_hz = check_positive("lowpass_hz", lowpass_hz)
        if lowpass_hz >= audio.rate_hz / 2:
            raise ParameterError(
                f"lowpass_hz={lowpass_hz:g} is not below the Nyquist frequency "
                f"({audio.rate_hz / 2:g} Hz); use a lower cutoff or lowpass_hz=None."
            )
        sos = scipy.signal.butter(order, lowpass_hz, btype="low", fs=audio.rate_hz, output="sos")
        envelope = scipy.signal.sosfiltfilt(sos, envelope)
    logger.debug("amplitude_envelope: lowpass_hz=%s, rate_hz=%g", lowpass_hz, rate_hz)
    series = TimeSeries(envelope, audio.rate_hz, names=names, units=units)
    return _to_grid(series, rate_hz)


# ------------------------------------------------------------------ spectral flux
@_fill_doc
def spectral_flux(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float = FRAME_S,
    hop_s: float = HOP_S,
    window: str = "hann",
) -> TimeSeries:
    """Half-wave rectified spectral flux of the STFT magnitude.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    frame_s : float
        %(frame_s)s
        Default 0.046 s.
    hop_s : float
        %(hop_s)s
        Default 0.005 s.
    window : str
        %(window)s
        Default ``'hann'``.

    Returns
    -------
    TimeSeries
        One channel ``spectral_flux`` in ``FS``:
        ``flux[k] = sum_f max(0, |X[f, k]| - |X[f, k - 1]|)`` with ``|X|``
        scaled so that a sine of amplitude ``A`` peaks at ``A``; frame ``k``
        is centred at ``k * hop / sr`` and ``flux[0] = 0``. A sudden onset
        gives its largest value within about a hop of the frame centred on it
        (the first frames that reach it already spread its energy over many
        bins, so the peak may come one hop early).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> sr = 16000
    >>> x = np.zeros(2 * sr)
    >>> x[sr:] = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)  # a tone starting at 1 s
    >>> flux = spectral_flux(audio_from_array(x, sr), rate_hz=100)
    >>> float(flux.times_s[np.argmax(flux.values[:, 0])])  # within a hop or two of 1 s
    0.99

    """
    job = _spectral_flux_job(audio, rate_hz=rate_hz, frame_s=frame_s, hop_s=hop_s, window=window)
    return _run_jobs(audio, [job])[0]


def _spectral_flux_job(
    audio: Audio, *, rate_hz: float, frame_s: float, hop_s: float, window: str
) -> _SpectralJob:
    rate_hz = _check_rate(rate_hz, audio)
    frame, hop, n_fft = _frame_samples(audio, frame_s, hop_s)
    flux = np.zeros(_n_frames(audio, hop))
    previous: list[np.ndarray] = []

    def consume(first: int, magnitude: np.ndarray) -> None:
        if previous:  # the first frame of the block against the last of the one before
            flux[first] = np.maximum(magnitude[0] - previous.pop(), 0.0).sum()
        increase = np.diff(magnitude, axis=0)
        np.maximum(increase, 0.0, out=increase)
        flux[first + 1 : first + magnitude.shape[0]] = increase.sum(axis=1)
        previous.append(magnitude[-1])

    def finish() -> TimeSeries:
        logger.debug("spectral_flux: frame=%d, hop=%d, n_fft=%d samples", frame, hop, n_fft)
        return _to_grid(_framed_series(flux, audio, hop, "spectral_flux", "FS"), rate_hz)

    return _SpectralJob((frame, hop, n_fft, _check_window(window), np.float64), consume, finish)


# ---------------------------------------------------------------------- roughness
def _weight_product(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Sethares (1993) and MIRtoolbox's default: ``a1 * a2``."""
    return a1 * a2


def _weight_min(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Sethares (2005, appendix G) and MIRtoolbox's ``'Min'`` option: ``min(a1, a2)``."""
    return np.minimum(a1, a2)


def _weight_vassilakis(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Vassilakis (2001, eq. 6.23): ``0.5 (a1 a2)^0.1 (2 min / (a1 + a2))^3.11``."""
    total = a1 + a2
    ratio = np.divide(2.0 * np.minimum(a1, a2), total, out=np.zeros_like(total), where=total > 0)
    return 0.5 * (a1 * a2) ** _VASSILAKIS_X_EXP * ratio**_VASSILAKIS_Y_EXP


#: Pair weighting of each roughness model and the unit of its result.
_ROUGHNESS_MODELS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], str]] = {
    "sethares": (_weight_product, "FS^2"),
    "sethares_min": (_weight_min, "FS"),
    "vassilakis": (_weight_vassilakis, "FS^0.2"),
}


def _plomp_levelt(f1_hz: np.ndarray, f2_hz: np.ndarray) -> np.ndarray:
    """Sethares' fit of the Plomp-Levelt dissonance of two pure tones (0 at unison, max 0.18)."""
    s = _X_STAR / (_S1 * np.minimum(f1_hz, f2_hz) + _S2)
    distance = s * np.abs(f2_hz - f1_hz)
    return np.exp(-_B1 * distance) - np.exp(-_B2 * distance)


def _pair_sum(
    freqs_hz: np.ndarray, amplitudes: np.ndarray, weight: Callable[..., np.ndarray]
) -> np.ndarray:
    """Sum of ``weight(a_i, a_j) * d(f_i, f_j)`` over the pairs ``i < j`` of each row.

    ``freqs_hz`` and ``amplitudes`` have shape (n_frames, n_peaks); unused
    slots have amplitude 0 (and contribute 0 for every model).
    """
    # Peaks fill the slots strongest first, so slots past the largest count are unused.
    n_used = int(np.count_nonzero(amplitudes, axis=1).max(initial=0))
    first, second = np.triu_indices(n_used, 1)
    terms = weight(amplitudes[:, first], amplitudes[:, second])
    terms *= _plomp_levelt(freqs_hz[:, first], freqs_hz[:, second])
    return terms.sum(axis=1)


def _spectral_peaks(
    magnitude: np.ndarray,
    rate_hz: float,
    n_fft: int,
    *,
    threshold: float,
    min_amplitude: float,
    max_peaks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest local maxima of each frame, refined by parabolic interpolation.

    Parameters
    ----------
    magnitude : ndarray, shape (n_frames, n_bins)
        Scaled magnitude spectra (a sine of amplitude A peaks at A).
    rate_hz : float
        Sampling rate of the audio in Hz.
    n_fft : int
        FFT length, so bin ``k`` lies at ``k * rate_hz / n_fft`` Hz.
    threshold : float
        Fraction of the frame's largest magnitude a peak must reach.
    min_amplitude : float
        Absolute amplitude (full scale) a peak must reach.
    max_peaks : int
        Number of peaks kept per frame.

    Returns
    -------
    freqs_hz, amplitudes : ndarray, shape (n_frames, max_peaks)
        Peak frequencies and amplitudes, strongest first; missing peaks have
        amplitude 0. A bin is a peak if it exceeds its left neighbour, is not
        below its right one and reaches ``max(threshold * frame max,
        min_amplitude)``. Frequency and amplitude come from a parabola through
        the log magnitudes of the peak bin and its neighbours.

    """
    n_frames = magnitude.shape[0]
    # compared in the spectra's own precision: the floor first (few bins reach it),
    # then those bins against their neighbours
    floor = np.maximum(threshold * magnitude.max(axis=1), min_amplitude)[:, np.newaxis]
    reaches = magnitude[:, 1:-1] >= floor
    rows, cols = np.divmod(np.flatnonzero(reaches), reaches.shape[1])  # 1-D: fast
    cols += 1
    centre = magnitude[rows, cols]
    is_peak = (centre > magnitude[rows, cols - 1]) & (centre >= magnitude[rows, cols + 1])
    rows, cols = rows[is_peak], cols[is_peak]
    tiny = np.finfo(np.float64).tiny
    left, mid, right = (
        np.log(np.maximum(magnitude[rows, cols + shift].astype(np.float64), tiny))
        for shift in (-1, 0, 1)
    )
    curvature = left - 2.0 * mid + right
    offset = np.divide(0.5 * (left - right), curvature, out=np.zeros_like(mid), where=curvature < 0)
    offset = np.clip(offset, -0.5, 0.5)
    freqs = (cols + offset) * rate_hz / n_fft
    amps = np.exp(mid - 0.25 * (left - right) * offset)
    # Rank the peaks of each frame by amplitude and keep the max_peaks strongest.
    order = np.lexsort((-amps, rows))
    rows, freqs, amps = rows[order], freqs[order], amps[order]
    first_of_row = np.searchsorted(rows, np.arange(n_frames))
    rank = np.arange(rows.size) - first_of_row[rows]
    keep = rank < max_peaks
    out_f = np.zeros((n_frames, max_peaks))
    out_a = np.zeros((n_frames, max_peaks))
    out_f[rows[keep], rank[keep]] = freqs[keep]
    out_a[rows[keep], rank[keep]] = amps[keep]
    return out_f, out_a


@_fill_doc
def roughness(
    audio: Audio,
    *,
    rate_hz: float,
    model: RoughnessModel = "sethares",
    frame_s: float = 0.2,
    hop_s: float = 0.02,
    window: str = "blackman",
    zero_pad: int = 2,
    peak_threshold: float = 0.01,
    min_amplitude_fs: float = 1e-5,
    max_peaks: int = 50,
    block_frames: int = 32,
) -> TimeSeries:
    """Sensory roughness (dissonance) summed over all pairs of spectral peaks, per frame.

    As MIRtoolbox's ``mirroughness``: pick the peaks of each frame's magnitude
    spectrum and add up the Plomp-Levelt dissonance of every pair, weighted by
    the peaks' amplitudes.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    model : {'sethares', 'sethares_min', 'vassilakis'}
        Amplitude weighting of each pair ``(a1, a2)``: ``'sethares'``
        ``a1 * a2`` (MIRtoolbox's default), ``'sethares_min'``
        ``min(a1, a2)`` (MIRtoolbox's ``'Min'`` option, Sethares' later
        model), ``'vassilakis'``
        ``0.5 (a1 a2)^0.1 (2 min(a1, a2) / (a1 + a2))^3.11`` (Vassilakis
        2001, eq. 6.23).
    frame_s : float
        %(frame_s)s
        Default 0.2 s, four times MIRtoolbox's 50 ms. With a Blackman window
        a 0.2 s frame separates two equal partials 15 Hz apart (its main lobe
        is +-3 / frame_s = +-15 Hz wide); a 50 ms frame cannot separate
        partials closer than about 40 Hz (Hann) to 60 Hz (Blackman), so it
        misses the beating of close partials where the Plomp-Levelt curve
        peaks (20-30 Hz apart at 100-500 Hz): two tones 25 Hz apart at 500 Hz
        keep under 40 % of their roughness. The price is a time resolution of
        about 0.1 s. The FFT length is set by ``zero_pad``.
    hop_s : float
        %(hop_s)s
        Default 0.02 s (a 50 Hz internal rate).
    window : str
        %(window)s
        Default ``'blackman'``: its side lobes (-58 dB) stay below the default
        ``peak_threshold`` so they are not taken as partials (a Hann window's
        -31 dB side lobes would be).
    zero_pad : int
        FFT length = next power of two of ``zero_pad * frame samples``
        (default 2) for finer peak positions.
    peak_threshold : float
        A peak must reach this fraction of the frame's largest magnitude
        (default 0.01, -40 dB, like MIRtoolbox's contrast of 0.01).
    min_amplitude_fs : float
        And at least this amplitude in full scale (default 1e-5, -100 dBFS),
        so silence yields no peaks.
    max_peaks : int
        Keep at most this many strongest peaks per frame (default 50); the
        pair sum costs about ``max_peaks ** 2 / 2`` terms per frame.
    block_frames : int
        Frames transformed at once (bounds memory; no effect on the result).

    Returns
    -------
    TimeSeries
        One channel ``roughness``:
        ``R = sum_{i<j} w(a_i, a_j) * (exp(-b1 s |f_j - f_i|) - exp(-b2 s |f_j - f_i|))``
        with ``s = 0.24 / (0.0207 min(f_i, f_j) + 18.96)``, ``b1 = 3.51``,
        ``b2 = 5.75`` (the constants of MIRtoolbox's ``mirroughness.m``),
        ``f`` in Hz and ``a`` the peak amplitude in full scale (a full-scale
        sine has amplitude 1). Units ``FS^2`` (sethares), ``FS``
        (sethares_min) or ``FS^0.2`` (vassilakis). Two equal partials of
        amplitude ``a`` at 500 Hz give at most ``0.18 a^2`` (sethares), when
        27 Hz apart.

    References
    ----------
    .. [1] W. A. Sethares, "Local consonance and the relationship between
       timbre and scale", J. Acoust. Soc. Am. 94(3), 1218-1228 (1993).
    .. [2] P. N. Vassilakis, "Perceptual and physical properties of amplitude
       fluctuation and their musical significance", PhD thesis, UCLA (2001).
    .. [3] O. Lartillot, MIRtoolbox ``mirroughness.m`` (1.7/1.8): product
       weighting by default, ``'Min'`` option, ``b1 = 3.51``, ``b2 = 5.75``,
       ``x* = 0.24``, ``s1 = 0.0207``, ``s2 = 18.96``, each pair counted once.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> x = 0.5 * np.sin(2 * np.pi * 500 * t) + 0.5 * np.sin(2 * np.pi * 527 * t)
    >>> r = roughness(audio_from_array(x, sr), rate_hz=10)
    >>> round(float(np.median(r.values)), 3)  # 0.5 * 0.5 * 0.18
    0.045

    """
    job = _roughness_job(
        audio,
        rate_hz=rate_hz,
        model=model,
        frame_s=frame_s,
        hop_s=hop_s,
        window=window,
        zero_pad=zero_pad,
        peak_threshold=peak_threshold,
        min_amplitude_fs=min_amplitude_fs,
        max_peaks=max_peaks,
        block_frames=block_frames,
    )
    return _run_jobs(audio, [job])[0]


def _roughness_job(
    audio: Audio,
    *,
    rate_hz: float,
    model: RoughnessModel,
    frame_s: float,
    hop_s: float,
    window: str,
    zero_pad: int,
    peak_threshold: float,
    min_amplitude_fs: float,
    max_peaks: int,
    block_frames: int,
) -> _SpectralJob:
    rate_hz = _check_rate(rate_hz, audio)
    check_option("model", model, list(_ROUGHNESS_MODELS))
    weight, unit = _ROUGHNESS_MODELS[model]
    frame, hop, _ = _frame_samples(audio, frame_s, hop_s)
    zero_pad = check_int("zero_pad", zero_pad, minimum=1)
    n_fft = 1 << (zero_pad * frame - 1).bit_length()
    threshold = check_positive("peak_threshold", peak_threshold, allow_zero=True)
    if threshold >= 1:
        raise ParameterError(
            f"peak_threshold={peak_threshold!r} must be below 1 (a fraction of the frame's "
            "largest magnitude); use e.g. 0.01."
        )
    min_amplitude = check_positive("min_amplitude_fs", min_amplitude_fs)
    max_peaks = check_int("max_peaks", max_peaks, minimum=2)
    block_frames = check_int("block_frames", block_frames, minimum=1)
    values = np.empty(_n_frames(audio, hop))

    def consume(first: int, magnitude: np.ndarray) -> None:
        freqs, amps = _spectral_peaks(
            magnitude,
            audio.rate_hz,
            n_fft,
            threshold=threshold,
            min_amplitude=min_amplitude,
            max_peaks=max_peaks,
        )
        values[first : first + magnitude.shape[0]] = _pair_sum(freqs, amps, weight)

    def finish() -> TimeSeries:
        logger.debug(
            "roughness: model=%s, frame=%d, hop=%d, n_fft=%d samples, window=%s, max_peaks=%d",
            model,
            frame,
            hop,
            n_fft,
            window,
            max_peaks,
        )
        return _to_grid(_framed_series(values, audio, hop, "roughness", unit), rate_hz)

    # Single-precision FFTs: the long zero-padded frames dominate the cost, and
    # peaks 40 dB below the frame maximum are far above float32 rounding.
    spec = (frame, hop, n_fft, _check_window(window), np.float32)
    return _SpectralJob(spec, consume, finish, block_frames=block_frames)


# ----------------------------------------------------- centroid, rms, loudness, onsets
@_fill_doc
def spectral_centroid(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float = FRAME_S,
    hop_s: float = HOP_S,
    window: str = "hann",
) -> TimeSeries:
    """Spectral centroid: the magnitude-weighted mean frequency.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    frame_s : float
        %(frame_s)s
        Default 0.046 s.
    hop_s : float
        %(hop_s)s
        Default 0.005 s.
    window : str
        %(window)s
        Default ``'hann'``.

    Returns
    -------
    TimeSeries
        One channel ``spectral_centroid`` in Hz:
        ``c = <sum_f f |X[f]|> / <sum_f |X[f]|>``, where ``<.>`` is the
        average over each output sample's interval (the centroid of the
        interval's mean spectrum, not the mean of per-frame centroids).
        NaN where the interval is digitally silent (no spectral magnitude),
        since no frequency describes silence.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000) / 16000
    >>> audio = audio_from_array(0.5 * np.sin(2 * np.pi * 1000 * t), 16000)
    >>> c = spectral_centroid(audio, rate_hz=50)
    >>> round(float(np.median(c.values)))
    1000

    """
    job = _spectral_centroid_job(
        audio, rate_hz=rate_hz, frame_s=frame_s, hop_s=hop_s, window=window
    )
    return _run_jobs(audio, [job])[0]


def _spectral_centroid_job(
    audio: Audio, *, rate_hz: float, frame_s: float, hop_s: float, window: str
) -> _SpectralJob:
    import librosa

    rate_hz = _check_rate(rate_hz, audio)
    frame, hop, n_fft = _frame_samples(audio, frame_s, hop_s)
    freqs = librosa.fft_frequencies(sr=audio.rate_hz, n_fft=n_fft)
    moments = np.empty((_n_frames(audio, hop), 2))

    def consume(first: int, magnitude: np.ndarray) -> None:
        rows = slice(first, first + magnitude.shape[0])
        moments[rows, 0] = magnitude @ freqs
        moments[rows, 1] = magnitude.sum(axis=1)

    def finish() -> TimeSeries:
        series = TimeSeries(moments, audio.rate_hz / hop, names=["weighted", "total"])
        weighted, total = _to_grid(series, rate_hz).values.T
        tiny = np.finfo(np.float64).tiny
        centroid = np.full(total.shape, np.nan)
        np.divide(weighted, total, out=centroid, where=total > tiny)
        return TimeSeries(centroid, rate_hz, names=["spectral_centroid"], units=["Hz"])

    return _SpectralJob((frame, hop, n_fft, _check_window(window), np.float64), consume, finish)


@_fill_doc
def rms(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float = FRAME_S,
    hop_s: float = HOP_S,
) -> TimeSeries:
    """Root-mean-square amplitude.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    frame_s : float
        %(frame_s)s
        Default 0.046 s (rectangular frames).
    hop_s : float
        %(hop_s)s
        Default 0.005 s.

    Returns
    -------
    TimeSeries
        One channel ``rms`` in full scale: ``sqrt(<mean(x^2)>)``, the mean
        square of each centred frame averaged over each output sample's
        interval (power is averaged, then the root taken). A sine of amplitude
        ``A`` gives ``A / sqrt(2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000) / 16000
    >>> audio = audio_from_array(np.sin(2 * np.pi * 440 * t), 16000)
    >>> round(float(np.median(rms(audio, rate_hz=20).values)), 3)
    0.707

    """
    rate_hz = _check_rate(rate_hz, audio)
    frame, hop, _ = _frame_samples(audio, frame_s, hop_s)
    # Mean square of each centred rectangular frame from a cumulative sum of each
    # block's samples (memory bounded by the block, not the duration).
    n, half = audio.samples.size, frame // 2
    n_frames = _n_frames(audio, hop)
    mean_square = np.empty(n_frames)
    block_frames = 4096
    for first in range(0, n_frames, block_frames):
        last = min(first + block_frames, n_frames)
        a = min(max(first * hop - half, 0), n)
        b = min(max((last - 1) * hop - half + frame, 0), n)
        squares = np.zeros(b - a + 1)
        np.cumsum(np.square(audio.samples[a:b], dtype=np.float64), out=squares[1:])
        starts = np.arange(first, last) * hop - half
        lo = np.clip(starts, a, b) - a
        hi = np.clip(starts + frame, a, b) - a
        mean_square[first:last] = (squares[hi] - squares[lo]) / frame
    power = _to_grid(_framed_series(mean_square, audio, hop, "rms", "FS"), rate_hz)
    return power.replace(np.sqrt(np.maximum(power.values, 0.0)))


@_fill_doc
def loudness(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float = FRAME_S,
    hop_s: float = HOP_S,
    window: str = "hann",
    floor_db: float = -120.0,
) -> TimeSeries:
    """A-weighted sound level in dB relative to a full-scale sine.

    Not a psychoacoustic loudness model (sones): the level of the A-weighted
    signal, the usual cheap proxy for perceived loudness.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    frame_s : float
        %(frame_s)s
        Default 0.046 s.
    hop_s : float
        %(hop_s)s
        Default 0.005 s.
    window : str
        %(window)s
        Default ``'hann'``.
    floor_db : float
        Lowest level reported (default -120 dB), so silence gives a finite value.

    Returns
    -------
    TimeSeries
        One channel ``loudness`` in ``dBFS(A)``:
        ``L = 10 log10(max(<P_A> / P_ref, 10^(floor_db / 10)))`` with the
        A-weighted mean square of each frame
        ``P_A = 2 / (N sum(w^2)) * sum_f c_f 10^(A(f) / 10) |X[f]|^2``
        (``N`` the FFT size, ``w`` the window, ``c_f = 1/2`` at 0 Hz and
        Nyquist else 1, ``A(f)`` the IEC 61672 A-weighting in dB from
        ``librosa.A_weighting``), ``<.>`` the average over each output
        sample's interval (an equivalent level, LAeq) and ``P_ref = 1/2`` the
        mean square of a full-scale sine. A full-scale 1 kHz sine gives 0 dB;
        ten times the amplitude gives +20 dB.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000) / 16000
    >>> audio = audio_from_array(0.1 * np.sin(2 * np.pi * 1000 * t), 16000)
    >>> round(float(np.median(loudness(audio, rate_hz=20).values)), 1)
    -20.0

    """
    job = _loudness_job(
        audio, rate_hz=rate_hz, frame_s=frame_s, hop_s=hop_s, window=window, floor_db=floor_db
    )
    return _run_jobs(audio, [job])[0]


def _loudness_job(
    audio: Audio, *, rate_hz: float, frame_s: float, hop_s: float, window: str, floor_db: float
) -> _SpectralJob:
    import librosa
    import scipy.signal

    rate_hz = _check_rate(rate_hz, audio)
    if isinstance(floor_db, bool) or not isinstance(floor_db, numbers.Real):
        raise ParameterError(f"floor_db must be a finite number of dB, got {floor_db!r}.")
    if not np.isfinite(floor_db):
        raise ParameterError(f"floor_db must be a finite number of dB, got {floor_db!r}.")
    frame, hop, n_fft = _frame_samples(audio, frame_s, hop_s)
    win = scipy.signal.get_window(_check_window(window), frame, fftbins=True)
    freqs = librosa.fft_frequencies(sr=audio.rate_hz, n_fft=n_fft)
    gain = np.zeros_like(freqs)  # 0 at DC, where the A-weighting is -inf dB
    gain[1:] = 10.0 ** (librosa.A_weighting(freqs[1:], min_db=None) / 10.0)
    gain[-1] *= 0.5  # the Nyquist bin appears once in the two-sided spectrum
    # The blocks are scaled by 2 / sum(w); undo that to get |X| for Parseval.
    gain *= (win.sum() / 2.0) ** 2 * 2.0 / (n_fft * np.sum(win**2))
    power = np.empty(_n_frames(audio, hop))

    def consume(first: int, magnitude: np.ndarray) -> None:
        power[first : first + magnitude.shape[0]] = magnitude**2 @ gain

    def finish() -> TimeSeries:
        power_ts = _to_grid(_framed_series(power, audio, hop, "loudness", "dBFS(A)"), rate_hz)
        reference = 0.5  # mean square of a full-scale sine
        ratio = np.maximum(power_ts.values / reference, 10.0 ** (floor_db / 10.0))
        return power_ts.replace(10.0 * np.log10(ratio))

    return _SpectralJob((frame, hop, n_fft, window, np.float64), consume, finish)


@_fill_doc
def onset_strength(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float = FRAME_S,
    hop_s: float = HOP_S,
    n_mels: int = 128,
    lag: int = 1,
    max_size: int = 1,
) -> TimeSeries:
    """Onset strength (spectral flux of the log-power mel spectrogram), ``librosa.onset``.

    Parameters
    ----------
    audio : Audio
        %(audio)s
    rate_hz : float
        %(rate_hz)s
    frame_s : float
        %(frame_s)s
        Default 0.046 s (the FFT size of the mel spectrogram).
    hop_s : float
        %(hop_s)s
        Default 0.005 s.
    n_mels : int
        Mel bands (default 128).
    lag : int
        Frames between the compared spectra (default 1).
    max_size : int
        Width in bands of the maximum filter on the reference spectrum
        (default 1: none; >1 suppresses vibrato, as SuperFlux).

    Returns
    -------
    TimeSeries
        One channel ``onset_strength`` in dB:
        ``o[k] = mean_m max(0, S[m, k] - max_filter(S)[m, k - lag])`` with
        ``S`` the mel power in dB (``librosa.onset.onset_strength``). Frames
        are centred and ``o[k]`` lies at the centre of frame ``k``; librosa's
        extra shift of ``n_fft / 2`` samples (its ``center=True``) is not
        applied, so onsets are not delayed. The log compression favours the
        first frames that reach an onset: a sharp onset peaks up to about a
        third of a frame early (15 ms with the defaults).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> sr = 16000
    >>> x = np.zeros(2 * sr)
    >>> x[sr:] = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    >>> o = onset_strength(audio_from_array(x, sr), rate_hz=100)
    >>> float(o.times_s[np.argmax(o.values[:, 0])])  # within a few hops of 1 s
    0.99

    """
    job = _onset_strength_job(
        audio,
        rate_hz=rate_hz,
        frame_s=frame_s,
        hop_s=hop_s,
        n_mels=n_mels,
        lag=lag,
        max_size=max_size,
    )
    return _run_jobs(audio, [job])[0]


def _onset_strength_job(
    audio: Audio,
    *,
    rate_hz: float,
    frame_s: float,
    hop_s: float,
    n_mels: int,
    lag: int,
    max_size: int,
) -> _SpectralJob:
    import librosa

    rate_hz = _check_rate(rate_hz, audio)
    frame, hop, n_fft = _frame_samples(audio, frame_s, hop_s)
    n_mels = check_int("n_mels", n_mels, minimum=1)
    lag = check_int("lag", lag, minimum=1)
    max_size = check_int("max_size", max_size, minimum=1)
    # The mel power spectrogram is built block by block (librosa.stft would hold the
    # whole complex STFT); the onset function itself is librosa's.
    import scipy.signal
    import scipy.sparse

    window = "hann"
    unscale = scipy.signal.get_window(window, frame, fftbins=True).sum() / 2.0
    mel_basis = librosa.filters.mel(sr=audio.rate_hz, n_fft=n_fft, n_mels=n_mels)
    # (n_mels, n_bins), sparse: each FFT bin lies in at most two mel bands
    mel_sparse = scipy.sparse.csr_array(mel_basis.astype(np.float64))
    # librosa.power_to_db(S) with its defaults (ref=1, amin=1e-10, top_db=80): the dB
    # frames are kept in float32 (an hour at 200 frames/s x 128 bands is 370 MB, not
    # three float64 copies) and clipped at (global max - 80 dB) once all are known.
    n_frames = _n_frames(audio, hop)
    mel_db = np.empty((n_frames, n_mels), dtype=np.float32)
    top = [-np.inf]

    def consume(first: int, magnitude: np.ndarray) -> None:
        rows = slice(first, first + magnitude.shape[0])
        power = (mel_sparse @ ((magnitude * unscale) ** 2).T).T
        db = 10.0 * np.log10(np.maximum(power, 1e-10))
        top[0] = max(top[0], float(db.max()))
        mel_db[rows] = db

    def finish() -> TimeSeries:
        floor = top[0] - 80.0
        envelope = np.zeros(n_frames)
        block = 8192
        # librosa's onset function on overlapping blocks of frames: frame k needs
        # frames k - lag .. k only (its max filter runs across bands, not time).
        for first in range(0, n_frames, block):
            last = min(first + block, n_frames)
            start = max(0, first - lag)
            chunk = np.maximum(mel_db[start:last].astype(np.float64), floor)
            onset = librosa.onset.onset_strength(
                S=chunk.T, sr=audio.rate_hz, lag=lag, max_size=max_size, center=False
            )
            envelope[first:last] = onset[first - start :]
        return _to_grid(_framed_series(envelope, audio, hop, "onset_strength", "dB"), rate_hz)

    return _SpectralJob((frame, hop, n_fft, window, np.float64), consume, finish)


# ----------------------------------------------------------------------- registry
#: The spectral features' job builders (same keyword options as the public functions).
_SPECTRAL_JOBS: dict[str, Callable[..., _SpectralJob]] = {
    "spectral_flux": _spectral_flux_job,
    "roughness": _roughness_job,
    "spectral_centroid": _spectral_centroid_job,
    "loudness": _loudness_job,
    "onset_strength": _onset_strength_job,
}


def _compute_all(
    audio: Audio, rate_hz: float, names: Sequence[str], options: Mapping[str, Mapping[str, Any]]
) -> list[TimeSeries]:
    """Every named feature; spectral ones with equal frames share one pass over the spectra."""
    jobs: dict[str, _SpectralJob] = {}
    for name in names:
        if name in _SPECTRAL_JOBS:
            # the public function's defaults, then the caller's options
            defaults = {
                p.name: p.default
                for p in inspect.signature(FEATURES[name]).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not p.empty
            }
            kwargs = {**defaults, **options.get(name, {})}
            jobs[name] = _SPECTRAL_JOBS[name](audio, rate_hz=rate_hz, **kwargs)
    shared = dict(zip(jobs, _run_jobs(audio, list(jobs.values())), strict=True))
    return [
        shared[n] if n in shared else FEATURES[n](audio, rate_hz=rate_hz, **options.get(n, {}))
        for n in names
    ]


#: Every feature by name; each takes ``(audio, *, rate_hz, **options)`` and returns a
#: one-channel :class:`~frisson.timeseries.TimeSeries` named after its key.
FEATURES: dict[str, Callable[..., TimeSeries]] = {
    "amplitude_envelope": amplitude_envelope,
    "spectral_flux": spectral_flux,
    "roughness": roughness,
    "spectral_centroid": spectral_centroid,
    "rms": rms,
    "loudness": loudness,
    "onset_strength": onset_strength,
}


def list_features() -> list[str]:
    """Names of the registered features, in registry order.

    Examples
    --------
    >>> list_features()[:3]
    ['amplitude_envelope', 'spectral_flux', 'roughness']

    """
    return list(FEATURES)


def _feature_options(name: str) -> list[str]:
    """The options a feature accepts besides ``audio`` and ``rate_hz``."""
    parameters = inspect.signature(FEATURES[name]).parameters
    return [
        p.name
        for p in parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "rate_hz"
    ]


def _check_names(names: Sequence[str] | None) -> list[str]:
    if names is None:
        return list_features()
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ParameterError(
            f"names is empty; pass None for all features or some of {', '.join(FEATURES)}."
        )
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ParameterError(
            f"Unknown feature name(s) {', '.join(map(repr, unknown))}; valid names are "
            f"{', '.join(FEATURES)}."
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ParameterError(f"names lists {', '.join(duplicated)} more than once; list each once.")
    return names


def compute_features(
    audio: Audio,
    *,
    rate_hz: float,
    names: Sequence[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> TimeSeries:
    """Several features of one audio as the named channels of one series.

    Parameters
    ----------
    audio : Audio
        Mono audio (:class:`frisson.audio.Audio`), full scale = 1.
    rate_hz : float
        Rate of the returned series in Hz (required); every feature is put on
        the grid ``k / rate_hz`` s.
    names : sequence of str, optional
        Features to compute, in this channel order; see :func:`list_features`.
        Default: all, in registry order.
    options : mapping, optional
        Per-feature keyword options, e.g. ``{"roughness": {"model":
        "vassilakis"}}``. Every key must be a selected feature and every option
        one that feature accepts (nothing is silently ignored).

    Returns
    -------
    TimeSeries
        ``(n_times, len(names))`` at ``rate_hz`` from ``start_s = 0``, one
        channel per feature with its unit; all channels are cropped to the
        shortest feature (they differ by at most a sample or two at the end).

    Raises
    ------
    ParameterError
        For an unknown or repeated feature name, or options for a feature not
        selected or not accepted by it; the message lists the valid choices.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000) / 16000
    >>> audio = audio_from_array(0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    >>> feats = compute_features(audio, rate_hz=50, names=["rms", "spectral_centroid"])
    >>> feats.names, feats.units
    (('rms', 'spectral_centroid'), ('FS', 'Hz'))

    """
    rate_hz = _check_rate(rate_hz, audio)
    names = _check_names(names)
    options = {} if options is None else dict(options)
    stray = [key for key in options if key not in names]
    if stray:
        raise ParameterError(
            f"options given for {', '.join(map(repr, stray))}, which are not among the selected "
            f"features ({', '.join(names)}); they would be ignored. Add them to names or drop them."
        )
    for name, kwargs in options.items():
        valid = _feature_options(name)
        bad = [key for key in kwargs if key not in valid]
        if bad:
            raise ParameterError(
                f"options[{name!r}] has unknown option(s) {', '.join(map(repr, bad))}; "
                f"{name} accepts {', '.join(valid) or 'no options'}."
            )
    series = _compute_all(audio, rate_hz, names, options)
    n_times = min(s.n_times for s in series)
    values = np.column_stack([s.values[:n_times, 0] for s in series])
    units = [s.units[0] if s.units else "" for s in series]
    logger.debug("compute_features: %s at %g Hz, %d samples", names, rate_hz, n_times)
    return TimeSeries(values, rate_hz, names=names, units=units)
