"""Real BIDS layouts: OpenNeuro ds003085 (no events, one piece per task) and inheritance.

The replica copies ds003085's layout as the issue describes it: no participants.tsv,
no events.tsv, no stimuli/; ``sub-XX/func/sub-XX_task-<piece>_bold.nii.gz`` with one
piece per run; ``RepetitionTime`` (1 s) in top-level ``task-<piece>_bold.json``
sidecars that every participant inherits, while the NIfTI headers say 2.5 s.
"""

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import soundfile as sf

from frisson._bids import applicable_sidecars, entities, inherited_metadata, suffix
from frisson.errors import DataError, ParameterError
from frisson.study import load_bold, read_study

PIECES = {"happy": 12.0, "sad": 9.0}  # audio length (s)
N_VOLUMES = 15


def _bold(path, n_volumes=N_VOLUMES, header_tr=2.5, seed=0):
    data = np.random.default_rng(seed).standard_normal((2, 2, 1, n_volumes)).astype(np.float32)
    image = nib.Nifti1Image(data + 100, np.eye(4))
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms((3.0, 3.0, 3.0, header_tr))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)
    return data + 100


@pytest.fixture
def ds003085(tmp_path):
    """A tiny replica of ds003085's layout, with the audio outside the dataset."""
    root = tmp_path / "ds003085"
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "replica", "BIDSVersion": "1.4.0", "DatasetType": "raw"})
    )
    (root / "README").write_text("replica of the layout of OpenNeuro ds003085\n")
    for piece in PIECES:
        (root / f"task-{piece}_bold.json").write_text(
            json.dumps({"RepetitionTime": 1.0, "TaskName": piece, "SliceTiming": [0.0, 0.5]})
        )
    for index, pid in enumerate(("01", "02")):
        for k, piece in enumerate(PIECES):
            _bold(root / f"sub-{pid}/func/sub-{pid}_task-{piece}_bold.nii.gz", seed=10 * index + k)
    audio = tmp_path / "audio"
    audio.mkdir()
    for piece, length in PIECES.items():
        t = np.arange(int(8000 * length)) / 8000
        sf.write(audio / f"{piece}.wav", 0.1 * np.sin(2 * np.pi * 440 * t), 8000)
    return root, {piece: str(audio / f"{piece}.wav") for piece in PIECES}


def test_one_piece_per_run_without_events(ds003085):
    root, audio = ds003085
    study = read_study(root, task_stimuli=audio)
    assert [run.label for run in study.runs] == [
        "sub-01_task-happy", "sub-01_task-sad", "sub-02_task-happy", "sub-02_task-sad",
    ]  # fmt: skip
    assert all(run.events is None and run.bold is not None for run in study.runs)
    assert study.participant_ids == ["01", "02"]
    for run in study.runs:
        piece = run.entities["task"]
        ((onset, duration, name),) = study.presentations(run)
        assert (onset, duration) == (0.0, PIECES[piece])
        assert name == f"{piece}.wav" and study.stimuli[name] == Path(audio[piece])
    trials = list(study.trials(participant="01"))
    assert [(t.stimulus.endswith("happy.wav"), t.duration_s) for t in trials] == [
        (True, 12.0), (False, 9.0),
    ]  # fmt: skip


def test_sidecar_tr_wins_over_the_header_with_a_warning(ds003085, caplog):
    root, audio = ds003085
    study = read_study(root, task_stimuli=audio)
    with caplog.at_level(logging.WARNING, logger="frisson"):
        bold = study.read_bold(study.runs[0])
    assert bold.rate_hz == 1.0  # the sidecar's 1 s, not the header's 2.5 s
    assert bold.n_times == N_VOLUMES and bold.duration_s == pytest.approx(15.0)
    (message,) = [r.getMessage() for r in caplog.records if "TR" in r.getMessage()]
    assert "header gives TR 2.5 s" in message and "task-happy_bold.json is 1 s" in message
    assert load_bold(study.runs[0].bold, tr_s=2.0).rate_hz == 0.5  # tr_s still wins
    problems = study.validate()
    disagreements = [p for p in problems if "RepetitionTime in task-" in p.message]
    assert len(disagreements) == 4 and {p.severity for p in disagreements} == {"warning"}
    assert [p for p in problems if p.severity == "error"] == []
    assert not [p for p in problems if "missing" in p.message and "json" in p.message]


def test_deeper_sidecars_win_and_other_tasks_do_not_apply(ds003085):
    root, _ = ds003085
    (root / "sub-02" / "sub-02_task-happy_bold.json").write_text(
        json.dumps({"RepetitionTime": 2.0})
    )
    bold_path = root / "sub-02/func/sub-02_task-happy_bold.nii.gz"
    assert [p.relative_to(root).as_posix() for p in applicable_sidecars(bold_path)] == [
        "task-happy_bold.json",
        "sub-02/sub-02_task-happy_bold.json",
    ]
    metadata = inherited_metadata(bold_path)
    assert metadata["RepetitionTime"] == 2.0 and metadata["TaskName"] == "happy"
    assert load_bold(bold_path).rate_hz == 0.5
    assert load_bold(root / "sub-01/func/sub-01_task-happy_bold.nii.gz").rate_hz == 1.0


def test_runs_without_events_need_their_piece_named(ds003085):
    root, audio = ds003085
    study = read_study(root)  # opens: the layout is valid
    with pytest.raises(DataError, match=r"no sub-01_task-happy_events.tsv.*task_stimuli=\{'happy'"):
        study.presentations(study.runs[0])
    errors = [p for p in study.validate() if p.severity == "error"]
    assert any("task_stimuli=" in p.message for p in errors)
    with pytest.raises(ParameterError, match=r"task 'angry'.*tasks are \['happy', 'sad'\]"):
        read_study(root, task_stimuli={"angry": audio["happy"]})
    with pytest.raises(DataError, match=r"nothere.wav: the audio of task 'happy'"):
        read_study(root, task_stimuli={"happy": "nothere.wav"})


def test_physio_sidecar_inherited_from_the_top_level(ds003085):
    """A top-level task-<t>_recording-<r>_physio.json is not reported missing."""
    import gzip

    root, audio = ds003085
    (root / "task-happy_recording-cardiac_physio.json").write_text(
        json.dumps({"SamplingFrequency": 50.0, "StartTime": -1.0, "Columns": ["cardiac"]})
    )
    physio = root / "sub-01/func/sub-01_task-happy_recording-cardiac_physio.tsv.gz"
    values = np.sin(np.arange(50 * 20) / 7.0)
    with gzip.open(physio, "wt") as handle:
        handle.write("\n".join(f"{v:.6f}" for v in values) + "\n")
    study = read_study(root, task_stimuli=audio)
    run = study.runs[0]
    assert run.physio == [physio]
    ppg = study.read_responses(run)["ppg"]
    assert (ppg.rate_hz, ppg.start_s, ppg.n_times) == (50.0, -1.0, 1000)
    np.testing.assert_allclose(ppg.values[:, 0], values, atol=1e-6)
    assert not [p for p in study.validate() if p.severity == "error"]


def test_entity_parsing():
    assert entities("sub-01_ses-2_task-happy_acq-mb4_run-03_bold.nii.gz") == {
        "sub": "01", "ses": "2", "task": "happy", "acq": "mb4", "run": "03",
    }  # fmt: skip
    assert suffix("sub-01_task-x_recording-ratings_physio.tsv.gz") == "physio"
    assert suffix("sub-01_task-x") == ""


def test_inheritance_agrees_with_pybids(ds003085):
    """pybids (the reference implementation) merges the same sidecars into the same metadata."""
    bids = pytest.importorskip("bids")
    root, _ = ds003085
    (root / "sub-02" / "sub-02_task-happy_bold.json").write_text(
        json.dumps({"RepetitionTime": 2.0, "EchoTime": 0.03})
    )
    (root / "task-sad_recording-cardiac_physio.json").write_text(
        json.dumps({"SamplingFrequency": 50.0, "StartTime": 0.0, "Columns": ["cardiac"]})
    )
    (root / "sub-01/func/sub-01_task-sad_recording-cardiac_physio.json").write_text(
        json.dumps({"StartTime": -2.0})
    )
    physio = root / "sub-01/func/sub-01_task-sad_recording-cardiac_physio.tsv.gz"
    physio.write_bytes(b"")
    layout = bids.BIDSLayout(root, validate=False)
    files = [*sorted(root.glob("sub-*/func/*_bold.nii.gz")), physio]
    for path in files:
        assert inherited_metadata(path) == layout.get_metadata(str(path)), path.name
    assert inherited_metadata(physio) == {
        "SamplingFrequency": 50.0, "StartTime": -2.0, "Columns": ["cardiac"],
    }  # fmt: skip


def test_validate_warns_when_two_sidecars_of_a_folder_apply(tmp_path):
    """The layout frisson wrote before recording- labels: the main sidecar also fits the ratings."""
    import gzip

    from frisson.study import write_events

    root = tmp_path / "old"
    beh = root / "sub-01" / "beh"
    write_events(beh / "sub-01_task-x_events.tsv", [{"onset": 1.0, "duration": 2.0}])
    for name, rate, column in (("", 10.0, "eda"), ("_recording-ratings", 5.0, "emotionality")):
        with gzip.open(beh / f"sub-01_task-x{name}_physio.tsv.gz", "wt") as handle:
            handle.write("\n".join(["0.5"] * 40) + "\n")
        (beh / f"sub-01_task-x{name}_physio.json").write_text(
            json.dumps({"SamplingFrequency": rate, "StartTime": 0.0, "Columns": [column]})
        )
    problems = read_study(root).validate()
    (ambiguous,) = [p for p in problems if "all apply to it" in p.message]
    assert ambiguous.severity == "warning"
    assert ambiguous.path == "sub-01/beh/sub-01_task-x_recording-ratings_physio.tsv.gz"
    assert "sub-01_task-x_physio.json, sub-01_task-x_recording-ratings_physio.json" in (
        ambiguous.message
    )
