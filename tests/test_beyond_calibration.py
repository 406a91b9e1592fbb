"""Chill-locked skin conductance over songs: calibration when chills are song moments, power.

The null studies make chills cluster at two moments of each song (shared by its
listeners, as chills at a climax are) and give each song SCRs shared by its
listeners at other moments, plus a song-onset decay. Songs as the random factor
stay calibrated; listeners as the unit treat the songs' shared responses as
fixed. Counts are checked against two-sided 99.9 % binomial intervals.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from frisson.chills_events import chill_pseudo_events
from frisson.events import admissible_span, locked_averages, relative_positions, song_level_test
from frisson.timeseries import TimeSeries

RATE_HZ = 10.0
_K = np.arange(0, 12, 1 / RATE_HZ)
SCR = (np.exp(-_K / 2.0) - np.exp(-_K / 0.75)) / np.max(np.exp(-_K / 2.0) - np.exp(-_K / 0.75))


def _bounds(n: int, rate: float = 0.05) -> tuple[int, int]:
    low, high = stats.binom.interval(0.999, n, rate)
    return int(low), int(high)


# ------------------------------------------------------------------ chill-locked SC
def _chill_study(seed: int, chill_scr: float, n_songs: int = 6, n_listeners: int = 6):
    """Trials whose chills cluster at two song moments; SCRs shared by a song's listeners.

    Null when ``chill_scr == 0``: the song-shared SCRs and the song-onset decay are
    unrelated to the chills, which are themselves shared by the song's listeners.
    """
    rng = np.random.default_rng(seed)
    duration, n = 90.0, 900
    times = np.arange(n) / RATE_HZ
    trials = []
    for s in range(n_songs):
        shared = rng.uniform(0.0, duration, rng.poisson(3 * duration / 60))
        moments = rng.uniform(15.0, duration - 10.0, 2)
        for p in range(n_listeners):
            chills = [m + rng.normal(0.0, 1.0) for m in moments if rng.random() < 0.6]
            chills = np.sort(np.r_[chills, rng.uniform(0.0, duration, rng.poisson(0.5))])
            impulses = np.zeros(n)
            lags = rng.uniform(1.0, 3.0, shared.size)
            np.add.at(impulses, np.minimum(n - 1, ((shared + lags) * RATE_HZ).astype(int)), 0.5)
            if chill_scr:
                onsets = chills + rng.uniform(0.5, 2.0, chills.size)
                np.add.at(impulses, np.minimum(n - 1, (onsets * RATE_HZ).astype(int)), chill_scr)
            noise = lfilter([1.0], [1.0, -0.95], 0.05 * rng.standard_normal(n))
            values = np.convolve(impulses, SCR)[:n] + np.exp(-times / 20.0) + noise
            trials.append((f"p{p}", f"s{s}", TimeSeries(values, RATE_HZ), chills))
    return trials, duration


def _chill_locked_p(seed: int, chill_scr: float) -> dict[str, float]:
    trials, duration = _chill_study(seed, chill_scr)
    span = admissible_span(duration, span_s=(0.0, duration), window_s=(-2, 8), onset_exclude_s=10)
    pool = np.concatenate([relative_positions(c, span) for *_, c in trials])
    events, control, songs, listeners = [], [], [], []
    for index, (participant, song, series, chills) in enumerate(trials):
        draw = chill_pseudo_events(
            chills, duration_s=duration, position_pool=pool, seed=seed * 1000 + index
        )
        if draw.events_s.size == 0:
            continue
        averages = locked_averages(series, draw, position_degree=3)
        events.append(averages.events)
        control.append(averages.control)
        songs.append(song)
        listeners.append(participant)
    out = {}
    for unit, labels in (("song", songs), ("participant", listeners)):
        out[unit] = song_level_test(
            np.array(events), np.array(control), averages.times_s, songs=labels, seed=seed
        ).p
    return out


@pytest.fixture(scope="module")
def chill_locked_null():
    return [_chill_locked_p(seed, 0.0) for seed in range(60)]


def test_chill_locked_sc_over_songs_is_calibrated_when_chills_are_song_moments(
    chill_locked_null,
):
    songs = np.array([r["song"] for r in chill_locked_null])
    low, high = _bounds(songs.size)
    assert low <= np.sum(songs < 0.05) <= high  # measured: 5 of 100
    # Listeners as the unit treat the songs' shared responses near their chill moments
    # as fixed: more rejections than songs as the unit (measured 10 of 100 vs 5 of 100).
    listeners = np.array([r["participant"] for r in chill_locked_null])
    assert np.sum(listeners < 0.05) >= np.sum(songs < 0.05)


def test_chill_locked_sc_finds_a_planted_scr_at_chills():
    planted = [_chill_locked_p(500 + seed, 0.3)["song"] for seed in range(8)]
    assert np.mean(np.array(planted) < 0.05) >= 0.75  # measured 19 of 20 at 0.3 uS
