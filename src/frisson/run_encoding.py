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
   phase-randomised null, Benjamini-Hochberg q.
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

import gzip
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from frisson._cache import StepCache, file_key
from frisson._check import check_option, check_positive
from frisson._io import atomic_write
from frisson._logging import logger, progress_enabled
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["EncodeConfig", "EncodingResults", "run_encoding"]

TARGETS = ("bold", "ratings", "physio")
_PHYSIO_KINDS = ("eda", "ppg", "ecg", "resp", "trigger")
_AUDIO = {".wav", ".flac", ".ogg", ".mp3", ".opus"}


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
        Ridge penalties (default ``logspace(-1, 7, 17)``).
    n_components : float, int or None
        PCA per layer (variance fraction, count, or None for none).
    rectify : bool
        Rectify each layer's frames before z-scoring.
    n_permutations : int
        Phase-randomised refits of the null (0: no p-values).
    fdr_q : float
        q threshold of "significant" in figures and summaries.
    mask, atlas, atlas_labels : Path or None
        Brain mask and ROI label image on the BOLD grid; labels TSV (columns
        ``index``, ``name``; default the ``.tsv`` beside the atlas).
    tr_s : float or None
        Repetition time when the BOLD headers lack it.
    response_rate_hz : float
        Grid of ratings and physiology targets.
    post_s : float or None
        Seconds after each stimulus kept in ratings/physio segments (default 0
        for ratings, recorded while listening, 10 for physiology).
    seed : int
        Seed of the null.

    """

    study: Path
    output: Path
    target: str = "bold"
    encoder: str = "musicnn-msd"
    encoder_params: dict[str, Any] = field(default_factory=dict)
    layers: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    task: str | None = None
    participants: tuple[str, ...] | None = None
    delays_s: tuple[float, ...] | str = "auto"
    alphas: tuple[float, ...] | None = None
    n_components: float | int | None = 0.99
    rectify: bool = False
    n_permutations: int = 100
    fdr_q: float = 0.05
    mask: Path | None = None
    atlas: Path | None = None
    atlas_labels: Path | None = None
    tr_s: float | None = None
    response_rate_hz: float = 5.0
    post_s: float | None = None
    seed: int = 0

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
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: configuration file not found.")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise DataError(f"{path}: not valid TOML ({error}).") from None
        if "encode" not in raw or set(raw) - {"encode", "encoder_params"}:
            raise DataError(
                f"{path}: expected an [encode] table (and optionally [encoder_params]); "
                f"found {sorted(raw)}."
            )
        settings = dict(raw["encode"])
        valid = {f.name for f in fields(cls)} - {"encoder_params"}
        unknown = sorted(set(settings) - valid)
        if unknown:
            raise DataError(
                f"{path}: unknown key(s) {unknown} in [encode]; valid: {sorted(valid)}."
            )
        for key in ("study", "output"):
            if key not in settings:
                raise DataError(f'{path}: [encode] needs {key} = "<folder>".')
        for key in ("study", "output", "mask", "atlas", "atlas_labels"):
            if key in settings:
                settings[key] = (path.parent / settings[key]).resolve()
        for key in ("layers", "channels", "participants", "alphas"):
            if key in settings:
                value = settings[key]
                settings[key] = (value,) if isinstance(value, str) else tuple(value)
        if isinstance(settings.get("delays_s"), list):
            settings["delays_s"] = tuple(settings["delays_s"])
        if settings.get("n_components") == "none":
            settings["n_components"] = None
        try:
            config = cls(**settings, encoder_params=raw.get("encoder_params", {}))
            config.check()
        except ParameterError as error:
            raise DataError(f"{path}: {error}") from None
        return config

    def check(self) -> None:
        """Refuse settings that cannot work, naming the valid ones."""
        check_option("target", self.target, TARGETS)
        check_positive("response_rate_hz", self.response_rate_hz)
        check_positive("fdr_q", self.fdr_q)
        if self.post_s is not None:
            check_positive("post_s", self.post_s, allow_zero=True)
        if self.tr_s is not None:
            check_positive("tr_s", self.tr_s)
        if isinstance(self.delays_s, str):
            check_option("delays_s", self.delays_s, ("auto", "hrf"))
        if self.target != "bold" and (self.mask or self.atlas):
            raise ParameterError(f"mask and atlas apply to target = 'bold', not {self.target!r}.")

    @property
    def resolved_post_s(self) -> float:
        """``post_s``, or its default for the target (0 for ratings, 10 s otherwise)."""
        if self.post_s is not None:
            return self.post_s
        return 0.0 if self.target == "ratings" else 10.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


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
    files : list of Path
        Everything written.

    """

    config: EncodeConfig
    layers: tuple[str, ...] = ()
    profiles: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

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
        lines.append(f"wrote {len(self.files)} files to {self.config.output}/")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ steps
def run_encoding(config: EncodeConfig, *, progress_bar: bool | None = None) -> EncodingResults:
    """Fit layer profiles on a study and write tables, figures and maps.

    Parameters
    ----------
    config : EncodeConfig
        What to run (see :meth:`EncodeConfig.from_toml`).
    progress_bar : bool, optional
        Progress bars (default: when stderr is a terminal).

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

    from frisson.encoders import get_encoder
    from frisson.encoders._base import resolve_layers
    from frisson.study import read_study

    config.check()
    show = progress_enabled(progress_bar)
    study = read_study(config.study)
    for problem in study.validate():
        log = logger.warning if problem.severity == "error" else logger.info
        log("study %s: %s: %s", problem.severity, problem.path, problem.message)
    encoder = get_encoder(config.encoder, **config.encoder_params)
    layers = resolve_layers(encoder, list(config.layers) if config.layers else None)
    runs = _select_runs(study, config)
    stimuli = sorted({name for run in runs for _, _, name in _presentations(study, run)})
    missing = [name for name in stimuli if name not in study.stimuli]
    if missing:
        raise DataError(
            f"{study.root}: the events name stimuli {missing} that are not in stimuli/; "
            "add the audio files or fix stim_file."
        )
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    cache = StepCache(output / "cache")
    embeddings: dict[str, dict[str, TimeSeries]] = {}
    embedding_keys: dict[str, str] = {}
    for name in tqdm(stimuli, desc="embeddings", disable=not show):
        path = study.stimuli[name]
        if path.suffix.lower() not in _AUDIO:
            raise DataError(f"{path}: not an audio file ({', '.join(sorted(_AUDIO))}).")
        key = cache.key("embedding", file_key(path), encoder.name, encoder.config(), layers)
        embedding_keys[name] = key
        embeddings[name] = cache.get(
            "embedding", key, lambda path=path: _embed(encoder, path, layers)
        )

    fits = _fit_plan(study, config, runs)
    results = EncodingResults(config, tuple(layers))
    settings = {
        k: v
        for k, v in config.to_dict().items()
        if k not in ("study", "output", "participants", "fdr_q")
    }
    spaces: dict[str, Any] = {}
    for label, fit_runs in tqdm(fits.items(), desc="fits", disable=not show):
        key = cache.key(
            "fit",
            label,
            [[file_key(p) for p in _run_files(run)] for run in fit_runs],
            [embedding_keys[n] for n in stimuli],
            [file_key(p) for p in (config.mask, config.atlas, config.atlas_labels) if p],
            settings,
        )

        def compute(label=label, fit_runs=fit_runs):
            features, responses, space = _design(study, config, fit_runs, embeddings, layers)
            if len(responses) < 3:
                raise DataError(
                    f"{label}: {len(responses)} run(s)/segment(s); leave-one-run-out "
                    "cross-validation needs at least 3."
                )
            logger.info("%s: fitting %d layers on %d runs", label, len(layers), len(responses))
            profiles = _fit(config, features, responses, show)
            return {"profiles": profiles, "space": space}

        try:
            fitted = cache.get("fit", key, compute)
        except DataError as error:
            if len(fits) == 1:
                raise
            logger.warning("skipping %s: %s", label, error)
            continue
        results.profiles[label] = fitted["profiles"]
        spaces[label] = fitted["space"]
    if not results.profiles:
        raise DataError(f"{study.root}: no participant could be fitted (see the warnings).")
    results.files = _write_outputs(results, spaces, output)
    return results


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
    from frisson.study import _split_events, _stimulus_name

    presentations, _ = _split_events(study.read_events(run))
    return [(onset, duration, _stimulus_name(stim)) for onset, duration, stim in presentations]


def _run_files(run) -> list[Path]:
    files = [run.events, *run.physio]
    files += [p for p in (run.beh, run.bold) if p is not None]
    return files


def _fit_plan(study, config: EncodeConfig, runs: list) -> dict[str, list]:
    """Which runs go into which fit: one fit per participant, or one group fit for ratings."""
    if config.target == "ratings":
        return {"group": runs}
    plan: dict[str, list] = {}
    for run in runs:
        plan.setdefault(f"sub-{run.participant}", []).append(run)
    return plan


def _embed(encoder, path: Path, layers) -> dict[str, TimeSeries]:
    from frisson.audio import load_audio

    embedding = encoder.encode(load_audio(path), layers=list(layers))
    return {name: embedding[name] for name in layers}


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


def _bold_targets(study, config: EncodeConfig, runs: list):
    import nibabel as nib

    options = {"tr_s": config.tr_s}
    if config.atlas is not None:
        options.update(atlas=config.atlas, atlas_labels=config.atlas_labels, mask=config.mask)
    elif config.mask is not None:
        options["mask"] = config.mask
    responses, placements = [], []
    for run in runs:
        bold = study.read_bold(run, **options)
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
    image = nib.load(runs[0].bold)
    space = None
    if config.atlas is None:
        space = {"shape": tuple(image.shape[:3]), "affine": np.asarray(image.affine)}
    return responses, placements, space


def _segment_grid(duration_s: float, rate_hz: float) -> np.ndarray:
    return np.arange(int(np.floor(duration_s * rate_hz + 1e-9)) + 1) / rate_hz


def _trial_channels(study, config: EncodeConfig, run, default: tuple[str, ...] | None):
    """Per trial of the run: (stimulus, duration, {channel: values on the segment grid})."""
    post = config.resolved_post_s
    out = []
    for trial in study.trials(participant=run.participant, post_s=post, on_error="skip"):
        if trial.run != run.label:
            continue
        names = config.channels or default
        if names is None:  # ratings: every channel that is not physiology
            names = tuple(k for k in trial.responses if k not in _PHYSIO_KINDS)
        times = _segment_grid(trial.duration_s + post, config.response_rate_hz)
        values = {}
        for name in names:
            if name not in trial.responses:
                raise DataError(
                    f"{run.events}: trial {trial.stimulus!r} has no channel {name!r}; "
                    f"recorded: {sorted(trial.responses)}. Set channels = [...] in [encode]."
                )
            series = trial.responses[name]
            values[name] = series.sample_at(times, width_s=1.0 / config.response_rate_hz)[:, 0]
        out.append((trial.stimulus, trial.duration_s, values))
    return out


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


def _gzip_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    import nibabel as nib

    image = nib.Nifti1Image(array, affine)
    data = gzip.compress(image.to_bytes(), compresslevel=4)
    return atomic_write(path, lambda p: Path(p).write_bytes(data))


# ------------------------------------------------------------------------------ outputs
def _table(path: Path, frame) -> Path:
    return atomic_write(path, lambda p: frame.to_csv(p, sep="\t", index=False, float_format="%.6g"))


def _figure(path: Path, figure) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: figure.savefig(p, dpi=100, format="png"))
    plt.close(figure)
    return path


def _best_r(profile) -> np.ndarray:
    units = np.arange(len(profile.units))
    best = np.where(
        profile.best_layer >= 0, profile.r[np.maximum(profile.best_layer, 0), units], np.nan
    )
    return best


def _write_outputs(results: EncodingResults, spaces: dict[str, Any], output: Path) -> list[Path]:
    import json

    import pandas as pd

    from frisson.report.encoding_figures import (
        mean_ci,
        plot_best_layers,
        plot_layer_profiles,
        plot_slice_mosaic,
    )

    config, layers = results.config, list(results.layers)
    q = config.fdr_q
    files: list[Path] = []
    long, best_rows, summary_rows = [], [], []
    for label, profile in results.profiles.items():
        frame = profile.to_frame()
        frame.insert(0, "participant", label)
        long.append(frame)
        best_rows.append(
            pd.DataFrame(
                {
                    "participant": label,
                    "unit": profile.units,
                    "best_layer": profile.best_layer_names(),
                    "best_layer_index": profile.best_layer,
                    "r": _best_r(profile),
                    "p": profile.p_best,
                    "q": profile.q_best,
                    "significant": profile.q_best < q,
                }
            )
        )
        mean, half = mean_ci(profile.r)
        for index, layer in enumerate(layers):
            summary_rows.append(
                {
                    "participant": label,
                    "layer": layer,
                    "mean_r": mean[index],
                    "ci95_halfwidth": half[index],
                    "units_q_below": int(np.sum(profile.q[index] < q)),
                    "units_best": int(np.sum(profile.best_layer == index)),
                    "units_best_significant": int(
                        np.sum((profile.best_layer == index) & (profile.q_best < q))
                    ),
                }
            )
    files.append(_table(output / "profiles.tsv", pd.concat(long, ignore_index=True)))
    files.append(_table(output / "best_layers.tsv", pd.concat(best_rows, ignore_index=True)))
    files.append(_table(output / "layer_summary.tsv", pd.DataFrame(summary_rows)))

    # Layer profiles: CIs across units (many units), across folds (few units), and
    # across participants (several fits).
    curves: dict[str, np.ndarray] = {}
    for label, profile in list(results.profiles.items())[:8]:
        if len(profile.units) <= 4:
            for u, unit in enumerate(profile.units):
                curves[f"{label} {unit} (folds)"] = profile.fold_r[:, :, u]
        else:
            significant = profile.q_best < q
            chosen = significant if significant.sum() >= 2 else np.ones_like(significant)
            what = f"q < {q:g}" if significant.sum() >= 2 else "all units"
            curves[f"{label} ({what})"] = profile.r[:, chosen]
    if len(results.profiles) > 1:
        per_fit = np.column_stack([np.nanmean(p.r, axis=1) for p in results.profiles.values()])
        curves["participants (mean over units)"] = per_fit
    files.append(
        _figure(
            output / "layer_profiles.png",
            plot_layer_profiles(curves, layers, title=f"{config.encoder}: layer profiles"),
        )
    )
    best = np.concatenate([p.best_layer for p in results.profiles.values()])
    significant = np.concatenate([p.q_best < q for p in results.profiles.values()])
    files.append(
        _figure(
            output / "best_layers.png",
            plot_best_layers(
                best, layers, significant=significant, title=f"best layer (q < {q:g})"
            ),
        )
    )
    files += _write_maps(results, spaces, output, plot_slice_mosaic)
    settings = output / "settings.json"
    atomic_write(
        settings,
        lambda p: Path(p).write_text(
            json.dumps({**config.to_dict(), "layers": layers}, indent=2, default=str)
        ),
    )
    files.append(settings)
    return files


def _write_maps(results: EncodingResults, spaces: dict[str, Any], output: Path, mosaic):
    """Best-layer and max-r NIfTIs and mosaics per participant, and for the group."""
    from frisson.study import voxel_ijk

    layers = list(results.layers)
    q = results.config.fdr_q
    files: list[Path] = []
    voxel_fits = {k: v for k, v in results.profiles.items() if spaces.get(k) is not None}
    if not voxel_fits:
        return files

    def write(prefix: str, shape, affine, ijk, best_index, best_r, significant) -> None:
        best_map = np.zeros(shape, dtype=np.int16)
        r_map = np.zeros(shape, dtype=np.float32)
        shown = -np.ones(shape, dtype=int)
        i, j, k = ijk.T
        best_map[i, j, k] = best_index + 1
        r_map[i, j, k] = np.nan_to_num(best_r)
        shown[i, j, k] = np.where(significant, best_index, -1)
        files.append(_gzip_nifti(output / f"{prefix}_best_layer.nii.gz", best_map, affine))
        files.append(_gzip_nifti(output / f"{prefix}_max_r.nii.gz", r_map, affine))
        title = f"{prefix}: best layer of voxels with q < {q:g} ({int(significant.sum())})"
        files.append(
            _figure(output / f"{prefix}_best_layer.png", mosaic(shown, layers=layers, title=title))
        )

    for label, profile in voxel_fits.items():
        space = spaces[label]
        write(
            label,
            space["shape"],
            space["affine"],
            voxel_ijk(profile.units),
            profile.best_layer,
            _best_r(profile),
            profile.q_best < q,
        )
    first = next(iter(voxel_fits))
    same_grid = all(
        spaces[k]["shape"] == spaces[first]["shape"]
        and np.allclose(spaces[k]["affine"], spaces[first]["affine"])
        for k in voxel_fits
    )
    if len(voxel_fits) > 1 and same_grid:
        common = sorted(set.intersection(*(set(p.units) for p in voxel_fits.values())))
        if common:
            z = np.mean(
                [
                    np.arctanh(np.clip(p.r[:, [p.units.index(u) for u in common]], -0.999, 0.999))
                    for p in voxel_fits.values()
                ],
                axis=0,
            )
            group_r = np.tanh(z)
            finite = np.isfinite(group_r)
            best_index = np.where(
                finite.any(axis=0), np.argmax(np.where(finite, group_r, -np.inf), axis=0), -1
            )
            best_r = group_r[np.maximum(best_index, 0), np.arange(len(common))]
            # A voxel counts in the group map when its best layer is significant in most fits.
            votes = np.mean(
                [(p.q_best < q)[[p.units.index(u) for u in common]] for p in voxel_fits.values()],
                axis=0,
            )
            write(
                "group",
                spaces[first]["shape"],
                spaces[first]["affine"],
                voxel_ijk(common),
                best_index,
                best_r,
                votes > 0.5,
            )
    return files
