"""The encoding null (frisson.models.encoding._null): equivalence, calibration, power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from frisson.models.encoding import (
    _null,
    _profiles,
    canonical_hrf,
    delay_features,
    fit_layer_profiles,
    solve_eigh,
)
from frisson.timeseries import TimeSeries


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _ar(rng, n, k, phi):
    """Stationary AR(1) noise of unit variance, shape (n, k); ``phi`` may differ per column."""
    phi = np.broadcast_to(np.asarray(phi, dtype=float), (k,))
    out = np.empty((n + 100, k))
    e = rng.standard_normal((n + 100, k))
    out[0] = e[0]
    for t in range(1, n + 100):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * e[t]
    return out[100:]


@pytest.mark.parametrize("n_features", [5, 80])  # eigenbasis, explicit n_test x n_train matrix
def test_fold_operator_equals_the_ridge_refit(n_features):
    rng = np.random.default_rng(0)
    x, x_test = rng.standard_normal((120, n_features)), rng.standard_normal((20, n_features))
    y = rng.standard_normal((120, 6))
    alphas = np.array([0.1, 10.0, 10.0, 1e3, 0.1, 1e5])
    operator = _null.FoldOperator(x, x_test, alphas, dtype=np.float64)
    assert operator.explicit == (n_features == 80)
    np.testing.assert_allclose(operator(y), solve_eigh(x, y, x_test, alphas), atol=1e-10)
    single = _null.FoldOperator(x, x_test, alphas)  # float32 by default
    np.testing.assert_allclose(single(y), solve_eigh(x, y, x_test, alphas), atol=2e-4)


def test_randomising_responses_equals_randomising_the_design():
    """R orthogonal: ridge on (R X, y) scored on y_test == ridge on (X, R'y) scored on R'y_test."""
    rng = np.random.default_rng(1)
    n, runs = 64, 3
    scores = [rng.standard_normal((n, 4)) for _ in range(runs)]
    # circular delays, so that randomising the delayed design is exactly R X
    design = [np.hstack([np.roll(s, d, axis=0) for d in (0, 2, 3)]) for s in scores]
    y = [rng.standard_normal((n, 3)) for _ in range(runs)]
    phases = [_profiles._random_phases(7, 0, run, n) for run in range(runs)]
    shuffled_x = [_profiles._phase_randomise(d, ph) for d, ph in zip(design, phases, strict=True)]
    shuffled_y = [_profiles._phase_randomise(v, -ph) for v, ph in zip(y, phases, strict=True)]
    alphas = np.array([1.0, 30.0, 1e3])
    train, test = [0, 1], 2
    direct = solve_eigh(
        np.concatenate([shuffled_x[i] for i in train]),
        np.concatenate([y[i] for i in train]),
        shuffled_x[test],
        alphas,
    )
    operator = _null.FoldOperator(
        np.concatenate([design[i] for i in train]), design[test], alphas, dtype=np.float64
    )
    via_y = operator(np.concatenate([shuffled_y[i] for i in train]))
    r_direct = [stats.pearsonr(direct[:, u], y[test][:, u])[0] for u in range(3)]
    r_via_y = [stats.pearsonr(via_y[:, u], shuffled_y[test][:, u])[0] for u in range(3)]
    np.testing.assert_allclose(r_via_y, r_direct, atol=1e-10)
    # and the raw circular delays would not be needed for this: the Gram matrix is kept
    gram = sum(d.T @ d for d in design[:2])
    np.testing.assert_allclose(sum(d.T @ d for d in shuffled_x[:2]), gram, atol=1e-8)
    assert delay_features(scores[0], np.array([0, 2])).shape == (n, 8)


def test_studentised_r_has_unit_variance_whatever_the_autocorrelation():
    """Raw null r spreads 3x wider for smooth series; r over its phase-randomisation sd does not."""
    rng = np.random.default_rng(2)
    n, k = 300, 400
    raw_sd, t_sd = [], []
    for phi in (0.0, 0.5, 0.9):
        y, p = _ar(rng, n, k, phi), _ar(rng, n, k, phi)
        y = (y - y.mean(0)) / y.std(0)
        p = (p - p.mean(0)) / p.std(0)
        r = (y * p).mean(0)
        raw_sd.append(r.std())
        t_sd.append(_null.studentised_r(r, _null.run_power([y]), [p]).std())
    # sd ratio sqrt((1 + phi^2) / (1 - phi^2)) = 3.1 at phi = 0.9: why raw r cannot be pooled
    assert raw_sd[2] / raw_sd[0] > 2.5
    np.testing.assert_allclose(t_sd, 1.0, atol=0.12)


def _study(rng, *, n_units, n_responsive, snr=0.5, n_runs=6, n_times=200, n_layers=3, phis=0.3):
    """Layers of smooth features; responsive units follow layer u % n_layers through the HRF.

    Signal variance ``snr`` against AR(1) noise of unit variance, as
    :func:`frisson.simulate.simulate_fmri_study` plants it.
    """
    hrf = canonical_hrf(1.0)
    planted = np.arange(n_responsive) % n_layers
    weights = rng.standard_normal((n_responsive, 6))
    features = {f"layer{i}": [] for i in range(n_layers)}
    responses = []
    for _ in range(n_runs):
        layers = [_ar(rng, n_times, 6, 0.7) for _ in range(n_layers)]
        for i, values in enumerate(layers):
            features[f"layer{i}"].append(TimeSeries(values, rate_hz=1.0))
        noise = _ar(rng, n_times, n_units, phis)
        if n_responsive:
            signal = np.stack(
                [lfilter(hrf, [1.0], layers[planted[u]] @ weights[u]) for u in range(n_responsive)],
                axis=1,
            )
            noise[:, :n_responsive] += signal * np.sqrt(snr) / signal.std(axis=0)
        responses.append(TimeSeries(noise, rate_hz=1.0))
    return features, responses, planted


def test_pooled_null_is_uniform_on_null_units_of_different_autocorrelation():
    rng = np.random.default_rng(3)
    phis = np.repeat([0.0, 0.3, 0.6, 0.9], 60)
    features, responses, _ = _study(
        rng, n_units=240, n_responsive=0, n_runs=4, n_times=150, phis=phis
    )
    profiles = fit_layer_profiles(features, responses, n_permutations=30, progress_bar=False)
    assert profiles.null == "pooled" and profiles.n_permutations == 30
    for group in range(4):
        cols = slice(60 * group, 60 * (group + 1))
        for p in (profiles.p[0, cols], profiles.p[2, cols], profiles.p_best[cols]):
            assert stats.kstest(p, "uniform").pvalue > 0.005
    assert stats.kstest(profiles.p.ravel(), "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(profiles.p_best <= 0.05) <= 0.09
    assert np.mean(profiles.q_best < 0.05) <= 0.02


def test_sparse_effects_pass_fdr_with_the_pooled_null_and_not_with_per_unit_counts():
    """5 % responsive at the simulator's default SNR (0.5): most found, null units stay out."""
    rng = np.random.default_rng(4)
    n_units, n_responsive = 400, 20
    features, responses, planted = _study(rng, n_units=n_units, n_responsive=n_responsive)
    pooled = fit_layer_profiles(features, responses, progress_bar=False)  # defaults
    assert pooled.n_permutations == 50  # 'auto': 20000 pooled draws over 400 units
    found = pooled.q_best[:n_responsive] < 0.05
    false = pooled.q_best[n_responsive:] < 0.05
    assert found.mean() >= 0.8
    assert false.mean() <= 0.05
    assert np.mean(pooled.best_layer[:n_responsive][found] == planted[found]) >= 0.8
    per_unit = fit_layer_profiles(
        features, responses, null="unit", n_permutations=100, progress_bar=False
    )
    assert per_unit.p_best.min() >= 1 / 101
    assert np.mean(per_unit.q_best[:n_responsive] < 0.05) == 0.0  # why the pooled null exists
    np.testing.assert_array_equal(per_unit.r, pooled.r)


def test_pooled_p_counts_ties_and_non_finite_draws():
    null = np.array([[[0.5, np.nan], [-np.inf, 1.0]]])
    p = _null.pooled_p(np.array([[1.0, np.nan]]), null)
    assert p[0, 0] == pytest.approx(2 / 5) and np.isnan(p[0, 1])
