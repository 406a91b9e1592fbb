"""Quality flags: planted flat lines, clipping, dropouts and implausible heart rates."""

import logging

import numpy as np
import pytest

from frisson.errors import ParameterError
from frisson.physio import quality
from frisson.physio.cardiac import Beats
from frisson.timeseries import TimeSeries


def test_planted_problems_are_flagged_with_their_times(caplog):
    rate = 50.0
    t = np.arange(0, 60, 1 / rate)
    rng = np.random.default_rng(0)
    ppg = np.sin(2 * np.pi * 1.2 * t) + 0.01 * rng.standard_normal(t.size)
    ppg[500:750] = ppg[500]  # 10-15 s: sensor off, flat
    ppg = np.clip(ppg, -2, 0.9)  # clipping at +0.9 once per beat
    eda = 2.0 + 0.001 * t
    eda[2000:2100] = np.nan  # 40-42 s dropout
    series = TimeSeries(np.column_stack([ppg, eda]), rate, start_s=-3.0, names=["ppg", "eda"])
    with caplog.at_level(logging.WARNING, logger="frisson"):
        report = quality.check_signal(series)
    kinds = {(f.kind, f.channel) for f in report.flags}
    assert ("flat", "ppg") in kinds and ("clipping", "ppg") in kinds and ("dropout", "eda") in kinds
    flat = next(f for f in report.flags if f.kind == "flat")
    assert flat.start_s == pytest.approx(10 - 3) and flat.end_s == pytest.approx(15 - 3)
    dropout = next(f for f in report.flags if f.kind == "dropout")
    assert (dropout.start_s, dropout.end_s) == pytest.approx((37.0, 39.0))
    assert report.fraction("dropout") == pytest.approx(2 / 60)
    assert not report.ok and "dropout in eda" in caplog.text
    frame = report.to_frame()
    assert list(frame.columns) == ["kind", "channel", "start_s", "end_s", "detail"]
    # nothing is changed: the series still has its NaNs
    assert np.isnan(series.values[2000, 1])


def test_clean_signal_has_no_flags():
    t = np.arange(0, 30, 0.01)
    rng = np.random.default_rng(1)
    report = quality.check_signal(TimeSeries(np.sin(t) + 0.01 * rng.standard_normal(t.size), 100.0))
    assert report.ok and report.fraction("flat") == 0.0


def test_implausible_heart_rates_are_flagged():
    times = np.r_[np.arange(0, 20, 0.8), 20 + np.arange(1, 4) * 0.2, 20.6 + np.arange(1, 10) * 0.8]
    report = quality.check_beats(Beats(times, "ppg", "-", 0, (0.0, times[-1])))
    assert len(report.flags) == 1
    flag = report.flags[0]
    assert flag.kind == "implausible_hr" and "300-300 bpm" in flag.detail
    assert flag.start_s == pytest.approx(20.2) and flag.end_s == pytest.approx(20.6)
    with pytest.raises(ParameterError, match="bpm_range must be positive"):
        quality.check_beats(Beats(times, "ppg", "-", 0, (0.0, 1.0)), bpm_range=(0, 100))
