"""Latent trajectories: smoothing, within-song PCA, clusters, transitions and feature links.

This module follows the chills study's analysis of an encoder's latent series:

1. :func:`sliding_mean` smooths the frames (100 frames, hop 4: 86.13 Hz -> 21.5 Hz).
2. :func:`trajectory_pca` projects one song's smoothed latent on its own principal components.
3. :func:`cluster_trajectory` groups time points in PC space (k-means, k by silhouette).
4. :func:`variance_transitions` finds transitions as peaks of the sliding variance of PC1;
   :func:`novelty_transitions` is a second method (Foote's checkerboard novelty).
5. :func:`score_boundaries` scores detected against known boundaries with ``mir_eval``.
6. :func:`feature_correlations` relates each PC to acoustic features over a lag range,
   with p-values from surrogates that keep each series' autocorrelation, family-wise
   corrected (max statistic) over every PC x feature x lag of the song.

Surrogate nulls
---------------
A song's PCs and features are section-structured: levels that change abruptly a few
times per song, plus smooth noise, so a 20-60 s song has very few effective degrees of
freedom, and its start and end sit at different levels. Two surrogates that treat the
series as periodic are liberal there. A circular shift puts a jump where the end meets
the start, and randomising Fourier phases (or IAAFT, which keeps the same periodogram
and the amplitude distribution) spreads the end-to-start step, which dominates the
periodogram of a non-periodic series, over random phases: either way the surrogates
lose the drift-like, non-periodic low-frequency structure that makes two independent
section series correlate by chance, so the null of ``max |r|`` is too narrow.
``null="dct"`` (the default of :func:`feature_correlations`) works on the orthonormal
DCT-II coefficients instead, the Fourier basis of the series' mirrored (even) extension,
which is periodic without a jump; the DCT nearly diagonalises the covariance of smooth
stationary series (AR(1) with phi near 1), so under the null the coefficients are close
to independent and symmetric. Each coefficient (but the mean term) is multiplied by its
own standard normal draw: a wild bootstrap in the DCT domain, giving Gaussian series
whose expected DCT power spectrum is the observed one. Random signs alone (magnitudes
kept) were too narrow in the tail: a song with few sections has a few dominant
coefficients, and another realisation would have other magnitudes. The surrogates do not
keep the amplitude distribution; the test was calibrated on skewed, step-like features
all the same. On null songs of that kind (``benchmarks/latent_nulls.py``: 3 PCs x 7
features, lags -2..2 s, 199 surrogates, 300 songs; "rejects" = p <= alpha, exact size
for a calibrated test), single pairs rejected at .05 18.1 % with circular shifts, 8.7 %
with phase randomisation and 5.7 % with ``"dct"`` (an earlier run: DCT signs alone
6.0 %; an IAAFT prototype of the feature, 60 songs, 7.6 %). The max-corrected per-song
test rejected, at .05 and .01, 82 % and 70 % with circular shifts, 20 % and 9.7 % with
phase randomisation, and 3.0 % and 0.7 % with ``"dct"``; over 1050 null songs in five
runs (99 or 199 surrogates) ``"dct"`` rejected 4.1 % at .05, DCT signs alone 6.7 % (750
songs). ``"circular"`` stays an option (the default of :func:`lagged_correlation`,
calibrated on stationary AR noise), but it is liberal on section-structured series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from frisson._check import (
    check_int,
    check_option,
    check_positive,
    check_range_s,
    rng_from_seed,
)
from frisson._lagcorr import dct_lag_search
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "BoundaryScores",
    "Clusters",
    "FeatureCorrelations",
    "LaggedCorrelation",
    "TrajectoryPCA",
    "Transitions",
    "cluster_trajectory",
    "feature_correlations",
    "foote_novelty",
    "lagged_correlation",
    "novelty_transitions",
    "score_boundaries",
    "sliding_mean",
    "trajectory_pca",
    "variance_transitions",
]

NullMethod = Literal["circular", "dct", "phase"]
_NULL_METHODS: tuple[str, ...] = get_args(NullMethod)


# --------------------------------------------------------------------------- smoothing
def sliding_mean(
    latent: TimeSeries, *, window_frames: int = 100, hop_frames: int = 4
) -> TimeSeries:
    """Mean of the latent frames in sliding windows (the chills study's smoothing).

    Parameters
    ----------
    latent : TimeSeries, shape (n_frames, n_dims)
        An encoder layer.
    window_frames : int
        Frames per window (default 100: 1.16 s at DAC's 86.13 frames/s).
    hop_frames : int
        Frames between windows (default 4: 21.5 windows/s at 86.13 frames/s).

    Returns
    -------
    TimeSeries, shape (n_windows, n_dims)
        At ``rate_hz / hop_frames``; window ``i`` is stamped with its centre time.

    Examples
    --------
    >>> import numpy as np
    >>> frames = TimeSeries(np.arange(8.0), rate_hz=4.0)
    >>> smooth = sliding_mean(frames, window_frames=4, hop_frames=2)
    >>> smooth.values[:, 0], smooth.rate_hz, smooth.start_s
    (array([1.5, 3.5, 5.5]), 2.0, 0.375)

    """
    return latent.sliding_samples(window_frames, hop_frames, "mean")


# --------------------------------------------------------------------------------- PCA
@dataclass(frozen=True)
class TrajectoryPCA:
    """One song's latent projected on its own principal components.

    Attributes
    ----------
    pcs : TimeSeries, shape (n_times, n_components)
        Scores, channels ``PC1``, ``PC2``, ...
    explained_variance_ratio : ndarray, shape (n_components,)
        Fraction of the latent's total variance each component explains.
    components : ndarray, shape (n_components, n_dims)
        Unit-norm loadings; each sign is fixed so the largest-magnitude loading is positive.
    mean : ndarray, shape (n_dims,)
        The latent's mean over time (subtracted before projection).

    """

    pcs: TimeSeries
    explained_variance_ratio: np.ndarray
    components: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)


def trajectory_pca(latent: TimeSeries, *, n_components: int = 10) -> TrajectoryPCA:
    """Within-song PCA of a latent series.

    Parameters
    ----------
    latent : TimeSeries, shape (n_times, n_dims)
        Usually the output of :func:`sliding_mean`.
    n_components : int
        Components kept (capped at ``min(n_times, n_dims)``).

    Returns
    -------
    TrajectoryPCA

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 1, 200)
    >>> latent = TimeSeries(np.outer(t, [3.0, 4.0]) + 0.01 * rng.standard_normal((200, 2)), 10.0)
    >>> result = trajectory_pca(latent, n_components=2)
    >>> np.round(result.explained_variance_ratio, 3), np.round(result.components[0], 2)
    (array([1., 0.]), array([0.6, 0.8]))

    """
    from sklearn.decomposition import PCA

    values = _finite_values(latent, "latent")
    n_components = min(check_int("n_components", n_components, minimum=1), *values.shape)
    if values.shape[0] < 3:
        raise DataError(f"PCA needs at least 3 time points, got {values.shape[0]}.")
    pca = PCA(n_components=n_components, svd_solver="full").fit(values)
    components = pca.components_.copy()
    # Deterministic signs: the largest-magnitude loading of each component is positive.
    signs = np.sign(components[np.arange(n_components), np.argmax(np.abs(components), axis=1)])
    components *= signs[:, np.newaxis]
    scores = (values - pca.mean_) @ components.T
    pcs = TimeSeries(
        scores,
        latent.rate_hz,
        start_s=latent.start_s,
        names=[f"PC{i + 1}" for i in range(n_components)],
    )
    logger.info(
        "PCA: %d components explain %.1f %% of the variance (PC1 %.1f %%)",
        n_components,
        100 * pca.explained_variance_ratio_.sum(),
        100 * pca.explained_variance_ratio_[0],
    )
    return TrajectoryPCA(pcs, pca.explained_variance_ratio_.copy(), components, pca.mean_.copy())


# ---------------------------------------------------------------------------- clusters
@dataclass(frozen=True)
class Clusters:
    """Clusters of time points in PC space.

    Attributes
    ----------
    labels : TimeSeries, shape (n_times, 1)
        Cluster index (0 .. n_clusters - 1) of each time point, channel ``cluster``.
        Clusters are numbered in order of first appearance.
    n_clusters : int
        The k with the highest silhouette.
    silhouette_by_k : dict of int to float
        Mean silhouette coefficient for every k tried.
    centers : ndarray, shape (n_clusters, n_pcs)
        Cluster centres in PC units.

    """

    labels: TimeSeries
    n_clusters: int
    silhouette_by_k: dict[int, float]
    centers: np.ndarray = field(repr=False)


def cluster_trajectory(
    pcs: TimeSeries,
    *,
    n_pcs: int = 2,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    silhouette_samples: int = 3000,
) -> Clusters:
    """K-means clusters of the trajectory in its first PCs, k chosen by silhouette.

    Parameters
    ----------
    pcs : TimeSeries
        PC scores (:attr:`TrajectoryPCA.pcs`).
    n_pcs : int
        Number of leading PCs clustered (default 2: the PC1-PC2 plane).
    k_range : (int, int)
        Smallest and largest k tried, inclusive.
    seed : int
        Seed of k-means initialisation and of the silhouette subsample.
    silhouette_samples : int
        Longer trajectories are scored on a random subsample of this many points.

    Returns
    -------
    Clusters

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> centres = np.repeat([[0, 0], [5, 5], [0, 5]], 50, axis=0)
    >>> blobs = centres + 0.3 * rng.standard_normal((150, 2))
    >>> result = cluster_trajectory(TimeSeries(blobs, 10.0), k_range=(2, 5))
    >>> result.n_clusters, result.labels.values[[0, 60, 120], 0]
    (3, array([0, 1, 2]))

    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    n_pcs = min(check_int("n_pcs", n_pcs, minimum=1), pcs.n_channels)
    k_min, k_max = (check_int("k_range", k, minimum=2) for k in k_range)
    points = _finite_values(pcs, "pcs")[:, :n_pcs]
    k_max = min(k_max, points.shape[0] - 1)
    if k_min > k_max:
        raise ParameterError(
            f"k_range={k_range} leaves no k to try for {points.shape[0]} time points."
        )
    rng = rng_from_seed(seed)
    sample = min(silhouette_samples, points.shape[0])
    scores: dict[int, float] = {}
    fits = {}
    for k in range(k_min, k_max + 1):
        # A few thousand points in 2-D: one thread is fastest, and OpenMP workers
        # spinning on a busy machine made this 25x slower.
        with threadpool_limits(1):
            fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(points)
        if len(np.unique(fit.labels_)) < 2:
            continue
        scores[k] = float(
            silhouette_score(
                points, fit.labels_, sample_size=sample, random_state=rng.integers(2**31)
            )
        )
        fits[k] = fit
    if not scores:
        raise DataError("All points fall in one cluster; the trajectory does not move in PC space.")
    best = max(scores, key=scores.get)
    labels, centers = _relabel_by_appearance(fits[best].labels_, fits[best].cluster_centers_)
    series = TimeSeries(labels, pcs.rate_hz, start_s=pcs.start_s, names=["cluster"])
    return Clusters(series, best, scores, centers)


def _relabel_by_appearance(
    labels: np.ndarray, centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    _, first = np.unique(labels, return_index=True)
    order = np.unique(labels)[np.argsort(first)]
    mapping = np.empty(order.max() + 1, dtype=int)
    mapping[order] = np.arange(order.size)
    return mapping[labels], centers[order]


# ------------------------------------------------------------------------- transitions
@dataclass(frozen=True)
class Transitions:
    """Detected transitions of a latent trajectory.

    Attributes
    ----------
    times_s : ndarray, shape (n_transitions,)
        Transition times in seconds.
    strength : ndarray, shape (n_transitions,)
        Detection-curve value at each transition divided by the curve's maximum (0-1].
    method : str
        ``"pc1_variance"`` or ``"foote_novelty"``.
    curve : TimeSeries
        The detection function whose peaks are the transitions.
    params : dict
        The settings used, for reports.

    """

    times_s: np.ndarray
    strength: np.ndarray
    method: str
    curve: TimeSeries = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def to_frame(self):
        """A table with columns ``time_s``, ``strength``, ``method``."""
        import pandas as pd

        return pd.DataFrame(
            {"time_s": self.times_s, "strength": self.strength, "method": self.method}
        )


def variance_transitions(
    pcs: TimeSeries,
    *,
    component: str = "PC1",
    window_s: float = 4.0,
    min_distance_s: float = 5.0,
    prominence: float = 0.1,
    edge_s: float = 5.0,
) -> Transitions:
    """Transitions as peaks of the sliding variance of one PC (the chills study's method).

    A change of section shifts the trajectory; a window centred on the change
    holds both levels, so the variance of PC1 within it peaks there.

    Parameters
    ----------
    pcs : TimeSeries
        PC scores (:attr:`TrajectoryPCA.pcs`), e.g. at 21.5 Hz.
    component : str
        Channel whose variance is tracked (default ``"PC1"``).
    window_s : float
        Length of the centred sliding window (default 4 s: long enough to
        span a change, short enough to separate changes 5 s apart).
    min_distance_s : float
        Minimum time between two transitions (default 5 s); of two closer
        peaks the higher is kept.
    prominence : float
        Minimum peak prominence as a fraction of the variance curve's range
        (default 0.1); suppresses ripples within sections.
    edge_s : float
        Ignore the first and last ``edge_s`` seconds of the series (default
        5 s): fade-ins and fade-outs are the largest changes of many songs and
        would otherwise set the prominence scale and hide the transitions inside.

    Returns
    -------
    Transitions
        ``curve`` is the sliding variance (one value per PC sample with a full window).

    Examples
    --------
    >>> import numpy as np
    >>> levels = np.repeat([0.0, 3.0, 1.0, 4.0], 200)  # sections change at 20, 40, 60 s
    >>> rng = np.random.default_rng(0)
    >>> pcs = TimeSeries(levels + 0.1 * rng.standard_normal(800), 10.0, names=["PC1"])
    >>> np.round(variance_transitions(pcs).times_s)
    array([20., 40., 60.])

    """
    check_positive("window_s", window_s)
    series = pcs.select([component])
    window = max(2, round(window_s * series.rate_hz))
    # Odd length so the window centre falls on a sample.
    window += 1 - window % 2
    curve = series.sliding_samples(window, 1, "var").replace(names=[f"{component}_variance"])
    times, strength = _pick_peaks(
        curve,
        min_distance_s=min_distance_s,
        prominence=prominence,
        edge_s=edge_s,
        bounds_s=(pcs.start_s, pcs.end_s),
    )
    params = {
        "component": component,
        "window_s": window / series.rate_hz,
        "min_distance_s": min_distance_s,
        "prominence": prominence,
        "edge_s": edge_s,
    }
    logger.info("PC1-variance transitions: %d found (%s)", times.size, params)
    return Transitions(times, strength, "pc1_variance", curve, params)


def foote_novelty(latent: TimeSeries, *, kernel_s: float = 8.0) -> TimeSeries:
    """Foote's checkerboard novelty on the cosine self-similarity matrix.

    The novelty at time ``t`` correlates a Gaussian-tapered checkerboard
    kernel of ``kernel_s`` seconds with the self-similarity matrix centred on
    ``(t, t)``: high when the past half-window is self-similar, the future
    half-window is self-similar, and the two differ (Foote 2000). Only the
    diagonal band the kernel touches is computed, so memory is
    ``O(n_times * kernel samples)``.

    Parameters
    ----------
    latent : TimeSeries, shape (n_times, n_dims)
        A smoothed latent series or its PCs. Each dimension is centred over time.
    kernel_s : float
        Kernel width in seconds (default 8 s: 4 s either side). The Gaussian
        taper has a standard deviation of half the half-width.

    Returns
    -------
    TimeSeries, shape (n_times, 1)
        Novelty on the latent's own grid, channel ``novelty``; zero where the
        kernel does not fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal(8), rng.standard_normal(8)
    >>> frames = np.r_[np.tile(a, (100, 1)), np.tile(b, (100, 1))]
    >>> frames += 0.1 * rng.standard_normal(frames.shape)
    >>> novelty = foote_novelty(TimeSeries(frames, 10.0), kernel_s=4.0)
    >>> float(novelty.times_s[np.argmax(novelty.values)])
    10.0

    """
    values = _finite_values(latent, "latent")
    values = values - values.mean(axis=0)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    unit = values / np.where(norms > 0, norms, 1.0)
    half = round(check_positive("kernel_s", kernel_s) * latent.rate_hz / 2)
    n = unit.shape[0]
    if half < 1 or 2 * half >= n:
        raise DataError(
            f"kernel_s={kernel_s} gives {half} samples per half-kernel at {latent.rate_hz:g} Hz "
            f"for a series of {n} samples; choose 2 / rate_hz < kernel_s < duration."
        )
    offsets = np.arange(-half, half)  # kernel rows/columns relative to t (t-half .. t+half-1)
    taper = np.exp(-0.5 * ((offsets + 0.5) / (0.5 * half)) ** 2)
    sign = np.where(offsets < 0, -1.0, 1.0)
    kernel = np.outer(sign * taper, sign * taper)  # + within past/past and future/future
    width = 2 * half
    band = np.zeros((n, width))  # band[t, k] = similarity(t, t + k)
    for k in range(width):
        band[: n - k, k] = np.einsum("ij,ij->i", unit[: n - k], unit[k:])
    novelty = np.zeros(n)
    centres = np.arange(half, n - half + 1)
    for i, di in enumerate(offsets):
        weights = kernel[i, i:].copy()
        weights[1:] *= 2.0  # entries above the diagonal stand for their mirror images too
        novelty[centres] += band[centres + di, : width - i] @ weights
    return TimeSeries(
        np.maximum(novelty, 0.0), latent.rate_hz, start_s=latent.start_s, names=["novelty"]
    )


def novelty_transitions(
    latent: TimeSeries,
    *,
    kernel_s: float = 8.0,
    min_distance_s: float = 5.0,
    prominence: float = 0.3,
    edge_s: float = 5.0,
) -> Transitions:
    """Transitions as peaks of Foote's checkerboard novelty (a second method).

    Parameters
    ----------
    latent : TimeSeries
        A smoothed latent series or its PCs.
    kernel_s : float
        Checkerboard kernel width in seconds (see :func:`foote_novelty`).
    min_distance_s : float
        Minimum time between two transitions (default 5 s).
    prominence : float
        Minimum peak prominence as a fraction of the novelty curve's range
        (default 0.3: novelty ripples more within sections than PC1 variance,
        as melodic changes also register).
    edge_s : float
        Ignore the first and last ``edge_s`` seconds (default 5 s), as in
        :func:`variance_transitions`.

    Returns
    -------
    Transitions
        ``curve`` is the novelty function.

    """
    curve = foote_novelty(latent, kernel_s=kernel_s)
    times, strength = _pick_peaks(
        curve,
        min_distance_s=min_distance_s,
        prominence=prominence,
        edge_s=edge_s,
        bounds_s=(latent.start_s, latent.end_s),
    )
    params = {
        "kernel_s": kernel_s,
        "min_distance_s": min_distance_s,
        "prominence": prominence,
        "edge_s": edge_s,
    }
    logger.info("Foote-novelty transitions: %d found (%s)", times.size, params)
    return Transitions(times, strength, "foote_novelty", curve, params)


def _pick_peaks(
    curve: TimeSeries,
    *,
    min_distance_s: float,
    prominence: float,
    edge_s: float,
    bounds_s: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a detection curve inside ``bounds_s`` shrunk by ``edge_s`` at both ends.

    The prominence threshold and the strength scale come from the curve inside
    that interior only, so fades at a song's start and end neither count as
    transitions nor mask the ones inside.
    """
    from scipy.signal import find_peaks

    check_positive("min_distance_s", min_distance_s)
    check_positive("edge_s", edge_s, allow_zero=True)
    check_positive("prominence", prominence, allow_zero=True)
    if prominence >= 1:
        raise ParameterError(
            f"prominence is a fraction of the curve's range and must be < 1, got {prominence}."
        )
    times = curve.times_s
    interior = (times >= bounds_s[0] + edge_s) & (times <= bounds_s[1] - edge_s)
    if not interior.any():
        raise DataError(
            f"edge_s={edge_s} leaves no time to search between {bounds_s[0]:.1f} and "
            f"{bounds_s[1]:.1f} s; use a smaller edge_s or a longer song."
        )
    values = curve.values[:, 0]
    inside = values[interior]
    span = float(inside.max() - inside.min())
    if span <= 0:
        return np.array([]), np.array([])
    distance = max(1, round(min_distance_s * curve.rate_hz))
    peaks, _ = find_peaks(
        np.where(interior, values, inside.min()), distance=distance, prominence=prominence * span
    )
    peaks = peaks[interior[peaks]]
    return times[peaks].copy(), values[peaks] / inside.max()


# ------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class BoundaryScores:
    """Boundary detection scores (``mir_eval.segment.detection``, first/last boundary trimmed).

    Attributes
    ----------
    window_s : float
        Hit tolerance: an estimate within ``window_s`` of a reference boundary is a hit.
    precision, recall, f_measure : float
        Hit-rate precision, recall and F1.

    """

    window_s: float
    precision: float
    recall: float
    f_measure: float


def score_boundaries(
    estimated_s: Sequence[float],
    reference_s: Sequence[float],
    *,
    duration_s: float,
    windows_s: Sequence[float] = (0.5, 3.0),
) -> list[BoundaryScores]:
    """Hit-rate precision, recall and F of detected boundaries against known ones.

    The song's start and end are added to both lists to form segments for
    ``mir_eval.segment.detection`` and trimmed again (``trim=True``), so only
    boundaries inside the song count.

    Parameters
    ----------
    estimated_s, reference_s : sequence of float
        Boundary times in seconds (inside ``(0, duration_s)``).
    duration_s : float
        Length of the song.
    windows_s : sequence of float
        Hit tolerances (default 0.5 s and 3 s, the MIREX conventions).

    Returns
    -------
    list of BoundaryScores
        One per tolerance.

    Examples
    --------
    >>> [s.f_measure for s in score_boundaries([10.2, 31.0], [10.0, 20.0, 30.0], duration_s=40)]
    [0.4, 0.8]

    """
    import mir_eval

    duration_s = check_positive("duration_s", duration_s)
    estimated = _interior(estimated_s, duration_s)
    reference = _interior(reference_s, duration_s)
    if reference.size == 0:
        raise DataError("No reference boundary lies inside the song; nothing to score.")
    scores = []
    for window in windows_s:
        if estimated.size == 0:
            scores.append(BoundaryScores(float(window), 0.0, 0.0, 0.0))
            continue
        precision, recall, f_measure = mir_eval.segment.detection(
            _to_intervals(reference, duration_s),
            _to_intervals(estimated, duration_s),
            window=float(window),
            trim=True,
        )
        scores.append(BoundaryScores(float(window), precision, recall, f_measure))
    return scores


def _interior(times: Sequence[float], duration_s: float) -> np.ndarray:
    times = np.unique(np.asarray(times, dtype=float))
    return times[(times > 0) & (times < duration_s)]


def _to_intervals(boundaries: np.ndarray, duration_s: float) -> np.ndarray:
    edges = np.r_[0.0, boundaries, duration_s]
    return np.column_stack([edges[:-1], edges[1:]])


# ------------------------------------------------------------- lagged correlation tests
@dataclass(frozen=True)
class LaggedCorrelation:
    """A lagged correlation between two series, tested against autocorrelation-keeping surrogates.

    Attributes
    ----------
    lags_s : ndarray, shape (n_lags,)
        Lags tried. ``r`` at lag ``L`` is ``corr(x(t), y(t - L))``: positive lags
        mean ``y`` leads ``x``.
    r_by_lag : ndarray, shape (n_lags,)
        Pearson r at every lag.
    lag_s : float
        Lag of the largest ``|r|``.
    r : float
        Pearson r at that lag.
    p : float
        Two-sided p-value of ``max |r|`` over the lag range, against the same
        maximum for surrogates of ``y``; the lag search is thereby accounted
        for. ``(1 + #(null >= observed)) / (1 + n_surrogates)``.
    null_max_abs_r : ndarray, shape (n_surrogates,)
        The surrogate distribution of ``max |r|``.

    """

    lags_s: np.ndarray
    r_by_lag: np.ndarray
    lag_s: float
    r: float
    p: float
    null_max_abs_r: np.ndarray = field(repr=False)


def lagged_correlation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    rate_hz: float,
    lag_range_s: tuple[float, float] = (0.0, 0.0),
    null: NullMethod = "circular",
    n_surrogates: int = 1000,
    min_shift_s: float | None = None,
    seed: int = 0,
) -> LaggedCorrelation:
    """Pearson correlation of two autocorrelated series over a lag range, with a valid p-value.

    Neighbouring samples of smooth series are not independent, so the
    textbook Pearson p-value (which assumes ``n`` independent pairs) is far
    too small: for two independent AR(1) series with phi = 0.9 it rejects at
    alpha = 0.05 about half the time. Here the null distribution comes from
    surrogates of ``y`` that keep its autocorrelation but break its timing
    relative to ``x`` (see :data:`NullMethod` and the module notes):

    - ``"dct"``: ``y``'s DCT-II coefficients each multiplied by a standard
      normal draw (a Gaussian series with the same expected DCT spectrum);
      calibrated on section-structured series as well as on AR noise;
    - ``"circular"``: ``y`` circularly shifted by at least ``min_shift_s``
      (every admissible shift when there are at most ``n_surrogates``);
      liberal on series whose start and end differ (sections, drifts);
    - ``"phase"``: ``y`` with its Fourier phases randomised (same power
      spectrum); likewise liberal on such series.

    Parameters
    ----------
    x, y : ndarray, shape (n_times,)
        Two series on the same grid, finite.
    rate_hz : float
        Their sampling rate.
    lag_range_s : (float, float)
        Smallest and largest lag in seconds, inclusive (default: lag 0 only).
    null : {'circular', 'dct', 'phase'}
        Surrogate method (default ``"circular"``, kept for existing callers;
        prefer ``"dct"`` for series with sections or drifts).
    n_surrogates : int
        Number of surrogates (default 1000).
    min_shift_s : float, optional
        Smallest circular shift; default: the largest absolute lag plus a tenth
        of the series, so no surrogate re-creates the observed alignment.
        Only used by ``null="circular"``.
    seed : int
        Seed of the surrogate draws.

    Returns
    -------
    LaggedCorrelation

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.convolve(rng.standard_normal(600), np.ones(10) / 10, mode="same")
    >>> x = np.roll(y, 5) + 0.05 * rng.standard_normal(600)  # x follows y by 5 samples
    >>> result = lagged_correlation(x, y, rate_hz=10.0, lag_range_s=(-1.0, 1.0), null="dct")
    >>> result.lag_s, result.r > 0.9, result.p < 0.01
    (0.5, True, True)

    """
    x, y = (np.asarray(a, dtype=float) for a in (x, y))
    if x.ndim != 1 or x.shape != y.shape:
        raise DataError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("x and y must be finite; crop or interpolate NaN stretches first.")
    rate_hz = check_positive("rate_hz", rate_hz)
    lags = _lags_samples(lag_range_s, rate_hz, x.size)
    surrogates = make_surrogates(
        y,
        null=null,
        n_surrogates=n_surrogates,
        min_shift=_min_shift(min_shift_s, lags, rate_hz, x.size),
        seed=seed,
    )
    return _lagged_tests(x[np.newaxis], y, surrogates, lags, rate_hz)[0]


#: Surrogates correlated at once: bounds memory on long songs (an hour at 21.5 Hz
#: is 77 000 samples; all 1000 surrogates at once took ~4 GB in the lag search).
_SURROGATE_BATCH = 64


def _lagged_tests(
    xs: np.ndarray,
    y: np.ndarray,
    surrogates: np.ndarray | tuple[Callable[[np.ndarray], np.ndarray], np.ndarray],
    lags: np.ndarray,
    rate_hz: float,
    null_max: np.ndarray | None = None,
) -> list[LaggedCorrelation]:
    """Test every row of ``xs`` against ``y``, sharing the surrogates' FFTs.

    ``surrogates`` is an array (n_surrogates, n) or ``(make, draw)``: ``make(draw[i:j])``
    builds a batch of them, so that only a batch is held at a time. ``null_max``
    (n_x, n_surrogates), when given, is their ``max |r|`` computed elsewhere.
    """
    observed = _lagged_pearson(xs, y[np.newaxis], lags)[:, 0]  # (n_x, n_lags)
    make, draw = surrogates if isinstance(surrogates, tuple) else ((lambda d: d), surrogates)
    if null_max is None:
        null_max = np.concatenate(
            [
                np.abs(_lagged_pearson(xs, make(draw[i : i + _SURROGATE_BATCH]), lags)).max(axis=2)
                for i in range(0, draw.shape[0], _SURROGATE_BATCH)
            ],
            axis=1,
        )  # (n_x, n_surrogates)
    results = []
    for r_by_lag, null in zip(observed, null_max, strict=True):
        best = int(np.argmax(np.abs(r_by_lag)))
        p = (1 + np.count_nonzero(null >= abs(r_by_lag[best]) - 1e-12)) / (1 + null.size)
        results.append(
            LaggedCorrelation(
                lags / rate_hz,
                r_by_lag,
                float(lags[best] / rate_hz),
                float(r_by_lag[best]),
                float(p),
                null,
            )
        )
    return results


def make_surrogates(
    y: np.ndarray,
    *,
    null: NullMethod,
    n_surrogates: int,
    min_shift: int,
    seed: int,
) -> np.ndarray:
    """Surrogates of ``y`` that keep its autocorrelation, shape ``(n_surrogates, n_times)``.

    ``"dct"`` multiplies each orthonormal DCT-II coefficient of ``y`` (but the
    mean term) by its own standard normal draw: a Gaussian series with ``y``'s
    mean whose expected DCT power spectrum is ``y``'s.
    ``"circular"`` returns circular shifts by ``min_shift`` to ``n - min_shift``
    samples (all of them, in order, when there are at most ``n_surrogates``;
    else a random subset without replacement). ``"phase"`` keeps the amplitude
    spectrum and draws uniform random phases (the DC and Nyquist terms keep theirs).
    ``min_shift`` is used by ``"circular"`` only.

    Examples
    --------
    >>> y = np.cumsum(np.random.default_rng(0).standard_normal(500))
    >>> s = make_surrogates(y, null="dct", n_surrogates=3, min_shift=0, seed=0)
    >>> s.shape, np.allclose(s.mean(axis=1), y.mean())
    ((3, 500), True)

    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise DataError(f"y must be 1-D, got shape {y.shape}.")
    draw = _draw_surrogates(null, y.size, n_surrogates, min_shift, rng_from_seed(seed))
    return _apply_surrogates(null, y, draw)


def _draw_surrogates(
    null: str, n: int, n_surrogates: int, min_shift: int, rng: np.random.Generator
) -> np.ndarray:
    """The random part of the surrogates of an ``n``-sample series (shared by every series).

    Shifts (``"circular"``), phases (``"phase"``) or Gaussian multipliers (``"dct"``);
    applying one draw to several series keeps their cross-correlations.
    """
    check_option("null", null, _NULL_METHODS)
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    if null == "circular":
        shifts = np.arange(min_shift, n - min_shift + 1)
        if shifts.size == 0:
            raise DataError(
                f"A series of {n} samples leaves no circular shift of at least {min_shift} "
                "samples; use a longer series, a smaller lag range or null='dct'."
            )
        if shifts.size > n_surrogates:
            shifts = np.sort(rng.choice(shifts, size=n_surrogates, replace=False))
        return shifts
    if null == "phase":
        phases = rng.uniform(0, 2 * np.pi, size=(n_surrogates, n // 2 + 1))
        phases[:, 0] = 0.0
        if n % 2 == 0:
            phases[:, -1] = 0.0
        return phases
    # float32 halves what a long song holds (an hour: 1000 x 77 000 multipliers)
    multipliers = rng.standard_normal((n_surrogates, n), dtype=np.float32)
    multipliers[:, 0] = 1.0
    return multipliers


def _apply_surrogates(null: str, y: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Surrogates of ``y`` from one draw of :func:`_draw_surrogates`: ``(n_surrogates, n)``."""
    n = y.size
    if null == "circular":
        index = (np.arange(n)[np.newaxis, :] - draw[:, np.newaxis]) % n
        return y[index]
    if null == "phase":
        spectrum = np.fft.rfft(y - y.mean())
        return np.fft.irfft(spectrum * np.exp(1j * draw), n=n, axis=1) + y.mean()
    from scipy import fft

    return fft.idct(fft.dct(y, norm="ortho") * draw, norm="ortho", axis=1)


def _lags_samples(lag_range_s: tuple[float, float], rate_hz: float, n: int) -> np.ndarray:
    low, high = check_range_s("lag_range_s", lag_range_s)
    lags = np.arange(int(np.ceil(low * rate_hz - 1e-9)), int(np.floor(high * rate_hz + 1e-9)) + 1)
    if lags.size == 0:
        raise ParameterError(f"lag_range_s={lag_range_s} contains no lag at {rate_hz:g} Hz.")
    if np.abs(lags).max() > n // 2:
        raise ParameterError(
            f"lag_range_s={lag_range_s} reaches beyond half the series ({n / rate_hz / 2:.1f} s); "
            "narrow the lag range."
        )
    return lags


def _min_shift(min_shift_s: float | None, lags: np.ndarray, rate_hz: float, n: int) -> int:
    if min_shift_s is None:
        return int(np.abs(lags).max() + max(1, n // 10))
    return max(1, round(check_positive("min_shift_s", min_shift_s) * rate_hz))


def _lagged_pearson(xs: np.ndarray, ys: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Pearson r of ``xs[i](t)`` with ``ys[k](t - lag)`` over each lag's overlap, via FFT.

    Returns shape ``(n_x, n_y, n_lags)``. Sums over the overlaps come from
    cumulative sums; the cross products from FFTs zero-padded to at least
    ``n + max |lag|`` (enough for those lags not to wrap), those of ``ys``
    computed once for all ``xs``.
    """
    from scipy import fft

    n = xs.shape[1]
    n_fft = fft.next_fast_len(n + int(np.abs(lags).max()), real=True)
    xs = xs - xs.mean(axis=1, keepdims=True)  # r is shift invariant; centring helps the sums
    ys = ys - ys.mean(axis=1, keepdims=True)
    ys_spectrum = np.conj(fft.rfft(ys, n_fft, axis=1))
    x_lo, x_hi = np.maximum(0, lags), np.minimum(n, n + lags)  # t in [x_lo, x_hi)
    y_lo, y_hi = x_lo - lags, x_hi - lags  # t - lag
    m = (x_hi - x_lo).astype(float)
    cy = np.pad(np.cumsum(ys, axis=1), ((0, 0), (1, 0)))
    cyy = np.pad(np.cumsum(ys**2, axis=1), ((0, 0), (1, 0)))
    sy, syy = cy[:, y_hi] - cy[:, y_lo], cyy[:, y_hi] - cyy[:, y_lo]
    var_y = syy - sy**2 / m
    out = np.empty((xs.shape[0], ys.shape[0], lags.size))
    for i, x in enumerate(xs):
        cross = fft.irfft(fft.rfft(x, n_fft)[np.newaxis] * ys_spectrum, n_fft, axis=1)
        sxy = cross[:, lags % n_fft]  # sum_t x[t] y[t - lag]
        cx, cxx = np.r_[0.0, np.cumsum(x)], np.r_[0.0, np.cumsum(x**2)]
        sx, sxx = cx[x_hi] - cx[x_lo], cxx[x_hi] - cxx[x_lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = (sxy - sx * sy / m) / np.sqrt((sxx - sx**2 / m) * var_y)
    return np.clip(np.nan_to_num(out), -1.0, 1.0)


@dataclass(frozen=True)
class FeatureCorrelations:
    """Lagged correlations of every PC with every acoustic feature, family-wise corrected.

    Attributes
    ----------
    results : dict of (str, str) to LaggedCorrelation
        Keyed by ``(pc, feature)``; each one's ``p`` is the per-test
        (uncorrected) p-value.
    p_corrected : dict of (str, str) to float
        Max-statistic (family-wise) corrected p of each pair over every PC x
        feature x lag of the song: ``(1 + #(T_max_null >= T)) / (1 + n_surrogates)``
        (see :func:`feature_correlations`).
    params : dict
        Lag range, null method, number of surrogates, seed, correction.
    null_max_t : ndarray, shape (n_surrogates,)
        The surrogate distribution of the largest standardised statistic over
        all pairs.

    """

    results: dict[tuple[str, str], LaggedCorrelation]
    p_corrected: dict[tuple[str, str], float]
    params: dict[str, Any]
    null_max_t: np.ndarray = field(repr=False)

    def to_frame(self):
        """A table with columns ``pc``, ``feature``, ``lag_s``, ``r``, ``p``, ``p_uncorrected``.

        ``p`` is family-wise corrected over the song's pairs and lags;
        ``p_uncorrected`` is each pair's own surrogate p (lag search included).
        """
        import pandas as pd

        columns = ["pc", "feature", "lag_s", "r", "p", "p_uncorrected"]
        rows = [
            {
                "pc": pc,
                "feature": feature,
                "lag_s": res.lag_s,
                "r": res.r,
                "p": self.p_corrected[(pc, feature)],
                "p_uncorrected": res.p,
            }
            for (pc, feature), res in self.results.items()
        ]
        return pd.DataFrame(rows, columns=columns)


def feature_correlations(
    pcs: TimeSeries,
    features: TimeSeries,
    *,
    n_pcs: int = 3,
    lag_range_s: tuple[float, float] = (-2.0, 2.0),
    null: NullMethod = "dct",
    n_surrogates: int = 1000,
    seed: int = 0,
) -> FeatureCorrelations:
    """Correlate each leading PC with each acoustic feature over a lag range, corrected.

    The features are first put on the PCs' grid (:meth:`TimeSeries.align_to`,
    averaging over each PC sample's interval); both are cropped to the span
    where all values are finite. Every pair's statistic is ``max |r|`` over
    the lags (as in :func:`lagged_correlation`), against the same maximum for
    surrogates of the features; one surrogate draw (the same DCT multipliers,
    phases or shift) is applied to every feature, so the surrogate features
    keep their cross-correlations, and the PCs stay as they are.

    Correction: each pair's statistic is standardised as
    ``T = (atanh(max|r|) - mean) / sd``, with the mean and SD of its own
    surrogates; the corrected p of a pair is the fraction of surrogates whose
    largest ``T`` over all pairs reaches the pair's ``T`` (max-statistic
    family-wise correction over every PC x feature x lag of the song;
    ``(1 + count) / (1 + n_surrogates)``). It is never below the pair's
    uncorrected p.

    Parameters
    ----------
    pcs : TimeSeries
        PC scores.
    features : TimeSeries
        Acoustic features (any rate covering the song).
    n_pcs : int
        Leading PCs tested (default 3).
    lag_range_s : (float, float)
        Lags tried; positive = the feature leads the PC (default -2 to 2 s).
    null : {'dct', 'circular', 'phase'}
        Surrogate method (default ``"dct"``, calibrated on section-structured
        series; ``"circular"`` and ``"phase"`` are liberal there, see the
        module notes).
    n_surrogates : int
        Surrogates (shared by every pair).
    seed : int
        Seed of the surrogate draw.

    Returns
    -------
    FeatureCorrelations

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> drive = np.convolve(rng.standard_normal(1200), np.ones(20) / 20, mode="same")
    >>> noise = rng.standard_normal((1200, 2))
    >>> pcs = TimeSeries(np.column_stack([drive, noise[:, 0]]), 20.0, names=["PC1", "PC2"])
    >>> loud = np.roll(drive, 10) + 0.1 * rng.standard_normal(1200)  # follows PC1 by 0.5 s
    >>> names = ["loud", "noise"]
    >>> features = TimeSeries(np.column_stack([loud, noise[:, 1]]), 20.0, names=names)
    >>> table = feature_correlations(pcs, features, n_pcs=2, n_surrogates=199).to_frame()
    >>> best = table.iloc[0]
    >>> best.pc, best.feature, float(best.lag_s), float(best.p)
    ('PC1', 'loud', -0.5, 0.005)
    >>> bool((table.p >= table.p_uncorrected).all())
    True

    """
    aligned = features.align_to(pcs)
    both = np.column_stack([pcs.values, aligned.values])
    finite = np.flatnonzero(np.isfinite(both).all(axis=1))
    if finite.size < 10:
        raise DataError("The PCs and features overlap in fewer than 10 finite samples.")
    span = slice(finite[0], finite[-1] + 1)
    if not np.isfinite(both[span]).all():
        raise DataError("Features contain NaN inside the song; interpolate or crop them first.")
    pc_names = pcs.names[: min(check_int("n_pcs", n_pcs, minimum=1), pcs.n_channels)]
    xs = np.stack([pcs.channel(pc)[span] for pc in pc_names])
    n = xs.shape[1]
    lags = _lags_samples(lag_range_s, pcs.rate_hz, n)
    draw = _draw_surrogates(
        null, n, n_surrogates, _min_shift(None, lags, pcs.rate_hz, n), rng_from_seed(seed)
    )
    search = dct_lag_search(xs, lags) if null == "dct" else None  # same r, one matrix product
    results = {}
    for f_index, feature in enumerate(features.names):
        y = aligned.values[span, f_index]

        def make(batch: np.ndarray, y: np.ndarray = y) -> np.ndarray:
            return _apply_surrogates(null, y, batch)

        null_max = None if search is None else search.null_max_abs_r(y, draw)
        tests = _lagged_tests(xs, y, (make, draw), lags, pcs.rate_hz, null_max)
        results.update({(pc, feature): test for pc, test in zip(pc_names, tests, strict=True)})
    keys = list(results)
    null_max = np.stack([results[key].null_max_abs_r for key in keys])  # (n_tests, n_surrogates)
    observed = np.array([abs(results[key].r) for key in keys])
    p_corrected, null_max_t = _max_statistic_p(observed, null_max)
    params = {
        "lag_range_s": tuple(lag_range_s),
        "null": null,
        "n_surrogates": int(null_max.shape[1]),
        "seed": seed,
        "correction": "max-statistic over pc x feature x lag (standardised atanh max|r|)",
    }
    logger.info(
        "PC-feature correlations: %d pairs, null %r, %d surrogates; %d with corrected p < 0.05",
        len(keys),
        null,
        null_max.shape[1],
        int(np.count_nonzero(p_corrected < 0.05)),
    )
    corrected = {key: float(p) for key, p in zip(keys, p_corrected, strict=True)}
    return FeatureCorrelations(results, corrected, params, null_max_t)


def _max_statistic_p(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Family-wise p of ``observed`` (n_tests,) against ``null`` (n_tests, n_surrogates).

    Each test is standardised by its own surrogates (Fisher z, then mean and
    SD), so tests with wide nulls (smooth series) do not dominate the maximum.
    Returns the corrected p-values and the null distribution of the maximum.
    """
    z_null = np.arctanh(np.clip(null, 0.0, 1 - 1e-12))
    z_obs = np.arctanh(np.clip(observed, 0.0, 1 - 1e-12))
    mean = z_null.mean(axis=1)
    sd = z_null.std(axis=1)
    sd = np.where(sd > 0, sd, 1.0)
    t_null = ((z_null - mean[:, np.newaxis]) / sd[:, np.newaxis]).max(axis=0)
    t_obs = (z_obs - mean) / sd
    count = np.count_nonzero(t_null[np.newaxis, :] >= t_obs[:, np.newaxis] - 1e-12, axis=1)
    return (1 + count) / (1 + t_null.size), t_null


def _finite_values(series: TimeSeries, what: str) -> np.ndarray:
    values = np.asarray(series.values, dtype=float)
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise DataError(
            f"{what} has {bad.size} time points with NaN or inf (first at "
            f"{series.times_s[bad[0]]:.2f} s); crop or interpolate them first."
        )
    return values
