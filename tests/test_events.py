import numpy as np
import pytest
from scipy.signal import lfilter

from frisson.errors import DataError, ParameterError
from frisson.events import compare_epochs, control_times, epochs
from frisson.timeseries import TimeSeries


def test_epochs_cut_baseline_correct_and_drop():
    rate = 10.0
    t = np.arange(0, 60, 1 / rate)
    response = TimeSeries(2.0 + 0.5 * t, rate)  # a ramp: every epoch is the same shape
    ep = epochs(response, [10.0, 30.0, 1.0, 58.0], window_s=(-2.0, 4.0))
    np.testing.assert_array_equal(ep.event_times_s, [10.0, 30.0])
    np.testing.assert_array_equal(ep.dropped_s, [1.0, 58.0])
    np.testing.assert_allclose(ep.times_s, np.arange(-20, 41) / rate)
    # Baseline = mean over t < 0 (-2 .. -0.1 s) of the ramp, i.e. its value at -1.05 s.
    np.testing.assert_allclose(ep.data[0], 0.5 * (ep.times_s + 1.05), atol=1e-12)
    np.testing.assert_allclose(ep.data[0], ep.data[1])
    assert ep.baseline_s == (-2.0, pytest.approx(-0.1))
    raw = epochs(response, [10.0], window_s=(-2.0, 4.0), baseline_s=None)
    assert raw.data[0, 20] == pytest.approx(7.0)


def test_epochs_drop_nan_and_need_a_channel():
    values = np.zeros((200, 2))
    values[45:50, 0] = np.nan  # 4.5-4.9 s, inside the epoch around 5 s
    response = TimeSeries(values, 10.0, names=["eda", "ppg"])
    with pytest.raises(ParameterError, match="name one with channel="):
        epochs(response, [5.0])
    ep = epochs(response, [5.0, 15.0], channel="eda", window_s=(-1, 1))
    np.testing.assert_array_equal(ep.event_times_s, [15.0])
    with pytest.raises(ParameterError, match="contains no sample"):
        epochs(response, [5.0], channel="ppg", window_s=(0, 1), baseline_s=(-3, -2))


def test_control_times_stay_out_of_event_windows_with_the_same_count():
    events = np.array([20.0, 45.0, 70.0])
    controls = control_times(events, duration_s=90.0, window_s=(-2, 8), seed=3)
    assert controls.size == 3
    assert np.all(controls >= 2.0) and np.all(controls <= 82.0)
    inside = (controls[:, None] > events[None] - 2) & (controls[:, None] < events[None] + 8)
    assert not inside.any()
    np.testing.assert_array_equal(controls, control_times(events, duration_s=90.0, seed=3))
    assert not np.array_equal(controls, control_times(events, duration_s=90.0, seed=4))
    # Drawn uniformly from the admissible time: 2-18, 28-43, 53-68, 78-82 s (43 s in all).
    many = control_times(events, duration_s=90.0, n=20000, seed=0)
    expected = np.array([16, 15, 15, 4]) / 50
    counts = np.histogram(many, bins=[2, 18, 43, 68, 82])[0] / many.size
    np.testing.assert_allclose(counts, expected, atol=0.02)
    # A symmetric distance instead: 10 s leaves 2-10, 30-35, 55-60 and 80-82 s.
    strict = control_times(events, duration_s=90.0, min_distance_s=10.0, n=500, seed=1)
    assert np.all(np.abs(strict[:, None] - events[None]) >= 10.0)
    assert control_times([10.0, 20.0, 30.0], duration_s=40.0, min_distance_s=10.0).size == 0
    with pytest.raises(DataError, match="no room"):
        control_times(events, duration_s=5.0)


def test_cluster_test_finds_a_planted_response_where_it_is():
    rng = np.random.default_rng(0)
    times = np.arange(-20, 81) / 10
    bump = np.where((times >= 2) & (times <= 5), 1.0, 0.0)
    events = bump + 0.5 * rng.standard_normal((15, times.size))
    control = 0.5 * rng.standard_normal((15, times.size))
    result = compare_epochs(events, control, times, n_permutations=500)
    best = min(result.clusters, key=lambda c: c[3])
    assert best[3] < 0.01
    assert 1.5 <= best[0] <= 2.5 and 4.5 <= best[1] <= 5.5
    table = result.to_frame()
    assert list(table.columns) == ["start_s", "end_s", "mass", "p", "peak_dz"]
    assert table["peak_dz"].max() > 1.0
    np.testing.assert_allclose(result.events_mean, events.mean(axis=0))


def test_cluster_test_is_calibrated_on_null_data():
    """On autocorrelated null epochs, a cluster with p < 0.05 appears in about 5 % of datasets."""
    rng = np.random.default_rng(1)
    n_sets, rejected = 200, 0
    for i in range(n_sets):
        noise = lfilter([1.0], [1.0, -0.8], rng.standard_normal((2, 12, 101)), axis=-1)
        result = compare_epochs(noise[0], noise[1], np.arange(101) / 10, n_permutations=200, seed=i)
        rejected += result.min_p < 0.05
    assert 0.015 <= rejected / n_sets <= 0.09


def test_compare_epochs_errors():
    with pytest.raises(DataError, match="at least 3 participants"):
        compare_epochs(np.zeros((2, 5)), np.zeros((2, 5)), np.arange(5))
    with pytest.raises(DataError, match="must both be"):
        compare_epochs(np.zeros((4, 5)), np.zeros((4, 6)), np.arange(5))
