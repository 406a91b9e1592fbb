"""Simulated chills listening studies: physiology planted at what the simulator composed.

The structure-locked responses (skin-conductance responses, heart-rate
changes, chills, ratings) are planted at each stimulus' own section
boundaries, read from ``<stem>_boundaries.tsv`` beside the audio (what
:meth:`~frisson.simulate.SynthPiece.write` writes), never at what an analysis
detector finds: no encoder, no PCA, no latent transitions here. Everything
else a real recording holds is planted as a confound of a stated physical
size, drawn without reading the boundaries: SCRs shared by every listener of a
song, orienting responses at song onsets, tonic habituation and drift,
loudness-driven SCRs (computed from the audio's A-weighted level), participant
heterogeneity, spontaneous SCRs, motion artefacts, dropouts and missed or
ectopic beats. :data:`NULL_FAMILIES` holds effect-free studies that emphasise
one confound family each, for false-positive benchmarks.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_int, check_option, check_positive, rng_from_seed
from frisson._docs import fill_doc
from frisson._logging import logger
from frisson.errors import ParameterError
from frisson.simulate._bids import task_sidecars, write_dataset_files
from frisson.simulate._music import _stimulus_paths, boundaries_path, read_stimulus_boundaries
from frisson.timeseries import TimeSeries

__all__ = [
    "NULL_FAMILIES",
    "SCR_TAU_S",
    "SimulatedStudy",
    "StimulusTruth",
    "StudyParams",
    "null_params",
    "simulate_study",
]

#: SCR shape (Bateman function) time constants in seconds: rise, decay.
SCR_TAU_S = (0.75, 2.0)
#: Rate of the per-stimulus series (drive, loudness) in Hz.
_TRUTH_RATE_HZ = 10.0
#: Loudness surges: rises of the A-weighted level over 1 s of at least this many dB ...
_SURGE_MIN_DB = 6.0
#: ... at least this far apart (s).
_SURGE_SPACING_S = 3.0
#: Boundary strengths drawn (when the boundaries table has none) uniformly in this range.
_STRENGTH_RANGE = (0.4, 1.0)
#: SD of the Gaussian bump of each boundary in the drive (s).
_DRIVE_SD_S = 0.75

#: The layout section of a simulated chills study's README.
_README_LAYOUT = """- `participants.tsv`: one row per listener; `absorption` (described in
  `participants.json`).
- `sub-XX/beh/sub-XX_task-listening_events.tsv`: one row per stimulus presentation
  (`trial_type` music, `stim_file` relative to `stimuli/`) and per reported chill
  (`trial_type` chill). Times are seconds from the start of the run.
- `sub-XX/beh/sub-XX_task-listening_recording-physio_physio.tsv.gz` (+ `.json`):
  skin conductance (`eda`, uS) and photoplethysmogram (`ppg`) at the sidecar's
  `SamplingFrequency`, from `StartTime` (run time).
- `sub-XX/beh/sub-XX_task-listening_recording-ratings_physio.tsv.gz` (+ `.json`):
  continuous emotionality ratings at their own rate, when simulated.
- `sub-XX/beh/sub-XX_task-listening_beh.tsv`: post-listening ratings, one row per
  song heard (`stim_file`, `pleasure`, `arousal`, `familiarity`, 0-100), when simulated.
- `derivatives/ground_truth/`: what the simulator planted.
"""


@dataclass(frozen=True)
class StudyParams:
    """Settings of :func:`simulate_study` (all recorded in the ground truth).

    The defaults are a realistic study: the structure-locked effect plus every
    confound at a modest physiological size. :data:`NULL_FAMILIES` gives
    effect-free studies with one confound family emphasised. Amplitudes are SCR
    peak heights in uS; every participant-scaled amplitude is multiplied by the
    participant's gain (log-normal, mean 1) and a trial factor (log-normal,
    mean 1, log-sd ``trial_noise``).

    Attributes
    ----------
    n_participants : int
        Number of participants; each hears every stimulus once, in a random order.
    effect_size : float
        Scales every response to the music's structure (boundary-locked SCRs,
        heart-rate changes, chills, ratings); 0 is the null (no structure-locked
        response, confounds unchanged).
    physio_rate_hz : float
        Sampling rate of skin conductance and PPG.
    ratings_rate_hz : float or None
        Rate of continuous "emotionality" ratings; None writes no ratings.
    boundary_scr_us : float
        SCR at a section boundary of strength 1 at effect size 1 (uS).
    latency_s : (float, float)
        Range of the participants' response latencies (s, drawn uniformly);
        every planted SCR starts at its cause + latency + jitter.
    latency_jitter_s : float
        SD of the trial-to-trial jitter of every SCR's latency (s).
    trial_noise : float
        Log-sd of the trial-to-trial amplitude factor (mean 1).
    hr_change_bpm : (float, float)
        Range of the participants' heart-rate rise at a boundary of strength 1
        at effect size 1 (bpm).
    shared_scr_per_min : float
        Rate of SCRs shared by every listener of a song (per minute of music):
        drawn once per song from the seed and the stimulus name, the same
        stimulus times for every listener, each with their own latency.
    shared_scr_us : float
        Amplitude of a shared SCR (uS).
    onset_response_us : float
        Orienting SCR at each song onset (uS).
    habituation_us : float
        Tonic habituation over the session: the tonic level falls by this much
        (uS) from the first to the last sample, exponentially with time
        constant ``habituation_tau_s``.
    habituation_tau_s : float
        Time constant of the session habituation (s).
    song_habituation_us : float
        Within-song habituation: the tonic level rises by this much (uS) over
        the first 2 s of each song and decays with ``song_habituation_tau_s``.
    song_habituation_tau_s : float
        Time constant of the within-song decay (s).
    drift_us_per_min : float
        Slow random walk of the tonic level: its SD after one minute (uS).
    loudness_gain_us : float
        SCR (uS) per 10 dB surge of the song's A-weighted level
        (:func:`frisson.features.loudness`; surges = rises of >= 6 dB within 1 s,
        >= 3 s apart, capped at 30 dB).
    gain_sd : float
        Log-sd of the participants' response gains (log-normal, mean 1); the
        gain scales every planted SCR except spontaneous ones, and correlates
        (0.6) with the absorption score in ``participants.tsv``.
    spontaneous_per_min : (float, float)
        Range of the participants' rates of non-specific SCRs (per minute).
    spontaneous_us : (float, float)
        Range of the amplitudes of non-specific SCRs (uS, drawn uniformly).
    motion_per_min : float
        Rate of motion artefacts (0.3-1 s steps of 0.5-2 uS in EDA, bursts in PPG).
    missed_beat_rate : float
        Share of heart beats whose PPG pulse is missing (5 % of its height).
    ectopic_rate : float
        Share of beats that are premature (at 60 % of the interval, 60 % of the
        pulse height, followed by a compensatory pause).
    eda_noise_us : float
        Standard deviation of white measurement noise on skin conductance (uS).
    dropout_probability : float
        Chance that a trial contains a 1-3 s dropout (NaN in every channel).
    baseline_s, gap_s : float
        Silence before the first stimulus and between stimuli (s).
    spontaneous_chills_per_min : float
        Rate of chill reports unrelated to the music's structure (per minute of
        music, Poisson per listener and song, uniform in the song); default 0.
        With ``effect_size=0`` they are the null of the chill analyses: chills
        are reported, but at no composed moment.
    chill_scr_us : float
        SCR evoked by every reported chill (uS, scaled by the listener's gain
        and a trial factor), starting 0-1 s after the report; default 0.
    chill_hr_bpm : float
        Heart-rate rise at every reported chill (bpm, a Gaussian bump of sd 2 s
        peaking 2 s after the report); default 0.
    trait_scaling : float or None
        None (default): nothing. Otherwise every listener gets a ``trait`` score
        in ``participants.tsv`` (mean 50, sd 10, independent of the gains) and
        their structure-locked responses (boundary SCRs, heart-rate changes,
        chill chances, ratings) are multiplied by
        ``max(0, 1 + trait_scaling * z)`` with ``z`` the score's z value; 0 is
        the null (the score is written, it scales nothing).
    song_ratings : bool
        Write post-listening ratings per song (``sub-XX_task-listening_beh.tsv``:
        one row per song, ``stim_file`` and the 0-100 ratings ``pleasure``,
        ``arousal``, ``familiarity``). Each rating is 50 + 10 x (a listener
        bias + a song effect every listener shares + noise), all standard
        normal, clipped to 0-100; default False (no draws, so default studies
        keep their numbers).
    rating_scaling : float or None
        With ``song_ratings``: None or 0 (the null) plants nothing. Otherwise
        each trial gets a standard-normal ``z``; its structure-locked responses
        (boundary SCRs, heart-rate changes, chill chances) are multiplied by
        ``max(0, 1 + rating_scaling * z)`` and its ``pleasure`` rating gets
        ``+ 10 z`` (the trial's pleasure then predicts its responses). At 0,
        ``z`` enters the pleasure rating but scales nothing.
    own_songs_per_listener : int or None
        None (default): every listener hears every stimulus. ``k``: each
        listener hears ``k`` stimuli nobody else hears (the poster's listeners
        brought their own songs): listener ``i`` gets stimuli ``i*k`` to
        ``i*k + k - 1`` in name order, so ``n_participants * k`` stimuli are needed.

    Examples
    --------
    >>> StudyParams(n_participants=16).onset_response_us
    0.3
    >>> null_params("loudness").effect_size
    0.0

    """

    n_participants: int = 10
    effect_size: float = 1.0
    physio_rate_hz: float = 100.0
    ratings_rate_hz: float | None = 5.0
    boundary_scr_us: float = 0.5
    latency_s: tuple[float, float] = (1.0, 3.0)
    latency_jitter_s: float = 0.3
    trial_noise: float = 0.2
    hr_change_bpm: tuple[float, float] = (3.0, 8.0)
    shared_scr_per_min: float = 1.0
    shared_scr_us: float = 0.1
    onset_response_us: float = 0.3
    habituation_us: float = 0.5
    habituation_tau_s: float = 300.0
    song_habituation_us: float = 0.1
    song_habituation_tau_s: float = 15.0
    drift_us_per_min: float = 0.05
    loudness_gain_us: float = 0.03
    gain_sd: float = 0.3
    spontaneous_per_min: tuple[float, float] = (1.0, 3.0)
    spontaneous_us: tuple[float, float] = (0.05, 0.3)
    motion_per_min: float = 0.2
    missed_beat_rate: float = 0.01
    ectopic_rate: float = 0.005
    eda_noise_us: float = 0.01
    dropout_probability: float = 0.05
    baseline_s: float = 10.0
    gap_s: float = 20.0
    spontaneous_chills_per_min: float = 0.0
    chill_scr_us: float = 0.0
    chill_hr_bpm: float = 0.0
    trait_scaling: float | None = None
    song_ratings: bool = False
    rating_scaling: float | None = None
    own_songs_per_listener: int | None = None


def _null(**emphasised) -> StudyParams:
    return StudyParams(**{"effect_size": 0.0, "loudness_gain_us": 0.0, **emphasised})


#: Effect-free studies (``effect_size=0``), each emphasising one confound family
#: over the realistic defaults; ``"clean"`` has no confound but white noise and
#: spontaneous SCRs, ``"all"`` emphasises every family but loudness.
#:
#: Loudness-driven responses are off in every family but ``"loudness"``: in
#: pieces whose loudness changes at section boundaries (``synth_piece``
#: alternates loud and soft sections, as much real music does), a response to
#: loudness *is* a response at the section changes, so a study with it is not a
#: null for "skin conductance rises after transitions", nor for "the music
#: predicts the response". ``"loudness"`` is kept as a positive control: the
#: tests must detect it.
NULL_FAMILIES: dict[str, StudyParams] = {
    "clean": _null(
        shared_scr_per_min=0.0,
        onset_response_us=0.0,
        habituation_us=0.0,
        song_habituation_us=0.0,
        drift_us_per_min=0.0,
        loudness_gain_us=0.0,
        gain_sd=0.0,
        motion_per_min=0.0,
        missed_beat_rate=0.0,
        ectopic_rate=0.0,
        dropout_probability=0.0,
    ),
    "realistic": _null(),
    "shared_scrs": _null(shared_scr_per_min=3.0, shared_scr_us=0.3),
    "onset_habituation": _null(
        onset_response_us=1.0,
        habituation_us=1.5,
        song_habituation_us=0.4,
        drift_us_per_min=0.15,
    ),
    "loudness": _null(loudness_gain_us=0.2),
    "heterogeneity_artefacts": _null(
        gain_sd=0.8,
        spontaneous_per_min=(2.0, 6.0),
        motion_per_min=1.0,
        missed_beat_rate=0.05,
        ectopic_rate=0.03,
        dropout_probability=0.2,
    ),
    "all": _null(
        shared_scr_per_min=3.0,
        shared_scr_us=0.3,
        onset_response_us=1.0,
        habituation_us=1.5,
        song_habituation_us=0.4,
        drift_us_per_min=0.15,
        gain_sd=0.8,
        spontaneous_per_min=(2.0, 6.0),
        motion_per_min=1.0,
        missed_beat_rate=0.05,
        ectopic_rate=0.03,
        dropout_probability=0.2,
    ),
}


def null_params(family: str, **overrides) -> StudyParams:
    """The :data:`NULL_FAMILIES` entry ``family`` with ``overrides`` replaced.

    Parameters
    ----------
    family : str
        One of ``NULL_FAMILIES``: ``clean``, ``realistic``, ``shared_scrs``,
        ``onset_habituation``, ``loudness``, ``heterogeneity_artefacts``, ``all``.
    **overrides
        :class:`StudyParams` fields to change (e.g. ``n_participants=16``).

    Examples
    --------
    >>> p = null_params("shared_scrs", n_participants=16)
    >>> p.effect_size, p.shared_scr_per_min, p.n_participants
    (0.0, 3.0, 16)

    """
    check_option("family", family, NULL_FAMILIES)
    unknown = sorted(set(overrides) - set(StudyParams.__dataclass_fields__))
    if unknown:
        raise ParameterError(
            f"{unknown} are not StudyParams fields; choose from "
            f"{sorted(StudyParams.__dataclass_fields__)}."
        )
    return dataclasses.replace(NULL_FAMILIES[family], **overrides)


@dataclass(frozen=True)
class StimulusTruth:
    """What the simulator planted for one stimulus (shared by every listener).

    Attributes
    ----------
    name : str
        File name in ``stimuli/``.
    duration_s : float
        Stimulus duration.
    boundaries_s : ndarray
        Section boundaries (stimulus time, s) that evoke the structure-locked
        responses: those of ``boundaries_file`` inside the stimulus.
    boundary_strength : ndarray
        Strength (0-1) of each boundary: the file's ``strength`` column, else
        drawn uniformly in [0.4, 1] from the seed and the stimulus name.
    boundaries_file : str or None
        The table read, or None when the stimulus had none (no structure-locked
        responses).
    shared_scr_s : ndarray
        Stimulus times of the SCRs shared by every listener (drawn from the seed
        and the stimulus name, without reading the boundaries).
    loudness_surges_s, loudness_rise_db : ndarray
        Loudness surges of the audio (centre of the 1-s rise) and their size in dB.
    drive : TimeSeries
        The structure-locked drive at 10 Hz from stimulus onset: a Gaussian bump
        (sd 0.75 s) of height ``strength`` at each boundary (zero without
        boundaries); heart rate and ratings follow it.

    """

    name: str
    duration_s: float
    boundaries_s: np.ndarray
    boundary_strength: np.ndarray
    boundaries_file: str | None
    shared_scr_s: np.ndarray
    loudness_surges_s: np.ndarray
    loudness_rise_db: np.ndarray
    drive: TimeSeries = field(repr=False)


@dataclass(frozen=True)
class SimulatedStudy:
    """What :func:`simulate_study` wrote, with the arrays for checks.

    Attributes
    ----------
    root : Path
        The BIDS study folder.
    drives : dict of str to StimulusTruth
        Per stimulus name: the planted boundaries, shared SCRs, loudness surges
        and the structure-locked drive.
    recordings : dict of str to dict of str to ndarray
        Per participant, the float32 columns written to the physio files.
    truth : pandas.DataFrame
        Per-participant parameters (gain, latency_s, tonic_us, ...).
    scr_onsets : pandas.DataFrame
        Every planted SCR: participant, stimulus, onset_s (from stimulus onset),
        run_time_s, amplitude_us, cause (boundary, shared, onset, loudness,
        spontaneous), source_s (stimulus time of its cause; NaN when
        spontaneous) and evoked (cause is boundary).
    params : StudyParams
    seed : int
    beats : pandas.DataFrame
        Every heart beat: participant, run_time_s, kind (normal, missed, ectopic).
    artefacts : pandas.DataFrame
        Every motion artefact and dropout: participant, run_time_s, duration_s, kind.

    """

    root: Path
    drives: dict[str, StimulusTruth] = field(repr=False)
    recordings: dict[str, dict[str, np.ndarray]] = field(repr=False)
    truth: object = field(repr=False)
    scr_onsets: object = field(repr=False)
    params: StudyParams = field(default_factory=StudyParams)
    seed: int = 0
    beats: object = field(default=None, repr=False)
    artefacts: object = field(default=None, repr=False)


@fill_doc
def simulate_study(
    stimuli: str | os.PathLike | list[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    params: StudyParams | None = None,
    seed: int = 0,
    progress_bar: bool | None = None,
) -> SimulatedStudy:
    """Write a complete BIDS-style listening study with known ground truth.

    For every participant x stimulus: skin conductance = tonic level (session
    and within-song habituation, random-walk drift) + SCRs (Bateman shape,
    rise 0.75 s, decay 2 s) + white noise + motion artefacts + dropouts. The
    SCRs are caused by the stimulus' section boundaries (scaled by
    ``effect_size``), shared song moments, the song onset, loudness surges,
    and nothing (spontaneous); each starts at its cause + the participant's
    latency + jitter. PPG beats at a heart rate that rises after boundaries,
    with missed and ectopic beats; chill reports near the strongest
    boundaries; optional continuous ratings following the boundaries; an
    absorption score correlated with the gains. Boundaries come from
    ``<stem>_boundaries.tsv`` beside each audio file; a stimulus without one
    gets no structure-locked responses (a warning says so). See
    :class:`StudyParams` for the sizes.

    Written::

        stimuli/<name>, participants.tsv, dataset_description.json
        sub-XX/beh/sub-XX_task-listening_events.tsv          music + chill events
        sub-XX/beh/sub-XX_task-listening_recording-physio_physio.tsv.gz   eda (uS), ppg
        sub-XX/beh/sub-XX_task-listening_recording-ratings_physio.tsv.gz
        sub-XX/beh/sub-XX_task-listening_beh.tsv             post-listening ratings per song
        derivatives/ground_truth/simulation.json             params, seed, per stimulus
            boundaries.tsv, shared_scrs.tsv, loudness_surges.tsv (per stimulus)
            scr_onsets.tsv (every SCR and its cause), participants_truth.tsv,
            beats.tsv, artefacts.tsv, drive/<stem>_drive.tsv,
            song_ratings_truth.tsv (per trial: ratings, z, factor; with song_ratings)

    Parameters
    ----------
    stimuli : path or list of paths
        A folder of audio files or the files themselves (copied to ``stimuli/``).
    out_dir : path
        The study folder to create.
    params : StudyParams, optional
        Simulation settings (default :class:`StudyParams`).
    seed : int
        Seed of every random draw; the same seed gives the same study.
    %(progress_bar)s

    Returns
    -------
    SimulatedStudy

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from frisson.simulate import synth_piece
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = synth_piece(n_sections=3, section_s=(6, 6), rate_hz=8000).write(tmp / "s/a.wav")
    >>> sim = simulate_study(tmp / "s", tmp / "study", params=StudyParams(n_participants=2))
    >>> sim.drives["a.wav"].boundaries_s
    array([ 6., 12.])

    """
    from tqdm.auto import tqdm

    from frisson._logging import progress_enabled

    params = params or StudyParams()
    _check_study_params(params)
    rng = rng_from_seed(seed)
    show = progress_enabled(progress_bar)
    root = Path(out_dir)
    planted = _plant_stimuli(_stimulus_paths(stimuli), root, params, seed, show)
    names = list(planted)
    _check_own_songs(params, names)
    truth_rows, scr_rows, beat_rows, artefact_rows, participant_rows = [], [], [], [], []
    rating_rows: list[dict] = []
    recordings: dict[str, dict[str, np.ndarray]] = {}
    for index in tqdm(range(params.n_participants), desc="participants", disable=not show):
        pid = f"{index + 1:02d}"
        person = _draw_participant(rng, params)
        person.update(_draw_trait(rng, params))
        truth_rows.append({"participant": pid, **person})
        participant_rows.append(
            {"participant_id": f"sub-{pid}", "absorption": person["absorption"]}
            | ({"trait": person["trait"]} if "trait" in person else {})
        )
        order = _listening_order(rng, params, names, index)
        ratings = _draw_song_ratings(rng, params, order, seed)
        factors = {row["stim_file"]: row.pop("factor") for row in ratings}
        run = _simulate_run(rng, params, person, order, planted, factors)
        scr_rows += [{"participant": pid, **row} for row in run.scrs]
        beat_rows += [{"participant": pid, **row} for row in run.beats]
        artefact_rows += [{"participant": pid, **row} for row in run.artefacts]
        rating_rows += [
            {"participant": pid, **row, "factor": factors[row["stim_file"]]} for row in ratings
        ]
        recordings[pid] = _write_participant(root, pid, run.columns, run.events, params)
        if ratings:
            _write_song_ratings(root, pid, ratings)
    tables = _truth_tables(truth_rows, scr_rows, beat_rows, artefact_rows)
    if rating_rows:
        import pandas as pd

        tables["song_ratings_truth"] = pd.DataFrame(rating_rows)
    write_dataset_files(
        root,
        participant_rows,
        name="frisson simulated listening study",
        command="simulate",
        layout=_README_LAYOUT,
        sidecars=task_sidecars(
            "listening",
            "Listening to music while skin conductance, pulse and (optionally) continuous "
            "ratings are recorded; chills reported as events.",
            (),
        ),
    )
    _write_truth(root, params, seed, planted, tables)
    return SimulatedStudy(
        root,
        planted,
        recordings,
        tables["participants_truth"],
        tables["scr_onsets"],
        params,
        seed,
        tables["beats"],
        tables["artefacts"],
    )


def _check_study_params(params: StudyParams) -> None:
    check_int("n_participants", params.n_participants, minimum=1)
    check_positive("physio_rate_hz", params.physio_rate_hz)
    if params.ratings_rate_hz is not None:
        ratio = params.physio_rate_hz / check_positive("ratings_rate_hz", params.ratings_rate_hz)
        if abs(ratio - round(ratio)) > 1e-9:
            raise ParameterError(
                f"physio_rate_hz ({params.physio_rate_hz:g}) must be a whole multiple of "
                f"ratings_rate_hz ({params.ratings_rate_hz:g})."
            )
    for name in (
        "effect_size",
        "boundary_scr_us",
        "latency_jitter_s",
        "trial_noise",
        "shared_scr_per_min",
        "shared_scr_us",
        "onset_response_us",
        "habituation_us",
        "song_habituation_us",
        "drift_us_per_min",
        "loudness_gain_us",
        "gain_sd",
        "motion_per_min",
        "eda_noise_us",
        "baseline_s",
        "gap_s",
        "spontaneous_chills_per_min",
        "chill_scr_us",
        "chill_hr_bpm",
    ):
        check_positive(name, getattr(params, name), allow_zero=True)
    for name in ("trait_scaling", "rating_scaling"):
        value = getattr(params, name)
        if value is not None and not np.isfinite(value):
            raise ParameterError(f"{name} must be a finite number or None, got {value!r}.")
    if params.rating_scaling and not params.song_ratings:
        raise ParameterError(
            "rating_scaling plants through the post-listening ratings; set song_ratings=True."
        )
    if params.own_songs_per_listener is not None:
        check_int("own_songs_per_listener", params.own_songs_per_listener, minimum=1)
    check_positive("habituation_tau_s", params.habituation_tau_s)
    check_positive("song_habituation_tau_s", params.song_habituation_tau_s)
    for name in ("latency_s", "hr_change_bpm", "spontaneous_per_min", "spontaneous_us"):
        value = getattr(params, name)
        if len(value) != 2 or value[0] > value[1]:
            raise ParameterError(f"{name} must be a range (low, high), got {value!r}.")
        for v in value:
            check_positive(name, v, allow_zero=True)
    for name in ("missed_beat_rate", "ectopic_rate", "dropout_probability"):
        value = check_positive(name, getattr(params, name), allow_zero=True)
        if value > 1:
            raise ParameterError(f"{name} is a probability in [0, 1], got {value!r}.")


# ----------------------------------------------------------------- per stimulus
def _stimulus_rng(seed: int, name: str, stream: int) -> np.random.Generator:
    """A generator that depends only on the seed, the stimulus name and the stream."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), stream])


def _plant_stimuli(paths, root: Path, params, seed, show) -> dict[str, StimulusTruth]:
    """Read every stimulus once: boundaries, shared SCR times, loudness surges; copy the audio."""
    import shutil

    from tqdm.auto import tqdm

    from frisson.audio import load_audio

    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    planted = {}
    for path in tqdm(paths, desc="stimuli", disable=not show):
        audio = load_audio(path)
        name = path.name
        boundaries, strength, source = _planted_boundaries(path, audio.duration_s, seed)
        surges_s, rise_db = _loudness_surges(audio)
        planted[name] = StimulusTruth(
            name=name,
            duration_s=audio.duration_s,
            boundaries_s=boundaries,
            boundary_strength=strength,
            boundaries_file=source,
            shared_scr_s=_shared_times(params, seed, name, audio.duration_s),
            loudness_surges_s=surges_s,
            loudness_rise_db=rise_db,
            drive=_boundary_drive(boundaries, strength, audio.duration_s),
        )
        if path.resolve() != (root / "stimuli" / name).resolve():
            shutil.copy2(path, root / "stimuli" / name)
    return planted


def _planted_boundaries(path: Path, duration_s: float, seed: int):
    """Boundaries (inside the stimulus) and strengths from ``<stem>_boundaries.tsv``."""
    table = boundaries_path(path)
    if not table.is_file():
        logger.warning(
            "%s: no boundaries table %s, so this stimulus gets no structure-locked responses "
            "(effect_size does not reach it). Write its section boundaries there (TSV, column "
            "time_s in seconds, optional strength in [0, 1]), as SynthPiece.write does.",
            path,
            table.name,
        )
        return np.zeros(0), np.zeros(0), None
    times, strength = read_stimulus_boundaries(table)
    if strength is None:
        low, high = _STRENGTH_RANGE
        strength = _stimulus_rng(seed, path.name, 1).uniform(low, high, times.size)
    inside = (times > 0) & (times < duration_s)
    if not inside.all():
        logger.warning(
            "%s: %d boundary time(s) outside the stimulus (0-%.2f s) ignored.",
            table,
            int((~inside).sum()),
            duration_s,
        )
    return times[inside], strength[inside], str(table)


def _shared_times(params: StudyParams, seed: int, name: str, duration_s: float) -> np.ndarray:
    """Song moments that evoke an SCR in every listener: Poisson, from seed and name only."""
    rng = _stimulus_rng(seed, name, 0)
    n = rng.poisson(params.shared_scr_per_min * duration_s / 60.0)
    return np.sort(rng.uniform(0.0, duration_s, n))


def _loudness_surges(audio) -> tuple[np.ndarray, np.ndarray]:
    """Rises of the A-weighted level of >= 6 dB within 1 s (>= 3 s apart): times and sizes.

    Kept per audio content (SHA-256) for the process: studies simulated from the
    same stimuli (a null-study benchmark) compute each stimulus' surges once.
    """
    if audio.sha256 not in _SURGES:
        _SURGES[audio.sha256] = _find_loudness_surges(audio)
    times, rises = _SURGES[audio.sha256]
    return times.copy(), rises.copy()


_SURGES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _find_loudness_surges(audio) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks

    from frisson.features import loudness

    level = loudness(audio, rate_hz=_TRUTH_RATE_HZ)
    half = round(0.5 * _TRUTH_RATE_HZ)
    smooth = uniform_filter1d(level.values[:, 0], size=2 * half + 1, mode="nearest")
    padded = np.pad(smooth, half, mode="edge")
    rise = padded[2 * half :] - padded[: -2 * half]  # level 0.5 s later minus 0.5 s earlier
    peaks, _ = find_peaks(
        rise, height=_SURGE_MIN_DB, distance=max(1, round(_SURGE_SPACING_S * _TRUTH_RATE_HZ))
    )
    return level.times_s[peaks], rise[peaks]


def _boundary_drive(boundaries_s, strength, duration_s: float) -> TimeSeries:
    """Gaussian bumps (sd 0.75 s, height = strength) at the boundaries, 10 Hz from 0 s."""
    times = np.arange(int(np.floor(duration_s * _TRUTH_RATE_HZ)) + 1) / _TRUTH_RATE_HZ
    drive = np.zeros_like(times)
    for t, s in zip(boundaries_s, strength, strict=True):
        drive += s * np.exp(-0.5 * ((times - t) / _DRIVE_SD_S) ** 2)
    return TimeSeries(drive, _TRUTH_RATE_HZ, names=["drive"])


# ----------------------------------------------------------------- per participant
def _draw_participant(rng: np.random.Generator, params: StudyParams) -> dict[str, float]:
    absorption_z = float(rng.standard_normal())
    own_z = float(rng.standard_normal())
    sd = params.gain_sd
    return {
        "absorption": float(np.clip(round(17 + 6 * absorption_z), 0, 34)),
        # Log-normal with mean 1 and log-sd gain_sd, correlated 0.6 with absorption.
        "gain": float(np.exp(sd * (0.6 * absorption_z + 0.8 * own_z) - sd**2 / 2)),
        "latency_s": float(rng.uniform(*params.latency_s)),
        "tonic_us": float(rng.uniform(2.0, 10.0)),
        "spontaneous_per_min": float(rng.uniform(*params.spontaneous_per_min)),
        "hr_bpm": float(rng.uniform(60.0, 80.0)),
        "hr_gain_bpm": float(rng.uniform(*params.hr_change_bpm)),
    }


@dataclass
class _Run:
    """One participant's simulated run."""

    columns: dict[str, np.ndarray]
    events: list[dict]
    scrs: list[dict]
    beats: list[dict]
    artefacts: list[dict]


def _simulate_run(rng, params: StudyParams, person, order, planted, factors=None) -> _Run:
    """One participant's run: all stimuli in ``order`` with gaps.

    ``factors`` (per stimulus) scale the trial's structure-locked responses
    (``rating_scaling``); default 1.
    """
    factors = factors or {}
    rate = params.physio_rate_hz
    onsets, t = {}, params.baseline_s
    for name in order:
        onsets[name] = t
        t += planted[name].duration_s + params.gap_s
    total_s = t - params.gap_s + params.baseline_s
    n = round(total_s * rate)
    times = np.arange(n) / rate
    events = [
        {
            "onset": onsets[name],
            "duration": planted[name].duration_s,
            "trial_type": "music",
            "stim_file": name,
        }
        for name in order
    ]
    scrs = _planted_scrs(rng, params, person, order, onsets, planted, factors)
    events += _chills(rng, params, person, order, onsets, planted, factors)
    events += _spontaneous_chills(rng, params, order, onsets, planted)
    scrs += _chill_scrs(rng, params, person, events, onsets)
    scrs += _spontaneous_scrs(rng, person, params, order, onsets, planted, total_s)
    eda = _skin_conductance(rng, params, person, scrs, order, onsets, times)
    drive_run = np.zeros(n)
    listening = np.zeros(n, dtype=bool)
    for name in order:
        inside = (times >= onsets[name]) & (times <= onsets[name] + planted[name].duration_s)
        listening |= inside
        drive = planted[name].drive
        drive_run[inside] = factors.get(name, 1.0) * np.interp(
            times[inside] - onsets[name], drive.times_s, drive.values[:, 0]
        )
    # Heart rate follows the structure-locked drive, delayed by the participant's latency.
    lag = min(n, round(person["latency_s"] * rate))
    delayed = np.r_[np.zeros(lag), drive_run[: n - lag]]
    effect = params.effect_size * person.get("trait_factor", 1.0)
    hr = (
        person["hr_bpm"]
        + effect * person["hr_gain_bpm"] * person["gain"] * delayed
        + 2.0 * np.sin(2 * np.pi * 0.25 * times)  # respiratory sinus arrhythmia
        + _chill_heart_rate(params, person, events, times)
    )
    ppg, beats = _ppg(rng, params, hr, rate)
    artefacts = _motion(rng, params, eda, ppg, total_s)
    columns = {"eda": eda, "ppg": ppg}
    if params.ratings_rate_hz is not None:
        columns["emotionality"] = _ratings(
            rng,
            effect * person["gain"],
            drive_run,
            listening,
            rate,
            params.ratings_rate_hz,
        )
    artefacts += _dropouts(rng, params, order, onsets, planted, eda, ppg)
    events.sort(key=lambda row: row["onset"])
    return _Run(columns, events, scrs, beats, artefacts)


def _trial_factor(rng: np.random.Generator, params: StudyParams) -> float:
    """Log-normal amplitude factor with mean 1."""
    s = params.trial_noise
    return float(rng.lognormal(-(s**2) / 2, s)) if s > 0 else 1.0


def _planted_scrs(
    rng, params: StudyParams, person, order, onsets, planted, factors=None
) -> list[dict]:
    """SCRs to song onsets, boundaries, shared moments and loudness surges, stimulus by stimulus."""
    gain, scaled = person["gain"], params.effect_size * person.get("trait_factor", 1.0)
    scrs = []
    for name in order:
        truth = planted[name]
        effect = scaled * (factors or {}).get(name, 1.0)
        causes = [("onset", 0.0, params.onset_response_us)]
        if effect > 0:
            causes += [
                ("boundary", float(b), effect * params.boundary_scr_us * float(s))
                for b, s in zip(truth.boundaries_s, truth.boundary_strength, strict=True)
            ]
        causes += [("shared", float(t), params.shared_scr_us) for t in truth.shared_scr_s]
        causes += [
            ("loudness", float(t), params.loudness_gain_us * min(float(db), 30.0) / 10.0)
            for t, db in zip(truth.loudness_surges_s, truth.loudness_rise_db, strict=True)
        ]
        for cause, source_s, size_us in causes:
            if size_us <= 0:
                continue
            latency = person["latency_s"] + float(rng.normal(0.0, params.latency_jitter_s))
            amplitude = size_us * gain * _trial_factor(rng, params)
            run_time = onsets[name] + source_s + max(0.0, latency)
            scrs.append(_scr_row(name, run_time, onsets[name], amplitude, cause, source_s))
    return scrs


def _chills(rng, params: StudyParams, person, order, onsets, planted, factors=None) -> list[dict]:
    """Chill reports near the strongest boundaries (strength > 0.6), more likely when larger."""
    events = []
    for name in order:
        truth = planted[name]
        for b, s in zip(truth.boundaries_s, truth.boundary_strength, strict=True):
            effect = params.effect_size * person.get("trait_factor", 1.0)
            effect *= (factors or {}).get(name, 1.0)
            chance = min(0.9, 0.6 * effect * person["gain"] * s)
            if s > 0.6 and rng.random() < chance:
                onset_s = min(
                    onsets[name] + b + person["latency_s"] + float(rng.uniform(0.0, 1.0)),
                    onsets[name] + truth.duration_s,
                )
                events.append(
                    {"onset": onset_s, "duration": 0.0, "trial_type": "chill", "stim_file": None}
                )
    return events


def _check_own_songs(params: StudyParams, names: list[str]) -> None:
    k = params.own_songs_per_listener
    if k is None:
        return
    if len(names) < params.n_participants * k:
        raise ParameterError(
            f"own_songs_per_listener = {k} with {params.n_participants} participants needs "
            f"{params.n_participants * k} stimuli, got {len(names)}; give more stimuli or "
            "lower own_songs_per_listener."
        )


def _listening_order(rng: np.random.Generator, params: StudyParams, names, index: int):
    """The stimuli listener ``index`` hears, in a random order (their own with ``own_songs``)."""
    k = params.own_songs_per_listener
    if k is not None:
        names = sorted(names)[index * k : (index + 1) * k]
    return [names[i] for i in rng.permutation(len(names))]


#: Post-listening ratings written with ``song_ratings`` (0-100); ``pleasure`` carries the plant.
SONG_RATINGS = ("pleasure", "arousal", "familiarity")


def _draw_song_ratings(rng: np.random.Generator, params: StudyParams, order, seed: int):
    """Per song heard: ratings (listener bias + song effect + noise) and the trial's factor.

    Drawn only with ``song_ratings``, so default studies keep their draws.
    """
    if not params.song_ratings:
        return []
    bias = rng.standard_normal(len(SONG_RATINGS))
    scaling = params.rating_scaling or 0.0
    rows = []
    for name in order:
        song = _stimulus_rng(seed, name, 2).standard_normal(len(SONG_RATINGS))
        z = float(rng.standard_normal())
        values = 50.0 + 10.0 * (bias + song + rng.standard_normal(len(SONG_RATINGS)))
        values[0] += 10.0 * z
        row = {"stim_file": name}
        row.update(
            {r: int(np.clip(round(v), 0, 100)) for r, v in zip(SONG_RATINGS, values, strict=True)}
        )
        row["z"] = z
        row["factor"] = max(0.0, 1.0 + scaling * z)
        rows.append(row)
    return rows


def _write_song_ratings(root: Path, pid: str, ratings: list[dict]) -> None:
    """``sub-XX_task-listening_beh.tsv``: one row per song heard (stim_file + ratings)."""
    import pandas as pd

    folder = root / f"sub-{pid}" / "beh"
    table = pd.DataFrame(ratings, columns=["stim_file", *SONG_RATINGS])
    table.to_csv(folder / f"sub-{pid}_task-listening_beh.tsv", sep="\t", index=False)


def _draw_trait(rng: np.random.Generator, params: StudyParams) -> dict[str, float]:
    """A ``trait`` score (mean 50, sd 10) and the factor it puts on the structure-locked effect.

    Drawn only when ``trait_scaling`` is set, so default studies keep their draws.
    """
    if params.trait_scaling is None:
        return {}
    z = float(rng.standard_normal())
    return {
        "trait": round(50.0 + 10.0 * z, 1),
        "trait_factor": max(0.0, 1 + params.trait_scaling * z),
    }


def _spontaneous_chills(rng, params: StudyParams, order, onsets, planted) -> list[dict]:
    """Chill reports at random moments of each song (Poisson), unrelated to its structure."""
    events = []
    if params.spontaneous_chills_per_min <= 0:
        return events
    for name in order:
        duration = planted[name].duration_s
        n = rng.poisson(params.spontaneous_chills_per_min * duration / 60.0)
        for t in np.sort(rng.uniform(0.0, duration, n)):
            events.append(
                {
                    "onset": onsets[name] + float(t),
                    "duration": 0.0,
                    "trial_type": "chill",
                    "stim_file": None,
                }
            )
    return events


def _chill_scrs(rng, params: StudyParams, person, events, onsets) -> list[dict]:
    """An SCR 0-1 s after every chill report (``chill_scr_us``, scaled by the gain)."""
    if params.chill_scr_us <= 0:
        return []
    starts = sorted(onsets.items(), key=lambda item: item[1])
    rows = []
    for event in events:
        if event["trial_type"] != "chill":
            continue
        name, onset = next((n, o) for n, o in reversed(starts) if o <= event["onset"])
        amplitude = params.chill_scr_us * person["gain"] * _trial_factor(rng, params)
        run_time = event["onset"] + float(rng.uniform(0.0, 1.0))
        rows.append(_scr_row(name, run_time, onset, amplitude, "chill", event["onset"] - onset))
    return rows


def _chill_heart_rate(params: StudyParams, person, events, times: np.ndarray) -> np.ndarray:
    """Heart-rate bumps (sd 2 s) peaking 2 s after each chill report, ``chill_hr_bpm`` high."""
    out = np.zeros(times.size)
    if params.chill_hr_bpm <= 0:
        return out
    for event in events:
        if event["trial_type"] == "chill":
            peak = event["onset"] + 2.0
            near = np.abs(times - peak) < 8.0
            out[near] += (
                params.chill_hr_bpm
                * person["gain"]
                * np.exp(-0.5 * ((times[near] - peak) / 2.0) ** 2)
            )
    return out


def _spontaneous_scrs(rng, person, params, order, onsets, planted, total_s) -> list[dict]:
    """Non-specific SCRs over the whole run (Poisson), independent of the music."""
    rows = []
    n = rng.poisson(person["spontaneous_per_min"] * total_s / 60)
    for run_time in np.sort(rng.uniform(0, total_s, n)):
        stimulus = next(
            (s for s in order if onsets[s] <= run_time <= onsets[s] + planted[s].duration_s),
            None,
        )
        onset = onsets[stimulus] if stimulus else np.nan
        amplitude = float(rng.uniform(*params.spontaneous_us))
        rows.append(_scr_row(stimulus, float(run_time), onset, amplitude, "spontaneous", np.nan))
    return rows


def _scr_row(stimulus, run_time, onset, amplitude, cause, source_s) -> dict:
    return {
        "stimulus": stimulus,
        "onset_s": run_time - onset,
        "run_time_s": run_time,
        "amplitude_us": amplitude,
        "cause": cause,
        "source_s": source_s,
        "evoked": cause == "boundary",
    }


def _bateman(rate_hz: float, rise_s: float = SCR_TAU_S[0], decay_s: float = SCR_TAU_S[1]):
    """Difference of exponentials from 0 s, peak 1."""
    t = np.arange(int(12 * decay_s * rate_hz)) / rate_hz
    shape = np.exp(-t / decay_s) - np.exp(-t / rise_s)
    return shape / shape.max()


def _skin_conductance(rng, params: StudyParams, person, scrs, order, onsets, times):
    """Tonic level (habituation, drift) + SCRs + white noise, in uS."""
    from scipy.signal import fftconvolve

    rate, n = params.physio_rate_hz, times.size
    impulses = np.zeros(n)
    for row in scrs:
        index = round(row["run_time_s"] * rate)
        if 0 <= index < n:
            impulses[index] += row["amplitude_us"]
    phasic = fftconvolve(impulses, _bateman(rate))[:n]
    # Session habituation: from +habituation_us at the first sample to 0 at the last.
    tau, end = params.habituation_tau_s, max(times[-1], 1.0 / rate)
    decay = (np.exp(-times / tau) - np.exp(-end / tau)) / (1 - np.exp(-end / tau))
    tonic = person["tonic_us"] + params.habituation_us * decay
    if params.song_habituation_us > 0:  # a slow rise (2 s) at each song onset, then decay
        song = np.zeros(n)
        for name in order:
            song[min(n - 1, round(onsets[name] * rate))] += params.song_habituation_us
        kernel = _bateman(rate, 2.0, params.song_habituation_tau_s)
        tonic += fftconvolve(song, kernel)[:n]
    if params.drift_us_per_min > 0:  # random walk with SD drift_us_per_min after 1 min
        step_sd = params.drift_us_per_min / np.sqrt(60.0 * rate)
        tonic += np.cumsum(rng.normal(0.0, step_sd, n))
    return tonic + phasic + rng.normal(0.0, params.eda_noise_us, n)


def _ppg(rng, params: StudyParams, hr_bpm: np.ndarray, rate: float):
    """PPG pulses at the beats of ``hr_bpm``, with missed and ectopic beats; and the beats."""
    n = hr_bpm.size
    phase = np.cumsum(hr_bpm / 60.0) / rate
    beat_index = np.r_[0, np.flatnonzero(np.diff(np.floor(phase))) + 1]
    beat_s = beat_index / rate
    kinds = np.full(beat_s.size, "normal", dtype=object)
    height = np.ones(beat_s.size)
    draws = rng.random((2, beat_s.size))
    ectopic = (draws[0] < params.ectopic_rate) & (np.arange(beat_s.size) > 0)
    ectopic[-1:] = False
    previous = np.r_[0.0, beat_s[:-1]]
    beat_s = np.where(ectopic, previous + 0.6 * (beat_s - previous), beat_s)
    kinds[ectopic], height[ectopic] = "ectopic", 0.6
    missed = (draws[1] < params.missed_beat_rate) & ~ectopic
    kinds[missed], height[missed] = "missed", 0.05
    times = np.arange(n) / rate
    k = np.clip(np.searchsorted(beat_s, times, side="right") - 1, 0, beat_s.size - 1)
    intervals = np.diff(beat_s)
    interval = np.r_[intervals, intervals[-1] if intervals.size else 1.0][k]
    u = (times - beat_s[k]) / interval
    ppg = height[k] * (np.exp(-(((u - 0.2) / 0.08) ** 2)) + 0.4 * np.exp(-(((u - 0.5) / 0.1) ** 2)))
    ppg += rng.normal(0.0, 0.02, n)
    beats = [
        {"run_time_s": float(t), "kind": str(kind)} for t, kind in zip(beat_s, kinds, strict=True)
    ]
    return ppg, beats


def _motion(rng, params: StudyParams, eda, ppg, total_s: float) -> list[dict]:
    """Motion artefacts: brief steps in EDA, bursts in PPG (in place); their rows."""
    rate, n, rows = params.physio_rate_hz, eda.size, []
    for _ in range(rng.poisson(params.motion_per_min * total_s / 60)):
        start = int(rng.integers(0, n))
        stop = min(n, start + int(rng.uniform(0.3, 1.0) * rate))
        eda[start:stop] += rng.uniform(0.5, 2.0)
        ppg[start:stop] += rng.normal(0.0, 1.0, stop - start)
        rows.append(
            {"run_time_s": start / rate, "duration_s": (stop - start) / rate, "kind": "motion"}
        )
    return rows


def _dropouts(rng, params: StudyParams, order, onsets, planted, eda, ppg) -> list[dict]:
    """1-3 s of NaN in every physiology channel in some trials (in place); their rows."""
    rate, rows = params.physio_rate_hz, []
    for name in order:
        if rng.random() < params.dropout_probability:
            duration = planted[name].duration_s
            start_s = onsets[name] + rng.uniform(0, max(0.0, duration - 3.0))
            lo, hi = int(start_s * rate), int((start_s + rng.uniform(1.0, 3.0)) * rate)
            eda[lo:hi] = np.nan
            ppg[lo:hi] = np.nan
            rows.append(
                {"run_time_s": lo / rate, "duration_s": (hi - lo) / rate, "kind": "dropout"}
            )
    return rows


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


# ----------------------------------------------------------------- writing
def _write_participant(root: Path, pid: str, columns, events, params) -> dict[str, np.ndarray]:
    """Write a participant's events, physiology and ratings; return the float32 columns."""
    from frisson.study import write_events, write_physio

    label = f"sub-{pid}_task-listening"
    folder = root / f"sub-{pid}" / "beh"
    write_events(folder / f"{label}_events.tsv", events)
    physio = {"eda": columns["eda"], "ppg": columns["ppg"]}
    write_physio(
        folder / f"{label}_recording-physio_physio.tsv.gz",
        physio,
        rate_hz=params.physio_rate_hz,
        units={"eda": "uS", "ppg": "a.u."},
        descriptions={
            "eda": "Skin conductance (simulated).",
            "ppg": "Photoplethysmogram (simulated), arbitrary units.",
        },
    )
    recording = {k: v.astype(np.float32) for k, v in physio.items()}
    if "emotionality" in columns:
        write_physio(
            folder / f"{label}_recording-ratings_physio.tsv.gz",
            {"emotionality": columns["emotionality"]},
            rate_hz=params.ratings_rate_hz,
            units={"emotionality": "a.u."},
            descriptions={
                "emotionality": "Continuous emotionality rating (simulated), 0-1; n/a "
                "between stimuli."
            },
        )
        recording["emotionality"] = columns["emotionality"].astype(np.float32)
    return recording


def _truth_tables(truth_rows, scr_rows, beat_rows, artefact_rows) -> dict:
    import pandas as pd

    scr_columns = ["participant", "stimulus", "onset_s", "run_time_s", "amplitude_us"]
    scr_columns += ["cause", "source_s", "evoked"]
    return {
        "participants_truth": pd.DataFrame(truth_rows),
        "scr_onsets": pd.DataFrame(scr_rows, columns=scr_columns),
        "beats": pd.DataFrame(beat_rows, columns=["participant", "run_time_s", "kind"]),
        "artefacts": pd.DataFrame(
            artefact_rows, columns=["participant", "run_time_s", "duration_s", "kind"]
        ),
    }


def _per_stimulus_table(planted, columns) -> object:
    import pandas as pd

    rows = [
        {"stimulus": name, **dict(zip(columns, values, strict=True))}
        for name, truth in planted.items()
        for values in zip(*(getattr(truth, a) for a in columns.values()), strict=True)
    ]
    return pd.DataFrame(rows, columns=["stimulus", *columns])


def _write_truth(root: Path, params: StudyParams, seed: int, planted, tables) -> None:
    """``derivatives/ground_truth/``: every planted cause, SCR, beat, artefact and parameter."""
    import json

    from frisson import __version__

    truth_dir = root / "derivatives" / "ground_truth"
    (truth_dir / "drive").mkdir(parents=True, exist_ok=True)
    for name, truth in planted.items():
        truth.drive.to_frame().to_csv(
            truth_dir / "drive" / f"{Path(name).stem}_drive.tsv", sep="\t", index=False
        )
    per_stimulus = {
        "boundaries": {"time_s": "boundaries_s", "strength": "boundary_strength"},
        "shared_scrs": {"time_s": "shared_scr_s"},
        "loudness_surges": {"time_s": "loudness_surges_s", "rise_db": "loudness_rise_db"},
    }
    for file, columns in per_stimulus.items():
        _per_stimulus_table(planted, columns).to_csv(
            truth_dir / f"{file}.tsv", sep="\t", index=False, float_format="%.6f"
        )
    for file, table in tables.items():
        table.to_csv(truth_dir / f"{file}.tsv", sep="\t", index=False, float_format="%.6f")
    (truth_dir / "simulation.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "frisson_version": __version__,
                "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
                "units": _PARAM_UNITS,
                "scr_tau_s": SCR_TAU_S,
                "loudness_surges": {"min_rise_db": _SURGE_MIN_DB, "spacing_s": _SURGE_SPACING_S},
                "stimuli": {
                    name: {
                        "duration_s": t.duration_s,
                        "boundaries_file": t.boundaries_file,
                        "boundaries_s": t.boundaries_s.tolist(),
                        "boundary_strength": t.boundary_strength.tolist(),
                        "shared_scr_s": t.shared_scr_s.tolist(),
                        "loudness_surges_s": t.loudness_surges_s.tolist(),
                        "loudness_rise_db": t.loudness_rise_db.tolist(),
                    }
                    for name, t in planted.items()
                },
            },
            indent=2,
        )
    )


_PARAM_UNITS = {
    "physio_rate_hz": "Hz",
    "ratings_rate_hz": "Hz",
    "boundary_scr_us": "uS",
    "latency_s": "s",
    "latency_jitter_s": "s",
    "trial_noise": "log-sd",
    "hr_change_bpm": "bpm",
    "shared_scr_per_min": "per minute of music",
    "shared_scr_us": "uS",
    "onset_response_us": "uS",
    "habituation_us": "uS",
    "habituation_tau_s": "s",
    "song_habituation_us": "uS",
    "song_habituation_tau_s": "s",
    "drift_us_per_min": "uS after 1 min",
    "loudness_gain_us": "uS per 10 dB surge",
    "gain_sd": "log-sd",
    "spontaneous_per_min": "per minute",
    "spontaneous_us": "uS",
    "motion_per_min": "per minute",
    "missed_beat_rate": "share of beats",
    "ectopic_rate": "share of beats",
    "eda_noise_us": "uS",
    "dropout_probability": "per trial",
    "baseline_s": "s",
    "gap_s": "s",
    "spontaneous_chills_per_min": "per minute of music",
    "chill_scr_us": "uS",
    "chill_hr_bpm": "bpm",
    "trait_scaling": "factor per sd of the trait score",
    "song_ratings": "post-listening ratings written",
    "rating_scaling": "factor per sd of the trial's pleasure deviation",
    "own_songs_per_listener": "stimuli per listener, heard by nobody else",
}
