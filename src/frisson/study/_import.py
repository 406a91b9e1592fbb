"""Raw lab recordings into a BIDS study: template folders, one recording, a manifest of them.

:func:`write_recordings` writes channels at different rates into one run, one
``*_recording-<label>_physio.tsv.gz`` per rate (nothing is resampled).
:func:`import_recording` adds a :class:`~frisson.physio.formats.Recording` to a
study: its channels, its markers and the stimulus presentations as events, and
the recording's wall-clock start in ``sub-<id>_scans.tsv`` (``acq_time``).
:func:`import_study` does that for every row of a manifest, and
:func:`init_study` writes a documented template study to start from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.study._write import write_dataset_files, write_events, write_physio
from frisson.timeseries import TimeSeries

#: Manifest columns: required, then optional.
MANIFEST_REQUIRED = ("participant", "file")
MANIFEST_OPTIONAL = (
    "format", "task", "session", "run", "channels", "stimuli", "onsets", "stimulus_markers",
    "rate_hz", "time_column", "time_zero_marker", "exclude",
)  # fmt: skip

_DESCRIPTIONS = {
    "eda": "Electrodermal activity (skin conductance).",
    "ppg": "Photoplethysmogram (blood volume pulse).",
    "ecg": "Electrocardiogram.",
    "resp": "Respiration.",
    "trigger": "Trigger or marker channel.",
}


def _label(text: str) -> str:
    """A BIDS label (letters and digits) from any text."""
    return re.sub(r"[^a-zA-Z0-9]", "", text).lower() or "x"


def _rate_label(rate_hz: float) -> str:
    return f"{rate_hz:g}hz".replace(".", "p")


def write_recordings(
    folder: str | os.PathLike,
    label: str,
    channels: Mapping[str, TimeSeries],
    *,
    start_offset_s: float = 0.0,
    metadata: Mapping[str, object] | None = None,
) -> list[Path]:
    """Write channels recorded at different rates as one physio file per rate.

    Channels that share rate, start and length go into one file labelled by
    the rate (``recording-4hz``), or by the channel's key when alone
    (``recording-eda``); each file's sidecar has its own
    ``SamplingFrequency`` and ``StartTime``, so no channel is resampled.

    Parameters
    ----------
    folder : path
        The run's datatype folder (e.g. ``sub-01/beh``).
    label : str
        The run's file-name stem, e.g. ``sub-01_task-listening``.
    channels : mapping of str to TimeSeries
        Key -> single-channel series (the key is the column name).
    start_offset_s : float
        Subtracted from every ``start_s`` (run time zero on the recording's axis).
    metadata : mapping, optional
        More fields for every sidecar.

    Returns
    -------
    list of Path
        The ``*_physio.tsv.gz`` files written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from frisson.timeseries import TimeSeries
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> paths = write_recordings(folder, "sub-01_task-music", {
    ...     "eda": TimeSeries(np.ones(8), 4.0), "ppg": TimeSeries(np.ones(128), 64.0)})
    >>> [p.name.removeprefix("sub-01_task-music_") for p in paths]
    ['recording-eda_physio.tsv.gz', 'recording-ppg_physio.tsv.gz']

    """
    folder = Path(folder)
    groups: dict[tuple[float, float, int], list[str]] = {}
    for key, series in channels.items():
        if series.n_channels != 1:
            raise DataError(f"channel {key!r} has {series.n_channels} columns; give one each.")
        groups.setdefault((series.rate_hz, series.start_s, series.n_times), []).append(key)
    labels: dict[tuple, str] = {}
    for group, keys in groups.items():
        same_rate = [g for g in groups if g[0] == group[0]]
        name = _label(keys[0]) if len(keys) == 1 else _rate_label(group[0])
        if len(keys) > 1 and len(same_rate) > 1:
            name += f"{same_rate.index(group) + 1}"
        while name in labels.values():
            name += "x"
        labels[group] = name
    paths = []
    for group, keys in groups.items():
        rate_hz, start_s, _ = group
        units = {k: channels[k].units[0] for k in keys if channels[k].units}
        descriptions = {
            k: f"{channels[k].names[0]}: {_DESCRIPTIONS.get(k, 'recorded channel')}" for k in keys
        }
        path = folder / f"{label}_recording-{labels[group]}_physio.tsv.gz"
        write_physio(
            path,
            {k: channels[k].values[:, 0] for k in keys},
            rate_hz=rate_hz,
            start_s=start_s - start_offset_s,
            units=units,
            descriptions=descriptions,
            metadata=metadata,
        )
        paths.append(path)
    return paths


def import_recording(
    recording,
    root: str | os.PathLike,
    *,
    participant: str,
    task: str,
    session: str | None = None,
    run: int | None = None,
    presentations: Sequence[tuple[float, float, str]] = (),
    stimulus_markers: Mapping[str, str] | None = None,
    time_zero_s: float = 0.0,
    datatype: str = "beh",
    check_rate: bool = True,
) -> list[Path]:
    """Write one :class:`~frisson.physio.formats.Recording` as a run of a BIDS study.

    Parameters
    ----------
    recording : Recording
        What a reader of :mod:`frisson.physio.formats` returned.
    root : path
        The study folder.
    participant, task : str
        BIDS labels (letters and digits).
    session : str, optional
        Session label.
    run : int, optional
        Run index.
    presentations : sequence of (onset_s, duration_s, stimulus)
        Stimulus presentations on the recording's time axis; ``stimulus``
        relative to ``stimuli/``.
    stimulus_markers : mapping of str to str, optional
        Marker label -> stimulus: each such marker is a presentation of that
        stimulus from the marker on, for the stimulus' ``duration`` (looked up
        in ``stimuli/``); other markers are events with the marker as
        ``trial_type``.
    time_zero_s : float
        The time on the recording's axis that becomes run time 0.
    datatype : str
        The datatype folder (``beh``; ``func`` beside BOLD).
    check_rate : bool
        Refuse ECG/PPG channels whose heart rate at the stated sampling rate
        is implausible (:func:`frisson.physio.formats.check_heart_rate`): a
        wrong rate gives plausible-looking, wrong times.

    Returns
    -------
    list of Path
        The events table, then the physio files.

    """
    for name, value in (("participant", participant), ("task", task), ("session", session)):
        if value is not None and not re.fullmatch(r"[a-zA-Z0-9]+", value):
            raise ParameterError(f"{name}={value!r}: BIDS labels are letters and digits only.")
    if check_rate:
        from frisson.physio.formats import check_heart_rate

        check_heart_rate(recording.path, recording.channels)
    root = Path(root)
    subject = root / f"sub-{participant}" / (f"ses-{session}" if session else "")
    parts = [f"sub-{participant}"] + ([f"ses-{session}"] if session else [])
    parts += [f"task-{task}"] + ([f"run-{run}"] if run is not None else [])
    label = "_".join(parts)
    folder = subject / datatype
    rows = [
        {"onset": onset - time_zero_s, "duration": duration, "trial_type": "music",
         "stim_file": stim}
        for onset, duration, stim in presentations
    ]  # fmt: skip
    for marker in recording.markers:
        if stimulus_markers and marker.label in stimulus_markers:
            stim = stimulus_markers[marker.label]
            duration = _stimulus_duration_s(root, stim)
            rows.append(
                {"onset": marker.onset_s - time_zero_s, "duration": duration,
                 "trial_type": "music", "stim_file": stim}
            )  # fmt: skip
        else:
            rows.append(
                {"onset": marker.onset_s - time_zero_s, "duration": marker.duration_s,
                 "trial_type": marker.label, "stim_file": None}
            )  # fmt: skip
    rows.sort(key=lambda row: row["onset"])
    events = write_events(folder / f"{label}_events.tsv", rows)
    physio = write_recordings(
        folder,
        label,
        recording.channels,
        start_offset_s=time_zero_s,
        metadata={"TaskName": task, "Source": f"{recording.format}: {Path(recording.path).name}"},
    )
    if recording.start_time is not None:
        _add_scans(subject, parts[: 2 if session else 1], [events, *physio], recording, time_zero_s)
    return [events, *physio]


def _stimulus_duration_s(root: Path, stim: str) -> float:
    import soundfile as sf

    path = root / "stimuli" / stim
    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises several types
        raise DataError(
            f"{path}: the stimulus a marker names is missing or not audio; copy it into stimuli/."
        ) from None
    return info.frames / info.samplerate


def _add_scans(subject: Path, parts, files, recording, time_zero_s: float) -> None:
    """Append the files' acquisition time (the run's time zero) to ``sub-<id>_scans.tsv``."""
    import datetime as dt

    import pandas as pd

    path = subject / ("_".join(parts) + "_scans.tsv")
    acq = recording.start_time + dt.timedelta(seconds=time_zero_s)
    if acq.tzinfo is not None:  # BIDS: UTC is written with a trailing Z
        stamp = acq.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    else:
        stamp = acq.isoformat(timespec="seconds")
    rows = [
        {"filename": f.relative_to(subject).as_posix(), "acq_time": stamp}
        for f in files
        if f.name.endswith((".tsv.gz", ".nii.gz", ".nii"))
    ]
    table = pd.DataFrame(rows)
    if path.is_file():
        old = pd.read_csv(path, sep="\t", dtype=str)
        table = pd.concat([old[~old["filename"].isin(table["filename"])], table])
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")


# ------------------------------------------------------------------------------ manifest
def read_manifest(path: str | os.PathLike):
    """A manifest table (CSV or TSV, one row per recording), checked; paths made absolute."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such manifest.")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as a table ({error}).") from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in MANIFEST_REQUIRED if c not in table]
    unknown = [c for c in table.columns if c not in (*MANIFEST_REQUIRED, *MANIFEST_OPTIONAL)]
    if missing or unknown:
        raise DataError(
            f"{path}: columns {missing} missing / {unknown} unknown; a manifest has "
            f"{list(MANIFEST_REQUIRED)} and any of {list(MANIFEST_OPTIONAL)}."
        )
    table["file"] = [str((path.parent / f).resolve()) for f in table["file"]]
    return table


def _split(cell: str) -> list[str]:
    return [part.strip() for part in str(cell).split(";") if part.strip()]


def _row_recording(row, where: str):
    """Read one manifest row's file with its format options and channel map."""
    from frisson.physio.formats import read_recording

    options: dict[str, object] = {}
    if row.get("rate_hz"):
        options["rate_hz"] = float(row["rate_hz"])
    if row.get("time_column"):
        options["time_column"] = row["time_column"]
    if row.get("channels"):
        pairs = [part.split("=", 1) for part in _split(row["channels"])]
        if any(len(p) != 2 for p in pairs):
            raise DataError(
                f"{where}: channels must be 'name=kind;name=kind', got {row['channels']!r}."
            )
        options["kinds"] = {name.strip(): kind.strip() for name, kind in pairs}
    recording = read_recording(row["file"], format=row.get("format") or None, **options)
    exclude = set(_split(row.get("exclude", "")))
    present = {k for k in recording.channels} | {s.names[0] for s in recording.channels.values()}
    if exclude - present:
        raise DataError(
            f"{where}: exclude names {sorted(exclude - present)}, not channels of "
            f"{Path(row['file']).name} ({sorted(recording.channels)})."
        )
    recording.channels = {
        k: s
        for k, s in recording.channels.items()
        if k not in exclude and s.names[0] not in exclude
    }
    return recording


def _row_presentations(row, recording, where: str) -> tuple[list, dict, float]:
    """Presentations, stimulus markers and time zero of a manifest row."""
    stimuli, onsets = _split(row.get("stimuli", "")), _split(row.get("onsets", ""))
    time_zero = 0.0
    if row.get("time_zero_marker"):
        found = [m.onset_s for m in recording.markers if m.label == row["time_zero_marker"]]
        if not found:
            raise DataError(f"{where}: no marker {row['time_zero_marker']!r} in {row['file']}.")
        time_zero = found[0]
    markers = dict(pair.split("=", 1) for pair in _split(row.get("stimulus_markers", "")))
    if onsets and len(onsets) != len(stimuli):
        raise DataError(
            f"{where}: {len(stimuli)} stimuli but {len(onsets)} onsets; give one onset "
            "(seconds on the recording's time axis) per stimulus, separated by ';'."
        )
    if stimuli and not onsets and not markers:
        raise DataError(
            f"{where}: stimuli {stimuli} but neither onsets nor stimulus_markers; say when "
            "each stimulus started."
        )
    return (
        [(float(o) + time_zero, None, s) for o, s in zip(onsets, stimuli, strict=True)],
        markers,
        time_zero,
    )


def import_study(
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    stimuli: str | os.PathLike | None = None,
    name: str = "frisson study",
    authors: Sequence[str] = ("frisson import",),
) -> Path:
    """Write a BIDS study from a manifest of raw recordings (one row per recording).

    Manifest columns (CSV or TSV; lists separated by ``;``): ``participant``,
    ``file`` (relative to the manifest) and optionally ``format`` (see
    :data:`frisson.physio.formats.FORMATS`; detected by default), ``task``
    (default ``listening``), ``session``, ``run``, ``channels``
    (``GSR=eda;Pulse=ppg``: channel name -> kind), ``stimuli`` and ``onsets``
    (the stimulus order and each onset in seconds on the recording's axis),
    ``stimulus_markers`` (``start1=song-1.wav``: markers that are stimulus
    onsets), ``time_zero_marker`` (a marker that becomes run time 0; onsets
    are then relative to it), ``rate_hz`` and ``time_column`` (for plain tables),
    ``exclude`` (channels left out, e.g. ``HR;TEMP``: a trial is skipped when a
    channel of its run does not cover it, and an E4's HR starts 10 s late).

    Parameters
    ----------
    manifest : path
        The manifest table.
    out_dir : path
        The study folder to write (may exist, e.g. from :func:`init_study`: its
        README and description are kept, participants are added).
    stimuli : path, optional
        A folder of the audio files, copied to ``stimuli/``.
    name : str
        The dataset's name.
    authors : sequence of str
        Who made it.

    Returns
    -------
    Path
        ``out_dir``.

    """
    from frisson.study._read import _audio_duration_s

    table = read_manifest(manifest)
    root = Path(out_dir)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    if stimuli is not None:
        for path in sorted(Path(stimuli).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                target = root / "stimuli" / path.relative_to(stimuli)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    for index, row in enumerate(table.to_dict("records")):
        where = f"{manifest}: row {index + 2}"
        recording = _row_recording(row, where)
        presentations, markers, time_zero = _row_presentations(row, recording, where)
        timed = [
            (
                onset,
                _audio_duration_s(root / "stimuli" / stim) if duration is None else duration,
                stim,
            )
            for onset, duration, stim in presentations
        ]
        import_recording(
            recording,
            root,
            participant=row["participant"],
            task=row.get("task") or "listening",
            session=row.get("session") or None,
            run=int(row["run"]) if row.get("run") else None,
            presentations=timed,
            stimulus_markers=markers,
            time_zero_s=time_zero,
        )
        logger.info("%s: %s -> sub-%s", where, Path(row["file"]).name, row["participant"])
    for task in sorted({row.get("task") or "listening" for row in table.to_dict("records")}):
        sidecar = root / f"task-{task}_events.json"
        if not sidecar.is_file():  # the lab adds TaskDescription, Instructions, ...
            text = {"TaskName": task, "stim_file": {"Description": "Relative to stimuli/."}}
            sidecar.write_text(json.dumps(text, indent=2) + "\n")
    _write_top_level(root, sorted(set(table["participant"])), name=name, authors=authors)
    return root


def _write_top_level(root: Path, participants: list[str], *, name: str, authors) -> None:
    """Add the participants to ``participants.tsv``; write description and README if absent."""
    import pandas as pd

    rows = [{"participant_id": f"sub-{p}"} for p in participants]
    columns: dict = {}
    existing = root / "participants.tsv"
    if existing.is_file():
        old = pd.read_csv(existing, sep="\t", dtype=str, keep_default_na=False)
        known = set(old.get("participant_id", []))
        rows = old.to_dict("records") + [r for r in rows if r["participant_id"] not in known]
        if (root / "participants.json").is_file():
            columns = json.loads((root / "participants.json").read_text())
    if (root / "dataset_description.json").is_file() and (root / "README.md").is_file():
        from frisson.study._write import _participants_files

        _participants_files(root, rows, columns)
        return
    write_dataset_files(
        root, rows, name=name, readme=_IMPORT_README, authors=authors, participant_columns=columns
    )


_IMPORT_README = """# frisson study

Imported with `frisson.study.import_study` from raw lab recordings. Each
participant's run holds an events table (stimulus presentations with `stim_file`
relative to `stimuli/`, and the recording's markers by label) and one physiology
file per sampling rate (`recording-<label>`), each with its own sidecar
(`SamplingFrequency`, `StartTime`, `Columns`). `sub-<id>_scans.tsv` keeps the
wall-clock time of each run's time zero (`acq_time`) where the device stated it.
"""


# -------------------------------------------------------------------------------- init
_TEMPLATE_MANIFEST = (
    "participant\tfile\tformat\ttask\tchannels\tstimuli\tonsets\tstimulus_markers\texclude\n"
)


def init_study(folder: str | os.PathLike, *, name: str = "my listening study") -> Path:
    """Write a documented template study: description, README, participants, stimuli/, manifest.

    Fill ``stimuli/`` with the audio, put the raw recordings in
    ``sourcedata/`` (BIDS keeps them there, unvalidated), one row per
    recording in ``code/import.tsv`` (see :func:`import_study` for the
    columns), then run :func:`import_study` on it with the study as ``out_dir``.

    Raises
    ------
    DataError
        If the folder exists and is not empty.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = init_study(pathlib.Path(tempfile.mkdtemp()) / "study")
    >>> sorted(p.name for p in root.iterdir())
    ['README.md', 'code', 'dataset_description.json', 'sourcedata', 'stimuli']

    """
    root = Path(folder)
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root}: exists and is not empty; init_study starts a new folder.")
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    write_dataset_files(root, [], name=name, readme=_INIT_README.format(name=name),
                        authors=["<your name>"])  # fmt: skip
    (root / "code").mkdir(exist_ok=True)
    (root / "sourcedata").mkdir(exist_ok=True)
    (root / "code" / "import.tsv").write_text(_TEMPLATE_MANIFEST)
    return root


_INIT_README = """# {name}

A listening study in BIDS layout, started with `frisson study init`.

1. Put the audio in `stimuli/` (WAV, FLAC, MP3...) and the raw recordings in
   `sourcedata/` (kept as they came; the BIDS validator does not look inside).
2. Describe each raw recording in `code/import.tsv` (tab-separated, one row each):
   `participant` (letters and digits), `file` (relative to `code/`, e.g.
   `../sourcedata/p01`),
   `format` (empty: detected; `e4`, `opensignals`, `xdf`, `edf`, `acq`, `wfdb`,
   `table`, `npy`), `task`, `channels` (`GSR=eda;PPG=ppg`), `stimuli`
   (`song-1.wav;song-2.wav`) with `onsets` (seconds on the recording's clock),
   or `stimulus_markers` (`start1=song-1.wav`) when the file marks the onsets;
   `exclude` (`HR;TEMP`) leaves channels out.
3. Run `frisson study import code/import.tsv` (or
   `frisson.study.import_study("code/import.tsv", ".", stimuli=None)`); then
   `frisson study validate .` and `frisson run`.

What it writes per participant: `sub-<id>/beh/sub-<id>_task-<task>_events.tsv`
(`onset`, `duration`, `trial_type`, `stim_file` relative to `stimuli/`), one
`..._recording-<label>_physio.tsv.gz` + `.json` per sampling rate, and
`sub-<id>_scans.tsv` with the recording's start time. Edit this README to
describe the study, and `dataset_description.json` (Authors, License).
"""
