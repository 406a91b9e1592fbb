"""Layer-wise encoding models: which layer of a network best predicts each response unit.

A response unit is a voxel, an ROI, a rating or a physiology channel, one
:class:`~frisson.timeseries.TimeSeries` channel per unit and one series per run
(a run is one continuous recording; with one stimulus per run, a run is a
stimulus). For every layer, a linear model (ridge on delayed features) is fitted
and scored on held-out runs; the layer profile of a unit is its held-out Pearson
r across layers, and its best layer is the argmax.

Public API
----------
``delay_features(run, delays_samples) -> ndarray``
    FIR design of one run: delayed copies, zero-filled at the run start.
``canonical_hrf(rate_hz) -> ndarray``
    SPM's canonical double-gamma haemodynamic response sampled at ``rate_hz``.
``auto_delays_s(rate_hz) -> ndarray``
    The delays ``delays_s="auto"`` resolves to.
``layer_design(features, grids, *, rectify=False, n_components=0.99, delays_s="auto",
fit_runs=None) -> list[ndarray]``
    One layer's design matrix per run.
``fit_layer_profiles(features, responses, *, delays_s="auto", alphas=np.logspace(-1, 7, 17),
n_components=0.99, rectify=False, n_permutations=100, seed=0, solver="auto", device="auto",
progress_bar=None) -> LayerProfiles``
    Nested leave-one-run-out ridge per layer, phase-randomisation null, FDR.
``LayerProfiles``
    ``layers, units, r, r2, fold_r, alphas, p, q, best_layer, p_best, q_best, n_pcs,
    delays_s``; ``to_frame()``, ``best_layer_names()``.
``noise_ceiling(responses_by_subject, method="split-half" | "isc", *, n_splits=100, seed=0)
-> ndarray``
    The highest Pearson r a perfect model could reach, per unit.
``variance_partition(acoustic, latent, responses, *, delays_s="auto", alphas=...,
n_components=None, n_band_weights=11) -> pandas.DataFrame``
    Held-out R^2 of an acoustic band, a latent band and both (banded ridge);
    unique and shared parts per unit.

The pipeline of one layer
-------------------------
1. **Resample.** Each run's features go onto that run's response grid with
   :meth:`TimeSeries.align_to` (area average when the grid is slower). With
   ``rectify=True`` the features are rectified (``max(x, 0)``, as a ReLU) at
   their own rate first, so averaging sees the rectified activations. Grid
   samples the features do not cover are set to the run's feature mean (0 after
   z-scoring) and logged; a run whose grid does not overlap the features at
   all is an error.
2. **PCA** on the training runs only: columns standardised, then the principal
   components that keep ``n_components`` of the variance (a float in (0, 1)), or
   a fixed count (an int), or none (``None``). :func:`fit_layer_profiles` refits
   it in every outer fold on that fold's training runs; :func:`layer_design`
   fits it on ``fit_runs`` (default: every run given, for description only).
3. **z-score per run** (each component: mean 0, standard deviation 1 within
   the run).
4. **Delays per run** (:func:`delay_features`): the design at sample ``t`` holds
   the components at ``t - d`` for every delay ``d``; rows before a run's start
   are zero, never taken from the previous run (the concatenate-then-shift
   ``Delayer`` of himalaya's tutorial leaks the end of one run into the start of
   the next). ``delays_s="auto"`` picks every grid sample from 3 to 9 s on slow
   grids (<= 2 Hz, i.e. fMRI: 3, 4, ..., 9 s at TR 1 s) and every whole second
   from 0 to 10 s on faster grids (ratings, physiology). ``delays_s="hrf"``
   instead convolves each component with :func:`canonical_hrf`, per run
   (causal, zero initial state), one column per component.

Responses are z-scored per run and unit; models have no intercept.

Nested cross-validation
-----------------------
Outer: leave one run out. Inner: in each outer fold, each unit's ridge
penalty is chosen from ``alphas`` by leave-one-run-out among that fold's
training runs (mean squared error summed over the held-out run, averaged over
inner folds; never GCV or leave-one-sample-out, which autocorrelation makes
optimistic). :func:`inner_splits` builds the inner folds as indices into the
concatenated runs and :func:`check_inner_splits` refuses any that touch the test
run. Held-out predictions of the outer folds are concatenated and scored
(``r`` with each fold's prediction z-scored in its run; see :class:`LayerProfiles`).

Null, p and FDR
---------------
Each permutation phase-randomises the resampled features of every run (one set
of random phases per run and permutation, the same for every feature column,
so their cross-correlation and each column's power spectrum stay; the same
phases for every layer, so layers stay as correlated as the real ones), then
refits with the same outer folds and the lambdas chosen on the real data, and
scores as the real fit. Phase randomisation is a linear operation on time and
PCA a linear map of the columns, so randomising the PCA scores (what the code
does) equals randomising the features and projecting them with the real fit's
PCA. ``p = (1 + #(null r >= real r)) / (1 + n_permutations)``; ``q`` is the
Benjamini-Hochberg adjustment (:func:`scipy.stats.false_discovery_control`)
over units, per layer. The best layer is chosen by a max over layers, so its p
(``p_best``) comes from the null distribution of the max over layers of each
permutation's r (paired layers); ``q_best`` is BH over units of ``p_best``.

Solvers
-------
``solver="eigh"``: in numpy, one eigendecomposition per (inner or outer)
training set of ``X'X`` (primal, ``n_features <= n_samples``) or ``XX'`` (kernel),
shared by the whole alpha grid and every target (the scikit-learn approach).
``"primal"``: himalaya's ``RidgeCV`` / ``Ridge``. ``"kernel"``:
himalaya's ``KernelRidgeCV`` / ``KernelRidge`` with a linear kernel. ``"auto"``
picks by shape and device: on a GPU himalaya (backend ``torch_cuda``), primal
when ``n_features < n_samples`` else kernel; on the CPU ``eigh``, which
``benchmarks/encoding.py`` measured 15-60 times faster than himalaya's CPU
solvers for 10 and for 2000 targets (numbers in :func:`_auto_solver`).
On a machine busy with other work, limit BLAS threads to the free cores
(``threadpoolctl.threadpool_limits``): oversubscribed OpenBLAS threads made
a 200 x 200 ``eigh`` 14 times slower here (0.21 s on 2 threads, 0.015 s on 1).

Examples
--------
>>> import numpy as np
>>> from frisson.timeseries import TimeSeries
>>> rng = np.random.default_rng(0)
>>> feats = {name: [] for name in ("low", "high")}
>>> responses = []
>>> for run in range(3):
...     low, high = rng.standard_normal((2, 120, 3))
...     feats["low"].append(TimeSeries(low, rate_hz=1.0))
...     feats["high"].append(TimeSeries(high, rate_hz=1.0))
...     y = np.r_[np.zeros(4), high[:-4, 0]] + 0.5 * rng.standard_normal(120)
...     responses.append(TimeSeries(y, rate_hz=1.0, names=["roi"]))
>>> profiles = fit_layer_profiles(feats, responses, n_permutations=19, progress_bar=False)
>>> profiles.best_layer_names()
['high']
>>> bool(profiles.r[1, 0] > 0.7), bool(profiles.p[1, 0] < 0.06)
(True, True)

"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option, rng_from_seed
from frisson._logging import logger, progress_enabled
from frisson.errors import DataError, FrissonError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "LayerProfiles",
    "auto_delays_s",
    "canonical_hrf",
    "check_inner_splits",
    "delay_features",
    "fit_layer_profiles",
    "inner_splits",
    "layer_design",
    "noise_ceiling",
    "variance_partition",
]

Solver = Literal["auto", "eigh", "primal", "kernel"]
Device = Literal["auto", "cpu", "cuda"]
SOLVERS = ("auto", "eigh", "primal", "kernel")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 7, 17))
SLOW_GRID_MAX_HZ = 2.0  # grids at or below this rate get fMRI delays (3-9 s)
MIN_RUNS = 3  # nested leave-one-run-out needs >= 2 training runs in every outer fold


# ----------------------------------------------------------------------------- delays
def delay_features(run: np.ndarray, delays_samples: Sequence[int]) -> np.ndarray:
    """Delayed copies of one run's features, zero-filled at the run start.

    Parameters
    ----------
    run : ndarray, shape (n_times, n_features)
        Features of ONE run (never a concatenation of runs).
    delays_samples : sequence of int
        Delays in samples, each >= 0 and < ``n_times``.

    Returns
    -------
    ndarray, shape (n_times, n_delays * n_features)
        Delay-major: columns ``j * n_features ... (j + 1) * n_features - 1``
        hold ``run[t - delays_samples[j]]``, and 0 for ``t < delays_samples[j]``.

    Examples
    --------
    >>> delay_features(np.array([[1.0], [2.0], [3.0]]), [0, 2])
    array([[1., 0.],
           [2., 0.],
           [3., 1.]])

    """
    run = np.asarray(run)
    if run.ndim == 1:
        run = run[:, np.newaxis]
    if run.ndim != 2:
        raise DataError(f"run must be 2-D (time x features), got shape {run.shape}.")
    delays = [check_int("delays_samples", d, minimum=0) for d in delays_samples]
    if not delays:
        raise ParameterError("delays_samples is empty; pass at least one delay (e.g. [0]).")
    n_times, n_features = run.shape
    if max(delays) >= n_times:
        raise DataError(
            f"A delay of {max(delays)} samples is not shorter than the run ({n_times} samples); "
            "use smaller delays or longer runs."
        )
    out = np.zeros((n_times, len(delays) * n_features), dtype=np.result_type(run, np.float32))
    for j, d in enumerate(delays):
        out[d:, j * n_features : (j + 1) * n_features] = run[: n_times - d]
    return out


def auto_delays_s(rate_hz: float) -> np.ndarray:
    """The delays (s) that ``delays_s="auto"`` picks for a response grid of ``rate_hz``.

    Slow grids (``rate_hz <= 2``, fMRI): every grid sample from 3 to 9 s (the
    haemodynamic lag). Faster grids (ratings, physiology): every whole second from
    0 to 10 s.

    Examples
    --------
    >>> auto_delays_s(1.0)
    array([3., 4., 5., 6., 7., 8., 9.])
    >>> auto_delays_s(0.5)  # TR 2 s
    array([4., 6., 8.])
    >>> auto_delays_s(5.0)[:3]
    array([0., 1., 2.])

    """
    if rate_hz <= SLOW_GRID_MAX_HZ:
        samples = np.arange(np.ceil(3.0 * rate_hz - 1e-9), np.floor(9.0 * rate_hz + 1e-9) + 1)
        return samples / rate_hz
    return np.arange(11.0)


def canonical_hrf(rate_hz: float, *, length_s: float = 32.0) -> np.ndarray:
    """SPM's canonical double-gamma haemodynamic response, sampled at ``rate_hz``.

    ``h(t) = g(t; 6) - g(t; 16) / 6`` with ``g(t; k)`` the gamma density of
    shape ``k`` and scale 1 s (peak near 5 s, undershoot near 15 s), at
    ``t = 0, 1/rate_hz, ...`` below ``length_s``, scaled to sum to 1.

    Examples
    --------
    >>> h = canonical_hrf(1.0)
    >>> int(np.argmax(h)), round(float(h.sum()), 6)
    (5, 1.0)

    """
    from scipy.stats import gamma

    t = np.arange(0.0, length_s, 1.0 / rate_hz)
    h = gamma.pdf(t, 6.0) - gamma.pdf(t, 16.0) / 6.0
    return h / h.sum()


def _delays_samples(delays_s: Sequence[float] | str, rate_hz: float) -> np.ndarray | None:
    """Delays in samples for the grid rate; None for ``"hrf"``."""
    if isinstance(delays_s, str):
        check_option("delays_s", delays_s, ["auto", "hrf"])
        if delays_s == "hrf":
            return None
        delays_s = auto_delays_s(rate_hz)
    values = np.asarray(delays_s, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ParameterError(
            f"delays_s={delays_s!r} must be 'auto', 'hrf' or a non-empty list of delays >= 0 s "
            "(a negative delay would use music after the response)."
        )
    samples = np.rint(values * rate_hz).astype(int)
    if np.unique(samples).size != samples.size:
        raise ParameterError(
            f"delays_s={list(values)} s round to repeated samples {list(samples)} at "
            f"{rate_hz:g} Hz; give delays at least one sample ({1 / rate_hz:g} s) apart."
        )
    return samples


def _expand(scores: np.ndarray, delays: np.ndarray | None, hrf: np.ndarray) -> np.ndarray:
    """One run's z-scored components -> delayed (or HRF-convolved) design."""
    if delays is None:
        from scipy.signal import lfilter

        return lfilter(hrf, [1.0], scores, axis=0)
    return delay_features(scores, delays)


# ------------------------------------------------------------------- layer design steps
def _on_grid(
    features: Sequence[TimeSeries], grids: Sequence[TimeSeries], rectify: bool, what: str
) -> list[np.ndarray]:
    """Each run's features on its response grid (float64), NaN rows filled with the run mean."""
    if len(features) != len(grids):
        raise ParameterError(
            f"{what} has {len(features)} runs but the responses have {len(grids)}; pass one "
            "feature series per run."
        )
    blocks = []
    for run, (series, grid) in enumerate(zip(features, grids, strict=True)):
        if not isinstance(series, TimeSeries):
            raise ParameterError(f"{what}[{run}] must be a TimeSeries, got {type(series)}.")
        if rectify:
            series = series.replace(np.maximum(series.values, 0))
        values = series.align_to(grid).values
        missing = np.isnan(values).any(axis=1)
        if missing.all():
            raise DataError(
                f"{what}[{run}] covers {series.start_s:.2f}-{series.end_s:.2f} s but the response "
                f"grid of run {run} covers {grid.start_s:.2f}-{grid.end_s:.2f} s: no overlap. "
                "Put features and responses on the same clock (start_s)."
            )
        if missing.any():
            logger.warning(
                "%s run %d: %d of %d response samples lie outside the features "
                "(%.2f-%.2f s); they get the run's mean feature",
                what,
                run,
                int(missing.sum()),
                missing.size,
                series.start_s,
                series.end_s,
            )
            mean = np.nanmean(values[~missing], axis=0)
            values = np.where(missing[:, np.newaxis], mean, values)
        blocks.append(values)
    return blocks


@dataclass(frozen=True)
class _Projection:
    """Standardisation and PCA fitted on training runs."""

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray | None  # (n_components, n_features) or None (no PCA)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        z = (block - self.mean) / self.scale
        return z if self.components is None else z @ self.components.T

    @property
    def n_out(self) -> int:
        return self.mean.size if self.components is None else self.components.shape[0]


def _check_n_components(n_components: float | int | None) -> float | int | None:
    if n_components is None:
        return None
    if isinstance(n_components, bool):
        raise ParameterError(f"n_components must be a float, an int or None, got {n_components}.")
    if isinstance(n_components, (int, np.integer)):
        return check_int("n_components", n_components, minimum=1)
    if isinstance(n_components, float) and 0 < n_components < 1:
        return n_components
    raise ParameterError(
        f"n_components={n_components!r}: pass a fraction of variance in (0, 1) (e.g. 0.99), "
        "a number of components >= 1, or None for no PCA."
    )


def _fit_projection(blocks: Sequence[np.ndarray], n_components: float | int | None) -> _Projection:
    """Standardise columns and fit PCA on the given (training) runs."""
    stacked = np.concatenate(blocks)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    if n_components is None:
        return _Projection(mean, scale, None)
    z = (stacked - mean) / scale
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    if isinstance(n_components, float):
        explained = np.cumsum(s**2) / max(float(np.sum(s**2)), np.finfo(float).tiny)
        k = int(np.searchsorted(explained, n_components - 1e-12) + 1)
    else:
        k = n_components
    k = min(k, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.argmax(np.abs(axes), axis=1)])  # deterministic signs
    return _Projection(mean, scale, axes * signs[:, np.newaxis])


def _zscore(block: np.ndarray) -> np.ndarray:
    """Each column to mean 0 and standard deviation 1 within the block (constant -> 0)."""
    centred = block - block.mean(axis=0)
    sd = centred.std(axis=0)
    return centred / np.where(sd > 0, sd, 1.0)


def layer_design(
    features: Sequence[TimeSeries],
    grids: Sequence[TimeSeries],
    *,
    rectify: bool = False,
    n_components: float | int | None = 0.99,
    delays_s: Sequence[float] | str = "auto",
    fit_runs: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """One layer's design matrix per run: on the response grid, PCA, z-scored, delayed.

    Parameters
    ----------
    features : sequence of TimeSeries
        One layer's features, one series per run, on the stimulus clock.
    grids : sequence of TimeSeries
        The response series of each run (only their time grid is used).
    rectify : bool
        Rectify (``max(x, 0)``) the features at their own rate before resampling.
    n_components : float, int or None
        Variance fraction kept by the PCA (default 0.99), a fixed count, or None.
    delays_s : sequence of float, 'auto' or 'hrf'
        See the module docstring; rounded to grid samples.
    fit_runs : sequence of int, optional
        Runs the standardisation and PCA are fitted on (default: all). Inside
        cross-validation pass the training runs only, as
        :func:`fit_layer_profiles` does.

    Returns
    -------
    list of ndarray, one per run, shape (n_times of the grid, n_delays * n_pcs)
        Delay-major columns (``n_pcs`` columns for ``delays_s="hrf"``).

    Examples
    --------
    >>> grid = [TimeSeries(np.zeros(50), rate_hz=1.0) for _ in range(2)]
    >>> feats = [TimeSeries(np.random.default_rng(i).standard_normal((100, 4)), rate_hz=2.0)
    ...          for i in range(2)]
    >>> design = layer_design(feats, grid, n_components=2, delays_s=[3, 4])
    >>> [d.shape for d in design]
    [(50, 4), (50, 4)]
    >>> bool(np.all(design[1][:3, :2] == 0))  # delay 3 s: first 3 rows are zero
    True

    """
    n_components = _check_n_components(n_components)
    blocks = _on_grid(features, grids, rectify, "features")
    runs = range(len(blocks)) if fit_runs is None else [int(i) for i in fit_runs]
    projection = _fit_projection([blocks[i] for i in runs], n_components)
    delays = _delays_samples(delays_s, _common_rate(grids))
    hrf = canonical_hrf(_common_rate(grids))
    return [_expand(_zscore(projection(b)), delays, hrf) for b in blocks]


def _common_rate(grids: Sequence[TimeSeries]) -> float:
    rates = sorted({g.rate_hz for g in grids})
    if len(rates) != 1:
        raise DataError(
            f"The response runs have different rates {rates} Hz; resample them to one grid rate."
        )
    return rates[0]


# ------------------------------------------------------------------------ CV bookkeeping
def _run_slices(lengths: Sequence[int]) -> list[np.ndarray]:
    """Global sample indices of each run in the concatenation."""
    edges = np.r_[0, np.cumsum(lengths)]
    return [np.arange(edges[i], edges[i + 1]) for i in range(len(lengths))]


def inner_splits(
    run_indices: Sequence[np.ndarray], test_run: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner leave-one-run-out folds for the outer fold that holds out ``test_run``.

    Parameters
    ----------
    run_indices : sequence of ndarray of int
        Global sample indices of each run in the concatenation of all runs.
    test_run : int
        The outer fold's test run.

    Returns
    -------
    list of (train, validation) index arrays
        Global sample indices; one fold per training run, which is the validation
        run; the test run is in neither.

    Examples
    --------
    >>> runs = [np.arange(0, 2), np.arange(2, 4), np.arange(4, 6)]
    >>> [(t.tolist(), v.tolist()) for t, v in inner_splits(runs, test_run=0)]
    [([4, 5], [2, 3]), ([2, 3], [4, 5])]

    """
    training = [i for i in range(len(run_indices)) if i != test_run]
    splits = []
    for held in training:
        train = np.concatenate([run_indices[i] for i in training if i != held])
        splits.append((train, np.asarray(run_indices[held])))
    return splits


def check_inner_splits(
    splits: Sequence[tuple[np.ndarray, np.ndarray]], test_indices: np.ndarray
) -> None:
    """Refuse inner folds that would let the choice of lambda see the test run.

    Raises
    ------
    FrissonError
        If any inner training or validation index is a test index, or an inner
        fold's training and validation sets overlap.

    Examples
    --------
    >>> check_inner_splits([(np.array([0, 1]), np.array([2]))], np.array([3]))
    >>> check_inner_splits([(np.array([0, 3]), np.array([2]))], np.array([3]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    frisson.errors.FrissonError: Nested CV leak: inner fold 0 uses 1 sample(s) of ...

    """
    test = np.asarray(test_indices)
    for k, (train, validation) in enumerate(splits):
        leaked = np.intersect1d(np.r_[train, validation], test)
        if leaked.size:
            raise FrissonError(
                f"Nested CV leak: inner fold {k} uses {leaked.size} sample(s) of the outer test "
                f"run (e.g. index {leaked[0]}); lambda must be chosen on training runs only."
            )
        if np.intersect1d(train, validation).size:
            raise FrissonError(f"Inner fold {k}: training and validation samples overlap.")


# ----------------------------------------------------------------------------- solvers
@contextlib.contextmanager
def _himalaya_backend(name: str) -> Iterator[Any]:
    """Set himalaya's global backend inside the block and restore the previous one."""
    from himalaya.backend import get_backend, set_backend

    previous = get_backend()
    backend = set_backend(name, on_error="raise")
    try:
        yield backend
    finally:
        set_backend(previous)


def _resolve_device(device: str) -> str:
    check_option("device", device, DEVICES)
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError("device='cuda' but torch sees no CUDA GPU; use device='cpu'.")
    return device


def _auto_solver(n_samples: int, n_features: int, n_targets: int, device: str) -> str:
    """The solver for one problem shape.

    On a GPU: himalaya (torch_cuda), primal when ``n_features < n_samples``, else
    kernel (not measured here: no GPU was available). On the CPU: the numpy
    ``eigh`` solver for every shape and target count. Measured by
    ``benchmarks/encoding.py`` (one outer fold, 7 inner leave-one-run-out folds,
    17 alphas, 1 BLAS thread, a shared and busy 2-core machine, CPU seconds):
    primal-shaped 1050 x 350, 10 targets: eigh 0.21, himalaya RidgeCV 13.2,
    KernelRidgeCV 26.6; 2000 targets: eigh 1.5, RidgeCV 31.3, KernelRidgeCV 47.8;
    kernel-shaped 1050 x 2100, 10 targets: eigh 2.3 (himalaya: see
    benchmarks/results/encoding.json). himalaya builds one (features x samples)
    solution matrix per alpha; eigh shares one eigendecomposition and applies
    ``1 / (eigenvalue + alpha)`` per alpha to the projected targets.
    """
    del n_targets  # measured: eigh wins for few and for many targets
    if device == "cuda":
        return "primal" if n_features < n_samples else "kernel"
    return "eigh"


def _eigh_parts(x: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """Diagonalise the smaller Gram matrix of ``x`` once for every alpha.

    Returns ``(eigenvalues, b, to_a)`` such that the ridge prediction for
    ``x_test`` with penalty ``alpha`` is ``(b / (eigenvalues + alpha)) @ to_a(y)``:
    primal (``n >= p``): ``x'x = V L V'``, ``b = x_test V``, ``to_a(y) = V' x' y``;
    kernel (``n < p``): ``x x' = U L U'``, ``b = x_test x' U``, ``to_a(y) = U' y``.
    """
    if x.shape[0] >= x.shape[1]:
        eigenvalues, vectors = np.linalg.eigh(x.T @ x)
        b = x_test @ vectors

        def to_a(y: np.ndarray) -> np.ndarray:
            return vectors.T @ (x.T @ y)

    else:
        eigenvalues, vectors = np.linalg.eigh(x @ x.T)
        b = (x_test @ x.T) @ vectors

        def to_a(y: np.ndarray) -> np.ndarray:
            return vectors.T @ y

    return np.maximum(eigenvalues, 0.0), b, to_a


def _eigh_cv(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    batch: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose one alpha per target by the inner splits, refit on all of x, predict x_test.

    Score: minus the validation sum of squared errors, averaged over splits
    (as himalaya's ``l2_neg_loss``). Returns ``(best alpha index per target,
    predictions)``.
    """
    scores = np.zeros((alphas.size, y.shape[1]))
    for train, validation in splits:
        eigenvalues, b, to_a = _eigh_parts(x[train], x[validation])
        for start in range(0, y.shape[1], batch):
            cols = slice(start, start + batch)
            a = to_a(y[train, cols])
            y_val = y[validation, cols]
            for i, alpha in enumerate(alphas):
                prediction = (b / (eigenvalues + alpha)) @ a
                scores[i, cols] -= ((y_val - prediction) ** 2).sum(axis=0)
    best = np.argmax(scores / len(splits), axis=0)
    return best, _eigh_predict(x, y, x_test, alphas[best])


def _eigh_predict(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, alpha_per_target: np.ndarray
) -> np.ndarray:
    """Ridge fitted on (x, y) with one alpha per target, predictions for x_test."""
    eigenvalues, b, to_a = _eigh_parts(x, x_test)
    a = to_a(y)
    out = np.empty((x_test.shape[0], y.shape[1]))
    for alpha in np.unique(alpha_per_target):
        cols = np.flatnonzero(alpha_per_target == alpha)
        out[:, cols] = (b / (eigenvalues + alpha)) @ a[:, cols]
    return out


def _himalaya_cv(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    backend: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_eigh_cv` with himalaya's RidgeCV (primal) or KernelRidgeCV (kernel)."""
    if kind == "primal":
        from himalaya.ridge import RidgeCV

        model = RidgeCV(alphas=alphas, cv=list(splits), solver_params={"warn": False})
    else:
        from himalaya.kernel_ridge import KernelRidgeCV

        model = KernelRidgeCV(alphas=alphas, kernel="linear", cv=list(splits), warn=False)
    model.fit(x, y)
    chosen = np.asarray(backend.to_numpy(model.best_alphas_), dtype=float)
    best = np.argmin(np.abs(np.log(chosen[:, np.newaxis]) - np.log(alphas)), axis=1)
    return best, np.asarray(backend.to_numpy(model.predict(x_test)), dtype=float)


def _himalaya_predict(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alpha_per_target: np.ndarray,
    backend: Any,
) -> np.ndarray:
    if kind == "primal":
        from himalaya.ridge import Ridge

        model = Ridge(alpha=alpha_per_target)
    else:
        from himalaya.kernel_ridge import KernelRidge

        model = KernelRidge(
            alpha=alpha_per_target, kernel="linear", solver="eigenvalues", warn=False
        )
    model.fit(x, y)
    return np.asarray(backend.to_numpy(model.predict(x_test)), dtype=float)


class _Solver:
    """One solver choice with its backend: ``cv`` (choose alpha, predict) and ``predict``."""

    def __init__(self, solver: str, device: str) -> None:
        self.solver = check_option("solver", solver, SOLVERS)
        self.device = _resolve_device(device)
        if self.solver == "eigh" and self.device == "cuda":
            raise ParameterError(
                "solver='eigh' runs in numpy on the CPU; with device='cuda' use solver='auto', "
                "'primal' or 'kernel' (himalaya on torch_cuda), or pass device='cpu'."
            )
        self.dtype = np.float32 if self.device == "cuda" else np.float64
        self._stack = contextlib.ExitStack()
        backend_name = "torch_cuda" if self.device == "cuda" else "numpy"
        self._backend_name = backend_name
        self.backend: Any = None
        self.used: set[str] = set()

    def __enter__(self) -> _Solver:
        self.backend = self._stack.enter_context(_himalaya_backend(self._backend_name))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def kind(self, x: np.ndarray, y: np.ndarray) -> str:
        if self.solver != "auto":
            return self.solver
        return _auto_solver(x.shape[0], x.shape[1], y.shape[1], self.device)

    def cv(self, x, y, x_test, alphas, splits) -> tuple[np.ndarray, np.ndarray]:
        kind = self.kind(x, y)
        self.used.add(kind)
        if kind == "eigh":
            return _eigh_cv(x, y, x_test, alphas, splits)
        x, y, x_test = (a.astype(self.dtype, copy=False) for a in (x, y, x_test))
        return _himalaya_cv(kind, x, y, x_test, alphas, splits, self.backend)

    def predict(self, x, y, x_test, alpha_per_target) -> np.ndarray:
        kind = self.kind(x, y)
        if kind == "eigh":
            return _eigh_predict(x, y, x_test, alpha_per_target)
        x, y, x_test = (a.astype(self.dtype, copy=False) for a in (x, y, x_test))
        return _himalaya_predict(
            kind, x, y, x_test, alpha_per_target.astype(self.dtype), self.backend
        )


# ------------------------------------------------------------------------------ checks
def _check_responses(responses: Sequence[TimeSeries], what: str = "responses") -> list[np.ndarray]:
    """Validate runs (count, units, NaNs) and return each run z-scored per unit (float64)."""
    if isinstance(responses, TimeSeries) or len(responses) < MIN_RUNS:
        n = 1 if isinstance(responses, TimeSeries) else len(responses)
        raise DataError(
            f"{what} has {n} run(s); nested leave-one-run-out cross-validation needs at least "
            f"{MIN_RUNS} (one to test, two to choose lambda by leave-one-run-out)."
        )
    for run, series in enumerate(responses):
        if not isinstance(series, TimeSeries):
            raise ParameterError(f"{what}[{run}] must be a TimeSeries, got {type(series)}.")
    counts = [series.n_channels for series in responses]
    if len(set(counts)) != 1:
        listing = ", ".join(f"run {i}: {c}" for i, c in enumerate(counts))
        raise DataError(
            f"{what} runs have different numbers of units ({listing}); every run must hold the "
            "same units (voxels, ROIs, channels) in the same order."
        )
    names = responses[0].names
    for run, series in enumerate(responses):
        if series.names != names:
            raise DataError(
                f"{what}[{run}] has units {series.names[:3]}... but run 0 has {names[:3]}...; "
                "select the same units in the same order in every run."
            )
    _common_rate(responses)
    out = []
    for run, series in enumerate(responses):
        values = np.asarray(series.values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            units = [names[c] for c in np.flatnonzero(bad.any(axis=0))]
            raise DataError(
                f"{what}[{run}] (run {run}) has {int(bad.sum())} NaN/inf value(s) in unit(s) "
                f"{', '.join(units[:5])}{', ...' if len(units) > 5 else ''}; interpolate them "
                "(TimeSeries.interpolate_nan) or drop those units."
            )
        if series.n_times < 3:
            raise DataError(f"{what}[{run}] has only {series.n_times} samples.")
        out.append(_zscore(values))
    return out


def _check_alphas(alphas: Sequence[float]) -> np.ndarray:
    values = np.asarray(alphas, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ParameterError(f"alphas must be a non-empty list of values > 0, got {alphas!r}.")
    return np.unique(values)


# ------------------------------------------------------------------------------ scores
def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Pearson r; NaN where either column is constant."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    numerator = np.einsum("ij,ij->j", a, b)
    return np.divide(numerator, denominator, out=np.full(a.shape[1], np.nan), where=denominator > 0)


def _r2(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    out = np.full(truth.shape[1], np.nan)
    ok = total > 0
    out[ok] = 1 - ((truth - prediction) ** 2).sum(axis=0)[ok] / total[ok]
    return out


def _phase_randomise(block: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Add the same random phases to every column's spectrum (power spectra kept)."""
    spectrum = np.fft.rfft(block, axis=0) * np.exp(1j * phases)[:, np.newaxis]
    return np.fft.irfft(spectrum, n=block.shape[0], axis=0)


def _random_phases(seed: int, permutation: int, run: int, n_times: int) -> np.ndarray:
    """Phases of one run and permutation: the same for every layer and column."""
    rng = np.random.default_rng([seed, permutation, run])
    phases = rng.uniform(0.0, 2 * np.pi, n_times // 2 + 1)
    phases[0] = 0.0  # keep the mean
    if n_times % 2 == 0:
        phases[-1] = 0.0  # the Nyquist term stays real
    return phases


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q over the last axis (NaN where p is NaN)."""
    from scipy.stats import false_discovery_control

    q = np.full(p.shape, np.nan)
    if np.all(np.isnan(p)):
        return q
    flat = p.reshape(-1, p.shape[-1])
    out = q.reshape(-1, p.shape[-1])
    for i, row in enumerate(flat):
        ok = np.isfinite(row)
        if ok.any():
            out[i, ok] = false_discovery_control(row[ok], method="bh")
    return out.reshape(p.shape)


# ------------------------------------------------------------------------ the profiles
@dataclass(frozen=True)
class LayerProfiles:
    """Held-out scores of every layer for every response unit.

    Attributes
    ----------
    layers : tuple of str
        Layer names, in the order of ``features``.
    units : tuple of str
        Unit names (the responses' channel names).
    r : ndarray, shape (n_layers, n_units)
        Pearson r between the responses and the outer folds' held-out
        predictions, concatenated over runs, both z-scored within each run (so
        ``r`` is the run-length-weighted mean of ``fold_r``). Without the
        per-run scaling, folds whose inner CV chose a small lambda (large
        predictions) would weigh more, which biases r on pure noise below the
        fixed-lambda null (measured: mean r -0.04 against -0.006).
    r2 : ndarray, shape (n_layers, n_units)
        ``1 - SSE / SST`` of the concatenated predictions as fitted (not
        rescaled), against the responses z-scored per run.
    fold_r : ndarray, shape (n_layers, n_folds, n_units)
        Pearson r within each held-out run (fold ``k`` holds out run ``k``).
    alphas : ndarray, shape (n_layers, n_folds, n_units)
        Ridge penalty chosen by the inner cross-validation.
    p, q : ndarray, shape (n_layers, n_units)
        Permutation p from phase-randomised features (NaN without
        permutations) and its Benjamini-Hochberg q over units, per layer.
    best_layer : ndarray of int, shape (n_units,)
        Index of the layer with the highest r (-1 when no r is finite).
    p_best, q_best : ndarray, shape (n_units,)
        p of the best layer against the null of the max over layers, and its
        BH q over units.
    n_pcs : ndarray of int, shape (n_layers, n_folds)
        Principal components kept per layer and outer fold.
    delays_s : tuple of float, or 'hrf'
        The delays used (seconds, after rounding to grid samples).
    n_permutations : int
        Permutations in the null.

    """

    layers: tuple[str, ...]
    units: tuple[str, ...]
    r: np.ndarray
    r2: np.ndarray
    fold_r: np.ndarray
    alphas: np.ndarray
    p: np.ndarray
    q: np.ndarray
    best_layer: np.ndarray
    p_best: np.ndarray
    q_best: np.ndarray
    n_pcs: np.ndarray
    delays_s: tuple[float, ...] | str
    n_permutations: int

    def best_layer_names(self) -> list[str]:
        """Name of each unit's best layer ('' when no r is finite)."""
        return [self.layers[i] if i >= 0 else "" for i in self.best_layer]

    def to_frame(self):
        """Long table, one row per unit x layer.

        Columns: ``unit, layer, layer_index, r, r2, p, q, best`` (``best``: this
        is the unit's best layer), ``p_best, q_best`` (the unit's best-layer
        values, repeated), ``alpha_median`` (median over folds).
        """
        import pandas as pd

        n_layers, n_units = self.r.shape
        layer_index = np.repeat(np.arange(n_layers), n_units)
        unit_index = np.tile(np.arange(n_units), n_layers)
        return pd.DataFrame(
            {
                "unit": [self.units[u] for u in unit_index],
                "layer": [self.layers[i] for i in layer_index],
                "layer_index": layer_index,
                "r": self.r.ravel(),
                "r2": self.r2.ravel(),
                "p": self.p.ravel(),
                "q": self.q.ravel(),
                "best": self.best_layer[unit_index] == layer_index,
                "p_best": self.p_best[unit_index],
                "q_best": self.q_best[unit_index],
                "alpha_median": np.median(self.alphas, axis=1).ravel(),
            }
        )


def fit_layer_profiles(
    features: Mapping[str, Sequence[TimeSeries]],
    responses: Sequence[TimeSeries],
    *,
    delays_s: Sequence[float] | str = "auto",
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_components: float | int | None = 0.99,
    rectify: bool = False,
    n_permutations: int = 100,
    seed: int = 0,
    solver: Solver = "auto",
    device: Device = "auto",
    progress_bar: bool | None = None,
) -> LayerProfiles:
    """Score every layer for every response unit with nested leave-one-run-out ridge.

    Parameters
    ----------
    features : mapping of str to sequence of TimeSeries
        Layer name -> one feature series per run (input side first), on the same
        clock as the responses.
    responses : sequence of TimeSeries
        One series per run (>= 3 runs), one channel per unit, the same units in
        every run and one grid rate; no NaN.
    delays_s : sequence of float, 'auto' or 'hrf'
        FIR delays in seconds (rounded to grid samples) or the canonical HRF;
        see the module docstring for the 'auto' rule.
    alphas : sequence of float
        Ridge penalties tried per unit (default ``logspace(-1, 7, 17)``).
    n_components : float, int or None
        PCA per layer: variance fraction (default 0.99), a count, or None.
    rectify : bool
        Rectify features before resampling.
    n_permutations : int
        Phase-randomised refits for the null (0: no p-values).
    seed : int
        Seed of the random phases.
    solver : {'auto', 'eigh', 'primal', 'kernel'}
        See the module docstring.
    device : {'auto', 'cpu', 'cuda'}
        Where himalaya runs ('auto': the GPU when torch sees one).
    progress_bar : bool, optional
        A bar over layers (default: when stderr is a terminal).

    Returns
    -------
    LayerProfiles

    Raises
    ------
    DataError
        Fewer than 3 runs, runs with different units, NaN responses (the run is
        named), features that do not overlap a run's grid.

    """
    if not isinstance(features, Mapping) or not features:
        raise ParameterError(
            "features must be a non-empty mapping of layer name -> one TimeSeries per run."
        )
    y_runs = _check_responses(responses)
    units = responses[0].names
    n_runs = len(y_runs)
    rate = _common_rate(responses)
    alpha_grid = _check_alphas(alphas)
    n_components = _check_n_components(n_components)
    n_permutations = check_int("n_permutations", n_permutations, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    delays = _delays_samples(delays_s, rate)
    hrf = canonical_hrf(rate)
    slices = _run_slices([y.shape[0] for y in y_runs])
    y_all = np.concatenate(y_runs)
    n_layers, n_units = len(features), y_all.shape[1]

    r = np.full((n_layers, n_units), np.nan)
    r2 = np.full_like(r, np.nan)
    fold_r = np.full((n_layers, n_runs, n_units), np.nan)
    chosen = np.full((n_layers, n_runs, n_units), np.nan)
    n_pcs = np.zeros((n_layers, n_runs), dtype=int)
    exceed = np.zeros((n_layers, n_units))
    null_max = np.full((n_permutations, n_units), -np.inf)
    phases = [
        [_random_phases(seed, k, run, y.shape[0]) for run, y in enumerate(y_runs)]
        for k in range(n_permutations)
    ]
    # Fold bookkeeping, checked once: inner folds never touch the outer test run.
    folds = []
    for test_run in range(n_runs):
        train_idx = np.concatenate([slices[i] for i in range(n_runs) if i != test_run])
        splits = inner_splits(slices, test_run)
        check_inner_splits(splits, slices[test_run])
        local = [(np.searchsorted(train_idx, a), np.searchsorted(train_idx, b)) for a, b in splits]
        folds.append((test_run, local, y_all[train_idx]))

    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    show = progress_enabled(progress_bar)
    redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
    with _Solver(solver, device) as solve, redirect:
        for li, (layer, series) in enumerate(
            tqdm(features.items(), total=n_layers, desc="layers", unit="layer", disable=not show)
        ):
            if isinstance(series, TimeSeries):
                raise ParameterError(
                    f"features[{layer!r}] is one TimeSeries; pass one series per run (a list)."
                )
            blocks = _on_grid(series, responses, rectify, f"features[{layer!r}]")
            prediction = np.zeros_like(y_all)
            standardised = np.zeros_like(y_all)  # each fold's prediction z-scored in its run
            fold_scores = []  # per fold: z-scored PCA scores of every run
            for test_run, local, y_train in folds:
                train_runs = [i for i in range(n_runs) if i != test_run]
                projection = _fit_projection([blocks[i] for i in train_runs], n_components)
                n_pcs[li, test_run] = projection.n_out
                scores = [_zscore(projection(b)) for b in blocks]
                fold_scores.append(scores)
                design = [_expand(s, delays, hrf) for s in scores]
                x_train = np.concatenate([design[i] for i in train_runs])
                best, pred = solve.cv(x_train, y_train, design[test_run], alpha_grid, local)
                chosen[li, test_run] = alpha_grid[best]
                prediction[slices[test_run]] = pred
                standardised[slices[test_run]] = _zscore(pred)
                fold_r[li, test_run] = _pearson(y_runs[test_run], pred)
            r[li], r2[li] = _pearson(y_all, standardised), _r2(y_all, prediction)
            for k in range(n_permutations):
                null_prediction = np.zeros_like(y_all)
                for (test_run, _, y_train), scores in zip(folds, fold_scores, strict=True):
                    shuffled = [
                        _expand(_phase_randomise(s, phases[k][run]), delays, hrf)
                        for run, s in enumerate(scores)
                    ]
                    x_train = np.concatenate([shuffled[i] for i in range(n_runs) if i != test_run])
                    null_prediction[slices[test_run]] = _zscore(
                        solve.predict(x_train, y_train, shuffled[test_run], chosen[li, test_run])
                    )
                null_r = np.nan_to_num(_pearson(y_all, null_prediction), nan=-np.inf)
                exceed[li] += null_r >= r[li]
                null_max[k] = np.maximum(null_max[k], null_r)
            logger.info(
                "layer %s: median r %.3f, %d-%d PCs, median alpha %.3g",
                layer,
                float(np.nanmedian(r[li])),
                n_pcs[li].min(),
                n_pcs[li].max(),
                float(np.median(chosen[li])),
            )
        logger.info("encoding solvers used: %s", ", ".join(sorted(solve.used)))

    finite = np.isfinite(r)
    best_layer = np.where(finite.any(axis=0), np.argmax(np.where(finite, r, -np.inf), axis=0), -1)
    if n_permutations:
        p = (1.0 + exceed) / (1.0 + n_permutations)
        p[~finite] = np.nan
        best_r = np.where(best_layer >= 0, r[np.maximum(best_layer, 0), np.arange(n_units)], np.inf)
        p_best = (1.0 + (null_max >= best_r).sum(axis=0)) / (1.0 + n_permutations)
        p_best[best_layer < 0] = np.nan
    else:
        p = np.full((n_layers, n_units), np.nan)
        p_best = np.full(n_units, np.nan)
    used_delays: tuple[float, ...] | str = (
        "hrf" if delays is None else tuple(float(d) / rate for d in delays)
    )
    return LayerProfiles(
        layers=tuple(str(name) for name in features),
        units=tuple(units),
        r=r,
        r2=r2,
        fold_r=fold_r,
        alphas=chosen,
        p=p,
        q=_bh(p),
        best_layer=best_layer,
        p_best=p_best,
        q_best=_bh(p_best),
        n_pcs=n_pcs,
        delays_s=used_delays,
        n_permutations=n_permutations,
    )


# ------------------------------------------------------------------------ noise ceiling
def noise_ceiling(
    responses_by_subject: Sequence[Sequence[TimeSeries]],
    method: Literal["split-half", "isc"] = "split-half",
    *,
    n_splits: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """The highest Pearson r a perfect model could reach, per unit.

    Every subject's runs are mean-centred per run and unit and concatenated.

    - ``"split-half"``: subjects are split at random into two halves
      (``n_splits`` times); the correlation ``r_h`` of the two half means,
      Spearman-Brown corrected ``rel = 2 r_h / (1 + r_h)``, estimates the
      reliability of the mean over all subjects, ``var_s / (var_s + var_n / N)``
      for signal variance ``var_s`` and independent noise ``var_n``. The ceiling
      returned is ``sqrt(rel)`` (the r of the subject mean with the true signal):
      the ceiling for a model of the group-mean response.
    - ``"isc"``: the mean over subjects of the correlation of each subject with
      the mean of the others (leave-one-subject-out inter-subject correlation):
      a conservative ceiling for a model of a single subject's response
      (``var_s / sqrt((var_s + var_n) (var_s + var_n / (N - 1)))``).

    Parameters
    ----------
    responses_by_subject : sequence of sequence of TimeSeries
        ``[subject][run]``; the same runs, units and lengths for every subject.
    method : {'split-half', 'isc'}
        The reliability estimate (see above).
    n_splits : int
        Random half splits averaged (split-half only).
    seed : int
        Seed of the splits.

    Returns
    -------
    ndarray, shape (n_units,)
        Negative reliabilities give a ceiling of 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.standard_normal((2000, 1))
    >>> subjects = [[TimeSeries(signal + rng.standard_normal((2000, 1)), rate_hz=1.0)]
    ...             for _ in range(8)]
    >>> float(noise_ceiling(subjects)[0] ** 2).__round__(2)  # analytic 1 / (1 + 1/8) = 0.89
    0.89

    """
    check_option("method", method, ["split-half", "isc"])
    n_subjects = len(responses_by_subject)
    if n_subjects < 2:
        raise DataError(f"noise_ceiling needs >= 2 subjects, got {n_subjects}.")
    data = []
    for s, runs in enumerate(responses_by_subject):
        if isinstance(runs, TimeSeries):
            runs = [runs]
        blocks = []
        for run, series in enumerate(runs):
            values = np.asarray(series.values, dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise DataError(f"Subject {s} run {run} has NaN/inf responses; interpolate them.")
            blocks.append(values - values.mean(axis=0))
        data.append(np.concatenate(blocks))
    shapes = {d.shape for d in data}
    if len(shapes) != 1:
        raise DataError(
            f"Subjects have different response shapes {sorted(shapes)} (samples, units); "
            "every subject needs the same runs, lengths and units."
        )
    stack = np.stack(data)  # (subjects, samples, units)
    if method == "isc":
        total = stack.sum(axis=0)
        rs = [_pearson(stack[s], (total - stack[s]) / (n_subjects - 1)) for s in range(n_subjects)]
        return np.maximum(np.mean(rs, axis=0), 0.0)
    rng = rng_from_seed(seed)
    n_splits = check_int("n_splits", n_splits, minimum=1)
    half = n_subjects // 2
    rs = []
    for _ in range(n_splits):
        order = rng.permutation(n_subjects)
        rs.append(_pearson(stack[order[:half]].mean(axis=0), stack[order[half:]].mean(axis=0)))
    r_half = np.mean(rs, axis=0)
    reliability = 2 * r_half / (1 + r_half)
    return np.sqrt(np.clip(reliability, 0.0, None))


# -------------------------------------------------------------------- variance partition
def variance_partition(
    acoustic: Sequence[TimeSeries],
    latent: Sequence[TimeSeries],
    responses: Sequence[TimeSeries],
    *,
    delays_s: Sequence[float] | str = "auto",
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_components: float | int | None = None,
    n_band_weights: int = 11,
):
    """Held-out R^2 of an acoustic band, a latent band and both; unique and shared parts.

    Each band goes through the layer pipeline (grid, optional PCA, z-score and
    delays per run). Outer leave-one-run-out folds; per unit, ridge on one band
    (lambda by inner leave-one-run-out, numpy SVD solver) and banded ridge on
    both (himalaya's ``BandedRidgeCV``: the band weights ``(g, 1 - g)`` for
    ``n_band_weights`` values of ``g`` evenly in [0, 1], including each band
    alone, times ``alphas``, chosen by the same inner folds).

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``unit, r2_acoustic, r2_latent, r2_joint,
        unique_acoustic = r2_joint - r2_latent, unique_latent = r2_joint -
        r2_acoustic, shared = r2_acoustic + r2_latent - r2_joint`` (R^2 of the
        concatenated held-out predictions).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a, l, y = [], [], []
    >>> for run in range(3):
    ...     fa, fl = rng.standard_normal((2, 150, 2))
    ...     a.append(TimeSeries(fa, rate_hz=1.0)); l.append(TimeSeries(fl, rate_hz=1.0))
    ...     y.append(TimeSeries(fa[:, 0] + 0.5 * rng.standard_normal(150), rate_hz=1.0))
    >>> table = variance_partition(a, l, y, delays_s=[0])
    >>> bool(table.unique_acoustic[0] > 0.6), bool(abs(table.unique_latent[0]) < 0.05)
    (True, True)

    """
    import pandas as pd
    from himalaya.ridge import BandedRidgeCV

    y_runs = _check_responses(responses)
    rate = _common_rate(responses)
    alpha_grid = _check_alphas(alphas)
    n_components = _check_n_components(n_components)
    n_band_weights = check_int("n_band_weights", n_band_weights, minimum=2)
    delays = _delays_samples(delays_s, rate)
    hrf = canonical_hrf(rate)
    n_runs = len(y_runs)
    slices = _run_slices([y.shape[0] for y in y_runs])
    y_all = np.concatenate(y_runs)
    bands = {
        "acoustic": _on_grid(acoustic, responses, False, "acoustic"),
        "latent": _on_grid(latent, responses, False, "latent"),
    }
    # himalaya divides by the weights: "alone" is a weight of 1e-6 (1e6 times the penalty)
    g = np.clip(np.linspace(0.0, 1.0, n_band_weights), 1e-6, 1 - 1e-6)
    gammas = np.c_[g, 1.0 - g]
    predictions = {name: np.zeros_like(y_all) for name in ("acoustic", "latent", "joint")}
    with _himalaya_backend("numpy") as backend:
        for test_run in range(n_runs):
            train_runs = [i for i in range(n_runs) if i != test_run]
            train_idx = np.concatenate([slices[i] for i in train_runs])
            splits = inner_splits(slices, test_run)
            check_inner_splits(splits, slices[test_run])
            local = [
                (np.searchsorted(train_idx, a), np.searchsorted(train_idx, b)) for a, b in splits
            ]
            designs = {}
            for name, blocks in bands.items():
                projection = _fit_projection([blocks[i] for i in train_runs], n_components)
                design = [_expand(_zscore(projection(b)), delays, hrf) for b in blocks]
                designs[name] = (np.concatenate([design[i] for i in train_runs]), design[test_run])
                x_train, x_test = designs[name]
                _, pred = _eigh_cv(x_train, y_all[train_idx], x_test, alpha_grid, local)
                predictions[name][slices[test_run]] = pred
            model = BandedRidgeCV(
                groups="input",
                solver_params={
                    "n_iter": gammas,
                    "alphas": alpha_grid,
                    "progress_bar": False,
                    "warn": False,
                },
                cv=local,
            )
            model.fit([designs["acoustic"][0], designs["latent"][0]], y_all[train_idx])
            predictions["joint"][slices[test_run]] = backend.to_numpy(
                model.predict([designs["acoustic"][1], designs["latent"][1]])
            )
    r2 = {name: _r2(y_all, pred) for name, pred in predictions.items()}
    return pd.DataFrame(
        {
            "unit": list(responses[0].names),
            "r2_acoustic": r2["acoustic"],
            "r2_latent": r2["latent"],
            "r2_joint": r2["joint"],
            "unique_acoustic": r2["joint"] - r2["latent"],
            "unique_latent": r2["joint"] - r2["acoustic"],
            "shared": r2["acoustic"] + r2["latent"] - r2["joint"],
        }
    )
