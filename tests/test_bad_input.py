"""The bad-input corpus (issue 12): damaged audio, studies, configs, arguments, faults, attacks.

Every case is generated here in tmp_path and asserts the exit code, a one-line
``error:`` message naming the file or field and the fix, no traceback, and that
what was there before is intact.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _bad_inputs import (
    BAD_AUDIO,
    BAD_ENCODE_CONFIGS,
    BAD_RUN_CONFIGS,
    FAST,
    HUGE,
    RUN_HEAD,
    SR,
    edit_json,
    enospc,
    float_wav_bytes,
    snapshot,
    tmp_files,
    tone,
    write_toml,
    write_wav,
)
from frisson.cli import main
from frisson.errors import AudioError, DataError, FrissonError, ParameterError


def cli(*args: str, cwd=None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, [str(a) for a in args])
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def assert_refused(result, *fragments: str, code: int = 1) -> str:
    """Exit ``code``, no traceback, one ``error:`` line holding every fragment; returns it."""
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert result.exit_code == code, output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ============================================================================ audio
@pytest.fixture()
def earlier(tmp_path):
    """An output folder holding a result from an earlier run, which must survive."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "pcs.tsv").write_text("time_s\tPC1\n0\t1\n")
    return out


@pytest.mark.parametrize("case", list(BAD_AUDIO))
def test_analyze_refuses_bad_audio(tmp_path, earlier, case):
    build, fragments = BAD_AUDIO[case]
    song = build(tmp_path)
    result = cli("analyze", song, "--out", earlier, *FAST)
    assert_refused(result, *fragments)
    assert snapshot(earlier) == {"pcs.tsv": b"time_s\tPC1\n0\t1\n"}


@pytest.mark.parametrize("case", list(BAD_AUDIO))
def test_load_audio_refuses_bad_audio(tmp_path, case):
    from frisson.audio import load_audio

    build, fragments = BAD_AUDIO[case]
    with pytest.raises(AudioError) as error:
        load_audio(build(tmp_path), min_duration_s=1.0)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    "case",
    [c for c in BAD_AUDIO if c not in ("folder-named-wav", "missing-file")],
)
def test_embed_lists_bad_audio_and_keeps_the_good(tmp_path, case):
    build, fragments = BAD_AUDIO[case]
    folder = tmp_path / "music"
    folder.mkdir()
    bad = build(folder)
    write_wav(folder / "good.wav", tone(3.0))
    store = tmp_path / "store.zarr"
    result = cli("embed", folder, "--store", store, "--encoder", "mel", "--no-progress")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + result.stderr
    failures = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(failures) == 1 and bad.name in failures[0], result.stderr
    for fragment in fragments[1:]:
        assert fragment in failures[0]
    from frisson.store import EmbeddingStore

    assert len(EmbeddingStore(store).entries()) == 1  # the good file is stored


def test_embed_of_a_missing_path_is_one_line(tmp_path):
    result = cli(
        "embed", tmp_path / "nothing.wav", "--store", tmp_path / "s.zarr", "--encoder", "mel"
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert "nothing.wav" in result.stderr


def test_huge_but_finite_samples_are_analysed(tmp_path):
    song = tmp_path / "loud.wav"
    song.write_bytes(float_wav_bytes(HUGE))
    result = cli("analyze", song, "--out", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.output + result.stderr
    assert (tmp_path / "out" / "pcs.tsv").is_file()


@pytest.mark.parametrize(
    ("suffix", "subtype"), [(".flac", "PCM_16"), (".ogg", "VORBIS"), (".WAV", "PCM_16")]
)
def test_other_containers_and_upper_case_extensions_work(tmp_path, suffix, subtype):
    import soundfile as sf

    song = tmp_path / f"song{suffix}"
    sf.write(song, tone(), SR, subtype=subtype, format=suffix.lstrip(".").upper())
    result = cli("analyze", song, "--out", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.output + result.stderr


def test_wav_content_with_a_wrong_extension_is_decoded_by_content(tmp_path):
    song = tmp_path / "song.mp3"  # really a WAV
    song.write_bytes(float_wav_bytes(tone()))
    result = cli("analyze", song, "--out", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.output + result.stderr


def test_truncated_wav_is_analysed_with_a_warning(tmp_path, caplog):
    song = tmp_path / "cut.wav"
    song.write_bytes(float_wav_bytes(tone(14.0))[: 44 + 12 * SR * 4])  # 12 of 14 s present
    with caplog.at_level(logging.WARNING, logger="frisson"):
        result = cli("analyze", song, "--out", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.stderr
    (message,) = [r.getMessage() for r in caplog.records if "header promises" in r.getMessage()]
    assert message.startswith(f"{song}: the header promises 112000 samples (14.00 s)")
    assert "holds 96000 (12.00 s)" in message and "re-copy or re-export" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_audio_is_one_line(tmp_path, earlier):
    song = write_wav(tmp_path / "locked.wav", tone())
    song.chmod(0)
    try:
        assert_refused(cli("analyze", song, "--out", earlier, *FAST), "locked.wav")
    finally:
        song.chmod(0o644)


def test_unreadable_audio_is_one_line_as_seen_by_the_library(tmp_path, earlier, monkeypatch):
    import soundfile as sf

    song = write_wav(tmp_path / "locked.wav", tone())

    def denied(*args, **kwargs):
        raise sf.LibsndfileError(0, f"Error opening {str(song)!r}: Permission denied")

    monkeypatch.setattr(sf, "SoundFile", denied)
    assert_refused(cli("analyze", song, "--out", earlier, *FAST), "locked.wav", "Permission denied")


# ------------------------------------------------------------------ analyze arguments
ANALYZE_ARGS = {
    "window-s-zero": (["--window-s", "0"], ["window_s", "> 0"]),
    "hop-s-zero": (["--hop-s", "0"], ["hop_s", "> 0"]),
    "n-components-zero": (["--n-components", "0"], ["n_components"]),
    "n-surrogates-zero": (["--n-surrogates", "0"], ["n_surrogates", ">= 1"]),
    "variance-window-negative": (["--variance-window", "-1"], ["variance_window_s", "> 0"]),
    "edge-negative": (["--edge", "-1"], ["edge_s", ">= 0"]),
    "min-distance-negative": (["--min-distance", "-1"], ["min_distance"]),
    "seed-negative": (["--seed", "-3"], ["seed", ">= 0"]),
    "unknown-encoder": (["--encoder", "nope"], ["nope", "available"]),
    "unknown-layer": (["--layer", "conv9"], ["conv9", "logmel"]),
    "window-longer-than-song": (["--window-s", "60"], ["song.wav"]),
}


@pytest.mark.parametrize("case", list(ANALYZE_ARGS))
def test_analyze_refuses_bad_settings(tmp_path, earlier, case):
    extra, fragments = ANALYZE_ARGS[case]
    song = write_wav(tmp_path / "song.wav", tone())
    options = [*FAST[:2], "--edge", "1", "--variance-window", "2", "--n-surrogates", "19"]
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in options:
            options[options.index(flag) + 1] = value
        else:
            options += [flag, value]
    assert_refused(cli("analyze", song, "--out", earlier, *options), *fragments)
    assert snapshot(earlier) == {"pcs.tsv": b"time_s\tPC1\n0\t1\n"}


REFERENCES = {
    "binary": (b"\x00\xff\xfe\x89PNG\r\n" * 20, ["ref.tsv", "time_s"]),
    "no-time-column": (b"onset\tlabel\n1.0\ta\n2.0\tb\n", ["ref.tsv", "time_s", "onset"]),
    "not-numbers": (b"time_s\nsoon\nlater\n", ["ref.tsv", "not numbers"]),
    "empty": (b"", ["ref.tsv", "time_s"]),
    "negative-time": (b"time_s\n-3.0\n4.0\n", ["ref.tsv", "-3"]),
}


@pytest.mark.parametrize("case", list(REFERENCES))
def test_analyze_refuses_bad_reference(tmp_path, earlier, case):
    content, fragments = REFERENCES[case]
    reference = tmp_path / "ref.tsv"
    reference.write_bytes(content)
    song = write_wav(tmp_path / "song.wav", tone())
    result = cli("analyze", song, "--out", earlier, "--reference", reference, *FAST)
    assert_refused(result, *fragments)
    assert snapshot(earlier) == {"pcs.tsv": b"time_s\tPC1\n0\t1\n"}


def test_analyze_missing_reference(tmp_path, earlier):
    song = write_wav(tmp_path / "song.wav", tone())
    result = cli("analyze", song, "--out", earlier, "--reference", tmp_path / "no.tsv", *FAST)
    assert_refused(result, "no.tsv", "not found")


def test_analyze_into_a_file_is_refused(tmp_path):
    song = write_wav(tmp_path / "song.wav", tone())
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    result = cli("analyze", song, "--out", target, *FAST)
    assert result.exit_code == 2  # click refuses a file for a folder option
    assert "Traceback" not in result.output + result.stderr
    assert target.read_text() == "keep me"


# ============================================================================ faults
@pytest.fixture()
def good_song(tmp_path):
    return write_wav(tmp_path / "song.wav", tone())


def _deny_writes_under(monkeypatch, folder):
    """Writes under ``folder`` fail as on a read-only folder (root ignores chmod)."""
    import frisson._io as io_module

    original = io_module._create_unique_tmp

    def guarded(path):
        if str(folder) in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path.parent))
        return original(path)

    monkeypatch.setattr(io_module, "_create_unique_tmp", guarded)


def _read_only(monkeypatch, folder):
    if os.geteuid() == 0:
        _deny_writes_under(monkeypatch, folder)
    else:
        folder.chmod(0o555)


def test_analyze_into_a_read_only_folder(tmp_path, good_song, earlier, monkeypatch):
    _read_only(monkeypatch, earlier)
    try:
        result = cli("analyze", good_song, "--out", earlier, *FAST)
    finally:
        earlier.chmod(0o755)
    assert_refused(result, str(earlier), "cannot write", "Permission denied")
    assert snapshot(earlier) == {"pcs.tsv": b"time_s\tPC1\n0\t1\n"}


def test_analyze_with_the_disk_full(tmp_path, good_song, monkeypatch):
    out = tmp_path / "out"
    assert cli("analyze", good_song, "--out", out, *FAST).exit_code == 0
    before = snapshot(out)
    import pandas as pd

    monkeypatch.setattr(pd.DataFrame, "to_csv", enospc)
    result = cli("analyze", good_song, "--out", out, *FAST, "--seed", "1")
    assert_refused(result, str(out), "No space left on device")
    assert tmp_files(tmp_path) == []
    assert snapshot(out) == before  # the earlier results are intact


def test_embed_into_a_read_only_store(tmp_path, good_song, monkeypatch):
    store = tmp_path / "store.zarr"
    assert cli("embed", good_song, "--store", store, "--encoder", "mel").exit_code == 0
    before = snapshot(store)
    other = write_wav(tmp_path / "other.wav", tone(seed=3))
    monkeypatch.setattr(os, "replace", _permission_denied)
    import zarr.storage

    monkeypatch.setattr(zarr.storage.LocalStore, "set", _async_permission_denied, raising=False)
    result = cli("embed", other, "--store", store, "--encoder", "mel", "--no-progress")
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert "Permission denied" in result.stderr
    assert snapshot(store) == before
    assert tmp_files(tmp_path) == []


def _permission_denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


async def _async_permission_denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


# ============================================================================ configs
@pytest.mark.parametrize("case", list(BAD_RUN_CONFIGS))
def test_run_refuses_bad_config_before_any_work(tmp_path, case):
    text, fragments = BAD_RUN_CONFIGS[case]
    path = tmp_path / "study.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = cli("run", path)
    line = assert_refused(result, *fragments)
    assert "study.toml" in line
    assert not (tmp_path / "out").exists()  # nothing was started


@pytest.mark.parametrize("case", list(BAD_RUN_CONFIGS))
def test_run_config_reader_raises_frisson_errors(tmp_path, case):
    from frisson.pipelines.chills import RunConfig

    text, fragments = BAD_RUN_CONFIGS[case]
    path = tmp_path / "study.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError) as error:
        RunConfig.from_toml(path)
    assert "\n" not in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize("case", list(BAD_ENCODE_CONFIGS))
def test_encode_refuses_bad_config(tmp_path, case):
    text, fragments = BAD_ENCODE_CONFIGS[case]
    path = tmp_path / "encode.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert_refused(cli("encode", path), *fragments)
    assert not (tmp_path / "out").exists()


def test_run_config_missing_file(tmp_path):
    assert_refused(cli("run", tmp_path / "none.toml"), "none.toml", "not found")


def test_run_config_is_a_folder(tmp_path):
    (tmp_path / "conf.toml").mkdir()
    result = cli("run", tmp_path / "conf.toml")
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output + result.stderr
    assert "conf.toml" in result.stderr


# ----------------------------------------------------------------- a tiny real study
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    from frisson.simulate import StudyParams, simulate_study, synth_piece

    stimuli = tmp_path_factory.mktemp("stim")
    synth_piece(n_sections=2, section_s=(10.0, 10.0), rate_hz=SR, seed=2).write(
        stimuli / "song-1.wav"
    )
    params = StudyParams(
        n_participants=2, dropout_probability=0.0, motion_per_min=0.0, ratings_rate_hz=None
    )
    root = tmp_path_factory.mktemp("s") / "study"
    simulate_study(stimuli, root, params=params, seed=2)
    return root


@pytest.fixture()
def study(tiny_study, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root)
    return root


def _run_toml(tmp_path, output='"out"', extra=""):
    return write_toml(
        tmp_path,
        f'[run]\nstudy = "study"\noutput = {output}\nencoder = "mel"\n'
        'analyses = ["latent"]\nn_surrogates = 19\n' + extra,
    )


def test_output_that_is_a_file_is_refused(tmp_path, study):
    (tmp_path / "out").write_text("not a folder")
    assert_refused(cli("run", _run_toml(tmp_path)), "output", "is a file", "name a folder")
    assert (tmp_path / "out").read_text() == "not a folder"


def test_output_root_is_refused(tmp_path, study):
    assert_refused(cli("run", _run_toml(tmp_path, output='"/"')), "output = /", "name a folder")


def test_output_home_is_refused(tmp_path, study, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    result = cli("run", _run_toml(tmp_path, output=f'"{tmp_path / "home"}"'))
    assert_refused(result, "refusing to write results there")
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_foreign_output_folder_needs_overwrite(tmp_path, study):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.docx").write_text("years of work")
    assert_refused(cli("run", _run_toml(tmp_path)), "not written by frisson", "--overwrite")
    assert snapshot(tmp_path / "out") == {"thesis.docx": b"years of work"}


def test_run_on_a_missing_study(tmp_path):
    assert_refused(cli("run", _run_toml(tmp_path)), "study")
    assert not (tmp_path / "out").exists()


def test_run_without_stimuli_folder(tmp_path, study):
    shutil.rmtree(study / "stimuli")
    assert_refused(cli("run", _run_toml(tmp_path)), "stimuli")


def test_run_with_the_disk_full_leaves_no_tmp(tmp_path, study, monkeypatch):
    import frisson.pipelines._cache as cache_module

    monkeypatch.setattr(cache_module, "dump_result", enospc)
    result = cli("run", _run_toml(tmp_path))
    assert_refused(result, "No space left on device")
    assert tmp_files(tmp_path) == []


def test_run_into_a_read_only_output(tmp_path, study, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".frisson-output").touch()
    _read_only(monkeypatch, out)
    try:
        result = cli("run", _run_toml(tmp_path))
    finally:
        out.chmod(0o755)
    assert_refused(result, "out", "Permission denied")
    assert tmp_files(tmp_path) == []


# ============================================================================ security
def test_crafted_pickle_in_the_cache_is_never_executed(tmp_path, study, caplog):
    import pickle

    assert cli("run", _run_toml(tmp_path)).exit_code == 0
    entries = sorted((tmp_path / "out" / "cache").glob("latent-*.npz"))
    assert entries
    witness = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    for entry in entries:
        entry.write_bytes(pickle.dumps(Payload()))
    with caplog.at_level(logging.WARNING, logger="frisson"):
        result = cli("run", _run_toml(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert not witness.exists()
    assert any("unreadable" in r.getMessage() and "recomputing" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    # recomputed into a safe entry again
    from frisson.pipelines._cache import load_result

    for entry in entries:
        load_result(entry)


def test_crafted_npz_with_object_arrays_is_recomputed(tmp_path, study, caplog):
    assert cli("run", _run_toml(tmp_path)).exit_code == 0
    (entry,) = sorted((tmp_path / "out" / "cache").glob("latent-*.npz"))
    np.savez(entry, __tree__=np.array([object()], dtype=object))
    with caplog.at_level(logging.WARNING, logger="frisson"):
        assert cli("run", _run_toml(tmp_path)).exit_code == 0
    assert any("recomputing" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "tree",
    [
        b'{"$dc": "os:system", "fields": {}}',
        b'{"$dc": "builtins:eval", "fields": {}}',
        b'{"$dc": "frisson.cli:main", "fields": {}}',
        b'{"$evil": 1}',
        b"not json",
    ],
    ids=["os-system", "builtins-eval", "not-a-dataclass", "unknown-tag", "not-json"],
)
def test_crafted_cache_structure_is_refused(tmp_path, tree):
    from frisson.pipelines._cache import StepCache

    cache = StepCache(tmp_path / "cache")
    key = cache.key("x")
    np.savez(tmp_path / "cache" / f"latent-{key}.npz", __tree__=np.frombuffer(tree, np.uint8))
    assert cache.get("latent", key, lambda: {"ok": 1}) == {"ok": 1}


def test_stimulus_path_traversal_is_refused(study):
    import pandas as pd

    from frisson.study import read_study

    events = next(study.glob("sub-01/beh/*_events.tsv"))
    table = pd.read_csv(events, sep="\t")
    table.loc[0, "stim_file"] = "stimuli/../../etc/passwd"
    table.to_csv(events, sep="\t", index=False)
    problems = read_study(study).validate()
    assert any("outside stimuli/" in p.message and p.severity == "error" for p in problems)
    result = cli("study", "validate", study)
    assert result.exit_code == 1
    assert "outside stimuli/" in result.output


def test_symlinked_stimulus_leaving_the_study_is_refused(study, tmp_path):
    outside = tmp_path / "secret.wav"
    write_wav(outside, tone())
    (study / "stimuli" / "leak.wav").symlink_to(outside)
    result = cli("study", "validate", study)
    assert result.exit_code == 1
    assert "outside the study" in result.output


# ========================================================================== studies
def _events(root, pid="01"):
    return next(root.glob(f"sub-{pid}/beh/*_events.tsv"))


def _sidecar(root, pid="01"):
    return next(root.glob(f"sub-{pid}/beh/*_recording-physio_physio.json"))


def _physio(root, pid="01"):
    return next(root.glob(f"sub-{pid}/beh/*_recording-physio_physio.tsv.gz"))


def _damage(case, root):
    import pandas as pd

    if case == "missing-stimuli":
        shutil.rmtree(root / "stimuli")
    elif case == "binary-participants":
        (root / "participants.tsv").write_bytes(b"participant_id\n\x00\xff\xfe\x89")
    elif case == "duplicate-ids":
        lines = (root / "participants.tsv").read_text().splitlines()
        (root / "participants.tsv").write_text("\n".join([*lines, lines[1]]) + "\n")
    elif case == "negative-duration":
        table = pd.read_csv(_events(root), sep="\t")
        table.loc[0, "duration"] = -5.0
        table.to_csv(_events(root), sep="\t", index=False)
    elif case == "eda-in-kohm":
        edit_json(_sidecar(root), eda={"Units": "kOhm"})
    elif case == "trial-past-recording":
        import gzip

        lines = gzip.open(_physio(root), "rt").read().splitlines()
        with gzip.open(_physio(root), "wt") as handle:
            handle.write("\n".join(lines[:600]) + "\n")
    elif case == "missing-sidecar":
        _sidecar(root).unlink()
    elif case == "broken-sidecar-json":
        _sidecar(root).write_text('{"SamplingFrequency": 100, ')
    elif case == "sidecar-rate-text":
        edit_json(_sidecar(root), SamplingFrequency="fast")
    elif case == "sidecar-rate-negative":
        edit_json(_sidecar(root), SamplingFrequency=-100)
    elif case == "missing-physio":
        _physio(root).unlink()
    elif case == "empty-stimulus":
        (root / "stimuli" / "song-1.wav").write_bytes(b"")
    elif case == "undecodable-stimulus":
        (root / "stimuli" / "song-1.wav").write_bytes(os.urandom(3000))
    elif case == "inf-in-stimulus":
        x = tone(20.0)
        x[100] = np.inf
        (root / "stimuli" / "song-1.wav").write_bytes(float_wav_bytes(x))
    elif case == "missing-stimulus-file":
        (root / "stimuli" / "song-1.wav").unlink()
    elif case == "inf-in-physio":
        import gzip

        lines = gzip.open(_physio(root), "rt").read().splitlines()
        lines[200] = "inf\t" + lines[200].split("\t", 1)[1]
        with gzip.open(_physio(root), "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    elif case == "binary-events":
        _events(root).write_bytes(b"\x00\xff\xfe\x89PNG" * 10)
    elif case == "events-without-onset":
        table = pd.read_csv(_events(root), sep="\t").drop(columns="onset")
        table.to_csv(_events(root), sep="\t", index=False)
    elif case == "participants-without-id":
        (root / "participants.tsv").write_text("name\tage\nann\t30\n")
    elif case == "stimulus-dotdot":
        table = pd.read_csv(_events(root), sep="\t")
        table.loc[0, "stim_file"] = "stimuli/../participants.tsv"
        table.to_csv(_events(root), sep="\t", index=False)
    elif case == "unlisted-stimulus":
        table = pd.read_csv(_events(root), sep="\t")
        table.loc[0, "stim_file"] = "stimuli/nothere.wav"
        table.to_csv(_events(root), sep="\t", index=False)
    elif case == "columns-mismatch":
        edit_json(_sidecar(root), Columns=["eda"])
    else:  # pragma: no cover
        raise AssertionError(case)


#: case -> (exit code of `study validate`, fragments of the report)
STUDY_CASES = {
    "missing-stimuli": (1, ["stimuli"]),
    "binary-participants": (1, ["participants.tsv", "binary", "UTF-8"]),
    "duplicate-ids": (1, ["participants.tsv", "sub-01 has 2 rows"]),
    "negative-duration": (1, ["negative duration", "seconds >= 0"]),
    "eda-in-kohm": (1, ["physio.json", "kOhm", "not a conductance unit"]),
    "trial-past-recording": (1, ["outside the eda recording"]),
    "missing-sidecar": (1, ["physio.json", "is missing"]),
    "broken-sidecar-json": (1, ["physio.json"]),
    "sidecar-rate-text": (1, ["physio.json", "SamplingFrequency"]),
    "sidecar-rate-negative": (1, ["physio.json", "SamplingFrequency"]),
    "missing-physio": (1, ["physio.tsv.gz", "recording is missing"]),
    "empty-stimulus": (1, ["stimuli/song-1.wav", "empty"]),
    "undecodable-stimulus": (1, ["stimuli/song-1.wav", "cannot be decoded"]),
    "inf-in-stimulus": (1, ["stimuli/song-1.wav", "infinite"]),
    "missing-stimulus-file": (1, ["song-1.wav"]),
    "inf-in-physio": (1, ["physio.tsv.gz", "infinite"]),
    "binary-events": (1, ["events.tsv"]),
    "events-without-onset": (1, ["events.tsv", "onset"]),
    "participants-without-id": (1, ["participants.tsv", "participant_id"]),
    "stimulus-dotdot": (1, ["outside stimuli/"]),
    "unlisted-stimulus": (1, ["nothere.wav"]),
    "columns-mismatch": (1, ["physio.json", "Columns"]),
}


STUDY_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=STUDY_XFAIL[c]))
        if c in STUDY_XFAIL
        else c
        for c in STUDY_CASES
    ],
)
def test_study_validate_reports_damage(study, case):
    code, fragments = STUDY_CASES[case]
    _damage(case, study)
    result = cli("study", "validate", study)
    text = result.output + result.stderr
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


@pytest.mark.parametrize("name", ["sub_03", "subject-03", "S03", "sub-03_extra"])
def test_oddly_named_subject_folder_is_a_warning(study, name):
    shutil.copytree(study / "sub-02", study / name)
    result = cli("study", "validate", study)
    assert result.exit_code == 0
    assert f"{name}/" in result.output and "sub-<label>" in result.output


@pytest.mark.parametrize("case", ["missing-root", "root-is-file", "empty-folder"])
def test_study_validate_on_no_study(tmp_path, case):
    root = tmp_path / "study"
    if case == "root-is-file":
        root.write_text("x")
    elif case == "empty-folder":
        root.mkdir()
    result = cli("study", "validate", root)
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == 1
    assert str(root) in result.output + result.stderr


def test_clean_study_validates(study):
    result = cli("study", "validate", study)
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.stderr


# ========================================================================= simulate
SIMULATE_ARGS = {
    "eda-noise-negative": (["--eda-noise", "-1"], ["eda_noise_us", "-1"]),
    "participants-zero": (["--participants", "0"], ["n_participants"]),
    "physio-rate-zero": (["--physio-rate", "0"], ["physio_rate_hz"]),
    "physio-rate-negative": (["--physio-rate", "-100"], ["physio_rate_hz"]),
    "effect-size-negative": (["--effect-size", "-1"], ["effect_size"]),
    "seed-negative": (["--seed", "-1"], ["seed"]),
}


@pytest.mark.parametrize("case", list(SIMULATE_ARGS))
def test_simulate_refuses_bad_arguments(tmp_path, case):
    extra, fragments = SIMULATE_ARGS[case]
    stimuli = tmp_path / "stim"
    stimuli.mkdir()
    write_wav(stimuli / "a.wav", tone())
    result = cli("simulate", "--stimuli", stimuli, "--out", tmp_path / "study", *extra)
    assert_refused(result, *fragments)
    assert not (tmp_path / "study").exists()


def test_simulate_into_a_non_empty_folder_needs_overwrite(tmp_path):
    stimuli = tmp_path / "stim"
    stimuli.mkdir()
    write_wav(stimuli / "a.wav", tone())
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "keep.txt").write_text("mine")
    result = cli("simulate", "--stimuli", stimuli, "--out", tmp_path / "study")
    assert_refused(result, "not empty", "--overwrite")
    assert (tmp_path / "study" / "keep.txt").read_text() == "mine"


def test_simulate_from_a_folder_without_audio(tmp_path):
    (tmp_path / "stim").mkdir()
    (tmp_path / "stim" / "notes.txt").write_text("no audio")
    result = cli("simulate", "--stimuli", tmp_path / "stim", "--out", tmp_path / "study")
    assert_refused(result, "stim")


# ============================================================ other commands and library
def test_fetch_unknown_encoder():
    assert_refused(cli("fetch", "no-such-encoder"), "no-such-encoder", "available")


def test_embed_bad_param():
    result = cli("embed", "x.wav", "--store", "s.zarr", "--param", "novalue")
    assert_refused(result, "--param", "KEY=VALUE")


def test_embed_unknown_param(tmp_path, good_song):
    result = cli(
        "embed", good_song, "--store", tmp_path / "s.zarr", "--encoder", "mel", "--param", "bands=3"
    )
    assert_refused(result, "bands")


def test_embed_unknown_layer(tmp_path, good_song):
    result = cli(
        "embed", good_song, "--store", tmp_path / "s.zarr", "--encoder", "mel", "--layers", "conv9"
    )
    assert_refused(result, "conv9", "logmel")


def test_embed_store_is_a_file(tmp_path, good_song):
    (tmp_path / "s.zarr").write_text("x")
    result = cli("embed", good_song, "--store", tmp_path / "s.zarr", "--encoder", "mel")
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output + result.stderr
    assert (tmp_path / "s.zarr").read_text() == "x"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda a: __import__("frisson.features").features.rms(a, rate_hz=-1), ParameterError),
        (lambda a: __import__("frisson.features").features.rms(a, rate_hz=1e6), ParameterError),
        (
            lambda a: __import__("frisson.features").features.roughness(a, rate_hz=10, model="x"),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.features").features.spectral_flux(
                a, rate_hz=10, hop_s=1.0, frame_s=0.1
            ),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.features").features.compute_features(
                a, rate_hz=10, names=["nope"]
            ),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.features").features.compute_features(
                a, rate_hz=10, names=["rms"], options={"rms": {"bogus": 1}}
            ),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.features").features.loudness(
                a, rate_hz=10, floor_db=float("nan")
            ),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.features").features.spectral_centroid(
                a, rate_hz=10, window="nope"
            ),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.encoders.mel").encoders.mel.MelEncoder(n_mels=0),
            ParameterError,
        ),
        (
            lambda a: __import__("frisson.encoders.mel").encoders.mel.MelEncoder(fmin_hz=20000.0),
            ParameterError,
        ),
    ],
    ids=[
        "rate-negative", "rate-above-audio", "roughness-model", "hop-longer-than-frame",
        "unknown-feature", "unknown-feature-option", "floor-nan", "unknown-window",
        "mel-zero-bands", "mel-fmin-above-nyquist",
    ],
)  # fmt: skip
def test_library_parameters_are_refused_with_frisson_errors(call, error):
    from frisson.audio import audio_from_array

    audio = audio_from_array(tone(2.0), SR)
    with pytest.raises(error) as raised:
        call(audio)
    assert isinstance(raised.value, FrissonError) and "\n" not in str(raised.value)


def test_analyze_song_on_short_in_memory_audio():
    from frisson.audio import audio_from_array
    from frisson.pipelines.song import analyze_song

    with pytest.raises(DataError, match=r"<array>: lasts 5.00 s, shorter than the minimum"):
        analyze_song(audio_from_array(tone(5.0), SR), encoder="mel")


@pytest.mark.parametrize("exists", [True, False], ids=["sidecar-missing", "both-missing"])
def test_bids_physio_without_sidecar_names_the_json(tmp_path, exists):
    from frisson.physio.io import read_physio

    path = tmp_path / "sub-01_physio.tsv.gz"
    if exists:
        path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError) as error:
        read_physio(path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'sub-01_physio.json'}: ")
    assert "rate_hz=..." in message and "give rate_hz" not in message and "\n" not in message


def test_every_case_table_is_large_enough():
    # the corpus of issue 12: at least 150 generated cases
    n_cases = (
        3 * len(BAD_AUDIO) - 2
        + len(ANALYZE_ARGS) + len(REFERENCES) + 2 * len(BAD_RUN_CONFIGS)
        + len(BAD_ENCODE_CONFIGS) + len(STUDY_CASES) + len(SIMULATE_ARGS)
    )  # fmt: skip
    assert n_cases >= 150, n_cases
    assert RUN_HEAD.startswith("[run]")


# ======================================================================= long audio
def test_block_wise_features_equal_the_one_pass_result():
    """5 minutes: the streamed envelope, rms and mel frames equal whole-signal oracles."""
    import librosa

    from frisson import features
    from frisson.audio import audio_from_array
    from frisson.encoders.mel import MelEncoder
    from frisson.timeseries import TimeSeries

    rate = 8000
    t = np.arange(5 * 60 * rate) / rate
    x = (0.3 + 0.2 * np.sin(2 * np.pi * t / 40)) * np.sin(2 * np.pi * 220 * t)
    audio = audio_from_array(x.astype(np.float32), rate)
    # amplitude envelope: blocks of 2**20 samples (the signal spans 3) vs one resample
    streamed = features.amplitude_envelope(audio, rate_hz=21.5).values
    whole = TimeSeries(features._analytic_magnitude(audio.samples), rate).resample(21.5).values
    np.testing.assert_allclose(streamed, whole, rtol=1e-9, atol=1e-12)
    expected = 0.3 + 0.2 * np.sin(2 * np.pi * np.arange(streamed.shape[0]) / 21.5 / 40)
    np.testing.assert_allclose(streamed[5:-5, 0], expected[5:-5], atol=2e-3)  # the planted AM
    # rms: blocks of 4096 frames vs librosa's one-pass frames
    ours = features.rms(audio, rate_hz=rate / 40).values[:, 0]
    ref = librosa.feature.rms(
        y=audio.samples.astype(np.float64), frame_length=368, hop_length=40, pad_mode="constant"
    )[0]
    n = min(ours.size, ref.size)
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=1e-6, atol=1e-9)
    # mel: blocks of 2048 frames vs librosa.feature.melspectrogram on the whole signal
    encoder = MelEncoder(rate_hz=8000.0, n_mels=40)
    power = librosa.feature.melspectrogram(
        y=audio.samples, sr=8000.0, n_fft=2048, hop_length=256, n_mels=40, fmin=0.0
    )
    oracle = 10 * np.log10(np.maximum(power, 1e-10)).T
    np.testing.assert_allclose(encoder._logmel(audio.samples), oracle, atol=1e-3)
    assert oracle.shape[0] == 1 + audio.samples.size // 256 > 3 * 2048  # several blocks
    # onset strength: blocks of 8192 frames (60001 here) vs librosa on the whole signal
    ours = features.onset_strength(audio, rate_hz=rate / 40, lag=2).values[:, 0]
    ref = librosa.onset.onset_strength(
        y=audio.samples.astype(np.float64), sr=rate, n_fft=512, hop_length=40,
        win_length=368, lag=2, center=False,
    )  # fmt: skip
    n = min(ours.size, ref.size)
    assert n > 7 * 8192
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=1e-5, atol=1e-5)
