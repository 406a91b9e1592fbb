"""End-to-end: the chills analyses on a simulated study with a planted effect, and on a null study.

The simulator plants skin-conductance responses at each piece's own section
boundaries (never at what the analysis detects) and, in both studies, realistic
confounds: SCRs shared by all listeners at moments unrelated to the structure,
onset responses, habituation, drift, loudness-driven responses, artefacts. The
null study turns every confound up and plants nothing, except loudness-driven
responses: in these pieces loudness rises only at section boundaries, so a
response to loudness is a response at the transitions (a real effect for both
tests, see ``frisson.simulate.NULL_FAMILIES``). Assertions use numbers a null study
does not produce: the null side is asserted alongside.

The run locks to its default transitions (``tested_novelty``): a song's
segmentation is kept only when it beats surrogates song-wise. The pieces are
generator seeds whose sections pass that test (song p <= .025 at 199
surrogates with ``musicnn-msd``, measured); of seeds 300-305, two 4-section
pieces of about 45 s did not (p .095 and .06): the test's power on pieces this
short, which the transition test then leaves out (asserted in
``tests/test_run_draws.py``).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frisson.latent import score_boundaries
from frisson.models import HELD_OUT_SONGS, SEEN_SONGS
from frisson.pipelines.chills import RunConfig, run_study
from frisson.report.study_report import write_study_report
from frisson.simulate import (
    StudyParams,
    null_params,
    read_stimulus_boundaries,
    simulate_study,
    synth_piece,
)

CNN = {"epochs": 30, "n_filters": 8, "patience": 8}
RIDGE = "ridge (same embedding)"
#: Generator seeds of the 6 pieces (4 sections of 9-14 s) whose sections pass the song-wise test.
SEEDS = (301, 304, 305, 306, 307, 308)
#: Least F at 3 s of a piece's tested transitions against its composed boundaries
#: (measured 0.75-1.0: every boundary found, plus up to 2 inside sections).
F_MIN = 0.7


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i, seed in enumerate(SEEDS):
        piece = synth_piece(n_sections=4, section_s=(9.0, 14.0), seed=seed)
        piece.write(folder / f"piece-{i + 1}.wav")
    return folder


def _run(stimuli, root, params, seed):
    simulate_study(stimuli, root / "study", params=params, seed=seed)
    config = RunConfig(
        study=root / "study",
        output=root / "results",
        encoder="musicnn-msd",
        decomposition="highpass",
        n_permutations=1000,
        n_surrogates=199,
        cnn=CNN,
        n_test=4,
        song_folds=3,
        seed=seed,
    )
    results = run_study(config, progress_bar=False)
    results.files = write_study_report(results, config.output)
    return results


@pytest.fixture(scope="module")
def with_effect(stimuli, tmp_path_factory):
    params = StudyParams(n_participants=14, ratings_rate_hz=None, physio_rate_hz=20.0)
    return _run(stimuli, tmp_path_factory.mktemp("effect"), params, seed=1)


@pytest.fixture(scope="module")
def without_effect(stimuli, tmp_path_factory):
    params = null_params("all", n_participants=14, ratings_rate_hz=None, physio_rate_hz=20.0)
    return _run(stimuli, tmp_path_factory.mktemp("null"), params, seed=2)


def test_boundary_locked_scr_is_found_over_songs_and_the_null_is_not(with_effect, without_effect):
    effect = with_effect.epochs
    assert effect.n_songs == 6 and effect.n_participants == 14
    assert effect.exact and effect.min_possible_p == pytest.approx(1 / 64)
    # Every song's listeners respond after its transitions: the smallest p 6 songs allow.
    assert effect.p == pytest.approx(1 / 64) and effect.ci[0] > 0
    significant = [c for c in effect.clusters if c[3] < 0.05]
    assert significant and significant[0][0] >= 0.0  # after the transition (baseline t < 0)
    null = without_effect.epochs
    assert null.p > 0.05 and null.ci[0] < 0 < null.ci[1]
    assert effect.effect > null.ci[1]


def test_controls_are_drawn_like_the_transitions_outside_the_onset_window(with_effect, stimuli):
    counts = with_effect.epoch_counts
    # 20 pseudo-transition sets per song, as many controls as transitions in each (a
    # control drawn at the very end of a span can lose its last epoch sample)
    assert 0.99 * 20 * counts["events"] <= counts["controls"] <= 20 * counts["events"]
    assert with_effect.config.control_positions == "pooled"
    assert with_effect.config.control_position_degree == 3  # compared at the same positions
    assert with_effect.config.transition_method == "tested_novelty"  # the run's default
    assert counts["songs"] == counts["songs_with_transitions"] == counts["songs_tested"] == 6
    for name, song in with_effect.songs.items():
        found = song.transitions[with_effect.config.transition_method]
        # Every piece's sections beat the null at the song-wise level (0.05; the kernel share's
        # extra columns cost strongly sectioned songs a little: 0.035 at most here), and its
        # tested transitions recover its own composed boundaries (<stem>_boundaries.tsv) within 3 s.
        assert found.times_s.size and found.p.max() <= found.alpha == 0.05
        planted, _ = read_stimulus_boundaries(stimuli / f"{Path(name).stem}_boundaries.tsv")
        score = score_boundaries(found.times_s, planted, duration_s=song.duration_s)[1]
        assert score.window_s == 3.0 and score.recall == 1.0 and score.f_measure >= F_MIN
    assert "6 of 6 songs have any" in with_effect.summary()


def test_the_headline_holds_out_songs_and_memorisation_is_only_a_ceiling(without_effect):
    evaluation = without_effect.cnn
    summary = evaluation.summary()
    assert summary["headline"].sum() == 1
    headline = summary[summary["headline"]].iloc[0]
    assert headline["model"] == "cnn" and headline["scope"] == HELD_OUT_SONGS
    # On the null study, models fitted on every song score by memorising each song's
    # shared response: high r on held-out participants who heard those songs ...
    assert evaluation.median_r(RIDGE, SEEN_SONGS) > 0.3
    assert evaluation.fisher_p(RIDGE, SEEN_SONGS) < 0.01
    assert evaluation.song_level_p(RIDGE, SEEN_SONGS) <= 2 / 64  # 6 songs: the smallest is 1/64
    # ... while the held-out-song scores (the headline) show nothing.
    assert headline["p"] == evaluation.song_level_p("cnn", HELD_OUT_SONGS) > 0.05
    assert evaluation.song_level_p(RIDGE, HELD_OUT_SONGS) > 0.05
    assert evaluation.fisher_p("cnn", HELD_OUT_SONGS) > 0.05
    assert evaluation.fisher_p(RIDGE, HELD_OUT_SONGS) > 0.05
    assert abs(evaluation.median_r(RIDGE, HELD_OUT_SONGS)) < 0.2


def test_planted_responses_are_predicted_on_held_out_songs(with_effect, without_effect):
    effect = with_effect.cnn.median_r(RIDGE, HELD_OUT_SONGS)
    null = without_effect.cnn.median_r(RIDGE, HELD_OUT_SONGS)
    assert effect > null + 0.2
    assert with_effect.cnn.fisher_p(RIDGE, HELD_OUT_SONGS) < 0.01
    assert with_effect.cnn.song_level_p(RIDGE, HELD_OUT_SONGS) <= 0.05


def test_outputs_and_report(with_effect):
    out = with_effect.config.output
    names = {p.name for p in with_effect.files}
    for expected in (
        "report.html",
        "epochs.png",
        "isc.png",
        "predictions.png",
        "cnn_evaluation.tsv",
        "cnn_summary.tsv",
        "epochs_effect.tsv",
        "epochs_songs.tsv",
        "epochs_clusters.tsv",
        "isc.tsv",
        "transitions.tsv",
        "settings.json",
    ):
        assert expected in names
    summary = pd.read_csv(out / "cnn_summary.tsv", sep="\t")
    assert summary["headline"].sum() == 1 and "scope" in summary
    effect = pd.read_csv(out / "epochs_effect.tsv", sep="\t")
    assert effect.loc[0, "n_songs"] == 6 and effect.loc[0, "ci_low"] > 0
    assert effect.loc[0, "transition_method"] == "tested_novelty"
    assert effect.loc[0, "songs_with_transitions"] == effect.loc[0, "songs_analysed"] == 6
    # Every candidate with its song's p; default marks those the epochs locked to.
    table = pd.read_csv(out / "transitions.tsv", sep="\t")
    assert {"stimulus", "time_s", "p", "default"} <= set(table.columns)
    assert (table["p"] <= 0.05).eq(table["default"]).all()
    for name, song in with_effect.songs.items():
        used = table[(table["stimulus"] == name) & table["default"]]["time_s"]
        np.testing.assert_allclose(used, song.transitions["tested_novelty"].times_s)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "src='http" not in html
    assert "memorisation ceiling" in html and "mismatched" in html
    assert "songs as the random factor" in html
    assert "6 of 6 songs had tested_novelty transitions" in html


def test_rerun_uses_the_cache_and_gives_identical_results(with_effect):
    cache = sorted((with_effect.config.output / "cache").iterdir())
    assert cache and all(p.suffix == ".npz" for p in cache)  # nothing pickled
    again = run_study(with_effect.config, progress_bar=False)
    assert sorted((with_effect.config.output / "cache").iterdir()) == cache
    np.testing.assert_array_equal(again.epochs.t_values, with_effect.epochs.t_values)
    assert again.epochs.p == with_effect.epochs.p
    assert again.cnn.to_frame().equals(with_effect.cnn.to_frame())
