import numpy as np
import pytest
from scipy.signal import lfilter

from frisson.errors import DataError
from frisson.isc import common_grid, isc, isc_near_events, sliding_isc
from frisson.timeseries import TimeSeries


def _shared_plus_noise(rng, n_times, n, sigma):
    return rng.standard_normal((n_times, 1)) + sigma * rng.standard_normal((n_times, n))


def test_isc_matches_the_analytic_value_for_a_shared_signal():
    rng = np.random.default_rng(0)
    n, sigma = 8, 1.0
    data = TimeSeries(_shared_plus_noise(rng, 40000, n, sigma), 10.0)
    loo = isc(data, method="loo", n_surrogates=20)
    expected_loo = 1 / np.sqrt((1 + sigma**2) * (1 + sigma**2 / (n - 1)))
    assert loo.values.shape == (n,)
    assert loo.mean == pytest.approx(expected_loo, abs=0.01)
    pairwise = isc(data, method="pairwise", n_surrogates=20)
    assert pairwise.values.shape == (n * (n - 1) // 2,)
    assert pairwise.mean == pytest.approx(1 / (1 + sigma**2), abs=0.01)


def test_isc_null_is_calibrated_for_autocorrelated_participants():
    rng = np.random.default_rng(2)
    rejected, n_sets = 0, 400  # binomial SD of the rate: 1.1 %
    for i in range(n_sets):
        data = lfilter([1.0], [1.0, -0.9], rng.standard_normal((600, 5)), axis=0)
        rejected += isc(TimeSeries(data, 10.0), n_surrogates=100, seed=i).p < 0.05
    assert 0.02 <= rejected / n_sets <= 0.08


def test_common_grid_aligns_participants_of_different_rates():
    t = np.arange(0, 30, 0.01)
    a = TimeSeries(np.sin(t), 100.0)
    b = TimeSeries(np.sin(np.arange(0, 30, 0.1)), 10.0)
    grid = common_grid([b, a])
    assert grid.rate_hz == 10.0 and grid.n_channels == 2
    np.testing.assert_allclose(grid.values[:, 0], grid.values[:, 1], atol=0.01)
    with pytest.raises(DataError, match="at least 2 participants"):
        common_grid([a])


def test_sliding_isc_locates_the_shared_half():
    rng = np.random.default_rng(3)
    n_times = 1200  # 120 s at 10 Hz; participants share a signal only in the second half
    shared = np.r_[np.zeros(600), lfilter([1.0], [1.0, -0.8], rng.standard_normal(600))]
    data = shared[:, None] + 0.5 * lfilter(
        [1.0], [1.0, -0.8], rng.standard_normal((n_times, 6)), axis=0
    )
    result = sliding_isc(TimeSeries(data, 10.0), window_s=10.0, hop_s=2.0, n_surrogates=200)
    times = result.isc.times_s
    late, early = times > 70, times < 50
    assert result.isc.values[late, 0].mean() > 0.6
    assert abs(result.isc.values[early, 0].mean()) < 0.15
    assert np.all(result.p_fwe[late] < 0.05)
    assert np.mean(result.p_fwe[early] < 0.05) < 0.1
    assert np.all(result.p_fwe >= result.p)


def test_isc_near_events():
    rate = 1.0
    times = np.arange(200.0)
    events = np.array([40.0, 90.0, 165.0])
    values = 0.1 + 0.5 * np.exp(-0.5 * ((times[:, None] - events[None]) / 3) ** 2).sum(axis=1)
    from frisson.isc import SlidingISC

    sliding = SlidingISC(TimeSeries(values, rate), np.ones(200), np.ones(200), 10.0, 1.0)
    result = isc_near_events(sliding, events, radius_s=5.0, n_surrogates=500)
    assert result.near_mean > result.far_mean and result.p < 0.01
    elsewhere = isc_near_events(sliding, [65.0, 120.0, 190.0], radius_s=5.0, n_surrogates=500)
    assert elsewhere.p > 0.5


# ------------------------------------------------- calibration on null listeners (issue 13)
def _independent_listeners(rng, n_times, n_listeners):
    """Independent listeners' AR(1) noise, phi in 0.9-0.99 each: ``(n_times, n_listeners)``."""
    columns = [
        lfilter([1.0], [1.0, -rng.uniform(0.9, 0.99)], rng.standard_normal(n_times + 500))[500:]
        for _ in range(n_listeners)
    ]
    return np.column_stack(columns)


def test_isc_near_events_is_calibrated_on_stationary_null_isc():
    """400 null songs (60-180 s at 10 Hz, 5-14 independent listeners, 2-5 events).

    A calibrated test rejects 5 % at alpha .05; binomial bounds for 400 songs
    (99.5 % of calibrated runs inside): 9-33 rejections, 2.25-8.25 %. The
    former null (events shifted by offsets >= 2 radius_s) rejected 8.5-9 % of
    such songs (benchmarks/latent_nulls.py).
    """
    rng = np.random.default_rng(11)
    rejected, n_sets = 0, 400
    for i in range(n_sets):
        n_times = int(rng.uniform(60, 180) * 10)
        data = _independent_listeners(rng, n_times, int(rng.integers(5, 15)))
        sliding = sliding_isc(TimeSeries(data, 10.0), window_s=10.0, hop_s=1.0, n_surrogates=1)
        duration = sliding.isc.duration_s
        events = np.sort(rng.uniform(10, duration - 10, int(rng.integers(2, 6))))
        result = isc_near_events(sliding, events, radius_s=5.0, seed=i)
        rejected += result.p < 0.05
    assert 9 <= rejected <= 33


def test_isc_near_events_finds_a_planted_event_locked_increase():
    # Listeners share a signal only within 5 s of each of 3 events; 20 songs of 120 s.
    rng = np.random.default_rng(12)
    found = 0
    for i in range(20):
        t = np.arange(1200) / 10.0
        events = np.sort(rng.choice(np.arange(15.0, 105.0, 15.0), size=3, replace=False))
        near = (np.abs(t[:, None] - events[None]) <= 5.0).any(axis=1)
        shared = lfilter([1.0], [1.0, -0.8], rng.standard_normal(1200)) * near
        data = shared[:, None] + _independent_listeners(rng, 1200, 8)
        sliding = sliding_isc(TimeSeries(data, 10.0), window_s=10.0, hop_s=1.0, n_surrogates=1)
        result = isc_near_events(sliding, events, radius_s=5.0, seed=i)
        found += result.p < 0.05
        assert result.null[0] == pytest.approx(result.near_mean - result.far_mean)
    assert found >= 18


def test_isc_near_events_p_counts_every_shift_and_refuses_degenerate_sets():
    from frisson.isc import SlidingISC

    values = np.r_[np.zeros(40), 1.0, np.zeros(59)]  # one peak at 40 s, 100 windows
    sliding = SlidingISC(TimeSeries(values, 1.0), np.ones(100), np.ones(100), 10.0, 1.0)
    result = isc_near_events(sliding, [40.0], radius_s=0.5)
    assert result.null.size == 100 and result.p == pytest.approx(1 / 100)
    # A flat ISC: every shift ties with the observed contrast, so p = 1.
    flat = SlidingISC(TimeSeries(np.ones(100), 1.0), np.ones(100), np.ones(100), 10.0, 1.0)
    assert isc_near_events(flat, [40.0], radius_s=0.5).p == 1.0
    subset = isc_near_events(sliding, [40.0], radius_s=0.5, n_surrogates=19, seed=0)
    assert subset.null.size == 20 and subset.p == pytest.approx(1 / 20)
    with pytest.raises(DataError, match="no window"):
        isc_near_events(sliding, [500.0], radius_s=2.0)
    with pytest.raises(DataError, match="every window"):
        isc_near_events(sliding, [50.0], radius_s=60.0)
