import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from frisson.errors import DataError, ParameterError
from frisson.events import (
    admissible_span,
    compare_epochs,
    control_times,
    epochs,
    locked_averages,
    pseudo_transitions,
    relative_positions,
    song_level_test,
)
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


# --------------------------------------------------------------------------------------
# Pseudo-transitions and the song-level test
# --------------------------------------------------------------------------------------


def test_admissible_span_combines_edge_window_and_onset_exclusion():
    assert admissible_span(120.0, edge_s=5.0) == (10.0, 112.0)
    assert admissible_span(120.0, edge_s=5.0, onset_exclude_s=0.0) == (5.0, 112.0)
    assert admissible_span(120.0, span_s=(15.0, 100.0), window_s=(-20, 8)) == (20.0, 100.0)
    with pytest.raises(ParameterError, match="exactly one of edge_s and span_s"):
        admissible_span(120.0)
    with pytest.raises(ParameterError, match="exactly one of edge_s and span_s"):
        admissible_span(120.0, edge_s=5.0, span_s=(5.0, 115.0))
    with pytest.raises(DataError, match="no admissible time"):
        admissible_span(17.0, edge_s=5.0)
    np.testing.assert_allclose(
        relative_positions([5.0, 10.0, 60.0, 110.0, 111.0], (10, 110)), [0, 0.5, 1]
    )


def test_pseudo_transitions_share_the_span_and_drop_rule_with_the_events():
    events = [3.0, 8.0, 30.0, 55.0, 80.0, 113.0]
    pt = pseudo_transitions(events, duration_s=120.0, edge_s=5.0, n_sets=20, seed=4)
    # The same rule for both: nothing before 10 s (onset) or after 112 s (window end).
    np.testing.assert_array_equal(pt.events_s, [30.0, 55.0, 80.0])
    np.testing.assert_array_equal(pt.dropped_s, [3.0, 8.0, 113.0])
    assert pt.span_s == (10.0, 112.0) and pt.n_sets == 20 and pt.controls_s.shape == (20, 3)
    assert np.all((pt.controls_s >= 10.0) & (pt.controls_s <= 112.0))
    assert np.all(np.diff(pt.controls_s, axis=1) >= 0)
    # One draw per song: the same seed gives the same sets (for every listener), another differs.
    again = pseudo_transitions(events, duration_s=120.0, edge_s=5.0, n_sets=20, seed=4)
    np.testing.assert_array_equal(pt.controls_s, again.controls_s)
    other = pseudo_transitions(events, duration_s=120.0, edge_s=5.0, n_sets=20, seed=5)
    assert not np.array_equal(pt.controls_s, other.controls_s)
    # Uniform on the span (Kolmogorov-Smirnov against U(10, 112)).
    many = pseudo_transitions(events, duration_s=120.0, edge_s=5.0, n_sets=3000, seed=0)
    assert stats.kstest(many.controls_s.ravel(), stats.uniform(10, 102).cdf).pvalue > 0.01


def test_pseudo_transitions_follow_a_pooled_position_distribution():
    rng = np.random.default_rng(0)
    pool = np.clip(0.7 + 0.05 * rng.standard_normal(400), 0, 1)  # transitions late in songs
    pt = pseudo_transitions(
        [50.0, 90.0], duration_s=200.0, span_s=(0.0, 200.0), n_sets=5000, position_pool=pool
    )
    assert pt.position == "pooled"
    position = relative_positions(pt.controls_s.ravel(), pt.span_s)  # span 10-192 s
    # Smoothed bootstrap: mean of the pool, SD sqrt(sd^2 + h^2), h = Silverman's bandwidth.
    h = 0.9 * min(pool.std(ddof=1), stats.iqr(pool) / 1.34) * pool.size**-0.2
    assert position.mean() == pytest.approx(pool.mean(), abs=0.003)
    assert position.std() == pytest.approx(np.hypot(pool.std(ddof=1), h), rel=0.03)
    with pytest.raises(ParameterError, match="position_pool"):
        pseudo_transitions([50.0], duration_s=200.0, edge_s=5.0, position_pool=[0.5, 1.5])


def test_locked_averages_equal_the_mean_of_epochs():
    rng = np.random.default_rng(2)
    response = TimeSeries(np.cumsum(rng.standard_normal(1500)) * 0.1, 10.0)
    pt = pseudo_transitions([30.0, 70.0, 140.0], duration_s=150.0, edge_s=5.0, n_sets=7, seed=1)
    avg = locked_averages(response, pt)
    np.testing.assert_allclose(avg.events, epochs(response, pt.events_s).data.mean(axis=0))
    flat = epochs(response, pt.controls_s.ravel()).data
    np.testing.assert_allclose(avg.control, flat.mean(axis=0))
    assert (avg.n_events, avg.n_controls) == (3, 21)


def test_song_level_test_matches_exact_enumeration_and_mne():
    from mne.stats import permutation_cluster_1samp_test

    rng = np.random.default_rng(3)
    times = np.arange(-20, 81) / 10
    n_songs, n_listeners = 7, 5
    bump = 0.25 * np.exp(-0.5 * ((times - 3) / 1.0) ** 2)
    song_part = np.repeat(0.3 * rng.standard_normal((n_songs, times.size)), n_listeners, axis=0)
    events = bump + song_part + rng.standard_normal((n_songs * n_listeners, times.size))
    control = rng.standard_normal(events.shape)
    songs = np.repeat([f"song{i}" for i in range(n_songs)], n_listeners)
    result = song_level_test(events, control, times, songs=songs)
    differences = np.array(
        [(events - control)[songs == s].mean(axis=0) for s in sorted(set(songs))]
    )
    np.testing.assert_allclose(result.song_differences, differences)
    assert result.exact and result.n_permutations == 128 and result.min_possible_p == 1 / 128
    assert (result.n_songs, result.n_trials) == (7, 35)
    # Summary effect: brute-force sign flips, and the t interval.
    effects = differences[:, (times >= 1) & (times <= 5)].mean(axis=1)
    flips = np.array(list(itertools.product([1, -1], repeat=n_songs)))
    assert result.p == pytest.approx(np.mean(flips @ effects >= effects.sum() - 1e-12))
    low, high = stats.t.interval(0.95, n_songs - 1, effects.mean(), stats.sem(effects))
    assert result.effect == pytest.approx(effects.mean())
    assert result.ci == (pytest.approx(low), pytest.approx(high))
    assert result.p_t == pytest.approx(stats.ttest_1samp(effects, 0, alternative="greater").pvalue)

    # Clusters, one-sided: a plain-loop oracle over all 128 sign patterns (MNE's "exact"
    # one-sided enumeration counts the observed pattern twice and omits the full flip).
    def max_mass(t):
        best = run = 0.0
        for value in t:
            run = run + value if value > result.threshold else 0.0
            best = max(best, run)
        return best

    null = [max_mass(stats.ttest_1samp(f[:, None] * differences, 0).statistic) for f in flips]
    np.testing.assert_allclose(
        [c[3] for c in result.clusters],
        [np.mean(np.array(null) >= c[2] - 1e-9) for c in result.clusters],
    )
    two = song_level_test(events, control, times, songs=songs, tail=0)
    assert two.min_possible_p == 1 / 64
    assert two.p == pytest.approx(np.mean(np.abs(flips @ effects) >= abs(effects.sum()) - 1e-12))
    # Two-sided: the same t, clusters and p-values as MNE's exact sign-flip cluster test.
    t_mne, clusters, p_mne, _ = permutation_cluster_1samp_test(
        differences,
        threshold=two.threshold,
        n_permutations=128,
        tail=0,
        out_type="mask",
        verbose=False,
    )
    np.testing.assert_allclose(two.t_values, t_mne)
    assert len(two.clusters) == len(clusters) >= 1
    found = [
        (times[c][0], times[c][-1], t_mne[c].sum(), p) for c, p in zip(clusters, p_mne, strict=True)
    ]
    np.testing.assert_allclose(sorted(two.clusters), sorted(found))
    assert "7 songs" in result.method


def test_song_level_test_random_patterns_and_errors():
    rng = np.random.default_rng(4)
    times = np.arange(11) / 10
    events = rng.standard_normal((16, 11))
    songs = [f"s{i}" for i in range(16)]
    result = song_level_test(events, np.zeros((16, 11)), times, songs=songs, n_permutations=999)
    assert not result.exact and result.n_permutations == 999
    assert result.min_possible_p == pytest.approx(1 / 999)
    assert result.effect == pytest.approx(events[:, -1].mean())  # only t = 1 s is in 1-5 s
    assert result.p == pytest.approx(result.p_t, abs=0.05)
    with pytest.raises(DataError, match="at least 3 songs"):
        song_level_test(events, events, times, songs=["a", "b"] * 8)
    with pytest.raises(DataError, match="one per trial"):
        song_level_test(events, events, times, songs=songs[:-1])
    bad = events.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        song_level_test(bad, events, times, songs=songs)
    with pytest.raises(ParameterError, match="summary_window_s"):
        song_level_test(events, events, times, songs=songs, summary_window_s=(3.0, 5.0))


# An epoch-level simulation of the chills study's null: what real data contain.
RATE_HZ = 10.0
OFFSETS = np.arange(-20, 81)
EPOCH_TIMES_S = OFFSETS / RATE_HZ
_DECAY, _RISE = np.exp(-1 / (3.0 * RATE_HZ)), np.exp(-1 / (0.75 * RATE_HZ))


def _scr(impulses):
    """Bi-exponential SCRs (rise 0.75 s, decay 3 s, peak 1 per unit impulse)."""
    y = lfilter([1.0], [1, -_DECAY], impulses, axis=-1) - lfilter(
        [1.0], [1, -_RISE], impulses, axis=-1
    )
    return y / _SCR_PEAK


_SCR_PEAK = 1.0
_SCR_PEAK = _scr(np.r_[1.0, np.zeros(300)]).max()


def _transitions(rng, duration_s):
    """Random transition times at least 5 s apart in [5, duration - 5] (independent of the SC)."""
    wanted, picked = max(3, rng.poisson(duration_s / 20)), []
    for candidate in rng.uniform(5, duration_s - 5, 50):
        if all(abs(candidate - p) >= 5 for p in picked):
            picked.append(candidate)
        if len(picked) == wanted:
            break
    return np.sort(picked)


def _song(rng, n_listeners, effect):
    """One song heard by n listeners: normalised, detrended SC (n_listeners, n_samples)."""
    duration = rng.uniform(150, 240)
    n = int(duration * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    # Song-evoked, shared by all listeners: SCRs at the song's own moments + a smooth series.
    smooth = lfilter([1.0], [1, -0.97], lfilter([1.0], [1, -0.97], rng.standard_normal(n)))
    shared = _scr((rng.random(n) < 1 / 120) * rng.exponential(1.0, n)) + 0.8 * smooth / smooth.std()
    gain = rng.lognormal(0.0, 0.4, (n_listeners, 1))  # listeners respond more or less
    kicks = (rng.random((n_listeners, n)) < 1 / 200) * rng.exponential(1.0, (n_listeners, n))
    kicks[:, 15] += rng.uniform(2, 5, n_listeners)  # orienting SCR to the song onset
    drift = lfilter([0.03], [1, -0.995], rng.standard_normal((n_listeners, n)), axis=-1)
    tonic = rng.uniform(1, 4, (n_listeners, 1)) * np.exp(-t / rng.uniform(30, 90))  # habituation
    events = _transitions(rng, duration)
    planted = np.zeros(n)
    planted[np.rint((events + 1.0) * RATE_HZ).astype(int)] = effect  # SCR 1 s after transitions
    x = gain * (shared + _scr(planted)) + _scr(kicks) + drift + tonic
    x = x + 0.05 * rng.standard_normal(x.shape)
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    slope, intercept = np.polyfit(t, x.T, 1)
    return duration, x - (slope[:, None] * t + intercept[:, None]), events


def _mean_epochs(x, times_s):
    """Mean baseline-corrected epoch per row of x (as epochs() does, vectorised)."""
    centre = np.rint(np.ravel(times_s) * RATE_HZ).astype(int)
    centre = centre[(centre + OFFSETS[0] >= 0) & (centre + OFFSETS[-1] < x.shape[1])]
    cut = x[:, centre[:, None] + OFFSETS[None, :]]
    return (cut - cut[:, :, OFFSETS < 0].mean(axis=2, keepdims=True)).mean(axis=1)


def _study(rng, *, effect=0.0, n_songs=7, n_listeners=20, old_controls=False):
    """Per-trial mean event and control epochs, song and listener labels."""
    events, control = [], []
    for _ in range(n_songs):
        duration, x, transitions = _song(rng, n_listeners, effect)
        if old_controls:  # the earlier design: per-trial uniform controls, all transitions
            events.append(_mean_epochs(x, transitions))
            seeds = rng.integers(0, 2**31, n_listeners)
            times = [control_times(transitions, duration_s=duration, seed=int(s)) for s in seeds]
            control.append(
                np.vstack([_mean_epochs(x[i : i + 1], times[i]) for i in range(n_listeners)])
            )
        else:
            pt = pseudo_transitions(
                transitions, duration_s=duration, edge_s=5.0, seed=int(rng.integers(2**31))
            )
            events.append(_mean_epochs(x, pt.events_s))
            control.append(_mean_epochs(x, pt.controls_s))
    songs = np.repeat([f"song{i}" for i in range(n_songs)], n_listeners)
    listeners = np.tile([f"p{i}" for i in range(n_listeners)], n_songs)
    return np.vstack(events), np.vstack(control), songs, listeners


def test_simulated_epochs_match_the_epochs_function():
    rng = np.random.default_rng(0)
    duration, x, transitions = _song(rng, 2, 0.0)
    pt = pseudo_transitions(transitions, duration_s=duration, edge_s=5.0, n_sets=3)
    avg = locked_averages(TimeSeries(x[1], RATE_HZ), pt)
    np.testing.assert_allclose(_mean_epochs(x, pt.events_s)[1], avg.events, atol=1e-12)
    np.testing.assert_allclose(_mean_epochs(x, pt.controls_s)[1], avg.control, atol=1e-12)


def test_song_level_test_is_calibrated_on_a_null_with_song_shared_responses():
    """3-7 % at .05 and <= 2 % at .01 (within 99 % binomial bounds), summary and cluster p."""
    rng = np.random.default_rng(11)
    n_sets = 300
    p_summary, p_cluster = np.ones(n_sets), np.ones(n_sets)
    for i in range(n_sets):
        events, control, songs, listeners = _study(rng)
        result = song_level_test(
            events, control, EPOCH_TIMES_S, songs=songs, participants=listeners
        )
        p_summary[i], p_cluster[i] = result.p, result.min_p
    assert result.min_possible_p == 1 / 128 and result.n_participants == 20
    low = stats.binom.ppf(0.01, n_sets, 0.03) / n_sets
    high = stats.binom.ppf(0.99, n_sets, 0.07) / n_sets
    high_01 = stats.binom.ppf(0.99, n_sets, 0.02) / n_sets
    for p in (p_summary, p_cluster):
        assert low <= np.mean(p <= 0.05) <= high
        assert np.mean(p <= 0.01) <= high_01


def test_participant_level_test_with_per_trial_controls_is_liberal_on_the_same_null():
    """The earlier design (compare_epochs over participants) rejects far above 5 %."""
    rng = np.random.default_rng(12)
    n_sets, rejected = 30, 0
    for i in range(n_sets):
        events, control, _songs, listeners = _study(rng, old_controls=True)
        per_listener = [listeners == p for p in np.unique(listeners)]
        ev = np.array([events[m].mean(axis=0) for m in per_listener])
        co = np.array([control[m].mean(axis=0) for m in per_listener])
        rejected += compare_epochs(ev, co, EPOCH_TIMES_S, n_permutations=200, seed=i).min_p < 0.05
    # Under a calibrated test P(>= 8 of 30) < 0.002; it rejects about half.
    assert rejected >= 8


def test_song_level_test_finds_a_planted_transition_locked_response():
    """SCR of 0.7 x a song-evoked SCR, 1 s after each transition: >= 80 % power, 7 songs x 20."""
    rng = np.random.default_rng(13)
    n_sets, found, effects = 60, 0, []
    for _ in range(n_sets):
        events, control, songs, _listeners = _study(rng, effect=0.7)
        result = song_level_test(events, control, EPOCH_TIMES_S, songs=songs)
        found += result.p <= 0.05
        effects.append(result.effect)
    assert found / n_sets >= 0.8
    assert 0.1 < np.mean(effects) < 0.6  # z units of the normalised SC, 1-5 s after


def _habituating_song(rng, n_listeners, early):
    """Tonic habituation, rare SCRs, no response to the transitions (early or late in the song)."""
    duration = rng.uniform(120, 200)
    n = int(duration * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    kicks = (rng.random((n_listeners, n)) < 1 / 1500) * rng.exponential(1.0, (n_listeners, n))
    tonic = rng.uniform(2, 5, (n_listeners, 1)) * np.exp(-t / rng.uniform(30, 60))
    x = _scr(kicks) + tonic + 0.05 * rng.standard_normal((n_listeners, n))
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    low, high = (15.0, 0.45 * duration) if early else (0.55 * duration, duration - 10.0)
    return duration, x, np.sort(rng.uniform(low, high, rng.integers(3, 6)))


def test_position_matched_controls_keep_the_song_level_test_exact_under_habituation():
    """Pooled controls tie the songs together under habituation; matching positions frees them.

    Half the songs have their transitions early, half late, and the listeners'
    tonic level habituates. Controls drawn from the study's pooled positions sit
    between the two, so an early song's difference and a late song's have
    opposite signs that cancel in the mean over songs: p-values pile up in the
    middle (the test is conservative). The position-matched control
    (``position_degree=3``) compares each song with itself: p close to uniform.
    """
    rng = np.random.default_rng(21)
    n_studies, n_listeners = 60, 4
    p = {None: [], 3: []}
    for _ in range(n_studies):
        songs = [_habituating_song(rng, n_listeners, early=k % 2 == 0) for k in range(7)]
        spans = [admissible_span(d, edge_s=5.0) for d, _, _ in songs]
        pool = np.concatenate(
            [relative_positions(ev, sp) for (_, _, ev), sp in zip(songs, spans, strict=True)]
        )
        draws = [
            pseudo_transitions(ev, duration_s=d, span_s=sp, position_pool=pool, seed=k)
            for k, ((d, _, ev), sp) in enumerate(zip(songs, spans, strict=True))
        ]
        labels = np.repeat([f"s{k}" for k in range(7)], n_listeners)
        for degree in p:
            averages = [
                locked_averages(TimeSeries(x[i], RATE_HZ), pt, position_degree=degree)
                for (_, x, _), pt in zip(songs, draws, strict=True)
                for i in range(n_listeners)
            ]
            events = np.array([a.events for a in averages])
            control = np.array([a.control for a in averages])
            p[degree].append(song_level_test(events, control, EPOCH_TIMES_S, songs=labels).p)
    tails = {
        degree: np.mean((np.array(v) <= 0.2) | (np.array(v) >= 0.8)) for degree, v in p.items()
    }
    # Uniform p put 40 % in the two outer fifths; 99 % binomial bounds over 60 studies: 25-57 %.
    assert tails[None] < 0.25
    assert 0.25 <= tails[3] <= 0.57
    assert np.mean(np.array(p[3]) <= 0.05) <= stats.binom.ppf(0.99, n_studies, 0.07) / n_studies
