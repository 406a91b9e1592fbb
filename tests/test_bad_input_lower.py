"""Hostile input for the lower layers (issue 12): atomic files, store integrity, audio, study."""

import multiprocessing
import os
import stat

import pytest

from frisson._io import atomic_write, atomic_write_bytes, atomic_write_text


# ----------------------------------------------------------------------------- _io
def _hammer(target, tag, n, errors):
    payload = tag * 200_000  # big enough that writes overlap in time
    try:
        for _ in range(n):
            atomic_write_bytes(target, payload)
    except BaseException as error:  # reported to the parent
        errors.put(f"{type(error).__name__}: {error}")


def test_two_processes_writing_the_same_file_never_collide(tmp_path):
    target = tmp_path / "step.pkl"
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(target, tag, 150, errors)) for tag in (b"a", b"b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert errors.empty(), errors.get()
    data = target.read_bytes()
    assert data in (b"a" * 200_000, b"b" * 200_000)  # one writer's complete file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.pkl"]  # no .tmp left


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_the_final_file_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "table.tsv", "a\tb\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == "a\tb\n"


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_tmp(tmp_path):
    target = tmp_path / "result.tsv"
    target.write_text("old result\n")

    def half(tmp):
        with open(tmp, "w") as handle:
            handle.write("new resu")
            handle.flush()
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half)
    assert target.read_text() == "old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tsv"]

    def interrupted(tmp):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.tsv", interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tsv"]


# ----------------------------------------------------------------------------- study
STUDY_LABEL = "sub-{pid}/beh/sub-{pid}_task-listening"


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from frisson.simulate import StudyParams, simulate_study, synth_piece

    folder = tmp_path_factory.mktemp("stim")
    synth_piece(n_sections=2, section_s=(4.0, 5.0), seed=1).write(folder / "song-1.wav")
    params = StudyParams(
        n_participants=2, dropout_probability=0.0, motion_per_min=0.0, ratings_rate_hz=None
    )
    sim = simulate_study(folder, tmp_path_factory.mktemp("s") / "study", params=params, seed=1)
    return sim.root


@pytest.fixture()
def study_copy(small_study, tmp_path):
    import shutil

    root = tmp_path / "study"
    shutil.copytree(small_study, root)
    return root


def _file(root, pid, suffix):
    return root / (STUDY_LABEL.format(pid=pid) + suffix)


def _problems(root, severity=None):
    from frisson.study import read_study

    problems = read_study(root).validate()
    return [p for p in problems if severity is None or p.severity == severity]


def _edit_sidecar(root, pid, **fields):
    import json

    path = _file(root, pid, "_recording-physio_physio.json")
    sidecar = json.loads(path.read_text())
    sidecar.update(fields)
    path.write_text(json.dumps(sidecar))
    return path


def _edit_physio_rows(root, pid, edit):
    import gzip

    path = _file(root, pid, "_recording-physio_physio.tsv.gz")
    lines = gzip.open(path, "rt").read().splitlines()
    lines = edit(lines)
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def test_clean_small_study_has_no_problems(small_study):
    assert _problems(small_study) == []


def test_stimulus_links_out_of_the_study_are_refused_like_dotdot(study_copy, tmp_path):
    import pandas as pd

    from frisson.study import read_study

    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes((study_copy / "stimuli" / "song-1.wav").read_bytes())
    (study_copy / "stimuli" / "ext.wav").symlink_to(outside)
    (study_copy / "stimuli" / "inside.wav").symlink_to(study_copy / "stimuli" / "song-1.wav")
    events_path = _file(study_copy, "01", "_events.tsv")
    events = pd.read_csv(events_path, sep="\t")
    extra = events.iloc[[0, 0]].copy()
    extra["onset"] = [30.0, 50.0]
    extra["stim_file"] = ["stimuli/ext.wav", "stimuli/../elsewhere.wav"]
    pd.concat([events, extra]).to_csv(events_path, sep="\t", index=False)
    study = read_study(study_copy)
    assert sorted(study.stimuli) == ["inside.wav", "song-1.wav"]  # ext.wav refused
    problems = study.validate()
    errors = [(p.path, p.message) for p in problems if p.severity == "error"]
    assert ("stimuli/ext.wav", f"is a symbolic link to {outside.resolve()}, outside the study; "
            "refused like a '../' path. Copy the file into stimuli/.") in errors  # fmt: skip
    assert any("'stimuli/ext.wav' links outside the study and was refused" in m for _, m in errors)
    assert any(
        "'stimuli/../elsewhere.wav' points outside stimuli/; refused" in m for _, m in errors
    )
    (link,) = [p for p in problems if p.path == "stimuli/inside.wav"]
    assert link.severity == "warning"
    assert "symbolic link (to stimuli/song-1.wav)" in link.message


def test_empty_and_undecodable_stimuli_are_reported(study_copy):
    (study_copy / "stimuli" / "empty.wav").write_bytes(b"")
    (study_copy / "stimuli" / "noise.mp3").write_bytes(os.urandom(5000))
    errors = {p.path: p.message for p in _problems(study_copy, "error")}
    assert errors["stimuli/empty.wav"] == "is empty (0 bytes); re-copy or re-export it."
    assert errors["stimuli/noise.mp3"].startswith("cannot be decoded as audio")
    assert "ffmpeg -i noise.mp3 noise.wav" in errors["stimuli/noise.mp3"]
    assert len(errors) == 2


def test_negative_and_mismatched_durations(study_copy):
    import pandas as pd

    events_path = _file(study_copy, "01", "_events.tsv")
    events = pd.read_csv(events_path, sep="\t")
    length = events["duration"].iloc[0]  # the simulator writes the audio's length
    events.loc[0, "duration"] = length + 0.4  # within 0.5 s: fine
    events.to_csv(events_path, sep="\t", index=False)
    assert _problems(study_copy) == []
    events.loc[0, "duration"] = length + 2.0
    extra = pd.DataFrame([{"onset": 5.0, "duration": -1.0, "trial_type": "chill"}])
    pd.concat([events, extra]).to_csv(events_path, sep="\t", index=False, na_rep="n/a")
    problems = _problems(study_copy)
    assert [(p.severity, p.message) for p in problems] == [
        ("error", "row 2 has a negative duration (-1 s); durations are seconds >= 0."),
        (
            "warning",
            f"the presentation of 'stimuli/song-1.wav' at 10.00 s lasts {length + 2:.2f} s but "
            f"the audio lasts {length:.2f} s (more than 0.5 s apart); check the duration "
            "column or the stim_file.",
        ),
    ]


def test_duplicate_participant_ids(study_copy):
    path = study_copy / "participants.tsv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    (problem,) = _problems(study_copy)
    assert problem.severity == "error" and problem.path == "participants.tsv"
    assert problem.message == "sub-01 has 2 rows; keep one row per participant."


def test_binary_participants_table_is_one_clear_error(study_copy):
    from frisson.errors import DataError
    from frisson.study import read_study

    (study_copy / "participants.tsv").write_bytes(b"participant_id\tage\n\x00\xff\xfe\x89PNG")
    with pytest.raises(DataError, match=r"participants.tsv: holds binary or non-UTF-8 bytes") as e:
        read_study(study_copy)
    assert "\n" not in str(e.value) and "save it as UTF-8 text" in str(e.value)


def test_infinite_samples_are_errors(study_copy):
    def planted(lines):
        for i in range(300, 305):  # 3.00-3.04 s at 100 Hz
            lines[i] = "inf\t" + lines[i].split("\t")[1]
        return lines

    _edit_physio_rows(study_copy, "02", planted)
    (problem,) = _problems(study_copy)
    assert problem.path == STUDY_LABEL.format(pid="02") + "_recording-physio_physio.tsv.gz"
    assert problem.message.startswith("eda has 5 infinite sample(s) (first at 3.00 s)")


@pytest.mark.parametrize(
    ("unit", "refused"),
    [("kOhm", True), ("ohm", True), ("mV", True), ("uS", False), ("µS", False),
     ("μS", False), ("microsiemens", False), ("nS", False), ("micro Siemens", False)],
)  # fmt: skip
def test_eda_units_must_be_conductance(study_copy, unit, refused):
    _edit_sidecar(study_copy, "01", eda={"Units": unit})
    problems = _problems(study_copy, "error")
    if refused:
        (problem,) = problems
        assert f"eda (eda) is in {unit!r}, not a conductance unit" in problem.message
        assert "uS = 1000 / kOhm" in problem.message
    else:
        assert problems == []


def test_trial_past_the_recording_is_an_error_and_skipped_by_trials(study_copy, caplog):
    import logging

    from frisson.study import read_study

    _edit_physio_rows(study_copy, "02", lambda lines: lines[:1500])  # ends at 15 s, trial 10-19 s
    problems = _problems(study_copy, "error")
    assert [p.message.split(" lies ")[1].split(" (")[0] for p in problems] == [
        "outside the eda recording",
        "outside the ppg recording",
    ]
    with caplog.at_level(logging.WARNING, logger="frisson"):
        trials = list(read_study(study_copy).trials())
    assert [t.participant for t in trials] == ["01"]
    (record,) = [r for r in caplog.records if "skipping the trial" in r.getMessage()]
    message = record.getMessage()
    assert str(_file(study_copy, "02", "_events.tsv")) in message
    assert "participant 02 with stimulus 'song-1.wav'" in message
    assert "past the eda, ppg recording" in message


def test_sidecar_errors_name_the_json(study_copy):
    path = _edit_sidecar(study_copy, "02", SamplingFrequency="fast")
    (problem,) = _problems(study_copy)
    assert problem.path == STUDY_LABEL.format(pid="02") + "_recording-physio_physio.json"
    assert problem.message.startswith("SamplingFrequency must be a positive number of Hz")
    path.unlink()
    (problem,) = _problems(study_copy)
    assert problem.path == STUDY_LABEL.format(pid="02") + "_recording-physio_physio.json"
    assert "is missing" in problem.message


def test_a_missing_physio_file_does_not_ask_for_rate_hz(study_copy):
    _file(study_copy, "02", "_recording-physio_physio.tsv.gz").unlink()
    errors = _problems(study_copy, "error")
    (problem,) = errors
    assert problem.path == STUDY_LABEL.format(pid="02") + "_recording-physio_physio.tsv.gz"
    assert problem.message.startswith("the recording is missing (its sidecar")
    assert "rate_hz" not in problem.message


@pytest.mark.parametrize("name", ["sub_03", "subject-03", "sub-03_extra", "S03"])
def test_oddly_named_subject_folders_are_reported(study_copy, name):
    import shutil

    shutil.copytree(study_copy / "sub-02", study_copy / name)
    (problem,) = _problems(study_copy)
    assert problem.severity == "warning" and problem.path == f"{name}/"
    assert problem.message.startswith("is not a participant folder named sub-<label>")


def test_equal_stems_in_different_folders_are_distinct_stimuli(study_copy):
    import pandas as pd

    from frisson.study import read_study, stimulus_stem

    song = study_copy / "stimuli" / "song-1.wav"
    for sub in ("a", "b"):
        (study_copy / "stimuli" / sub).mkdir()
        (study_copy / "stimuli" / sub / "x.wav").write_bytes(song.read_bytes())
    events_path = _file(study_copy, "01", "_events.tsv")
    events = pd.read_csv(events_path, sep="\t")
    events.loc[0, "stim_file"] = "stimuli/b/x.wav"
    events.to_csv(events_path, sep="\t", index=False)
    study = read_study(study_copy)
    assert sorted(study.stimuli) == ["a/x.wav", "b/x.wav", "song-1.wav"]
    assert study.stimuli["b/x.wav"] == study_copy / "stimuli" / "b" / "x.wav"
    assert {stimulus_stem(n) for n in study.stimuli} == {"a/x", "b/x", "song-1"}
    assert study.validate() == []
    trial = next(study.trials(participant="01"))
    assert trial.stimulus == "b/x.wav"
