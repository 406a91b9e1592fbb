"""Readers for physiological recordings: BIDS physio, CSV/TSV, EDF/BDF and BIOPAC AcqKnowledge.

Every reader returns ``dict[str, TimeSeries]``: one single-channel series per
recorded channel, keyed by the channel's *kind* (``"eda"``, ``"ppg"``,
``"ecg"``, ``"resp"``, ``"trigger"``) when exactly one channel has that kind,
and by the channel's own name otherwise. Each series keeps the channel's name
(``series.names[0]``), its unit where the file states one, its own sampling
rate (EDF and AcqKnowledge channels may differ) and its start time in seconds
(BIDS ``StartTime``: the recording's start relative to the first stimulus or
volume, so the series align with stimulus time).

Kinds come from the channel name (:func:`channel_kind`, e.g. ``"GSR"`` and
``"EDA100C"`` are ``eda``, ``"BVP"``, ``"pleth"`` and BIDS ``"cardiac"`` are
``ppg``) or from the ``kinds`` argument, which wins.

Malformed input raises :class:`~frisson.errors.DataError` naming the file,
the field and the fix: a missing sidecar or sidecar field, a column count that
disagrees with ``Columns``, a rate that disagrees with the timestamps,
non-monotonic or irregular time, all-NaN channels, unreadable files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from frisson._bids import applicable_sidecars, inherited_metadata
from frisson._check import check_option, check_positive
from frisson._logging import logger
from frisson._optional import import_optional
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "CHANNEL_KINDS",
    "channel_kind",
    "looks_like_e4",
    "read_acqknowledge",
    "read_bids_physio",
    "read_edf",
    "read_physio",
    "read_table_physio",
]

ChannelKind = Literal["eda", "ppg", "ecg", "resp", "trigger"]
CHANNEL_KINDS: tuple[str, ...] = ("eda", "ppg", "ecg", "resp", "trigger")
TimeUnit = Literal["s", "ms", "datetime"]
Timing = Literal["strict", "mean_rate", "interpolate"]

# A pattern matches at the start of a word of the lower-cased channel name, so
# "EDA100C", "gsr_left" and "Skin Conductance" are all eda.
_KIND_PATTERNS: dict[str, tuple[str, ...]] = {
    "eda": ("eda", "gsr", "scr", "scl", "electrodermal", "skin conductance", "skin_conductance"),
    "ppg": ("ppg", "bvp", "pleth", "pulse", "cardiac"),
    "ecg": ("ecg", "ekg"),
    "resp": ("resp", "rsp", "breath"),
    "trigger": ("trigger", "trig", "ttl", "marker", "stim", "button"),
}


def channel_kind(name: str) -> str | None:
    """The kind of a channel guessed from its name, or None when no pattern matches.

    Parameters
    ----------
    name : str
        A channel name as written in the file.

    Returns
    -------
    str or None
        One of :data:`CHANNEL_KINDS`.

    Examples
    --------
    >>> channel_kind("EDA100C"), channel_kind("cardiac"), channel_kind("Resp belt")
    ('eda', 'ppg', 'resp')
    >>> channel_kind("temperature") is None
    True

    """
    lowered = name.strip().lower()
    for kind, patterns in _KIND_PATTERNS.items():
        for pattern in patterns:
            if re.search(rf"(^|[^a-z]){re.escape(pattern)}", lowered):
                return kind
    return None


# ------------------------------------------------------------------------ shared assembly
def _resolve_kinds(
    path: Path, names: Sequence[str], kinds: Mapping[str, str] | None
) -> dict[str, str | None]:
    """Map every channel name to its kind, the ``kinds`` argument overriding name patterns."""
    kinds = dict(kinds or {})
    unknown = [name for name in kinds if name not in names]
    if unknown:
        raise ParameterError(
            f"kinds names channel(s) {unknown} that {path.name} does not have; "
            f"its channels are {list(names)}."
        )
    for name, kind in kinds.items():
        check_option(f"kinds[{name!r}]", kind, CHANNEL_KINDS)
    return {name: kinds.get(name, channel_kind(name)) for name in names}


def _assemble(
    path: Path,
    channels: list[tuple[str, np.ndarray, float, str | None]],
    *,
    start_s: float,
    kinds: Mapping[str, str] | None,
    select: Sequence[str] | None,
) -> dict[str, TimeSeries]:
    """Build the keyed dict of single-channel series, checking each channel."""
    names = [name for name, *_ in channels]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{path}: channel names {duplicated} appear more than once; rename them.")
    if select is not None:
        missing = [name for name in select if name not in names]
        if missing:
            raise ParameterError(
                f"channels={list(select)} names {missing}, which {path.name} does not have; "
                f"its channels are {names}."
            )
        channels = [c for c in channels if c[0] in select]
        names = [name for name, *_ in channels]
    kind_of = _resolve_kinds(path, names, kinds)
    counts: dict[str | None, int] = {}
    for kind in kind_of.values():
        counts[kind] = counts.get(kind, 0) + 1
    out: dict[str, TimeSeries] = {}
    for name, values, rate_hz, unit in channels:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            raise DataError(f"{path}: channel {name!r} has no samples.")
        if np.isnan(values).all():
            raise DataError(
                f"{path}: channel {name!r} is all NaN (no valid sample); fix the file or leave "
                f"the channel out with channels=[...]."
            )
        kind = kind_of[name]
        key = kind if kind is not None and counts[kind] == 1 else name
        if key in out:  # a channel name equal to another channel's kind
            key = name
        out[key] = TimeSeries(
            values,
            rate_hz,
            start_s=start_s,
            names=[name],
            units=None if unit is None else [unit],
        )
    logger.info(
        "%s: %s",
        path.name,
        ", ".join(f"{k}={ts.names[0]} ({ts.rate_hz:g} Hz)" for k, ts in out.items()),
    )
    return out


# ------------------------------------------------------------------------------- BIDS
def _bids_sidecar(path: Path) -> Path:
    name = path.name
    for suffix in (".tsv.gz", ".tsv"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    raise DataError(
        f"{path}: a BIDS physiology file ends in _physio.tsv.gz (or .tsv); got {name!r}."
    )


def read_bids_physio(
    tsv_gz_path: str | Path,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> dict[str, TimeSeries]:
    r"""Read a BIDS physiology recording (``*_physio.tsv.gz`` with its ``*_physio.json``).

    The TSV has no header; the sidecar JSON beside it (same name, ``.json``),
    merged over the sidecars it inherits by BIDS inheritance (e.g.
    ``task-<t>_recording-<r>_physio.json`` at the dataset root), gives
    ``SamplingFrequency`` (Hz), ``StartTime`` (s, the first sample's time
    relative to the first stimulus or volume; negative when recording started
    earlier) and ``Columns`` (one name per TSV column). A column's unit is read
    from ``sidecar[column]["Units"]`` when present.

    Parameters
    ----------
    tsv_gz_path : str or Path
        The ``*_physio.tsv.gz`` file.
    kinds : mapping of str to str, optional
        Channel name -> kind, overriding the guess from the name (e.g.
        ``{"cardiac": "ecg"}`` when the BIDS "cardiac" column holds ECG).
    channels : sequence of str, optional
        Read only these columns (e.g. to leave out an all-NaN column).

    Returns
    -------
    dict of str to TimeSeries
        One single-channel series per column; see the module notes for the keys.

    Raises
    ------
    DataError
        Missing sidecar or field, a column count that disagrees with ``Columns``,
        non-numeric values, all-NaN channels.

    Examples
    --------
    >>> import gzip, json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> tsv = folder / "sub-01_task-music_physio.tsv.gz"
    >>> with gzip.open(tsv, "wt") as f:
    ...     _ = f.write("0.1\t5.0\n0.2\t5.1\n0.3\t5.2\n")
    >>> sidecar = {"SamplingFrequency": 10.0, "StartTime": -0.5, "Columns": ["cardiac", "gsr"]}
    >>> _ = (folder / "sub-01_task-music_physio.json").write_text(json.dumps(sidecar))
    >>> physio = read_bids_physio(tsv)
    >>> sorted(physio), physio["eda"].start_s, physio["eda"].values[:, 0]
    (['eda', 'ppg'], -0.5, array([5. , 5.1, 5.2]))

    """
    path = Path(tsv_gz_path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    sidecar_path = _bids_sidecar(path)
    sidecars = applicable_sidecars(path)
    if not sidecars:
        raise DataError(
            f"{path}: the sidecar {sidecar_path.name} is missing; BIDS physiology needs it for "
            "SamplingFrequency, StartTime and Columns. Write it beside the TSV."
        )
    if sidecar_path not in sidecars:  # only inherited ones: name the most specific
        sidecar_path = sidecars[-1]
    sidecar = inherited_metadata(path)
    missing = [f for f in ("SamplingFrequency", "StartTime", "Columns") if f not in sidecar]
    if missing:
        raise DataError(
            f"{sidecar_path}: required field(s) {missing} missing; add them "
            '(e.g. "SamplingFrequency": 1000, "StartTime": 0, "Columns": ["cardiac"]).'
        )
    rate = sidecar["SamplingFrequency"]
    try:
        rate_hz = check_positive("SamplingFrequency", rate)
    except ParameterError:
        raise DataError(
            f"{sidecar_path}: SamplingFrequency must be a positive number of Hz, got {rate!r}."
        ) from None
    start = sidecar["StartTime"]
    if isinstance(start, bool) or not isinstance(start, int | float) or not np.isfinite(start):
        raise DataError(f"{sidecar_path}: StartTime must be a number of seconds, got {start!r}.")
    columns = sidecar["Columns"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise DataError(
            f"{sidecar_path}: Columns must be a non-empty list of column names, got {columns!r}."
        )
    data = _read_numeric_tsv(path, sidecar_path, columns)
    units = {
        c: str(sidecar[c]["Units"])
        for c in columns
        if isinstance(sidecar.get(c), dict) and "Units" in sidecar[c]
    }
    chans = [(c, data[:, i], rate_hz, units.get(c)) for i, c in enumerate(columns)]
    return _assemble(path, chans, start_s=float(start), kinds=kinds, select=channels)


def _read_numeric_tsv(path: Path, sidecar_path: Path, columns: Sequence[str]) -> np.ndarray:
    """The samples of a BIDS physio TSV as floats; a bad cell is named by row and column."""
    import pandas as pd

    def read(**options):
        try:
            return pd.read_csv(path, sep="\t", header=None, compression="infer", **options)
        except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
            raise DataError(f"{path}: cannot be read as a tab-separated table ({error}).") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file holds no samples.") from None

    try:  # fast path: the C parser reads every cell as a number or a missing-value marker
        table = read(dtype=np.float64, na_values=_MISSING_MARKERS, keep_default_na=False)
    except ValueError:
        table = read(dtype=str)  # a bad cell: the slow path names it
    if table.shape[1] != len(columns):
        raise DataError(
            f"{path}: the TSV has {table.shape[1]} column(s) but {sidecar_path.name} lists "
            f"{len(columns)} in Columns {columns}; make them agree."
        )
    if all(dtype == np.float64 for dtype in table.dtypes):
        return table.to_numpy()
    return _numeric(path, table, columns)


#: Cells read as missing (NaN) in physiology tables, as BIDS writes them.
_MISSING_MARKERS = ["n/a", "N/A", "nan", "NaN", "NA", "na", ""]


def _numeric(path: Path, table: Any, columns: Sequence[str]) -> np.ndarray:
    """Convert a table of strings to floats, naming the first bad cell ("n/a" counts as NaN)."""
    import pandas as pd

    out = np.empty(table.shape, dtype=np.float64)
    for i, column in enumerate(table.columns):
        raw = table[column].str.strip()
        raw = raw.mask(raw.str.lower().isin(["n/a", "nan", "na", ""]))
        converted = pd.to_numeric(raw, errors="coerce")
        bad = converted.isna() & raw.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: column {columns[i]!r} has a non-numeric value {raw.iloc[row]!r} at data "
                f"row {row + 1}; physiological columns must be numbers (or n/a)."
            )
        out[:, i] = converted.to_numpy(dtype=np.float64)
    return out


# ---------------------------------------------------------------------------- CSV/TSV
def read_table_physio(
    path: str | Path,
    *,
    rate_hz: float | None = None,
    time_column: str | None = None,
    time_unit: TimeUnit = "s",
    timing: Timing = "strict",
    max_jitter_s: float | None = None,
    rate_tolerance: float = 0.01,
    columns: Sequence[str] | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    start_s: float | None = None,
    units: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> dict[str, TimeSeries]:
    r"""Read a CSV/TSV (optionally compressed) of channels with a time column or a known rate.

    Parameters
    ----------
    path : str or Path
        The table: ``.csv`` (comma), ``.tsv`` (tab) or ``.txt`` (whitespace),
        optionally ``.gz``/``.bz2``/``.zip``/``.xz`` compressed.
    rate_hz : float, optional
        Sampling rate in Hz. Required when there is no ``time_column``; with one,
        it must agree with the timestamps within ``rate_tolerance``.
    time_column : str, optional
        Column holding each sample's time; the rate is estimated from it as
        ``(n - 1) / (t_last - t_first)``.
    time_unit : {'s', 'ms', 'datetime'}
        Unit of ``time_column``. With ``'datetime'`` (ISO 8601 strings) times
        are relative to the first sample.
    timing : {'strict', 'mean_rate', 'interpolate'}
        How to treat timestamps that depart from a regular grid by more than
        ``max_jitter_s``: ``'strict'`` raises; ``'mean_rate'`` trusts the
        sampler and uses the mean rate (as HeartPy does for jittery logging
        clocks); ``'interpolate'`` interpolates the samples linearly onto a
        regular grid at ``rate_hz`` (or the mean rate) from the first timestamp.
    max_jitter_s : float, optional
        Largest accepted distance between a timestamp and the regular grid
        fitted to all of them (default: half a sample period).
    rate_tolerance : float
        Largest accepted relative difference between ``rate_hz`` and the
        timestamps' rate (default 0.01: 1 %).
    columns : sequence of str, optional
        Column names for a file without a header row (its first row is then data).
    delimiter : str, optional
        Field separator; default from the extension (``;`` for a ``.csv``
        with ``decimal=","``).
    decimal : {'.', ','}
        Decimal mark of the numbers (``","`` for files from European locales).
    start_s : float, optional
        Time of the first sample in seconds; default the first timestamp
        (``'s'``/``'ms'``) or 0.
    units : mapping of str to str, optional
        Unit of each channel, e.g. ``{"gsr": "uS"}``.
    kinds : mapping of str to str, optional
        Channel name -> kind, overriding the guess from the name.
    channels : sequence of str, optional
        Read only these channels.

    Returns
    -------
    dict of str to TimeSeries
        One single-channel series per non-time column.

    Raises
    ------
    DataError
        Unreadable file, non-numeric values, non-monotonic or irregular time, a
        rate that disagrees with the timestamps, all-NaN channels; a first row
        of numbers instead of column names (pass ``columns=``), a table that
        looks transposed (channels as rows), an Empatica E4 or OpenSignals file
        (read with :mod:`frisson.physio.formats`).
    ParameterError
        Neither ``rate_hz`` nor ``time_column``; unknown column names.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rec.csv"
    >>> _ = path.write_text("time,GSR,PPG\n10.0,2.0,0.1\n10.5,2.1,0.4\n11.0,2.2,0.2\n")
    >>> rec = read_table_physio(path, time_column="time", units={"GSR": "uS"})
    >>> rec["eda"].rate_hz, rec["eda"].start_s, rec["eda"].units, rec["ppg"].names
    (2.0, 10.0, ('uS',), ('PPG',))

    """
    import pandas as pd

    path = Path(path)
    check_option("time_unit", time_unit, ("s", "ms", "datetime"))
    check_option("timing", timing, ("strict", "mean_rate", "interpolate"))
    check_positive("rate_tolerance", rate_tolerance)
    if rate_hz is None and time_column is None:
        raise ParameterError(
            f"{path.name}: give rate_hz (samples per second) or time_column (the column of "
            "sample times); frisson never assumes a sampling rate."
        )
    if rate_hz is not None:
        rate_hz = check_positive("rate_hz", rate_hz)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    check_option("decimal", decimal, (".", ","))
    sep = delimiter or _delimiter_for(path)
    if decimal == "," and sep == ",":
        sep = ";"  # a decimal comma goes with semicolon-separated CSV
    _refuse_other_formats(path)
    try:
        table = pd.read_csv(
            path,
            sep=sep,
            header=None if columns is not None else "infer",
            compression="infer",
            dtype=str,
            skipinitialspace=True,
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file holds no samples.") from None
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as error:
        raise DataError(f"{path}: cannot be read as a delimited table ({error}).") from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: the file has a header but no samples.")
    if columns is not None and table.shape[1] != len(columns):
        raise DataError(
            f"{path}: the file has {table.shape[1]} columns but columns= names {len(columns)}."
        )
    names = [str(c).strip() for c in (table.columns if columns is None else columns)]
    _refuse_transposed(path, table.shape)
    if columns is None:
        _refuse_numeric_header(path, names)
    table.columns = names
    if decimal == ",":
        table = table.apply(lambda column: column.str.replace(",", ".", regex=False))
    if time_column is not None and time_column not in names:
        raise DataError(
            f"{path}: no time column {time_column!r}; the columns are {names}. Pass "
            "time_column=<name> or rate_hz=<Hz> instead."
        )
    channel_names = [n for n in names if n != time_column]
    if not channel_names:
        raise DataError(f"{path}: no channel besides the time column {time_column!r}.")
    data = _numeric(path, table[channel_names], channel_names)
    first_time = 0.0
    if time_column is not None:
        times = _parse_times(path, table[time_column], time_column, time_unit)
        rate_hz, data, first_time = _check_timestamps(
            path,
            times,
            data,
            time_column=time_column,
            rate_hz=rate_hz,
            timing=timing,
            max_jitter_s=max_jitter_s,
            rate_tolerance=rate_tolerance,
        )
        if time_unit == "datetime":
            first_time = 0.0
    start = first_time if start_s is None else float(start_s)
    units = dict(units or {})
    bad_units = [n for n in units if n not in channel_names]
    if bad_units:
        raise ParameterError(f"units names {bad_units}, not channels of {path.name}.")
    chans = [(n, data[:, i], rate_hz, units.get(n)) for i, n in enumerate(channel_names)]
    return _assemble(path, chans, start_s=start, kinds=kinds, select=channels)


def looks_like_e4(path: str | Path) -> bool:
    r"""Whether a ``.csv`` starts like an Empatica E4 channel file.

    Row 1 holds the start time in Unix seconds and row 2 the rate in Hz, the
    same value in every column.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "EDA.csv"
    >>> _ = path.write_text("1495437325.000000\n4.000000\n0.1\n")
    >>> looks_like_e4(path)
    True

    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            first, second = handle.readline(), handle.readline()
        start = {float(v) for v in first.split(",")}
        rate = {float(v) for v in second.split(",")}
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (
        len(start) == 1 == len(rate)
        and 1e9 < start.pop() < 4e9
        and 0 < rate.pop() <= 10_000
        and len(first.split(",")) == len(second.split(","))
    )


def _refuse_other_formats(path: Path) -> None:
    """Stop on files of a known lab format, which a plain table reader would corrupt."""
    if looks_like_e4(path):
        raise DataError(
            f"{path}: an Empatica E4 file (row 1: start time in Unix seconds, row 2: rate); "
            "read as a table its first two rows would become samples or column names. Use "
            "frisson.physio.formats.read_e4 (format='e4')."
        )
    if path.suffix.lower() == ".txt":
        with open(path, encoding="utf-8", errors="replace") as handle:
            if handle.readline().startswith("# OpenSignals"):
                raise DataError(
                    f"{path}: an OpenSignals (BITalino) text file; its JSON header gives the "
                    "channels and the rate. Use frisson.physio.formats.read_opensignals "
                    "(format='opensignals')."
                )


def _refuse_numeric_header(path: Path, names: Sequence[str]) -> None:
    def number(text: str) -> bool:
        try:
            float(text.replace(",", "."))
        except ValueError:
            return False
        return True

    if names and all(number(name) for name in names):
        raise DataError(
            f"{path}: row 1 holds numbers ({', '.join(names[:3])}...), not column names; the "
            "file has no header row. Pass columns=[...] to name its columns."
        )


def _refuse_transposed(path: Path, shape: tuple[int, int]) -> None:
    rows, cols = shape
    if rows < cols and rows <= 3:
        raise DataError(
            f"{path}: {rows} row(s) of samples but {cols} columns: the table looks transposed "
            "(channels as rows). Samples must be rows and channels columns; transpose it "
            "(e.g. pandas DataFrame.T) or check the delimiter."
        )


def _delimiter_for(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".tsv" in suffixes:
        return "\t"
    if ".csv" in suffixes:
        return ","
    return r"\s+"


def _parse_times(path: Path, raw: Any, column: str, unit: str) -> np.ndarray:
    import pandas as pd

    if unit == "datetime":
        try:
            stamps = pd.to_datetime(raw.str.strip(), format="ISO8601")
        except (ValueError, TypeError) as error:
            raise DataError(
                f"{path}: time column {column!r} is not ISO 8601 date-times ({error})."
            ) from None
        if stamps.isna().any():
            row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise DataError(f"{path}: time column {column!r} is empty at data row {row + 1}.")
        return (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy()
    times = _numeric(path, raw.to_frame(), [column])[:, 0]
    if np.isnan(times).any():
        row = int(np.flatnonzero(np.isnan(times))[0])
        raise DataError(f"{path}: time column {column!r} is empty at data row {row + 1}.")
    return times / 1000.0 if unit == "ms" else times


def _check_timestamps(
    path: Path,
    times: np.ndarray,
    data: np.ndarray,
    *,
    time_column: str,
    rate_hz: float | None,
    timing: str,
    max_jitter_s: float | None,
    rate_tolerance: float,
) -> tuple[float, np.ndarray, float]:
    """Check the time column; return the rate, the (possibly regridded) data and the first time."""
    if times.size < 2:
        raise DataError(f"{path}: one sample is not a recording; need at least 2.")
    steps = np.diff(times)
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        raise DataError(
            f"{path}: time column {time_column!r} goes backwards at data row {row + 1} "
            f"({times[row - 1]:.6g} -> {times[row]:.6g} s); sort the rows or fix the clock."
        )
    span = times[-1] - times[0]
    if span <= 0:
        raise DataError(f"{path}: time column {time_column!r} never advances.")
    mean_rate = (times.size - 1) / span
    if rate_hz is not None and abs(rate_hz - mean_rate) > rate_tolerance * mean_rate:
        raise DataError(
            f"{path}: rate_hz={rate_hz:g} disagrees with the timestamps in {time_column!r}, which "
            f"advance at {mean_rate:.6g} samples/s ({100 * (rate_hz / mean_rate - 1):+.2f} %); "
            "drop rate_hz to use the timestamps, or check the time unit (time_unit=)."
        )
    jitter_limit = 0.5 / mean_rate if max_jitter_s is None else max_jitter_s
    grid = times[0] + np.arange(times.size) / mean_rate
    jitter = float(np.max(np.abs(times - grid)))
    if jitter <= jitter_limit or timing == "mean_rate":
        if jitter > jitter_limit:
            logger.warning(
                "%s: timestamps depart from a regular %.6g Hz grid by up to %.4g s; "
                "timing='mean_rate' assumes regular sampling",
                path.name,
                mean_rate,
                jitter,
            )
        return (mean_rate if rate_hz is None else rate_hz), data, float(times[0])
    if timing == "strict":
        repeated = int(np.sum(steps == 0))
        raise DataError(
            f"{path}: timestamps in {time_column!r} depart from a regular {mean_rate:.6g} Hz grid "
            f"by up to {jitter:.4g} s (limit max_jitter_s={jitter_limit:.4g} s; "
            f"{repeated} repeated timestamps, largest gap {steps.max():.4g} s). Pass "
            "timing='mean_rate' to trust the sampler, timing='interpolate' to regrid, or a "
            "larger max_jitter_s."
        )
    # interpolate: average samples sharing a timestamp, then interpolate onto a regular grid.
    target_rate = mean_rate if rate_hz is None else rate_hz
    unique, inverse = np.unique(times, return_inverse=True)
    sums = np.zeros((unique.size, data.shape[1]))
    np.add.at(sums, inverse, data)
    averaged = sums / np.bincount(inverse)[:, np.newaxis]
    n_new = int(np.floor((unique[-1] - unique[0]) * target_rate + 1e-9)) + 1
    new_times = unique[0] + np.arange(n_new) / target_rate
    regridded = np.column_stack(
        [np.interp(new_times, unique, averaged[:, i]) for i in range(data.shape[1])]
    )
    logger.info(
        "%s: interpolated %d irregular samples onto %d at %.6g Hz",
        path.name,
        times.size,
        n_new,
        target_rate,
    )
    return target_rate, regridded, float(unique[0])


# -------------------------------------------------------------------------------- EDF
def read_edf(
    path: str | Path,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> dict[str, TimeSeries]:
    """Read an EDF, EDF+, BDF or BDF+ file with pyedflib (physical units, per-channel rates).

    Annotation channels are skipped. The series start at 0 s (the file's start
    date-time is logged); shift them with ``TimeSeries.replace(start_s=...)``
    to align with stimulus time.

    Parameters
    ----------
    path : str or Path
        The ``.edf`` or ``.bdf`` file.
    kinds : mapping of str to str, optional
        Channel label -> kind, overriding the guess from the label.
    channels : sequence of str, optional
        Read only these labels.

    Returns
    -------
    dict of str to TimeSeries
        One single-channel series per signal, with the EDF physical dimension as unit.

    Raises
    ------
    DataError
        If the file is not a readable EDF/BDF.

    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    pyedflib = import_optional("pyedflib")
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as error:
        raise DataError(
            f"{path}: not a readable EDF/BDF file ({str(error).strip()}); check that it is "
            "complete and that its header is valid (e.g. open it in EDFbrowser)."
        ) from None
    try:
        chans = []
        for i in range(reader.signals_in_file):
            label = reader.getLabel(i).strip()
            rate = float(reader.getSampleFrequency(i))
            if rate <= 0:
                continue
            unit = reader.getPhysicalDimension(i).strip() or None
            chans.append((label, reader.readSignal(i), rate, unit))
        logger.info("%s: recording started %s", path.name, reader.getStartdatetime())
    finally:
        reader.close()
    if not chans:
        raise DataError(f"{path}: the file has no signal channels.")
    return _assemble(path, chans, start_s=0.0, kinds=kinds, select=channels)


# ------------------------------------------------------------------------ AcqKnowledge
def read_acqknowledge(
    path: str | Path,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> dict[str, TimeSeries]:
    """Read a BIOPAC AcqKnowledge ``.acq`` file with bioread (per-channel rates and units).

    Parameters
    ----------
    path : str or Path
        The ``.acq`` file.
    kinds : mapping of str to str, optional
        Channel name -> kind, overriding the guess from the name.
    channels : sequence of str, optional
        Read only these channels.

    Returns
    -------
    dict of str to TimeSeries
        One single-channel series per channel, starting at 0 s.

    Raises
    ------
    DataError
        If bioread cannot parse the file.

    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    bioread = import_optional("bioread")
    try:
        datafile = bioread.read_file(str(path))
    except Exception as error:  # bioread raises assorted errors on malformed input
        raise DataError(
            f"{path}: not a readable AcqKnowledge file ({type(error).__name__}: {error}); "
            "check that it is complete, or export it from AcqKnowledge as EDF or text."
        ) from None
    chans = [
        (
            str(channel.name).strip(),
            np.asarray(channel.data, dtype=np.float64),
            float(channel.samples_per_second),
            (str(channel.units).strip() or None),
        )
        for channel in datafile.channels
    ]
    if not chans:
        raise DataError(f"{path}: the file has no channels.")
    return _assemble(path, chans, start_s=0.0, kinds=kinds, select=channels)


# --------------------------------------------------------------------------- dispatch
def read_physio(path: str | Path, **options: Any) -> dict[str, TimeSeries]:
    """Read any supported recording, choosing the reader from the file name.

    ``*_physio.tsv.gz`` / ``*_physio.tsv`` with a JSON sidecar ->
    :func:`read_bids_physio`; ``.edf``/``.bdf`` -> :func:`read_edf`; ``.acq``
    -> :func:`read_acqknowledge`; other ``.csv``/``.tsv``/``.txt`` (optionally
    compressed) -> :func:`read_table_physio`. ``options`` go to that reader.

    Raises
    ------
    DataError
        For an unknown extension.

    """
    path = Path(path)
    name = path.name.lower()
    if re.search(r"_physio\.tsv(\.gz)?$", name):
        sidecar = _bids_sidecar(path)
        if sidecar.is_file() or applicable_sidecars(path):
            return read_bids_physio(path, **options)
        if not options:
            # A BIDS recording without its sidecar: say so, not "give rate_hz".
            what = "the recording and its sidecar are" if not path.is_file() else "its sidecar is"
            raise DataError(
                f"{sidecar}: {what} missing; a BIDS *_physio.tsv.gz needs the JSON sidecar "
                "beside it (SamplingFrequency, StartTime, Columns). Restore it, or read the "
                "table with read_table_physio(path, rate_hz=...)."
            )
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return read_edf(path, **options)
    if suffix == ".acq":
        return read_acqknowledge(path, **options)
    if re.search(r"\.(csv|tsv|txt)(\.(gz|bz2|zip|xz))?$", name):
        return read_table_physio(path, **options)
    raise DataError(
        f"{path}: unknown physiology format {suffix!r}; frisson reads BIDS *_physio.tsv.gz, "
        ".csv/.tsv/.txt, .edf/.bdf and .acq."
    )
