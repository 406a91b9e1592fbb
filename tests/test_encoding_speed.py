"""The fast encoding path equals the former implementation (kept here as the reference).

The alpha scoring by partial fractions (``_solvers._SplitScorer``), the training
sets' ``x'x`` and ``x'y`` by parts, and the float32 null from cached spectra
(``_profiles._null_draw``) replaced explicit predictions per alpha and a float64
null; the reference functions below are the former code (commit 9082612).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from frisson.errors import ParameterError
from frisson.models import encoding
from frisson.models.encoding import _null, _profiles, _solvers
from frisson.timeseries import TimeSeries

ALPHAS = np.asarray(encoding.DEFAULT_ALPHAS)


# ------------------------------------------------------------- the former implementation
def _reference_parts(x, x_test):
    if x.shape[0] >= x.shape[1]:
        eigenvalues, vectors = np.linalg.eigh(x.T @ x)
        return np.maximum(eigenvalues, 0.0), x_test @ vectors, lambda y: vectors.T @ (x.T @ y)
    eigenvalues, vectors = np.linalg.eigh(x @ x.T)
    return np.maximum(eigenvalues, 0.0), (x_test @ x.T) @ vectors, lambda y: vectors.T @ y


def _reference_sse(x, y, splits, alphas):
    """Validation SSE per split and alpha by explicit predictions, (n_splits, n_alphas, n)."""
    out = []
    for train, validation in splits:
        eigenvalues, b, to_a = _reference_parts(x[train], x[validation])
        a, y_val = to_a(y[train]), y[validation]
        out.append([((y_val - (b / (eigenvalues + al)) @ a) ** 2).sum(axis=0) for al in alphas])
    return np.asarray(out)


def _reference_cv(x, y, x_test, alphas, splits):
    best = np.argmax(-_reference_sse(x, y, splits, alphas).mean(axis=0), axis=0)
    eigenvalues, b, to_a = _reference_parts(x, x_test)
    a = to_a(y)
    out = np.empty((x_test.shape[0], y.shape[1]))
    for i in np.unique(best):
        cols = best == i
        out[:, cols] = (b / (eigenvalues + alphas[i])) @ a[:, cols]
    return best, out


def _reference_null_draw(operators, problem, seed, permutation):
    shuffled = np.concatenate(
        [
            _profiles._phase_randomise(y, _profiles._random_phases(seed, permutation, run, len(y)))
            for run, y in enumerate(problem.y_runs)
        ]
    )
    standardised = np.zeros(problem.y_all.shape)
    for fold, operator in zip(problem.folds, operators, strict=True):
        prediction = operator(shuffled[fold.train_idx].astype(np.float32))
        standardised[problem.slices[fold.test_run]] = encoding._zscore(prediction.astype(float))
    null_r = encoding._pearson(shuffled, standardised)
    runs = [standardised[s] for s in problem.slices]
    return null_r, _null.studentised_r(null_r, problem.y_power, runs)


# ------------------------------------------------------------------------------ designs
def _design(kind: str, rng, n_runs=6, n_times=120, width=20):
    """Delayed, z-scored designs of one outer fold: white, smooth, collinear, duplicated."""
    base = rng.standard_normal((n_runs * n_times, width))
    if kind != "white":
        base = lfilter([1.0], [1.0, -0.9], base, axis=0)
    half = width // 2
    if kind == "collinear":
        base[:, half:] = base[:, :half] @ rng.standard_normal((half, half)) + 1e-3 * base[:, half:]
    if kind == "duplicated":  # x'x singular: many equal (zero) eigenvalues
        base[:, half:] = base[:, :half]
    slices = encoding._run_slices([n_times] * n_runs)
    x = np.concatenate(
        [encoding._expand(encoding._zscore(base[s]), np.arange(2, 6), None) for s in slices]
    )
    y = x[:, :8] @ rng.standard_normal((8, 60)) * 0.1 + rng.standard_normal((len(x), 60))
    y[:, :20] *= np.linspace(0.5, 20, 20)  # a range of SNR: a range of chosen alphas
    fold = encoding.outer_folds(slices)[0]
    return x[fold.train_idx], y[fold.train_idx], x[slices[0]], fold.inner


@pytest.mark.parametrize("kind", ["white", "smooth", "collinear", "duplicated", "kernel", "mixed"])
def test_alpha_scores_by_partial_fractions_equal_explicit_predictions(kind):
    rng = np.random.default_rng(5)
    x, y, x_test, splits = _design(kind if kind not in ("kernel", "mixed") else "smooth", rng)
    if kind in ("kernel", "mixed"):  # more columns than inner (and outer) training samples
        copies = 8 if kind == "kernel" else 7  # mixed: 480 inner < 560 columns < 600 outer rows
        x, x_test = np.hstack([x] * copies), np.hstack([x_test] * copies)
        x = x + 0.01 * rng.standard_normal(x.shape)
    reference = _reference_sse(x, y, splits, ALPHAS)
    for (train, validation), expected in zip(splits, reference, strict=True):
        eigenvalues, b, to_a = _solvers._eigh_parts(x[train], x[validation])
        scorer = _solvers._SplitScorer(eigenvalues, b, ALPHAS)
        primal = len(train) >= x.shape[1]
        a = to_a(x[train].T @ y[train] if primal else y[train])
        np.testing.assert_allclose(scorer(a, y[validation]), expected, rtol=1e-10)
        assert scorer.explicit == (kind == "duplicated")  # the fallback only where needed
    best, prediction = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits)
    reference_best, reference_prediction = _reference_cv(x, y, x_test, ALPHAS, splits)
    np.testing.assert_array_equal(best, reference_best)
    assert np.unique(best).size >= 3  # the units chose different alphas
    np.testing.assert_allclose(prediction, reference_prediction, rtol=0, atol=1e-9)


def test_splits_that_do_not_partition_the_rows_are_solved_directly():
    rng = np.random.default_rng(2)
    x, y, x_test, splits = _design("smooth", rng)
    gappy = [(train[: train.size // 2], validation) for train, validation in splits]
    assert not _solvers._is_complement(x.shape[0], *gappy[0])
    best, prediction = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, gappy)
    reference_best, reference_prediction = _reference_cv(x, y, x_test, ALPHAS, gappy)
    np.testing.assert_array_equal(best, reference_best)
    np.testing.assert_allclose(prediction, reference_prediction, rtol=0, atol=1e-9)


def _assert_null_draws_match(features, responses, reference, *, seed: int, n_draws: int) -> None:
    """Layer "a"'s null draws equal ``reference``'s: r to 2e-6, studentised t to 2e-5."""
    problem = _profiles._problem(responses, "auto", ALPHAS, 0.99)
    blocks = _profiles._on_grid(features["a"], responses, False, "a")
    with _solvers._Solver("eigh", "cpu") as solve:
        fit = _profiles._fit_layer(solve, blocks, problem, keep_operators=True)
    for permutation in range(n_draws):
        new_r, new_t = _profiles._null_draw(fit.operators, problem, seed, permutation)
        old_r, old_t = reference(fit.operators, problem, seed, permutation)
        np.testing.assert_allclose(new_r, old_r, rtol=0, atol=2e-6)
        np.testing.assert_allclose(new_t, old_t, rtol=0, atol=2e-5)


def test_float32_null_from_cached_spectra_equals_the_float64_null():
    rng = np.random.default_rng(3)
    features = {"a": [TimeSeries(rng.standard_normal((90, 4)), 1.0) for _ in range(4)]}
    drive = [np.roll(f.values[:, :1], 3, axis=0) for f in features["a"]]
    responses = [TimeSeries(d * [0.0, 0.5, 1.0] + rng.standard_normal((90, 3)), 1.0) for d in drive]
    _assert_null_draws_match(features, responses, _reference_null_draw, seed=0, n_draws=5)


def test_float32_products_cost_about_1e_6_in_r():
    rng = np.random.default_rng(4)
    x, y, x_test, splits = _design("smooth", rng)
    best, prediction = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits)
    best32, prediction32 = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits, precision="float32")
    assert np.mean(best32 == best) >= 0.95  # near-tied alphas may flip
    same = best32 == best
    scale = np.abs(prediction).max()
    np.testing.assert_allclose(prediction32[:, same], prediction[:, same], atol=1e-4 * scale)
    with pytest.raises(ParameterError, match="precision"):
        _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits, precision="float16")
    assert _solvers.check_solver_params("auto", {"precision": "float32"}) == {
        "precision": "float32"
    }


# --------------------------------------- shared decompositions, one copy, units as rows
def _column_null_draw(operators, problem, seed, permutation, *, units=None):
    """The null draw with units as columns and a copy of the responses per fold (commit 83baf50)."""
    assert units is None  # the fixed-alpha maps of the per-unit null: every unit
    runs = []
    for run, y in enumerate(problem.y_runs):
        n = y.shape[0]
        spectrum = np.fft.rfft(y, axis=0).astype(np.complex64)
        phases = np.exp(1j * _profiles._random_phases(seed, permutation, run, n))
        runs.append(np.fft.irfft(spectrum * phases.astype(np.complex64)[:, None], n=n, axis=0))
    shuffled = np.concatenate(runs)
    standardised = np.empty(shuffled.shape, dtype=np.float32)
    for fold, operator in zip(problem.folds, operators, strict=True):
        test = problem.slices[fold.test_run]
        before, after = shuffled[: test[0]], shuffled[test[-1] + 1 :]
        standardised[test] = encoding._zscore(operator.blocks([before, after]))
    null_r = encoding._pearson(shuffled, standardised)
    runs = [standardised[s] for s in problem.slices]
    null_t = _null.studentised_r(null_r, problem.y_power, runs)
    return np.nan_to_num(null_r, nan=-np.inf), np.nan_to_num(null_t, nan=-np.inf)


def _small_study(seed=6, n_runs=5, n_times=80, n_units=40):
    rng = np.random.default_rng(seed)
    features = {
        name: [TimeSeries(rng.standard_normal((n_times, 6)), 1.0) for _ in range(n_runs)]
        for name in ("a", "b")
    }
    gain = np.linspace(0.0, 1.5, n_units)  # from null units to strong ones: a range of alphas
    responses = [
        TimeSeries(
            np.roll(f.values[:, :1], 4, axis=0) * gain + rng.standard_normal((n_times, n_units)),
            1.0,
        )
        for f in features["a"]
    ]
    return features, responses


@pytest.mark.parametrize("n_features", [3, 60])  # eigenbasis and explicit operators
def test_fold_operator_from_the_refit_decomposition_is_the_same_map(n_features):
    rng = np.random.default_rng(8)
    x, x_test = rng.standard_normal((120, n_features)), rng.standard_normal((30, n_features))
    y = x[:, :2] @ rng.standard_normal((2, 25)) + rng.standard_normal((120, 25))
    splits = [(np.arange(40, 120), np.arange(40)), (np.r_[0:40, 80:120], np.arange(40, 80))]
    with _solvers._Solver("eigh", "cpu") as solve:
        best, _ = solve.cv(x, y, x_test, ALPHAS, splits)
        alphas = ALPHAS[best]
        shared = _null.FoldOperator(x, x_test, alphas, decomposition=solve.decomposition)
    own = _null.FoldOperator(x, x_test, alphas)
    assert np.unique(alphas).size >= 2 and shared.explicit == (n_features == 60)
    np.testing.assert_array_equal(shared(y), own(y))  # the same eigh: the same numbers
    # units as rows, the held-out rows 40:70 of a 150-sample series left out
    y_rows = np.concatenate([y[:40], rng.standard_normal((30, 25)), y[40:]]).T
    rows = own.apply_rows(y_rows.astype(np.float32), slice(40, 70))
    np.testing.assert_allclose(rows.T, own(y), rtol=0, atol=2e-6 * np.abs(own(y)).max())


def test_problem_keeps_one_copy_of_the_responses():
    _, responses = _small_study()
    problem = _profiles._problem(responses, "auto", ALPHAS, 0.99)
    assert all(np.shares_memory(y, problem.y_all) for y in problem.y_runs)
    assert not hasattr(problem, "y_train")
    fold = problem.folds[2]
    np.testing.assert_array_equal(
        _profiles._train_responses(problem, fold), problem.y_all[fold.train_idx]
    )


def test_fast_null_and_shared_decompositions_equal_the_former_path(monkeypatch):
    """r, t and alphas identical; null draws to 2e-6 (r) and 2e-5 (t); p within one draw.

    The former path: each fold operator with its own eigendecomposition and the
    null with units as columns (``_column_null_draw``). The fixed-alpha fold maps
    are the per-unit null's (the pooled one chooses the alphas again:
    ``tests/test_encoding_pbest.py``).
    """
    features, responses = _small_study()
    options = {
        "n_permutations": 30,
        "null": "unit",
        "progress_bar": False,
        "device": "cpu",
        "seed": 3,
    }
    fast = encoding.fit_layer_profiles(features, responses, **options)
    _assert_null_draws_match(features, responses, _column_null_draw, seed=3, n_draws=3)
    original_cv = _solvers._Solver.cv

    def cv_without_sharing(self, *args):
        out = original_cv(self, *args)
        self.decomposition = None  # each FoldOperator decomposes its fold again
        return out

    monkeypatch.setattr(_solvers._Solver, "cv", cv_without_sharing)
    monkeypatch.setattr(_profiles, "_null_draw", _column_null_draw)
    former = encoding.fit_layer_profiles(features, responses, **options)
    for name in ("r", "t", "alphas", "fold_r", "r2"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(former, name))
    assert np.unique(fast.alphas).size >= 3
    one_draw = 1.0 / (1 + options["n_permutations"])
    np.testing.assert_allclose(fast.p, former.p, rtol=0, atol=1.01 * one_draw)
    np.testing.assert_allclose(fast.p_best, former.p_best, rtol=0, atol=1.01 * one_draw)
    assert np.mean(fast.p != former.p) <= 0.05
    assert np.nanmin(fast.p) == pytest.approx(one_draw)  # the strong units beat every draw


@pytest.mark.parametrize("kind", ["white", "smooth", "collinear"])
def test_float32_scorer_moves_the_sse_by_under_2e_5_of_its_spread_over_alphas(kind):
    """precision='float32' (x'y, projections and H a in float32) against explicit predictions."""
    rng = np.random.default_rng(5)
    x, y, x_test, splits = _design(kind, rng)
    reference = _reference_sse(x, y, splits, ALPHAS)
    for (train, validation), expected in zip(splits, reference, strict=True):
        eigenvalues, b, to_a = _solvers._eigh_parts(x[train], x[validation], dtype=np.float32)
        scorer = _solvers._SplitScorer(eigenvalues, b, ALPHAS, np.float32)
        assert scorer.h_low.dtype == np.float32 and not scorer.explicit
        a = to_a((x[train].T @ y[train]).astype(np.float32))
        sse = scorer(a, y[validation], y[validation].astype(np.float32))
        spread = expected.max(axis=0) - expected.min(axis=0)
        assert np.max(np.abs(sse - expected) / spread) < 2e-5
    best, _ = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits)
    best32, _ = _solvers.solve_eigh_cv(x, y, x_test, ALPHAS, splits, precision="float32")
    np.testing.assert_array_equal(best32, best)
