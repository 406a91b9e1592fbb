"""The pieces of a study folder: runs, problems, BIDS entities, events and ratings tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from frisson.errors import DataError
from frisson.timeseries import TimeSeries

EVENT_COLUMNS = ("onset", "duration", "trial_type", "stim_file")
_KNOWN_EVENT_COLUMNS = {*EVENT_COLUMNS, "response_time", "value", "sample", "HED"}
_ENTITY = re.compile(r"(?P<key>[a-z]+)-(?P<value>[a-zA-Z0-9]+)")


@dataclass(frozen=True)
class Problem:
    """One problem found by :meth:`Study.validate`.

    Attributes
    ----------
    severity : {'error', 'warning'}
        Errors make a trial or run unusable; warnings do not.
    path : str
        The file concerned (relative to the study root).
    message : str
        What is wrong and how to fix it.

    """

    severity: Literal["error", "warning"]
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Run:
    """The files of one participant's run (one task, session and run).

    Attributes
    ----------
    participant : str
        Participant label without ``sub-``.
    entities : dict
        BIDS entities of the run (``task``, ``ses``, ``run``...).
    events : Path or None
        The ``*_events.tsv``; None for a run without one (a BOLD run whose
        task is one piece of music, as in OpenNeuro ds003085: see
        ``task_stimuli`` in :func:`read_study`).
    physio : list of Path
        ``*_physio.tsv.gz`` files (any ``recording-`` label).
    beh : Path or None
        A ``*_beh.tsv`` table of ratings, if present.
    bold : Path or None
        A ``*_bold.nii.gz``, if present (located, not loaded).

    """

    participant: str
    entities: Mapping[str, str]
    events: Path | None
    physio: list[Path] = field(default_factory=list)
    beh: Path | None = None
    bold: Path | None = None

    @property
    def label(self) -> str:
        """``sub-<id>_task-<t>[_run-<n>]`` as in the file names."""
        if self.events is not None:
            return self.events.name.removesuffix("_events.tsv")
        return self.main_file.name.split(".", 1)[0].rsplit("_", 1)[0]

    @property
    def main_file(self) -> Path:
        """The file that defines the run: its events table, else its BOLD."""
        main = self.events if self.events is not None else self.bold
        if main is None:  # pragma: no cover - read_study never builds such a run
            raise DataError(f"run of sub-{self.participant} {dict(self.entities)} has no files.")
        return main


def stimulus_stem(name: str) -> str:
    """A stimulus name (relative to ``stimuli/``) without its suffix: distinct for equal stems.

    Use it, not ``Path(name).stem``, to build output names: ``a/x.wav`` and
    ``b/x.wav`` are different stimuli.

    Examples
    --------
    >>> stimulus_stem("a/x.wav"), stimulus_stem("b/x.wav"), stimulus_stem("song-1.wav")
    ('a/x', 'b/x', 'song-1')

    """
    path = Path(name)
    return path.with_suffix("").as_posix()


def _outside(series: TimeSeries, onset: float, duration: float) -> bool:
    """Whether a trial's span (run time) is not covered by a recording (1 microsecond slack)."""
    start, end = series.start_s, series.start_s + series.duration_s
    return onset < start - 1e-6 or onset + duration > end + 1e-6


def _entities(filename: str) -> dict[str, str]:
    stem = filename.split(".")[0]
    return {m["key"]: m["value"] for m in _ENTITY.finditer(stem)}


def _same_run(candidate: dict[str, str], run: dict[str, str]) -> bool:
    return all(candidate.get(k) == v for k, v in run.items())


def _stimulus_name(stim_file: str) -> str:
    """A ``stim_file`` as a name relative to ``stimuli/`` (BIDS); a ``stimuli/`` prefix goes."""
    return str(stim_file).removeprefix("stimuli/")


def _read_events(path: Path):
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    except UnicodeDecodeError:
        raise DataError(
            f"{path}: holds binary or non-UTF-8 bytes; save the events as UTF-8 tab-separated text."
        ) from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: cannot be read as an events table ({error}).") from None
    missing = [c for c in ("onset", "duration") if c not in table]
    if missing:
        raise DataError(
            f"{path}: events need columns onset and duration (BIDS); {missing} missing."
        )
    for column in ("onset", "duration"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & ~(column == "duration" and table[column].isna())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: column {column!r} has a non-numeric value at row {row + 1}; "
                "times are seconds from the run's start."
            )
        table[column] = values
    return table


def _split_events(events) -> tuple[list[tuple[float, float, str]], list[tuple[str, float]]]:
    """Stimulus presentations (onset, duration, stim_file) and other events (type, onset)."""
    n = len(events)
    stim_files = events["stim_file"] if "stim_file" in events else [None] * n
    types = events["trial_type"] if "trial_type" in events else ["event"] * n
    presentations, others = [], []
    for onset, duration, kind, stim in zip(
        events["onset"], events["duration"], types, stim_files, strict=True
    ):
        if isinstance(stim, str) and stim:
            presentations.append((float(onset), float(duration), stim))
        else:
            others.append((str(kind), float(onset)))
    return presentations, others


#: Columns naming the song of a row of post-listening ratings (``*_beh.tsv``).
SONG_COLUMNS = ("stim_file", "stimulus")


def _beh_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: cannot be read as a ratings table ({error}).") from None


def _is_song_ratings(table) -> bool:
    """A ``*_beh.tsv`` of post-listening ratings: a song column and no time column."""
    return any(c in table for c in SONG_COLUMNS) and not any(
        c in table for c in ("time_s", "onset")
    )


def _read_song_ratings(path: Path):
    """Post-listening ratings: one row per song (``stim_file``), numeric rating columns.

    Returns a table with ``stimulus`` (relative to ``stimuli/``) and every
    column that holds numbers (n/a allowed); None when the file holds
    continuous ratings (a ``time_s`` or ``onset`` column) instead.
    """
    import pandas as pd

    table = _beh_table(path)
    if not _is_song_ratings(table):
        return None
    song = next(c for c in SONG_COLUMNS if c in table)
    out = pd.DataFrame({"stimulus": [_stimulus_name(v) for v in table[song].astype(str)]})
    for column in table.columns:
        if column in SONG_COLUMNS:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().any() and values.notna().sum() == table[column].notna().sum():
            out[column] = values.to_numpy(dtype=float)
    if out["stimulus"].duplicated().any():
        repeated = sorted(set(out["stimulus"][out["stimulus"].duplicated()]))
        raise DataError(
            f"{path}: songs {repeated} are rated more than once; keep one row per song heard."
        )
    return out


def _read_beh(path: Path) -> dict[str, TimeSeries]:
    """Ratings from a ``*_beh.tsv`` with a regular ``time_s`` (or ``onset``) column.

    A table of post-listening ratings per song (:func:`_read_song_ratings`)
    holds no series: it gives an empty dict here.
    """
    table = _beh_table(path)
    if _is_song_ratings(table):
        return {}
    time_column = next((c for c in ("time_s", "onset") if c in table), None)
    if time_column is None or len(table) < 2:
        raise DataError(f"{path}: ratings need a time_s (or onset) column and >= 2 rows.")
    times = table[time_column].to_numpy(dtype=float)
    steps = np.diff(times)
    if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-6) or steps[0] <= 0:
        raise DataError(
            f"{path}: {time_column} is not a regular increasing grid; resample the ratings."
        )
    out = {}
    for column in table.columns:
        if column == time_column:
            continue
        out[column] = TimeSeries(
            table[column].to_numpy(dtype=float), 1.0 / steps[0], start_s=times[0], names=[column]
        )
    return out
