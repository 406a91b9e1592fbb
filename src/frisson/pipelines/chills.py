"""The whole chills study on a study folder: ``frisson run study.toml`` and ``frisson demo``.

Steps, each cached under ``<output>/cache/`` so a rerun recomputes only what
changed (a step's cache key hashes its inputs' content and its settings):

1. **embedding**: every stimulus through the encoder (the layer analysed).
2. **latent**: per stimulus, sliding mean, within-song PCA, clusters,
   transitions (:func:`frisson.pipeline.analyze_song`).
3. **physiology**: per participant x stimulus, skin conductance normalised per
   trial and linearly detrended (for epochs and ISC) and the filtered,
   normalised phasic target (for the CNN).
4. **epochs**: skin conductance around latent transitions (by default the
   tested ones, ``tested_novelty``: songs whose segmentation does not beat its
   null give no epochs) vs pseudo-transitions
   drawn once per song like the transitions (outside the song-onset window),
   compared at the transitions' positions in the song (a position trend fitted
   to the controls); songs are the random factor: sign flips over songs of the per-song mean
   difference, a summary effect with its CI and a cluster test over epoch time
   (:func:`frisson.events.song_level_test`).
5. **isc**: inter-subject correlation of skin conductance per stimulus, in
   sliding windows, and near transitions.
6. **cnn**: the chills CNN and its baselines (ridge, acoustic features,
   mismatched songs), scored per song on participants AND songs held out of
   training (the headline), and on held-out participants of seen songs (a
   memorisation ceiling); one-sided per-song p; over songs, a sign-flip test
   with songs as the random factor (``p``, primary) and Fisher's combined p.

The report (tables, figures, ``report.html``) is written by
:func:`frisson.report.study_report.write_study_report` from the results.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._docs import fill_doc
from frisson._logging import logger, progress_enabled
from frisson.distributed import check_scheduler, open_client
from frisson.encoders import DEFAULT_ENCODER
from frisson.errors import DataError, ParameterError
from frisson.pipelines._cache import StepCache, file_key
from frisson.pipelines._config import check_output_folder, log_study_problems, read_config
from frisson.structure import DEFAULT_TRANSITIONS

if TYPE_CHECKING:
    from frisson.events import SongLevelTest
    from frisson.models import Evaluation
    from frisson.pipelines.song import SongAnalysis
    from frisson.timeseries import TimeSeries

__all__ = ["RunConfig", "StudyResults", "run_study"]

ANALYSES = ("latent", "epochs", "isc", "cnn", "chills", "heart", "individual")
#: What runs by default; ``chills``, ``heart``, ``individual`` are opt-in (pipelines._beyond).
DEFAULT_ANALYSES = ANALYSES[:4]
#: Transition detectors of :func:`~frisson.pipelines.song.analyze_song` a run can lock to.
TRANSITION_METHODS = (DEFAULT_TRANSITIONS, "pc1_variance", "foote_novelty")
#: The predictors of the ``cnn`` analysis: the chills CNN on the embedding, delayed
#: ridge on the same embedding, the CNN on acoustic features. The first one listed
#: is the main model (its held-out row is the headline and gets the control).
MODELS = {
    "cnn": "cnn",
    "ridge": "ridge (same embedding)",
    "acoustic": "cnn (acoustic features)",
}


@cache
def cnn_param_names() -> tuple[str, ...]:
    """The settings a ``[cnn]`` table may hold: :class:`~frisson.models.ChillsCNN`'s parameters."""
    from frisson.models.cnn import ChillsCNN

    names = inspect.signature(ChillsCNN.__init__).parameters
    return tuple(n for n in names if n not in ("self", "progress_bar"))


@dataclass(frozen=True)
class RunConfig:
    """Settings of :func:`run_study`, read from a TOML file by :meth:`from_toml`.

    Attributes
    ----------
    study : Path
        The BIDS-style study folder.
    output : Path
        Where tables, figures, the report and the cache go.
    encoder : str
        Encoder name (default ``musicnn-msd``, the offline pretrained default).
    layer : str or None
        Layer analysed (default: the encoder's default layer).
    encoder_params : dict
        Settings passed to the encoder (e.g. ``{"patch_hop_s": 0.5}``).
    analyses : tuple of str
        Which of ``latent``, ``epochs``, ``isc``, ``cnn`` (the default) and the
        opt-in ``chills``, ``heart``, ``individual`` to run.
    window_frames, hop_frames : int
        Sliding mean of the latent (default 100 and 4 frames... of the layer's frames).
    response_rate_hz : float
        Rate of the responses used for epochs and ISC.
    decomposition : str
        Tonic/phasic method of :func:`frisson.physio.eda.decompose` for the CNN target.
    epoch_window_s : (float, float)
        Epoch window around transitions.
    n_permutations : int
        Cluster test permutations.
    isc_window_s, isc_hop_s : float
        Sliding ISC window and hop.
    sliding_isc_surrogates : int
        Surrogates (circularly shifted listeners) per sliding-ISC window.
    isc_near_radius_s : float
        ISC windows centred within this distance of a transition count as near it
        (:func:`frisson.isc.isc_near_events`).
    n_surrogates : int
        Surrogates for ISC and PC-feature tests.
    cnn : dict
        Settings of the CNN predictor (observe_s, predict_s, hop_s, epochs, ...).
    models : tuple of str
        Predictors fitted by the ``cnn`` analysis, main model first: ``cnn``,
        ``ridge``, ``acoustic`` (see :data:`MODELS`).
    n_test : int
        Held-out participants for the CNN.
    song_folds : int
        Song folds of the CNN's cross-fitting (at least 2): every song is
        predicted by models that never heard it and scored on participants
        never seen in training (the headline). Held-out participants alone
        share the songs with training, so a model can score there by
        memorising each song's average response (reported as a ceiling).
    onset_exclude_s : float
        Transitions and control moments within this many seconds of a song's
        onset are left out of the epoch test, and the CNN's targets start there
        (the orienting response to the music starting and the fastest
        habituation happen in that window, in every song alike).
    n_control_sets : int
        Sets of pseudo-transitions drawn per song (controls; the same for every
        listener of the song).
    transition_method : str
        Which of each song's transitions the epoch, ISC and opt-in analyses
        lock to: ``tested_novelty`` (the default,
        :data:`frisson.structure.DEFAULT_TRANSITIONS`, also the default of
        ``frisson analyze``: the song's Laplacian segmentation, kept only when
        it beats surrogates song-wise, :func:`frisson.structure.significant_segmentation`),
        ``pc1_variance`` (the poster's detector: the peaks of the first PC's
        sliding variance, untested; it finds transitions in structureless
        latents too) or ``foote_novelty`` (untested novelty peaks). A song
        whose detector keeps no transition (with ``tested_novelty``: its
        segmentation does not beat the null) gets no transition epochs and
        no controls, and is left out of the transition test and of ISC near
        transitions; which songs have transitions depends on the audio only,
        so the test over the others stays exact. The report and
        ``epochs_effect.tsv`` say how many songs had transitions. The
        transition test is valid whichever detector is chosen (its controls
        are drawn like the detector's transitions).
    control_positions : {'pooled', 'uniform'}
        Where in a song's span the controls are drawn: like the study's
        transitions (``pooled``: their positions as fractions of their songs'
        spans, smoothed; the default, because responses depend on the position
        in a song: the orienting response and habituation after its onset) or
        uniformly.
    control_position_degree : int or None
        Per song, the control epochs are regressed on their position in the
        song's span with a polynomial of this degree (default 3), and the
        control compared with the transitions is that fit evaluated at the
        transitions' positions (:func:`frisson.events.locked_averages`). A
        response that depends on the position in a song (habituation after
        the onset) then cancels within each song, instead of through a pool
        shared by all songs, which ties the songs' differences together and
        makes the test over songs conservative (0 of 60 onset/habituation
        null studies below .05 with the plain mean, 1 with degree 2, 3 with
        degree 3). None compares with the plain mean of the controls.
    summary_window_s : (float, float)
        Post-event window of the summary effect (mean difference, with a CI over songs).
    score_detrend_order : int or None
        The CNN's predictions and the held-out participants' mean are scored
        after removing a polynomial of this order over each song (default 3):
        slow trends every song shares (habituation) are not a prediction from
        the music, and the surrogate null assumes stationary series. None
        scores the raw series.
    max_missing_fraction : float
        A trial with more than this fraction of its skin conductance missing
        (NaN) is left out, and reported; shorter gaps are interpolated.
    seed : int
        Seed of the study's random steps (controls, surrogates, model training).
    song_seed : int
        Seed of each song's latent analysis (k-means starts, surrogate
        latents). Kept apart from ``seed`` so that a song's analysis depends on
        the song alone: a song shared by several studies or reruns is analysed
        once.
    scheduler : str or None
        Where the per-song latent and per-run physiology steps run
        (:func:`frisson.distributed.check_scheduler`): None (the default) in
        this process; ``local:N``, ``tcp://host:port`` or a scheduler file: as
        Dask tasks. The results and the caches are the same either way: the
        scheduler is in no cache key and not in :meth:`to_dict`.

    """

    study: Path
    output: Path
    encoder: str = DEFAULT_ENCODER
    layer: str | None = None
    encoder_params: dict[str, Any] = field(default_factory=dict)
    analyses: tuple[str, ...] = DEFAULT_ANALYSES
    window_frames: int = 100
    hop_frames: int = 4
    response_rate_hz: float = 10.0
    decomposition: str = "cvxeda"
    epoch_window_s: tuple[float, float] = (-2.0, 8.0)
    n_permutations: int = 1000
    isc_window_s: float = 10.0
    isc_hop_s: float = 1.0
    sliding_isc_surrogates: int = 200
    isc_near_radius_s: float = 5.0
    n_surrogates: int = 1000
    cnn: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = tuple(MODELS)
    n_test: int = 10
    song_folds: int = 4
    onset_exclude_s: float = 10.0
    n_control_sets: int = 20
    transition_method: str = DEFAULT_TRANSITIONS
    control_positions: str = "pooled"
    control_position_degree: int | None = 3
    score_detrend_order: int | None = 3
    summary_window_s: tuple[float, float] = (1.0, 5.0)
    max_missing_fraction: float = 0.2
    seed: int = 0
    song_seed: int = 0
    scheduler: str | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> RunConfig:
        r"""Read a run configuration; relative paths are relative to the TOML file.

        The file has a flat ``[run]`` table whose keys are this class's fields
        (plus optional ``[encoder_params]`` and ``[cnn]`` tables). Every key is
        checked before any work starts: unknown keys, wrong types and invalid
        values are refused, naming the file, the key and the valid choices.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "study.toml").write_text('[run]\nstudy = "data"\noutput = "out"\n')
        >>> RunConfig.from_toml(folder / "study.toml").study == folder / "data"
        True

        """
        return read_config(
            path, cls, table="run", sub_tables={"encoder_params": None, "cnn": cnn_param_names()}
        )

    def check(self) -> None:
        """Refuse settings that cannot work, naming the setting, the value and the fix."""
        unknown = [a for a in self.analyses if a not in ANALYSES]
        if unknown:
            raise ParameterError(f"analyses {unknown} are unknown; choose from {list(ANALYSES)}.")
        check_option("control_positions", self.control_positions, ("pooled", "uniform"))
        check_option("transition_method", self.transition_method, TRANSITION_METHODS)
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ParameterError(
                f"models {list(self.models)}: choose one or more of {list(MODELS)}."
            )
        window = self.epoch_window_s
        if len(window) != 2 or not window[0] < 0 < window[1]:
            raise ParameterError(
                f"epoch_window_s = {list(window)} must be [tmin, tmax] with tmin < 0 < tmax "
                "(the baseline is t < 0), e.g. [-2.0, 8.0]."
            )
        names = ("window_frames", "hop_frames", "n_permutations", "n_surrogates", "n_test")
        for name in (*names, "n_control_sets", "sliding_isc_surrogates"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("song_folds", self.song_folds, minimum=2)
        check_int("seed", self.seed, minimum=0)
        check_int("song_seed", self.song_seed, minimum=0)
        check_scheduler(self.scheduler)
        if self.control_position_degree is not None:
            check_int("control_position_degree", self.control_position_degree, minimum=0)
        if self.score_detrend_order is not None:
            check_int("score_detrend_order", self.score_detrend_order, minimum=0)
        for name in ("response_rate_hz", "isc_window_s", "isc_hop_s", "isc_near_radius_s"):
            check_positive(name, getattr(self, name))
        check_positive("onset_exclude_s", self.onset_exclude_s, allow_zero=True)
        low, high = self.summary_window_s
        if not self.epoch_window_s[0] <= low < high <= self.epoch_window_s[1]:
            raise ParameterError(
                f"summary_window_s = {list(self.summary_window_s)} must lie inside "
                f"epoch_window_s = {list(self.epoch_window_s)}, with start < end."
            )
        check_positive("max_missing_fraction", self.max_missing_fraction, allow_zero=True)
        if self.max_missing_fraction >= 1:
            raise ParameterError(
                f"max_missing_fraction = {self.max_missing_fraction} must be below 1."
            )
        unknown_cnn = sorted(set(self.cnn) - set(cnn_param_names()))
        if unknown_cnn:
            raise ParameterError(
                f"[cnn] key(s) {unknown_cnn} unknown; valid: {sorted(cnn_param_names())}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as strings; not ``scheduler``, which changes no result)."""
        out = asdict(self)
        out["study"], out["output"] = str(self.study), str(self.output)
        del out["scheduler"]
        return out


@dataclass
class StudyResults:
    """What :func:`run_study` computed (also written to the output folder).

    Attributes
    ----------
    config : RunConfig
    songs : dict of str to SongAnalysis
        Latent analysis per stimulus.
    epochs : SongLevelTest or None
        Transition-locked vs pseudo-transition skin conductance, songs as the
        random factor.
    isc : dict
        Per stimulus: ``ISCResult``, ``SlidingISC`` and ``EventISC``.
    cnn : object or None
        The CNN evaluation (with baselines).
    predictions : dict
        Per (participant, stimulus): (predicted, true) TimeSeries of test participants.
    left_out : list of dict
        Trials or runs left out of the analyses: ``participant``, ``stimulus``,
        ``file`` and ``reason`` (the report lists them).
    used : dict
        Settings as actually used where a step had to adapt them (e.g. ``n_test``
        lowered for a small study, the participant split, the song folds);
        written to ``settings.json`` beside the configuration.
    files : list of Path
        Everything written.
    beyond : BeyondResults or None
        The opt-in ``chills``, ``heart`` and ``individual`` analyses
        (:mod:`frisson.pipelines._beyond`).
    problems : list or None
        What ``study.validate()`` found when the run read the study (the
        report lists them; None: read the study again).

    """

    config: RunConfig
    songs: dict[str, SongAnalysis] = field(default_factory=dict)
    epochs: SongLevelTest | None = None
    epoch_counts: dict[str, int] = field(default_factory=dict)
    isc: dict[str, dict[str, Any]] = field(default_factory=dict)
    cnn: Evaluation | None = None
    predictions: dict[tuple[str, str], tuple[TimeSeries, TimeSeries]] = field(default_factory=dict)
    left_out: list[dict[str, str]] = field(default_factory=list)
    used: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    beyond: Any = None  # BeyondResults of the opt-in chills/heart/individual analyses
    problems: list | None = None  # study.validate()'s, for the report

    def summary(self) -> str:
        """A short table for the terminal."""
        lines = [f"study {self.config.study} -> {self.config.output}"]
        for name, song in self.songs.items():
            lines.append(
                f"  {name}: {song.duration_s:.0f} s, "
                f"{song.transitions[self.config.transition_method].times_s.size} transitions"
            )
        counts = self.epoch_counts
        if "songs" in counts:
            lines.append(
                f"transitions ({self.config.transition_method}): "
                f"{counts['songs_with_transitions']} of {counts['songs']} songs have any; "
                f"{counts.get('songs_tested', 0)} in the transition test"
            )
        if self.epochs is not None:
            e = self.epochs
            lines.append(
                f"epochs: {self.epoch_counts.get('events', 0)} transition and "
                f"{self.epoch_counts.get('controls', 0)} control epochs, {e.n_songs} songs x "
                f"{e.n_participants} participants; effect {e.effect:+.3f} "
                f"[{e.ci[0]:+.3f}, {e.ci[1]:+.3f}] (SC z, {e.summary_window_s[0]:g}-"
                f"{e.summary_window_s[1]:g} s), p = {e.p:.4f} over songs "
                f"(smallest possible {e.min_possible_p:.4f}); best cluster p = {e.min_p:.4f}"
            )
        for name, result in self.isc.items():
            lines.append(f"ISC {name}: r = {result['isc'].mean:.3f}, p = {result['isc'].p:.4f}")
        if self.cnn is not None:
            lines.append(self.cnn_summary())
        return "\n".join(lines)

    def cnn_summary(self) -> str:
        """Per model and scope: median r and the tests over songs; the headline row marked."""
        table = self.cnn.summary()
        return "CNN evaluation (headline: held-out participants and songs):\n" + table.to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )


# --------------------------------------------------------------------------- steps
@fill_doc
def run_study(
    config: RunConfig, *, overwrite: bool = False, progress_bar: bool | None = None
) -> StudyResults:
    """Run the configured analyses on a study; the report is written by the caller.

    ``frisson run`` is ``write_study_report(run_study(config), config.output)``
    (:func:`frisson.report.study_report.write_study_report`). The output folder
    holds the step cache; embeddings go to the one embedding store,
    ``<output>/embeddings.zarr``.

    Parameters
    ----------
    config : RunConfig
        What to run (see :meth:`RunConfig.from_toml`).
    %(overwrite)s
    %(progress_bar)s

    Returns
    -------
    StudyResults

    """
    from tqdm.auto import tqdm

    from frisson.audio import AUDIO_SUFFIXES
    from frisson.store import EmbeddingStore
    from frisson.study import read_study

    config.check()
    show = progress_enabled(progress_bar)
    study = read_study(config.study)
    problems = log_study_problems(study)
    output = Path(config.output)
    check_output_folder(output, overwrite=overwrite)
    cache = StepCache(output / "cache")
    store = EmbeddingStore(output / "embeddings.zarr")
    results = StudyResults(config, problems=problems)

    stimuli = {
        name: path for name, path in study.stimuli.items() if path.suffix.lower() in AUDIO_SUFFIXES
    }
    if not stimuli:
        raise DataError(
            f"{study.root}: no audio in stimuli/ ({', '.join(AUDIO_SUFFIXES)}); put the stimuli "
            "the events name (stim_file) there."
        )
    with open_client(config.scheduler) as client:  # None: everything here, in this process
        if client is None:
            for name in tqdm(stimuli, desc="latent", disable=not show):
                results.songs[name] = _latent_step(cache, store, config, stimuli[name])
        else:
            results.songs = _distributed_latent(cache, store, config, stimuli, client, show)
        trials, results.left_out = _physiology_step(cache, config, study, show, client)

    if "epochs" in config.analyses:
        results.epochs, results.epoch_counts = _epochs_step(config, results.songs, trials)
    if "isc" in config.analyses:
        results.isc = _isc_step(config, results.songs, trials, results.used)
    if "cnn" in config.analyses:
        results.cnn, results.predictions = _cnn_step(
            cache, config, results.songs, trials, show, results.used
        )
    if {"chills", "heart", "individual"} & set(config.analyses):
        from frisson.pipelines._beyond import run_beyond

        results.beyond = run_beyond(
            cache, config, study, results.songs, trials, show, results.predictions
        )
    return results


def _latent_step(cache: StepCache, store, config: RunConfig, path: Path):
    from frisson.pipelines.song import analyze_song, read_boundaries

    settings = {
        "encoder": config.encoder,
        "layer": config.layer,
        "encoder_params": config.encoder_params,
        "window_frames": config.window_frames,
        "hop_frames": config.hop_frames,
        "n_surrogates": config.n_surrogates,
        "seed": config.song_seed,
    }
    boundaries = path.with_name(f"{path.stem}_boundaries.tsv")
    key = cache.key(
        "latent",
        file_key(path),
        file_key(boundaries) if boundaries.is_file() else None,
        settings,
    )

    def compute():
        reference = read_boundaries(boundaries) if boundaries.is_file() else None
        return analyze_song(
            path,
            encoder=config.encoder,
            encoder_params=config.encoder_params,
            layer=config.layer,
            window_frames=config.window_frames,
            hop_frames=config.hop_frames,
            n_surrogates=config.n_surrogates,
            reference_boundaries_s=reference,
            store=store,
            seed=config.song_seed,
        )

    return cache.get("latent", key, compute)


def _distributed_latent(cache: StepCache, store, config: RunConfig, stimuli: dict, client, show):
    """The latent step as one Dask task per song; a failed song stops the run after the others."""
    from frisson.distributed import map_tasks

    names = list(stimuli)
    task = partial(_latent_step, cache, store, config)
    report = map_tasks(task, [stimuli[n] for n in names], client, desc="latent", progress_bar=show)
    _raise_failures("latent", report.failed)
    return dict(zip(names, report.results, strict=True))


def _raise_failures(step: str, failed) -> None:
    """Re-raise a failed task's own error (the other tasks' results are cached)."""
    if not failed:
        return
    for failure in failed[1:]:
        logger.error("%s step: %s", step, failure.error)
    first = failed[0]
    if isinstance(first.exception, Exception):
        raise first.exception
    raise DataError(f"{step} step: {first.error}")


@dataclass(frozen=True)
class _TrialResponses:
    participant: str
    stimulus: str
    duration_s: float
    eda: TimeSeries  # normalised, detrended skin conductance at response_rate_hz (t = 0 at onset)
    target: TimeSeries  # filtered, normalised phasic skin conductance at response_rate_hz


def _physiology_step(
    cache: StepCache, config: RunConfig, study, show: bool, client=None
) -> tuple[list[_TrialResponses], list[dict[str, str]]]:
    from tqdm.auto import tqdm

    settings = {
        "rate": config.response_rate_hz,
        "decomposition": config.decomposition,
        "max_missing_fraction": config.max_missing_fraction,
    }
    out: list[_TrialResponses] = []
    left_out: list[dict[str, str]] = []
    pending: dict[str, tuple[Any, str]] = {}
    for run in tqdm(study.runs, desc="physiology", disable=not show):
        if not run.physio:
            continue
        sidecars = [p.with_name(p.name.replace(".tsv.gz", ".json")) for p in run.physio]
        key = cache.key(
            "physio",
            [file_key(p) for p in run.physio],
            [file_key(p) if p.is_file() else None for p in sidecars],
            file_key(run.events),
            settings,
        )
        if client is not None:  # a Dask task per run, collected below in the same order
            pending[run.label] = (run, key)
            continue
        try:
            entry = cache.get("physio", key, lambda run=run: _run_responses(config, study, run))
        except DataError as error:
            _add_run_responses(run, None, error, out, left_out)
            continue
        _add_run_responses(run, entry, None, out, left_out)
    if pending:
        _distributed_physiology(cache, config, study, pending, client, show, out, left_out)
    if not out:
        raise DataError(f"{study.root}: no usable skin conductance in any trial.")
    return out, left_out


def _physiology_task(cache: StepCache, config: RunConfig, study, item) -> dict[str, list]:
    run, key = item
    return cache.get("physio", key, partial(_run_responses, config, study, run))


def _distributed_physiology(cache, config, study, pending, client, show, out, left_out) -> None:
    """The physiology step's runs as Dask tasks, collected like the serial loop (run order)."""
    from frisson.distributed import map_tasks

    task = partial(_physiology_task, cache, config, study)
    items = list(pending.values())
    report = map_tasks(task, items, client, desc="physiology", progress_bar=show)
    failed = {f.index: f for f in report.failed}
    for index, ((run, _), entry) in enumerate(zip(items, report.results, strict=True)):
        error = failed[index].exception if index in failed else None
        if index in failed and not isinstance(error, DataError):
            _raise_failures("physiology", [failed[index]])
        _add_run_responses(run, entry, error, out, left_out)


def _add_run_responses(run, entry, error, out: list, left_out: list) -> None:
    """One run's physiology step result into the trials, or the run into left_out with why."""
    if error is not None:
        logger.warning("skipping %s: %s", run.label, error)
        left_out.append(
            {
                "participant": run.participant,
                "stimulus": "",
                "file": str(run.events),
                "reason": str(error),
            }
        )
        return
    out.extend(entry["trials"])
    left_out.extend(entry["left_out"])


def _run_responses(config: RunConfig, study, run) -> dict[str, list]:
    """One run's trials: normalised skin conductance and the CNN target, or why left out."""
    from frisson.physio.eda import normalize_trial, phasic_target

    rows, left_out = [], []
    for trial in study.trials(participant=run.participant, on_error="skip"):
        if trial.run != run.label or "eda" not in trial.responses:
            continue
        eda = trial.responses["eda"]
        missing = float(np.isnan(eda.values).mean())
        if missing > config.max_missing_fraction:
            reason = (
                f"{100 * missing:.0f} % of skin conductance missing "
                f"(max_missing_fraction = {config.max_missing_fraction:g})"
            )
            logger.warning("%s %s: %s; trial left out", trial.participant, trial.stimulus, reason)
            left_out.append(
                {
                    "participant": trial.participant,
                    "stimulus": trial.stimulus,
                    "file": str(run.physio[0]),
                    "reason": reason,
                }
            )
            continue
        eda = eda.interpolate_nan()
        normalised = normalize_trial(eda).resample(config.response_rate_hz)
        target = phasic_target(eda, rate_hz=config.response_rate_hz, method=config.decomposition)
        rows.append(
            _TrialResponses(trial.participant, trial.stimulus, trial.duration_s, normalised, target)
        )
    return {"trials": rows, "left_out": left_out}


def _epochs_step(config: RunConfig, songs: dict, trials: list[_TrialResponses]):
    """Transition-locked vs pseudo-transition skin conductance, songs as the random factor.

    Per song, ``n_control_sets`` sets of pseudo-transitions are drawn once (the
    same for every listener) from the transitions' admissible span, outside the
    song-onset window; each trial gives its mean transition-locked and mean
    control-locked epoch; :func:`frisson.events.song_level_test` flips the signs
    of whole songs (see :mod:`frisson.events` for why). A song whose detector
    kept no transition has no epochs (and no controls); the counts say how many
    songs had transitions (``songs_with_transitions`` of ``songs``) and how many
    entered the test (``songs_tested``).
    """
    from frisson.events import locked_averages, song_level_test
    from frisson.pipelines._draws import song_events, transition_draws

    found = song_events(songs, config.transition_method)
    pseudo = transition_draws(config, found)
    events, control, labels, listeners = [], [], [], []
    counts = {
        "events": 0,
        "controls": 0,
        "dropped_near_onset": 0,
        "songs": len(found),
        "songs_with_transitions": sum(int(e.transitions_s.size > 0) for e in found.values()),
    }
    logger.info(
        "epochs: %d of %d songs have %s transitions (the others give no epochs)",
        counts["songs_with_transitions"],
        counts["songs"],
        config.transition_method,
    )
    for draw in pseudo.values():
        counts["dropped_near_onset"] += int(draw.dropped_s.size)
    for trial in trials:
        draw = pseudo.get(trial.stimulus)
        if draw is None or draw.events_s.size == 0:
            continue
        averages = locked_averages(
            trial.eda,
            draw,
            window_s=config.epoch_window_s,
            position_degree=config.control_position_degree,
        )
        if averages.n_events == 0 or averages.n_controls == 0:
            continue
        events.append(averages.events)
        control.append(averages.control)
        labels.append(trial.stimulus)
        listeners.append(trial.participant)
        counts["events"] += averages.n_events
        counts["controls"] += averages.n_controls
    counts["songs_tested"] = len(set(labels))
    if len(set(labels)) < 3:
        logger.warning(
            "epochs: %d song(s) with transitions and epochs; a test over songs needs at least 3",
            len(set(labels)),
        )
        return None, counts
    result = song_level_test(
        np.array(events),
        np.array(control),
        averages.times_s,
        songs=labels,
        participants=listeners,
        summary_window_s=config.summary_window_s,
        n_permutations=config.n_permutations,
        seed=config.seed,
    )
    return result, counts


#: Fewest listeners of a stimulus for its ISC (leave-one-out needs several; own songs have 1).
MIN_ISC_LISTENERS = 3


def _isc_step(config: RunConfig, songs: dict, trials: list[_TrialResponses], used=None) -> dict:
    """Per song: ISC over the whole song, in sliding windows, and near its transitions.

    A stimulus with fewer than :data:`MIN_ISC_LISTENERS` listeners (a study
    where listeners bring their own songs) gets no ISC: a warning says so and
    ``used["isc_left_out"]`` records why (the report's ISC table lists it).
    """
    from frisson.isc import common_grid, isc, isc_near_events, sliding_isc

    out = {}
    for name, song in songs.items():
        responses = [t.target for t in trials if t.stimulus == name]
        if len(responses) < MIN_ISC_LISTENERS:
            reason = (
                f"{len(responses)} listener(s) with skin conductance; ISC needs at least "
                f"{MIN_ISC_LISTENERS} hearing the same stimulus"
            )
            logger.warning("isc: %s left out: %s", name, reason)
            if used is not None:
                used.setdefault("isc_left_out", {})[name] = reason
            continue
        grid = common_grid(responses)
        overall = isc(grid, n_surrogates=config.n_surrogates, seed=config.seed)
        sliding = sliding_isc(
            grid,
            window_s=config.isc_window_s,
            hop_s=config.isc_hop_s,
            n_surrogates=config.sliding_isc_surrogates,
            seed=config.seed,
        )
        entry = {"isc": overall, "sliding": sliding}
        transitions = song.transitions[config.transition_method].times_s
        if transitions.size:
            try:  # the null shifts the ISC series past the transitions by every shift
                entry["near"] = isc_near_events(
                    sliding, transitions, radius_s=config.isc_near_radius_s
                )
            except DataError as error:
                logger.warning("isc near transitions: %s left out: %s", name, error)
        out[name] = entry
    return out


def _fingerprint(series_list) -> str:
    """One content key for several series (:meth:`TimeSeries.fingerprint` of each)."""
    return hashlib.sha256("".join(s.fingerprint() for s in series_list).encode()).hexdigest()[:20]


def _scored_songs(predictions: dict, targets: dict, test, songs) -> tuple[dict, dict]:
    """The predictions and truths of the songs the held-out participants heard.

    Every song, unless listeners brought their own songs: then only the test
    participants' songs can be scored.
    """
    from frisson.models import held_out_truths

    scored = [s for s in sorted(songs) if any((p, s) in targets for p in test)]
    if len(scored) < len(songs):
        logger.warning(
            "cnn: %d of %d songs were heard by no held-out participant and are not scored "
            "(listeners brought their own songs); the 'seen songs' scope then scores songs "
            "no training participant heard either",
            len(songs) - len(scored),
            len(songs),
        )
    kept = {
        label: {
            scope: {s: v for s, v in by_song.items() if s in scored}
            for scope, by_song in by_scope.items()
        }
        for label, by_scope in predictions.items()
    }
    return kept, held_out_truths(targets, test, songs=scored)


def _cnn_step(cache: StepCache, config: RunConfig, songs: dict, trials, show: bool, used: dict):
    """Fit the CNN and its baselines; score on held-out participants AND held-out songs.

    The headline (``cnn``, scope ``held-out participants and songs``) predicts
    each song with models fitted over song folds that never heard it, and
    scores it against participants never seen in training. The same models
    fitted on every song (scope ``held-out participants, seen songs``) are a
    memorisation ceiling: there a model can score by learning each song's mean
    response from any input that tells the moments of a song apart.
    """
    from frisson.models import (
        HELD_OUT_SONGS,
        ChillsCNN,
        DelayedRidge,
        evaluate_scopes,
        predict_scopes,
        song_folds,
        split_participants,
    )

    embeddings = {name: song.smoothed for name, song in songs.items()}
    acoustic = {name: song.features for name, song in songs.items()}
    # The first onset_exclude_s of each song are left out of training and scoring: every
    # song's onset evokes an orienting response, which any model learns from the song's
    # start (not from the music) and which a held-out song shares.
    targets = {
        (t.participant, t.stimulus): t.target.crop(config.onset_exclude_s or None)
        for t in trials
        if t.stimulus in songs and t.target.end_s > config.onset_exclude_s + 10.0
    }
    participants = sorted({p for p, _ in targets})
    if len(participants) < 4 or len(embeddings) < 2:
        logger.warning(
            "cnn: %d participants and %d songs are too few to hold both out; skipped",
            len(participants),
            len(embeddings),
        )
        return None, {}
    n_test = min(config.n_test, max(1, len(participants) // 4))
    if n_test < config.n_test:
        logger.warning(
            "cnn: n_test = %d lowered to %d (a quarter of %d participants)",
            config.n_test,
            n_test,
            len(participants),
        )
    n_validation = min(5, max(1, len(participants) // 8))
    split = split_participants(
        participants, n_test=n_test, n_validation=n_validation, seed=config.seed
    )
    folds = song_folds(
        sorted(embeddings), n_folds=min(config.song_folds, len(embeddings)), seed=config.seed
    )
    used["cnn"] = {
        "n_test": n_test,
        "n_validation": n_validation,
        "train": list(split.train),
        "validation": list(split.validation),
        "test": list(split.test),
        "song_folds": [list(fold.test) for fold in folds],
    }
    logger.info(
        "cnn: %d train, %d validation, %d test participants; %d song folds",
        len(split.train),
        len(split.validation),
        len(split.test),
        len(folds),
    )
    cnn_params = {"seed": config.seed, "progress_bar": show, **config.cnn}
    key = cache.key(
        "cnn",
        _fingerprint(embeddings.values()),
        _fingerprint(acoustic.values()),
        _fingerprint(targets[k] for k in sorted(targets)),
        {k: v for k, v in cnn_params.items() if k != "progress_bar"},
        list(config.models),
        [split.train, split.validation, split.test],
        [[list(f.train), list(f.test)] for f in folds],
        config.n_surrogates,
        config.onset_exclude_s,
        config.score_detrend_order,
    )

    def compute():
        available = {
            "cnn": (ChillsCNN(**cnn_params), embeddings),
            "ridge": (DelayedRidge(), embeddings),
            "acoustic": (ChillsCNN(**cnn_params), acoustic),
        }
        models = {MODELS[name]: available[name] for name in config.models}
        main = MODELS[config.models[0]]
        predictions = predict_scopes(models, targets, split, folds)
        predictions, truths = _scored_songs(predictions, targets, split.test, embeddings)
        evaluation = evaluate_scopes(
            predictions,
            truths,
            main=main,
            n_surrogates=config.n_surrogates,
            detrend_order=config.score_detrend_order,
            seed=config.seed,
        )
        examples = {
            (p, song): (predictions[main][HELD_OUT_SONGS][song], targets[(p, song)])
            for p in split.test
            for song in sorted(embeddings)
            if (p, song) in targets
        }
        return evaluation, examples

    return cache.get("cnn", key, compute)
