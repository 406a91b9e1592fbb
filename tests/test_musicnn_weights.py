"""`frisson fetch musicnn`: checkpoints from the published wheel, hash-checked, into FRISSON_HOME.

Offline: the wheel is the copy `make install` keeps in data/external/musicnn/ (the
published file, checked against PyPI's SHA-256). Also the optional-dependency errors
(frisson._optional) and their agreement with pyproject.toml's extras.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from frisson import FrissonError
from frisson._optional import EXTRAS, MissingExtraError, extra_of, import_optional
from frisson.cli import main
from frisson.encoders import _musicnn_weights as mw
from frisson.encoders import get_encoder
from frisson.encoders import musicnn as mn
from frisson.encoders._tf_checkpoint import CheckpointReader
from frisson.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
WHEEL = ROOT / "data" / "external" / "musicnn" / mw.WHEEL_NAME
needs_wheel = pytest.mark.skipif(
    not WHEEL.is_file(), reason=f"needs {WHEEL.relative_to(ROOT)} (`make install` downloads it)"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "frisson-home"
    monkeypatch.setenv("FRISSON_HOME", str(folder))
    monkeypatch.delenv(mw.WHEEL_ENV, raising=False)
    return folder


@needs_wheel
def test_the_local_wheel_is_the_published_one():
    assert _sha256(WHEEL) == mw.WHEEL_SHA256
    with zipfile.ZipFile(WHEEL) as archive:
        for member, (_, sha256) in mw.MUSICNN_FILES.items():
            assert hashlib.sha256(archive.read(member)).hexdigest() == sha256


@needs_wheel
def test_fetch_unpacks_hash_checked_checkpoints_that_the_reader_uses(home):
    folder = mw.fetch_musicnn(WHEEL.parent)  # the folder holding the wheel
    assert folder == home / "musicnn-0.1.0"
    for relative, sha256 in mw.MUSICNN_FILES.values():
        assert _sha256(folder / relative) == sha256
    assert sorted(p.name for p in folder.iterdir()) == [
        "LICENSE.md", "MSD_musicnn", "MSD_vgg", "MTT_musicnn", "MTT_vgg",
    ]  # fmt: skip
    for checkpoint in mn.CHECKPOINTS:  # FRISSON_HOME first, even with the wheel installed
        assert mn.checkpoint_path(checkpoint) == folder / checkpoint
        assert mn.weights_available(checkpoint)
    reader = CheckpointReader(mn.checkpoint_path("MSD_musicnn"))
    assert reader.info("conv2d/kernel").shape == (7, 38, 1, 204)
    available, how = get_encoder("vgg-mtt").weights_status()
    assert available and how == "offline, musicnn==0.1.0 checkpoints in $FRISSON_HOME (MTT_vgg)"


@needs_wheel
def test_fetch_again_is_a_no_op_and_repairs_a_damaged_file(home, monkeypatch):
    folder = mw.fetch_musicnn(WHEEL)
    index = folder / "MTT_vgg" / ".index"
    stamp = index.stat().st_mtime_ns
    monkeypatch.setattr(mw, "_unpack", lambda *a: pytest.fail("unpacked although complete"))
    assert mw.fetch_musicnn(WHEEL) == folder
    assert index.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    monkeypatch.setenv("FRISSON_HOME", str(home))
    index.write_bytes(b"damaged")
    (folder / "MSD_vgg" / ".data-00000-of-00001").unlink()
    monkeypatch.setenv(mw.WHEEL_ENV, str(WHEEL))  # no source given: the env var names the wheel
    mw.fetch_musicnn()
    assert _sha256(index) == mw.MUSICNN_FILES["musicnn/MTT_vgg/.index"][1]
    assert mw.cached_checkpoint("MSD_vgg") == folder / "MSD_vgg"


def test_a_wheel_with_another_hash_is_refused(home, tmp_path):
    fake = tmp_path / mw.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("musicnn/MSD_musicnn/.index", b"not the published file")
    with pytest.raises(
        DataError, match=r"musicnn-0\.1\.0-py3-none-any\.whl: SHA-256 [0-9a-f]{64} is"
    ):
        mw.fetch_musicnn(fake)
    assert not (home / "musicnn-0.1.0").exists()
    with pytest.raises(DataError, match=r"empty: no musicnn wheel there"):
        mw.fetch_musicnn(tmp_path / "empty")


def test_a_failed_download_says_how_to_fetch_from_a_file(home, monkeypatch):
    def no_index(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"] and command[-1] == (
            "musicnn==0.1.0"
        )
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(mw.subprocess, "run", no_index)
    with pytest.raises(DataError, match=r"\(ERROR: No matching distribution\).*--from FILE"):
        mw.fetch_musicnn()


def test_without_checkpoints_the_reader_names_the_fetch_command(home, monkeypatch):
    monkeypatch.setattr(mn.importlib.util, "find_spec", lambda name: None)
    assert not mn.weights_available("MSD_musicnn")
    available, how = get_encoder("musicnn-msd").weights_status()
    assert not available and how == "missing: frisson fetch musicnn"


@needs_wheel
def test_cli_fetch_musicnn_from_a_file(home):
    out = CliRunner().invoke(main, ["fetch", "musicnn", "--from", str(WHEEL)])
    assert out.exit_code == 0, out.output
    assert out.output == f"musicnn: checkpoints in {home / 'musicnn-0.1.0'}\n"
    refused = CliRunner().invoke(main, ["fetch", "mel", "--from", str(WHEEL)])
    assert refused.exit_code == 1 and "--from applies to `frisson fetch musicnn`" in refused.output


# ------------------------------------------------------------------ optional dependencies
def test_a_missing_optional_package_names_its_extra(monkeypatch):
    monkeypatch.setitem(EXTRAS, "frisson_test_absent", ("fmri", "planted feature"))
    with pytest.raises(MissingExtraError, match=r"^planted feature need frisson_test_absent, wh"):
        import_optional("frisson_test_absent.sub")
    with pytest.raises(ModuleNotFoundError, match=r'pip install "frisson\[fmri\]"$'):
        import_optional("frisson_test_absent")
    assert issubclass(MissingExtraError, FrissonError)
    with pytest.raises(KeyError, match="not an optional dependency"):
        extra_of("numpy")


def test_a_missing_dependency_of_an_installed_package_is_not_blamed_on_frisson(
    tmp_path, monkeypatch
):
    (tmp_path / "frisson_test_present.py").write_text("import frisson_test_its_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(EXTRAS, "frisson_test_present", ("fmri", "planted feature"))
    with pytest.raises(ModuleNotFoundError) as raised:
        import_optional("frisson_test_present")
    assert raised.type is ModuleNotFoundError
    assert raised.value.name == "frisson_test_its_dependency"
    sys.modules.pop("frisson_test_present", None)


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for mark in "<>=!~[ ":
        name = name.split(mark)[0]
    return name.lower().replace("-", "_")


def test_every_optional_package_is_in_the_extra_its_error_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    named = {name: extra for name, (extra, _) in EXTRAS.items()}
    for package, extra in named.items():
        assert package in {_requirement_name(r) for r in extras[extra]}, (package, extra)
        assert package not in core
    named_extras = ("codecs", "fmri", "formats", "dask")
    listed = {_requirement_name(r) for e in named_extras for r in extras[e]}
    assert listed == set(named)
    assert extras["all"] == ["frisson[codecs,fmri,formats,dask]"]
    assert extras["dev"][0] == "frisson[all,docs]"
