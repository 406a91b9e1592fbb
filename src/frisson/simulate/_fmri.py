"""Simulated fMRI listening studies whose voxels follow known encoder layers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_int, check_positive, rng_from_seed
from frisson._docs import fill_doc
from frisson._optional import import_optional
from frisson.errors import ParameterError
from frisson.simulate._bids import task_sidecars, write_dataset_files
from frisson.simulate._music import _stimulus_paths
from frisson.timeseries import TimeSeries

__all__ = [
    "FmriParams",
    "SimulatedFmri",
    "simulate_fmri_study",
    "stimulus_features_on_grid",
    "voxel_name",
]


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


@fill_doc
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
    %(progress_bar)s

    Returns
    -------
    SimulatedFmri

    """
    from tqdm.auto import tqdm

    from frisson._logging import progress_enabled
    from frisson.encoders import get_encoder

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
    root = Path(out_dir)
    features, durations = _stimulus_features(
        _stimulus_paths(stimuli), enc, layers, params, root, show
    )
    space = _draw_space(rng, params, layers, features)
    names = list(features)
    participant_rows = []
    for index in tqdm(range(params.n_participants), desc="participants", disable=not show):
        pid = f"{index + 1:02d}"
        participant_rows.append({"participant_id": f"sub-{pid}"})
        order = [names[i] for i in rng.permutation(len(names))]
        _write_fmri_participant(rng, params, space, features, durations, root, pid, order)
    write_dataset_files(
        root,
        participant_rows,
        name="frisson simulated fMRI listening study",
        command="simulate-fmri",
        layout=_README_LAYOUT,
        sidecars=task_sidecars(
            "music",
            "Listening to one piece of music per run during fMRI.",
            ("bold",),
        ),
    )
    _write_fmri_truth(root, params, space, features, durations, enc, seed)
    return SimulatedFmri(
        root,
        layers,
        space.mask,
        space.planted,
        space.responsive,
        space.atlas,
        space.voxels,
        space.weights,
        features,
        params,
        seed,
    )


@dataclass(frozen=True)
class _Space:
    """The simulated volume: brain mask, planted layers, ROIs, voxel weights and baselines."""

    layers: tuple[str, ...]
    mask: np.ndarray
    planted: np.ndarray
    atlas: np.ndarray
    responsive: np.ndarray
    ijk: np.ndarray
    units: list[str]
    weights: dict[str, np.ndarray]
    baseline: np.ndarray
    affine: np.ndarray

    @property
    def voxels(self):
        """One row per brain voxel (the ``voxels.tsv`` table)."""
        import pandas as pd

        mask, planted = self.mask, self.planted
        return pd.DataFrame(
            {
                "unit": self.units,
                "i": self.ijk[:, 0],
                "j": self.ijk[:, 1],
                "k": self.ijk[:, 2],
                "roi": self.atlas[mask],
                "responsive": self.responsive[mask],
                "layer_index": planted[mask],
                "planted_layer": [self.layers[p] for p in planted[mask]],
            }
        )


def _stimulus_features(paths, enc, layers, params, root, show):
    """Every stimulus' layer features on the TR grid; the audio copied to ``stimuli/``."""
    import shutil

    from tqdm.auto import tqdm

    from frisson.audio import load_audio

    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    features: dict[str, dict[str, TimeSeries]] = {}
    durations: dict[str, float] = {}
    for path in tqdm(paths, desc="stimulus features", disable=not show):
        audio = load_audio(path)
        durations[path.name] = audio.duration_s
        embedding = enc.encode(audio, layers=list(layers))
        features[path.name] = {
            name: stimulus_features_on_grid(embedding[name], audio.duration_s, params.tr_s)
            for name in layers
        }
        if path.resolve() != (root / "stimuli" / path.name).resolve():
            shutil.copy2(path, root / "stimuli" / path.name)
    return features, durations


def _draw_space(rng, params, layers, features) -> _Space:
    """A brain ellipsoid, planted layers as a gradient along j, ROIs = layer bands."""
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
    affine = np.diag([params.voxel_size_mm] * 3 + [1.0])
    affine[:3, 3] = -0.5 * params.voxel_size_mm * np.array(shape)
    return _Space(layers, mask, planted, atlas, responsive, ijk, units, weights, baseline, affine)


def _fmri_signals(space: _Space, params, features, durations, order, hrf):
    """Per run (stimulus in ``order``): the HRF-convolved drive of every voxel, and its length."""
    tr = params.tr_s
    signals, n_volumes = [], []
    for name in order:
        n = int(np.ceil((params.baseline_s + durations[name] + params.post_s) / tr))
        onset_volume = round(params.baseline_s / tr)  # stimuli start on a volume
        drive = np.zeros((n, len(space.units)))
        for column, (unit, (i, j, k)) in enumerate(zip(space.units, space.ijk, strict=True)):
            if not space.responsive[i, j, k]:
                continue
            values = features[name][space.layers[space.planted[i, j, k]]].values
            values = values @ space.weights[unit]
            stop = min(n, onset_volume + values.size)
            drive[onset_volume:stop, column] = values[: stop - onset_volume]
        signals.append(_convolve_columns(drive, hrf))
        n_volumes.append(n)
    return signals, n_volumes


#: The layout section of a simulated fMRI study's README.
_README_LAYOUT = """- `sub-XX/func/sub-XX_task-music_run-N_bold.nii.gz` (+ `.json` with
  `RepetitionTime`, `TaskName`): one run per stimulus, 4-D float32.
- `sub-XX/func/sub-XX_task-music_run-N_events.tsv`: the run's stimulus (`stim_file`
  relative to `stimuli/`) and its onset in seconds from the first volume.
- `derivatives/atlas/`: the brain mask and a region atlas (`rois_dseg`).
- `derivatives/ground_truth/`: the planted layer of every voxel, responsive voxels,
  weights and the simulation's parameters.
"""


def _write_fmri_participant(rng, params, space: _Space, features, durations, root, pid, order):
    """Write one participant's runs (BOLD, sidecar, events), one stimulus per run."""
    import json

    nib = import_optional("nibabel")

    from frisson.models.encoding import canonical_hrf
    from frisson.study import write_events

    tr = params.tr_s
    shape, mask = tuple(params.volume_shape), space.mask
    signals, n_volumes = _fmri_signals(
        space, params, features, durations, order, canonical_hrf(1.0 / tr)
    )
    # Scale each voxel's signal to variance snr over the participant's runs.
    scale = np.concatenate(signals).std(axis=0)
    scale[scale == 0] = 1.0
    folder = root / f"sub-{pid}" / "func"
    for run, (name, signal, n) in enumerate(zip(order, signals, n_volumes, strict=True), 1):
        noise = _ar1_noise(rng, (n, len(space.units)), params.noise_ar1)
        fluctuation = np.sqrt(params.snr) * signal / scale + noise
        data = np.zeros((*shape, n), dtype=np.float32)
        values = space.baseline[mask][None, :] * (1 + params.percent_signal / 100 * fluctuation)
        data[mask] = values.T.astype(np.float32)
        label = f"sub-{pid}_task-music_run-{run}"
        image = nib.Nifti1Image(data, space.affine)
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
                    "stim_file": name,
                }
            ],
        )


def _write_fmri_truth(root, params, space: _Space, features, durations, enc, seed) -> None:
    """The atlas (optional) and ``derivatives/ground_truth/`` of an fMRI study."""
    import json

    nib = import_optional("nibabel")
    import pandas as pd

    from frisson import __version__

    layers, mask, planted = space.layers, space.mask, space.planted

    def save(array, path, dtype):
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(array.astype(dtype), space.affine), path)

    if params.atlas:
        atlas_dir = root / "derivatives" / "atlas"
        save(mask, atlas_dir / "brain_mask.nii.gz", np.uint8)
        save(space.atlas, atlas_dir / "rois_dseg.nii.gz", np.int16)
        pd.DataFrame(
            {"index": np.arange(1, len(layers) + 1), "name": [f"band-{n}" for n in layers]}
        ).to_csv(atlas_dir / "rois_dseg.tsv", sep="\t", index=False)
    truth_dir = root / "derivatives" / "ground_truth"
    save(planted, truth_dir / "planted_layer.nii.gz", np.int16)
    save(space.responsive, truth_dir / "responsive.nii.gz", np.uint8)
    space.voxels.to_csv(truth_dir / "voxels.tsv", sep="\t", index=False)
    n_channels = {name: next(iter(features.values()))[name].n_channels for name in layers}
    by_layer = {
        name: [u for u, p in zip(space.units, planted[mask], strict=True) if p == index]
        for index, name in enumerate(layers)
    }
    np.savez_compressed(
        truth_dir / "weights.npz",
        **{
            f"layer-{name}": np.array([space.weights[u] for u in units]).reshape(
                -1, n_channels[name]
            )
            for name, units in by_layer.items()
        },
        **{f"units-{name}": np.array(units, dtype=str) for name, units in by_layer.items()},
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
                "stimuli": {name: {"duration_s": durations[name]} for name in features},
            },
            indent=2,
            default=str,
        )
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
