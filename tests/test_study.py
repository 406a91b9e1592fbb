import gzip
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import uniform_filter1d

from frisson.latent import lagged_correlation
from frisson.physio.io import read_bids_physio
from frisson.simulate import StudyParams, simulate_study, synth_piece
from frisson.study import read_study


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i in range(2):
        synth_piece(n_sections=4, section_s=(8.0, 10.0), seed=40 + i).write(
            folder / f"song-{i + 1}.wav"
        )
    return folder


@pytest.fixture(scope="module")
def simulated(stimuli, tmp_path_factory):
    params = StudyParams(n_participants=3, dropout_probability=0.0, motion_per_min=0.0)
    return simulate_study(
        stimuli, tmp_path_factory.mktemp("study") / "study", params=params, seed=7
    )


def _label(pid):
    return f"sub-{pid}/beh/sub-{pid}_task-listening"


def test_simulated_study_validates_and_reads_back_exactly(simulated):
    study = read_study(simulated.root)
    assert study.validate() == []
    assert study.participant_ids == ["01", "02", "03"]
    assert sorted(study.stimuli) == ["song-1.wav", "song-2.wav"]
    for pid, columns in simulated.recordings.items():
        physio = read_bids_physio(simulated.root / f"{_label(pid)}_recording-physio_physio.tsv.gz")
        for kind in ("eda", "ppg"):
            assert physio[kind].rate_hz == 100.0
            np.testing.assert_array_equal(
                physio[kind].values[:, 0].astype(np.float32), columns[kind]
            )
        ratings = read_bids_physio(
            simulated.root / f"{_label(pid)}_recording-ratings_physio.tsv.gz"
        )
        np.testing.assert_array_equal(
            ratings["emotionality"].values[:, 0].astype(np.float32), columns["emotionality"]
        )
        assert ratings["emotionality"].rate_hz == 5.0


def test_trials_are_on_stimulus_time_with_their_events(simulated):
    study = read_study(simulated.root)
    trials = list(study.trials())
    assert len(trials) == 3 * 2
    truth = json.loads((simulated.root / "derivatives/ground_truth/simulation.json").read_text())
    for trial in trials:
        duration = truth["stimuli"][trial.stimulus]["duration_s"]
        assert trial.duration_s == pytest.approx(duration, abs=1e-5)
        eda = trial.responses["eda"]
        assert 0 <= eda.start_s < 0.01 and eda.end_s == pytest.approx(duration, abs=0.01)
        # The trial's samples are the run's samples from the stimulus onset on.
        run = simulated.recordings[trial.participant]["eda"]
        first = int(np.ceil(trial.onset_s * 100 - 1e-9))
        np.testing.assert_array_equal(
            eda.values[:, 0].astype(np.float32), run[first : first + eda.n_times]
        )
        chills = trial.event_times_s("chill")
        assert np.all((chills >= 0) & (chills <= trial.duration_s))
    only = list(study.trials(participant="02", stimulus="song-2.wav", pre_s=2.0))
    assert len(only) == 1 and only[0].responses["eda"].start_s == pytest.approx(-2.0, abs=0.01)


def _damaged(simulated, tmp_path, damage):
    root = tmp_path / "damaged"
    shutil.copytree(simulated.root, root)
    damage(root)
    return root


def _truncate_rows(root):
    path = root / f"{_label('02')}_recording-physio_physio.tsv.gz"
    lines = gzip.open(path, "rt").read().splitlines()
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines[: len(lines) // 3]) + "\n")


def _truncate_bytes(root):
    path = root / f"{_label('02')}_recording-physio_physio.tsv.gz"
    path.write_bytes(path.read_bytes()[:5000])


def _rate(value):
    def damage(root):
        path = root / f"{_label('02')}_recording-physio_physio.json"
        sidecar = json.loads(path.read_text())
        sidecar["SamplingFrequency"] = value
        path.write_text(json.dumps(sidecar))

    return damage


def _nan_block(root):
    path = root / f"{_label('02')}_recording-physio_physio.tsv.gz"
    lines = gzip.open(path, "rt").read().splitlines()
    for i in range(2000, 2300):  # 3 s at 100 Hz, inside the first trial (10 s on)
        lines[i] = "n/a\tn/a"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("damage", "severity", "message"),
    [
        (
            lambda root: (root / "stimuli" / "song-2.wav").unlink(),
            "error",
            "stimulus 'stimuli/song-2.wav' is missing from stimuli/",
        ),
        (_truncate_rows, "error", "lies outside the eda recording"),
        (_truncate_bytes, "error", "cannot be read"),
        (_rate(1000.0), "error", "lies outside the eda recording .* at 1000 Hz"),
        (_rate(10.0), "error", "SamplingFrequency is probably wrong .* at most 110 Hz"),
        (_nan_block, "warning", "eda has 3.0 s of NaN during trial"),
    ],
    ids=[
        "stimulus-deleted",
        "physio-truncated",
        "physio-corrupt",
        "rate-too-high",
        "rate-too-low",
        "nan-block",
    ],
)
def test_damaged_copies_report_the_specific_problem(simulated, tmp_path, damage, severity, message):
    import re

    root = _damaged(simulated, tmp_path, damage)
    study = read_study(root)
    problems = study.validate()
    assert any(p.severity == severity and re.search(message, p.message) for p in problems), problems
    # Other participants' trials still load.
    loaded = list(study.trials(on_error="skip"))
    assert {t.participant for t in loaded} >= {"01", "03"}
    run = subprocess.run(
        [sys.executable, "-m", "frisson", "study", "validate", str(root)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == (1 if severity == "error" else 0)
    assert "Traceback" not in run.stderr


def _phasic_drive_p_values(sim):
    """Per participant: Fisher-combined p of the lagged correlation of phasic EDA with the drive."""
    study = read_study(sim.root)
    by_participant = {}
    for trial in study.trials():
        eda = trial.responses["eda"]
        phasic = eda.replace(
            eda.values - uniform_filter1d(eda.values, size=1000, axis=0, mode="nearest")
        )
        drive = sim.drives[trial.stimulus].drive
        aligned = phasic.align_to(drive).values[:, 0]
        keep = np.isfinite(aligned)
        result = lagged_correlation(
            aligned[keep],
            drive.values[keep, 0],
            rate_hz=drive.rate_hz,
            lag_range_s=(0, 5),
            n_surrogates=199,
        )
        by_participant.setdefault(trial.participant, []).append(result.p)
    return {pid: stats.combine_pvalues(ps).pvalue for pid, ps in by_participant.items()}


def test_default_effect_links_phasic_response_to_drive_in_every_participant(simulated):
    p_values = _phasic_drive_p_values(simulated)
    assert len(p_values) == 3
    assert all(p < 0.01 for p in p_values.values()), p_values


def test_effect_size_zero_gives_responses_independent_of_the_drive(stimuli, tmp_path):
    params = StudyParams(n_participants=12, effect_size=0.0, ratings_rate_hz=None)
    sim = simulate_study(stimuli, tmp_path / "null", params=params, seed=3)
    assert not sim.scr_onsets["evoked"].any()
    p_values = np.array(list(_phasic_drive_p_values(sim).values()))
    # Under the null the combined p-values are uniform: few small ones, no KS rejection.
    assert np.mean(p_values < 0.05) <= 0.2
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_unknown_event_columns_and_beh_ratings(simulated, tmp_path):
    import pandas as pd

    root = tmp_path / "extra"
    shutil.copytree(simulated.root, root)
    events_path = root / f"{_label('01')}_events.tsv"
    events = pd.read_csv(events_path, sep="\t")
    events["mood"] = "ok"
    events.to_csv(events_path, sep="\t", index=False, na_rep="n/a")
    # Ratings as a *_beh.tsv table on a regular 2 Hz grid.
    times = np.arange(0, 60, 0.5)
    pd.DataFrame({"time_s": times, "enjoyment": np.linspace(0, 1, times.size)}).to_csv(
        root / f"{_label('01')}_beh.tsv", sep="\t", index=False
    )
    study = read_study(root)
    problems = study.validate()
    assert [p.severity for p in problems] == ["warning"]
    assert "unknown column(s) ['mood']" in problems[0].message
    trial = next(study.trials(participant="01"))
    enjoyment = trial.responses["enjoyment"]
    assert enjoyment.rate_hz == 2.0
    np.testing.assert_allclose(
        enjoyment.values[0, 0],
        np.interp(trial.onset_s + enjoyment.start_s, times, np.linspace(0, 1, times.size)),
    )
