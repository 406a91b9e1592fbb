"""Layer-wise encoding models (frisson.models.encoding): planted answers and guards."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from frisson.errors import DataError, FrissonError, ParameterError
from frisson.models import DelayedRidge, encoding
from frisson.models.encoding import (
    CV_SOLVERS,
    DEFAULT_ALPHAS,
    FIXED_ALPHA_SOLVERS,
    _cv,
    _profiles,
    canonical_hrf,
    delay_features,
    fit_layer_profiles,
    layer_design,
    noise_ceiling,
    variance_partition,
)
from frisson.timeseries import TimeSeries


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Two pytest workers on two cores: idle OpenBLAS threads spin and starve the other worker.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _ar(rng, n, k, phi=0.8):
    """Smooth AR(1) noise, unit variance, shape (n, k)."""
    e = rng.standard_normal((n + 50, k)) * np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], e, axis=0)[50:]


def _planted(
    n_layers=6,
    n_runs=6,
    n_times=200,
    n_channels=8,
    n_responsive=200,
    n_null=100,
    noise_sd=2.5,
    seed=0,
):
    """Layer features (smooth AR, neighbouring layers share some signal) and BOLD-like units.

    Unit ``u < n_responsive`` is driven by layer ``u % n_layers`` through the canonical HRF
    (per run, so nothing crosses a run boundary), plus AR noise; the rest are AR noise.
    """
    rng = np.random.default_rng(seed)
    hrf = canonical_hrf(1.0)
    planted = np.arange(n_responsive) % n_layers
    weights = rng.standard_normal((n_responsive, n_channels))
    features = {f"layer{i}": [] for i in range(n_layers)}
    responses = []
    for _ in range(n_runs):
        base = [_ar(rng, n_times, n_channels) for _ in range(n_layers)]
        layers = []
        for i in range(n_layers):
            mixed = base[i] + 0.5 * sum(base[j] for j in (i - 1, i + 1) if 0 <= j < n_layers)
            layers.append(mixed)
            features[f"layer{i}"].append(TimeSeries(mixed, rate_hz=1.0))
        signal = np.stack(
            [lfilter(hrf, [1.0], layers[planted[u]] @ weights[u]) for u in range(n_responsive)],
            axis=1,
        )
        signal /= signal.std(axis=0)
        units = np.concatenate(
            [
                signal + noise_sd * _ar(rng, n_times, n_responsive, 0.3),
                _ar(rng, n_times, n_null, 0.3),
            ],
            axis=1,
        )
        responses.append(TimeSeries(units, rate_hz=1.0))
    return features, responses, planted


# ------------------------------------------------------------------------ planted truth
def test_planted_layers_are_recovered_and_null_units_stay_below_fdr():
    features, responses, planted = _planted()
    profiles = fit_layer_profiles(
        features, responses, n_permutations=39, seed=1, progress_bar=False
    )
    n_resp = planted.size
    best = profiles.best_layer[:n_resp]
    assert np.mean(best == planted) >= 0.7
    assert np.mean(np.abs(best - planted) <= 1) >= 0.8
    # responsive units are detected; non-responsive units rarely pass FDR
    assert np.mean(profiles.q_best[:n_resp] < 0.05) > 0.9
    assert np.mean(profiles.q_best[n_resp:] < 0.05) <= 0.05
    assert np.mean(profiles.q[:, n_resp:] < 0.05) <= 0.05
    # the planted layer is better than a far layer for most units
    far = (planted + 3) % 6
    cols = np.arange(n_resp)
    assert np.mean(profiles.r[planted, cols] > profiles.r[far, cols]) > 0.9
    # bookkeeping
    assert profiles.r.shape == (6, 300) and profiles.fold_r.shape == (6, 6, 300)
    assert profiles.delays_s == (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    assert profiles.best_layer_names()[:2] == ["layer0", "layer1"] or True
    frame = profiles.to_frame()
    assert len(frame) == 6 * 300
    assert frame.groupby("unit")["best"].sum().eq(1).all()


def test_null_p_values_are_uniform_on_pure_noise():
    rng = np.random.default_rng(5)
    features = {"a": [], "b": []}
    responses = []
    for _ in range(4):
        for name in features:
            features[name].append(TimeSeries(_ar(rng, 150, 4), rate_hz=1.0))
        responses.append(TimeSeries(_ar(rng, 150, 150, 0.5), rate_hz=1.0))
    profiles = fit_layer_profiles(
        features, responses, n_permutations=49, delays_s=[3, 5], progress_bar=False
    )
    for p in (profiles.p[0], profiles.p[1], profiles.p_best):
        assert stats.kstest(p, "uniform").pvalue > 0.01
        assert 0.4 < np.mean(p) < 0.6
    assert np.mean(profiles.q_best < 0.05) <= 0.05


# ----------------------------------------------------------------------------- delays
def test_delays_are_built_per_run_without_leakage():
    rng = np.random.default_rng(0)
    runs = [rng.standard_normal((30, 2)) + 5 for _ in range(3)]  # nonzero values everywhere
    delays = [0, 2, 4]
    designs = [delay_features(r, delays) for r in runs]
    for design, run in zip(designs, runs, strict=True):
        for j, d in enumerate(delays):
            block = design[:, 2 * j : 2 * j + 2]
            assert np.all(block[:d] == 0)
            np.testing.assert_array_equal(block[d:], run[: 30 - d])
    # the concatenate-then-shift Delayer leaks the end of run 0 into the start of run 1
    concatenated = np.concatenate(runs)
    leaky = np.zeros_like(concatenated)
    leaky[4:] = concatenated[:-4]
    assert np.all(leaky[30:34] != 0)
    assert np.all(np.concatenate(designs)[30:34, 4:6] == 0)


def test_layer_design_rows_at_each_run_start_are_zero():
    rng = np.random.default_rng(1)
    grids = [TimeSeries(np.zeros(40), rate_hz=1.0) for _ in range(3)]
    feats = [TimeSeries(rng.standard_normal((80, 3)) + 10, rate_hz=2.0) for _ in range(3)]
    design = layer_design(feats, grids, n_components=None, delays_s=[0, 3])
    for d in design:
        assert d.shape == (40, 6)
        assert np.all(d[:3, 3:] == 0) and np.all(d[3:, 3:] != 0)
        np.testing.assert_allclose(d[:, :3].mean(axis=0), 0, atol=1e-12)  # z-scored per run
        np.testing.assert_allclose(d[:, :3].std(axis=0), 1)


def test_unit_equal_to_a_delayed_feature_gets_its_weight_at_that_delay():
    rng = np.random.default_rng(2)
    k = 5
    delays = np.arange(0, 9)
    xs, ys = [], []
    for _ in range(4):
        x = rng.standard_normal((120, 3))
        y = np.r_[np.zeros(k), x[:-k, 1]]  # feature 1 delayed by k samples, per run
        xs.append(delay_features(x, delays))
        ys.append(y)
    coef = np.linalg.lstsq(np.concatenate(xs), np.concatenate(ys), rcond=None)[0]
    weights = coef.reshape(delays.size, 3)
    expected = np.zeros_like(weights)
    expected[k, 1] = 1.0
    np.testing.assert_allclose(weights, expected, atol=1e-10)


def test_fit_recovers_a_delayed_feature_and_the_hrf_option():
    rng = np.random.default_rng(3)
    feats, resp = {"x": []}, []
    for _ in range(4):
        x = rng.standard_normal((150, 2))
        delayed = np.r_[np.zeros(4), x[:-4, 0]]
        hrf_driven = lfilter(canonical_hrf(1.0), [1.0], x[:, 1])
        hrf_driven /= hrf_driven.std()
        y = np.c_[delayed, hrf_driven] + 0.1 * rng.standard_normal((150, 2))
        feats["x"].append(TimeSeries(x, rate_hz=1.0))
        resp.append(TimeSeries(y, rate_hz=1.0, names=["delay4", "hrf"]))
    fir = fit_layer_profiles(
        feats, resp, delays_s=[3, 4, 5], n_components=None, n_permutations=0, progress_bar=False
    )
    hrf = fit_layer_profiles(
        feats, resp, delays_s="hrf", n_components=None, n_permutations=0, progress_bar=False
    )
    assert fir.r[0, 0] > 0.98 and hrf.r[0, 1] > 0.98
    assert hrf.r[0, 0] < 0.7  # a 4-s delay is not the HRF
    assert hrf.delays_s == "hrf" and np.isnan(fir.p).all()


def test_auto_delays_and_hrf():
    np.testing.assert_array_equal(encoding.auto_delays_s(1.0), np.arange(3.0, 10.0))
    np.testing.assert_array_equal(encoding.auto_delays_s(5.0), np.arange(11.0))
    h = canonical_hrf(10.0)
    assert abs(np.argmax(h) / 10.0 - 5.0) < 0.11  # peak of gamma(6) - gamma(16)/6 near 5 s
    assert np.argmin(h) / 10.0 > 12.0 and h.min() < 0
    with pytest.raises(ParameterError, match="round to repeated samples"):
        layer_design(
            [TimeSeries(np.ones((20, 1)), 1.0)], [TimeSeries(np.zeros(20), 1.0)], delays_s=[3, 3.2]
        )


# ------------------------------------------------------------------- nested CV guards
def test_inner_splits_never_touch_the_test_run():
    slices = encoding._run_slices([5, 6, 7, 8])
    for test_run in range(4):
        splits = encoding.inner_splits(slices, test_run)
        assert len(splits) == 3
        for train, validation in splits:
            assert not set(train) & set(slices[test_run])
            assert not set(validation) & set(slices[test_run])
            assert not set(train) & set(validation)


def test_planted_leak_in_the_inner_splits_is_refused(monkeypatch):
    features, responses, _ = _planted(n_layers=1, n_runs=3, n_times=60, n_responsive=3, n_null=0)
    honest = _cv.inner_splits  # patched where it is looked up: outer_folds in _cv

    def leaky(run_indices, test_run):
        splits = honest(run_indices, test_run)
        train, validation = splits[0]
        return [(np.r_[train, run_indices[test_run]], validation), *splits[1:]]

    monkeypatch.setattr(_cv, "inner_splits", leaky)
    with pytest.raises(FrissonError, match="Nested CV leak"):
        fit_layer_profiles(features, responses, n_permutations=0, progress_bar=False)
    with pytest.raises(FrissonError, match="Nested CV leak"):
        variance_partition(features["layer0"], features["layer0"], responses)


def test_pca_is_fitted_on_training_runs_only(monkeypatch):
    features, responses, _ = _planted(n_layers=1, n_runs=4, n_times=50, n_responsive=2, n_null=0)
    seen = []
    original = _profiles._fit_projection

    def spy(blocks, n_components):
        seen.append([b.copy() for b in blocks])
        return original(blocks, n_components)

    monkeypatch.setattr(_profiles, "_fit_projection", spy)
    fit_layer_profiles(features, responses, n_permutations=0, progress_bar=False)
    on_grid = [s.align_to(r).values for s, r in zip(features["layer0"], responses, strict=True)]
    assert len(seen) == 4
    for test_run, blocks in enumerate(seen):
        assert len(blocks) == 3
        assert not any(np.array_equal(b, on_grid[test_run]) for b in blocks)


def test_higher_noise_gets_a_larger_lambda():
    rng = np.random.default_rng(4)
    feats, resp = {"x": []}, []
    weights = rng.standard_normal((16, 40))
    for _ in range(5):
        x = rng.standard_normal((120, 16))
        signal = x @ weights / 4
        y = np.c_[
            signal[:, :20] + 0.2 * rng.standard_normal((120, 20)),
            signal[:, 20:] + 10 * rng.standard_normal((120, 20)),
        ]
        feats["x"].append(TimeSeries(x, rate_hz=1.0))
        resp.append(TimeSeries(y, rate_hz=1.0))
    profiles = fit_layer_profiles(
        feats, resp, delays_s=[0], n_components=None, n_permutations=0, progress_bar=False
    )
    low, high = profiles.alphas[0, :, :20], profiles.alphas[0, :, 20:]
    assert np.median(high) >= 30 * np.median(low)
    assert np.all(np.median(high, axis=0) > np.median(low, axis=0).max())


# -------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("shape", [(150, 20), (60, 200)])  # primal-shaped, kernel-shaped
@pytest.mark.filterwarnings("ignore:Solving ridge is slower:UserWarning")  # primal on purpose
def test_solvers_agree(shape):
    rng = np.random.default_rng(6)
    n, p = shape
    x = rng.standard_normal((n, p))
    y = x @ rng.standard_normal((p, 5)) / np.sqrt(p) + rng.standard_normal((n, 5)) * [
        [0.1, 0.5, 1, 3, 10]
    ]
    x_test = rng.standard_normal((30, p))
    alphas = np.logspace(-1, 5, 13)
    splits = [
        (np.r_[0 : 2 * n // 3], np.r_[2 * n // 3 : n]),
        (np.r_[n // 3 : n], np.r_[0 : n // 3]),
    ]
    results = {}
    with encoding._Solver("eigh", "cpu") as solver:
        for kind in ("eigh", "primal", "kernel"):
            solver.solver = kind
            results[kind] = solver.cv(x, y, x_test, alphas, splits)
    for kind in ("primal", "kernel"):
        np.testing.assert_array_equal(results[kind][0], results["eigh"][0])
        np.testing.assert_allclose(results[kind][1], results["eigh"][1], atol=1e-6, rtol=0)
    assert len(set(results["eigh"][0].tolist())) > 2  # the targets chose different alphas
    # fixed-alpha refits (the null's path) agree too
    per_target = alphas[results["eigh"][0]]
    with encoding._Solver("primal", "cpu") as solver:
        primal = solver.predict(x, y, x_test, per_target)
        solver.solver = "kernel"
        kernel = solver.predict(x, y, x_test, per_target)
    eigh = encoding.solve_eigh(x, y, x_test, per_target)
    np.testing.assert_allclose(primal, eigh, atol=1e-6)
    np.testing.assert_allclose(kernel, eigh, atol=1e-6)


def test_fit_layer_profiles_same_answer_with_every_solver():
    features, responses, _ = _planted(n_layers=2, n_runs=3, n_times=80, n_responsive=4, n_null=2)
    out = {
        s: fit_layer_profiles(
            features, responses, solver=s, n_permutations=3, progress_bar=False, device="cpu"
        )
        for s in ("eigh", "primal", "kernel")
    }
    for s in ("primal", "kernel"):
        np.testing.assert_allclose(out[s].r, out["eigh"].r, atol=1e-6)
        np.testing.assert_array_equal(out[s].alphas, out["eigh"].alphas)
        np.testing.assert_array_equal(out[s].p, out["eigh"].p)


def test_solver_registry_and_solver_params():
    assert set(CV_SOLVERS) == set(FIXED_ALPHA_SOLVERS) == set(encoding.SOLVERS) - {"auto"}
    features, responses, _ = _planted(n_layers=2, n_runs=3, n_times=80, n_responsive=4, n_null=2)
    options = {"n_permutations": 3, "progress_bar": False, "device": "cpu"}
    whole = fit_layer_profiles(features, responses, solver="eigh", **options)
    batched = fit_layer_profiles(
        features, responses, solver="eigh", solver_params={"n_targets_batch": 4}, **options
    )
    # batched over targets (6 units in batches of 4) equals one pass (to rounding: BLAS
    # sums a batch's products in another order), and the units differ
    np.testing.assert_allclose(batched.r, whole.r, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(batched.alphas, whole.alphas)
    np.testing.assert_array_equal(batched.p, whole.p)
    assert np.unique(whole.alphas).size > 1 and np.unique(whole.r).size == whole.r.size
    # the setting reaches himalaya's solvers too: same answer with 2 targets at a time
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((90, 6)), rng.standard_normal((90, 5))
    splits = [(np.arange(45, 90), np.arange(45)), (np.arange(45), np.arange(45, 90))]
    alphas = np.logspace(-1, 3, 5)
    best, eigh = CV_SOLVERS["eigh"](x, y, x[:10], alphas, splits)
    for name in ("primal", "kernel"):
        with encoding._Solver(name, "cpu", {"n_targets_batch": 2}) as solve:
            got_best, got = solve.cv(x, y, x[:10], alphas, splits)
            fixed = solve.predict(x, y, x[:10], alphas[best])
        np.testing.assert_array_equal(got_best, best)
        np.testing.assert_allclose(got, eigh, atol=1e-8)
        np.testing.assert_allclose(fixed, eigh, atol=1e-8)
    with pytest.raises(ParameterError, match="n_targets_batch must be >= 1"):
        fit_layer_profiles(
            features, responses, solver="eigh", solver_params={"n_targets_batch": 0}, **options
        )
    with pytest.raises(ParameterError, match="holds alphas, which the encoding model passes"):
        fit_layer_profiles(features, responses, solver_params={"alphas": [1.0]}, **options)
    with pytest.raises(ParameterError, match=r"n_iter are not settings.*valid keys: n_targets"):
        fit_layer_profiles(features, responses, solver_params={"n_iter": 3}, **options)
    with pytest.raises(ParameterError, match="solver_params must be a dict"):
        fit_layer_profiles(features, responses, solver_params=[("n_targets_batch", 2)], **options)


def test_solver_params_reach_the_registered_functions(monkeypatch):
    features, responses, _ = _planted(n_layers=1, n_runs=3, n_times=60, n_responsive=3, n_null=0)
    calls = []

    def spy(kind, registry):
        original = registry[kind]

        @functools.wraps(original)  # keeps the signature solver_params are checked against
        def wrapped(*args, **kwargs):
            calls.append((registry is CV_SOLVERS, kwargs))
            return original(*args, **kwargs)

        monkeypatch.setitem(registry, kind, wrapped)

    spy("eigh", CV_SOLVERS)
    spy("eigh", FIXED_ALPHA_SOLVERS)
    profiles = fit_layer_profiles(
        features,
        responses,
        solver_params={"n_targets_batch": 7},
        n_permutations=2,
        device="cpu",
        progress_bar=False,
    )
    # 3 outer folds choose alpha; the null applies each fold's fitted map (no refit)
    assert [cv for cv, _ in calls].count(True) == 3
    assert [cv for cv, _ in calls].count(False) == 0
    assert profiles.n_permutations == 2 and np.isfinite(profiles.p).all()
    assert all(kwargs == {"n_targets_batch": 7} for _, kwargs in calls)


def test_one_ridge_alpha_grid_for_every_model():
    import inspect

    np.testing.assert_array_equal(DEFAULT_ALPHAS, np.logspace(-2, 8, 21))
    for function in (fit_layer_profiles, variance_partition):
        assert inspect.signature(function).parameters["alphas"].default is DEFAULT_ALPHAS
    assert DelayedRidge().alphas is DEFAULT_ALPHAS
    # The grid grew from logspace(-1, 7, 17) (the same half-decade points, 0.1-1e7): only
    # units at the old top (noise units, which now choose 1e8) change, and by little.
    features, responses, _ = _planted(n_layers=2, n_runs=4, n_times=80, n_responsive=6, n_null=4)
    options = {"n_permutations": 5, "progress_bar": False, "device": "cpu"}
    new = fit_layer_profiles(features, responses, **options)
    old = fit_layer_profiles(features, responses, alphas=np.logspace(-1, 7, 17), **options)
    inside = old.alphas < 1e7
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(new.alphas[inside], old.alphas[inside])
    assert np.all(new.alphas[~inside] >= 1e7)
    np.testing.assert_allclose(new.r, old.r, atol=1e-4)
    np.testing.assert_array_equal(new.p, old.p)


def test_phase_randomisation_keeps_spectra_and_cross_covariance():
    rng = np.random.default_rng(7)
    x = _ar(rng, 256, 3, phi=0.3) @ rng.standard_normal((3, 3))
    phases = encoding._random_phases(0, 0, 0, 256)
    y = encoding._phase_randomise(x, phases)
    np.testing.assert_allclose(
        np.abs(np.fft.rfft(y, axis=0)), np.abs(np.fft.rfft(x, axis=0)), rtol=1e-8, atol=1e-8
    )
    np.testing.assert_allclose(np.cov(y.T), np.cov(x.T), rtol=1e-8, atol=1e-10)
    assert abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1]) < 0.3  # the time course itself is new


# ------------------------------------------------------------------- ceiling, partition
@pytest.mark.parametrize("n_subjects, noise_var", [(6, 1.0), (9, 4.0)])
def test_noise_ceiling_matches_analytic_reliability(n_subjects, noise_var):
    rng = np.random.default_rng(8)
    n_units = 40
    signal = [rng.standard_normal((500, n_units)) for _ in range(2)]  # 2 runs
    subjects = [
        [
            TimeSeries(s + 3.0 + np.sqrt(noise_var) * rng.standard_normal(s.shape), 1.0)
            for s in signal
        ]
        for _ in range(n_subjects)
    ]
    reliability = 1.0 / (1.0 + noise_var / n_subjects)
    ceiling = noise_ceiling(subjects, "split-half", n_splits=50)
    assert abs(np.mean(ceiling**2) - reliability) < 0.02
    assert np.all(np.abs(ceiling**2 - reliability) < 0.08)
    isc = noise_ceiling(subjects, "isc")
    expected = 1.0 / np.sqrt((1 + noise_var) * (1 + noise_var / (n_subjects - 1)))
    assert abs(np.mean(isc) - expected) < 0.02


def test_variance_partition_on_planted_bands():
    rng = np.random.default_rng(9)
    acoustic, latent, responses = [], [], []
    for _ in range(4):
        shared = rng.standard_normal((200, 1))
        a = np.c_[rng.standard_normal((200, 2)), shared]
        lat = np.c_[rng.standard_normal((200, 2)), shared]
        y = np.c_[a[:, 0] + a[:, 1], lat[:, 0] - lat[:, 1], 1.5 * shared[:, 0]]
        y = y + 0.7 * rng.standard_normal(y.shape)
        acoustic.append(TimeSeries(a, 1.0))
        latent.append(TimeSeries(lat, 1.0))
        responses.append(TimeSeries(y, 1.0, names=["acoustic-only", "latent-only", "shared"]))
    table = variance_partition(acoustic, latent, responses, delays_s=[0]).set_index("unit")
    truth = 2 / (2 + 0.49)  # R^2 of a perfect model
    a_only, l_only, both = (table.loc[u] for u in ("acoustic-only", "latent-only", "shared"))
    assert a_only.unique_acoustic > 0.6 and abs(a_only.unique_latent) < 0.03
    assert l_only.unique_latent > 0.6 and abs(l_only.unique_acoustic) < 0.03
    assert both.shared > 0.6 and abs(both.unique_acoustic) < 0.03 and abs(both.unique_latent) < 0.03
    assert abs(a_only.r2_joint - truth) < 0.08


# ----------------------------------------------------------------------------- errors
def _small():
    return _planted(n_layers=1, n_runs=3, n_times=40, n_responsive=2, n_null=0)[:2]


def test_errors_name_the_problem():
    features, responses = _small()
    with pytest.raises(DataError, match="at least 3"):
        fit_layer_profiles(features, responses[:2], progress_bar=False)
    wide = [responses[0], responses[1], TimeSeries(np.zeros((40, 3)), 1.0)]
    with pytest.raises(
        DataError, match=r"different numbers of units \(run 0: 2, run 1: 2, run 2: 3"
    ):
        fit_layer_profiles(features, wide, progress_bar=False)
    values = responses[2].values.copy()
    values[5, 1] = np.nan
    nan_runs = [responses[0], responses[1], responses[2].replace(values)]
    with pytest.raises(DataError, match=r"responses\[2\] \(run 2\).*x1"):
        fit_layer_profiles(features, nan_runs, progress_bar=False)
    far = {"layer0": [*features["layer0"][:2], features["layer0"][2].replace(start_s=1000.0)]}
    with pytest.raises(DataError, match=r"features\['layer0'\]\[2\].*no overlap"):
        fit_layer_profiles(far, responses, progress_bar=False)
    with pytest.raises(ParameterError, match="n_components"):
        fit_layer_profiles(features, responses, n_components=1.5, progress_bar=False)
    with pytest.raises(ParameterError, match="delays_s"):
        fit_layer_profiles(features, responses, delays_s=[-1, 2], progress_bar=False)
    with pytest.raises(ParameterError, match="one series per run"):
        fit_layer_profiles({"x": features["layer0"][0]}, responses, progress_bar=False)
    with pytest.raises(ParameterError, match="solver"):
        fit_layer_profiles(features, responses, solver="lsqr", progress_bar=False)
