"""Synthetic material with known ground truth.

:func:`synth_piece` generates a multi-section piece of music-like audio whose
section boundaries are known exactly, to test transition detection and to run
the demo offline on any machine. Each section has its own tempo, register,
timbre (harmonic roll-off and vibrato), loudness and percussion, as sections
of real pieces differ; adjacent sections always differ in loudness and
brightness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_int, check_positive, rng_from_seed
from frisson.audio import Audio, audio_from_array
from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "FmriParams",
    "Section",
    "SimulatedFmri",
    "SynthPiece",
    "SyntheticLayersEncoder",
    "simulate_fmri_study",
    "stimulus_features_on_grid",
    "synth_piece",
    "voxel_name",
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


# ============================================================= simulated studies
#: SCR shape (Bateman function) time constants in seconds: rise, decay.
SCR_TAU_S = (0.75, 2.0)


@dataclass(frozen=True)
class StudyParams:
    """Settings of :func:`simulate_study` (all recorded in the ground truth).

    Attributes
    ----------
    n_participants : int
        Number of participants; each hears every stimulus once, in a random order.
    effect_size : float
        Scales every response the music drives (evoked SCRs, heart-rate changes,
        chills, ratings); 0 gives a study in which responses ignore the music.
    physio_rate_hz : float
        Sampling rate of skin conductance and PPG.
    ratings_rate_hz : float or None
        Rate of continuous "emotionality" ratings; None writes no ratings.
    eda_noise_us : float
        Standard deviation of white measurement noise on skin conductance (uS).
    spontaneous_per_min : (float, float)
        Range of the participants' rates of non-specific SCRs (per minute).
    motion_per_min : float
        Rate of motion artefacts (spikes in EDA, bursts in PPG).
    dropout_probability : float
        Chance that a trial contains a 1-3 s dropout (NaN in every channel).
    baseline_s, gap_s : float
        Silence before the first stimulus and between stimuli.
    encoder : str
        Encoder whose latent transitions drive the responses.

    """

    n_participants: int = 10
    effect_size: float = 1.0
    physio_rate_hz: float = 100.0
    ratings_rate_hz: float | None = 5.0
    eda_noise_us: float = 0.01
    spontaneous_per_min: tuple[float, float] = (1.0, 3.0)
    motion_per_min: float = 0.2
    dropout_probability: float = 0.05
    baseline_s: float = 10.0
    gap_s: float = 20.0
    encoder: str = "mel"


@dataclass(frozen=True)
class ArousalDrive:
    """The latent "arousal drive" of one stimulus: what the simulated listeners respond to.

    Attributes
    ----------
    drive : TimeSeries
        Drive in [0, 1] at 10 Hz from stimulus onset: Gaussian bumps (sd 0.75 s)
        at latent transitions, weighted by their strength, plus rectified
        loudness surges.
    peak_times_s, peak_heights : ndarray
        Peaks of the drive (prominence >= 0.15, >= 3 s apart): the moments that
        evoke SCRs.
    transitions_s : ndarray
        The latent transitions (PC1 variance peaks).

    """

    drive: TimeSeries
    peak_times_s: np.ndarray
    peak_heights: np.ndarray
    transitions_s: np.ndarray


def arousal_drive(audio: Audio, *, encoder: str = "mel", rate_hz: float = 10.0) -> ArousalDrive:
    """Compute the arousal drive of a stimulus from its latent transitions and loudness surges.

    Parameters
    ----------
    audio : Audio
        The stimulus.
    encoder : str
        Encoder of the latent trajectory.
    rate_hz : float
        Rate of the drive series.

    Returns
    -------
    ArousalDrive

    """
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks

    from frisson import latent
    from frisson.encoders import get_encoder
    from frisson.features import loudness

    enc = get_encoder(encoder)
    frames = enc.encode(audio, layers=[enc.default_layer])[enc.default_layer]
    pcs = latent.trajectory_pca(latent.sliding_mean(frames), n_components=3).pcs
    edge_s = min(5.0, audio.duration_s / 6)
    transitions = latent.variance_transitions(pcs, edge_s=edge_s)
    level = loudness(audio, rate_hz=rate_hz)
    times = level.times_s
    smooth = uniform_filter1d(level.values[:, 0], size=max(1, int(rate_hz)), mode="nearest")
    rise = np.maximum(np.gradient(smooth) * rate_hz, 0.0)  # dB per second, rising only
    scale = np.percentile(rise, 99) or 1.0
    surge = np.clip(rise / scale, 0.0, 1.0)
    bumps = np.zeros_like(times)
    for t, strength in zip(transitions.times_s, transitions.strength, strict=True):
        bumps += strength * np.exp(-0.5 * ((times - t) / 0.75) ** 2)
    drive = bumps + 0.5 * surge
    drive /= drive.max() if drive.max() > 0 else 1.0
    peaks, _ = find_peaks(drive, prominence=0.15, distance=int(3 * rate_hz))
    series = TimeSeries(drive, rate_hz, names=["drive"])
    return ArousalDrive(series, times[peaks], drive[peaks], transitions.times_s)


@dataclass(frozen=True)
class SimulatedStudy:
    """What :func:`simulate_study` wrote, with the arrays for checks.

    Attributes
    ----------
    root : Path
        The BIDS study folder.
    drives : dict of str to ArousalDrive
        Per stimulus name.
    recordings : dict of str to dict of str to ndarray
        Per participant, the float32 columns written to the physio file.
    truth : pandas.DataFrame
        Per-participant parameters (gain, latency, ...).
    scr_onsets : pandas.DataFrame
        Every SCR: participant, stimulus, onset_s (from stimulus onset),
        run_time_s, amplitude_us, evoked.
    params : StudyParams
    seed : int

    """

    root: Path
    drives: dict[str, ArousalDrive] = field(repr=False)
    recordings: dict[str, dict[str, np.ndarray]] = field(repr=False)
    truth: object = field(repr=False)
    scr_onsets: object = field(repr=False)
    params: StudyParams = field(default_factory=StudyParams)
    seed: int = 0


def simulate_study(
    stimuli: str | os.PathLike | list[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    params: StudyParams | None = None,
    seed: int = 0,
    progress_bar: bool | None = None,
) -> SimulatedStudy:
    """Write a complete BIDS-style listening study with known ground truth.

    For every participant x stimulus: skin conductance = tonic level + slow
    drift + SCRs (Bateman shape, rise 0.75 s, decay 2 s) evoked at the peaks
    of the stimulus' :func:`arousal_drive` with participant-specific gain,
    latency (1-3 s) and habituation, plus spontaneous SCRs, white noise, motion
    artefacts and dropouts; PPG whose heart rate follows the drive; chill
    reports near the strongest peaks; optional continuous ratings; an
    absorption questionnaire score that raises the gains. The ground truth
    goes to ``derivatives/ground_truth/``.

    Parameters
    ----------
    stimuli : path or list of paths
        A folder of audio files or the files themselves (copied to ``stimuli/``).
    out_dir : path
        The study folder to create.
    params : StudyParams, optional
        Simulation settings (default :class:`StudyParams`).
    seed : int
        Seed of every random draw.
    progress_bar : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    SimulatedStudy

    """
    import json
    import shutil

    import pandas as pd
    from tqdm.auto import tqdm

    from frisson import __version__
    from frisson._logging import progress_enabled
    from frisson.audio import load_audio
    from frisson.study import write_events, write_physio

    params = params or StudyParams()
    check_int("n_participants", params.n_participants, minimum=1)
    check_positive("effect_size", params.effect_size, allow_zero=True)
    check_positive("physio_rate_hz", params.physio_rate_hz)
    if params.ratings_rate_hz is not None:
        ratio = params.physio_rate_hz / check_positive("ratings_rate_hz", params.ratings_rate_hz)
        if abs(ratio - round(ratio)) > 1e-9:
            raise ParameterError(
                f"physio_rate_hz ({params.physio_rate_hz:g}) must be a whole multiple of "
                f"ratings_rate_hz ({params.ratings_rate_hz:g})."
            )
    rng = rng_from_seed(seed)
    paths = _stimulus_paths(stimuli)
    root = Path(out_dir)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    drives: dict[str, ArousalDrive] = {}
    durations: dict[str, float] = {}
    for path in tqdm(paths, desc="stimulus drives", disable=not progress_enabled(progress_bar)):
        audio = load_audio(path)
        drives[path.name] = arousal_drive(audio, encoder=params.encoder)
        durations[path.name] = audio.duration_s
        if path.resolve() != (root / "stimuli" / path.name).resolve():
            shutil.copy2(path, root / "stimuli" / path.name)

    truth_rows, scr_rows, participant_rows = [], [], []
    recordings: dict[str, dict[str, np.ndarray]] = {}
    for index in tqdm(
        range(params.n_participants),
        desc="participants",
        disable=not progress_enabled(progress_bar),
    ):
        pid = f"{index + 1:02d}"
        person = _draw_participant(rng, params)
        truth_rows.append({"participant": pid, **person})
        participant_rows.append(
            {"participant_id": f"sub-{pid}", "absorption": person["absorption"]}
        )
        order = [paths[i].name for i in rng.permutation(len(paths))]
        data, events, scrs = _simulate_run(rng, params, person, order, drives, durations)
        for row in scrs:
            scr_rows.append({"participant": pid, **row})
        label = f"sub-{pid}_task-listening"
        folder = root / f"sub-{pid}" / "beh"
        write_events(folder / f"{label}_events.tsv", events)
        physio = {"eda": data["eda"], "ppg": data["ppg"]}
        write_physio(
            folder / f"{label}_physio.tsv.gz",
            physio,
            rate_hz=params.physio_rate_hz,
            units={"eda": "uS", "ppg": "a.u."},
        )
        recordings[pid] = {k: v.astype(np.float32) for k, v in physio.items()}
        if "emotionality" in data:
            write_physio(
                folder / f"{label}_recording-ratings_physio.tsv.gz",
                {"emotionality": data["emotionality"]},
                rate_hz=params.ratings_rate_hz,
            )
            recordings[pid]["emotionality"] = data["emotionality"].astype(np.float32)

    pd.DataFrame(participant_rows).to_csv(root / "participants.tsv", sep="\t", index=False)
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "frisson simulated listening study",
                "BIDSVersion": "1.9.0",
                "DatasetType": "raw",
                "GeneratedBy": [{"Name": "frisson", "Version": __version__}],
            },
            indent=2,
        )
    )
    truth_dir = root / "derivatives" / "ground_truth"
    (truth_dir / "drive").mkdir(parents=True, exist_ok=True)
    for name, drive in drives.items():
        drive.drive.to_frame().to_csv(
            truth_dir / "drive" / f"{Path(name).stem}_drive.tsv", sep="\t", index=False
        )
    truth = pd.DataFrame(truth_rows)
    scr_onsets = pd.DataFrame(scr_rows)
    truth.to_csv(truth_dir / "participants_truth.tsv", sep="\t", index=False)
    scr_onsets.to_csv(truth_dir / "scr_onsets.tsv", sep="\t", index=False, float_format="%.4f")
    (truth_dir / "simulation.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "frisson_version": __version__,
                "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
                "scr_tau_s": SCR_TAU_S,
                "stimuli": {
                    name: {"duration_s": durations[name], "drive_peaks_s": d.peak_times_s.tolist()}
                    for name, d in drives.items()
                },
            },
            indent=2,
        )
    )
    return SimulatedStudy(root, drives, recordings, truth, scr_onsets, params, seed)


def _stimulus_paths(stimuli: str | os.PathLike | list[str | os.PathLike]) -> list[Path]:
    from frisson.errors import DataError

    if isinstance(stimuli, str | os.PathLike) and Path(stimuli).is_dir():
        found = sorted(
            p
            for p in Path(stimuli).iterdir()
            if p.suffix.lower() in {".wav", ".flac", ".ogg", ".mp3", ".opus"}
        )
    elif isinstance(stimuli, str | os.PathLike):
        found = [Path(stimuli)]
    else:
        found = [Path(p) for p in stimuli]
    if not found:
        raise DataError(f"{stimuli}: no audio files (wav, flac, ogg, mp3, opus) found.")
    return found


def _draw_participant(rng: np.random.Generator, params: StudyParams) -> dict[str, float]:
    absorption_z = float(rng.standard_normal())
    low, high = params.spontaneous_per_min
    return {
        "absorption": float(np.clip(round(17 + 6 * absorption_z), 0, 34)),
        "gain": float(np.exp(0.25 * rng.standard_normal() + 0.3 * absorption_z)),
        "latency_s": float(rng.uniform(1.0, 3.0)),
        "habituation": float(rng.uniform(0.02, 0.1)),
        "tonic_us": float(rng.uniform(2.0, 10.0)),
        "spontaneous_per_min": float(rng.uniform(low, high)),
        "hr_bpm": float(rng.uniform(60.0, 80.0)),
        "hr_gain_bpm": float(rng.uniform(3.0, 8.0)),
    }


def _bateman(rate_hz: float) -> np.ndarray:
    rise, decay = SCR_TAU_S
    t = np.arange(int(12 * decay * rate_hz)) / rate_hz
    shape = np.exp(-t / decay) - np.exp(-t / rise)
    return shape / shape.max()


def _simulate_run(
    rng: np.random.Generator,
    params: StudyParams,
    person: dict[str, float],
    order: list[str],
    drives: dict[str, ArousalDrive],
    durations: dict[str, float],
) -> tuple[dict[str, np.ndarray], list[dict], list[dict]]:
    """One participant's run: all stimuli in ``order`` with gaps; returns columns, events, SCRs."""
    from scipy.signal import fftconvolve

    rate = params.physio_rate_hz
    onsets, t = {}, params.baseline_s
    for name in order:
        onsets[name] = t
        t += durations[name] + params.gap_s
    total_s = t - params.gap_s + params.baseline_s
    n = round(total_s * rate)
    times = np.arange(n) / rate
    effect = params.effect_size
    events: list[dict] = []
    scrs: list[dict] = []
    impulses = np.zeros(n)
    drive_run = np.zeros(n)
    listening = np.zeros(n, dtype=bool)
    evoked_count = 0
    for name in order:
        onset, drive = onsets[name], drives[name]
        events.append(
            {
                "onset": onset,
                "duration": durations[name],
                "trial_type": "music",
                "stim_file": f"stimuli/{name}",
            }
        )
        local = drive.drive
        inside = (times >= onset) & (times <= onset + durations[name])
        listening |= inside
        drive_run[inside] = np.interp(times[inside] - onset, local.times_s, local.values[:, 0])
        for peak_s, height in zip(drive.peak_times_s, drive.peak_heights, strict=True):
            amplitude = (
                effect
                * person["gain"]
                * 0.5
                * height
                * np.exp(-person["habituation"] * evoked_count)
                * float(rng.lognormal(0.0, 0.2))
            )
            if amplitude <= 0:
                continue
            evoked_count += 1
            run_time = onset + peak_s + person["latency_s"] + float(rng.normal(0.0, 0.3))
            scrs.append(_scr_row(name, run_time, onset, amplitude, evoked=True))
            if height > 0.6 and rng.random() < min(0.9, 0.6 * effect * person["gain"] * height):
                chill_s = onset + peak_s + person["latency_s"] + float(rng.uniform(0.0, 1.0))
                events.append(
                    {"onset": chill_s, "duration": 0.0, "trial_type": "chill", "stim_file": None}
                )
    # Non-specific SCRs over the whole run (Poisson), independent of the music.
    n_spont = rng.poisson(person["spontaneous_per_min"] * total_s / 60)
    for run_time in np.sort(rng.uniform(0, total_s, n_spont)):
        stimulus = next(
            (s for s in order if onsets[s] <= run_time <= onsets[s] + durations[s]), None
        )
        onset = onsets[stimulus] if stimulus else np.nan
        scrs.append(_scr_row(stimulus, run_time, onset, float(rng.uniform(0.05, 0.3)), False))
    for row in scrs:
        index = round(row["run_time_s"] * rate)
        if 0 <= index < n:
            impulses[index] += row["amplitude_us"]
    phasic = fftconvolve(impulses, _bateman(rate))[:n]
    drift = np.cumsum(rng.normal(0.0, 0.002, n) / np.sqrt(rate / 10))
    drift -= np.linspace(0, drift[-1], n)  # a bridge: the slow walk starts and ends at 0
    tonic = person["tonic_us"] + drift + 0.3 * np.sin(2 * np.pi * times / total_s)
    eda = tonic + phasic + rng.normal(0.0, params.eda_noise_us, n)
    # Heart rate follows the drive (delayed by the participant's latency).
    lag = round(person["latency_s"] * rate)
    delayed = np.r_[np.zeros(lag), drive_run[: n - lag]]
    hr = (
        person["hr_bpm"]
        + effect * person["hr_gain_bpm"] * person["gain"] * delayed
        + 2.0 * np.sin(2 * np.pi * 0.25 * times)
    )
    phase = np.cumsum(hr / 60.0) / rate
    beat = phase % 1.0
    ppg = np.exp(-(((beat - 0.2) / 0.08) ** 2)) + 0.4 * np.exp(-(((beat - 0.5) / 0.1) ** 2))
    ppg += rng.normal(0.0, 0.02, n)
    # Motion artefacts: brief spikes in EDA, bursts in PPG.
    for _ in range(rng.poisson(params.motion_per_min * total_s / 60)):
        start = int(rng.integers(0, n))
        stop = min(n, start + int(rng.uniform(0.3, 1.0) * rate))
        eda[start:stop] += rng.uniform(0.5, 2.0)
        ppg[start:stop] += rng.normal(0.0, 1.0, stop - start)
    columns = {"eda": eda, "ppg": ppg}
    if params.ratings_rate_hz is not None:
        columns["emotionality"] = _ratings(
            rng, effect * person["gain"], drive_run, listening, rate, params.ratings_rate_hz
        )
    for name in order:
        if rng.random() < params.dropout_probability:
            start_s = onsets[name] + rng.uniform(0, max(0.0, durations[name] - 3.0))
            lo, hi = int(start_s * rate), int((start_s + rng.uniform(1.0, 3.0)) * rate)
            eda[lo:hi] = np.nan
            ppg[lo:hi] = np.nan
    events.sort(key=lambda row: row["onset"])
    return columns, events, scrs


def _ratings(
    rng: np.random.Generator,
    gain: float,
    drive_run: np.ndarray,
    listening: np.ndarray,
    rate_hz: float,
    ratings_rate_hz: float,
) -> np.ndarray:
    """Continuous 0-1 ratings: the drive smoothed over 2 s, 2 s late, plus a slow wander.

    NaN outside the stimuli; sampled every ``rate_hz / ratings_rate_hz`` samples.
    """
    width = 2 * int(rate_hz)
    smooth = np.convolve(drive_run, np.ones(width) / width, mode="same")
    late = np.r_[np.zeros(width), smooth[:-width]]
    wander = np.cumsum(rng.normal(0.0, 0.02, drive_run.size)) / np.sqrt(rate_hz)
    value = np.clip(0.3 + 0.6 * gain * late + wander, 0.0, 1.0)
    step = max(1, round(rate_hz / ratings_rate_hz))
    return np.where(listening, value, np.nan)[::step]


def _scr_row(stimulus, run_time, onset, amplitude, evoked):
    return {
        "stimulus": stimulus,
        "onset_s": run_time - onset,
        "run_time_s": run_time,
        "amplitude_us": amplitude,
        "evoked": evoked,
    }


# ================================================================= simulated fMRI
class SyntheticLayersEncoder:
    """A test encoder whose layers are smooth random features with a known layer structure.

    Not a model of hearing: each layer is a band of smooth Gaussian noise
    seeded by the audio's SHA-256, so the same audio always gives the same
    features and different audio gives independent ones. Layer ``k`` is
    ``correlation * rotate(layer k-1) + sqrt(1 - correlation**2) * new noise``,
    so neighbouring layers share variance as those of a deep network do, and
    layers further apart share less (``correlation ** distance``). Use it to
    test layer-wise encoding (planted-layer recovery) and for power analyses
    that should not depend on a real network; register it with
    ``register_encoder("synthetic-layers", SyntheticLayersEncoder)`` to use it
    by name.

    Parameters
    ----------
    n_layers : int
        Number of layers (``layer1`` ... ``layerN``, input side first).
    n_features : int
        Features per layer.
    rate_hz : float
        Frames per second; frame ``k`` is centred on ``(k + 0.5) / rate_hz`` s.
    timescale_s : float
        Standard deviation of the Gaussian kernel that smooths the noise in time.
    correlation : float
        Canonical correlation between neighbouring layers, in [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> audio = audio_from_array(np.random.default_rng(0).standard_normal(8000 * 20), 8000)
    >>> embedding = SyntheticLayersEncoder(n_layers=3, n_features=4).encode(audio)
    >>> embedding.layer_names, embedding["layer2"].values.shape
    (('layer1', 'layer2', 'layer3'), (200, 4))

    """

    input_rate_hz = 22050.0

    def __init__(
        self,
        *,
        n_layers: int = 4,
        n_features: int = 8,
        rate_hz: float = 10.0,
        timescale_s: float = 1.5,
        correlation: float = 0.5,
    ) -> None:
        self.name = "synthetic-layers"
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        self.n_features = check_int("n_features", n_features, minimum=1)
        self.rate_hz = check_positive("rate_hz", rate_hz)
        self.timescale_s = check_positive("timescale_s", timescale_s)
        self.correlation = check_positive("correlation", correlation, allow_zero=True)
        if self.correlation >= 1:
            raise ParameterError(f"correlation must lie in [0, 1), got {correlation!r}.")
        self.layers = tuple(f"layer{k + 1}" for k in range(self.n_layers))
        self.default_layer = self.layers[-1]

    def config(self) -> dict[str, object]:
        """Every setting that changes the output."""
        return {
            "n_layers": self.n_layers,
            "n_features": self.n_features,
            "rate_hz": self.rate_hz,
            "timescale_s": self.timescale_s,
            "correlation": self.correlation,
        }

    def layer_info(self) -> list:
        """Rate, start and width of every layer."""
        from frisson.encoders import LayerInfo

        return [
            LayerInfo(name, self.rate_hz, 0.5 / self.rate_hz, self.n_features, "smooth noise")
            for name in self.layers
        ]

    def weights_status(self) -> tuple[bool, str]:
        """No weights: always available."""
        return True, "none needed"

    def encode(self, audio: Audio, *, layers=None):
        """Features of ``audio`` (depend only on its hash and duration)."""
        from scipy.ndimage import gaussian_filter1d

        from frisson.encoders._base import Embedding, resolve_layers

        names = resolve_layers(self, layers)
        n = int(np.floor(audio.duration_s * self.rate_hz))
        if n < 2:
            raise ParameterError(f"{audio.source}: too short for {self.rate_hz:g} frames/s.")
        rng = np.random.default_rng(int(audio.sha256[:15], 16))
        sigma = self.timescale_s * self.rate_hz
        out, previous = {}, None
        c = self.correlation
        for name in self.layers:
            noise = gaussian_filter1d(rng.standard_normal((n, self.n_features)), sigma, axis=0)
            noise = (noise - noise.mean(axis=0)) / noise.std(axis=0)
            if previous is None:
                values = noise
            else:
                rotation, _ = np.linalg.qr(rng.standard_normal((self.n_features,) * 2))
                values = c * previous @ rotation + np.sqrt(1 - c**2) * noise
            previous = values
            if name in names:
                out[name] = TimeSeries(
                    values.astype(np.float32),
                    self.rate_hz,
                    start_s=0.5 / self.rate_hz,
                    names=[f"{name}_{i:02d}" for i in range(self.n_features)],
                )
        return Embedding(self.name, self.config(), audio.sha256, out)


@dataclass(frozen=True)
class FmriParams:
    """Settings of :func:`simulate_fmri_study` (all recorded in the ground truth).

    Attributes
    ----------
    n_participants : int
        Participants; each hears every stimulus once, one stimulus per run, in
        a random order of runs.
    volume_shape : (int, int, int)
        Voxels along i, j, k.
    voxel_size_mm : float
        Isotropic voxel size (the affine's scale).
    tr_s : float
        Repetition time: volume ``k`` is acquired at ``k * tr_s`` s of run time.
    responsive_fraction : float
        Share of brain voxels whose BOLD follows the music.
    snr : float
        Signal-to-noise ratio as a variance ratio ``var(signal) / var(noise)``
        in responsive voxels: a perfect model reaches ``r = sqrt(snr / (1 + snr))``.
    noise_ar1 : float
        AR(1) coefficient of the noise (0 = white); real BOLD noise is
        autocorrelated (about 0.3-0.5 at TR 1-2 s).
    percent_signal : float
        BOLD change, in percent of the voxel's baseline, per unit of
        (signal + noise) standard deviation.
    baseline_s, post_s : float
        Silence in each run before the stimulus and after it (for the HRF's tail).
    layers : tuple of str or None
        Layers that can drive voxels (None = all of the encoder's). Voxels'
        planted layers form a gradient along the j axis, from the first layer
        at low j to the last at high j (as a processing hierarchy would).
    atlas : bool
        Write a brain mask and an ROI atlas (one ROI per layer band along j).

    """

    n_participants: int = 4
    volume_shape: tuple[int, int, int] = (8, 8, 5)
    voxel_size_mm: float = 3.0
    tr_s: float = 1.0
    responsive_fraction: float = 0.5
    snr: float = 0.5
    noise_ar1: float = 0.3
    percent_signal: float = 1.0
    baseline_s: float = 6.0
    post_s: float = 16.0
    layers: tuple[str, ...] | None = None
    atlas: bool = True


@dataclass(frozen=True)
class SimulatedFmri:
    """What :func:`simulate_fmri_study` wrote, with the ground truth as arrays.

    Attributes
    ----------
    root : Path
        The BIDS study folder.
    layers : tuple of str
        The layers that could be planted, in network order.
    mask : ndarray of bool, shape volume_shape
        Brain voxels (BOLD is zero outside).
    planted_layer : ndarray of int, shape volume_shape
        Index into ``layers`` of the layer driving each brain voxel (-1 outside the brain).
    responsive : ndarray of bool, shape volume_shape
        Voxels whose BOLD follows their planted layer (the others are noise only).
    atlas : ndarray of int, shape volume_shape
        ROI label of each voxel (0 outside the brain).
    voxels : pandas.DataFrame
        One row per brain voxel: ``unit`` (the channel name of
        :func:`frisson.study.load_bold`), ``i, j, k``, ``roi``, ``responsive``,
        ``layer_index``, ``planted_layer``.
    weights : dict of str to ndarray
        Per voxel ``unit``: the projection weights on its planted layer's features.
    features : dict of str to dict of str to TimeSeries
        Per stimulus and layer: the z-scored features on the TR grid of
        stimulus time (what drives the voxels before the HRF).
    params : FmriParams
    seed : int

    """

    root: Path
    layers: tuple[str, ...]
    mask: np.ndarray = field(repr=False)
    planted_layer: np.ndarray = field(repr=False)
    responsive: np.ndarray = field(repr=False)
    atlas: np.ndarray = field(repr=False)
    voxels: object = field(repr=False)
    weights: dict[str, np.ndarray] = field(repr=False)
    features: dict[str, dict[str, TimeSeries]] = field(repr=False)
    params: FmriParams = field(default_factory=FmriParams)
    seed: int = 0


def simulate_fmri_study(
    stimuli: str | os.PathLike | list[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    params: FmriParams | None = None,
    encoder: str | object = "mel",
    seed: int = 0,
    progress_bar: bool | None = None,
) -> SimulatedFmri:
    """Write a BIDS-style fMRI listening study whose voxels follow known encoder layers.

    Each brain voxel is assigned one layer (a gradient along j); a
    ``responsive_fraction`` of them respond. A responsive voxel's BOLD is a
    fixed random projection of its layer's features (resampled to the TR
    grid by area averaging, z-scored per stimulus, zero in the silence
    around it), convolved with SPM's canonical HRF
    (:func:`frisson.models.encoding.canonical_hrf`, at the TR), scaled to variance
    ``snr`` per participant, plus AR(1) noise of unit variance; the sum is
    ``percent_signal`` percent of the voxel's baseline intensity per unit.
    Other brain voxels are noise only; voxels outside the brain are 0.
    Weights and planted layers are shared by all participants (one template
    space); noise and run order differ.

    Written::

        stimuli/<name>                            the audio (copied)
        participants.tsv, dataset_description.json
        sub-XX/func/sub-XX_task-music_run-N_bold.nii.gz   4-D float32, TR in zooms
        sub-XX/func/sub-XX_task-music_run-N_bold.json     RepetitionTime, TaskName
        sub-XX/func/sub-XX_task-music_run-N_events.tsv    the run's stimulus and onset
        derivatives/atlas/brain_mask.nii.gz, rois_dseg.nii.gz, rois_dseg.tsv
        derivatives/ground_truth/planted_layer.nii.gz (-1 outside), responsive.nii.gz,
            voxels.tsv, weights.npz, simulation.json (parameters, seed, encoder)

    Parameters
    ----------
    stimuli : path or list of paths
        A folder of audio files or the files themselves.
    out_dir : path
        The study folder to create.
    params : FmriParams, optional
        Simulation settings (default :class:`FmriParams`).
    encoder : str or Encoder
        Registry name or an encoder object; its layers drive the voxels.
        ``"mel"`` has one layer; planted-layer recovery needs several (a
        network such as ``musicnn-msd``, or :class:`SyntheticLayersEncoder`).
    seed : int
        Seed of every random draw.
    progress_bar : bool, optional
        Progress bars (default: when stderr is a terminal).

    Returns
    -------
    SimulatedFmri

    """
    import json
    import shutil

    import nibabel as nib
    import pandas as pd
    from tqdm.auto import tqdm

    from frisson import __version__
    from frisson._logging import progress_enabled
    from frisson.audio import load_audio
    from frisson.encoders import get_encoder
    from frisson.models.encoding import canonical_hrf
    from frisson.study import write_events

    params = params or FmriParams()
    _check_fmri_params(params)
    enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    layers = tuple(params.layers) if params.layers is not None else tuple(enc.layers)
    unknown = [name for name in layers if name not in enc.layers]
    if unknown:
        raise ParameterError(
            f"layers {unknown} are not layers of encoder {enc.name!r}; choose from {enc.layers}."
        )
    rng = rng_from_seed(seed)
    show = progress_enabled(progress_bar)
    tr = params.tr_s
    paths = _stimulus_paths(stimuli)
    root = Path(out_dir)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    features: dict[str, dict[str, TimeSeries]] = {}
    durations: dict[str, float] = {}
    for path in tqdm(paths, desc="stimulus features", disable=not show):
        audio = load_audio(path)
        durations[path.name] = audio.duration_s
        embedding = enc.encode(audio, layers=list(layers))
        features[path.name] = {
            name: stimulus_features_on_grid(embedding[name], audio.duration_s, tr)
            for name in layers
        }
        if path.resolve() != (root / "stimuli" / path.name).resolve():
            shutil.copy2(path, root / "stimuli" / path.name)

    # Space: a brain ellipsoid, planted layers as a gradient along j, ROIs = layer bands.
    shape = tuple(params.volume_shape)
    grid = np.indices(shape, dtype=float)
    radius = sum(((grid[a] + 0.5) / shape[a] - 0.5) ** 2 / 0.5**2 for a in range(3))
    mask = radius <= 1.0
    j_min, j_max = grid[1][mask].min(), grid[1][mask].max()
    position = (grid[1] - j_min + 0.5) / (j_max - j_min + 1)  # in (0, 1) across the brain
    band = np.clip(np.floor(position * len(layers)), 0, len(layers) - 1).astype(int)
    planted = np.where(mask, band, -1)
    atlas = np.where(mask, band + 1, 0)
    responsive = mask & (rng.random(shape) < params.responsive_fraction)
    ijk = np.argwhere(mask)
    units = [voxel_name(i, j, k) for i, j, k in ijk]
    weights = {}
    for unit, (i, j, k) in zip(units, ijk, strict=True):
        n_features = next(iter(features.values()))[layers[planted[i, j, k]]].n_channels
        weights[unit] = rng.standard_normal(n_features) / np.sqrt(n_features)
    baseline = np.where(mask, 800.0 + 200.0 * rng.random(shape), 0.0)
    hrf = canonical_hrf(1.0 / tr)

    affine = np.diag([params.voxel_size_mm] * 3 + [1.0])
    affine[:3, 3] = -0.5 * params.voxel_size_mm * np.array(shape)
    participant_rows = []
    names = list(features)
    for index in tqdm(range(params.n_participants), desc="participants", disable=not show):
        pid = f"{index + 1:02d}"
        participant_rows.append({"participant_id": f"sub-{pid}"})
        order = [names[i] for i in rng.permutation(len(names))]
        signals, n_volumes = [], []
        for name in order:
            n = int(np.ceil((params.baseline_s + durations[name] + params.post_s) / tr))
            onset_volume = round(params.baseline_s / tr)  # stimuli start on a volume
            drive = np.zeros((n, len(units)))
            for column, (unit, (i, j, k)) in enumerate(zip(units, ijk, strict=True)):
                if not responsive[i, j, k]:
                    continue
                values = features[name][layers[planted[i, j, k]]].values @ weights[unit]
                stop = min(n, onset_volume + values.size)
                drive[onset_volume:stop, column] = values[: stop - onset_volume]
            signals.append(_convolve_columns(drive, hrf))
            n_volumes.append(n)
        # Scale each voxel's signal to variance snr over the participant's runs.
        scale = np.concatenate(signals).std(axis=0)
        scale[scale == 0] = 1.0
        folder = root / f"sub-{pid}" / "func"
        for run, (name, signal, n) in enumerate(zip(order, signals, n_volumes, strict=True), 1):
            noise = _ar1_noise(rng, (n, len(units)), params.noise_ar1)
            fluctuation = np.sqrt(params.snr) * signal / scale + noise
            data = np.zeros((*shape, n), dtype=np.float32)
            values = baseline[mask][None, :] * (1 + params.percent_signal / 100 * fluctuation)
            data[mask] = values.T.astype(np.float32)
            label = f"sub-{pid}_task-music_run-{run}"
            image = nib.Nifti1Image(data, affine)
            image.header.set_xyzt_units("mm", "sec")
            image.header.set_zooms((params.voxel_size_mm,) * 3 + (tr,))
            folder.mkdir(parents=True, exist_ok=True)
            nib.save(image, folder / f"{label}_bold.nii.gz")
            (folder / f"{label}_bold.json").write_text(
                json.dumps({"RepetitionTime": tr, "TaskName": "music"}, indent=2)
            )
            write_events(
                folder / f"{label}_events.tsv",
                [
                    {
                        "onset": round(params.baseline_s / tr) * tr,
                        "duration": durations[name],
                        "trial_type": "music",
                        "stim_file": f"stimuli/{name}",
                    }
                ],
            )

    pd.DataFrame(participant_rows).to_csv(root / "participants.tsv", sep="\t", index=False)
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "frisson simulated fMRI listening study",
                "BIDSVersion": "1.9.0",
                "DatasetType": "raw",
                "GeneratedBy": [{"Name": "frisson", "Version": __version__}],
            },
            indent=2,
        )
    )

    def save(array, path, dtype):
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(array.astype(dtype), affine), path)

    if params.atlas:
        atlas_dir = root / "derivatives" / "atlas"
        save(mask, atlas_dir / "brain_mask.nii.gz", np.uint8)
        save(atlas, atlas_dir / "rois_dseg.nii.gz", np.int16)
        pd.DataFrame(
            {"index": np.arange(1, len(layers) + 1), "name": [f"band-{n}" for n in layers]}
        ).to_csv(atlas_dir / "rois_dseg.tsv", sep="\t", index=False)
    truth_dir = root / "derivatives" / "ground_truth"
    save(planted, truth_dir / "planted_layer.nii.gz", np.int16)
    save(responsive, truth_dir / "responsive.nii.gz", np.uint8)
    voxels = pd.DataFrame(
        {
            "unit": units,
            "i": ijk[:, 0],
            "j": ijk[:, 1],
            "k": ijk[:, 2],
            "roi": atlas[mask],
            "responsive": responsive[mask],
            "layer_index": planted[mask],
            "planted_layer": [layers[p] for p in planted[mask]],
        }
    )
    voxels.to_csv(truth_dir / "voxels.tsv", sep="\t", index=False)
    np.savez_compressed(
        truth_dir / "weights.npz",
        **{
            f"layer-{name}": np.array(
                [weights[u] for u, p in zip(units, planted[mask], strict=True) if p == index]
            ).reshape(-1, next(iter(features.values()))[name].n_channels)
            for index, name in enumerate(layers)
        },
        **{
            f"units-{name}": np.array(
                [u for u, p in zip(units, planted[mask], strict=True) if p == index], dtype=str
            )
            for index, name in enumerate(layers)
        },
    )
    (truth_dir / "simulation.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "frisson_version": __version__,
                "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
                "encoder": {"name": enc.name, "config": enc.config()},
                "layers": list(layers),
                "hrf": "SPM canonical (frisson.models.encoding.canonical_hrf at the TR)",
                "stimuli": {name: {"duration_s": durations[name]} for name in names},
            },
            indent=2,
            default=str,
        )
    )
    return SimulatedFmri(
        root, layers, mask, planted, responsive, atlas, voxels, weights, features, params, seed
    )


def voxel_name(i: int, j: int, k: int) -> str:
    """The channel name of voxel ``(i, j, k)`` in :func:`frisson.study.load_bold` (``"i_j_k"``)."""
    return f"{int(i)}_{int(j)}_{int(k)}"


def stimulus_features_on_grid(layer: TimeSeries, duration_s: float, step_s: float) -> TimeSeries:
    """A layer's features on a grid of ``step_s`` over stimulus time, z-scored, zero at gaps.

    Sample ``m`` stands for ``[m * step_s - step_s / 2, m * step_s + step_s / 2]``
    (an area average of the layer's frames, :meth:`TimeSeries.sample_at`) for
    ``m * step_s <= duration_s``; each feature is then z-scored over the
    stimulus. Grid times the layer does not cover (before its first frame,
    after its last) and constant features become 0, the level of silence.

    Examples
    --------
    >>> layer = TimeSeries(np.arange(40.0), rate_hz=10.0, start_s=0.05)
    >>> grid = stimulus_features_on_grid(layer, 4.0, 1.0)
    >>> grid.rate_hz, grid.n_times, bool(abs(grid.values[1:4, 0].mean()) < 1e-9)
    (1.0, 5, True)

    """
    step_s = check_positive("step_s", step_s)
    times = np.arange(int(np.floor(duration_s / step_s + 1e-9)) + 1) * step_s
    values = layer.sample_at(times, width_s=step_s).astype(np.float64)
    finite = np.isfinite(values).all(axis=1)
    out = np.zeros_like(values)
    if finite.sum() >= 2:
        kept = values[finite]
        std = kept.std(axis=0)
        std_safe = np.where(std > 0, std, 1.0)
        out[finite] = np.where(std > 0, (kept - kept.mean(axis=0)) / std_safe, 0.0)
    return TimeSeries(out, 1.0 / step_s, names=layer.names)


def _convolve_columns(drive: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal convolution of every column with ``kernel``, cut to the input length."""
    from scipy.signal import fftconvolve

    return fftconvolve(drive, kernel[:, None], axes=0)[: drive.shape[0]]


def _ar1_noise(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> np.ndarray:
    """Stationary AR(1) noise of unit variance along axis 0."""
    from scipy.signal import lfilter

    white = rng.standard_normal(shape)
    white[0] /= np.sqrt(1 - phi**2) if phi else 1.0  # start in the stationary distribution
    return lfilter([np.sqrt(1 - phi**2)], [1.0, -phi], white, axis=0)


def _check_fmri_params(params: FmriParams) -> None:
    check_int("n_participants", params.n_participants, minimum=1)
    if len(params.volume_shape) != 3:
        raise ParameterError(f"volume_shape must be 3 numbers, got {params.volume_shape!r}.")
    for n in params.volume_shape:
        check_int("volume_shape", n, minimum=2)
    check_positive("voxel_size_mm", params.voxel_size_mm)
    check_positive("tr_s", params.tr_s)
    if not 0 <= params.responsive_fraction <= 1:
        raise ParameterError(
            f"responsive_fraction must lie in [0, 1], got {params.responsive_fraction!r}."
        )
    check_positive("snr", params.snr, allow_zero=True)
    if not 0 <= params.noise_ar1 < 1:
        raise ParameterError(f"noise_ar1 must lie in [0, 1), got {params.noise_ar1!r}.")
    check_positive("percent_signal", params.percent_signal)
    check_positive("baseline_s", params.baseline_s, allow_zero=True)
    check_positive("post_s", params.post_s, allow_zero=True)
