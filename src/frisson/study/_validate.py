"""Every problem of a study, without stopping at the first (:meth:`Study.validate`)."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frisson._optional import import_optional
from frisson.errors import DataError, FrissonError
from frisson.study._bold import _header_tr_s, sidecar_tr_s
from frisson.study._files import (
    _KNOWN_EVENT_COLUMNS,
    Problem,
    _entities,
    _outside,
    _same_run,
    _split_events,
    _stimulus_name,
)

if TYPE_CHECKING:
    from frisson.study._read import Study


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
    yield from _validate_participants(study)
    if not study.stimuli:
        yield Problem("error", "stimuli/", "no stimulus files; put the audio in stimuli/.")
    lengths: dict[str, float] = {}
    for name, path in study.stimuli.items():
        problem, length = _check_stimulus(path, rel(path))
        if problem is not None:
            yield problem
        if length is not None:
            lengths[name] = length
    for run in study.runs:
        yield from _validate_run(study, run, rel, refused, lengths)


def _validate_participants(study: Study) -> Iterator[Problem]:
    if not (study.root / "participants.tsv").is_file():
        yield Problem("warning", "participants.tsv", "missing; add one row per participant.")
        return
    if "participant_id" not in study.participants:
        yield Problem("error", "participants.tsv", "has no participant_id column.")
        return
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


def _validate_run(study: Study, run, rel, refused: set[str], lengths: dict[str, float]):
    """The problems of one run: its events, their stimuli, its recordings."""
    try:
        events = study.read_events(run)
    except DataError as error:
        yield Problem("error", rel(run.main_file), str(error).split(": ", 1)[-1])
        return
    unknown = sorted(set(events.columns) - _KNOWN_EVENT_COLUMNS)
    if unknown:
        yield Problem(
            "warning", rel(run.main_file), f"unknown column(s) {unknown} (kept, not used)."
        )
    negative = np.flatnonzero(events["duration"].to_numpy(dtype=float) < 0)
    for row in negative:
        yield Problem(
            "error",
            rel(run.main_file),
            f"row {row + 1} has a negative duration ({events['duration'].iloc[row]:g} s); "
            "durations are seconds >= 0.",
        )
    if "stim_file" not in events:
        yield Problem("error", rel(run.main_file), "no stim_file column: no trials to analyse.")
        return
    presentations, _ = _split_events(events)
    for onset, duration, stim in presentations:
        message = _presentation_problem(study, stim, onset, duration, refused, lengths)
        if message is not None:
            yield Problem(message[0], rel(run.main_file), message[1])
    if not run.physio and run.beh is None and run.bold is None:
        yield Problem("warning", rel(run.main_file), "no physiology, ratings or BOLD for this run.")
    for sidecar in sorted(run.main_file.parent.glob(f"{run.label}*_physio.json")):
        data = sidecar.with_name(sidecar.name.removesuffix(".json") + ".tsv.gz")
        if _same_run(_entities(sidecar.name), dict(run.entities)) and not data.is_file():
            yield Problem(
                "error",
                rel(data),
                f"the recording is missing (its sidecar {sidecar.name} is there); add "
                f"{data.name} or remove the sidecar.",
            )
    for path in run.physio:
        yield from _ambiguous_sidecars(path, rel)
        yield from _validate_physio(path, rel, presentations)
    if run.bold is not None:
        yield from _validate_bold(run.bold, rel(run.bold), presentations)


def _presentation_problem(
    study: Study, stim: str, onset: float, duration: float, refused, lengths
) -> tuple[str, str] | None:
    """(severity, message) for a presentation whose stimulus is refused, missing or mistimed."""
    name = _stimulus_name(stim)
    shown = f"stimuli/{name}"  # stim_file is relative to stimuli/ (older studies wrote it in)
    if ".." in Path(name).parts or Path(name).is_absolute():
        return (
            "error",
            f"stim_file {stim!r} points outside stimuli/; refused. Put the file in "
            "stimuli/ and name it relative to stimuli/.",
        )
    if name in refused:
        return (
            "error",
            f"stimulus {shown!r} links outside the study and was refused; copy the file "
            "into stimuli/.",
        )
    if name not in study.stimuli:
        return (
            "error",
            f"stimulus {shown!r} is missing from stimuli/; add the file or fix stim_file.",
        )
    if name in lengths and abs(duration - lengths[name]) > _DURATION_SLACK_S:
        return (
            "warning",
            f"the presentation of {shown!r} at {onset:.2f} s lasts {duration:.2f} s but "
            f"the audio lasts {lengths[name]:.2f} s (more than {_DURATION_SLACK_S} s "
            "apart); check the duration column or the stim_file.",
        )
    return None


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


def _ambiguous_sidecars(path: Path, rel) -> Iterator[Problem]:
    """A warning when two sidecars of one folder apply to a file (BIDS forbids it)."""
    from frisson._bids import applicable_sidecars

    by_folder: dict[Path, list[Path]] = {}
    for sidecar in applicable_sidecars(path):
        by_folder.setdefault(sidecar.parent, []).append(sidecar)
    for sidecars in by_folder.values():
        if len(sidecars) > 1:
            yield Problem(
                "warning",
                rel(path),
                f"sidecars {', '.join(s.name for s in sidecars)} all apply to it (BIDS "
                "inheritance allows one per folder; pybids may take the wrong one's "
                "SamplingFrequency). Give each physio file of the run its own recording-<label>.",
            )


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


def _validated_tr_s(image, path: Path) -> tuple[float, str | None]:
    """The run's TR (sidecar first, as BIDS says) and a message when the header disagrees."""
    from_sidecar = sidecar_tr_s(path)
    if from_sidecar is None:
        return _header_tr_s(image, path), None
    sidecar_tr, source = from_sidecar
    try:
        header_tr = _header_tr_s(image, path)
    except DataError:
        return sidecar_tr, None
    if abs(header_tr - sidecar_tr) <= 1e-3 * sidecar_tr:
        return sidecar_tr, None
    return sidecar_tr, (
        f"the NIfTI header gives TR {header_tr:g} s but RepetitionTime in {source.name} is "
        f"{sidecar_tr:g} s; frisson uses the sidecar's (BIDS). Fix whichever is wrong."
    )


def _validate_bold(
    path: Path, where: str, presentations: Sequence[tuple[float, float, str]]
) -> Iterator[Problem]:
    """Header checks only (no voxel data is read): 4-D, a repetition time, covers the trials."""
    nib = import_optional("nibabel")

    try:
        image = nib.load(path)
    except Exception as error:  # nibabel raises many types for broken files
        yield Problem("error", where, f"cannot be read as NIfTI ({error}).")
        return
    if len(image.shape) != 4:
        yield Problem("error", where, f"has shape {image.shape}; a BOLD run is 4-D (x, y, z, t).")
        return
    try:
        tr_s, disagreement = _validated_tr_s(image, path)
    except DataError as error:
        yield Problem("error", where, str(error).split(": ", 1)[-1])
        return
    if disagreement is not None:
        yield Problem("warning", where, disagreement)
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
