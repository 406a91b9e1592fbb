"""BIDS file names and the inheritance principle: which JSON sidecars apply to a data file.

BIDS lets a sidecar at a higher level (the dataset root, ``sub-<label>/``,
``ses-<label>/``) hold metadata shared by many files: ``task-happy_bold.json``
at the root applies to every ``sub-*/func/sub-*_task-happy_bold.nii.gz``. A
sidecar applies to a data file when it lies in the file's folder or one of its
ancestors up to the dataset root, has the same suffix (``bold``, ``physio``)
and every entity in its name appears, with the same value, in the file's name.
Deeper and more specific sidecars win, key by key (BIDS 1.10, "The Inheritance
Principle"; pybids merges them the same way).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from frisson.errors import DataError

__all__ = [
    "applicable_sidecars",
    "dataset_root",
    "entities",
    "inherited_metadata",
    "metadata_source",
    "suffix",
]

_ENTITY = re.compile(r"(?:^|_)([a-zA-Z]+)-([a-zA-Z0-9+]+)(?=_|$)")


def _stem(filename: str) -> str:
    return filename.split(".", 1)[0]


def entities(filename: str) -> dict[str, str]:
    """The ``key-value`` entities of a BIDS file name (without the suffix and extension).

    Examples
    --------
    >>> entities("sub-01_task-happy_run-2_bold.nii.gz")
    {'sub': '01', 'task': 'happy', 'run': '2'}
    >>> entities("task-happy_bold.json")
    {'task': 'happy'}

    """
    return {m[1]: m[2] for m in _ENTITY.finditer(_stem(filename))}


def suffix(filename: str) -> str:
    """The BIDS suffix of a file name: the last ``_``-separated part before the extension.

    Examples
    --------
    >>> suffix("sub-01_task-happy_bold.nii.gz"), suffix("task-x_recording-eda_physio.json")
    ('bold', 'physio')

    """
    last = _stem(filename).rsplit("_", 1)[-1]
    return "" if "-" in last else last


def dataset_root(path: str | os.PathLike) -> Path | None:
    """The nearest folder at or above ``path`` holding ``dataset_description.json``, if any."""
    path = Path(path).absolute()
    for folder in (path, *path.parents) if path.is_dir() else path.parents:
        if (folder / "dataset_description.json").is_file():
            return folder
    return None


def applicable_sidecars(path: str | os.PathLike) -> list[Path]:
    """The JSON sidecars that apply to a data file, least specific first.

    Outside a dataset (no ``dataset_description.json`` above the file) only
    the file's own folder is searched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "dataset_description.json").write_text("{}")
    >>> func = root / "sub-01" / "func"
    >>> func.mkdir(parents=True)
    >>> for name in ("task-happy_bold.json", "task-sad_bold.json",
    ...              "sub-01/sub-01_task-happy_bold.json"):
    ...     _ = (root / name).write_text("{}")
    >>> [p.relative_to(root).as_posix()
    ...  for p in applicable_sidecars(func / "sub-01_task-happy_bold.nii.gz")]
    ['task-happy_bold.json', 'sub-01/sub-01_task-happy_bold.json']

    """
    path = Path(path).absolute()
    own, kind = entities(path.name), suffix(path.name)
    root = dataset_root(path)
    folders = [path.parent]
    if root is not None:
        folder = path.parent
        while folder != root and root in folder.parents:
            folder = folder.parent
            folders.append(folder)
    found: list[tuple[int, int, str, Path]] = []
    for depth, folder in enumerate(reversed(folders)):
        for candidate in folder.glob(f"*_{kind}.json") if kind else ():
            if candidate == path or suffix(candidate.name) != kind:
                continue
            theirs = entities(candidate.name)
            if all(own.get(k) == v for k, v in theirs.items()):
                found.append((depth, len(theirs), candidate.name, candidate))
    return [item[-1] for item in sorted(found)]


def inherited_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The metadata of a data file: its applicable sidecars merged, deeper ones winning.

    Raises
    ------
    DataError
        If an applicable sidecar is not a JSON object.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "dataset_description.json").write_text("{}")
    >>> _ = (root / "task-happy_bold.json").write_text(json.dumps(
    ...     {"RepetitionTime": 1.0, "TaskName": "happy"}))
    >>> (root / "sub-01" / "func").mkdir(parents=True)
    >>> _ = (root / "sub-01/func/sub-01_task-happy_bold.json").write_text(
    ...     json.dumps({"TaskName": "happy music"}))
    >>> inherited_metadata(root / "sub-01/func/sub-01_task-happy_bold.nii.gz")
    {'RepetitionTime': 1.0, 'TaskName': 'happy music'}

    """
    merged: dict[str, object] = {}
    for _, data in _loaded_sidecars(path):
        merged.update(data)
    return merged


def metadata_source(path: str | os.PathLike, key: str) -> Path | None:
    """The sidecar whose value of ``key`` a data file inherits (the deepest that sets it).

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "task-x_bold.json").write_text(json.dumps({"RepetitionTime": 2}))
    >>> metadata_source(folder / "sub-01_task-x_bold.nii.gz", "RepetitionTime").name
    'task-x_bold.json'

    """
    found = [sidecar for sidecar, data in _loaded_sidecars(path) if key in data]
    return found[-1] if found else None


def _loaded_sidecars(path: str | os.PathLike) -> list[tuple[Path, dict]]:
    out = []
    for sidecar in applicable_sidecars(path):
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"{sidecar}: not valid JSON ({error}).") from None
        if not isinstance(data, dict):
            raise DataError(f"{sidecar}: expected a JSON object, got {type(data).__name__}.")
        out.append((sidecar, data))
    return out
