"""Layer profiles: nested leave-one-run-out ridge per layer, best layer, null and FDR.

For every layer, :func:`fit_layer_profiles` builds the layer's design in every
outer fold (:mod:`~frisson.models.encoding._design`, PCA on the fold's training
runs), chooses each unit's penalty by inner leave-one-run-out
(:mod:`~frisson.models.encoding._cv`) and predicts the held-out run. Held-out
predictions of the outer folds are concatenated and scored (``r`` with each
fold's prediction z-scored in its run; see :class:`LayerProfiles`).

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
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from frisson._check import check_int
from frisson._logging import logger, progress_enabled
from frisson.errors import ParameterError
from frisson.models.encoding._cv import (
    OuterFold,
    _check_responses,
    _pearson,
    _r2,
    _run_slices,
    outer_folds,
)
from frisson.models.encoding._design import (
    _check_n_components,
    _common_rate,
    _delays_samples,
    _expand,
    _fit_projection,
    _on_grid,
    _zscore,
    canonical_hrf,
)
from frisson.models.encoding._solvers import (
    DEFAULT_ALPHAS,
    Device,
    Solver,
    _check_alphas,
    _Solver,
)
from frisson.timeseries import TimeSeries

__all__ = ["LayerProfiles", "fit_layer_profiles"]


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
    solver_params: Mapping[str, Any] | None = None,
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
        'auto' is :func:`~frisson.models.encoding.auto_delays_s`.
    alphas : sequence of float
        Ridge penalties tried per unit (default :data:`DEFAULT_ALPHAS`, ``logspace(-2, 8, 21)``).
    n_components : float, int or None
        PCA per layer: variance fraction (default 0.99), a count, or None.
    rectify : bool
        Rectify features before resampling.
    n_permutations : int
        Phase-randomised refits for the null (0: no p-values).
    seed : int
        Seed of the random phases.
    solver : {'auto', 'eigh', 'primal', 'kernel'}
        The ridge solver (a name in the registries of
        :mod:`frisson.models.encoding._solvers`; 'auto' picks by shape and device).
    solver_params : dict, optional
        Settings of the solver's functions (e.g. ``{"n_targets_batch": 1024}``);
        keys the solver does not take, or that are parameters here (``alphas``),
        are refused.
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
    rate = _common_rate(responses)
    n_permutations = check_int("n_permutations", n_permutations, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    slices = _run_slices([y.shape[0] for y in y_runs])
    y_all = np.concatenate(y_runs)
    folds = outer_folds(slices)  # checked once: inner folds never touch the outer test run
    problem = _Problem(
        y_runs=y_runs,
        slices=slices,
        y_all=y_all,
        folds=folds,
        y_train=[y_all[fold.train_idx] for fold in folds],
        alphas=_check_alphas(alphas),
        n_components=_check_n_components(n_components),
        delays=_delays_samples(delays_s, rate),
        hrf=canonical_hrf(rate),
    )
    n_layers, n_units, n_runs = len(features), y_all.shape[1], len(y_runs)
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

    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    show = progress_enabled(progress_bar)
    redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
    with _Solver(solver, device, solver_params) as solve, redirect:
        for li, (layer, series) in enumerate(
            tqdm(features.items(), total=n_layers, desc="layers", unit="layer", disable=not show)
        ):
            if isinstance(series, TimeSeries):
                raise ParameterError(
                    f"features[{layer!r}] is one TimeSeries; pass one series per run (a list)."
                )
            blocks = _on_grid(series, responses, rectify, f"features[{layer!r}]")
            fit = _fit_layer(solve, blocks, problem)
            r[li], r2[li], fold_r[li], chosen[li], n_pcs[li] = fit[:5]
            for k in range(n_permutations):
                null_r = _null_r(solve, fit.scores, chosen[li], phases[k], problem)
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
    best_layer, p, p_best = _p_values(r, exceed, null_max, n_permutations)
    delays = problem.delays
    return LayerProfiles(
        layers=tuple(str(name) for name in features),
        units=tuple(responses[0].names),
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
        delays_s="hrf" if delays is None else tuple(float(d) / rate for d in delays),
        n_permutations=n_permutations,
    )


@dataclass(frozen=True)
class _Problem:
    """What every layer shares: responses, folds and the design settings."""

    y_runs: list[np.ndarray]  # responses z-scored per run, one (n_times, n_units) per run
    slices: list[np.ndarray]  # global sample indices of each run
    y_all: np.ndarray  # the runs concatenated
    folds: list[OuterFold]
    y_train: list[np.ndarray]  # y_all of each outer fold's training runs
    alphas: np.ndarray
    n_components: float | int | None
    delays: np.ndarray | None  # samples; None for the HRF
    hrf: np.ndarray


class _LayerFit(NamedTuple):
    r: np.ndarray  # (n_units,)
    r2: np.ndarray  # (n_units,)
    fold_r: np.ndarray  # (n_runs, n_units)
    alphas: np.ndarray  # (n_runs, n_units), chosen per outer fold
    n_pcs: np.ndarray  # (n_runs,)
    scores: list[list[np.ndarray]]  # per outer fold: z-scored PCA scores of every run


def _fit_layer(solve: _Solver, blocks: list[np.ndarray], problem: _Problem) -> _LayerFit:
    """One layer's outer folds: PCA on the training runs, inner-CV alpha, held-out scores."""
    y_all, slices = problem.y_all, problem.slices
    n_runs, n_units = len(problem.y_runs), y_all.shape[1]
    fold_r = np.full((n_runs, n_units), np.nan)
    chosen = np.full((n_runs, n_units), np.nan)
    n_pcs = np.zeros(n_runs, dtype=int)
    prediction = np.zeros_like(y_all)
    standardised = np.zeros_like(y_all)  # each fold's prediction z-scored in its run
    fold_scores = []
    for fold, y_train in zip(problem.folds, problem.y_train, strict=True):
        test_run = fold.test_run
        projection = _fit_projection([blocks[i] for i in fold.train_runs], problem.n_components)
        n_pcs[test_run] = projection.n_out
        scores = [_zscore(projection(b)) for b in blocks]
        fold_scores.append(scores)
        design = [_expand(s, problem.delays, problem.hrf) for s in scores]
        x_train = np.concatenate([design[i] for i in fold.train_runs])
        best, pred = solve.cv(x_train, y_train, design[test_run], problem.alphas, fold.inner)
        chosen[test_run] = problem.alphas[best]
        prediction[slices[test_run]] = pred
        standardised[slices[test_run]] = _zscore(pred)
        fold_r[test_run] = _pearson(problem.y_runs[test_run], pred)
    r, r2 = _pearson(y_all, standardised), _r2(y_all, prediction)
    return _LayerFit(r, r2, fold_r, chosen, n_pcs, fold_scores)


def _null_r(
    solve: _Solver,
    fold_scores: list[list[np.ndarray]],
    chosen: np.ndarray,
    phases: list[np.ndarray],
    problem: _Problem,
) -> np.ndarray:
    """Pearson r of one permutation: phase-randomised scores refit with the real alphas."""
    null_prediction = np.zeros_like(problem.y_all)
    for fold, y_train, scores in zip(problem.folds, problem.y_train, fold_scores, strict=True):
        shuffled = [
            _expand(_phase_randomise(s, phases[run]), problem.delays, problem.hrf)
            for run, s in enumerate(scores)
        ]
        x_train = np.concatenate([shuffled[i] for i in fold.train_runs])
        null_prediction[problem.slices[fold.test_run]] = _zscore(
            solve.predict(x_train, y_train, shuffled[fold.test_run], chosen[fold.test_run])
        )
    return np.nan_to_num(_pearson(problem.y_all, null_prediction), nan=-np.inf)


def _p_values(
    r: np.ndarray, exceed: np.ndarray, null_max: np.ndarray, n_permutations: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best layer per unit, p per layer, and p of the best layer (max-over-layers null)."""
    n_layers, n_units = r.shape
    finite = np.isfinite(r)
    best_layer = np.where(finite.any(axis=0), np.argmax(np.where(finite, r, -np.inf), axis=0), -1)
    if not n_permutations:
        return best_layer, np.full((n_layers, n_units), np.nan), np.full(n_units, np.nan)
    p = (1.0 + exceed) / (1.0 + n_permutations)
    p[~finite] = np.nan
    best_r = np.where(best_layer >= 0, r[np.maximum(best_layer, 0), np.arange(n_units)], np.inf)
    p_best = (1.0 + (null_max >= best_r).sum(axis=0)) / (1.0 + n_permutations)
    p_best[best_layer < 0] = np.nan
    return best_layer, p, p_best
