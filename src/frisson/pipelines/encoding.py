"""Layer-wise encoding on a study folder: ``frisson encode study.toml``.

Which layer of an audio encoder best predicts each voxel, ROI, rating or
physiology channel? Steps (cached under ``<output>/cache/``, keyed by the
inputs' content and the settings, so a rerun recomputes only what changed):

1. **embedding**: every stimulus the selected runs play, through the encoder
   (all configured layers).
2. **features on the timeline**: per run (or trial segment), each layer's
   frames are z-scored per feature over the stimulus and area-averaged onto
   the response grid at the stimulus' onset (from the events); outside the
   stimuli the features are 0 (silence carries no feature drive). With
   ``rectify = true`` the frames are rectified (``max(x, 0)``) before the
   z-scoring.
3. **responses**:

   * ``target = "bold"``: every BOLD run (:func:`frisson.study.load_bold`):
     voxels inside ``mask`` (default: voxels with signal in every run of the
     participant), or ROI means of ``atlas``. Runs are the cross-validation
     folds, so a participant needs >= 3 runs.
   * ``target = "ratings"``: continuous ratings (``channels``, default every
     recorded channel that is not physiology), raw and ``|derivative|`` (units
     ``<name>`` and ``<name>_absderiv``), on stimulus time at
     ``response_rate_hz``. Individual continuous ratings are noisy and
     participants hear the stimuli in different orders, so, as in the study,
     the model is fitted once to the **group mean** per stimulus (NaN-aware
     mean over participants); each stimulus is a fold (leave one stimulus out).
   * ``target = "physio"``: physiology channels (``channels``, default
     ``["eda"]``) per participant, each trial (stimulus plus ``post_s``) a fold.

4. **fit**: :func:`frisson.models.encoding.fit_layer_profiles` per participant
   (or group): nested leave-one-run-out ridge per layer with FIR delays,
   phase-randomised null (studentised r pooled over units by default, so that
   Benjamini-Hochberg can pass sparse effects), Benjamini-Hochberg q.
5. **outputs**: ``profiles.tsv`` (participant x unit x layer: r, r2, p, q,
   best), ``best_layers.tsv`` (per unit: best layer, its r, p and q),
   ``layer_summary.tsv``; ``layer_profiles.png`` (mean r per layer with 95 %
   CIs across units, participants or folds), ``best_layers.png``; for voxel
   fits, per participant ``sub-<id>_best_layer.nii.gz`` (1-based layer index,
   0 outside the mask), ``sub-<id>_max_r.nii.gz`` and a slice mosaic of the
   significant best layers, and the same for the group (mean Fisher-z r over
   participants) when the participants share a grid.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._docs import fill_doc
from frisson._logging import logger, progress_enabled
from frisson._optional import import_optional
from frisson.distributed import check_scheduler
from frisson.encoders import DEFAULT_ENCODER
from frisson.errors import DataError, ParameterError
from frisson.pipelines._cache import StepCache, file_key
from frisson.pipelines._config import check_output_folder, log_study_problems, read_config
from frisson.pipelines._encode_partition import add_partner, check_partner, partition
from frisson.timeseries import TimeSeries

__all__ = ["EncodeConfig", "EncodingResults", "run_encoding"]

TARGETS = ("bold", "ratings", "physio")
#: What ``frisson encode`` computes: layer profiles, the brain-emotion GLM, or ISC.
MODES = ("layers", "glm", "isc")
_PHYSIO_KINDS = ("eda", "ppg", "ecg", "resp", "trigger")


@dataclass(frozen=True)
class EncodeConfig:
    """Settings of :func:`run_encoding`, read from a TOML file by :meth:`from_toml`.

    Attributes
    ----------
    study, output : Path
        The BIDS-style study folder; where tables, figures and the cache go.
    target : {'bold', 'ratings', 'physio'}
        What the layers predict (see the module notes).
    encoder : str
        Encoder name (default ``musicnn-msd``, offline; the study used
        ``vggish``, available once its weights are fetched).
    encoder_params : dict
        Encoder settings (e.g. ``{"patch_hop_s": 1.0}``).
    layers : tuple of str or None
        Layers compared (default: all of the encoder's, network order).
    channels : tuple of str or None
        Ratings or physiology channels (defaults in the module notes).
    task : str or None
        Only runs of this BIDS task.
    participants : tuple of str or None
        Only these participants (labels without ``sub-``).
    delays_s : tuple of float or str
        FIR delays in seconds, ``"auto"`` (3-9 s for BOLD at TR <= 2 s... see
        :func:`frisson.models.encoding.auto_delays_s`) or ``"hrf"``.
    alphas : tuple of float or None
        Ridge penalties (default :data:`frisson.models.encoding.DEFAULT_ALPHAS`,
        ``logspace(-2, 8, 21)``).
    n_components : float, int or None
        PCA per layer (variance fraction, count, or None for none).
    rectify : bool
        Rectify each layer's frames before z-scoring.
    n_permutations : int or 'auto'
        Phase-randomised refits of the null per unit (0: no p-values; 'auto':
        about 20 000 pooled draws per layer, see
        :func:`frisson.models.encoding.fit_layer_profiles`).
    null : {'pooled', 'unit'}
        p against the studentised null draws of every unit of the fit
        (default: p fine enough for FDR when few units respond) or against
        each unit's own draws.
    fdr_q : float
        q threshold of "significant" in figures and summaries.
    mask, atlas, atlas_labels : Path or None
        Brain mask and ROI label image on the BOLD grid; labels TSV (columns
        ``index``, ``name``; default the ``.tsv`` beside the atlas).
    tr_s : float or None
        Repetition time when neither the BOLD sidecars nor the headers give it.
    derivatives : Path or None
        An fMRIPrep folder (e.g. ``derivatives/fmriprep``; relative to the
        TOML file): the targets are then each run's preprocessed BOLD in
        ``space``, inside its ``desc-brain_mask`` (unless ``mask`` is given),
        with ``confounds`` regressed out and a polynomial trend of
        ``detrend_order`` and a DCT high-pass at ``high_pass_hz`` removed in
        one least-squares fit (:meth:`frisson.study.Study.read_preprocessed`).
    space : str or None
        fMRIPrep space (``"MNI152NLin2009cAsym:res-2"``, ``"T1w"``); required
        when a run has several (the error lists them).
    desc : str
        The preprocessed BOLD's ``desc-`` label (fMRIPrep: ``preproc``).
    parcellated : Path or None
        A folder of parcellated time series (XCP-D's ``*_seg-<atlas>_stat-
        mean_timeseries.tsv``, one column per parcel; relative to the TOML
        file): the targets are then each run's parcels, with ``detrend_order``
        and ``high_pass_hz`` applied (the confounds were XCP-D's job).
    seg : str or None
        The atlas of ``parcellated`` (``seg-`` label); required when a run has
        several (the error lists them).
    confounds : tuple of str
        Confound columns or patterns of ``desc-confounds_timeseries.tsv``
        (e.g. ``["trans_*", "rot_*", "csf", "white_matter"]``).
    detrend_order, high_pass_hz : int or None, float or None
        Trend and high-pass removed from preprocessed BOLD (default linear, none).
    task_stimuli : dict of str to str
        For studies without events where each task is one piece (the layout of
        OpenNeuro ds003085: ``sub-01/func/sub-01_task-happy_bold.nii.gz``): the
        audio of each task, relative to the study folder (TOML table
        ``[encode.task_stimuli]``, e.g. ``happy = "audio/happy.wav"``; see
        :func:`frisson.study.read_study`).
    response_rate_hz : float
        Grid of ratings and physiology targets.
    post_s : float or None
        Seconds after each stimulus kept in ratings/physio segments (default 0
        for ratings, recorded while listening, 10 for physiology).
    seed : int
        Seed of the null.
    partition_with : str or None
        A partner feature space, an audio feature (``"loudness"``, ``"rms"``:
        :func:`frisson.features.list_features`) or a layer of the encoder: every
        layer's unique and shared held-out R^2 against it become columns of the
        per-unit table (``partner, r2_partner, r2_joint, unique_r2,
        unique_r2_partner, shared_r2``; banded ridge,
        :func:`frisson.models.encoding.partition_layers`). Default: none.
    mode : {'layers', 'glm', 'isc'}
        ``layers`` (default): the layer-wise encoding above. ``glm``: the
        brain-emotion model, BOLD regressed on the ratings' absolute
        derivatives through the HRF, per participant and over participants
        (:func:`frisson.pipelines.run_emotion_glm`; ``target = "bold"``).
        ``isc``: leave-one-out inter-subject correlation of the target (BOLD
        voxels/ROIs, ratings or physiology channels, e.g. ``"hr"``) per unit
        with a max-statistic and FDR (:func:`frisson.pipelines.run_study_isc`).
        Neither needs an encoder.
    ratings_source : {'group', 'own'}
        ``glm``: the regressors come from the group-mean ratings of each
        stimulus (every participant's ratings in the study, also behavioural
        sessions without BOLD) or from each run's own ratings.
    smooth_s : float
        ``glm``: Gaussian smoothing (SD, seconds) of the ratings before the
        derivative (default 1 s; 0 = none).
    glm_high_pass_hz : float
        ``glm``: cut-off of the cosine drift regressors (default 1/128 Hz).
    glm_null : {'signflip', 'ratings'}
        ``glm``: the group null. ``signflip`` (default): sign flips over
        participants (listeners the random factor). ``ratings``: refits on
        phase-randomised group ratings, which also controls song-locked
        responses every listener shares (songs the random factor; needs
        ``ratings_source = "group"``; ``n_permutations`` surrogates, "auto" 199).
    isc_null : {'shift', 'phase'}
        ``isc``: circular shifts (at least 5 s) or phase randomisation of
        each participant.
    scheduler : str or None
        Where the fits (one per participant, or the group fit) run
        (:func:`frisson.distributed.check_scheduler`): None (the default) in this
        process; ``local:N``, ``tcp://host:port`` or a scheduler file: one Dask
        task per fit. Not in any cache key, nor in :meth:`to_dict`.

    """

    study: Path
    output: Path
    target: str = "bold"
    encoder: str = DEFAULT_ENCODER
    encoder_params: dict[str, Any] = field(default_factory=dict)
    layers: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    task: str | None = None
    participants: tuple[str, ...] | None = None
    delays_s: tuple[float, ...] | str = "auto"
    alphas: tuple[float, ...] | None = None
    n_components: float | int | str | None = 0.99
    rectify: bool = False
    n_permutations: int | str = "auto"
    null: str = "pooled"
    fdr_q: float = 0.05
    mask: Path | None = None
    atlas: Path | None = None
    atlas_labels: Path | None = None
    tr_s: float | None = None
    derivatives: Path | None = None
    space: str | None = None
    desc: str = "preproc"
    parcellated: Path | None = None
    seg: str | None = None
    confounds: tuple[str, ...] = ()
    detrend_order: int | None = 1
    high_pass_hz: float | None = None
    task_stimuli: dict[str, str] = field(default_factory=dict)
    response_rate_hz: float = 5.0
    post_s: float | None = None
    seed: int = 0
    partition_with: str | None = None
    scheduler: str | None = None
    mode: str = "layers"
    ratings_source: str = "group"
    smooth_s: float = 1.0
    glm_high_pass_hz: float = 1.0 / 128
    glm_null: str = "signflip"
    isc_null: str = "shift"

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> EncodeConfig:
        r"""Read the ``[encode]`` table (and optional ``[encoder_params]``) of a TOML file.

        Relative paths are relative to the TOML file; unknown keys are refused,
        naming the file and the valid keys. ``n_components = "none"`` turns PCA off.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> text = '[encode]\nstudy = "data"\noutput = "out"\ntarget = "ratings"\n'
        >>> _ = (folder / "study.toml").write_text(text)
        >>> config = EncodeConfig.from_toml(folder / "study.toml")
        >>> config.study == folder / "data", config.target
        (True, 'ratings')

        """
        config = read_config(
            path,
            cls,
            table="encode",
            sub_tables={"encoder_params": None},
            path_keys=(
                "study",
                "output",
                "mask",
                "atlas",
                "atlas_labels",
                "derivatives",
                "parcellated",
            ),
        )
        if config.n_components == "none":
            config = dataclasses.replace(config, n_components=None)
        return config

    def check(self) -> None:
        """Refuse settings that cannot work, naming the valid ones."""
        check_option("target", self.target, TARGETS)
        check_option("null", self.null, ("pooled", "unit"))
        self._check_mode()
        if isinstance(self.n_permutations, str):
            check_option("n_permutations", self.n_permutations, ("auto",))
        elif isinstance(self.n_permutations, bool) or not isinstance(self.n_permutations, int):
            raise ParameterError(
                f"n_permutations must be a whole number or 'auto', got {self.n_permutations!r}."
            )
        check_positive("response_rate_hz", self.response_rate_hz)
        check_positive("fdr_q", self.fdr_q)
        check_scheduler(self.scheduler)
        for name in ("derivatives", "parcellated"):
            if getattr(self, name) is not None and self.target != "bold":
                raise ParameterError(
                    f"{name} applies to target = 'bold', not {self.target!r}; remove it."
                )
        if self.parcellated is not None and (self.derivatives or self.mask or self.atlas):
            raise ParameterError(
                "parcellated targets are already parcels: drop derivatives, mask and atlas "
                "(or drop parcellated to encode voxels)."
            )
        if self.confounds and self.derivatives is None:
            raise ParameterError(
                "confounds come from fMRIPrep's confounds tables: set derivatives = ... "
                "or remove confounds."
            )
        if self.detrend_order is not None:
            check_int("detrend_order", self.detrend_order, minimum=0)
        if self.high_pass_hz is not None:
            check_positive("high_pass_hz", self.high_pass_hz)
        if self.post_s is not None:
            check_positive("post_s", self.post_s, allow_zero=True)
        if self.tr_s is not None:
            check_positive("tr_s", self.tr_s)
        if isinstance(self.delays_s, str):
            check_option("delays_s", self.delays_s, ("auto", "hrf"))
        if self.target != "bold" and (self.mask or self.atlas):
            raise ParameterError(f"mask and atlas apply to target = 'bold', not {self.target!r}.")

    def _check_mode(self) -> None:
        check_option("mode", self.mode, MODES)
        check_option("ratings_source", self.ratings_source, ("group", "own"))
        check_option("isc_null", self.isc_null, ("shift", "phase"))
        check_option("glm_null", self.glm_null, ("signflip", "ratings"))
        if self.glm_null == "ratings" and self.ratings_source != "group":
            raise ParameterError(
                "glm_null = 'ratings' redraws the group ratings: set ratings_source = 'group'."
            )
        check_positive("smooth_s", self.smooth_s, allow_zero=True)
        check_positive("glm_high_pass_hz", self.glm_high_pass_hz)
        if self.mode == "glm" and self.target != "bold":
            raise ParameterError(
                f"mode = 'glm' regresses BOLD on the ratings: set target = 'bold', "
                f"not {self.target!r}."
            )

    @property
    def resolved_post_s(self) -> float:
        """``post_s``, or its default for the target (0 for ratings, 10 s otherwise)."""
        if self.post_s is not None:
            return self.post_s
        return 0.0 if self.target == "ratings" else 10.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as strings; not ``scheduler``, which changes no result)."""
        return {
            k: str(v) if isinstance(v, Path) else v
            for k, v in asdict(self).items()
            if k != "scheduler"
        }


@dataclass
class EncodingResults:
    """What :func:`run_encoding` computed (also written to the output folder).

    Attributes
    ----------
    config : EncodeConfig
    layers : tuple of str
        Layers compared, network order.
    profiles : dict of str to LayerProfiles
        Per participant label (or ``"group"`` for ratings).
    spaces : dict of str to dict or None
        Per fit, the voxel grid (``shape``, ``affine``) of BOLD targets, for maps.
    group : GroupProfiles or None
        With >= 2 participant fits sharing units (BOLD on one grid, ROIs,
        physiology): random effects over participants
        (:func:`frisson.models.encoding.group_profiles`; ``group.to_frame()``
        is the table), else None.
    group_profile : dict or None
        The layer profile over units selected on the other participants, with
        CIs across participants (:func:`frisson.models.encoding.independent_profile`).
    files : list of Path
        Everything written.
    problems : list or None
        What ``study.validate()`` found when the run read the study (the
        report lists them; None: read the study again).

    Notes
    -----
    BOLD fits of >= 2 participants who heard the same stimuli carry a noise
    ceiling (leave-one-participant-out ISC per voxel, runs matched by
    stimulus): ``profiles[label].to_frame()`` then has ``noise_ceiling`` and
    ``r_normalised`` columns.

    """

    config: EncodeConfig
    layers: tuple[str, ...] = ()
    profiles: dict[str, Any] = field(default_factory=dict)
    spaces: dict[str, Any] = field(default_factory=dict)
    group: Any = None
    group_profile: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    problems: list | None = None  # study.validate()'s, for the report

    def summary(self) -> str:
        """Per fit: units, significant units, the most common best layer, median best r."""
        q = self.config.fdr_q
        lines = [
            f"study {self.config.study} -> {self.config.output} "
            f"({self.config.encoder}, {len(self.layers)} layers, target {self.config.target})"
        ]
        for label, profile in self.profiles.items():
            significant = profile.q_best < q
            best = profile.best_layer[significant] if significant.any() else profile.best_layer
            best = best[best >= 0]
            mode = profile.layers[int(np.bincount(best).argmax())] if best.size else "-"
            best_r = profile.r[np.maximum(profile.best_layer, 0), np.arange(len(profile.units))]
            lines.append(
                f"  {label}: {len(profile.units)} units, {int(significant.sum())} with q < {q:g}; "
                f"most common best layer {mode}; median best r {np.nanmedian(best_r):.3f}"
            )
        if self.group is not None:
            group = self.group
            lines.append(
                f"  group ({len(group.participants)} participants, sign-flip over participants): "
                f"{int(np.sum(group.q_best < q))} of {len(group.units)} units with q < {q:g}"
            )
        lines.append(f"wrote {len(self.files)} files to {self.config.output}/")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ steps
@fill_doc
def run_encoding(
    config: EncodeConfig, *, overwrite: bool = False, progress_bar: bool | None = None
) -> EncodingResults:
    """Fit layer profiles on a study; the caller writes the files.

    ``frisson encode`` is ``write_encoding_report(run_encoding(config), config.output)``
    (:func:`frisson.report.encoding_report.write_encoding_report`). Embeddings go
    to the one embedding store, ``<output>/embeddings.zarr``; fits are cached in
    ``<output>/cache``.

    Parameters
    ----------
    config : EncodeConfig
        What to run (see :meth:`EncodeConfig.from_toml`).
    %(overwrite)s
    %(progress_bar)s

    Returns
    -------
    EncodingResults

    Raises
    ------
    DataError
        If the study has no usable runs for the target, or too few runs or
        stimuli for leave-one-out cross-validation.

    """
    from tqdm.auto import tqdm

    from frisson.audio import AUDIO_SUFFIXES
    from frisson.encoders import get_encoder, resolve_layers
    from frisson.store import EmbeddingStore
    from frisson.study import read_study

    config.check()
    show = progress_enabled(progress_bar)
    study = read_study(config.study, task_stimuli=config.task_stimuli or None)
    problems = log_study_problems(study)
    encoder = get_encoder(config.encoder, **config.encoder_params)
    layers = resolve_layers(encoder, list(config.layers) if config.layers else None)
    partner = config.partition_with and check_partner(config.partition_with, encoder, layers)
    runs = _select_runs(study, config)
    stimuli = sorted({name for run in runs for _, _, name in _presentations(study, run)})
    missing = [name for name in stimuli if name not in study.stimuli]
    if missing:
        raise DataError(
            f"{study.root}: the events name stimuli {missing} that are not in stimuli/; "
            "add the audio files or fix stim_file."
        )
    output = Path(config.output)
    check_output_folder(output, overwrite=overwrite)
    cache = StepCache(output / "cache")
    store = EmbeddingStore(output / "embeddings.zarr")
    embeddings: dict[str, dict[str, TimeSeries]] = {}
    embedding_keys: dict[str, str] = {}
    _embed_on_workers(study, stimuli, config, layers, store, show)  # with a scheduler
    for name in tqdm(stimuli, desc="embeddings", disable=not show):
        path = study.stimuli[name]
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise DataError(f"{path}: not an audio file ({', '.join(AUDIO_SUFFIXES)}).")
        embedding_keys[name] = cache.key(file_key(path), encoder.name, encoder.config(), layers)
        embeddings[name] = _embed(encoder, path, layers, store)
    if partner:  # partition_with: the partner beside the layers
        add_partner(embeddings, study.stimuli, partner, partial(_embed, encoder, store=store))

    fits = _fit_plan(study, config, runs)
    results = EncodingResults(config, tuple(layers), problems=problems)
    settings = {
        k: v
        for k, v in config.to_dict().items()
        if k not in ("study", "output", "participants", "fdr_q")
    }
    spaces: dict[str, Any] = {}
    fit_keys: dict[str, str] = {}
    pending: dict[str, tuple[str, Any]] = {}  # with a scheduler: the fits, run as Dask tasks
    for label, fit_runs in tqdm(fits.items(), desc="fits", disable=not show):
        key = cache.key(
            "fit",
            label,
            [[file_key(p) for p in _run_files(run)] for run in fit_runs],
            [[file_key(p) for p in _bold_files(study, config, run)] for run in fit_runs]
            if config.target == "bold" and (config.derivatives or config.parcellated)
            else None,
            [embedding_keys[n] for n in stimuli],
            [file_key(p) for p in (config.mask, config.atlas, config.atlas_labels) if p],
            settings,
        )

        def compute(label=label, fit_runs=fit_runs):
            both = [*layers, partner] if partner and partner not in layers else layers
            features, responses, space = _design(study, config, fit_runs, embeddings, both)
            series = features.pop(partner) if both is not layers else features.get(partner)
            if len(responses) < 3:
                raise DataError(
                    f"{label}: {len(responses)} run(s)/segment(s); leave-one-run-out "
                    "cross-validation needs at least 3."
                )
            logger.info("%s: fitting %d layers on %d runs", label, len(layers), len(responses))
            profiles = _fit(config, features, responses, show)
            if partner:
                profiles = partition(profiles, features, partner, series, responses, config)
            return {"profiles": profiles, "space": space}

        if config.scheduler is not None:
            pending[label] = (key, compute)
            continue
        try:
            fitted = cache.get("fit", key, compute)
        except DataError as error:
            if len(fits) == 1:
                raise
            logger.warning("skipping %s: %s", label, error)
            continue
        results.profiles[label] = fitted["profiles"]
        spaces[label] = fitted["space"]
        fit_keys[label] = key
    _distributed_fits(cache, config, pending, len(fits), results, spaces, fit_keys, show)
    if not results.profiles:
        raise DataError(f"{study.root}: no participant could be fitted (see the warnings).")
    results.spaces = spaces
    _add_group_level(results, study, config, fits, cache, fit_keys)
    return results


def _fit_task(cache: StepCache, item: tuple[str, Any]) -> dict[str, Any]:
    key, compute = item
    return cache.get("fit", key, compute)


def _distributed_fits(cache, config, pending, n_fits, results, spaces, fit_keys, show) -> None:
    """The fits as Dask tasks, collected in the serial loop's order with its error handling."""
    if not pending:
        return
    from functools import partial

    from frisson.distributed import map_tasks

    labels, items = list(pending), list(pending.values())
    task = partial(_fit_task, cache)
    report = map_tasks(task, items, config.scheduler, desc="fits", progress_bar=show)
    failed = {f.index: f for f in report.failed}
    for index, label in enumerate(labels):
        if index in failed:
            error = failed[index].exception
            if not isinstance(error, DataError) or n_fits == 1:
                raise error if isinstance(error, Exception) else DataError(failed[index].error)
            logger.warning("skipping %s: %s", label, error)
            continue
        fitted = report.results[index]
        results.profiles[label] = fitted["profiles"]
        spaces[label] = fitted["space"]
        fit_keys[label] = pending[label][0]


def _add_group_level(results, study, config: EncodeConfig, fits, cache, fit_keys) -> None:
    """Noise ceilings (BOLD) and random effects over participants, when >= 2 fits share units."""
    from frisson.models.encoding import group_profiles, independent_profile

    if config.target == "ratings" or len(results.profiles) < 2:
        return
    labels = list(results.profiles)
    shared = set(results.profiles[labels[0]].units)
    for label in labels[1:]:
        shared &= set(results.profiles[label].units)
    if not shared:
        logger.info("participants share no unit: no group statistics (set mask = ... or atlas)")
        return
    if config.target == "bold":
        key = cache.key("ceiling", [fit_keys[label] for label in labels])
        ceilings = cache.get(
            "ceiling", key, lambda: _noise_ceilings(study, config, fits, results.profiles)
        )
        for label, ceiling in ceilings.items():
            results.profiles[label] = dataclasses.replace(
                results.profiles[label], noise_ceiling=ceiling
            )
    results.group = group_profiles(results.profiles, seed=config.seed)
    results.group_profile = independent_profile(results.profiles, fdr_q=config.fdr_q)


def _noise_ceilings(study, config: EncodeConfig, fits, profiles) -> dict[str, np.ndarray]:
    """Per fit: leave-one-participant-out ISC of each unit (runs matched by stimulus)."""
    from frisson.models.encoding import noise_ceiling

    labels = list(profiles)
    unit_sets = [set(profiles[label].units) for label in labels]
    units = [u for u in profiles[labels[0]].units if all(u in units_of for units_of in unit_sets)]
    by_subject = []
    stimuli_sets = []
    for label in labels:
        runs = {}
        for run in fits[label]:
            names = [name for _, _, name in _presentations(study, run)]
            if len(names) != 1:
                logger.info("noise ceiling skipped: %s plays %d stimuli", run.label, len(names))
                return {}
            bold = _read_targets(study, config, run)
            values = np.asarray(bold.select(units).values, dtype=np.float64)
            sd = values.std(axis=0)
            runs[names[0]] = TimeSeries(
                (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0), bold.rate_hz
            )
        by_subject.append(runs)
        stimuli_sets.append(sorted(runs))
    if any(names != stimuli_sets[0] for names in stimuli_sets):
        logger.info("noise ceiling skipped: participants heard different stimuli")
        return {}
    ordered = [[runs[name] for name in stimuli_sets[0]] for runs in by_subject]
    try:
        ceiling = noise_ceiling(ordered, method="isc")
    except DataError as error:
        logger.info("noise ceiling skipped: %s", error)
        return {}
    out = {}
    for label in labels:
        index = {u: i for i, u in enumerate(units)}
        out[label] = np.array(
            [ceiling[index[u]] if u in index else np.nan for u in profiles[label].units]
        )
    return out


def _select_runs(study, config: EncodeConfig) -> list:
    runs = [
        run
        for run in study.runs
        if (config.task is None or run.entities.get("task") == config.task)
        and (config.participants is None or run.participant in config.participants)
    ]
    if config.target == "bold":
        without = [run.label for run in runs if run.bold is None]
        if without:
            logger.warning("%d run(s) without BOLD skipped: %s", len(without), without[:5])
        runs = [run for run in runs if run.bold is not None]
        if not runs:
            raise DataError(
                f"{study.root}: no run with a *_bold.nii[.gz] beside its events"
                + (f" (task {config.task!r})" if config.task else "")
                + "; target = 'bold' needs BOLD runs (or set target = 'ratings' or 'physio')."
            )
    else:
        runs = [run for run in runs if run.physio or run.beh is not None]
        if not runs:
            raise DataError(
                f"{study.root}: no run has physiology or ratings files; "
                f"target = {config.target!r} needs them."
            )
    return runs


def _presentations(study, run) -> list[tuple[float, float, str]]:
    return study.presentations(run)


def _run_files(run) -> list[Path]:
    return [p for p in (run.events, *run.physio, run.beh, run.bold) if p is not None]


def _fit_plan(study, config: EncodeConfig, runs: list) -> dict[str, list]:
    """Which runs go into which fit: one fit per participant, or one group fit for ratings."""
    if config.target == "ratings":
        return {"group": runs}
    plan: dict[str, list] = {}
    for run in runs:
        plan.setdefault(f"sub-{run.participant}", []).append(run)
    return plan


def _embed(encoder, path: Path, layers, store) -> dict[str, TimeSeries]:
    """The layers of one stimulus, from the embedding store or encoded (and stored)."""
    from frisson.audio import load_audio

    audio = load_audio(path)
    if store.has(audio.sha256, encoder, layers=layers):
        embedding = store.get(audio.sha256, encoder, layers=layers)
    else:
        embedding = encoder.encode(audio, layers=layers)
        store.put(embedding, source=str(path), duration_s=audio.duration_s)
    return {layer: embedding[layer] for layer in layers}


def _embed_on_workers(study, stimuli, config: EncodeConfig, layers, store, show: bool) -> None:
    """``frisson embed`` of the stimuli on ``config.scheduler``; the step then reads the store.

    Nothing without a scheduler. A file that fails here fails again, with the serial run's
    error, when the step reads it.
    """
    if config.scheduler is None:
        return
    from frisson.audio import AUDIO_SUFFIXES
    from frisson.store import embed

    paths = [study.stimuli[n] for n in stimuli if study.stimuli[n].suffix.lower() in AUDIO_SUFFIXES]
    report = embed(
        paths,
        store=store,
        encoder=config.encoder,
        layers=layers,
        encoder_params=config.encoder_params,
        progress_bar=show,
        scheduler=config.scheduler,
    )
    logger.info("embeddings on %s: %s", config.scheduler, report.summary())


def _fit(config: EncodeConfig, features, responses, show: bool):
    from frisson.models.encoding import fit_layer_profiles

    options: dict[str, Any] = {}
    if config.alphas is not None:
        options["alphas"] = config.alphas
    return fit_layer_profiles(
        features,
        responses,
        delays_s=config.delays_s,
        n_components=config.n_components,
        rectify=False,  # done on the frames, before the per-stimulus z-scoring
        n_permutations=config.n_permutations,
        null=config.null,
        seed=config.seed,
        progress_bar=show,
        **options,
    )


# ------------------------------------------------------------------ design and targets
def standardised_layer(layer: TimeSeries, *, rectify: bool = False) -> TimeSeries:
    """A stimulus' layer z-scored per feature over the stimulus (rectified first if asked).

    Constant features become 0.

    Examples
    --------
    >>> layer = TimeSeries(np.c_[np.arange(4.0), np.ones(4)], rate_hz=2.0)
    >>> standardised_layer(layer).values.astype(float).round(3).tolist()[0]
    [-1.342, 0.0]

    """
    values = np.asarray(layer.values, dtype=np.float64)
    if rectify:
        values = np.maximum(values, 0.0)
    std = values.std(axis=0)
    centred = values - values.mean(axis=0)
    out = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    return layer.replace(out.astype(np.float32))


def place_on_grid(
    placements: list[tuple[float, TimeSeries]], grid: TimeSeries, *, n_features: int
) -> TimeSeries:
    """Features of stimuli played at given onsets, on a response grid; 0 outside them.

    Parameters
    ----------
    placements : list of (float, TimeSeries)
        ``(onset_s, layer)``: the layer's frames on stimulus time (0 = stimulus
        onset), played at ``onset_s`` of the grid's time.
    grid : TimeSeries
        The response grid (its times and rate; values unused).
    n_features : int
        Width of the layer.

    Returns
    -------
    TimeSeries
        ``(grid.n_times, n_features)`` at the grid's rate and start: each grid
        sample is the area average of the frames over its interval
        (:meth:`TimeSeries.sample_at`) where a stimulus covers it, else 0.

    Examples
    --------
    >>> layer = TimeSeries(np.arange(1.0, 5.0), rate_hz=1.0)  # 4 s of frames, t = 0..3
    >>> grid = TimeSeries(np.zeros(8), rate_hz=1.0)
    >>> place_on_grid([(2.0, layer)], grid, n_features=1).values[:, 0].tolist()
    [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]

    """
    values = np.zeros((grid.n_times, n_features), dtype=np.float32)
    times = grid.times_s
    width = 1.0 / grid.rate_hz
    for onset_s, layer in placements:
        local = times - onset_s
        inside = (local >= layer.start_s - 1e-9) & (local <= layer.end_s + 1e-9)
        if inside.any():
            sampled = layer.sample_at(local[inside], width_s=width)
            values[inside] += np.nan_to_num(sampled, nan=0.0).astype(np.float32)
    names = None
    for _, layer in placements:
        names = layer.names
    return TimeSeries(values, grid.rate_hz, start_s=grid.start_s, names=names)


def _design(study, config: EncodeConfig, runs: list, embeddings, layers):
    """Features (layer -> one series per run/segment), responses, and the voxel space."""
    standard = {
        name: {layer: standardised_layer(series[layer], rectify=config.rectify) for layer in layers}
        for name, series in embeddings.items()
    }
    if config.target == "bold":
        responses, placements, space = _bold_targets(study, config, runs)
    elif config.target == "ratings":
        responses, placements = _ratings_targets(study, config, runs)
        space = None
    else:
        responses, placements = _physio_targets(study, config, runs)
        space = None
    features = {
        layer: [
            place_on_grid(
                [(onset, standard[name][layer]) for onset, name in placed],
                grid,
                n_features=next(iter(standard.values()))[layer].n_channels,
            )
            for placed, grid in zip(placements, responses, strict=True)
        ]
        for layer in layers
    }
    return features, responses, space


def _bold_files(study, config: EncodeConfig, run) -> list[Path]:
    """Files of a run's targets: raw BOLD, fMRIPrep's BOLD, mask and confounds, or parcels."""
    from frisson.study import find_parcellated, find_preprocessed

    entities = {"sub": run.participant, **run.entities}
    if config.parcellated is not None:
        return [find_parcellated(_in_study(study, config.parcellated), entities, seg=config.seg)]
    if config.derivatives is None:
        return [run.bold]
    found = find_preprocessed(
        _in_study(study, config.derivatives), entities, space=config.space, desc=config.desc
    )
    return [p for p in (found.bold, found.mask, found.confounds) if p is not None]


def _in_study(study, folder: Path) -> Path:
    folder = Path(folder)
    return folder if folder.is_absolute() else study.root / folder


def _bold_options(config: EncodeConfig) -> dict[str, Any]:
    """Keyword arguments of :meth:`Study.read_bold` for the configured mask or atlas."""
    options: dict[str, Any] = {"tr_s": config.tr_s}
    if config.atlas is not None:
        options.update(atlas=config.atlas, atlas_labels=config.atlas_labels, mask=config.mask)
    elif config.mask is not None:
        options["mask"] = config.mask
    return options


def _read_targets(study, config: EncodeConfig, run) -> TimeSeries:
    """A run's BOLD targets: raw voxels or ROIs, fMRIPrep's cleaned BOLD, or XCP-D's parcels."""
    from frisson.study import clean_bold

    if config.parcellated is not None:
        return clean_bold(
            study.read_parcellated(run, config.parcellated, seg=config.seg, tr_s=config.tr_s),
            detrend_order=config.detrend_order,
            high_pass_hz=config.high_pass_hz,
        )
    if config.derivatives is None:
        return study.read_bold(run, **_bold_options(config))
    return study.read_preprocessed(
        run,
        config.derivatives,
        space=config.space,
        desc=config.desc,
        confounds=config.confounds,
        detrend_order=config.detrend_order,
        high_pass_hz=config.high_pass_hz,
        **_bold_options(config),
    )


def _bold_targets(study, config: EncodeConfig, runs: list):
    nib = import_optional("nibabel")

    responses, placements = [], []
    for run in runs:
        bold = _read_targets(study, config, run)
        responses.append(bold)
        placements.append([(onset, name) for onset, _, name in _presentations(study, run)])
    units = responses[0].names
    for run, bold in zip(runs, responses, strict=True):
        if bold.names != units:
            raise DataError(
                f"{run.bold}: has other voxels/ROIs than {runs[0].bold}; "
                "runs of one participant must share the grid (set mask = ...)."
            )
    if config.mask is None and config.atlas is None:
        # No mask: keep voxels with signal (non-constant, finite) in every run.
        keep = np.ones(len(units), dtype=bool)
        for bold in responses:
            values = bold.values
            keep &= np.isfinite(values).all(axis=0) & (values.std(axis=0) > 0)
        if not keep.any():
            raise DataError(f"{runs[0].bold}: no voxel varies in every run.")
        logger.info(
            "no mask: %d of %d voxels vary in every run (set mask = ... to choose)",
            int(keep.sum()),
            keep.size,
        )
        chosen = [units[i] for i in np.flatnonzero(keep)]
        responses = [bold.select(chosen) for bold in responses]
    space = None
    if config.atlas is None and config.parcellated is None:
        image = nib.load(_bold_files(study, config, runs[0])[0])
        space = {"shape": tuple(image.shape[:3]), "affine": np.asarray(image.affine)}
    return responses, placements, space


def _segment_grid(duration_s: float, rate_hz: float) -> np.ndarray:
    return np.arange(int(np.floor(duration_s * rate_hz + 1e-9)) + 1) / rate_hz


def _trial_channels(study, config: EncodeConfig, run, default: tuple[str, ...] | None):
    """Per trial of the run: (stimulus, duration, {channel: values on the segment grid})."""
    post = config.resolved_post_s
    wanted = config.channels or default or ()
    pre = _HR_PAD_S if "hr" in wanted else 0.0  # beats before onset frame the first window
    out = []
    for trial in study.trials(participant=run.participant, pre_s=pre, post_s=post, on_error="skip"):
        if trial.run != run.label:
            continue
        names = config.channels or default
        if names is None:  # ratings: every channel that is not physiology
            names = tuple(k for k in trial.responses if k not in _PHYSIO_KINDS)
        times = _segment_grid(trial.duration_s + post, config.response_rate_hz)
        values = {}
        for name in names:
            if name == "hr" and name not in trial.responses:
                values[name] = _trial_heart_rate(trial, times, run)
                continue
            if name not in trial.responses:
                raise DataError(
                    f"{run.events}: trial {trial.stimulus!r} has no channel {name!r}; "
                    f"recorded: {sorted(trial.responses)}. Set channels = [...] in [encode]."
                )
            series = trial.responses[name]
            values[name] = series.sample_at(times, width_s=1.0 / config.response_rate_hz)[:, 0]
        out.append((trial.stimulus, trial.duration_s, values))
    return out


_HR_PAD_S = 5.0  # half the heart-rate window: the first sample's window is full
_HR_WINDOW_S = 10.0  # the chills study's weighted inter-beat-interval average


def _trial_heart_rate(trial, times_s: np.ndarray, run) -> np.ndarray:
    """Heart rate (bpm) on the trial's grid from its PPG or ECG; NaN where beats are lost.

    :func:`frisson.physio.find_beats` then :func:`frisson.physio.heart_rate` (10-s
    weighted inter-beat intervals): a window touching an interval over 2 s (lost
    beats) is NaN, and so is every sample within 5 s of raw signal that is NaN.
    """
    from frisson.physio import find_beats, heart_rate

    kind = next((k for k in ("ppg", "ecg") if k in trial.responses), None)
    if kind is None:
        raise DataError(
            f"{run.events}: trial {trial.stimulus!r}: channel 'hr' is derived from a ppg or "
            f"ecg channel; recorded: {sorted(trial.responses)}. Record one, or drop 'hr'."
        )
    signal = trial.responses[kind]
    lost = signal.times_s[~np.isfinite(signal.values[:, 0])]
    beats = find_beats(signal.interpolate_nan(), kind=kind)
    width = float(times_s[1] - times_s[0]) if times_s.size > 1 else 1.0
    hr = heart_rate(
        beats, rate_hz=1.0 / width, window_s=_HR_WINDOW_S, start_s=times_s[0], end_s=times_s[-1]
    )
    values = hr.sample_at(times_s, width_s=width)[:, 0]
    if lost.size:
        near = np.abs(times_s[:, None] - lost[None, ::10]).min(axis=1) <= _HR_WINDOW_S / 2
        values[near] = np.nan
    return values


def _with_derivative(name: str, values: np.ndarray, rate_hz: float) -> dict[str, np.ndarray]:
    derivative = np.abs(np.gradient(values)) * rate_hz if values.size > 1 else np.zeros(1)
    return {name: values, f"{name}_absderiv": derivative}


def _finite_segment(columns: dict[str, np.ndarray], rate_hz: float) -> TimeSeries | None:
    """Columns cut to the span where all are finite, inner gaps interpolated; None if < 3 s."""
    data = np.column_stack(list(columns.values()))
    finite = np.isfinite(data).all(axis=1)
    if finite.sum() < max(3, 3 * rate_hz):
        return None
    first, last = np.flatnonzero(finite)[[0, -1]]
    series = TimeSeries(
        data[first : last + 1], rate_hz, start_s=first / rate_hz, names=list(columns)
    )
    return series.interpolate_nan()


def _ratings_targets(study, config: EncodeConfig, runs: list):
    """Group-mean ratings per stimulus (raw and |derivative|), one segment per stimulus."""
    rate = config.response_rate_hz
    per_stimulus: dict[str, list[dict[str, np.ndarray]]] = {}
    durations: dict[str, float] = {}
    for run in runs:
        for stimulus, duration, values in _trial_channels(study, config, run, None):
            per_stimulus.setdefault(stimulus, []).append(values)
            durations[stimulus] = duration
    responses, placements = [], []
    names = None
    for stimulus in sorted(per_stimulus):
        trials = per_stimulus[stimulus]
        names = names or sorted(trials[0])
        if not names:
            raise DataError(
                f"{study.root}: no ratings channel found; set channels = [...] in [encode]."
            )
        means: dict[str, np.ndarray] = {}
        for name in names:
            stacked = np.vstack([t[name] for t in trials])
            counts = np.isfinite(stacked).sum(axis=0)
            means[name] = np.divide(
                np.nansum(stacked, axis=0),
                counts,
                out=np.full(counts.shape, np.nan),
                where=counts > 0,
            )
        segment = _finite_segment(means, rate)
        if segment is None:
            logger.warning("ratings: %s has under 3 s of ratings; left out", stimulus)
            continue
        columns: dict[str, np.ndarray] = {}
        for index, name in enumerate(names):
            columns.update(_with_derivative(name, segment.values[:, index], rate))
        segment = segment.replace(np.column_stack(list(columns.values())), names=list(columns))
        responses.append(segment)
        placements.append([(0.0, stimulus)])
    logger.info("ratings: group mean of %d stimuli, channels %s", len(responses), names)
    return responses, placements


def _physio_targets(study, config: EncodeConfig, runs: list):
    """One segment per trial of the participant: physiology channels on stimulus time."""
    responses, placements = [], []
    for run in runs:
        for stimulus, _, values in _trial_channels(study, config, run, ("eda",)):
            missing = max(np.isnan(v).mean() for v in values.values())
            if missing > 0.2:
                logger.warning(
                    "%s %s: %.0f %% of the physiology missing; trial left out",
                    run.label,
                    stimulus,
                    100 * missing,
                )
                continue
            segment = _finite_segment(values, config.response_rate_hz)
            if segment is not None:
                responses.append(segment)
                placements.append([(0.0, stimulus)])
    return responses, placements
