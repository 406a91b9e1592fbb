"""Synthetic music with known structure: multi-section pieces and the demo stimuli.

:func:`synth_piece` generates a multi-section piece of music-like audio whose
section boundaries are known exactly, to test transition detection and to run
the demo offline on any machine. Each section has its own tempo, register,
timbre (harmonic roll-off and vibrato), loudness and percussion, as sections
of real pieces differ; adjacent sections always differ in loudness and
brightness. :meth:`SynthPiece.write` puts ``<stem>_boundaries.tsv`` beside
the audio; the study simulators read it back (:func:`read_stimulus_boundaries`)
as the structure they plant responses at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_int, check_positive, rng_from_seed
from frisson.audio import AUDIO_SUFFIXES, Audio, audio_from_array
from frisson.errors import DataError, ParameterError

__all__ = [
    "Section",
    "SynthPiece",
    "boundaries_path",
    "read_stimulus_boundaries",
    "synth_piece",
    "write_demo_stimuli",
]

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


@dataclass(frozen=True)
class Section:
    """Settings of one section of a synthetic piece.

    Attributes
    ----------
    onset_s, duration_s : float
        Where the section starts and how long it lasts.
    tempo_bpm : float
        Note rate (one note per beat, some held for two).
    root_midi : int
        Tonic of the section's scale (MIDI note number).
    mode : str
        ``"major"`` or ``"minor"``.
    rolloff : float
        Harmonic amplitudes fall as ``k ** -rolloff`` (small = bright, buzzy).
    level_db : float
        Section loudness in dB re full scale (peak of the melody voice).
    percussion : bool
        Whether a noise-burst beat accompanies the melody.

    """

    onset_s: float
    duration_s: float
    tempo_bpm: float
    root_midi: int
    mode: str
    rolloff: float
    level_db: float
    percussion: bool


@dataclass(frozen=True)
class SynthPiece:
    """A generated piece and its ground truth.

    Attributes
    ----------
    audio : Audio
        Mono samples.
    boundaries_s : ndarray
        Onsets of sections 2..n in seconds (the known transitions).
    sections : list of Section
        Settings of every section.
    seed : int
        The seed that generated it.

    """

    audio: Audio = field(repr=False)
    boundaries_s: np.ndarray
    sections: list[Section] = field(repr=False)
    seed: int

    def write(self, path: str | os.PathLike) -> Path:
        """Write the audio (WAV, 16-bit) and ``<stem>_boundaries.tsv`` beside it.

        Returns the path of the boundaries table (columns ``time_s``, ``section``).
        """
        import soundfile as sf

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, self.audio.samples, int(self.audio.rate_hz), subtype="PCM_16")
        table = path.with_name(f"{path.stem}_boundaries.tsv")
        lines = ["time_s\tsection"] + [f"{t:.6f}\t{i + 2}" for i, t in enumerate(self.boundaries_s)]
        table.write_text("\n".join(lines) + "\n")
        return table


def synth_piece(
    *,
    n_sections: int = 6,
    section_s: tuple[float, float] = (12.0, 20.0),
    rate_hz: float = 22050.0,
    seed: int = 0,
) -> SynthPiece:
    """Generate a multi-section piece with known boundaries.

    Parameters
    ----------
    n_sections : int
        Number of sections (>= 2).
    section_s : (float, float)
        Range of section durations in seconds (drawn uniformly).
    rate_hz : float
        Sampling rate of the audio.
    seed : int
        Seed of every random choice; the same seed gives the same samples.

    Returns
    -------
    SynthPiece

    Examples
    --------
    >>> piece = synth_piece(n_sections=3, section_s=(5.0, 5.0), rate_hz=8000, seed=1)
    >>> piece.boundaries_s, round(piece.audio.duration_s, 1)
    (array([ 5., 10.]), 15.0)

    """
    n_sections = check_int("n_sections", n_sections, minimum=2)
    low, high = (check_positive("section_s", s) for s in section_s)
    if low > high or low < 2.0:
        raise ParameterError(
            f"section_s must be (low, high) with 2 <= low <= high, got {section_s}."
        )
    rate_hz = check_positive("rate_hz", rate_hz)
    rng = rng_from_seed(seed)
    durations = rng.uniform(low, high, n_sections)
    onsets = np.r_[0.0, np.cumsum(durations)[:-1]]
    sections = []
    loud = bool(rng.integers(2))
    for onset, duration in zip(onsets, durations, strict=True):
        # Alternate loud/bright and soft/dark sections, as verse and chorus do.
        sections.append(
            Section(
                onset_s=float(onset),
                duration_s=float(duration),
                tempo_bpm=float(rng.uniform(120, 170) if loud else rng.uniform(60, 100)),
                root_midi=int(rng.integers(55, 67) if loud else rng.integers(43, 55)),
                mode=str(rng.choice(["major", "minor"])),
                rolloff=float(rng.uniform(0.6, 1.0) if loud else rng.uniform(1.8, 2.6)),
                level_db=float(rng.uniform(-8, -4) if loud else rng.uniform(-26, -20)),
                percussion=loud,
            )
        )
        loud = not loud
    n_total = round(onsets[-1] * rate_hz + durations[-1] * rate_hz)
    samples = np.zeros(n_total)
    for section in sections:
        start = round(section.onset_s * rate_hz)
        part = _render_section(section, rate_hz, rng)
        stop = min(n_total, start + part.size)
        samples[start:stop] += part[: stop - start]
    samples /= max(1.0, np.abs(samples).max() / 0.95)
    audio = audio_from_array(
        samples.astype(np.float32), rate_hz, source=f"synth_piece(seed={seed})"
    )
    return SynthPiece(audio, onsets[1:].copy(), sections, seed)


def _render_section(section: Section, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Melody of harmonic notes (plus optional percussion) for one section."""
    n = round(section.duration_s * rate_hz)
    out = np.zeros(n)
    beat_s = 60.0 / section.tempo_bpm
    scale = _MAJOR if section.mode == "major" else _MINOR
    amplitude = 10 ** (section.level_db / 20)
    harmonics = np.arange(1, 16)
    weights = harmonics**-section.rolloff
    weights /= weights.sum()
    time_s, degree = 0.0, 0
    while time_s < section.duration_s:
        note_s = beat_s * (2 if rng.random() < 0.25 else 1)
        degree = int(np.clip(degree + rng.integers(-2, 3), -3, 9))
        octave, step = divmod(degree, 7)
        midi = section.root_midi + 12 * octave + scale[step]
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        start = round(time_s * rate_hz)
        length = min(round(note_s * rate_hz), n - start)
        if length <= 0:
            break
        t = np.arange(length) / rate_hz
        usable = harmonics[harmonics * f0 < 0.45 * rate_hz]
        phase = 2 * np.pi * f0 * t
        tone = np.sum(weights[usable - 1, np.newaxis] * np.sin(np.outer(usable, phase)), axis=0)
        attack = np.minimum(1.0, t / 0.01)
        decay = np.exp(-t / (0.6 * note_s))
        out[start : start + length] += amplitude * tone * attack * decay
        if section.percussion:
            burst = min(length, int(0.06 * rate_hz))
            noise = rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.015 * rate_hz))
            out[start : start + burst] += 0.5 * amplitude * noise
        time_s += note_s
    fade = min(n // 2, int(0.02 * rate_hz))
    ramp = np.linspace(0, 1, fade)
    out[:fade] *= ramp
    out[n - fade :] *= ramp[::-1]
    return out


# ================================================================ demo stimuli
def write_demo_stimuli(
    out_dir: str | os.PathLike, *, n_pieces: int = 7, rate_hz: float = 22050.0, seed: int = 0
) -> list[Path]:
    """Write the demo stimuli: ``n_pieces`` generated multi-section pieces of 60-90 s.

    Each piece has 4-6 sections of distinct tempo, register, timbre and
    loudness (:func:`synth_piece`); ``<name>_boundaries.tsv`` beside each WAV
    holds the known section boundaries. Deterministic for a given seed.

    Parameters
    ----------
    out_dir : path
        Folder to write ``piece-01.wav`` ... into (created if needed).
    n_pieces : int
        Number of pieces (default 7, as the chills study's excerpts).
    rate_hz : float
        Sampling rate.
    seed : int
        Seed; piece ``i`` uses ``seed * 1000 + i``.

    Returns
    -------
    list of Path
        The WAV files.

    """
    n_pieces = check_int("n_pieces", n_pieces, minimum=1)
    rng = rng_from_seed(seed)
    out = Path(out_dir)
    paths = []
    for i in range(n_pieces):
        n_sections = int(rng.integers(4, 7))
        total_s = float(rng.uniform(60.0, 90.0))
        mean_s = total_s / n_sections
        for attempt in range(100):  # redraw (deterministically) until 60-90 s long
            piece = synth_piece(
                n_sections=n_sections,
                # Varied section lengths, so boundaries of different pieces do not line up.
                section_s=(max(2.0, 0.6 * mean_s), 1.4 * mean_s),
                rate_hz=rate_hz,
                seed=seed * 1000 + i + 100_000 * attempt,
            )
            if 60.0 <= piece.audio.duration_s <= 90.0:
                break
        path = out / f"piece-{i + 1:02d}.wav"
        piece.write(path)
        paths.append(path)
    return paths


# ================================================================ reading stimuli
def boundaries_path(audio_path: str | os.PathLike) -> Path:
    """Where the section boundaries of an audio file live: ``<stem>_boundaries.tsv`` beside it.

    Examples
    --------
    >>> boundaries_path("stimuli/piece-01.wav").name
    'piece-01_boundaries.tsv'

    """
    path = Path(audio_path)
    return path.with_name(f"{path.stem}_boundaries.tsv")


def read_stimulus_boundaries(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Read a boundaries table: times (column ``time_s``) and optional ``strength`` (0-1).

    The table is what :meth:`SynthPiece.write` writes (``time_s``, ``section``);
    a ``strength`` column, when present, sets how strongly each boundary moves
    the simulated listeners. A small local reader (the format of
    :func:`frisson.pipeline.read_boundaries`), so that ``simulate`` does not
    import the pipelines.

    Returns
    -------
    times_s : ndarray, shape (n_boundaries,)
        Sorted boundary times in seconds.
    strength : ndarray, shape (n_boundaries,) or None
        The ``strength`` column in the same order, or None when absent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x_boundaries.tsv"
    >>> _ = p.write_text("time_s\tsection\n12.5\t2\n30\t3\n")
    >>> read_stimulus_boundaries(p)
    (array([12.5, 30. ]), None)

    """
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, sep="," if path.suffix.lower() == ".csv" else "\t")
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read the boundaries table ({error}).") from error
    if "time_s" not in table.columns:
        raise DataError(
            f"{path}: needs a 'time_s' column of boundary times in seconds; "
            f"found columns {list(table.columns)}."
        )
    times = pd.to_numeric(table["time_s"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(times).all():
        raise DataError(f"{path}: 'time_s' holds values that are not numbers; fix those rows.")
    order = np.argsort(times, kind="stable")
    if "strength" not in table.columns:
        return times[order], None
    strength = pd.to_numeric(table["strength"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(strength).all() and ((strength >= 0) & (strength <= 1)).all()):
        raise DataError(f"{path}: 'strength' must hold numbers in [0, 1]; fix those rows.")
    return times[order], strength[order]


def _stimulus_paths(stimuli: str | os.PathLike | list[str | os.PathLike]) -> list[Path]:
    """The audio files of a folder, or the given file(s)."""
    if isinstance(stimuli, str | os.PathLike) and Path(stimuli).is_dir():
        found = sorted(p for p in Path(stimuli).iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    elif isinstance(stimuli, str | os.PathLike):
        found = [Path(stimuli)]
    else:
        found = [Path(p) for p in stimuli]
    if not found:
        raise DataError(f"{stimuli}: no audio files (wav, flac, ogg, mp3, opus) found.")
    return found
