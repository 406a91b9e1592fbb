"""Heart rate around transitions: the opt-in ``heart`` test is calibrated on nulls with song-shared
heart-rate changes, a within-song trend and beat gaps (NaN), and finds a planted rise.

Counts of p < .05 are checked against two-sided 99.9 % binomial intervals.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter1d

from frisson.events import pseudo_transitions
from frisson.pipelines._beyond import BeyondSettings, _locked
from frisson.timeseries import TimeSeries

RATE_HZ = 10.0
CONFIG = SimpleNamespace(
    epoch_window_s=(-2.0, 8.0),
    summary_window_s=(1.0, 5.0),
    control_position_degree=3,
    n_permutations=1000,
    seed=0,
)


def _hr_items(seed: int, rise_bpm: float, n_songs: int = 6, n_listeners: int = 5):
    """Per trial: heart rate (bpm, NaN in beat gaps) and the song's transitions/controls."""
    rng = np.random.default_rng(seed)
    duration, n = 120.0, 1200
    times = np.arange(n) / RATE_HZ
    items = []
    for s in range(n_songs):
        transitions = np.sort(rng.uniform(15.0, 105.0, rng.integers(2, 5)))
        draw = pseudo_transitions(
            transitions, duration_s=duration, edge_s=5.0, n_sets=20, seed=seed * 10 + s
        )
        shared = gaussian_filter1d(rng.standard_normal(n), 30.0) * 30.0  # song-evoked, bpm
        for p in range(n_listeners):
            own = gaussian_filter1d(rng.standard_normal(n), 20.0) * 15.0
            hr = 70.0 + shared + own - 4.0 * (1 - np.exp(-times / 30.0))  # settling in
            for t in transitions:
                hr += rise_bpm * np.exp(-0.5 * ((times - t - 3.0) / 2.0) ** 2)
            for gap in rng.uniform(0.0, duration, rng.poisson(2)):  # beat gaps: NaN
                hr[(times >= gap) & (times <= gap + 8.0)] = np.nan
            items.append((f"p{p}", f"s{s}", TimeSeries(hr, RATE_HZ), draw))
    return items


def _p(seed: int, rise_bpm: float) -> float:
    test, _ = _locked(CONFIG, _hr_items(seed, rise_bpm), cardiac=BeyondSettings())
    return test.p


def test_heart_rate_at_transitions_is_calibrated_and_finds_a_planted_rise():
    null = np.array([_p(seed, 0.0) for seed in range(100)])
    low, high = stats.binom.interval(0.999, null.size, 0.05)
    assert low <= np.sum(null < 0.05) <= high  # measured: 6 of 100 (0 below .01)
    # Song-evoked HR fluctuations have an sd of about 3 bpm here; 3 bpm rises: 4 of 8 found.
    planted = np.array([_p(1000 + seed, 6.0) for seed in range(8)])
    assert np.mean(planted < 0.05) >= 0.75


def test_epochs_touching_a_beat_gap_are_left_out():
    items = _hr_items(3, 0.0, n_songs=3, n_listeners=3)
    participant, song, series, draw = items[0]
    values = series.values.copy()
    values[:, 0] = 70.0
    first = draw.events_s[0]
    values[(series.times_s > first) & (series.times_s < first + 2.0), 0] = np.nan
    gap = [(participant, song, series.replace(values=values), draw)]
    _, per_trial = _locked(CONFIG, gap, cardiac=BeyondSettings())
    # Flat 70 bpm outside the gap: every kept epoch is 0 after its baseline, so the
    # trial's effect is exactly 0 (the gap's epoch, 70 + NaN, was dropped, not averaged).
    assert draw.events_s.size == 4
    assert per_trial[(participant, song)] == pytest.approx(0.0, abs=1e-9)
