"""Listeners who bring their own songs: the analyses without shared stimuli run; ISC says why not.

Eight listeners each hear two songs nobody else hears (the poster's listeners
brought their own chill-inducing music). The transition test, the chill and
heart-rate tests and the chill hit rate keep songs as the random factor (a
song's one listener is its replicate); the CNN is scored on the test
listeners' songs, which no model heard; the individual analyses run over
listeners with the song factor dropped; ISC, which needs listeners sharing a
stimulus, is left out with a warning and a note in its table.
"""

import logging

import pandas as pd
import pytest

from frisson.models import HELD_OUT_SONGS
from frisson.pipelines.chills import RunConfig, run_study
from frisson.report.study_report import write_study_report
from frisson.simulate import StudyParams, simulate_study, synth_piece
from frisson.study import read_study


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    for i in range(16):
        piece = synth_piece(n_sections=3, section_s=(11.0, 13.0), seed=700 + i)
        piece.write(root / "stimuli" / f"own-{i:02d}.wav")
    params = StudyParams(
        n_participants=8,
        own_songs_per_listener=2,
        song_ratings=True,
        rating_scaling=1.0,
        ratings_rate_hz=None,
        physio_rate_hz=40.0,
        spontaneous_chills_per_min=0.3,
        chill_scr_us=0.3,
    )
    simulate_study(root / "stimuli", root / "study", params=params, seed=4)
    config = RunConfig(
        study=root / "study",
        output=root / "out",
        encoder="mel",
        decomposition="highpass",
        analyses=("latent", "epochs", "isc", "cnn", "chills", "heart", "individual"),
        # Every one of the 16 short songs needs transitions here: the poster's detector (the
        # tested default keeps them only where a song beats its null; test_run runs it).
        transition_method="pc1_variance",
        models=("ridge",),
        n_test=2,
        song_folds=3,
        n_surrogates=99,
        n_permutations=500,
        seed=4,
    )
    logger = logging.getLogger("frisson")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        results = run_study(config, progress_bar=False)
    finally:
        logger.removeHandler(handler)
    results.files = write_study_report(results, config.output)
    return root, results, [r.getMessage() for r in records]


def test_each_song_has_one_listener(own):
    root, _, _ = own
    listeners = {}
    for trial in read_study(root / "study").trials():
        listeners.setdefault(trial.stimulus, set()).add(trial.participant)
    assert len(listeners) == 16 and all(len(v) == 1 for v in listeners.values())


def test_the_transition_test_runs_over_songs_and_finds_the_planted_response(own):
    _, results, _ = own
    epochs = results.epochs
    assert epochs.n_songs == 16 and epochs.n_participants == 8
    assert epochs.p < 0.05 and epochs.effect > 0  # measured p = .018 (33-s songs, mel)


def test_isc_is_left_out_with_a_warning_and_a_note(own):
    root, results, messages = own
    assert results.isc == {}
    assert len(results.used["isc_left_out"]) == 16
    assert sum("isc: own-" in m and "ISC needs at least 3" in m for m in messages) == 16
    table = pd.read_csv(root / "out" / "isc.tsv", sep="\t")
    assert len(table) == 16 and table.note.str.startswith("no ISC: 1 listener(s)").all()
    assert "without ISC: too few listeners" in (root / "out" / "report.html").read_text()


def test_the_cnn_is_scored_on_the_test_listeners_own_songs(own):
    _, results, messages = own
    test = results.used["cnn"]["test"]
    scores = results.cnn.for_model("ridge (same embedding)", HELD_OUT_SONGS)
    assert len(test) == 2 and len(scores) == 4  # two test listeners x their two songs
    assert {s.n_participants for s in scores} == {1}
    assert any("12 of 16 songs were heard by no held-out participant" in m for m in messages)


def test_the_opt_in_analyses_run_with_songs_as_units_and_no_song_factor(own):
    _, results, _ = own
    beyond = results.beyond
    rows = pd.DataFrame(beyond.summary_rows()).set_index("test")
    assert set(rows.unit) == {"song"}
    assert rows.loc["skin conductance @ chills", "p"] < 0.05  # 0.3 uS at every chill
    assert rows.loc["chill hit rate after transitions", "n_units"] == 16
    assert set(beyond.chill_hits.n_listeners) == {1}
    table = beyond.song_scores.to_frame()
    assert not table.song_factor.any() and (table.n_participants == 8).all()
    assert "cnn_r_held_out" in beyond.listener_effects
