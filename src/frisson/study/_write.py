"""Writing BIDS events and physiology files (what :mod:`frisson.simulate` writes)."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from frisson._io import atomic_write, atomic_write_text
from frisson.errors import DataError
from frisson.study._files import EVENT_COLUMNS


# ---------------------------------------------------------------------------- writing
def write_events(path: str | os.PathLike, rows: Sequence[Mapping[str, object]]) -> Path:
    """Write a BIDS ``*_events.tsv`` (onset, duration, trial_type, stim_file; n/a for gaps)."""
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(list(rows), columns=list(EVENT_COLUMNS))
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6f")
    return path


def write_physio(
    path: str | os.PathLike,
    channels: Mapping[str, np.ndarray],
    *,
    rate_hz: float,
    start_s: float = 0.0,
    units: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Path:
    """Write a BIDS ``*_physio.tsv.gz`` and its ``*_physio.json`` sidecar.

    Values are written as float32 with 9 significant digits, which reads back
    to exactly the same float32 numbers; NaN is written as ``n/a``. The gzip
    header carries no file name and no time stamp (as BIDS asks, for privacy
    and reproducible bytes). The sidecar holds ``SamplingFrequency``,
    ``StartTime``, ``Columns``, ``PhysioType`` (``"generic"``), ``TaskName``
    (the file's ``task-`` label) and per column its ``Units`` and
    ``Description``. Give each file of a run its own ``recording-<label>``
    so that BIDS inheritance never applies one file's sidecar to another.

    Parameters
    ----------
    path : path
        Ends with ``_physio.tsv.gz``.
    channels : mapping of str to ndarray
        Column name -> samples (equal lengths).
    rate_hz : float
        SamplingFrequency.
    start_s : float
        StartTime: the first sample's time in run time.
    units : mapping of str to str, optional
        Column -> unit, written to the sidecar.
    descriptions : mapping of str to str, optional
        Column -> description, written to the sidecar (BIDS asks one for
        every column that is not a standard physio column).
    metadata : mapping, optional
        More sidecar fields (e.g. ``{"Manufacturer": "BIOPAC"}``); they win
        over the defaults above.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = write_physio(
    ...     folder / "sub-01_task-music_recording-eda_physio.tsv.gz",
    ...     {"eda": np.array([2.0, 2.1, 2.2])}, rate_hz=4.0, units={"eda": "uS"})
    >>> sidecar = json.loads(path.with_name(path.name[:-7] + ".json").read_text())
    >>> sidecar["SamplingFrequency"], sidecar["TaskName"], sidecar["eda"]
    (4.0, 'music', {'Units': 'uS'})

    """
    path = Path(path)
    if not path.name.endswith("_physio.tsv.gz"):
        raise DataError(f"{path}: BIDS physiology files end with _physio.tsv.gz.")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(channels)
    lengths = {n: len(np.asarray(channels[n]).reshape(-1)) for n in names}
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"{path.name}: channels of one physio file need equal lengths, got {lengths}; "
            "write channels recorded at different rates to separate files, each with its own "
            "recording-<label> (frisson.study.write_recordings does that)."
        )
    data = np.column_stack([np.asarray(channels[n], dtype=np.float32) for n in names])
    text = "\n".join("\t".join(f"{v:.9g}" for v in row) for row in data.tolist())
    atomic_write(path, lambda tmp: _write_gzip(tmp, text.replace("nan", "n/a") + "\n"))
    sidecar: dict[str, object] = {
        "SamplingFrequency": float(rate_hz),
        "StartTime": float(start_s),
        "Columns": names,
        "PhysioType": "generic",
    }
    task = _task_label(path.name)
    if task is not None:
        sidecar["TaskName"] = task
    for name in names:
        column: dict[str, str] = {}
        if units and name in units:
            column["Units"] = units[name]
        if descriptions and name in descriptions:
            column["Description"] = descriptions[name]
        if column:
            sidecar[name] = column
    sidecar.update(metadata or {})
    atomic_write_text(
        path.with_name(path.name.removesuffix(".tsv.gz") + ".json"), json.dumps(sidecar, indent=2)
    )
    return path


def _task_label(filename: str) -> str | None:
    match = re.search(r"(?:^|_)task-([a-zA-Z0-9]+)", filename)
    return None if match is None else match[1]


def _write_gzip(path: str, text: str) -> None:
    """Gzip ``text`` into ``path`` with no file name and a zero time stamp in the header."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=4, mtime=0) as handle,
    ):
        handle.write(text.encode("utf-8"))


def write_dataset_files(
    root: str | os.PathLike,
    participant_rows: Sequence[Mapping[str, object]],
    *,
    name: str,
    readme: str,
    authors: Sequence[str] = ("frisson",),
    participant_columns: Mapping[str, Mapping[str, object]] | None = None,
    dataset_type: str = "raw",
    license_name: str | None = None,
) -> Path:
    r"""Write a dataset's top-level files: description, README and participants table.

    ``dataset_description.json`` (Name, BIDSVersion, DatasetType, Authors,
    GeneratedBy, License), ``README.md``, ``participants.tsv`` (one row per
    participant, ``n/a`` for gaps) and ``participants.json`` describing every
    column besides ``participant_id`` (BIDS asks a description for each).

    Parameters
    ----------
    root : path
        The dataset folder (created if needed).
    participant_rows : sequence of mapping
        One mapping per participant with at least ``participant_id`` (``sub-<label>``).
    name : str
        The dataset's name.
    readme : str
        The README's text (Markdown).
    authors : sequence of str
        Who made the dataset.
    participant_columns : mapping of str to mapping, optional
        Column -> its BIDS description object (``Description``, ``Units``,
        ``Levels``); every column but ``participant_id`` needs one.
    dataset_type : {'raw', 'derivative'}
        BIDS ``DatasetType``.
    license_name : str, optional
        BIDS ``License`` (e.g. ``"CC0"``).

    Returns
    -------
    Path
        ``root``.

    Raises
    ------
    DataError
        If a row has no ``participant_id`` or a column has no description.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = write_dataset_files(
    ...     pathlib.Path(tempfile.mkdtemp()) / "study",
    ...     [{"participant_id": "sub-01", "age": 31}],
    ...     name="pilot", readme="# Pilot\n",
    ...     participant_columns={"age": {"Description": "age", "Units": "year"}})
    >>> (root / "participants.tsv").read_text().splitlines()
    ['participant_id\tage', 'sub-01\t31']

    """
    import pandas as pd

    from frisson import __version__

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(list(participant_rows))
    if len(table) and "participant_id" not in table:
        raise DataError(f"{root}: participant rows need a participant_id column (sub-<label>).")
    columns = dict(participant_columns or {})
    undescribed = [c for c in table.columns if c != "participant_id" and c not in columns]
    if undescribed:
        raise DataError(
            f"{root}: participants.tsv column(s) {undescribed} have no description; pass "
            "participant_columns={name: {'Description': ...}} (BIDS asks one per column)."
        )
    description: dict[str, object] = {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": dataset_type,
        "Authors": list(authors),
        "GeneratedBy": [{"Name": "frisson", "Version": __version__}],
    }
    if license_name is not None:
        description["License"] = license_name
    atomic_write_text(root / "dataset_description.json", json.dumps(description, indent=2))
    atomic_write_text(root / "README.md", readme if readme.endswith("\n") else readme + "\n")
    _participants_files(root, participant_rows, columns)
    return root


def _participants_files(
    root: Path, rows: Sequence[Mapping[str, object]], columns: Mapping[str, object]
) -> None:
    """``participants.tsv`` (n/a for gaps) and the descriptions of its columns."""
    import pandas as pd

    table = pd.DataFrame(list(rows))
    if not len(table):
        return
    text = table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    atomic_write_text(root / "participants.tsv", text)
    used = {c: columns[c] for c in table.columns if c in columns}
    if used:
        atomic_write_text(root / "participants.json", json.dumps(used, indent=2))


#: The BIDS version frisson writes.
BIDS_VERSION = "1.10.0"
