import numpy as np
import pytest

from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries


def test_time_axis_and_basic_properties():
    ts = TimeSeries(
        np.zeros((50, 2)), rate_hz=10.0, start_s=2.5, names=["a", "b"], units=["V", "s"]
    )
    assert ts.n_times == 50 and ts.n_channels == 2
    np.testing.assert_allclose(ts.times_s, 2.5 + np.arange(50) / 10)
    assert ts.duration_s == 5.0
    assert ts.end_s == pytest.approx(7.4)
    assert not ts.times_s.flags.writeable
    np.testing.assert_array_equal(ts.index_at([2.5, 2.54, 2.56, 7.4]), [0, 0, 1, 49])
    assert ts.select(["b"]).units == ("s",)
    with pytest.raises(ParameterError, match="No channel named 'c'; the series has a, b"):
        ts.channel("c")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": np.zeros((0, 2)), "rate_hz": 1.0}, "empty"),
        ({"values": np.zeros((2, 2, 2)), "rate_hz": 1.0}, "1-D or 2-D"),
        ({"values": np.zeros(4), "rate_hz": 0.0}, "rate_hz must be > 0"),
        ({"values": np.zeros(4), "rate_hz": np.nan}, "rate_hz must be a finite number"),
        ({"values": np.zeros((4, 2)), "rate_hz": 1.0, "names": ["a"]}, "names has 1 entries"),
        ({"values": np.zeros((4, 2)), "rate_hz": 1.0, "names": ["a", "a"]}, "unique"),
    ],
)
def test_invalid_construction(kwargs, message):
    with pytest.raises((DataError, ParameterError), match=message):
        TimeSeries(**kwargs)


def test_crop_is_inclusive_and_keeps_times():
    ts = TimeSeries(np.arange(20.0), rate_hz=4.0, start_s=1.0)
    cropped = ts.crop(2.0, 3.0)
    np.testing.assert_array_equal(cropped.values[:, 0], [4, 5, 6, 7, 8])
    assert cropped.start_s == 2.0
    assert ts.crop(None, 1.25).n_times == 2
    with pytest.raises(DataError, match="keeps no sample"):
        ts.crop(100.0, 200.0)


def test_downsampling_averages_each_new_sample_interval():
    # A linear ramp is reproduced exactly by a centred interval average.
    ts = TimeSeries(np.arange(1000.0) / 100, rate_hz=100.0)
    low = ts.resample(10.0)
    assert low.rate_hz == 10.0 and low.start_s == 0.0
    np.testing.assert_allclose(low.values[:, 0], low.times_s, atol=1e-12)
    # A 45 Hz sine (above the new Nyquist of 5 Hz) is strongly attenuated, a 0.5 Hz sine is kept.
    t = np.arange(10000) / 100
    both = TimeSeries(
        np.column_stack([np.sin(2 * np.pi * 45 * t), np.sin(2 * np.pi * 0.5 * t)]), 100.0
    )
    out = both.resample(10.0)
    assert np.abs(out.values[:, 0]).max() < 0.1
    np.testing.assert_allclose(out.values[:, 1], np.sin(2 * np.pi * 0.5 * out.times_s), atol=0.01)


def test_upsampling_interpolates_linearly_within_the_span():
    ts = TimeSeries([0.0, 2.0, 4.0], rate_hz=1.0, start_s=10.0)
    up = ts.resample(4.0)
    np.testing.assert_allclose(up.times_s, 10 + np.arange(9) / 4)
    np.testing.assert_allclose(up.values[:, 0], np.arange(9) / 2)


def test_nan_does_not_leak_into_neighbours_on_the_same_grid():
    ts = TimeSeries([1.0, 2.0, np.nan, 4.0, 5.0], rate_hz=1.0)
    same = ts.align_to(TimeSeries(np.zeros(5), rate_hz=1.0))
    np.testing.assert_array_equal(same.values[:, 0], [1.0, 2.0, np.nan, 4.0, 5.0])
    half = ts.resample(2.0).values[:, 0]
    np.testing.assert_array_equal(
        np.isnan(half), [False, False, False, True, True, True, False, False, False]
    )


def test_align_to_another_grid_with_nan_outside():
    slow = TimeSeries(np.arange(10.0), rate_hz=1.0, start_s=0.0)
    grid = TimeSeries(np.zeros(6), rate_hz=2.0, start_s=7.0)
    aligned = slow.align_to(grid)
    assert aligned.rate_hz == 2.0 and aligned.start_s == 7.0 and aligned.n_times == 6
    np.testing.assert_allclose(aligned.values[:, 0], [7.0, 7.5, 8.0, 8.5, 9.0, np.nan])


def test_windows_and_sliding_statistics_match_numpy():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((200, 3)) + 100  # offset: the running sums must stay accurate
    ts = TimeSeries(values, rate_hz=50.0, start_s=1.0)
    windows = ts.windows_samples(10, 3)
    assert windows.values.shape == (64, 10, 3)
    np.testing.assert_allclose(windows.centers_s, 1.0 + (np.arange(64) * 3 + 4.5) / 50)
    for statistic, oracle in [
        ("mean", np.mean),
        ("var", np.var),
        ("std", np.std),
        ("median", np.median),
    ]:
        out = ts.sliding_samples(10, 3, statistic)
        expected = np.stack([oracle(values[i * 3 : i * 3 + 10], axis=0) for i in range(64)])
        np.testing.assert_allclose(out.values, expected, rtol=1e-9, atol=1e-9)
        assert out.rate_hz == pytest.approx(50 / 3)
        assert out.start_s == pytest.approx(windows.centers_s[0])
    in_seconds = ts.sliding(window_s=0.2, hop_s=0.06)
    np.testing.assert_allclose(in_seconds.values, ts.sliding_samples(10, 3).values)
    with pytest.raises(DataError, match="fewer than one window of 500 samples"):
        ts.windows_samples(500, 1)
    with pytest.raises(ParameterError, match="statistic='mode' is not valid"):
        ts.sliding_samples(10, 3, "mode")


def test_to_frame_has_time_column():
    ts = TimeSeries(np.ones((3, 2)), rate_hz=2.0, names=["x", "y"])
    frame = ts.to_frame()
    assert list(frame.columns) == ["time_s", "x", "y"]
    np.testing.assert_allclose(frame["time_s"], [0.0, 0.5, 1.0])
