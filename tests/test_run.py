"""End-to-end: simulate a study with (and without) an effect and run the chills analyses on it."""

import numpy as np
import pytest

from frisson.pipelines.chills import RunConfig, run_study
from frisson.report.study_report import write_study_report
from frisson.simulate import StudyParams, simulate_study, synth_piece

CNN = {"epochs": 40, "n_filters": 8, "patience": 10}


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i in range(4):
        piece = synth_piece(n_sections=4, section_s=(8.0, 14.0), seed=300 + i)
        piece.write(folder / f"piece-{i + 1}.wav")
    return folder


def _run(stimuli, root, effect_size, seed, song_folds):
    params = StudyParams(n_participants=16, effect_size=effect_size, ratings_rate_hz=None)
    simulate_study(stimuli, root / "study", params=params, seed=seed)
    config = RunConfig(
        study=root / "study",
        output=root / "results",
        encoder="musicnn-msd",
        decomposition="highpass",
        n_permutations=500,
        n_surrogates=199,
        cnn=CNN,
        n_test=4,
        song_folds=song_folds,
        seed=seed,
    )
    results = run_study(config, progress_bar=False)
    results.files = write_study_report(results, config.output)
    return results


@pytest.fixture(scope="module")
def with_effect(stimuli, tmp_path_factory):
    return _run(stimuli, tmp_path_factory.mktemp("effect"), 1.0, seed=1, song_folds=2)


@pytest.fixture(scope="module")
def without_effect(stimuli, tmp_path_factory):
    return _run(stimuli, tmp_path_factory.mktemp("null"), 0.0, seed=2, song_folds=0)


def test_transition_locked_scr_exceeds_random_controls(with_effect):
    epochs = with_effect.epochs
    assert epochs.n_participants == 16
    significant = [c for c in epochs.clusters if c[3] < 0.05]
    assert significant, epochs.clusters
    start = significant[0][0]
    assert start >= 0.0  # the response follows the transition (baseline t < 0)
    assert with_effect.epoch_counts["events"] == with_effect.epoch_counts["controls"]


def test_cnn_beats_the_mismatched_song_control(with_effect):
    evaluation = with_effect.cnn
    assert evaluation.median_r("cnn") > 0.4
    assert evaluation.fisher_p("cnn") < 0.001
    control = next(m for m in evaluation.models if "mismatched" in m)
    assert evaluation.median_r("cnn") > evaluation.median_r(control) + 0.3
    assert {"ridge (same embedding)", "cnn (acoustic features)"} <= set(evaluation.models)


def test_no_effect_gives_no_cluster_and_no_prediction(without_effect):
    assert without_effect.epochs.min_p >= 0.05
    assert abs(without_effect.cnn.median_r("cnn")) < 0.2


def test_outputs_and_report(with_effect):
    out = with_effect.config.output
    names = {p.name for p in with_effect.files}
    for expected in (
        "report.html",
        "epochs.png",
        "isc.png",
        "predictions.png",
        "cnn_evaluation.tsv",
        "epochs_clusters.tsv",
        "isc.tsv",
        "transitions.tsv",
        "settings.json",
    ):
        assert expected in names
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "src='http" not in html
    assert "CNN evaluation" in html and "mismatched" in html and "held-out songs" in html


def test_rerun_uses_the_cache_and_gives_identical_results(with_effect):
    cache = sorted((with_effect.config.output / "cache").iterdir())
    again = run_study(with_effect.config, progress_bar=False)
    assert sorted((with_effect.config.output / "cache").iterdir()) == cache
    np.testing.assert_array_equal(again.epochs.t_values, with_effect.epochs.t_values)
    assert again.cnn.to_frame().equals(with_effect.cnn.to_frame())
