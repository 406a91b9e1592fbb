import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from frisson import latent
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries


def _ar1(rng, n, phi, burn=200):
    return lfilter([1.0], [1.0, -phi], rng.standard_normal(n + burn))[burn:]


# ------------------------------------------------------------------ smoothing and PCA
def test_sliding_mean_defaults_match_the_chills_study():
    rate = 44100 / 512  # DAC frames
    frames = TimeSeries(np.random.default_rng(0).standard_normal((1000, 4)), rate)
    smooth = latent.sliding_mean(frames)
    assert smooth.rate_hz == pytest.approx(rate / 4)  # 21.5 Hz
    assert smooth.n_times == (1000 - 100) // 4 + 1
    np.testing.assert_allclose(smooth.values[3], frames.values[12:112].mean(axis=0))
    assert smooth.start_s == pytest.approx(49.5 / rate)


def test_pca_recovers_planted_components_and_variance():
    rng = np.random.default_rng(0)
    n, dims = 2000, 30
    loadings = np.linalg.qr(rng.standard_normal((dims, 3)))[0].T  # orthonormal rows
    sources = rng.standard_normal((n, 3)) * [5.0, 3.0, 1.0]
    values = sources @ loadings + 0.01 * rng.standard_normal((n, dims)) + 7.0
    result = latent.trajectory_pca(TimeSeries(values, 10.0, start_s=3.0), n_components=3)
    assert result.pcs.names == ("PC1", "PC2", "PC3") and result.pcs.start_s == 3.0
    for k in range(3):
        assert abs(result.components[k] @ loadings[k]) == pytest.approx(1.0, abs=1e-3)
        # Sign rule: the largest-magnitude loading is positive.
        assert result.components[k][np.argmax(np.abs(result.components[k]))] > 0
    expected = np.array([25.0, 9.0, 1.0]) / 35.0
    np.testing.assert_allclose(result.explained_variance_ratio, expected, atol=0.02)
    np.testing.assert_allclose(result.pcs.values.mean(axis=0), 0, atol=1e-9)


def test_pca_refuses_nan():
    values = np.ones((50, 3))
    values[10] = np.nan
    with pytest.raises(DataError, match=r"1 time points with NaN or inf \(first at 1\.00 s\)"):
        latent.trajectory_pca(TimeSeries(values, 10.0))


def test_clusters_recover_planted_groups_in_time():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]])
    order = [0, 1, 2, 3, 1]  # a returning section reuses its cluster
    points = np.concatenate([centres[k] + 0.4 * rng.standard_normal((80, 2)) for k in order])
    result = latent.cluster_trajectory(TimeSeries(points, 20.0), k_range=(2, 7), seed=0)
    assert result.n_clusters == 4
    labels = result.labels.values[:, 0].reshape(5, 80)
    assert all(np.all(row == row[0]) for row in labels)
    np.testing.assert_array_equal(labels[:, 0], [0, 1, 2, 3, 1])  # numbered by first appearance
    assert max(result.silhouette_by_k, key=result.silhouette_by_k.get) == 4


# ------------------------------------------------------------------------- transitions
def test_variance_transitions_find_planted_steps_and_ignore_ripples():
    rng = np.random.default_rng(0)
    rate = 21.5
    boundaries = np.array([15.0, 32.0, 50.0, 61.0])
    times = np.arange(int(80 * rate)) / rate
    levels = np.array([0.0, 4.0, 1.0, 5.0, 2.0])[np.searchsorted(boundaries, times, side="right")]
    pc1 = levels + 0.3 * np.sin(2 * np.pi * 0.3 * times) + 0.1 * rng.standard_normal(times.size)
    found = latent.variance_transitions(TimeSeries(pc1, rate, names=["PC1"]))
    np.testing.assert_allclose(
        found.times_s, boundaries, atol=0.25
    )  # the ripple shifts peaks a little
    assert found.method == "pc1_variance"
    assert found.strength.max() == pytest.approx(1.0)
    # A wider minimum distance merges the two boundaries 11 s apart.
    merged = latent.variance_transitions(TimeSeries(pc1, rate, names=["PC1"]), min_distance_s=12.0)
    assert merged.times_s.size == 3


def test_foote_novelty_peaks_at_changes_of_a_multidimensional_latent():
    rng = np.random.default_rng(1)
    states = rng.standard_normal((3, 16))
    frames = np.concatenate([np.tile(states[k], (200, 1)) for k in (0, 1, 2)])
    frames += 0.3 * rng.standard_normal(frames.shape)
    found = latent.novelty_transitions(TimeSeries(frames, 10.0), kernel_s=6.0)
    np.testing.assert_allclose(found.times_s, [20.0, 40.0], atol=0.2)
    with pytest.raises(DataError, match="kernel_s=100"):
        latent.foote_novelty(TimeSeries(frames, 10.0), kernel_s=100)


def test_score_boundaries_against_hand_counts():
    scores = latent.score_boundaries([10.3, 19.0, 31.0, 45.0], [10.0, 20.0, 30.0], duration_s=60.0)
    half, three = scores
    # 0.5 s: one hit (10.3) of 4 estimates and 3 references.
    assert (half.precision, half.recall) == (0.25, pytest.approx(1 / 3))
    # 3 s: three hits; 45.0 is a false alarm.
    assert (three.precision, three.recall) == (0.75, 1.0)
    assert three.f_measure == pytest.approx(2 * 0.75 / 1.75)
    assert latent.score_boundaries([], [5.0], duration_s=10.0)[0].f_measure == 0.0


# ---------------------------------------------------------------- lagged correlations
def test_lagged_pearson_matches_numpy_at_every_lag():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(300), rng.standard_normal(300) + 3
    lags = np.arange(-20, 21)
    fast = latent._lagged_pearson(x[np.newaxis], y[np.newaxis], lags)[0, 0]
    for lag, r in zip(lags, fast, strict=True):
        a, b = (x[lag:], y[: y.size - lag]) if lag >= 0 else (x[:lag], y[-lag:])
        assert r == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-10)


def test_lagged_correlation_recovers_a_planted_lag():
    rng = np.random.default_rng(5)
    rate = 20.0
    feature = _ar1(rng, 2000, 0.95)
    pc = np.roll(feature, 24) + 0.5 * rng.standard_normal(2000)  # pc follows feature by 1.2 s
    result = latent.lagged_correlation(
        pc, feature, rate_hz=rate, lag_range_s=(-3, 3), n_surrogates=199
    )
    assert result.lag_s == pytest.approx(1.2)
    assert result.r > 0.5
    assert result.p == pytest.approx(1 / 200)
    assert result.lags_s[0] == -3 and result.lags_s[-1] == 3


@pytest.mark.parametrize("null", ["circular", "phase", "dct"])
def test_surrogate_test_is_calibrated_on_independent_ar1_pairs(null):
    """300 pairs of independent AR(1) series (phi = 0.9): a valid test rejects ~5 % at alpha 0.05.

    The naive Pearson p-value assumes 500 independent pairs, but with phi = 0.9 there are
    only about n (1 - phi^2) / (1 + phi^2) ~ 53 effective ones: the null spread of r is
    about three times wider than it assumes, and it rejects about half the time. The
    surrogates keep each series' autocorrelation, so their spread of r is the right one.
    """
    rng = np.random.default_rng(2024)
    rejected = naive = 0
    for i in range(300):
        x, y = _ar1(rng, 500, 0.9), _ar1(rng, 500, 0.9)
        result = latent.lagged_correlation(
            x, y, rate_hz=1.0, lag_range_s=(-5, 5), null=null, n_surrogates=300, seed=i
        )
        rejected += result.p < 0.05
        naive += stats.pearsonr(x, y).pvalue < 0.05
    assert 0.02 <= rejected / 300 <= 0.08
    assert naive / 300 > 0.3


def test_surrogates_keep_autocorrelation():
    rng = np.random.default_rng(0)
    y = _ar1(rng, 4000, 0.9)
    for null in ("circular", "phase"):
        surrogates = latent.make_surrogates(y, null=null, n_surrogates=20, min_shift=100, seed=1)
        lag1 = [np.corrcoef(s[1:], s[:-1])[0, 1] for s in surrogates]
        assert np.mean(lag1) == pytest.approx(0.9, abs=0.02)
        assert not np.allclose(surrogates[0], y)
    shifts = latent.make_surrogates(
        np.arange(10.0), null="circular", n_surrogates=100, min_shift=3, seed=0
    )
    np.testing.assert_array_equal(shifts[:, 0], [7, 6, 5, 4, 3])  # every shift 3..7, in order


def test_lagged_correlation_errors():
    x = np.zeros(100)
    with pytest.raises(DataError, match="equal length"):
        latent.lagged_correlation(x, np.zeros(99), rate_hz=1.0)
    with pytest.raises(ParameterError, match="beyond half the series"):
        latent.lagged_correlation(x, x, rate_hz=1.0, lag_range_s=(-80, 0))
    with pytest.raises(ParameterError, match="null='shuffle' is not valid"):
        latent.lagged_correlation(x, x + 1, rate_hz=1.0, null="shuffle")
    with pytest.raises(ParameterError, match="seed=None"):
        latent.lagged_correlation(x, x + 1, rate_hz=1.0, seed=None)


def test_feature_correlations_align_rates_and_find_the_related_feature():
    rng = np.random.default_rng(7)
    rate = 20.0
    drive = _ar1(rng, 3000, 0.97)
    pcs = TimeSeries(
        np.column_stack([drive, _ar1(rng, 3000, 0.97)]), rate, start_s=0.5, names=["PC1", "PC2"]
    )
    # Features at 100 Hz from 0 s: 'loud' is PC1 delayed by 0.5 s (it leads), 'other' is unrelated.
    fine_t = np.arange(0, 151, 0.01)
    loud = np.interp(fine_t + 0.5, pcs.times_s, drive)
    other = np.interp(fine_t, np.arange(3000) / rate, _ar1(rng, 3000, 0.97))
    features = TimeSeries(np.column_stack([loud, other]), 100.0, names=["loud", "other"])
    table = latent.feature_correlations(
        pcs, features, n_pcs=2, lag_range_s=(-1, 1), n_surrogates=199
    ).to_frame()
    row = table.set_index(["pc", "feature"]).loc[("PC1", "loud")]
    assert row.r > 0.95 and row.p == pytest.approx(0.005) and row.lag_s == pytest.approx(0.5)
    assert list(table.columns) == ["pc", "feature", "lag_s", "r", "p", "p_uncorrected"]
    assert len(table) == 4


def test_fades_at_the_ends_neither_count_nor_mask_inner_transitions():
    # A fade-in and fade-out dwarf a modest change at 40 s; edge_s keeps them out of the scale.
    rate = 20.0
    t = np.arange(int(80 * rate)) / rate
    pc1 = (
        np.where(t < 40, 0.0, 1.0)
        + 20 * np.clip(1 - t / 3, 0, None)
        + 20 * np.clip((t - 77) / 3, 0, None)
    )
    pcs = TimeSeries(pc1, rate, names=["PC1"])
    found = latent.variance_transitions(pcs, edge_s=5.0)
    np.testing.assert_allclose(found.times_s, [40.0], atol=0.1)
    assert found.strength[0] == pytest.approx(1.0)
    with pytest.raises(DataError, match="edge_s=50 leaves no time"):
        latent.variance_transitions(pcs, edge_s=50)


# ------------------------------------------- calibrated PC-feature tests (issue 13)
RATE_HZ = 21.5  # the chills study's PC rate (86.13 frames/s, hop 4)


def _section_structured(rng, n_times, n_channels, *, skewed=False):
    """Section-structured series like a song's PCs or features: ``(n_times, n_channels)``.

    Random section boundaries (sections 4-20 s), a random level per section and
    channel, plus AR(1) noise with phi in 0.9-0.99 and a random amplitude; with
    ``skewed`` every other channel is exponentiated (positive, skewed, like an
    envelope). Channels of one call share the boundaries, as one song's do.
    """
    bounds = [0]
    while bounds[-1] < n_times:
        bounds.append(bounds[-1] + int(rng.uniform(4, 20) * RATE_HZ))
    sections = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))[:n_times]
    out = np.empty((n_times, n_channels))
    for c in range(n_channels):
        levels = rng.standard_normal(len(bounds) - 1)[sections]
        noise = _ar1(rng, n_times, rng.uniform(0.9, 0.99))
        out[:, c] = levels + rng.uniform(0.2, 1.0) * noise / noise.std()
        if skewed and c % 2 == 0:
            out[:, c] = np.exp(out[:, c])
    return out


def _null_song(rng):
    """Independent PCs (3) and features (7) of one 20-60 s song at 21.5 Hz."""
    n_times = int(rng.uniform(20, 60) * RATE_HZ)
    pcs = TimeSeries(_section_structured(rng, n_times, 3), RATE_HZ, names=["PC1", "PC2", "PC3"])
    names = [f"f{i}" for i in range(7)]
    features = TimeSeries(_section_structured(rng, n_times, 7, skewed=True), RATE_HZ, names=names)
    return pcs, features


def _family_rejections(null, n_sets, seed, alphas=(0.05, 0.01)):
    rng = np.random.default_rng(seed)
    rejected = np.zeros(len(alphas))
    for i in range(n_sets):
        pcs, features = _null_song(rng)
        table = latent.feature_correlations(
            pcs, features, null=null, n_surrogates=99, seed=i
        ).to_frame()
        rejected += [table.p.min() <= alpha for alpha in alphas]
    return rejected / n_sets


def test_feature_correlations_family_wise_rate_on_section_structured_null_songs():
    """150 null songs, 21 pairs x 87 lags each: the corrected test rejects ~alpha per song.

    With 99 surrogates, ``p <= alpha`` is an exact-size rejection rule. Binomial
    bounds for 150 songs (a calibrated test passes each with > 99.5 %): at alpha
    .05, 2-15 rejections (1.3-10 %); at alpha .01, at most 5 (3.3 %). These songs
    give 10 and 3 (6.7 %, 2 %); ``benchmarks/latent_nulls.py`` measures 300 more.
    DCT signs alone (magnitudes kept) reject 10 % of these songs at p < .05, and
    the circular-shift null 31 of the first 40 (the test can fail).
    """
    rate_05, rate_01 = _family_rejections("dct", 150, seed=13)
    assert 2 / 150 <= rate_05 <= 15 / 150
    assert rate_01 <= 5 / 150
    circular_05, _ = _family_rejections("circular", 40, seed=13)
    assert circular_05 > 0.2


def test_feature_correlations_find_a_planted_lagged_relation_in_section_songs():
    # Feature f3 follows PC2 by 1 s, plus its own section-structured noise (r ~ 0.96);
    # 20 songs. With twice the noise (r ~ 0.9) 17 of these 20 are found: a 20-60 s
    # song has few sections, and a few sections can line up by chance.
    rng = np.random.default_rng(4)
    found = 0
    for i in range(20):
        pcs, features = _null_song(rng)
        values = features.values.copy()
        lag = round(1.0 * RATE_HZ)
        pc2 = pcs.channel("PC2")
        values[lag:, 3] = pc2[:-lag] / pc2.std() + 0.3 * values[lag:, 3] / values[:, 3].std()
        planted = features.replace(values)
        result = latent.feature_correlations(pcs, planted, n_surrogates=199, seed=i)
        row = result.to_frame().set_index(["pc", "feature"]).loc[("PC2", "f3")]
        found += row.p < 0.05 and row.lag_s == pytest.approx(-lag / RATE_HZ)
        assert row.p >= row.p_uncorrected
    assert found >= 19


def test_dct_surrogates_keep_mean_and_expected_dct_spectrum():
    from scipy import fft

    rng = np.random.default_rng(0)
    y = _section_structured(rng, 900, 1)[:, 0]
    surrogates = latent.make_surrogates(y, null="dct", n_surrogates=4000, min_shift=0, seed=3)
    np.testing.assert_allclose(surrogates.mean(axis=1), y.mean())
    power = (fft.dct(surrogates, norm="ortho", axis=1) ** 2).mean(axis=0)
    observed = fft.dct(y, norm="ortho") ** 2
    # Mean of 4000 chi2(1) multiples: within 15 % (4.7 SD) of each observed coefficient.
    np.testing.assert_allclose(power[1:], observed[1:], rtol=0.15)
    np.testing.assert_allclose(surrogates.var(axis=1).mean(), y.var(), rtol=0.02)
    # Lag-1 autocorrelation of an AR(1) with phi 0.9 is kept; the surrogates differ from y.
    ar = _ar1(rng, 4000, 0.9)
    s = latent.make_surrogates(ar, null="dct", n_surrogates=20, min_shift=0, seed=1)
    lag1 = [np.corrcoef(row[1:], row[:-1])[0, 1] for row in s]
    assert np.mean(lag1) == pytest.approx(0.9, abs=0.02)
    assert abs(np.corrcoef(s[0], ar)[0, 1]) < 0.2


def test_one_surrogate_draw_serves_every_feature_and_keeps_their_correlation():
    rng = np.random.default_rng(1)
    a = _ar1(rng, 1000, 0.95)
    b = 0.8 * a + 0.6 * _ar1(rng, 1000, 0.95)
    r_ab = np.corrcoef(a, b)[0, 1]
    draw = latent._draw_surrogates("dct", 1000, 200, 0, np.random.default_rng(0))
    sa, sb = (latent._apply_surrogates("dct", y, draw) for y in (a, b))
    shared = [np.corrcoef(x, y)[0, 1] for x, y in zip(sa, sb, strict=True)]
    assert np.median(shared) == pytest.approx(r_ab, abs=0.05)
    # Separate draws would make the two surrogate features unrelated.
    other = latent._apply_surrogates(
        "dct", b, latent._draw_surrogates("dct", 1000, 200, 0, np.random.default_rng(1))
    )
    separate = [np.corrcoef(x, y)[0, 1] for x, y in zip(sa, other, strict=True)]
    assert abs(np.median(separate)) < 0.1


def test_max_statistic_p_matches_a_direct_count():
    rng = np.random.default_rng(2)
    null = np.abs(rng.standard_normal((4, 99))) * np.array([[0.1], [0.2], [0.3], [0.4]])
    observed = np.array([0.25, 0.2, 0.3, 0.05])
    p, max_t = latent._max_statistic_p(observed, null)
    z = np.arctanh(null)
    standard = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)
    expected_max = standard.max(axis=0)
    np.testing.assert_allclose(max_t, expected_max)
    t_obs = (np.arctanh(observed) - z.mean(axis=1)) / z.std(axis=1)
    for k in range(4):
        assert p[k] == pytest.approx((1 + np.sum(expected_max >= t_obs[k])) / 100)
        uncorrected = (1 + np.sum(null[k] >= observed[k])) / 100
        assert p[k] >= uncorrected
