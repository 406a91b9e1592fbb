"""Writing BIDS events and physiology files (what :mod:`frisson.simulate` writes)."""

from __future__ import annotations

import gzip
import json
import os
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
) -> Path:
    """Write a BIDS ``*_physio.tsv.gz`` and its ``*_physio.json`` sidecar.

    Values are written as float32 with 9 significant digits, which reads back
    to exactly the same float32 numbers; NaN is written as ``n/a``.

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

    """
    path = Path(path)
    if not path.name.endswith("_physio.tsv.gz"):
        raise DataError(f"{path}: BIDS physiology files end with _physio.tsv.gz.")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(channels)
    data = np.column_stack([np.asarray(channels[n], dtype=np.float32) for n in names])
    text = "\n".join("\t".join(f"{v:.9g}" for v in row) for row in data.tolist())

    def write_gzip(tmp: str) -> None:
        with gzip.open(tmp, "wt", compresslevel=4) as handle:
            handle.write(text.replace("nan", "n/a") + "\n")

    atomic_write(path, write_gzip)
    sidecar: dict[str, object] = {
        "SamplingFrequency": float(rate_hz),
        "StartTime": float(start_s),
        "Columns": names,
    }
    for name, unit in (units or {}).items():
        sidecar[name] = {"Units": unit}
    atomic_write_text(
        path.with_name(path.name.removesuffix(".tsv.gz") + ".json"), json.dumps(sidecar, indent=2)
    )
    return path
