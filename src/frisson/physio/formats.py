"""Lab recording formats: Empatica E4, OpenSignals/BITalino, XDF, EDF+, AcqKnowledge, WFDB, npy.

Each reader returns a :class:`Recording`: the channels (one single-channel
:class:`~frisson.timeseries.TimeSeries` each, at its own rate, keyed as in
:mod:`frisson.physio.io`), the markers and annotations the file holds (button
presses, LSL marker streams, EDF+ annotations, AcqKnowledge event markers) and
the wall-clock time of ``t = 0`` when the file states it. Nothing is
resampled: channels recorded at different rates stay at their rates.

:func:`read_recording` picks the reader from the file (or ``format=``).

A file whose layout does not match its format stops with a
:class:`~frisson.errors.DataError` naming the file and the fix: an E4 file
without its start-time and rate rows, an OpenSignals file without its JSON
header or with a column count that disagrees with it, an XDF without numeric
streams, a table that looks transposed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.physio.io import (
    _assemble,
    channel_kind,
    looks_like_e4,
    read_acqknowledge,
    read_bids_physio,
    read_edf,
    read_table_physio,
)
from frisson.timeseries import TimeSeries

__all__ = [
    "FORMATS",
    "PLAUSIBLE_BPM",
    "Marker",
    "Recording",
    "check_heart_rate",
    "heart_rate_bpm",
    "read_e4",
    "read_npy",
    "read_opensignals",
    "read_recording",
    "read_wfdb",
    "read_xdf",
]

Format = Literal["bids", "table", "edf", "acq", "e4", "opensignals", "xdf", "wfdb", "npy"]
#: Formats :func:`read_recording` knows.
FORMATS: tuple[str, ...] = (
    "bids",
    "table",
    "edf",
    "acq",
    "e4",
    "opensignals",
    "xdf",
    "wfdb",
    "npy",
)


@dataclass(frozen=True)
class Marker:
    """One marker or annotation of a recording.

    Attributes
    ----------
    onset_s : float
        Time in seconds on the recording's time axis (the channels' ``start_s`` axis).
    duration_s : float
        Length in seconds (0 for instants such as button presses).
    label : str
        The marker's text.

    """

    onset_s: float
    duration_s: float
    label: str


@dataclass
class Recording:
    """A recording read from a lab format: channels at their own rates, markers, start time.

    Attributes
    ----------
    path : Path
        The file (or folder, for an Empatica E4 session) read.
    format : str
        One of :data:`FORMATS`.
    channels : dict of str to TimeSeries
        One single-channel series per channel, keyed by kind or name.
    markers : list of Marker
        Markers and annotations, on the channels' time axis.
    start_time : datetime or None
        Wall-clock time of ``t = 0`` (UTC where the format says so), if known.

    """

    path: Path
    format: str
    channels: dict[str, TimeSeries]
    markers: list[Marker] = field(default_factory=list)
    start_time: datetime | None = None

    def rates_hz(self) -> dict[str, float]:
        """Each channel's sampling rate in Hz."""
        return {key: series.rate_hz for key, series in self.channels.items()}


def _soft_import(module: str, purpose: str) -> Any:
    """Import a reader's package; a missing one is one error naming what installs it."""
    import importlib

    from frisson._optional import EXTRAS, import_optional

    if module in EXTRAS:
        return import_optional(module)
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"Reading {purpose} needs the {module!r} package: pip install {module}."
        ) from None


# ---------------------------------------------------------------------------- Empatica E4
#: E4 session files: name -> (channel names, unit).
_E4_FILES = {
    "EDA.csv": (("EDA",), "uS"),
    "BVP.csv": (("BVP",), "a.u."),
    "TEMP.csv": (("TEMP",), "degC"),
    "HR.csv": (("HR",), "bpm"),
    "ACC.csv": (("ACC_X", "ACC_Y", "ACC_Z"), "1/64 g"),
}
#: Plausible Unix times of a recording's start (2001 to 2096).
_UNIX_RANGE_S = (1e9, 4e9)


def _e4_rows(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An E4 channel file's start times (row 1), rates (row 2) and samples (the rest)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]

    def row(index: int) -> np.ndarray:
        try:
            return np.array([float(v) for v in lines[index].split(",")])
        except (ValueError, IndexError):
            return np.array([])

    start, rate = row(0), row(1)
    layout = (
        "an Empatica E4 file has the start time (Unix seconds) in row 1, the sampling rate "
        "(Hz) in row 2 and one sample per row after them"
    )
    if start.size == 0 or not (_UNIX_RANGE_S[0] < start[0] < _UNIX_RANGE_S[1]):
        shown = lines[0][:40] if lines else "nothing"
        raise DataError(
            f"{path}: row 1 is {shown!r}, not a start time in Unix seconds; {layout}. Is this "
            "an E4 file (export the session from E4 connect), or a table for read_table_physio?"
        )
    if rate.size != start.size or not (0 < rate[0] <= 10_000):
        raise DataError(
            f"{path}: row 2 is {lines[1][:40] if len(lines) > 1 else 'missing'!r}, not a "
            f"sampling rate in Hz for each of the {start.size} column(s); {layout}."
        )
    if len(set(start.tolist())) > 1 or len(set(rate.tolist())) > 1:
        raise DataError(f"{path}: the columns of rows 1-2 differ; {layout}.")
    try:
        samples = np.array(
            [[float(v) for v in line.split(",")] for line in lines[2:]], dtype=np.float64
        ).reshape(-1, start.size)
    except ValueError:
        bad = next(
            i for i, line in enumerate(lines[2:]) if not re.fullmatch(r"[-+0-9., eE]+", line)
        )
        raise DataError(
            f"{path}: row {bad + 3} ({lines[bad + 2][:40]!r}) is not {start.size} number(s); "
            f"{layout}."
        ) from None
    if samples.shape[0] == 0:
        raise DataError(f"{path}: no samples after the start-time and rate rows.")
    return start, rate, samples


def _e4_tags(path: Path, t0: float) -> list[Marker]:
    """Button presses of ``tags.csv`` (one Unix time per row) as markers."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").split()):
        try:
            stamp = float(line.strip().strip(","))
        except ValueError:
            raise DataError(
                f"{path}: row {i + 1} ({line[:40]!r}) is not a Unix time; tags.csv holds one "
                "button press per row."
            ) from None
        out.append(Marker(stamp - t0, 0.0, "tag"))
    return out


def _e4_ibi(path: Path, t0: float) -> list[Marker]:
    """``IBI.csv`` (row 1: start time, 'IBI'; then time from start, interval) as beat markers."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        start = float(lines[0].split(",")[0])
        rows = [tuple(float(v) for v in line.split(",")[:2]) for line in lines[1:]]
    except (ValueError, IndexError):
        raise DataError(
            f"{path}: not an E4 IBI file (row 1: start time, 'IBI'; then one 'seconds from "
            "start, interval in seconds' per beat)."
        ) from None
    return [Marker(start - t0 + t, ibi, "ibi") for t, ibi in rows]


def read_e4(
    path: str | os.PathLike,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> Recording:
    r"""Read an Empatica E4 session folder (EDA, BVP, TEMP, HR, ACC, IBI, tags) or one of its CSVs.

    Every E4 channel file holds the start time (Unix seconds, UTC) in row 1,
    the sampling rate in row 2 and the samples after them. Each channel keeps
    its own rate (EDA and TEMP 4 Hz, BVP 64 Hz, ACC 32 Hz, HR 1 Hz from 10 s
    on). ``t = 0`` is the earliest start of the files read; button presses
    (``tags.csv``) are markers labelled ``"tag"`` and inter-beat intervals
    (``IBI.csv``) markers labelled ``"ibi"`` at each beat with the interval
    as duration.

    Parameters
    ----------
    path : path
        The unzipped session folder, or one of its ``*.csv`` files.
    kinds : mapping of str to str, optional
        Channel name -> kind, overriding the guess (EDA is ``eda``, BVP ``ppg``).
    channels : sequence of str, optional
        Read only these channels (e.g. ``["EDA", "BVP"]``).

    Returns
    -------
    Recording

    Raises
    ------
    DataError
        If a file lacks the start-time and rate rows, holds a non-numeric
        sample, or the folder holds no E4 channel file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "EDA.csv"
    >>> _ = path.write_text("1495437325.000000\n4.000000\n0.0\n0.13\n0.14\n")
    >>> rec = read_e4(path)
    >>> rec.channels["eda"].rate_hz, rec.channels["eda"].values[:, 0].tolist()
    (4.0, [0.0, 0.13, 0.14])
    >>> rec.start_time.isoformat()
    '2017-05-22T07:15:25+00:00'

    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    folder = path if path.is_dir() else path.parent
    files = [folder / name for name in _E4_FILES if (folder / name).is_file()]
    if path.is_file():
        files = [path] if path.name in _E4_FILES or path.name not in ("IBI.csv", "tags.csv") else []
    if not files:
        raise DataError(
            f"{path}: no E4 channel file ({', '.join(_E4_FILES)}); read the unzipped session "
            "folder or one of those files."
        )
    parsed = {file: _e4_rows(file) for file in files}
    t0 = min(float(start[0]) for start, _, _ in parsed.values())
    chans, starts = [], {}
    for file, (start, rate, samples) in parsed.items():
        names, unit = _E4_FILES.get(file.name, ((file.stem,) * samples.shape[1], None))
        if len(names) != samples.shape[1]:
            names = tuple(f"{file.stem}_{i + 1}" for i in range(samples.shape[1]))
        for i, name in enumerate(names):
            chans.append((name, samples[:, i], float(rate[0]), unit))
            starts[name] = float(start[0]) - t0
    out = _assemble(path, chans, start_s=0.0, kinds=kinds, select=channels)
    out = {k: s.replace(start_s=starts[s.names[0]]) for k, s in out.items()}
    markers = []
    if path.is_dir() or path.name in ("tags.csv", "IBI.csv"):
        if (folder / "tags.csv").is_file():
            markers += _e4_tags(folder / "tags.csv", t0)
        if (folder / "IBI.csv").is_file():
            markers += _e4_ibi(folder / "IBI.csv", t0)
    return Recording(path, "e4", out, markers, datetime.fromtimestamp(t0, UTC))


# ------------------------------------------------------------------ OpenSignals / BITalino
_OPENSIGNALS_MAGIC = "# OpenSignals Text File Format"


def _opensignals_header(path: Path) -> tuple[dict, int]:
    """The JSON header of an OpenSignals text file and the number of header lines."""
    with open(path, encoding="utf-8") as handle:
        head = [handle.readline() for _ in range(3)]
    if not head[0].startswith(_OPENSIGNALS_MAGIC):
        raise DataError(
            f"{path}: does not start with {_OPENSIGNALS_MAGIC!r}; export the recording from "
            "OpenSignals as 'TXT' (with header), or read a plain table with read_table_physio."
        )
    try:
        header = json.loads(head[1].lstrip("#").strip())
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}: line 2 should be the JSON header ('# {{...}}'); it does not parse ({error})."
        ) from None
    if not head[2].startswith("# EndOfHeader") or not isinstance(header, dict) or not header:
        raise DataError(f"{path}: the header must end with '# EndOfHeader' on line 3.")
    return header, 3


def _opensignals_device(path: Path, mac: str, device: Any) -> tuple[list[str], float, list]:
    """A device's columns, rate and analog channels ``(column index, name, unit)``."""
    try:
        columns = list(device["column"])
        rate = float(device["sampling rate"])
        labels = list(device["label"])
        sensors = list(device.get("sensor") or labels)
    except (KeyError, TypeError, ValueError):
        raise DataError(
            f"{path}: the header of device {mac} lacks 'column', 'sampling rate' or 'label'; "
            "re-export the file from OpenSignals."
        ) from None
    if rate <= 0:
        raise DataError(f"{path}: device {mac} has sampling rate {rate:g}; expected > 0 Hz.")
    analog = []
    for label, sensor in zip(labels, sensors, strict=False):
        if label not in columns:
            raise DataError(f"{path}: label {label!r} of device {mac} is not in its columns.")
        name = str(sensor) if sensor and str(sensor).upper() not in ("RAW", "") else str(label)
        analog.append((columns.index(label), name, "ADC"))
    return columns, rate, analog


def read_opensignals(
    path: str | os.PathLike,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> Recording:
    """Read an OpenSignals (BITalino, biosignalsplux) text file with its JSON header.

    The file's three header lines give, per device, the columns (``nSeq``,
    digital I/O, analog ``A1``...), the sampling rate, the analog labels and
    the sensor on each (``EDA``, ``ECG``...), and the start date and time.
    Analog channels are named by sensor (by label when the sensor is
    ``RAW``) and returned as raw ADC values (unit ``"ADC"``): convert them
    with the sensor's transfer function. A sequence counter (``nSeq``) that
    skips is logged as lost samples.

    Parameters
    ----------
    path : path
        The ``.txt`` file.
    kinds : mapping of str to str, optional
        Channel name -> kind, overriding the guess from the sensor name.
    channels : sequence of str, optional
        Read only these channels.

    Returns
    -------
    Recording
        ``start_time`` from the header's ``date`` and ``time`` (local time of
        the recording computer, no zone).

    Raises
    ------
    DataError
        No OpenSignals header, a header that does not parse, a column count
        that disagrees with it, fewer than 2 samples.

    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    header, skip = _opensignals_header(path)
    layout = []
    start_time = None
    for mac, device in header.items():
        columns, rate, analog = _opensignals_device(path, mac, device)
        layout.append((mac, columns, rate, analog))
        if start_time is None and device.get("date") and device.get("time"):
            try:
                start_time = datetime.fromisoformat(f"{device['date']}T{device['time']}")
            except ValueError:
                logger.warning(
                    "%s: unreadable start %s %s", path.name, device["date"], device["time"]
                )
    try:
        data = np.loadtxt(path, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise DataError(f"{path}: the samples are not all numbers ({error}).") from None
    expected = sum(len(columns) for _, columns, _, _ in layout)
    if data.shape[1] != expected:
        raise DataError(
            f"{path}: rows have {data.shape[1]} values but the header lists {expected} "
            f"column(s); the file is damaged or was edited. Re-export it from OpenSignals."
        )
    if data.shape[0] < 2:
        raise DataError(f"{path}: {data.shape[0]} sample(s); a recording needs at least 2.")
    chans, offset, names_seen = [], 0, set()
    for mac, columns, rate, analog in layout:
        if "nSeq" in columns:
            _check_sequence(path, data[:, offset + columns.index("nSeq")])
        for index, name, unit in analog:
            if name in names_seen:
                name = f"{name}_{mac[-5:].replace(':', '')}"
            names_seen.add(name)
            chans.append((name, data[:, offset + index], rate, unit))
        offset += len(columns)
    out = _assemble(path, chans, start_s=0.0, kinds=kinds, select=channels)
    return Recording(path, "opensignals", out, [], start_time)


def _check_sequence(path: Path, sequence: np.ndarray) -> None:
    """Log samples lost according to a wrapping sequence counter (BITalino: 0-15)."""
    if sequence.size < 2:
        return
    period = int(sequence.max()) + 1
    steps = np.mod(np.diff(sequence), period)
    lost = int(np.sum(steps[steps != 1] - 1 + np.where(steps[steps != 1] == 0, period, 0)))
    if lost:
        logger.warning(
            "%s: the sequence counter nSeq skips: about %d sample(s) lost; the channels' "
            "times after the first gap are early by the lost samples",
            path.name,
            lost,
        )


# ------------------------------------------------------------------------------------ XDF
def _xdf_channel_names(stream: dict) -> tuple[list[str], list[str | None]]:
    info = stream["info"]
    n = int(info["channel_count"][0])
    name = str(info["name"][0])
    labels: list[str] = []
    units: list[str | None] = []
    try:
        for channel in info["desc"][0]["channels"][0]["channel"]:
            labels.append(str(channel.get("label", [""])[0]))
            unit = channel.get("unit", [None])[0]
            units.append(str(unit) if unit else None)
    except (KeyError, IndexError, TypeError):
        labels, units = [], []
    if len(labels) != n or not all(labels):
        labels = [name] if n == 1 else [f"{name}_{i + 1}" for i in range(n)]
        units = [None] * n
    return labels, units


def _is_marker_stream(stream: dict) -> bool:
    info = stream["info"]
    return str(info["channel_format"][0]) == "string" or float(info["nominal_srate"][0]) == 0


def read_xdf(
    path: str | os.PathLike,
    *,
    streams: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    rate_tolerance: float = 0.01,
) -> Recording:
    """Read an XDF file (Lab Streaming Layer, LabRecorder) with pyxdf.

    Numeric streams with a nominal rate become channels at that rate (each
    stream its own); string or irregular streams become markers. ``t = 0``
    is the earliest first time stamp of any stream, so every stream keeps
    its offset. A stream whose time stamps advance at a rate more than
    ``rate_tolerance`` from its nominal rate is refused: its nominal rate is
    wrong or samples were lost.

    Parameters
    ----------
    path : path
        The ``.xdf`` (or ``.xdfz``) file.
    streams : sequence of str, optional
        Read only the streams with these names.
    kinds : mapping of str to str, optional
        Channel name -> kind.
    rate_tolerance : float
        Largest relative difference between nominal and recorded rate (0.01: 1 %).

    Returns
    -------
    Recording

    Raises
    ------
    DataError
        Unreadable file, no numeric stream, a rate that disagrees with the time stamps.

    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    pyxdf = _soft_import("pyxdf", "XDF files")
    try:
        loaded, _ = pyxdf.load_xdf(str(path))
    except Exception as error:  # pyxdf raises assorted errors on damaged files
        raise DataError(
            f"{path}: not a readable XDF file ({type(error).__name__}: {error}); check that "
            "LabRecorder finished writing it."
        ) from None
    if streams is not None:
        names = [str(s["info"]["name"][0]) for s in loaded]
        missing = [n for n in streams if n not in names]
        if missing:
            raise ParameterError(
                f"streams={list(streams)}: {missing} not in {path.name} ({names})."
            )
        loaded = [s for s, n in zip(loaded, names, strict=True) if n in streams]
    stamped = [s for s in loaded if len(s["time_stamps"])]
    if not stamped:
        raise DataError(f"{path}: no stream holds samples.")
    t0 = min(float(s["time_stamps"][0]) for s in stamped)
    chans, starts, markers = [], {}, []
    for stream in stamped:
        stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
        if _is_marker_stream(stream):
            for stamp, value in zip(stamps, stream["time_series"], strict=True):
                markers.append(Marker(float(stamp) - t0, 0.0, str(value[0])))
            continue
        rate = float(stream["info"]["nominal_srate"][0])
        _check_xdf_rate(path, stream, stamps, rate, rate_tolerance)
        values = np.asarray(stream["time_series"], dtype=np.float64).reshape(len(stamps), -1)
        labels, units = _xdf_channel_names(stream)
        for i, label in enumerate(labels):
            chans.append((label, values[:, i], rate, units[i]))
            starts[label] = float(stamps[0]) - t0
    if not chans:
        raise DataError(f"{path}: only marker streams; no numeric stream with a nominal rate.")
    out = _assemble(path, chans, start_s=0.0, kinds=kinds, select=None)
    out = {k: s.replace(start_s=starts[s.names[0]]) for k, s in out.items()}
    return Recording(path, "xdf", out, sorted(markers, key=lambda m: m.onset_s), None)


def _check_xdf_rate(path: Path, stream: dict, stamps: np.ndarray, rate: float, tol: float):
    if stamps.size < 2:
        return
    recorded = (stamps.size - 1) / (stamps[-1] - stamps[0])
    if abs(recorded / rate - 1) > tol:
        name = stream["info"]["name"][0]
        raise DataError(
            f"{path}: stream {name!r} has nominal rate {rate:g} Hz but its time stamps advance "
            f"at {recorded:.6g} Hz ({100 * (recorded / rate - 1):+.1f} %); samples were lost "
            "or the nominal rate is wrong. Fix the stream's rate in the recording setup."
        )


# ------------------------------------------------------------------------ EDF+ and ACQ
def _edf_markers(path: Path) -> tuple[list[Marker], datetime | None]:
    pyedflib = _soft_import("pyedflib", "EDF/BDF files")
    reader = pyedflib.EdfReader(str(path))
    try:
        onsets, durations, texts = reader.readAnnotations()
        start = reader.getStartdatetime()
    finally:
        reader.close()
    markers = [
        Marker(float(o), max(float(d), 0.0), str(t))
        for o, d, t in zip(onsets, durations, texts, strict=True)
    ]
    return markers, start


def _acq_markers(path: Path) -> list[Marker]:
    bioread = _soft_import("bioread", "AcqKnowledge files")
    datafile = bioread.read_file(str(path))
    return [
        Marker(float(m.time_index), 0.0, str(m.text).strip() or "marker")
        for m in (datafile.event_markers or [])
    ]


# ------------------------------------------------------------------------- WFDB and npy
def read_wfdb(
    path: str | os.PathLike,
    *,
    kinds: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
) -> Recording:
    """Read a PhysioNet WFDB record (``.hea`` + signal files) with wfdb, in physical units.

    Parameters
    ----------
    path : path
        The record's ``.hea`` (or the record name without extension).
    kinds, channels
        As in :func:`read_e4`.

    Returns
    -------
    Recording

    """
    path = Path(path)
    record_name = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    if not record_name.with_suffix(".hea").is_file():
        raise DataError(f"{record_name}.hea: no such WFDB header.")
    wfdb = _soft_import("wfdb", "WFDB records")
    try:
        record = wfdb.rdrecord(str(record_name))
    except Exception as error:  # wfdb raises assorted errors
        raise DataError(f"{path}: not a readable WFDB record ({error}).") from None
    chans = [
        (str(name), record.p_signal[:, i], float(record.fs), str(unit) or None)
        for i, (name, unit) in enumerate(zip(record.sig_name, record.units, strict=True))
    ]
    out = _assemble(path, chans, start_s=0.0, kinds=kinds, select=channels)
    start = record.base_datetime if getattr(record, "base_datetime", None) else None
    return Recording(path, "wfdb", out, [], start)


def read_npy(
    path: str | os.PathLike,
    *,
    rate_hz: float,
    names: Sequence[str],
    units: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Recording:
    """Read a ``.npy`` array of samples ``(n_samples, n_channels)`` at ``rate_hz``.

    Raises
    ------
    DataError
        If the array is not 1-D or 2-D, its channel count differs from
        ``names``, or it looks transposed (more channels than samples).

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rec.npy"
    >>> np.save(path, np.ones((100, 2)))
    >>> rec = read_npy(path, rate_hz=50.0, names=["gsr", "ppg"])
    >>> sorted(rec.channels), rec.channels["eda"].duration_s
    (['eda', 'ppg'], 2.0)

    """
    from frisson._check import check_positive

    path = Path(path)
    rate_hz = check_positive("rate_hz", rate_hz)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error}).") from None
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    if data.ndim != 2:
        raise DataError(f"{path}: shape {data.shape}; expected (n_samples, n_channels).")
    if data.shape[1] != len(names) and data.shape[0] == len(names):
        raise DataError(
            f"{path}: shape {data.shape} looks transposed (channels as rows); save it as "
            f"(n_samples, n_channels), e.g. np.save(path, data.T)."
        )
    if data.shape[1] != len(names):
        raise DataError(f"{path}: {data.shape[1]} channel(s) but names= gives {len(names)}.")
    units = dict(units or {})
    chans = [(n, data[:, i], rate_hz, units.get(n)) for i, n in enumerate(names)]
    return Recording(path, "npy", _assemble(path, chans, start_s=0.0, kinds=kinds, select=None))


# --------------------------------------------------------------------- rate plausibility
#: Heart rates (bpm) a resting listener's recording can show; outside them the rate is suspect.
PLAUSIBLE_BPM = (40.0, 200.0)


def heart_rate_bpm(series: TimeSeries, *, max_s: float = 120.0) -> float | None:
    """The dominant heart rate (bpm) of an ECG or PPG channel from its autocorrelation.

    The beat energy (squared slope, smoothed over 0.15 s) is autocorrelated;
    the beat period is the first lag between 0.25 and 2.5 s whose
    autocorrelation reaches 80 % of the highest there (so a multiple of the
    period is not taken for it). Returns None when the channel is shorter
    than 10 s or not periodic (highest autocorrelation below 0.3).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.timeseries import TimeSeries
    >>> t = np.arange(0, 30, 1 / 100)
    >>> round(heart_rate_bpm(TimeSeries(np.sin(np.pi * 1.2 * t) ** 8, 100.0)))  # pulses at 1.2 Hz
    72

    """
    rate = series.rate_hz
    values = series.values[: int(max_s * rate), 0].astype(np.float64)
    if values.size < 10 * rate:
        return None
    values = np.where(np.isnan(values), np.nanmean(values), values)

    # Beat energy (Pan-Tompkins style): the squared slope of the signal below ~40 Hz,
    # smoothed over 0.15 s and kept at <= 50 Hz, so beats that jitter by tens of ms
    # still line up at the beat period.
    def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
        width = max(1, int(seconds * rate))
        return np.convolve(x, np.ones(width) / width, mode="same")

    energy = smooth(np.diff(smooth(values, 0.025)) ** 2, 0.15)  # < 40 Hz, then beat energy
    step = max(1, int(rate // 50))
    energy = energy[: energy.size // step * step].reshape(-1, step).mean(axis=1)
    rate = rate / step
    values = energy - energy.mean()
    n = values.size
    spectrum = np.fft.rfft(values, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    if acf[0] <= 0:
        return None
    acf = acf / acf[0]
    lo, hi = int(0.25 * rate), min(int(2.5 * rate), n - 1)
    window = acf[lo : hi + 1]
    if window.size < 3 or window.max() < 0.3:
        return None
    peaks = [
        i
        for i in range(1, window.size - 1)
        if window[i] >= window[i - 1] and window[i] >= window[i + 1]
    ]
    strong = [i for i in peaks if window[i] >= 0.8 * window.max()]
    i = strong[0] if strong else int(np.argmax(window))
    shift = 0.0
    if 0 < i < window.size - 1:  # parabolic interpolation between the lag samples
        curvature = window[i - 1] - 2 * window[i] + window[i + 1]
        shift = 0.5 * (window[i - 1] - window[i + 1]) / curvature if curvature < 0 else 0.0
    lag = (lo + i + shift) / rate
    return 60.0 / lag


def check_heart_rate(path: str | os.PathLike, channels: Mapping[str, TimeSeries]) -> None:
    """Stop when an ECG/PPG channel beats implausibly fast or slow: its rate is likely wrong.

    Raises
    ------
    DataError
        Naming the file, the channel, the heart rate at the stated rate and
        the sampling rate that would make it plausible.

    """
    for key, series in channels.items():
        kind = key if key in ("ecg", "ppg") else channel_kind(series.names[0])
        if kind not in ("ecg", "ppg"):
            continue
        bpm = heart_rate_bpm(series)
        if bpm is None or PLAUSIBLE_BPM[0] <= bpm <= PLAUSIBLE_BPM[1]:
            continue
        factor = 2.0 if bpm < PLAUSIBLE_BPM[0] else 0.5
        raise DataError(
            f"{path}: at {series.rate_hz:g} Hz the {kind} channel {series.names[0]!r} beats at "
            f"{bpm:.1f} bpm, outside {PLAUSIBLE_BPM[0]:g}-{PLAUSIBLE_BPM[1]:g}: the sampling rate "
            f"is probably wrong (at {factor * series.rate_hz:g} Hz it would be "
            f"{factor * bpm:.1f} bpm). Check the device's rate and pass the right one."
        )


# ---------------------------------------------------------------------------- dispatch
def detect_format(path: str | os.PathLike) -> str:
    """The format of a recording from its name and first bytes (one of :data:`FORMATS`).

    Examples
    --------
    >>> detect_format("sub-01_task-x_physio.tsv.gz"), detect_format("rec.bdf")
    ('bids', 'edf')

    """
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        return "e4"
    if re.search(r"_physio\.tsv(\.gz)?$", name):
        return "bids"
    by_suffix = {".edf": "edf", ".bdf": "edf", ".acq": "acq", ".xdf": "xdf", ".xdfz": "xdf",
                 ".hea": "wfdb", ".npy": "npy"}  # fmt: skip
    if path.suffix.lower() in by_suffix:
        return by_suffix[path.suffix.lower()]
    if path.is_file() and name.endswith(".txt"):
        with open(path, encoding="utf-8", errors="replace") as handle:
            if handle.readline().startswith(_OPENSIGNALS_MAGIC):
                return "opensignals"
    if path.is_file() and name.endswith(".csv") and looks_like_e4(path):
        return "e4"
    if re.search(r"\.(csv|tsv|txt)(\.(gz|bz2|zip|xz))?$", name):
        return "table"
    raise DataError(f"{path}: unknown recording format; give format= one of {', '.join(FORMATS)}.")


def read_recording(
    path: str | os.PathLike, *, format: str | None = None, **options: Any
) -> Recording:
    r"""Read a recording in any supported format, with its markers and start time.

    Parameters
    ----------
    path : path
        The file (or an E4 session folder).
    format : str, optional
        One of :data:`FORMATS`; detected from the name and content by default
        (:func:`detect_format`).
    **options
        Passed to the format's reader (e.g. ``rate_hz=`` and ``time_column=``
        for tables, ``names=`` for npy).

    Returns
    -------
    Recording

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "EDA.csv"
    >>> _ = path.write_text("1495437325\n4\n0.1\n0.2\n")
    >>> read_recording(path).format
    'e4'

    """
    from frisson._check import check_option

    path = Path(path)
    chosen = detect_format(path) if format is None else check_option("format", format, FORMATS)
    readers = {
        "e4": read_e4,
        "opensignals": read_opensignals,
        "xdf": read_xdf,
        "wfdb": read_wfdb,
        "npy": read_npy,
    }
    if chosen in readers:
        return readers[chosen](path, **options)
    if chosen == "bids":
        return Recording(path, "bids", read_bids_physio(path, **options))
    if chosen == "table":
        return Recording(path, "table", read_table_physio(path, **options))
    if chosen == "edf":
        channels = read_edf(path, **options)
        markers, start = _edf_markers(path)
        return Recording(path, "edf", channels, markers, start)
    channels = read_acqknowledge(path, **options)
    return Recording(path, "acq", channels, _acq_markers(path))
