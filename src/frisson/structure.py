"""Structure in a latent trajectory, each piece tested against a null: transitions and clusters.

:mod:`frisson.latent` has the chills study's steps as published (the poster's
PC1-variance transitions, silhouette-chosen k-means). This module adds what
holds up on real music (``benchmarks/latent.py``) and against structureless
surrogates:

- :func:`smooth_latent` sets the sliding mean in seconds (``window_s``,
  ``hop_s``), converted to frames per encoder frame rate; the poster's setting
  (100 frames, hop 4 at DAC's 86.13 frames/s) is :data:`POSTER_WINDOW_S` and
  :data:`POSTER_HOP_S`.
- :func:`significant_transitions` (method ``"tested_novelty"``, the default of
  :func:`frisson.pipelines.analyze_song`) takes the peaks of Foote's checkerboard
  novelty of the leading PCs and gives each a p-value from surrogate PCs, as a
  max-statistic over the song, so the chance that a song without structure gets
  any transition is ``alpha``.
- :func:`cluster_with_null` picks the number of k-means clusters by the gap
  statistic against surrogates (k = 1 allowed) and says whether the clusters beat
  that null.

Surrogates for transitions
--------------------------
A section change is a step shared by many latent dimensions. Surrogates that keep
a song's whole power spectrum (phase randomisation, IAAFT) keep the steps' power
as slow Gaussian wandering, and the wandering's peaks reach most real changes:
tested on the whole song, few transitions pass. Surrogates that keep only the
short-range spectrum (white beyond a few seconds) pass the real changes but are
liberal: the low band extrapolated from the octave above underestimates any
decreasing spectrum, and 31 % (correlation time 0.5 s) to 99 % (2 s) of AR(1)
songs then got a transition. :func:`significant_transitions` therefore tests
step-down: the highest peak against whole-spectrum phase-randomised surrogates
of the PCs (valid for any stationary Gaussian latent: the song-wise error rate is
``alpha``); once it passes, the PCs' mean is removed piecewise between the
transitions found, so the steps' power leaves the residual, and the residual's
next peak is tested against the residual's own surrogates. The test statistic
is a standardised mean shift (:func:`mean_shift_statistic`: a t-statistic
squared, averaged over PCs), which a step reaches and slow wandering of the same
power does not; Foote's novelty is the other choice (``statistic="foote"``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from frisson._check import check_int, check_positive, rng_from_seed
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.latent import Clusters, Transitions, sliding_mean
from frisson.timeseries import TimeSeries

__all__ = [
    "DEFAULT_TRANSITIONS",
    "POSTER_HOP_S",
    "POSTER_WINDOW_S",
    "GapClusters",
    "SignificantTransitions",
    "checkerboard_novelty",
    "cluster_with_null",
    "mean_shift_statistic",
    "significant_transitions",
    "smooth_latent",
    "smoothing_frames",
]

#: The method name (and key of ``SongAnalysis.transitions``) of the default detector.
DEFAULT_TRANSITIONS = "tested_novelty"
#: The poster's smoothing: 100 frames of DAC (44100 / 512 = 86.13 frames/s), i.e. 1.161 s.
POSTER_WINDOW_S = 100 * 512 / 44100
#: The poster's hop: 4 DAC frames, 0.0464 s (21.5 windows/s).
POSTER_HOP_S = 4 * 512 / 44100


# --------------------------------------------------------------------------- smoothing
def smoothing_frames(rate_hz: float, window_s: float, hop_s: float) -> tuple[int, int]:
    """Sliding-mean window and hop in frames of an encoder running at ``rate_hz``.

    Examples
    --------
    >>> smoothing_frames(44100 / 512, POSTER_WINDOW_S, POSTER_HOP_S)  # DAC: the poster's
    (100, 4)
    >>> smoothing_frames(16000 / 256, POSTER_WINDOW_S, POSTER_HOP_S)  # musicnn, 62.5 frames/s
    (73, 3)

    """
    rate_hz = check_positive("rate_hz", rate_hz)
    window = round(check_positive("window_s", window_s) * rate_hz)
    hop = round(check_positive("hop_s", hop_s) * rate_hz)
    if window < 1 or hop < 1:
        raise ParameterError(
            f"window_s={window_s:g} / hop_s={hop_s:g} is less than one frame at {rate_hz:g} "
            f"frames/s; use at least {1 / rate_hz:.4f} s."
        )
    return window, hop


def smooth_latent(
    latent: TimeSeries, *, window_s: float = POSTER_WINDOW_S, hop_s: float = POSTER_HOP_S
) -> TimeSeries:
    """Sliding mean of an encoder layer with window and hop in seconds.

    Parameters
    ----------
    latent : TimeSeries, shape (n_frames, n_dims)
        An encoder layer at its own frame rate.
    window_s, hop_s : float
        Window and hop in seconds (default the poster's 1.161 s and 0.0464 s),
        rounded to whole frames of ``latent.rate_hz``.

    Returns
    -------
    TimeSeries
        See :func:`frisson.latent.sliding_mean`.

    Examples
    --------
    >>> frames = TimeSeries(np.zeros((1000, 2)), rate_hz=62.5)
    >>> round(smooth_latent(frames).rate_hz, 2)  # hop 3 frames
    20.83

    """
    window, hop = smoothing_frames(latent.rate_hz, window_s, hop_s)
    return sliding_mean(latent, window_frames=window, hop_frames=hop)


# --------------------------------------------------------------------------- novelty
def checkerboard_novelty(unit: np.ndarray, half: int) -> np.ndarray:
    """Foote's Gaussian-tapered checkerboard novelty of unit vectors, shape ``(..., n)``.

    The checkerboard kernel is the outer product of ``w = sign * taper`` with
    itself, so the kernel applied to the cosine self-similarity matrix at ``t``
    is ``|| sum_k w_k u(t + k) ||^2``: one filter per dimension instead of the
    ``n x width`` band (same numbers as :func:`frisson.latent.foote_novelty`).
    Zero where the kernel does not fit.

    Parameters
    ----------
    unit : ndarray, shape (..., n_times, n_dims)
        Centred, unit-norm frames (leading axes: e.g. surrogates).
    half : int
        Half-width of the kernel in samples.

    Examples
    --------
    >>> steps = np.repeat([[1.0, 0.0], [0.0, 1.0]], 20, axis=0)
    >>> int(np.argmax(checkerboard_novelty(steps, 5)))
    20

    """
    from scipy.signal import oaconvolve

    offsets = np.arange(-half, half)
    weights = np.where(offsets < 0, -1.0, 1.0) * np.exp(
        -0.5 * ((offsets + 0.5) / (0.5 * half)) ** 2
    )
    n = unit.shape[-2]
    shape = [1] * unit.ndim
    shape[-2] = weights.size
    filtered = oaconvolve(unit, weights[::-1].reshape(shape), mode="full", axes=-2)
    novelty = (filtered[..., half - 1 : half - 1 + n, :] ** 2).sum(axis=-1)
    valid = np.zeros(n, dtype=bool)
    valid[half : n - half + 1] = True
    return np.where(valid, novelty, 0.0)


def _unit_rows(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=-2, keepdims=True)
    norms = np.linalg.norm(centred, axis=-1, keepdims=True)
    return centred / np.where(norms > 0, norms, 1.0)


def _phase_surrogates(
    values: np.ndarray, n_surrogates: int, rng: np.random.Generator, *, single: bool = False
):
    """Phase-randomised surrogates ``(n_surrogates, n, d)`` of the columns of ``values``.

    One random phase per frequency, shared by every column: the amplitude spectra
    and cross-spectra are kept; the mean is kept. ``single=True`` does the inverse
    transform in float32 (twice as fast; values to about 1e-7 relative, returned
    as float64): for the transition test's null maxima, whose p-values it leaves
    as they are (``tests/test_structure_fast.py``); not for k-means, whose labels
    can flip on a rounding.
    """
    import scipy.fft

    n = values.shape[0]
    mean = values.mean(axis=0)
    spectrum = scipy.fft.rfft(values - mean, axis=0).T  # (d, n_freq): transforms along rows
    phases = rng.uniform(0.0, 2 * np.pi, size=(n_surrogates, spectrum.shape[1], 1))
    phases[:, 0] = 0.0
    if n % 2 == 0:
        phases[:, -1] = 0.0
    if single:
        rotation = np.empty((n_surrogates, 1, spectrum.shape[1]), dtype=np.complex64)
        angle = phases[:, np.newaxis, :, 0]
        rotation.real, rotation.imag = np.cos(angle), np.sin(angle)
        rotated = spectrum.astype(np.complex64)[np.newaxis] * rotation
    else:
        rotated = spectrum[np.newaxis] * np.exp(1j * phases[:, np.newaxis, :, 0])
    # A (n_surrogates, n, d) view of the (n_surrogates, d, n) transform: the
    # cumulative sums downstream then run along contiguous memory.
    return np.add(scipy.fft.irfft(rotated, n=n, axis=-1).transpose(0, 2, 1), mean)


# ------------------------------------------------------------------------- transitions
@dataclass(frozen=True)
class SignificantTransitions(Transitions):
    """Transitions with a p-value each (``method="tested_novelty"``).

    ``times_s``, ``strength`` and ``p`` hold the transitions with ``p <= alpha``:
    the ones reported and used downstream. ``candidates_s`` and ``candidates_p``
    hold every peak the step-down tested: the transitions and the first peak
    that failed (in time order in :meth:`to_frame`).

    Attributes
    ----------
    p : ndarray, shape (n_transitions,)
        Max-statistic p of each reported transition at its step:
        ``(1 + #(surrogate max statistic >= peak)) / (1 + n_surrogates)``.
    candidates_s, candidates_p : ndarray, shape (n_candidates,)
        Every peak tested and its p.
    alpha : float
        Song-wise level: under the null, the probability that a song gets any
        transition is at most ``alpha``.

    """

    p: np.ndarray = field(default_factory=lambda: np.array([]))
    candidates_s: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    candidates_p: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    alpha: float = 0.05

    def to_frame(self):
        """Every candidate: ``time_s``, ``strength``, ``method``, ``p``, ``default`` (p <= alpha).

        ``strength`` is the step-1 statistic at the peak over its maximum.
        """
        import pandas as pd

        order = np.argsort(self.candidates_s, kind="stable")
        times, p = self.candidates_s[order], self.candidates_p[order]
        values = self.curve.values[self.curve.index_at(times), 0] if times.size else times
        scale = self.curve.values[:, 0].max() if self.curve.n_times else 1.0
        return pd.DataFrame(
            {
                "time_s": times,
                "strength": values / (scale if scale > 0 else 1.0),
                "method": self.method,
                "p": p,
                "default": p <= self.alpha,
            }
        )


def mean_shift_statistic(values: np.ndarray, half: int) -> np.ndarray:
    """Standardised mean shift at each time, shape ``(..., n)``.

    The mean over dimensions of ``(m_after - m_before)^2 / (v_before + v_after)``
    with the means and variances of the ``half`` samples before and after ``t``
    (a two-sample t-statistic squared, per dimension). Zero where the windows
    do not fit. A step scores high (its windows are flat); a slow wander of the
    same power scores lower (its windows vary inside).

    Examples
    --------
    >>> steps = np.repeat([[0.0], [1.0]], 20, axis=0) + np.tile([[0.0], [0.1]], (20, 1))
    >>> int(np.argmax(mean_shift_statistic(steps, 5)))
    20

    """
    values = np.asarray(values, dtype=float)
    n, d = values.shape[-2:]
    lead = values.shape[:-2]
    out = np.zeros(values.shape[:-1])
    if n < 2 * half:
        return out
    flat_values = values.reshape(-1, n, d)
    flat_out = out.reshape(-1, n)
    # A few series at a time keeps the temporaries in cache; each series is
    # computed on its own, so the chunking does not change a value.
    chunk = max(1, _CHUNK_ELEMENTS // (n * d))
    for start in range(0, flat_values.shape[0], chunk):
        stop = start + chunk
        flat_out[start:stop, half : n - half + 1] = _mean_shift_chunk(flat_values[start:stop], half)
    return out.reshape(*lead, n)


_CHUNK_ELEMENTS = 1 << 18


def _mean_shift_chunk(values: np.ndarray, half: int) -> np.ndarray:
    """:func:`mean_shift_statistic` of ``(m, n, d)`` series at ``t = half .. n - half``.

    Window sums from cumulative sums by slicing (one difference per window, shared
    by the "before" at ``t + half`` and the "after" at ``t``), in place; equal
    to the direct formula to rounding.
    """
    m, n, d = values.shape
    cumulative = np.zeros((m, n + 1, d))
    np.cumsum(values, axis=1, out=cumulative[:, 1:])
    mean = cumulative[:, -1:] / n
    means = cumulative[:, half:] - cumulative[:, :-half]  # window j = samples j .. j+half-1
    means /= half
    np.cumsum(np.square(values), axis=1, out=cumulative[:, 1:])
    # The series' variance (the floor) from the same sums: equal to np.var to
    # rounding for centred series such as PCs and their residuals.
    floor = 1e-3 * np.maximum(cumulative[:, -1:] / n - np.square(mean), 0.0) + 1e-300
    variances = cumulative[:, half:] - cumulative[:, :-half]
    variances /= half
    variances -= np.square(means)
    shift = means[:, half:] - means[:, :-half]  # after (window t) - before (window t - half)
    np.square(shift, out=shift)
    total = variances[:, :-half] + variances[:, half:]
    total += floor
    shift /= total
    return (shift @ np.ones(d)) / d  # the mean over dimensions, as one matrix product


_STATISTICS = {
    "mean_shift": mean_shift_statistic,
    "foote": lambda values, half: checkerboard_novelty(_unit_rows(values), half),
}


def significant_transitions(
    pcs: TimeSeries,
    *,
    n_pcs: int = 10,
    kernel_s: float = 24.0,
    statistic: str = "mean_shift",
    rate_hz: float = 4.0,
    n_surrogates: int = 199,
    alpha: float = 0.05,
    max_transitions: int = 20,
    min_distance_s: float = 5.0,
    edge_s: float = 5.0,
    seed: int = 0,
) -> SignificantTransitions:
    """Transitions of the leading PCs, each tested against surrogates (step-down).

    Step 1 computes the change statistic (``kernel_s`` wide) of the PCs
    averaged to ``rate_hz`` and of ``n_surrogates`` phase-randomised surrogates
    (whole spectrum kept, one random phase per frequency shared by every PC);
    the highest peak's p is the fraction of surrogates whose largest statistic
    in the searched span reaches it. If ``p <= alpha`` it is a transition; the
    PCs' mean is then removed piecewise between the transitions found, and the
    next step tests the residual the same way (surrogates of the residual; the
    span within half a kernel of a transition is not searched), until a peak
    fails. On a song without structure the first step fails with probability
    ``1 - alpha``, so the chance that such a song gets any transition is
    ``alpha`` (max-statistic over the song); each later step tests the rest of
    the song given the transitions already found.

    Parameters
    ----------
    pcs : TimeSeries
        PC scores (:attr:`frisson.latent.TrajectoryPCA.pcs`).
    n_pcs : int
        Leading PCs used (default 10).
    kernel_s : float
        Width of the change statistic's window, half before and half after
        (default 24 s). On a song shorter than ``kernel_s + 2 * edge_s`` it
        shrinks to fit (``params["kernel_s"]``).
    statistic : {'mean_shift', 'foote'}
        ``"mean_shift"`` (default, :func:`mean_shift_statistic`) or Foote's
        checkerboard novelty of the cosine similarity (:func:`checkerboard_novelty`).
    rate_hz : float
        Rate the statistic is computed at (default 4 Hz: 0.25 s resolution).
    n_surrogates : int
        Surrogates per step (default 199; the smallest p is ``1 / (1 + n_surrogates)``).
    alpha : float
        Song-wise level (default 0.05).
    max_transitions : int
        Steps at most (default 20).
    min_distance_s, edge_s : float
        As in :func:`frisson.latent.novelty_transitions`.
    seed : int
        Seed of the surrogates.

    Returns
    -------
    SignificantTransitions
        ``curve`` is the statistic of the PCs themselves (step 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> states = rng.standard_normal((3, 10))
    >>> frames = np.repeat(states, 400, axis=0) + rng.standard_normal((1200, 10))
    >>> found = significant_transitions(TimeSeries(frames, 20.0), n_surrogates=99)
    >>> np.round(found.times_s), found.p
    (array([20., 40.]), array([0.01, 0.01]))

    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha}.")
    if statistic not in _STATISTICS:
        raise ParameterError(
            f"statistic={statistic!r} is not one of {', '.join(map(repr, _STATISTICS))}."
        )
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    check_positive("min_distance_s", min_distance_s)
    series = pcs.select(pcs.names[: min(check_int("n_pcs", n_pcs, minimum=1), pcs.n_channels)])
    if rate_hz < series.rate_hz:
        series = series.resample(check_positive("rate_hz", rate_hz))
    values = np.asarray(series.values, dtype=float)
    if not np.isfinite(values).all():
        raise DataError("pcs hold NaN or inf; crop or interpolate them first.")
    half, span = _kernel_and_span(series, kernel_s, edge_s)
    compute = _STATISTICS[statistic]
    rng = rng_from_seed(seed)
    found, found_p, tested_s, tested_p = [], [], [], []
    guard = max(1, round(series.rate_hz))  # 1 s either side of a transition found
    curve_values = compute(values, half)
    for _ in range(check_int("max_transitions", max_transitions, minimum=1)):
        inside = span.copy()
        for index in found:
            inside[max(0, index - half) : index + half + 1] = False
        if not inside.any():
            break
        residual = _demeaned(values[np.newaxis], found, guard)[0]
        peak, p = _step(
            residual,
            (found, guard),
            inside,
            half,
            compute,
            n_surrogates,
            min_distance_s,
            series,
            rng,
        )
        if peak is None:
            break
        tested_s.append(float(series.times_s[peak]))
        tested_p.append(p)
        if p > alpha:
            break
        found.append(peak)
        found_p.append(p)
    order = np.argsort(found)
    chosen = np.array(found, dtype=int)[order]
    scale = curve_values.max() if curve_values.max() > 0 else 1.0
    params = {
        "n_pcs": series.n_channels,
        "kernel_s": 2 * half / series.rate_hz,
        "statistic": statistic,
        "rate_hz": series.rate_hz,
        "null": "phase-randomised residual (whole spectrum, shared phases), step-down",
        "n_surrogates": n_surrogates,
        "alpha": alpha,
        "correction": "max-statistic over the song at each step",
        "min_distance_s": min_distance_s,
        "edge_s": edge_s,
        "seed": seed,
    }
    logger.info("tested transitions: %d (steps until p > %g)", chosen.size, alpha)
    return SignificantTransitions(
        series.times_s[chosen].copy(),
        curve_values[chosen] / scale,
        DEFAULT_TRANSITIONS,
        TimeSeries(curve_values, series.rate_hz, start_s=series.start_s, names=[statistic]),
        params,
        p=np.array(found_p)[order] if found_p else np.array([]),
        candidates_s=np.array(tested_s),
        candidates_p=np.array(tested_p),
        alpha=alpha,
    )


def _kernel_and_span(series: TimeSeries, kernel_s: float, edge_s: float):
    """Half-kernel in samples (shrunk to fit a short song) and the searched span."""
    check_positive("edge_s", edge_s, allow_zero=True)
    n = series.n_times
    edge = round(edge_s * series.rate_hz)
    half = round(check_positive("kernel_s", kernel_s) * series.rate_hz / 2)
    if 2 * half > n - 2 * edge:
        half = (n - 2 * edge) // 2
        logger.info("kernel_s shortened to %.1f s to fit the song", 2 * half / series.rate_hz)
    if half < 2:
        raise DataError(
            f"kernel_s={kernel_s:g} and edge_s={edge_s:g} leave no kernel of 1 s or more in "
            f"{series.duration_s:.1f} s; use a longer song or a smaller edge_s."
        )
    index = np.arange(n)
    times = series.times_s
    span = (times >= series.start_s + edge_s) & (times <= series.end_s - edge_s)
    return half, span & (index >= half) & (index <= n - half)


def _demeaned(series: np.ndarray, boundaries: list[int], guard: int) -> np.ndarray:
    """``(n_series, n, d)``, each with its mean removed between ``boundaries``.

    The ``guard`` samples either side of a boundary are set to zero: a transition
    found a sample or two off its true place would leave a short pulse there,
    which the next step would take for a change.
    """
    if not boundaries:
        return series
    edges = np.r_[0, np.sort(np.asarray(boundaries, dtype=int)), series.shape[1]]
    out = np.empty_like(series)
    for start, stop in itertools.pairwise(edges):
        segment = series[:, start:stop]
        np.subtract(segment, segment.mean(axis=1, keepdims=True), out=out[:, start:stop])
    for index in boundaries:
        out[:, max(0, index - guard) : index + guard] = 0.0
    return out


def _step(residual, found, inside, half, compute, n_surrogates, min_distance_s, series, rng):
    """The highest peak of the residual's statistic inside the span and its p.

    ``found`` is (transitions, guard): each surrogate of the residual has its mean
    removed between the transitions and the guard zones zeroed, as the residual
    had, so that the removal's loss of slow power is in the null too.
    """
    from scipy.signal import find_peaks

    observed = compute(residual, half)
    distance = max(1, round(min_distance_s * series.rate_hz))
    peaks, _ = find_peaks(np.where(inside, observed, 0.0), distance=distance)
    peaks = peaks[inside[peaks]]
    if peaks.size == 0:
        return None, 1.0
    peak = int(peaks[np.argmax(observed[peaks])])
    batches = []
    for i in range(0, n_surrogates, 50):
        chunk = _phase_surrogates(residual, min(50, n_surrogates - i), rng, single=True)
        surrogates = _demeaned(chunk, *found)
        batches.append(compute(surrogates, half)[:, inside].max(axis=1))
    null_max = np.concatenate(batches)
    return peak, float((1 + np.sum(null_max >= observed[peak])) / (1 + n_surrogates))


# ---------------------------------------------------------------------------- clusters
@dataclass(frozen=True)
class GapClusters(Clusters):
    """K-means clusters with k chosen by the gap statistic against surrogates.

    Attributes
    ----------
    gap_by_k : dict of int to float
        ``mean_surrogates(log W_k) - log W_k`` (W_k: within-cluster sum of squares).
    gap_sd_by_k : dict of int to float
        The surrogates' SD of ``log W_k`` times ``sqrt(1 + 1 / B)`` (Tibshirani et al. 2001).
    beats_null : bool
        Whether the chosen k is above 1: the trajectory is more clustered than
        surrogates with its autocorrelation but no clusters (``p <= alpha``).
    p : float
        Fraction of surrogates (plus one, over B plus one) whose drop
        ``log W_1 - log W_k`` at the gap rule's k reaches the observed one; 1.0
        when the rule gave k = 1.

    """

    gap_by_k: dict[int, float] = field(default_factory=dict)
    gap_sd_by_k: dict[int, float] = field(default_factory=dict)
    beats_null: bool = False
    p: float = 1.0


def cluster_with_null(
    pcs: TimeSeries,
    *,
    n_pcs: int = 2,
    k_max: int = 8,
    n_surrogates: int = 39,
    rate_hz: float = 4.0,
    alpha: float = 0.05,
    seed: int = 0,
) -> GapClusters:
    """K-means clusters in the leading PCs, k = 1..k_max chosen by the gap statistic.

    The reference data are phase-randomised surrogates of the PCs (shared
    phases, whole spectrum kept): Gaussian series with the trajectory's
    autocorrelation and cross-spectra but no clusters. k is the smallest with
    ``gap(k) >= gap(k + 1) - sd(k + 1)`` (Tibshirani, Walther & Hastie 2001),
    kept when its drop in ``log W`` from k = 1 beats the surrogates' (``p <= alpha``).
    The fits use the PCs averaged to ``rate_hz``; every time point of ``pcs``
    is then labelled by its nearest centre.

    Parameters
    ----------
    pcs : TimeSeries
        PC scores.
    n_pcs : int
        Leading PCs clustered (default 2: the PC1-PC2 plane).
    k_max : int
        Largest k tried (default 8).
    n_surrogates : int
        Reference data sets (default 39).
    alpha : float
        The gap rule's k is kept only if its drop ``log W_1 - log W_k`` beats the
        surrogates' at this level (``p``); else k = 1 (default 0.05).
    rate_hz : float
        Rate of the points fitted (default 4 Hz).
    seed : int
        Seed of k-means and of the surrogates.

    Returns
    -------
    GapClusters

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.repeat([[0, 0], [6, 0], [0, 6]], 200, axis=0) + rng.standard_normal((600, 2))
    >>> found = cluster_with_null(TimeSeries(blobs, 4.0))
    >>> found.n_clusters, found.beats_null
    (3, True)

    """
    full = pcs.select(pcs.names[: min(check_int("n_pcs", n_pcs, minimum=1), pcs.n_channels)])
    fit_series = full.resample(rate_hz) if rate_hz < full.rate_hz else full
    points = np.asarray(fit_series.values, dtype=float)
    if not np.isfinite(points).all():
        raise DataError("pcs hold NaN or inf; crop or interpolate them first.")
    k_max = min(check_int("k_max", k_max, minimum=1), points.shape[0] - 1)
    rng = rng_from_seed(seed)
    surrogates = _phase_surrogates(points, check_int("n_surrogates", n_surrogates, minimum=2), rng)

    observed, fits = {}, {}
    for k in range(1, k_max + 1):
        observed[k], fits[k] = _kmeans(points, k, 10, rng)
    reference = np.array(
        [[_kmeans(s, k, 2, rng)[0] for k in range(1, k_max + 1)] for s in surrogates]
    )
    gap = {k: float(reference[:, k - 1].mean() - observed[k]) for k in observed}
    sd = {k: float(reference[:, k - 1].std() * np.sqrt(1 + 1 / len(surrogates))) for k in observed}
    best = next((k for k in range(1, k_max) if gap[k] >= gap[k + 1] - sd[k + 1]), k_max)
    drop = observed[1] - observed[best]
    null_drop = reference[:, 0] - reference[:, best - 1]
    p = 1.0 if best == 1 else float((1 + np.sum(null_drop >= drop)) / (1 + null_drop.size))
    if p > alpha:
        # The gap rule alone picked k > 1 on half of smooth Gaussian trajectories
        # (it is no test); clusters are kept only when the drop beats the surrogates.
        best = 1
    centers = fits[best][0]
    distances = ((full.values[:, np.newaxis, :] - centers[np.newaxis]) ** 2).sum(axis=2)
    labels, centers = _relabel(np.argmin(distances, axis=1), centers)
    silhouette = _silhouettes(points, {k: fit[1] for k, fit in fits.items()}, seed)
    logger.info("clusters: k = %d by the gap statistic (p = %.3g)", best, p)
    return GapClusters(
        TimeSeries(labels, full.rate_hz, start_s=full.start_s, names=["cluster"]),
        best,
        silhouette,
        centers,
        gap_by_k=gap,
        gap_sd_by_k=sd,
        beats_null=best > 1,
        p=p,
    )


def _kmeans(
    points: np.ndarray, k: int, n_init: int, rng: np.random.Generator
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Log W_k (within-cluster sum of squares) of the best of ``n_init`` k-means++ runs."""
    import warnings

    from scipy.cluster.vq import kmeans2

    best: tuple[float, tuple[np.ndarray, np.ndarray] | None] = (np.inf, None)
    for _ in range(n_init):
        with warnings.catch_warnings():  # an empty cluster only makes this run worse
            warnings.simplefilter("ignore", UserWarning)
            centres, labels = kmeans2(points, k, minit="++", seed=rng, iter=30)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best[0]:
            best = (inertia, (centres, labels))
    return float(np.log(max(best[0], 1e-300))), best[1]


def _relabel(labels: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clusters numbered by first appearance (empty ones dropped)."""
    _, first = np.unique(labels, return_index=True)
    order = np.unique(labels)[np.argsort(first)]
    mapping = np.full(centers.shape[0], -1)
    mapping[order] = np.arange(order.size)
    return mapping[labels], centers[order]


def _silhouettes(points: np.ndarray, fits: dict, seed: int) -> dict[int, float]:
    from sklearn.metrics import silhouette_score

    out = {}
    for k, labels in fits.items():
        if k >= 2 and len(np.unique(labels)) >= 2:
            out[k] = float(
                silhouette_score(
                    points, labels, sample_size=min(3000, points.shape[0]), random_state=seed
                )
            )
    return out
