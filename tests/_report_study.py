"""A tiny chills study run once for the report tests (mel encoder, ridge only: seconds)."""

from pathlib import Path

import pandas as pd

from frisson.pipelines.chills import RunConfig, run_study
from frisson.simulate import StudyParams, simulate_study, synth_piece


def small_study_results(root: Path, *, n_songs: int = 3, n_participants: int = 6):
    """Simulate a small study under ``root`` and run every analysis on it (no report)."""
    stimuli = root / "stimuli"
    stimuli.mkdir(parents=True)
    for i in range(n_songs):
        piece = synth_piece(n_sections=3, section_s=(13.0, 15.0), rate_hz=16000, seed=40 + i)
        piece.write(stimuli / f"piece-{i + 1}.wav")
    params = StudyParams(n_participants=n_participants, ratings_rate_hz=None, physio_rate_hz=20.0)
    simulate_study(stimuli, root / "study", params=params, seed=3)
    # A study problem: an events column BIDS does not define (a warning of validate()).
    events = sorted((root / "study").rglob("*_events.tsv"))[0]
    table = pd.read_csv(events, sep="\t")
    table.assign(mood="calm").to_csv(events, sep="\t", index=False)
    config = RunConfig(
        study=root / "study",
        output=root / "results",
        encoder="mel",
        decomposition="highpass",
        # 3 short songs, each needed for the transition test: the poster's detector (the
        # tested default keeps them only where a song beats its null; test_run runs it).
        transition_method="pc1_variance",
        n_permutations=100,
        n_surrogates=49,
        sliding_isc_surrogates=20,
        models=("ridge",),
        n_test=2,
        song_folds=2,
        onset_exclude_s=5.0,
        seed=3,
    )
    return run_study(config, progress_bar=False)
