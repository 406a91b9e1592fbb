"""Raw recordings in: init_study and import_study write a BIDS study frisson reads back.

Every channel keeps its rate (one physio file per rate), markers become events,
the device's start time lands in scans.tsv, and the official validator finds 0
errors in what init and import write.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _bids_validator import JUSTIFIED_WARNINGS, validate
from frisson.errors import DataError
from frisson.study import import_study, init_study, read_study, write_recordings
from frisson.timeseries import TimeSeries

T0 = 1_495_437_325.0  # 2017-05-22 07:15:25 UTC


def _e4(path, rate, samples, start=T0):
    lines = [f"{start:.6f}", f"{rate:.6f}", *(f"{v:.6f}" for v in samples)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def raw(tmp_path):
    """Two E4 sessions (EDA 4 Hz, BVP 64 Hz, HR 1 Hz from 10 s), stimuli, a manifest."""
    stimuli = tmp_path / "audio"
    stimuli.mkdir()
    for k, seconds in enumerate((12.0, 8.0)):
        t = np.arange(int(8000 * seconds)) / 8000
        sf.write(stimuli / f"song-{k + 1}.wav", 0.2 * np.sin(2 * np.pi * 330 * t), 8000)
    rows = []
    for pid in ("01", "02"):
        folder = tmp_path / "raw" / f"p{pid}"
        folder.mkdir(parents=True)
        _e4(folder / "EDA.csv", 4.0, 2 + 0.01 * np.arange(240))
        _e4(folder / "BVP.csv", 64.0, np.sin(np.arange(3840) / 10))
        _e4(folder / "HR.csv", 1.0, 70 + np.arange(50), start=T0 + 10)
        (folder / "tags.csv").write_text(f"{T0 + 33.0:.2f}\n")
        rows.append(
            {"participant": pid, "file": f"raw/p{pid}", "format": "e4",
             "stimuli": "song-1.wav;song-2.wav", "onsets": "12;30"}
        )  # fmt: skip
    manifest = tmp_path / "import.tsv"
    pd.DataFrame(rows).to_csv(manifest, sep="\t", index=False)
    return tmp_path, manifest, stimuli


#: Recommended fields only the lab can fill (the README of init says so).
LAB_FILLS = {
    ("JSON_KEY_RECOMMENDED", "License"),
    ("SIDECAR_KEY_RECOMMENDED", "TaskDescription"),
    ("SIDECAR_KEY_RECOMMENDED", "Instructions"),
    ("SIDECAR_KEY_RECOMMENDED", "StimulusPresentation"),
}


def _codes(issues):
    errors = [(i["code"], i.get("subCode"), i.get("location")) for i in issues
              if i["severity"] == "error"]  # fmt: skip
    unjustified = {
        (i["code"], i.get("subCode"))
        for i in issues
        if i["severity"] == "warning"
        and i.get("subCode") not in JUSTIFIED_WARNINGS.get(i["code"], set())
    }
    return errors, unjustified


def test_import_keeps_rates_markers_start_time_and_reads_back(raw):
    tmp, manifest, stimuli = raw
    root = import_study(manifest, tmp / "study", stimuli=stimuli)
    beh = root / "sub-01" / "beh"
    assert sorted(p.name for p in beh.glob("*_physio.tsv.gz")) == [
        "sub-01_task-listening_recording-eda_physio.tsv.gz",
        "sub-01_task-listening_recording-hr_physio.tsv.gz",
        "sub-01_task-listening_recording-ppg_physio.tsv.gz",
    ]
    hr = json.loads((beh / "sub-01_task-listening_recording-hr_physio.json").read_text())
    assert hr["SamplingFrequency"] == 1.0 and hr["StartTime"] == 10.0
    events = pd.read_csv(beh / "sub-01_task-listening_events.tsv", sep="\t")
    assert events[["onset", "duration", "trial_type", "stim_file"]].fillna("").values.tolist() == [
        [12.0, 12.0, "music", "song-1.wav"],
        [30.0, 8.0, "music", "song-2.wav"],
        [33.0, 0.0, "tag", ""],
    ]
    scans = pd.read_csv(root / "sub-01" / "sub-01_scans.tsv", sep="\t")
    assert set(scans["acq_time"]) == {"2017-05-22T07:15:25Z"} and len(scans) == 3
    study = read_study(root)
    assert study.validate() == []
    trial = next(study.trials(participant="01", stimulus="song-2.wav"))
    assert trial.responses["eda"].rate_hz == 4.0 and trial.responses["ppg"].rate_hz == 64.0
    # EDA sample k is 2 + 0.01 k at k / 4 s; the trial starts at 30 s: sample 120.
    assert trial.responses["eda"].values[0, 0] == pytest.approx(3.2, abs=1e-6)
    assert trial.responses["HR"].values[0, 0] == 90.0  # HR starts 10 s in: 70 + 20
    assert trial.events == [("tag", 3.0)]
    errors, warnings = _codes(validate(root))
    assert errors == [] and warnings == LAB_FILLS


def test_init_writes_a_valid_template(tmp_path):
    root = init_study(tmp_path / "new")
    assert (root / "code" / "import.tsv").read_text().startswith("participant\tfile\tformat")
    assert "frisson study import" in (root / "README.md").read_text()
    errors, _ = _codes(validate(root))
    assert errors == []
    with pytest.raises(DataError, match="not empty"):
        init_study(root)


def test_manifest_errors_name_row_and_fix(raw):
    tmp, manifest, stimuli = raw
    table = pd.read_csv(manifest, sep="\t", dtype=str)
    table.loc[1, "onsets"] = "5"
    table.to_csv(manifest, sep="\t", index=False)
    with pytest.raises(DataError, match=r"import.tsv: row 3: 2 stimuli but 1 onsets"):
        import_study(manifest, tmp / "s1", stimuli=stimuli)
    table.loc[1, "onsets"] = "5;25"
    table["exclude"] = ["", "SpO2"]
    table.to_csv(manifest, sep="\t", index=False)
    with pytest.raises(DataError, match=r"row 3: exclude names \['SpO2'\], not channels"):
        import_study(manifest, tmp / "s3", stimuli=stimuli)
    table["exclude"] = "HR"  # the E4's HR starts at 10 s: without it the 5 s trial is kept
    table.to_csv(manifest, sep="\t", index=False)
    study = read_study(import_study(manifest, tmp / "s4", stimuli=stimuli))
    assert len(list(study.trials())) == 4
    assert "HR" not in next(study.trials()).responses
    table.rename(columns={"onsets": "onset"}).to_csv(manifest, sep="\t", index=False)
    with pytest.raises(DataError, match=r"\['onset'\] unknown; a manifest has"):
        import_study(manifest, tmp / "s2", stimuli=stimuli)


def test_write_recordings_groups_by_rate_and_start():
    import tempfile

    from frisson.physio.io import read_bids_physio

    folder = Path(tempfile.mkdtemp())
    channels = {
        "eda": TimeSeries(np.arange(8.0), 4.0, units=["uS"]),
        "TEMP": TimeSeries(np.full(8, 33.0), 4.0),
        "ACC_X": TimeSeries(np.zeros(64), 32.0),
        "ACC_Y": TimeSeries(np.ones(64), 32.0),
        "HR": TimeSeries(np.full(2, 60.0), 1.0, start_s=10.0),
    }
    paths = write_recordings(folder, "sub-01_task-x", channels, start_offset_s=2.0)
    labels = [p.name.split("recording-")[1].split("_")[0] for p in paths]
    assert labels == ["4hz", "32hz", "hr"]
    four = read_bids_physio(paths[0])
    assert sorted(four) == ["TEMP", "eda"] and four["eda"].start_s == -2.0
    assert four["eda"].units == ("uS",)
    assert read_bids_physio(paths[2])["HR"].start_s == 8.0


def test_worked_example_init_then_import(raw):
    """The documented flow: init, raw files in sourcedata/, code/import.tsv, import, read."""
    import shutil

    tmp, manifest, stimuli = raw
    root = init_study(tmp / "mystudy")
    for path in stimuli.iterdir():
        shutil.copy(path, root / "stimuli" / path.name)
    shutil.copytree(tmp / "raw", root / "sourcedata", dirs_exist_ok=True)
    table = pd.read_csv(manifest, sep="\t", dtype=str)
    table["file"] = table["file"].str.replace("raw/", "../sourcedata/", regex=False)
    table.to_csv(root / "code" / "import.tsv", sep="\t", index=False)
    readme = (root / "README.md").read_text()
    import_study(root / "code" / "import.tsv", root)
    assert (root / "README.md").read_text() == readme  # the lab's README is kept
    assert pd.read_csv(root / "participants.tsv", sep="\t")["participant_id"].tolist() == [
        "sub-01", "sub-02",
    ]  # fmt: skip
    study = read_study(root)
    assert study.validate() == [] and len(list(study.trials())) == 4
    errors, warnings = _codes(validate(root))
    assert errors == [] and warnings <= LAB_FILLS | {("NO_AUTHORS", "Authors")}


def test_cli_study_init_and_import(raw):
    """`frisson study init` then `frisson study import`: the same flow from the shell."""
    from click.testing import CliRunner

    from frisson.cli import main

    tmp, manifest, stimuli = raw
    runner = CliRunner()
    result = runner.invoke(main, ["study", "init", str(tmp / "lab")])
    assert result.exit_code == 0 and "code/import.tsv" in result.output
    again = runner.invoke(main, ["study", "init", str(tmp / "lab")])
    assert again.exit_code == 1 and "not empty" in again.output
    result = runner.invoke(
        main,
        ["study", "import", str(manifest), "--out", str(tmp / "lab"), "--stimuli", str(stimuli)],
    )
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output
    assert len(list(read_study(tmp / "lab").trials())) == 4
    broken = tmp / "broken.tsv"
    broken.write_text("participant\tfile\n01\tnowhere.csv\n")
    result = runner.invoke(main, ["study", "import", str(broken), "--out", str(tmp / "lab2")])
    assert (
        result.exit_code == 1
        and "nowhere.csv" in result.output
        and "Traceback" not in result.output
    )
