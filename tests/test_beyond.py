"""Chills as events (frisson.chills_events): known answers, planted effects, null calibration.

Calibration runs use small null sets with binomial bounds: with n datasets at a
true rate of .05, the count of p < .05 lies inside the two-sided 99.9 % binomial
interval, so a test that fails here is miscalibrated, not unlucky (1 in 1000).
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from frisson.chills_events import (
    chill_hit_rates,
    chill_hit_test,
    chill_pseudo_events,
    listener_associations,
)
from frisson.errors import DataError
from frisson.events import (
    pseudo_transitions,
)
from frisson.timeseries import TimeSeries

RATE_HZ = 10.0
_K = np.arange(0, 12, 1 / RATE_HZ)
SCR = (np.exp(-_K / 2.0) - np.exp(-_K / 0.75)) / np.max(np.exp(-_K / 2.0) - np.exp(-_K / 0.75))


def _bounds(n: int, rate: float = 0.05) -> tuple[int, int]:
    """Two-sided 99.9 % binomial interval of the count of rejections."""
    low, high = stats.binom.interval(0.999, n, rate)
    return int(low), int(high)


# ------------------------------------------------------------------ known answers
def test_chill_controls_lie_in_the_chills_span_and_the_onset_window_drops_chills():
    pt = chill_pseudo_events([3.0, 40.0, 95.0], duration_s=100.0, n_sets=30, seed=4)
    assert pt.span_s == (10.0, 92.0)  # onset window 10 s, window (-2, 8): 100 - 8
    assert pt.events_s.tolist() == [40.0] and pt.dropped_s.tolist() == [3.0, 95.0]
    assert pt.controls_s.shape == (30, 1)
    assert np.all((pt.controls_s >= 10.0) & (pt.controls_s <= 92.0))


def test_hit_rates_are_the_share_of_listeners_with_a_chill_in_the_window():
    pt = pseudo_transitions([30.0, 60.0], duration_s=100.0, edge_s=5.0, n_sets=50, seed=0)
    chills = [[31.0], [35.0, 90.0], [61.0], []]  # after 30 s: 2 of 4; after 60 s: 1 of 4
    events, _ = chill_hit_rates(chills, pt, hit_window_s=(0.0, 10.0), position_degree=None)
    assert events == pytest.approx((2 / 4 + 1 / 4) / 2)
    # A chill-free song: every rate is exactly 0, with or without the position fit.
    assert chill_hit_rates([[], []], pt) == pytest.approx((0.0, 0.0))
    # Chills everywhere: the position fit of a constant share is that constant.
    dense = [np.arange(0.0, 100.0, 2.0)] * 3
    assert chill_hit_rates(dense, pt) == pytest.approx((1.0, 1.0))
    with pytest.raises(DataError, match="empty"):
        chill_hit_rates([], pt)


def test_hit_test_smallest_p_and_ci_over_songs():
    rates = {f"s{i}": (0.3 + 0.02 * i, 0.1) for i in range(7)}
    result = chill_hit_test(rates)
    assert result.exact and result.p == pytest.approx(2.0**-7) == result.min_possible_p
    differences = np.array([0.2 + 0.02 * i for i in range(7)])
    half = stats.t.ppf(0.975, 6) * differences.std(ddof=1) / np.sqrt(7)
    assert result.effect == pytest.approx(differences.mean())
    assert result.ci == pytest.approx((differences.mean() - half, differences.mean() + half))
    with pytest.raises(DataError, match="at least 3 songs"):
        chill_hit_test({"a": (0.1, 0.0), "b": (0.2, 0.1)})


# ------------------------------------------------------------------ transitions -> chills
def _hit_p(seed: int, planted: float, n_songs: int = 8, n_listeners: int = 8) -> float:
    """One study: chills spontaneous (1 per song and listener) plus ``planted`` per transition."""
    rng = np.random.default_rng(seed)
    rates = {}
    for s in range(n_songs):
        transitions = np.sort(rng.uniform(12.0, 110.0, rng.integers(3, 7)))
        draw = pseudo_transitions(transitions, duration_s=120.0, edge_s=5.0, seed=seed * 100 + s)
        chills = []
        for _ in range(n_listeners):
            own = list(rng.uniform(0.0, 120.0, rng.poisson(1.0)))
            own += [t + rng.uniform(1.0, 5.0) for t in transitions if rng.random() < planted]
            chills.append(np.array(own))
        rates[f"s{s}"] = chill_hit_rates(chills, draw)
    return chill_hit_test(rates, n_permutations=256, seed=seed).p


def test_chill_hit_test_is_calibrated_and_finds_chills_after_transitions():
    null = np.array([_hit_p(seed, 0.0) for seed in range(200)])
    low, high = _bounds(null.size)
    assert low <= np.sum(null < 0.05) <= high  # measured: 5.3 % over 300 such studies
    assert np.sum(null < 0.01) <= stats.binom.ppf(0.999, null.size, 0.01)
    planted = np.array([_hit_p(1000 + seed, 0.2) for seed in range(20)])
    assert np.mean(planted < 0.05) >= 0.9  # 20 % of listeners after each transition


# ------------------------------------------------------------------ listeners' scores
def _association_rows(seed: int, slope: float, n: int = 20):
    """Four independent scores; the effect depends on ``score0`` with ``slope`` (sd-units)."""
    rng = np.random.default_rng(seed)
    people = [f"p{i:02d}" for i in range(n)]
    scores = {f"score{j}": dict(zip(people, rng.standard_normal(n), strict=True)) for j in range(4)}
    effect = slope * np.array(list(scores["score0"].values())) + rng.standard_normal(n)
    effect[0] = np.nan  # a listener without the effect is left out
    effects = {"response": dict(zip(people, effect, strict=True))}
    return listener_associations(scores, effects, n_permutations=200, seed=seed).to_frame()


def test_listener_associations_control_the_familywise_rate_and_find_a_planted_score():
    null = [_association_rows(seed, 0.0) for seed in range(200)]
    any_corrected = np.array([(t.p_corrected < 0.05).any() for t in null])
    low, high = _bounds(any_corrected.size)
    assert low <= any_corrected.sum() <= high  # family-wise over the 4 scores (measured 7)
    uncorrected = np.array([(t.p < 0.05).sum() for t in null])
    assert uncorrected.sum() > any_corrected.sum()  # uncorrected: about 4 x 5 %
    assert all(t.n.tolist() == [19] * 4 for t in null[:3])
    planted = [_association_rows(900 + seed, 1.5) for seed in range(20)]
    found = [t.set_index("score").loc["score0", "p_corrected"] < 0.05 for t in planted]
    assert np.mean(found) >= 0.8  # rho about .8 over 19 listeners (slope 1: 15 of 20)


def test_listener_associations_rho_is_spearman():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(15), rng.standard_normal(15)
    people = [str(i) for i in range(15)]
    table = listener_associations(
        {"x": dict(zip(people, x, strict=True))},
        {"y": dict(zip(people, y, strict=True))},
        n_permutations=10,
    ).to_frame()
    assert table.rho.item() == pytest.approx(stats.spearmanr(x, y).statistic)


# ------------------------------------------------------------------ heart rate gaps
def test_heart_rate_is_nan_around_a_lost_pulse_segment_and_right_elsewhere():
    import neurokit2 as nk

    from frisson.pipelines._beyond import BeyondSettings, _cardiac

    ppg = nk.ppg_simulate(duration=80, sampling_rate=100, heart_rate=72, random_state=1)
    ppg[3000:3400] = np.nan  # 30-34 s lost
    trial = SimpleNamespace(responses={"ppg": TimeSeries(ppg, 100.0)}, duration_s=80.0)
    hr, rmssd = _cardiac(trial, 10.0, BeyondSettings())
    times = hr.times_s
    near = (times >= 25.0) & (times <= 39.0)  # within 5 s (half the 10-s window) of the gap
    assert np.isnan(hr.values[near, 0]).all()
    # Blank until half a window after the first beat past the gap (34-35 s).
    clean = (times > 6.0) & (times < 24.0) | (times > 41.0) & (times < 74.0)
    assert np.isfinite(hr.values[clean, 0]).all()
    assert np.median(hr.values[clean, 0]) == pytest.approx(72.0, abs=2.0)
    # RMSSD (10-s windows): NaN while a window holds a lost sample, back once it does not.
    near_r = (rmssd.times_s >= 25.0) & (rmssd.times_s < 39.0)
    assert np.isnan(rmssd.values[near_r, 0]).all()
    after = (rmssd.times_s >= 39.0) & (rmssd.times_s <= 70.0)
    assert np.isfinite(rmssd.values[after, 0]).all()
