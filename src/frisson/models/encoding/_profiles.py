"""Layer profiles: nested leave-one-run-out ridge per layer, best layer, null and FDR.

For every layer, :func:`fit_layer_profiles` builds the layer's design in every
outer fold (:mod:`~frisson.models.encoding._design`, PCA on the fold's training
runs), chooses each unit's penalty by inner leave-one-run-out
(:mod:`~frisson.models.encoding._cv`) and predicts the held-out run. Held-out
predictions of the outer folds are concatenated and scored (``r`` with each
fold's prediction z-scored in its run; see :class:`LayerProfiles`).

Null, p and FDR
---------------
Each permutation phase-randomises every run (one set of random phases per run
and permutation, the same for every column and every layer, so the columns'
spectra and cross-correlations stay and layers stay as correlated as the real
ones) and refits with the same outer folds: for the pooled null with each
unit's lambda chosen again by the same inner splits
(:class:`~frisson.models.encoding._null.FoldReselection`; the choice is part of
the statistic: module notes of :mod:`~frisson.models.encoding._null`), for the
per-unit null with the lambdas chosen on the real data. Randomising the
delayed design ``X -> R X`` (``R`` orthogonal) keeps its Gram matrix, so the
refit is the real fold's fit applied to ``R'y``
(:mod:`~frisson.models.encoding._null`): the decompositions of each fold (and,
for the pooled null, of its inner splits) serve every permutation. The null
works with units as rows (each alpha's units gathered as whole rows) in
float32; the responses are kept once (``_Problem``).

``null="pooled"`` (default): every r is studentised
(:func:`~frisson.models.encoding._null.studentised_r`: divided by its
standard deviation under phase randomisation given the response's and the
prediction's spectra, so that units of any autocorrelation share one null), and
``p = (1 + #(pooled null t >= t)) / (1 + n_permutations x n_pool)`` against the
draws of the layer's pool: every unit, or at most ``POOL_DRAWS /
n_permutations`` (>= 1000) units drawn at random (:func:`_pool_units`), which
bounds the cost of choosing the alphas again. p then reaches about
``1 / 20000``, fine enough for Benjamini-Hochberg to pass sparse effects.
``null="unit"``: each unit against its own draws of r,
``p = (1 + #(null r >= real r)) / (1 + n_permutations)`` (exact under
exchangeability, but no p below ``1 / (n_permutations + 1)``).

``q`` is the Benjamini-Hochberg adjustment
(:func:`scipy.stats.false_discovery_control`) over units, per layer. The best
layer is chosen by a max over layers, so its p (``p_best``) comes from the null
distribution of the max over layers of each permutation's statistic (paired
layers; the statistic is t for the pooled null, r for the per-unit one);
``q_best`` is BH over units of ``p_best``. Pooling the max over units with
different across-layer dependence is calibrated over units (each unit's max is
compared with a sample of the same mixture it is drawn from); what made
``p_best`` liberal with the fixed-alpha null was the alpha choice, which the
pooled null now replays (``tests/test_encoding_pbest.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from frisson._check import check_int, check_option
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
from frisson.models.encoding._null import (
    FoldOperator,
    FoldReselection,
    pooled_p,
    run_power,
    studentised_r,
    studentised_rows,
)
from frisson.models.encoding._solvers import (
    DEFAULT_ALPHAS,
    Device,
    Solver,
    _check_alphas,
    _Solver,
)
from frisson.timeseries import TimeSeries

__all__ = ["NULLS", "LayerProfiles", "fit_layer_profiles"]

Null = Literal["pooled", "unit"]
NULLS = ("pooled", "unit")  # the values of null=


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
    t : ndarray, shape (n_layers, n_units)
        ``r`` studentised: divided by its standard deviation under phase
        randomisation given the response's and the prediction's spectra (about
        N(0, 1) on null units, whatever their autocorrelation).
    p, q : ndarray, shape (n_layers, n_units)
        Permutation p from phase-randomised features (NaN without
        permutations; pooled over units or per unit, see ``null``) and its
        Benjamini-Hochberg q over units, per layer.
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
        Permutations in the null (per unit).
    null : {'pooled', 'unit'}
        How p was computed (module notes).
    noise_ceiling : ndarray, shape (n_units,), or None
        The highest r a perfect model could reach per unit
        (:func:`~frisson.models.encoding.noise_ceiling`), when the caller
        estimated one from repeated listeners; ``to_frame`` then adds
        ``noise_ceiling`` and ``r_normalised = r / noise_ceiling`` (NaN where
        the ceiling is 0).
    partition : dict of str to ndarray, or None
        Variance partition of every layer against one partner feature space
        (:func:`~frisson.models.encoding.partition_layers`): ``partner`` (its
        name) and arrays (n_layers, n_units) ``r2_partner, r2_joint, unique_r2,
        unique_r2_partner, shared_r2``; ``to_frame`` then adds them as columns
        and ``partner``.

    """

    layers: tuple[str, ...]
    units: tuple[str, ...]
    r: np.ndarray
    r2: np.ndarray
    t: np.ndarray
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
    null: str = "pooled"
    noise_ceiling: np.ndarray | None = None
    partition: dict | None = None

    def best_layer_names(self) -> list[str]:
        """Name of each unit's best layer ('' when no r is finite)."""
        return [self.layers[i] if i >= 0 else "" for i in self.best_layer]

    def to_frame(self):
        """Long table, one row per unit x layer.

        Columns: ``unit, layer, layer_index, r, r2, t, p, q, best`` (``best``: this
        is the unit's best layer), ``p_best, q_best`` (the unit's best-layer
        values, repeated), ``alpha_median`` (median over folds); with a noise
        ceiling also ``noise_ceiling`` and ``r_normalised``; with a variance partition
        (``partition``) also ``partner, r2_partner, r2_joint, unique_r2,
        unique_r2_partner, shared_r2``.
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
                "t": self.t.ravel(),
                "p": self.p.ravel(),
                "q": self.q.ravel(),
                "best": self.best_layer[unit_index] == layer_index,
                "p_best": self.p_best[unit_index],
                "q_best": self.q_best[unit_index],
                "alpha_median": np.median(self.alphas, axis=1).ravel(),
                **self._ceiling_columns(unit_index),
                **self._partition_columns(),
            }
        )

    def _partition_columns(self) -> dict[str, Any]:
        if self.partition is None:
            return {}
        names = ("r2_partner", "r2_joint", "unique_r2", "unique_r2_partner", "shared_r2")
        columns: dict[str, Any] = {"partner": self.partition["partner"]}
        return columns | {name: np.asarray(self.partition[name]).ravel() for name in names}

    def _ceiling_columns(self, unit_index: np.ndarray) -> dict[str, np.ndarray]:
        if self.noise_ceiling is None:
            return {}
        ceiling = np.asarray(self.noise_ceiling, dtype=float)
        normalised = np.divide(
            self.r, ceiling, out=np.full(self.r.shape, np.nan), where=ceiling > 0
        )
        return {"noise_ceiling": ceiling[unit_index], "r_normalised": normalised.ravel()}


def fit_layer_profiles(
    features: Mapping[str, Sequence[TimeSeries]],
    responses: Sequence[TimeSeries],
    *,
    delays_s: Sequence[float] | str = "auto",
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_components: float | int | None = 0.99,
    rectify: bool = False,
    n_permutations: int | Literal["auto"] = "auto",
    null: Null = "pooled",
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
    n_permutations : int or 'auto'
        Phase-randomised refits for the null (0: no p-values). 'auto': with
        ``null='pooled'``, enough for about 20 000 pooled draws per layer
        (``clip(ceil(20000 / n_units), 20, 1000)``); with ``null='unit'``, 1000.
    null : {'pooled', 'unit'}
        p against the studentised draws of every unit of the layer (default;
        fine p for FDR), or against the unit's own draws of r (module notes).
    seed : int
        Seed of the random phases.
    solver : {'auto', 'eigh', 'primal', 'kernel'}
        The ridge solver of the real fit (a name in the registries of
        :mod:`frisson.models.encoding._solvers`; 'auto' picks by shape and
        device). The null applies each fold's fitted map in numpy.
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
    problem = _problem(responses, delays_s, alphas, n_components)
    null = check_option("null", null, NULLS)
    n_units = problem.y_all.shape[1]
    n_permutations = _resolve_permutations(n_permutations, null, n_units)
    seed = check_int("seed", seed, minimum=0)
    n_layers, n_runs = len(features), len(problem.y_runs)
    out = {
        "r": np.full((n_layers, n_units), np.nan),
        "r2": np.full((n_layers, n_units), np.nan),
        "t": np.full((n_layers, n_units), np.nan),
        "fold_r": np.full((n_layers, n_runs, n_units), np.nan),
        "alphas": np.full((n_layers, n_runs, n_units), np.nan),
        "n_pcs": np.zeros((n_layers, n_runs), dtype=int),
    }
    nulls = _NullTally(n_layers, n_permutations, n_units, seed, null)

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
            fit = _fit_layer(
                solve,
                blocks,
                problem,
                keep_operators=n_permutations > 0,
                reselect=null == "pooled",
            )
            for key in out:
                out[key][li] = getattr(fit, key)
            nulls.add(li, fit, problem)
            logger.info(
                "layer %s: median r %.3f, %d-%d PCs, median alpha %.3g",
                layer,
                float(np.nanmedian(fit.r)),
                fit.n_pcs.min(),
                fit.n_pcs.max(),
                float(np.median(fit.alphas)),
            )
        logger.info("encoding solvers used: %s", ", ".join(sorted(solve.used)))
    best_layer, p, p_best = nulls.p_values(out["r"], out["t"], null)
    delays, rate = problem.delays, problem.rate
    return LayerProfiles(
        layers=tuple(str(name) for name in features),
        units=tuple(responses[0].names),
        **out,
        p=p,
        q=_bh(p),
        best_layer=best_layer,
        p_best=p_best,
        q_best=_bh(p_best),
        delays_s="hrf" if delays is None else tuple(float(d) / rate for d in delays),
        n_permutations=n_permutations,
        null=null,
    )


def _resolve_permutations(n_permutations: int | str, null: str, n_units: int) -> int:
    """``n_permutations``, with 'auto' resolved for the null and the number of units."""
    if isinstance(n_permutations, str):
        check_option("n_permutations", n_permutations, ("auto",))
        if null == "unit":
            return 1000
        return int(np.clip(np.ceil(20000 / max(n_units, 1)), 20, 1000))
    return check_int("n_permutations", n_permutations, minimum=0)


@dataclass(frozen=True)
class _Problem:
    """What every layer shares: responses, folds and the design settings.

    One copy of the responses: ``y_runs`` are views of ``y_all``; each outer
    fold's training responses are formed when the fold is fitted
    (:func:`_train_responses`), not kept.
    """

    y_runs: list[np.ndarray]  # responses z-scored per run, one (n_times, n_units) per run
    y_power: list[np.ndarray]  # |rfft|^2 of each run's responses (the studentiser's weights)
    y_power_rows: list[np.ndarray]  # the same as (n_units, n_freqs) float32, for the null
    y_spectra: list[np.ndarray]  # rfft of each run's responses, (n_units, n_freqs) complex64
    slices: list[np.ndarray]  # global sample indices of each run
    y_all: np.ndarray  # the runs concatenated
    folds: list[OuterFold]
    alphas: np.ndarray
    n_components: float | int | None
    delays: np.ndarray | None  # samples; None for the HRF
    hrf: np.ndarray
    rate: float


def _problem(responses, delays_s, alphas, n_components) -> _Problem:
    y_runs = _check_responses(responses)
    rate = _common_rate(responses)
    slices = _run_slices([y.shape[0] for y in y_runs])
    y_all = np.concatenate(y_runs)
    y_runs = [y_all[s[0] : s[-1] + 1] for s in slices]  # views: one copy of the responses
    folds = outer_folds(slices)  # checked once: inner folds never touch the outer test run
    y_power = run_power(y_runs)
    return _Problem(
        y_runs=y_runs,
        y_power=y_power,
        y_power_rows=[np.ascontiguousarray(p.T, dtype=np.float32) for p in y_power],
        # units as rows: the null's phases and gathers by unit run along contiguous memory
        y_spectra=[
            np.ascontiguousarray(np.fft.rfft(y.T, axis=1).astype(np.complex64)) for y in y_runs
        ],
        slices=slices,
        y_all=y_all,
        folds=folds,
        alphas=_check_alphas(alphas),
        n_components=_check_n_components(n_components),
        delays=_delays_samples(delays_s, rate),
        hrf=canonical_hrf(rate),
        rate=rate,
    )


def _train_responses(problem: _Problem, fold: OuterFold) -> np.ndarray:
    """``y_all[fold.train_idx]``: the training runs' responses, in order (a temporary copy)."""
    return np.concatenate([problem.y_runs[i] for i in fold.train_runs])


class _LayerFit(NamedTuple):
    r: np.ndarray  # (n_units,)
    r2: np.ndarray  # (n_units,)
    t: np.ndarray  # (n_units,) r studentised
    fold_r: np.ndarray  # (n_runs, n_units)
    alphas: np.ndarray  # (n_runs, n_units), chosen per outer fold
    n_pcs: np.ndarray  # (n_runs,)
    operators: list[FoldOperator | FoldReselection]  # per outer fold: the null's map


def _fit_layer(
    solve: _Solver,
    blocks: list[np.ndarray],
    problem: _Problem,
    *,
    keep_operators: bool,
    reselect: bool = False,
) -> _LayerFit:
    """One layer's outer folds: PCA on the training runs, inner-CV alpha, held-out scores.

    ``keep_operators``: keep each fold's map for the null, with the real alphas
    (:class:`FoldOperator`) or, ``reselect``, choosing them again on every
    permutation's responses (:class:`FoldReselection`, the pooled null).
    """
    y_all, slices = problem.y_all, problem.slices
    n_runs, n_units = len(problem.y_runs), y_all.shape[1]
    fold_r = np.full((n_runs, n_units), np.nan)
    chosen = np.full((n_runs, n_units), np.nan)
    n_pcs = np.zeros(n_runs, dtype=int)
    prediction = np.zeros_like(y_all)
    standardised = np.zeros_like(y_all)  # each fold's prediction z-scored in its run
    operators = []
    for fold in problem.folds:
        test_run = fold.test_run
        y_train = _train_responses(problem, fold)
        projection = _fit_projection([blocks[i] for i in fold.train_runs], problem.n_components)
        n_pcs[test_run] = projection.n_out
        design = [_expand(_zscore(projection(b)), problem.delays, problem.hrf) for b in blocks]
        x_train = np.concatenate([design[i] for i in fold.train_runs])
        best, pred = solve.cv(x_train, y_train, design[test_run], problem.alphas, fold.inner)
        chosen[test_run] = problem.alphas[best]
        prediction[slices[test_run]] = pred
        standardised[slices[test_run]] = _zscore(pred)
        fold_r[test_run] = _pearson(problem.y_runs[test_run], pred)
        if keep_operators and reselect:
            operators.append(
                FoldReselection(
                    x_train, design[test_run], problem.alphas, fold.inner, parts=solve.parts
                )
            )
        elif keep_operators:
            operators.append(
                FoldOperator(
                    x_train, design[test_run], chosen[test_run], decomposition=solve.decomposition
                )
            )
        del y_train
    r, r2 = _pearson(y_all, standardised), _r2(y_all, prediction)
    t = studentised_r(r, problem.y_power, [standardised[s] for s in slices])
    return _LayerFit(r, r2, t, fold_r, chosen, n_pcs, operators)


#: Pooled null: draws per layer the pool aims at, and the fewest units it draws from.
POOL_DRAWS, POOL_MIN_UNITS = 20000, 1000


def _pool_units(n_units: int, n_permutations: int, seed: int) -> np.ndarray:
    """The units whose refits form the pooled null: all, or a random subset of them.

    ``min(n_units, max(POOL_MIN_UNITS, ceil(POOL_DRAWS / n_permutations)))``
    units (sorted), drawn with the null's seed: every unit's statistic is
    compared with draws from units chosen at random, a sample of the same
    mixture of null distributions as all units' draws, so the refits cost
    ``POOL_DRAWS`` unit-permutations per layer however many units there are.
    """
    n_pool = min(n_units, max(POOL_MIN_UNITS, int(np.ceil(POOL_DRAWS / max(n_permutations, 1)))))
    if n_pool == n_units:
        return np.arange(n_units)
    rng = np.random.default_rng([seed, n_units, 18])
    return np.sort(rng.choice(n_units, size=n_pool, replace=False))


class _NullTally:
    """The null draws of every layer, kept as what the p-values need.

    Pooled null: per layer the draws of t of the pool's units
    (:func:`_pool_units`; ``n_permutations x n_pool``), and over layers each
    permutation's max of t (for the best layer's p). Per-unit null: per layer
    every unit's exceedance counts of r, and each permutation's max of r over
    layers.
    """

    def __init__(
        self, n_layers: int, n_permutations: int, n_units: int, seed: int, null: str = "pooled"
    ) -> None:
        self.n_permutations, self.seed, self.null = n_permutations, seed, null
        self.units = _pool_units(n_units, n_permutations, seed) if null == "pooled" else None
        n_pool = n_units if self.units is None else self.units.size
        self.null_t = np.full((n_layers, n_permutations, n_pool), -np.inf, dtype=np.float32)
        self.max_t = np.full((n_permutations, n_pool), -np.inf)
        self.exceed = np.zeros((n_layers, n_units))
        self.max_r = np.full((n_permutations, n_units), -np.inf)

    def add(self, layer: int, fit: _LayerFit, problem: _Problem) -> None:
        for k in range(self.n_permutations):
            null_r, null_t = _null_draw(fit.operators, problem, self.seed, k, units=self.units)
            self.null_t[layer, k] = null_t
            self.max_t[k] = np.maximum(self.max_t[k], null_t)
            if self.units is None:
                self.exceed[layer] += null_r >= fit.r
                self.max_r[k] = np.maximum(self.max_r[k], null_r)

    def p_values(
        self, r: np.ndarray, t: np.ndarray, null: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best layer per unit (argmax r), p per layer, and p of the best layer."""
        n_layers, n_units = r.shape
        finite = np.isfinite(r)
        best_layer = np.where(
            finite.any(axis=0), np.argmax(np.where(finite, r, -np.inf), axis=0), -1
        )
        if not self.n_permutations:
            return best_layer, np.full((n_layers, n_units), np.nan), np.full(n_units, np.nan)
        if null == "pooled":
            p = pooled_p(t, self.null_t)
            best_t = np.where(np.isfinite(t), t, -np.inf).max(axis=0)
            p_best = pooled_p(best_t[np.newaxis], self.max_t[np.newaxis])[0]
        else:
            p = (1.0 + self.exceed) / (1.0 + self.n_permutations)
            columns = np.arange(n_units)
            best_r = np.where(best_layer >= 0, r[np.maximum(best_layer, 0), columns], np.inf)
            p_best = (1.0 + (self.max_r >= best_r).sum(axis=0)) / (1.0 + self.n_permutations)
        p[~finite] = np.nan
        p_best[best_layer < 0] = np.nan
        return best_layer, p, p_best


def _null_draw(
    operators: list[FoldOperator | FoldReselection],
    problem: _Problem,
    seed: int,
    permutation: int,
    *,
    units: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The r and studentised r of one permutation: every fold's map on phase-randomised responses.

    With :class:`FoldOperator` maps: equivalent to phase-randomising the delayed
    design of every run with the inverse phases and refitting with the real
    alphas (module notes); with :class:`FoldReselection` maps (the pooled null),
    the alphas are chosen again by the inner splits on the randomised responses.
    ``units``: only these units (rows of the responses; the pooled null's
    :func:`_pool_units`). In float32 from the responses' spectra, computed once
    (:class:`_Problem`): the draws equal the float64 ones to about 1e-6
    (``tests/test_encoding_speed.py``).
    """
    spectra, power_rows = problem.y_spectra, problem.y_power_rows
    if units is not None:  # the pooled null's units (FoldReselection maps any units)
        spectra = [spectrum[units] for spectrum in spectra]
        power_rows = [power[units] for power in power_rows]
    n_units, n_all = spectra[0].shape[0], problem.y_all.shape[0]
    shuffled = np.empty((n_units, n_all), dtype=np.float32)  # units as rows
    for run, spectrum in enumerate(spectra):  # (n_units, n_freqs), complex64
        rows = _run_columns(problem.slices[run])
        n = rows.stop - rows.start
        phases = np.exp(1j * _random_phases(seed, permutation, run, n)).astype(np.complex64)
        shuffled[:, rows] = np.fft.irfft(spectrum * phases[np.newaxis, :], n=n, axis=1)
    standardised = np.empty((n_units, n_all), dtype=np.float32)
    for fold, operator in zip(problem.folds, operators, strict=True):
        test = _run_columns(problem.slices[fold.test_run])
        prediction = operator.apply_rows(shuffled, test, out=standardised[:, test])
        prediction -= prediction.mean(axis=1, keepdims=True)  # z-scored in place, per run
        sd = np.sqrt(np.einsum("ut,ut->u", prediction, prediction) / prediction.shape[1])
        prediction /= np.where(sd > 0, sd, 1.0).astype(np.float32)[:, np.newaxis]
    # both sides have mean 0 in every run (phase randomisation keeps the run's mean 0)
    products = np.einsum("ut,ut->u", shuffled, standardised)
    norms = np.einsum("ut,ut->u", shuffled, shuffled) * np.einsum(
        "ut,ut->u", standardised, standardised
    )
    null_r = np.divide(products, np.sqrt(norms), out=np.full(n_units, np.nan), where=norms > 0)
    runs = [standardised[:, _run_columns(s)] for s in problem.slices]
    null_t = studentised_rows(null_r, power_rows, runs)
    return np.nan_to_num(null_r, nan=-np.inf), np.nan_to_num(null_t, nan=-np.inf)


def _run_columns(samples: np.ndarray) -> slice:
    """The consecutive sample indices of one run as a slice."""
    return slice(int(samples[0]), int(samples[-1]) + 1)
