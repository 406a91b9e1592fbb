"""Listening studies kept as BIDS-style folders: read, validate, iterate trials, and write.

Layout (what :mod:`frisson.simulate` writes and :func:`read_study` reads)::

    study/
      dataset_description.json
      participants.tsv                 participant_id + questionnaire columns
      stimuli/<name>.wav               the music (any format frisson.audio reads)
      sub-<id>/[ses-<id>/]<beh|func>/
        sub-<id>_task-<t>[_run-<n>]_events.tsv        onset, duration, trial_type, stim_file
        sub-<id>_task-<t>[_run-<n>]_physio.tsv.gz     + _physio.json (SamplingFrequency,
                                                        StartTime, Columns)
        sub-<id>_task-<t>[_run-<n>]_recording-<r>_physio.tsv.gz   e.g. continuous ratings
        sub-<id>_task-<t>[_run-<n>]_beh.tsv           ratings as a table with onset or time_s
        sub-<id>_task-<t>[_run-<n>]_bold.nii.gz       BOLD (:func:`load_bold`)

In ``*_events.tsv``, rows with a ``stim_file`` are stimulus presentations
(trials); other rows (e.g. ``trial_type == "chill"``) are events that fall into
the trial whose time span contains them. Times are seconds from the run's
start, the time zero of ``StartTime`` in the physiology sidecars.

:meth:`Study.trials` yields each presentation with its responses cropped and
re-timed so that ``t = 0`` is stimulus onset. :meth:`Study.validate` lists
every problem it finds without stopping at the first.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from frisson._check import check_positive
from frisson._io import atomic_write, atomic_write_text
from frisson._logging import logger
from frisson.errors import DataError, FrissonError
from frisson.timeseries import TimeSeries

__all__ = [
    "Problem",
    "Run",
    "Study",
    "Trial",
    "load_bold",
    "read_study",
    "stimulus_stem",
    "voxel_ijk",
    "write_events",
    "write_physio",
]

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
    events : Path
        The ``*_events.tsv``.
    physio : list of Path
        ``*_physio.tsv.gz`` files (any ``recording-`` label).
    beh : Path or None
        A ``*_beh.tsv`` table of ratings, if present.
    bold : Path or None
        A ``*_bold.nii.gz``, if present (located, not loaded).

    """

    participant: str
    entities: Mapping[str, str]
    events: Path
    physio: list[Path] = field(default_factory=list)
    beh: Path | None = None
    bold: Path | None = None

    @property
    def label(self) -> str:
        """``sub-<id>_task-<t>[_run-<n>]`` as in the file names."""
        return self.events.name.removesuffix("_events.tsv")


@dataclass(frozen=True)
class Trial:
    """One presentation of a stimulus to a participant, with responses on stimulus time.

    Attributes
    ----------
    participant : str
        Participant label.
    stimulus : str
        Stimulus file name (relative to ``stimuli/``).
    run : str
        The run's label.
    onset_s, duration_s : float
        When, in run time, the stimulus started and how long it lasted.
    responses : dict of str to TimeSeries
        Every recorded channel (physiology, ratings), cropped to
        ``[-pre_s, duration_s + post_s]`` and shifted so ``t = 0`` is stimulus onset.
    events : list of (str, float)
        Other events inside the trial as ``(trial_type, time_s from stimulus onset)``.

    """

    participant: str
    stimulus: str
    run: str
    onset_s: float
    duration_s: float
    responses: dict[str, TimeSeries] = field(repr=False)
    events: list[tuple[str, float]] = field(default_factory=list)

    def event_times_s(self, trial_type: str) -> np.ndarray:
        """Times (s from stimulus onset) of this trial's events of one type."""
        return np.array([t for kind, t in self.events if kind == trial_type])


class Study:
    """A listening study in a BIDS-style folder.

    Use :func:`read_study` to open one.

    Attributes
    ----------
    root : Path
        The study folder.
    participants : pandas.DataFrame
        ``participants.tsv`` (``participant_id`` without the ``sub-`` prefix in ``participant``).
    stimuli : dict of str to Path
        Stimulus name (relative to ``stimuli/``) -> file.
    runs : list of Run
        Every run found, sorted by participant and label.

    """

    def __init__(
        self,
        root: Path,
        participants,
        stimuli: dict[str, Path],
        runs: list[Run],
        *,
        problems: Sequence[Problem] = (),
    ):
        self.root = root
        self.participants = participants
        self.stimuli = stimuli
        self.runs = runs
        #: Problems found while reading (refused stimuli, odd folders), reported by validate.
        self.read_problems = list(problems)

    def __repr__(self) -> str:
        return (
            f"Study({self.root}, {len(self.participant_ids)} participants, "
            f"{len(self.stimuli)} stimuli, {len(self.runs)} runs)"
        )

    @property
    def participant_ids(self) -> list[str]:
        """Participant labels (without ``sub-``) found in the folders."""
        return sorted({run.participant for run in self.runs})

    def read_events(self, run: Run):
        """The run's events table (columns at least onset, duration, trial_type, stim_file)."""
        return _read_events(run.events)

    def presentations(self, run: Run) -> list[tuple[float, float, str]]:
        """The run's stimulus presentations: ``(onset_s, duration_s, stimulus name)``, in order.

        The name is the ``stim_file`` relative to ``stimuli/`` (a key of :attr:`stimuli`).
        """
        presentations, _ = _split_events(self.read_events(run))
        return [(onset, duration, _stimulus_name(stim)) for onset, duration, stim in presentations]

    def read_responses(self, run: Run) -> dict[str, TimeSeries]:
        """Every channel of the run's physiology and rating files, keyed by kind or name."""
        return self._read_responses(run)[0]

    def _read_responses(self, run: Run) -> tuple[dict[str, TimeSeries], set[str]]:
        """The run's channels, and the keys of those from physiology recordings."""
        from frisson.physio.io import read_bids_physio

        responses: dict[str, TimeSeries] = {}
        for path in run.physio:
            recording = _entities(path.name).get("recording")
            for key, series in read_bids_physio(path).items():
                responses[key if key not in responses else f"{recording}_{key}"] = series
        physio_keys = set(responses)
        if run.beh is not None:
            responses.update(_read_beh(run.beh))
        return responses, physio_keys

    def read_bold(self, run: Run, **options) -> TimeSeries:
        """The run's BOLD as voxels or ROI means; ``options`` go to :func:`load_bold`."""
        if run.bold is None:
            raise DataError(
                f"{run.events}: no {run.label}_bold.nii[.gz] in the participant's func/ folder."
            )
        return load_bold(run.bold, **options)

    def trials(
        self,
        *,
        participant: str | None = None,
        stimulus: str | None = None,
        pre_s: float = 0.0,
        post_s: float = 0.0,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> Iterator[Trial]:
        """Iterate over stimulus presentations with responses on stimulus time.

        Parameters
        ----------
        participant, stimulus : str, optional
            Only this participant / stimulus.
        pre_s, post_s : float
            Seconds of response kept before onset and after offset (default 0).
        on_error : {'raise', 'skip'}
            With ``'skip'``, a run whose files cannot be read is logged and
            skipped, so the other trials still load.

        Yields
        ------
        Trial

        Notes
        -----
        A trial that runs past a physiology recording of its run (which
        :meth:`validate` reports as an error) is skipped with a logged warning
        naming the events file, the participant and the stimulus, whatever
        ``on_error``.

        """
        check_positive("pre_s", pre_s, allow_zero=True)
        check_positive("post_s", post_s, allow_zero=True)
        for run in self.runs:
            if participant is not None and run.participant != participant:
                continue
            try:
                events = self.read_events(run)
                responses, physio_keys = self._read_responses(run)
            except FrissonError as error:
                if on_error == "raise":
                    raise
                logger.warning("skipping run %s: %s", run.label, error)
                continue
            presentations, others = _split_events(events)
            for onset, duration, stim in presentations:
                name = _stimulus_name(stim)
                if stimulus is not None and name != stimulus:
                    continue
                short = [
                    key for key in sorted(physio_keys) if _outside(responses[key], onset, duration)
                ]
                if short:
                    logger.warning(
                        "%s: skipping the trial of participant %s with stimulus %r "
                        "(%.2f-%.2f s): it runs past the %s recording (see `frisson study "
                        "validate`; the file may be truncated or SamplingFrequency wrong)",
                        run.events,
                        run.participant,
                        name,
                        onset,
                        onset + duration,
                        ", ".join(short),
                    )
                    continue
                cropped = {}
                for key, series in responses.items():
                    shifted = series.replace(start_s=series.start_s - onset)
                    try:
                        cropped[key] = shifted.crop(-pre_s, duration + post_s)
                    except DataError:
                        logger.warning("%s: %s has no samples during %s", run.label, key, name)
                inside = [(kind, t - onset) for kind, t in others if onset <= t <= onset + duration]
                yield Trial(run.participant, name, run.label, onset, duration, cropped, inside)

    def validate(self) -> list[Problem]:
        """Every problem of the study, without stopping at the first.

        Checks: participants table and folders agree (duplicate IDs, folders
        not named ``sub-<label>``); every referenced stimulus exists, decodes,
        is not empty, lies inside the study (symlinks out of it are refused)
        and lasts as long as its presentations (within 0.5 s); events tables
        have the required columns and numbers (negative durations; unknown
        columns are warnings); physiology files and sidecars read (wrong or
        missing fields, truncated files, infinite samples, EDA in units that
        are not conductance); each trial lies within its recording (such a
        trial is also skipped by :meth:`trials`; a recording much longer or
        shorter than the events suggests a wrong ``SamplingFrequency``); NaN
        stretches during trials; channels of unknown kind.

        Returns
        -------
        list of Problem
            Empty when the study is clean.

        """
        return list(_validate(self))


# ---------------------------------------------------------------------------- reading
def read_study(root: str | os.PathLike) -> Study:
    """Open a BIDS-style listening study (see the module notes for the layout).

    Parameters
    ----------
    root : path
        The study folder (with ``participants.tsv`` and ``stimuli/``).

    Returns
    -------
    Study

    Raises
    ------
    DataError
        If the folder does not exist or holds no ``sub-*/**/*_events.tsv``.

    """
    import pandas as pd

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such study folder.")
    participants_path = root / "participants.tsv"
    if participants_path.is_file():
        participants = _read_participants(participants_path)
    else:
        participants = pd.DataFrame({"participant_id": [], "participant": []})
    problems: list[Problem] = []
    stimuli = _find_stimuli(root, problems)
    problems.extend(_odd_folders(root))
    runs = []
    for events in sorted(root.glob("sub-*/**/*_events.tsv")):
        entities = _entities(events.name)
        if "sub" not in entities:
            continue
        label = events.name.removesuffix("_events.tsv")
        folder = events.parent
        physio = sorted(
            p
            for p in folder.glob(f"{label}*_physio.tsv.gz")
            if _same_run(_entities(p.name), entities)
        )
        beh = folder / f"{label}_beh.tsv"
        bold = sorted(
            p
            for p in root.glob(f"sub-{entities['sub']}/**/func/*_bold.nii*")
            if _same_run(_entities(p.name), entities)  # run-1 must not match run-10
        )
        runs.append(
            Run(
                participant=entities["sub"],
                entities={k: v for k, v in entities.items() if k != "sub"},
                events=events,
                physio=physio,
                beh=beh if beh.is_file() else None,
                bold=bold[0] if bold else None,
            )
        )
    if not runs:
        raise DataError(
            f"{root}: no sub-*/**/*_events.tsv found; is this a BIDS-style study folder?"
        )
    logger.info("%s: %d runs, %d stimuli", root, len(runs), len(stimuli))
    for problem in problems:
        logger.warning("%s: %s", root / problem.path, problem.message)
    return Study(root, participants, stimuli, runs, problems=problems)


#: Top-level folders of a BIDS dataset that are not participants.
_NON_SUBJECT_FOLDERS = {"stimuli", "derivatives", "code", "sourcedata", "phenotype"}
_SUBJECT_FOLDER = re.compile(r"sub-[a-zA-Z0-9]+")


def _read_participants(path: Path):
    """``participants.tsv`` as a table; binary or non-UTF-8 content is one clear DataError."""
    import pandas as pd

    raw = path.read_bytes()
    try:
        if b"\x00" in raw:
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1,
                                     "NUL byte")  # fmt: skip
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: holds binary or non-UTF-8 bytes (byte {error.start}: "
            f"{raw[error.start : error.start + 1]!r}); save it as UTF-8 text, one tab-separated "
            "row per participant with a participant_id column."
        ) from None
    try:
        table = pd.read_csv(path, sep="\t", dtype={"participant_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "empty"
        raise DataError(
            f"{path}: cannot be read as a tab-separated table ({reason}); one row per "
            "participant with a participant_id column."
        ) from None
    if "participant_id" in table:
        table["participant"] = table["participant_id"].astype(str).str.removeprefix("sub-")
    return table


def _find_stimuli(root: Path, problems: list[Problem]) -> dict[str, Path]:
    """Files under ``stimuli/`` by name relative to it; links that leave the study are refused."""
    stimuli_dir = root / "stimuli"
    if not stimuli_dir.is_dir():
        return {}
    inside = root.resolve()
    stimuli = {}
    for path in sorted(stimuli_dir.rglob("*")):
        name = path.relative_to(stimuli_dir).as_posix()
        if any(part.startswith(".") for part in Path(name).parts):
            continue
        target = path.resolve()
        if not target.is_relative_to(inside):
            problems.append(
                Problem(
                    "error",
                    f"stimuli/{name}",
                    f"is a symbolic link to {target}, outside the study; refused like a "
                    "'../' path. Copy the file into stimuli/.",
                )
            )
            continue
        if not path.is_file():
            continue
        if path.is_symlink():
            problems.append(
                Problem(
                    "warning",
                    f"stimuli/{name}",
                    f"is a symbolic link (to {target.relative_to(inside)}); a copy of the "
                    "study made without links will lack it. Copy the file instead.",
                )
            )
        stimuli[name] = path
    return stimuli


def _odd_folders(root: Path) -> Iterator[Problem]:
    """Top-level folders that look like participants' but are not named ``sub-<label>``."""
    for path in sorted(root.iterdir()):
        name = path.name
        if not path.is_dir() or name.startswith(".") or name in _NON_SUBJECT_FOLDERS:
            continue
        if _SUBJECT_FOLDER.fullmatch(name):
            continue
        yield Problem(
            "warning",
            f"{name}/",
            "is not a participant folder named sub-<label> (label: letters and digits only), "
            "so its files are ignored; rename it (e.g. sub-01) if it holds a participant's data.",
        )


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


def _read_beh(path: Path) -> dict[str, TimeSeries]:
    """Ratings from a ``*_beh.tsv`` with a regular ``time_s`` (or ``onset``) column."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", na_values=["n/a"])
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


# ---------------------------------------------------------------------------- validation
def _validate(study: Study) -> Iterator[Problem]:
    root = study.root

    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(root))
        except ValueError:
            return str(path)

    yield from study.read_problems
    refused = {
        p.path.removeprefix("stimuli/") for p in study.read_problems if p.severity == "error"
    }
    if not (root / "participants.tsv").is_file():
        yield Problem("warning", "participants.tsv", "missing; add one row per participant.")
    elif "participant_id" not in study.participants:
        yield Problem("error", "participants.tsv", "has no participant_id column.")
    else:
        ids = list(study.participants["participant"])
        for pid in sorted({pid for pid in ids if ids.count(pid) > 1}):
            yield Problem(
                "error",
                "participants.tsv",
                f"sub-{pid} has {ids.count(pid)} rows; keep one row per participant.",
            )
        listed = set(ids)
        for pid in sorted(set(study.participant_ids) - listed):
            yield Problem("warning", "participants.tsv", f"sub-{pid} has data but no row.")
        for pid in sorted(listed - set(study.participant_ids)):
            yield Problem("warning", "participants.tsv", f"sub-{pid} is listed but has no data.")
    if not study.stimuli:
        yield Problem("error", "stimuli/", "no stimulus files; put the audio in stimuli/.")
    lengths: dict[str, float] = {}
    for name, path in study.stimuli.items():
        problem, length = _check_stimulus(path, f"stimuli/{name}")
        if problem is not None:
            yield problem
        if length is not None:
            lengths[name] = length
    for run in study.runs:
        try:
            events = study.read_events(run)
        except DataError as error:
            yield Problem("error", rel(run.events), str(error).split(": ", 1)[-1])
            continue
        unknown = sorted(set(events.columns) - _KNOWN_EVENT_COLUMNS)
        if unknown:
            yield Problem(
                "warning", rel(run.events), f"unknown column(s) {unknown} (kept, not used)."
            )
        negative = np.flatnonzero(events["duration"].to_numpy(dtype=float) < 0)
        for row in negative:
            yield Problem(
                "error",
                rel(run.events),
                f"row {row + 1} has a negative duration ({events['duration'].iloc[row]:g} s); "
                "durations are seconds >= 0.",
            )
        if "stim_file" not in events:
            yield Problem("error", rel(run.events), "no stim_file column: no trials to analyse.")
            continue
        presentations, _ = _split_events(events)
        for onset, duration, stim in presentations:
            name = _stimulus_name(stim)
            if ".." in Path(name).parts or Path(name).is_absolute():
                yield Problem(
                    "error",
                    rel(run.events),
                    f"stim_file {stim!r} points outside stimuli/; refused. Put the file in "
                    "stimuli/ and name it relative to the study (stimuli/<name>).",
                )
            elif name in refused:
                yield Problem(
                    "error",
                    rel(run.events),
                    f"stimulus {stim!r} links outside the study and was refused; copy the file "
                    "into stimuli/.",
                )
            elif name not in study.stimuli:
                yield Problem(
                    "error",
                    rel(run.events),
                    f"stimulus {stim!r} is missing from stimuli/; add the file or fix stim_file.",
                )
            elif name in lengths and abs(duration - lengths[name]) > _DURATION_SLACK_S:
                yield Problem(
                    "warning",
                    rel(run.events),
                    f"the presentation of {stim!r} at {onset:.2f} s lasts {duration:.2f} s but "
                    f"the audio lasts {lengths[name]:.2f} s (more than {_DURATION_SLACK_S} s "
                    "apart); check the duration column or the stim_file.",
                )
        if not run.physio and run.beh is None and run.bold is None:
            yield Problem(
                "warning", rel(run.events), "no physiology, ratings or BOLD for this run."
            )
        for sidecar in sorted(run.events.parent.glob(f"{run.label}*_physio.json")):
            data = sidecar.with_name(sidecar.name.removesuffix(".json") + ".tsv.gz")
            if _same_run(_entities(sidecar.name), dict(run.entities)) and not data.is_file():
                yield Problem(
                    "error",
                    rel(data),
                    f"the recording is missing (its sidecar {sidecar.name} is there); add "
                    f"{data.name} or remove the sidecar.",
                )
        for path in run.physio:
            yield from _validate_physio(path, rel, presentations)
        if run.bold is not None:
            yield from _validate_bold(run.bold, rel(run.bold), presentations)


#: Largest difference (s) between a presentation's duration and its audio before validate warns.
_DURATION_SLACK_S = 0.5
#: EDA units that are conductance (lower-cased, spaces removed).
_CONDUCTANCE_UNITS = {
    "us", "µs", "μs", "microsiemens", "micro-siemens", "microsiemen", "usiemens", "µsiemens",
    "ns", "nanosiemens", "ms", "millisiemens", "s", "siemens", "umho", "µmho", "micromho",
}  # fmt: skip


def _check_stimulus(path: Path, where: str) -> tuple[Problem | None, float | None]:
    """A stimulus's problem (empty, undecodable) and its length in seconds (audio files only)."""
    from frisson.audio import AUDIO_SUFFIXES

    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return None, None
    if path.stat().st_size == 0:
        return Problem("error", where, "is empty (0 bytes); re-copy or re-export it."), None
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises several types for undecodable files
        return (
            Problem(
                "error",
                where,
                "cannot be decoded as audio (damaged, incomplete or misnamed); re-copy or "
                f"re-export it, or convert it, e.g. `ffmpeg -i {path.name} {path.stem}.wav`.",
            ),
            None,
        )
    if info.frames <= 0 or info.samplerate <= 0:
        return Problem("error", where, "holds no audio samples; re-copy or re-export it."), None
    from frisson.audio import load_audio
    from frisson.errors import AudioError

    try:  # decode it: NaN or infinite samples, truncated data
        load_audio(path)
    except AudioError as error:
        message = str(error).removeprefix(f"{path}: ")
        return Problem("error", where, message), None
    return None, info.frames / info.samplerate


def _error_problem(error: Exception, default: str, rel) -> Problem:
    """A Problem for a reader's error, filed under the file the message names (e.g. a sidecar)."""
    message = str(error)
    head, sep, rest = message.partition(": ")
    path = default
    if sep and (head.endswith((".json", ".tsv", ".tsv.gz"))):
        path, message = rel(Path(head)), rest
        sidecar = re.search(r"the sidecar (\S+\.json) is missing", rest)
        if sidecar:
            path = rel(Path(head).with_name(sidecar.group(1)))
    return Problem("error", path, message)


def _validate_physio(
    path: Path, rel, presentations: Sequence[tuple[float, float, str]]
) -> Iterator[Problem]:
    from frisson.physio.io import read_bids_physio

    where = rel(path)
    try:
        channels = read_bids_physio(path)
    except (FrissonError, OSError, EOFError, gzip.BadGzipFile) as error:
        yield _error_problem(error, where, rel)
        return
    for key, series in channels.items():
        infinite = int(np.isinf(series.values).sum())
        if infinite:
            first = int(np.flatnonzero(np.isinf(series.values[:, 0]))[0])
            yield Problem(
                "error",
                where,
                f"{key} has {infinite} infinite sample(s) (first at "
                f"{series.start_s + first / series.rate_hz:.2f} s); write n/a for missing "
                "samples.",
            )
        unit = series.units[0] if series.units else None
        if key == "eda" and unit is not None:
            if unit.strip().lower().replace(" ", "") not in _CONDUCTANCE_UNITS:
                sidecar = path.with_name(path.name.replace(".tsv.gz", ".json"))
                yield Problem(
                    "error",
                    rel(sidecar),
                    f"eda ({series.names[0]}) is in {unit!r}, not a conductance unit (uS, nS, "
                    "microsiemens...); convert resistance to conductance (uS = 1000 / kOhm) "
                    "and fix Units in the sidecar.",
                )
    if not presentations:
        return
    events_end = max(onset + duration for onset, duration, _ in presentations)
    for key, series in channels.items():
        known = key in ("eda", "ppg", "ecg", "resp", "trigger")
        if not known and "recording" not in _entities(path.name):
            yield Problem("warning", where, f"channel {key!r} has no known kind (kept).")
        start, end = series.start_s, series.start_s + series.duration_s
        for onset, duration, stim in presentations:
            if _outside(series, onset, duration):
                yield Problem(
                    "error",
                    where,
                    f"trial {stim!r} ({onset:.2f}-{onset + duration:.2f} s) lies outside the "
                    f"{key} recording ({start:.2f}-{end:.2f} s at {series.rate_hz:g} Hz); "
                    "the file may be truncated or SamplingFrequency wrong.",
                )
        if end > 1.5 * events_end + 60:
            highest = series.n_times / (events_end - start)
            yield Problem(
                "error",
                where,
                f"at SamplingFrequency {series.rate_hz:g} Hz the {key} recording lasts "
                f"{series.duration_s:.0f} s, far longer than the events ({events_end:.0f} s); "
                f"SamplingFrequency is probably wrong (for the recording to cover the events "
                f"the rate is at most {highest:.0f} Hz).",
            )
        values = series.values[:, 0]
        for onset, duration, stim in presentations:
            # Samples strictly inside the trial (a trial need not start on the sample grid).
            lo = int(np.ceil((onset - start) * series.rate_hz - 1e-9))
            hi = int(np.floor((onset + duration - start) * series.rate_hz + 1e-9)) + 1
            missing = np.isnan(values[max(lo, 0) : max(hi, 0)])
            if missing.any():
                seconds = missing.sum() / series.rate_hz
                yield Problem(
                    "warning",
                    where,
                    f"{key} has {seconds:.1f} s of NaN during trial {stim!r}.",
                )


def _validate_bold(
    path: Path, where: str, presentations: Sequence[tuple[float, float, str]]
) -> Iterator[Problem]:
    """Header checks only (no voxel data is read): 4-D, a repetition time, covers the trials."""
    import nibabel as nib

    try:
        image = nib.load(path)
    except Exception as error:  # nibabel raises many types for broken files
        yield Problem("error", where, f"cannot be read as NIfTI ({error}).")
        return
    if len(image.shape) != 4:
        yield Problem("error", where, f"has shape {image.shape}; a BOLD run is 4-D (x, y, z, t).")
        return
    try:
        tr_s = _header_tr_s(image, path)
    except DataError as error:
        yield Problem("error", where, str(error).split(": ", 1)[-1])
        return
    end_s = image.shape[3] * tr_s
    for onset, duration, stim in presentations:
        if onset < 0 or onset + duration > end_s + tr_s:
            yield Problem(
                "error",
                where,
                f"trial {stim!r} ({onset:.2f}-{onset + duration:.2f} s) lies outside the "
                f"{image.shape[3]} volumes at TR {tr_s:g} s (0-{end_s:.2f} s); the run may be "
                "truncated or the TR in the header wrong.",
            )


# ---------------------------------------------------------------------------- BOLD
def voxel_ijk(names: Sequence[str]) -> np.ndarray:
    """Voxel indices ``(n, 3)`` from :func:`load_bold` channel names ``"i_j_k"``.

    Examples
    --------
    >>> voxel_ijk(["3_0_12", "4_1_2"]).tolist()
    [[3, 0, 12], [4, 1, 2]]

    """
    try:
        return np.array([[int(v) for v in name.split("_")] for name in names], dtype=int).reshape(
            -1, 3
        )
    except ValueError:
        raise DataError(
            f"channel names {list(names)[:3]}... are not voxel names 'i_j_k' (ROI means have none)."
        ) from None


def _header_tr_s(image, path: Path) -> float:
    """The repetition time in seconds from a NIfTI header (pixdim[4] and its time unit)."""
    zooms = image.header.get_zooms()
    tr = float(zooms[3]) if len(zooms) > 3 else 0.0
    unit = image.header.get_xyzt_units()[1] if hasattr(image.header, "get_xyzt_units") else "sec"
    tr *= {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0)
    if not np.isfinite(tr) or tr <= 0:
        raise DataError(
            f"{path}: the NIfTI header gives no repetition time (pixdim[4] = {tr:g}); pass "
            "tr_s= (the RepetitionTime of the run's _bold.json sidecar) or fix the header."
        )
    return tr


def _volume_array(volume, what: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """A 3-D mask or label image (file or array), checked against the BOLD's spatial shape."""
    import nibabel as nib

    if isinstance(volume, str | os.PathLike):
        try:
            volume_path = Path(volume)
            array = np.asanyarray(nib.load(volume_path).dataobj)
        except FileNotFoundError:
            raise DataError(f"{volume}: {what} file not found.") from None
        source = str(volume)
    else:
        array, source = np.asarray(volume), f"the {what} array"
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.shape != shape:
        raise DataError(
            f"{source}: {what} has shape {array.shape} but {path} has volumes of shape {shape}; "
            f"use a {what} in the BOLD's space (same grid)."
        )
    return array


def _atlas_labels(atlas, atlas_labels) -> dict[int, str]:
    """ROI names: a mapping, a TSV (columns index, name), or the ``.tsv`` beside the atlas."""
    import pandas as pd

    if isinstance(atlas_labels, Mapping):
        return {int(k): str(v) for k, v in atlas_labels.items()}
    table_path = None
    if atlas_labels is not None:
        table_path = Path(atlas_labels)
    elif isinstance(atlas, str | os.PathLike):
        name = Path(atlas).name
        stem = name.removesuffix(".gz").removesuffix(".nii")
        beside = Path(atlas).with_name(stem + ".tsv")
        table_path = beside if beside.is_file() else None
    if table_path is None:
        return {}
    try:
        table = pd.read_csv(table_path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{table_path}: cannot read the atlas labels ({error}).") from None
    if not {"index", "name"} <= set(table.columns):
        raise DataError(
            f"{table_path}: atlas labels need columns 'index' and 'name' (BIDS dseg.tsv); "
            f"found {list(table.columns)}."
        )
    return {int(i): str(n) for i, n in zip(table["index"], table["name"], strict=True)}


def load_bold(
    path: str | os.PathLike,
    *,
    mask: str | os.PathLike | np.ndarray | None = None,
    atlas: str | os.PathLike | np.ndarray | None = None,
    atlas_labels: str | os.PathLike | Mapping[int, str] | None = None,
    tr_s: float | None = None,
) -> TimeSeries:
    """Read a 4-D BOLD run (NIfTI) as a time series of voxels or ROI means.

    Volume ``k`` is stamped at ``k * TR`` seconds of run time (the events'
    time zero; slice timing is not modelled), so ``rate_hz = 1 / TR``.

    Parameters
    ----------
    path : path
        A ``*_bold.nii[.gz]`` file, 4-D (x, y, z, time).
    mask : path or ndarray, optional
        A 3-D image on the same grid; voxels where it is non-zero are kept
        (default: every voxel).
    atlas : path or ndarray, optional
        A 3-D label image on the same grid: the result then holds one channel
        per label > 0, the mean over its voxels (within ``mask`` if given).
    atlas_labels : path or mapping, optional
        ROI names: a TSV with columns ``index`` and ``name`` (default: the
        ``.tsv`` beside an atlas file with the same stem, as BIDS ``_dseg``
        files have), or a mapping label -> name. Unnamed ROIs are ``roi-<label>``.
    tr_s : float, optional
        Repetition time in seconds; needed when the header has none, and
        overrides it (with a warning when they differ).

    Returns
    -------
    TimeSeries
        ``(n_volumes, n_units)`` float32 at ``1 / TR`` Hz from 0 s; channels
        named ``"i_j_k"`` by voxel index (C order; :func:`voxel_ijk` parses
        them) or by ROI.

    Raises
    ------
    DataError
        If the file is not 4-D, has no repetition time and ``tr_s`` is not
        given, or the mask or atlas has another spatial shape.

    Examples
    --------
    >>> import nibabel as nib, numpy as np, tempfile, pathlib
    >>> data = np.arange(2 * 1 * 1 * 3, dtype=np.float32).reshape(2, 1, 1, 3)
    >>> image = nib.Nifti1Image(data, np.eye(4))
    >>> image.header.set_zooms((1.0, 1.0, 1.0, 2.0))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-01_task-x_bold.nii.gz"
    >>> nib.save(image, path)
    >>> bold = load_bold(path)
    >>> bold.rate_hz, bold.names, bold.values[:, 1].tolist()
    (0.5, ('0_0_0', '1_0_0'), [3.0, 4.0, 5.0])

    """
    import nibabel as nib

    path = Path(path)
    try:
        image = nib.load(path)
    except FileNotFoundError:
        raise DataError(f"{path}: BOLD file not found.") from None
    except Exception as error:  # nibabel raises many types for broken files
        raise DataError(f"{path}: cannot be read as NIfTI ({error}).") from None
    if len(image.shape) != 4:
        raise DataError(f"{path}: has shape {image.shape}; a BOLD run is 4-D (x, y, z, time).")
    if tr_s is not None:
        tr_s = check_positive("tr_s", tr_s)
        try:
            header_tr = _header_tr_s(image, path)
        except DataError:
            header_tr = tr_s
        if abs(header_tr - tr_s) > 1e-3 * tr_s:
            logger.warning("%s: header TR %g s, using tr_s=%g s", path.name, header_tr, tr_s)
    else:
        tr_s = _header_tr_s(image, path)
    shape = tuple(image.shape[:3])
    keep = (
        np.ones(shape, dtype=bool)
        if mask is None
        else _volume_array(mask, "mask", shape, path) != 0
    )
    data = image.get_fdata(dtype=np.float32)
    if atlas is None:
        ijk = np.argwhere(keep)
        if ijk.size == 0:
            raise DataError(f"{path}: the mask keeps no voxel.")
        values = data[keep].T
        names = [f"{i}_{j}_{k}" for i, j, k in ijk]
    else:
        labels = np.rint(_volume_array(atlas, "atlas", shape, path)).astype(int)
        label_names = _atlas_labels(atlas, atlas_labels)
        present = [int(v) for v in np.unique(labels[keep]) if v > 0]
        if not present:
            raise DataError(f"{path}: the atlas has no label > 0 inside the mask.")
        values = np.column_stack([data[(labels == v) & keep].mean(axis=0) for v in present])
        names = [label_names.get(v, f"roi-{v}") for v in present]
    return TimeSeries(values.astype(np.float32, copy=False), 1.0 / tr_s, names=names)


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
