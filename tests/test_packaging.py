"""frisson as a user installs it: the built wheel in a fresh virtual environment, offline.

``python -m build`` makes the sdist and, from it, the wheel (``--no-isolation``: hatchling
comes from the dev environment, so nothing is downloaded). The wheel goes into a new
venv with ``pip install --no-index <wheel>``: pip must find every core requirement
already installed, and the only packages it can see are the dev environment's, exposed
through a ``.pth`` file to a folder of links that leaves out frisson itself (the editable
source tree), the musicnn wheel and every package of the optional extras (transformers,
huggingface_hub, safetensors, tokenizers, himalaya, nibabel, pyedflib, bioread, pyxdf,
wfdb). So the install proves the core needs none of them, and a run proves the core works
without them. The default encoder then runs after ``frisson fetch musicnn --from`` the published
wheel that ``make install`` keeps in data/external/musicnn/ -- the real code path,
without the network.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import frisson

ROOT = Path(__file__).resolve().parents[1]
MUSICNN_WHEEL = ROOT / "data" / "external" / "musicnn" / "musicnn-0.1.0-py3-none-any.whl"
#: Distributions the fresh venv must not see: frisson (the editable tree), the musicnn
#: wheel and the optional extras with the packages only they pull in.
HIDDEN = {
    "frisson", "musicnn", "transformers", "huggingface_hub", "safetensors", "tokenizers",
    "himalaya", "nibabel", "pyedflib", "bioread", "pyxdf", "wfdb", "dask", "distributed", "bokeh",
}  # fmt: skip
OPTIONAL = {"transformers", "huggingface_hub", "safetensors", "himalaya", "nibabel", "nilearn"}
OPTIONAL |= {"pyedflib", "bioread", "pyxdf", "wfdb"}
OPTIONAL |= {"dask", "distributed", "bokeh"}

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(module) is None for module in ("build", "hatchling", "pip")),
    reason="needs build and hatchling (`make install` installs the [dev] extra)",
)


def _env(**extra: str) -> dict[str, str]:
    """An environment that cannot reach a package index or the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )
    env.update(extra)
    return env


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("frisson-*-py3-none-any.whl")
    return wheel


def _hidden(entry: str) -> bool:
    """Whether a site-packages entry belongs to a HIDDEN distribution (or is a .pth hook)."""
    if entry.endswith(".pth") or entry.startswith(("__editable__", "_editable_impl_")):
        return True
    name = entry.split(".")[0] if entry.endswith((".py", ".so")) else entry
    name = name.split("-")[0] if entry.endswith((".dist-info", ".egg-info")) else name
    return name.lower().replace("-", "_") in HIDDEN


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh venv holding only the frisson wheel; core dependencies seen through a .pth."""
    base = tmp_path_factory.mktemp("venv")
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(base / "env")], base)
    assert done.returncode == 0, done.stderr
    python = base / "env" / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base)
        .stdout.strip()
    )  # fmt: skip
    links = base / "dependencies"
    links.mkdir()
    for folder in {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}:
        for entry in folder.iterdir():
            if not _hidden(entry.name) and not (links / entry.name).exists():
                (links / entry.name).symlink_to(entry)
    (purelib / "frisson_test_dependencies.pth").write_text(f"{links}\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    done = _run([*pip, str(_wheel(dist))], base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully installed frisson-" in done.stdout
    return base / "env"


def test_build_makes_a_wheel_and_an_sdist_with_the_metadata_users_read(dist):
    wheel = _wheel(dist)
    (sdist,) = dist.glob("frisson-*.tar.gz")
    version = frisson.__version__
    assert wheel.name == f"frisson-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"frisson-{version}.dist-info"
        meta = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {
        "frisson/__init__.py",
        "frisson/cli.py",
        "frisson/encoders/_musicnn_weights.py",
    } <= names
    assert not any(n.startswith(("tests/", "data/", "musicnn/")) for n in names)
    assert "frisson = frisson.cli:main" in entry_points
    assert meta["Version"] == version
    # the classifiers name exactly the 3.x versions requires-python admits, from 3.11 on
    supported = SpecifierSet(meta["Requires-Python"])
    listed = {c.rsplit(" ", 1)[1] for c in meta.get_all("Classifier") if c.count("::") == 2}
    listed = {v for v in listed if v.startswith("3.")}
    assert listed == {"3.11", "3.12", "3.13"} and all(v in supported for v in listed)
    assert "3.10" not in supported
    core, extras = set(), {}
    for line in meta.get_all("Requires-Dist"):
        requirement = Requirement(line)
        name = requirement.name.lower().replace("-", "_")
        if requirement.marker is None:
            core.add(name)
        for extra in ("codecs", "fmri", "formats", "dask", "all", "dev"):
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                extras.setdefault(extra, set()).add(name)
    assert {"torch", "librosa", "neurokit2", "zarr", "google_crc32c"} <= core
    assert not core & OPTIONAL
    assert extras["codecs"] == {"transformers", "huggingface_hub", "safetensors"}
    assert extras["fmri"] == {"himalaya", "nibabel", "nilearn"}
    assert extras["formats"] == {"pyedflib", "bioread", "pyxdf", "wfdb"}
    assert extras["dask"] == {"dask", "distributed", "bokeh"}
    assert extras["all"] == OPTIONAL and OPTIONAL | {"pytest", "build"} <= extras["dev"]
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "src/frisson/cli.py", "tests/test_packaging.py"} <= (
        members
    )
    assert not any(m.startswith(("data/external", ".venv")) for m in members)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == meta["Requires-Python"]


def test_the_wheel_installs_offline_on_the_core_alone_and_extras_ask_for_more(venv, dist):
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    done = _run([*pip, f"{_wheel(dist)}[fmri]"], venv)
    assert done.returncode != 0
    assert "No matching distribution found for himalaya" in done.stderr or (
        "No matching distribution found for nibabel" in done.stderr
    )


def test_the_installed_package_is_the_wheel_and_says_its_version(venv):
    code = (
        "import importlib.util as u, frisson; print(frisson.__file__); print(frisson.__version__);"
        "print([m for m in ('musicnn', 'transformers', 'himalaya', 'nibabel') if u.find_spec(m)])"
    )
    done = _run([str(venv / "bin" / "python"), "-c", code], venv)
    assert done.returncode == 0, done.stderr
    where, version, visible = done.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(venv.resolve())
    assert not Path(where).resolve().is_relative_to(ROOT)
    assert version == frisson.__version__ and visible == "[]"
    done = _run([str(venv / "bin" / "frisson"), "--version"], venv)
    assert done.stdout == f"frisson, version {frisson.__version__}\n"


def test_features_without_their_extra_say_which_to_install(venv, tmp_path):
    code = """
from frisson.encoders import get_encoder
from frisson.study import load_bold
for call in (lambda: get_encoder("dac-44khz"), lambda: load_bold("run.nii.gz")):
    try:
        call()
    except ModuleNotFoundError as error:
        print(type(error).__name__, error)
"""
    done = _run([str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    codecs, fmri = done.stdout.splitlines()
    assert codecs.startswith("MissingExtraError ") and codecs.endswith(
        'need transformers, which is not installed: pip install "frisson[codecs]"'
    )
    assert fmri.endswith('need nibabel, which is not installed: pip install "frisson[fmri]"')
    done = _run([str(venv / "bin" / "frisson"), "encoders", "--brief"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dac-44khz: " in done.stdout and "[unavailable: " in done.stdout
    assert "musicnn-msd (default): " in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not MUSICNN_WHEEL.is_file(), reason="`make install` downloads the wheel")
def test_the_default_encoder_runs_after_fetching_its_weights_from_a_local_wheel(venv, tmp_path):
    frisson_cli = str(venv / "bin" / "frisson")
    home = str(tmp_path / "home")
    done = _run([frisson_cli, "synth-piece", "piece.wav", "--sections", "4"], tmp_path)
    assert done.returncode == 0, done.stderr
    command = [frisson_cli, "analyze", "piece.wav", "--out", "out", "--n-surrogates", "20"]
    command += ["--reference", "piece_boundaries.tsv"]
    before = _run(command, tmp_path, FRISSON_HOME=home)
    assert before.returncode == 1
    (message,) = before.stderr.strip().splitlines()  # one line, naming the command to run
    assert message.startswith("error: The MSD_musicnn weights") and (
        "run `frisson fetch musicnn` once" in message
    )
    fetch = [frisson_cli, "fetch", "musicnn", "--from", str(MUSICNN_WHEEL)]
    done = _run(fetch, tmp_path, FRISSON_HOME=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"musicnn: checkpoints in {home}/musicnn-0.1.0\n"
    done = _run(command, tmp_path, FRISSON_HOME=home)
    assert done.returncode == 0, done.stderr
    assert "encoder musicnn-msd layer cnn3 (64 dims" in done.stdout
    with (tmp_path / "out" / "boundary_scores.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    scores = {(r["method"], float(r["window_s"])): float(r["f_measure"]) for r in rows}
    # the generator's own section boundaries (17.1, 31.25, 43.58 s) are found within 3 s
    assert scores["pc1_variance", 3.0] == 1.0
