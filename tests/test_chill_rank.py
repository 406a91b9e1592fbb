"""The chill-locked test's rank statistic: known answers, a skewed null, planted chill SCRs.

A trial's chill set is ranked among its control sets (``chill_rank_score``) and
the songs' mean scores are sign-flipped (``chill_rank_p``). Under the null the
chill set is one of ``n_sets + 1`` exchangeable sets, so the score is symmetric
whatever the epochs' skew; the mean difference of one chill epoch and hundreds
of control epochs is not, and its sign flips over 7 songs reject too often when
short positive steps (motion artefacts) make single epochs left-skewed.
"""

import numpy as np
import pytest
from scipy import stats

from frisson.chills_events import chill_pseudo_events, chill_rank_p, chill_rank_score
from frisson.errors import DataError
from frisson.events import PseudoTransitions, locked_averages, song_level_test
from frisson.timeseries import TimeSeries

RATE_HZ = 10.0


def _draw(chills, controls, span=(10.0, 92.0)) -> PseudoTransitions:
    controls = np.atleast_2d(np.asarray(controls, dtype=float))
    return PseudoTransitions(np.asarray(chills, float), np.array([]), controls, span, "uniform", 0)


def test_the_score_is_the_share_of_control_sets_below_minus_above():
    t = np.arange(0, 100, 1 / RATE_HZ)
    # A bump 1-5 s after each epoch time, 0 in the 2 s before: each epoch's value is its height.
    level = np.zeros_like(t)
    heights = {30.0: 2.0, 20.0: 1.0, 40.0: 3.0, 50.0: 0.5, 60.0: 2.5}
    for time_s, height in heights.items():
        level[(t >= time_s + 1) & (t <= time_s + 5)] = height
    series = TimeSeries(level, RATE_HZ)
    # Chill at 30 s (2.0) vs control sets at 20 (1.0), 40 (3.0), 50 (0.5), 60 (2.5):
    # 2 sets below, 2 above -> 0; with the sets at 20 and 50 only -> +1.
    draw = _draw([30.0], [[20.0], [40.0], [50.0], [60.0]])
    assert chill_rank_score(series, draw, position_degree=None) == pytest.approx(0.0)
    assert chill_rank_score(series, _draw([30.0], [[20.0], [50.0]]), position_degree=None) == 1.0
    assert chill_rank_score(series, _draw([50.0], [[20.0], [40.0]]), position_degree=None) == -1.0
    # A set of two chills is ranked by its mean: (2.0 + 0.5) / 2 = 1.25 beats 1.0 only.
    two = _draw([30.0, 50.0], [[20.0, 20.0], [40.0, 60.0]])
    assert chill_rank_score(series, two, position_degree=None) == pytest.approx(0.0)
    flat = TimeSeries(np.ones_like(t), RATE_HZ)  # every set ties: 0
    assert chill_rank_score(flat, draw) == 0.0
    # No chill epoch kept (its window leaves the recording): NaN.
    assert np.isnan(chill_rank_score(series, _draw([99.5], [[20.0]]), position_degree=None))


def test_the_position_trend_is_removed_from_chills_and_controls_alike():
    t = np.arange(0, 100, 1 / RATE_HZ)
    trend = 2.0 * (1.0 - t / 100.0) ** 2  # habituation: early epochs fall most
    unmatched, matched = [], []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        series = TimeSeries(trend + 0.02 * rng.standard_normal(t.size), RATE_HZ)
        draw = _draw([15.0], rng.uniform(10.0, 92.0, (20, 1)))
        unmatched.append(chill_rank_score(series, draw, position_degree=None))
        matched.append(chill_rank_score(series, draw, position_degree=3))
    # Unmatched, the early chill falls more than most controls; matched (an epoch's value
    # is linear in its position here, so the cubic takes the trend out), it ranks anywhere.
    assert np.mean(unmatched) < -0.6
    assert abs(np.mean(matched)) < 0.15


def test_rank_p_is_the_exact_sign_flip_p_of_the_units_mean_scores():
    assert chill_rank_p([1.0, 0.9, 0.8, 1.0, 0.7], list("abcde")) == pytest.approx(2.0**-5)
    # Units average their trials (NaN left out): a = 0.5, b = -0.25, c = 0.75, d = 1.0.
    scores = [0.5, np.nan, -0.5, 0.0, 0.75, 1.0]
    units = ["a", "a", "b", "b", "c", "d"]
    values = np.array([0.5, -0.25, 0.75, 1.0])
    patterns = np.array(np.meshgrid(*[[1, -1]] * 4)).reshape(4, -1).T
    expected = np.mean(patterns @ values >= values.sum() - 1e-12)
    assert chill_rank_p(scores, units) == pytest.approx(expected)
    assert expected == pytest.approx(2 / 16)  # all + and the one flipping b
    with pytest.raises(DataError, match="at least 3 units"):
        chill_rank_p([1.0, 1.0], ["a", "b"])


def _study(seed: int, planted_us: float = 0.0, n_songs: int = 7, n_listeners: int = 6):
    """Noise plus short positive steps (motion artefacts, 3 per min); ~1 chill per trial."""
    rng = np.random.default_rng(seed)
    duration = 60.0
    n = int(duration * RATE_HZ)
    events, control, songs, scores = [], [], [], []
    for s in range(n_songs):
        for p in range(n_listeners):
            values = 0.05 * rng.standard_normal(n)
            for onset in rng.uniform(0.0, duration, rng.poisson(3.0)):
                start = int(onset * RATE_HZ)
                values[start : start + int(rng.uniform(3, 10))] += rng.uniform(0.5, 2.0)
            chills = rng.uniform(0.0, duration, rng.poisson(1.0))
            for chill in chills:
                start = int((chill + 1.0) * RATE_HZ)
                values[start : start + 40] += planted_us
            draw = chill_pseudo_events(chills, duration_s=duration, seed=seed * 100 + 10 * s + p)
            series = TimeSeries(values, RATE_HZ)
            averages = locked_averages(series, draw, position_degree=3)
            if averages.n_events == 0:
                continue
            events.append(averages.events)
            control.append(averages.control)
            songs.append(f"s{s}")
            scores.append(chill_rank_score(series, draw))
    mean_p = song_level_test(np.array(events), np.array(control), averages.times_s, songs=songs).p
    return mean_p, chill_rank_p(scores, songs)


@pytest.mark.slow
def test_rank_p_is_calibrated_where_the_mean_difference_is_liberal_and_finds_chill_scrs():
    n = 300
    p = np.array([_study(seed) for seed in range(n)])
    rank_rejects = int(np.sum(p[:, 1] < 0.05))
    low, high = stats.binom.interval(0.999, n, 0.05)
    assert low <= rank_rejects <= high  # 6 of 128 sign patterns: 4.7 % expected (13 of 300)
    # The mean difference rejects more often on the same studies (21 of 300).
    assert np.sum(p[:, 0] < 0.05) > rank_rejects
    planted = np.array([_study(1000 + seed, planted_us=0.15)[1] for seed in range(25)])
    assert np.mean(planted < 0.05) >= 0.8  # 0.15 uS for 4 s after every chill
