"""Reading a study folder: :func:`read_study`, :class:`Study` and its trials on stimulus time."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from frisson._check import check_positive
from frisson._logging import logger
from frisson.errors import DataError, FrissonError, ParameterError
from frisson.study._bold import load_bold
from frisson.study._files import (
    EVENT_COLUMNS,
    Problem,
    Run,
    _entities,
    _outside,
    _read_beh,
    _read_events,
    _read_song_ratings,
    _same_run,
    _split_events,
    _stimulus_name,
)
from frisson.study._validate import _validate
from frisson.timeseries import TimeSeries


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
        task_stimuli: Mapping[str, str] | None = None,
    ):
        self.root = root
        #: Task label -> stimulus name, for runs without events (one piece per task).
        self.task_stimuli = dict(task_stimuli or {})
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
        """The run's events table (columns at least onset, duration, trial_type, stim_file).

        A run without an events table whose task is one piece (``task_stimuli``)
        gets one row: the piece from 0 s for the audio's length.
        """
        if run.events is not None:
            return _read_events(run.events)
        return self._one_piece_events(run)

    def _one_piece_events(self, run: Run):
        import pandas as pd

        task = run.entities.get("task")
        if task not in self.task_stimuli:
            raise DataError(
                f"{run.main_file}: no {run.label}_events.tsv; if task {task!r} is one piece "
                f"of music, name its audio: task_stimuli={{{task!r}: 'stimuli/<file>.wav'}} "
                "(in frisson encode: [encode.task_stimuli]); else add the events table."
            )
        name = self.task_stimuli[task]
        duration_s = _audio_duration_s(self.stimuli[name])
        row = {"onset": 0.0, "duration": duration_s, "trial_type": "music", "stim_file": name}
        return pd.DataFrame([row], columns=list(EVENT_COLUMNS))

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

    def song_ratings(self):
        r"""Post-listening ratings per song from every run's ``*_beh.tsv``.

        A ``*_beh.tsv`` with a ``stim_file`` (or ``stimulus``) column and no
        ``time_s``/``onset`` column holds one row per song heard and a column
        per rating (engagement, familiarity, pleasure, ...); a table with a
        time column holds continuous ratings instead (read by :meth:`trials`).

        Returns
        -------
        pandas.DataFrame
            ``participant``, ``stimulus`` and every numeric rating column
            (NaN where a run lacks it); empty when no run has such a table.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "sub-01/beh").mkdir(parents=True)
        >>> _ = (root / "sub-01/beh/sub-01_task-x_events.tsv").write_text(
        ...     "onset\tduration\ttrial_type\tstim_file\n0\t5\tmusic\ta.wav\n")
        >>> _ = (root / "sub-01/beh/sub-01_task-x_beh.tsv").write_text(
        ...     "stim_file\tpleasure\na.wav\t71\n")
        >>> read_study(root).song_ratings().to_dict("records")
        [{'participant': '01', 'stimulus': 'a.wav', 'pleasure': 71.0}]

        """
        import pandas as pd

        tables = []
        for run in self.runs:
            if run.beh is None:
                continue
            table = _read_song_ratings(run.beh)
            if table is not None:
                tables.append(table.assign(participant=run.participant))
        if not tables:
            return pd.DataFrame({"participant": [], "stimulus": []})
        table = pd.concat(tables, ignore_index=True)
        return table[
            ["participant", "stimulus", *(c for c in table if c not in ("participant", "stimulus"))]
        ]

    def read_bold(self, run: Run, **options) -> TimeSeries:
        """The run's BOLD as voxels or ROI means; ``options`` go to :func:`load_bold`."""
        if run.bold is None:
            raise DataError(
                f"{run.events}: no {run.label}_bold.nii[.gz] in the participant's func/ folder."
            )
        return load_bold(run.bold, **options)

    def read_preprocessed(
        self,
        run: Run,
        derivatives: str | os.PathLike,
        *,
        space: str | None = None,
        desc: str = "preproc",
        confounds: Sequence[str] = (),
        detrend_order: int | None = 1,
        high_pass_hz: float | None = None,
        standardize: bool = False,
        **options,
    ) -> TimeSeries:
        """The run's fMRIPrep BOLD in one space, in its brain mask, cleaned.

        Parameters
        ----------
        run : Run
            A run of this study.
        derivatives : path
            The fMRIPrep folder (relative paths are relative to the study).
        space : str, optional
            Required when fMRIPrep wrote several (the error lists them).
        desc : str
            The BOLD's ``desc-`` label (fMRIPrep's ``preproc``; other
            pipelines write e.g. ``desc-denoised``).
        confounds : sequence of str
            Confound columns or patterns regressed out (e.g. ``["trans_*",
            "rot_*", "csf", "white_matter"]``).
        detrend_order, high_pass_hz, standardize
            As in :func:`clean_bold`.
        **options
            Passed to :func:`load_bold` (``atlas``, ``atlas_labels``, ``tr_s``;
            ``mask`` defaults to the run's ``desc-brain_mask``).

        Returns
        -------
        TimeSeries

        """
        from frisson.study._derivatives import clean_bold, find_preprocessed, read_confounds

        folder = Path(derivatives)
        folder = folder if folder.is_absolute() else self.root / folder
        found = find_preprocessed(
            folder, {"sub": run.participant, **run.entities}, space=space, desc=desc
        )
        if "mask" not in options and found.mask is not None:
            options["mask"] = found.mask
        bold = load_bold(found.bold, **options)
        matrix = None
        if confounds:
            if found.confounds is None:
                raise DataError(
                    f"{found.bold}: no desc-confounds_timeseries.tsv beside it; drop confounds= "
                    "or point derivatives= at the fMRIPrep folder."
                )
            matrix, names = read_confounds(found.confounds, confounds)
            logger.info("%s: regressing %d confounds", run.label, len(names))
        return clean_bold(
            bold,
            confounds=matrix,
            detrend_order=detrend_order,
            high_pass_hz=high_pass_hz,
            standardize=standardize,
        )

    def read_parcellated(
        self, run: Run, derivatives: str | os.PathLike, *, seg: str | None = None, tr_s=None
    ) -> TimeSeries:
        """The run's parcellated time series (XCP-D ``*_timeseries.tsv``) as targets.

        The TR comes from ``tr_s``, else the TSV's sidecars, else the run's BOLD.
        """
        from frisson._bids import inherited_metadata
        from frisson.study._derivatives import find_parcellated, read_parcellated

        folder = Path(derivatives)
        folder = folder if folder.is_absolute() else self.root / folder
        path = find_parcellated(folder, {"sub": run.participant, **run.entities}, seg=seg)
        timed = {"RepetitionTime", "SamplingFrequency"} & set(inherited_metadata(path))
        if tr_s is None and not timed and run.bold is not None:
            tr_s = 1.0 / self.read_bold(run).rate_hz
        return read_parcellated(path, tr_s=tr_s)

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


def _audio_duration_s(path: Path) -> float:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises several types for undecodable files
        from frisson.audio import load_audio

        audio = load_audio(path)
        return audio.duration_s
    return info.frames / info.samplerate


# ---------------------------------------------------------------------------- reading
def read_study(
    root: str | os.PathLike, *, task_stimuli: Mapping[str, str | os.PathLike] | None = None
) -> Study:
    """Open a BIDS-style listening study (see the module notes for the layout).

    A run is an ``*_events.tsv`` with the recordings of the same entities, or
    a ``func/*_bold.nii[.gz]`` without events. The latter is the layout of
    studies where each task is one piece of music (OpenNeuro ds003085:
    ``sub-01/func/sub-01_task-happy_bold.nii.gz``, no events, no
    ``participants.tsv``, no ``stimuli/``): ``task_stimuli`` names the audio of
    each task, and the run then holds one presentation of it from the first
    volume (0 s) for the audio's length. Sidecar metadata follows BIDS
    inheritance (a top-level ``task-happy_bold.json`` applies to every
    participant's run of that task); ``RepetitionTime`` from the sidecars wins
    over the NIfTI header (see :func:`load_bold`).

    Parameters
    ----------
    root : path
        The study folder (with ``participants.tsv`` and ``stimuli/``).
    task_stimuli : mapping of str to path, optional
        Task label -> its audio file, relative to the study folder (or
        absolute), e.g. ``{"happy": "stimuli/happy.wav"}``; for runs without
        events. The stimulus is named relative to ``stimuli/`` when it lies
        there, else relative to the study, else by its file name.

    Returns
    -------
    Study

    Raises
    ------
    DataError
        If the folder does not exist, holds no ``sub-*/**/*_events.tsv`` and
        no ``sub-*/**/func/*_bold.nii[.gz]``, or a ``task_stimuli`` file is missing.
    ParameterError
        If ``task_stimuli`` names a task no run has.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> import nibabel as nib, numpy as np, soundfile as sf
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    >>> _ = (root / "task-happy_bold.json").write_text(json.dumps({"RepetitionTime": 1.0}))
    >>> (root / "sub-01/func").mkdir(parents=True)
    >>> nib.save(nib.Nifti1Image(np.ones((2, 2, 2, 30), np.float32), np.eye(4)),
    ...          root / "sub-01/func/sub-01_task-happy_bold.nii.gz")
    >>> (root / "audio").mkdir()
    >>> sf.write(root / "audio/happy.wav", np.zeros(8000 * 20), 8000)
    >>> study = read_study(root, task_stimuli={"happy": "audio/happy.wav"})
    >>> run = study.runs[0]
    >>> run.label, study.presentations(run), study.read_bold(run).rate_hz
    ('sub-01_task-happy', [(0.0, 20.0, 'audio/happy.wav')], 1.0)

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
    runs = _find_runs(root)
    if not runs:
        raise DataError(
            f"{root}: no sub-*/**/*_events.tsv or sub-*/**/func/*_bold.nii[.gz] found; is this "
            "a BIDS-style study folder?"
        )
    named = _task_stimuli(root, task_stimuli, runs)
    stimuli.update(dict(named.values()))
    tasks = {task: name for task, (name, _) in named.items()}
    logger.info("%s: %d runs, %d stimuli", root, len(runs), len(stimuli))
    for problem in problems:
        logger.warning("%s: %s", root / problem.path, problem.message)
    return Study(root, participants, stimuli, runs, problems=problems, task_stimuli=tasks)


def _find_runs(root: Path) -> list[Run]:
    """Runs defined by an events table, then BOLD runs without one (one piece per task)."""
    runs = []
    claimed: set[Path] = set()
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
        claimed.update(bold[:1])
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
    for bold in sorted(root.glob("sub-*/**/func/*_bold.nii*")):
        entities = _entities(bold.name)
        if bold in claimed or "sub" not in entities or not bold.name.endswith((".nii", ".nii.gz")):
            continue
        label = bold.name.split(".", 1)[0].removesuffix("_bold")
        physio = sorted(
            p
            for p in bold.parent.glob(f"{label}*_physio.tsv.gz")
            if _same_run(_entities(p.name), entities)
        )
        runs.append(
            Run(
                participant=entities["sub"],
                entities={k: v for k, v in entities.items() if k != "sub"},
                events=None,
                physio=physio,
                bold=bold,
            )
        )
    return sorted(runs, key=lambda run: (run.participant, run.label))


def _task_stimuli(
    root: Path, task_stimuli: Mapping[str, str | os.PathLike] | None, runs: Sequence[Run]
) -> dict[str, tuple[str, Path]]:
    """Task -> (stimulus name, file) for tasks that are one piece each."""
    out: dict[str, tuple[str, Path]] = {}
    tasks = {run.entities.get("task") for run in runs}
    for task, given in (task_stimuli or {}).items():
        if task not in tasks:
            raise ParameterError(
                f"task_stimuli names task {task!r}, which no run of {root} has; its tasks are "
                f"{sorted(t for t in tasks if t)}."
            )
        path = Path(given)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(
                f"{path}: the audio of task {task!r} (task_stimuli) not found; give its path "
                "relative to the study folder, e.g. 'stimuli/happy.wav'."
            )
        name = _task_stimulus_name(root, path)
        clash = [t for t, (n, p) in out.items() if n == name and p != path]
        if clash:
            raise ParameterError(
                f"task_stimuli: tasks {clash[0]!r} and {task!r} name different files called "
                f"{name!r}; rename one of them."
            )
        out[task] = (name, path)
    return out


def _task_stimulus_name(root: Path, path: Path) -> str:
    """A task's audio as a stimulus name: relative to stimuli/, else the study, else its name."""
    for base in (root / "stimuli", root):
        if path.absolute().is_relative_to(base.absolute()):
            return path.absolute().relative_to(base.absolute()).as_posix()
    return path.name


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
