"""The run's transition test when some songs have no (tested) transitions.

With the default detector (``tested_novelty``) a song whose segmentation does
not beat the null keeps no transition: it must give no epochs and no controls,
leave the other songs' control draws as they are, and the test over songs must
then run over the songs that have transitions, and say how many.
"""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from frisson.pipelines._draws import SongEvents, song_events, transition_draws
from frisson.pipelines.chills import RunConfig, _epochs_step, _TrialResponses
from frisson.structure import DEFAULT_TRANSITIONS
from frisson.timeseries import TimeSeries

DURATION_S = 60.0
RATE_HZ = 10.0
#: Per song, its transitions; songs d and e kept none.
TRANSITIONS_S = {
    "a.wav": [20.0, 35.0],
    "b.wav": [25.0, 40.0],
    "c.wav": [30.0],
    "d.wav": [],
    "e.wav": [],
}


def _songs() -> dict:
    """Stand-ins for SongAnalysis: only ``transitions[method]`` is read."""

    def found(times):
        return SimpleNamespace(times_s=np.array(times), params={"edge_s": 5.0})

    return {
        name: SimpleNamespace(
            duration_s=DURATION_S, transitions={DEFAULT_TRANSITIONS: found(times)}
        )
        for name, times in TRANSITIONS_S.items()
    }


def _trials(response_z: float, n_listeners: int = 6) -> list:
    """Noise skin conductance, plus a response of ``response_z`` 2-4 s after each transition."""
    rng = np.random.default_rng(0)
    times = np.arange(round(DURATION_S * RATE_HZ)) / RATE_HZ
    out = []
    for listener in range(n_listeners):
        for name, transitions in TRANSITIONS_S.items():
            values = 0.3 * rng.standard_normal(times.size)
            for t in transitions:
                values[(times >= t + 2) & (times < t + 4)] += response_z
            eda = TimeSeries(values, RATE_HZ)
            out.append(_TrialResponses(f"p{listener}", name, DURATION_S, eda, eda))
    return out


@pytest.fixture()
def config(tmp_path) -> RunConfig:
    return RunConfig(study=tmp_path, output=tmp_path / "out", n_permutations=200)


def test_the_run_locks_to_the_tested_transitions_by_default(config, tmp_path):
    assert config.transition_method == DEFAULT_TRANSITIONS == "tested_novelty"
    toml = tmp_path / "study.toml"
    toml.write_text('[run]\nstudy = "s"\noutput = "o"\ntransition_method = "pc1_variance"\n')
    assert RunConfig.from_toml(toml).transition_method == "pc1_variance"  # the poster's


def test_songs_without_transitions_get_no_controls_and_keep_the_others_draws(config):
    events = song_events(_songs())
    draws = transition_draws(replace(config, control_positions="uniform"), events)
    assert sorted(draws) == sorted(TRANSITIONS_S)  # every song keeps its place (its seed)
    for name in ("d.wav", "e.wav"):
        assert draws[name].events_s.size == 0 and draws[name].controls_s.shape == (20, 0)
    # The others' draws are those they get when d and e had transitions: the seeds are the
    # songs' places in name order, not their places among songs with transitions.
    with_all = dict(events)
    for name in ("d.wav", "e.wav"):
        with_all[name] = SongEvents(DURATION_S, np.array([30.0]), 5.0)
    again = transition_draws(replace(config, control_positions="uniform"), with_all)
    for name in ("a.wav", "b.wav", "c.wav"):
        np.testing.assert_array_equal(draws[name].controls_s, again[name].controls_s)
        assert draws[name].controls_s.shape == (20, len(TRANSITIONS_S[name]))


def test_the_test_runs_over_the_songs_with_transitions_and_counts_them(config):
    result, counts = _epochs_step(config, _songs(), _trials(response_z=1.0))
    assert counts["songs"] == 5 and counts["songs_with_transitions"] == 3
    assert counts["songs_tested"] == result.n_songs == 3 and result.n_participants == 6
    assert counts["events"] == 6 * 5  # 6 listeners x 5 transitions
    assert counts["controls"] == 20 * counts["events"]
    # Each tested song's listeners respond after its transitions: the smallest p 3 songs
    # allow, and the effect of 1 z over half of the 1-5 s summary window (0.5 z).
    assert result.p == pytest.approx(1 / 8) and result.effect == pytest.approx(0.5, abs=0.06)
    null, _ = _epochs_step(config, _songs(), _trials(response_z=0.0))
    assert null.n_songs == 3 and abs(null.effect) < 0.2


def test_too_few_songs_with_transitions_give_no_test(config):
    songs = _songs()
    for name in ("b.wav", "c.wav"):
        songs[name].transitions[DEFAULT_TRANSITIONS].times_s = np.array([])
    result, counts = _epochs_step(config, songs, _trials(response_z=1.0))
    assert result is None
    assert counts["songs_with_transitions"] == counts["songs_tested"] == 1
