"""musicnn and vgg: pretrained music auto-taggers as offline frisson encoders.

The ``musicnn==0.1.0`` wheel (Pons & Serra, ISC licence) ships four
TensorFlow-1 checkpoints of music auto-tagging networks: ``MSD_musicnn`` and
``MSD_vgg`` (trained on the Million Song Dataset, 50 tags) and ``MTT_musicnn``
and ``MTT_vgg`` (MagnaTagATune, 50 tags). frisson reads those checkpoint files
with its own tensor-bundle reader and runs PyTorch ports of the networks, so
neither TensorFlow nor the wheel's Python modules are ever imported; the wheel
is only a container of weights. ``frisson fetch musicnn`` unpacks the four
checkpoints from the published wheel into ``$FRISSON_HOME/musicnn-0.1.0``
(hash-checked, nothing installed); an installed wheel
(``pip install --no-deps musicnn==0.1.0``, as ``make install`` does) is read too.

Preprocessing (as the original's ``batch_data``)
------------------------------------------------
Audio is resampled to 16 kHz (soxr, high quality, as ``librosa.load``); a
power mel spectrogram with ``n_fft=512``, ``hop=256`` (62.5 frames/s), 96 Slaney
bands, centred frames, is rounded to float16 (as the original does) and
compressed as ``log10(10000 * x + 1)`` in float32 arithmetic (what numpy 1.x
computed; under numpy 2 the original would overflow float16). The spectrogram
is cut into patches of 187 frames (2.992 s); frames after the last full patch
are dropped, as in the original.

Layers and their time axes
--------------------------
Frame ``k`` of the spectrogram is centred on ``k / 62.5`` s.

* musicnn frame layers ``timbral`` (408), ``temporal`` (153), ``cnn1``,
  ``cnn2``, ``cnn3`` (64 each): one row per spectrogram frame, at 62.5 Hz from
  0 s.
* vgg frame layers ``pool1`` .. ``pool5``: one row per pooled step, at
  ``62.5 / stride`` Hz (strides 2, 4, 8, 16, 64 frames), each stamped with the
  centre of the frames it pools; the features are (frequency x channel)
  flattened, named ``f{band}_c{channel}``.
* patch layers (musicnn ``mean_pool``, ``max_pool`` (753), ``penultimate``
  (200); both families' ``taggram`` (50 tag probabilities, channels named by
  tag)): one row per patch, stamped with the patch centre, at
  ``62.5 / hop_frames`` Hz.

Patches start every ``patch_hop_s`` seconds (rounded to whole frames): the
original's non-overlapping 3 s by default for musicnn, or overlapping for
smoother patch-level trajectories. Where patches overlap, each frame-layer row
is taken from the patch whose centre is nearest, so rows come from the middle
of their patch, away from the zero padding at patch edges; with
non-overlapping patches the frame layers are the per-patch tensors
concatenated. vgg's pooled grids line up across patches only when the hop is a
multiple of 64 frames, and cover the timeline without gaps only up to 128
frames, so vgg defaults to a 128-frame (2.048 s) hop; its ``taggram`` alone
accepts any hop.

Patch edges show: each patch is zero-padded, so rows near its edges see
padding (the temporal filters span 128 frames). On a rock track with the
original non-overlapping patches, the ``temporal`` layer's change between
neighbouring rows is 4x its median where rows switch patch; with
``patch_hop_s=1.0`` (rows at most 0.5 s from their patch centre, three times
the computation) it is 1.0x, and ``cnn3`` shows no jump either way (0.9x, 1.1x).

Exactness
---------
``tests/test_musicnn_equivalence.py`` compares every layer of all four models
with the original TensorFlow graph (``scripts/make_musicnn_reference.py``):
taggram and penultimate within 1e-4 absolute, deeper tensors within 1e-5 of
each tensor's largest magnitude, from audio to tags.

Note that the original ``musicnn.extractor.extractor`` returns patch 0's
``cnn1``-``cnn3`` and ``penultimate`` for every patch (it concatenates stale
variables); frisson returns each patch's own values, as the graph computes them.

References
----------
J. Pons and X. Serra (2019). musicnn: pre-trained convolutional neural networks
for music audio tagging. ISMIR late-breaking/demo. https://github.com/jordipons/musicnn

"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._logging import logger
from frisson.audio import Audio
from frisson.encoders._base import Embedding, resolve_layers
from frisson.encoders._musicnn_weights import (
    FETCH_HINT,
    cached_checkpoint,
    fetch_musicnn,
    musicnn_home,
)
from frisson.encoders._registry import LayerInfo
from frisson.encoders._shared import MODELS, torch_threads
from frisson.encoders._shared import patch_starts as _patch_starts
from frisson.encoders._tf_checkpoint import CheckpointError, CheckpointReader
from frisson.errors import AudioError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "CHECKPOINTS",
    "FRAME_RATE_HZ",
    "MSD_TAGS",
    "MTT_TAGS",
    "PATCH_FRAMES",
    "MusicnnEncoder",
    "checkpoint_path",
    "fetch_musicnn",
    "log_mel",
    "patch_starts",
    "weights_available",
]

SAMPLE_RATE_HZ = 16000.0
N_FFT = 512
HOP_SAMPLES = 256
N_MELS = 96
PATCH_FRAMES = 187
FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP_SAMPLES  # 62.5 frames per second
PATCH_CENTER_FRAMES = (PATCH_FRAMES - 1) / 2  # 93: the centre frame of a patch
#: Shortest audio that yields one full patch: 187 centred frames, (187 - 1) * 256 samples.
MIN_DURATION_S = (PATCH_FRAMES - 1) * HOP_SAMPLES / SAMPLE_RATE_HZ
WHEEL = "musicnn==0.1.0"
#: How to get the checkpoints: unpacked from the published wheel into $FRISSON_HOME.
INSTALL_HINT = FETCH_HINT

MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
    "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
    "sad", "House", "happy",
)  # fmt: skip


@dataclass(frozen=True)
class _Checkpoint:
    family: str  # "musicnn" or "vgg"
    dataset: str
    tags: tuple[str, ...]
    registry_name: str


#: The checkpoints in the musicnn wheel, by folder name.
CHECKPOINTS: dict[str, _Checkpoint] = {
    "MSD_musicnn": _Checkpoint("musicnn", "Million Song Dataset", MSD_TAGS, "musicnn-msd"),
    "MTT_musicnn": _Checkpoint("musicnn", "MagnaTagATune", MTT_TAGS, "musicnn-mtt"),
    "MSD_vgg": _Checkpoint("vgg", "Million Song Dataset", MSD_TAGS, "vgg-msd"),
    "MTT_vgg": _Checkpoint("vgg", "MagnaTagATune", MTT_TAGS, "vgg-mtt"),
}


@dataclass(frozen=True)
class _Layer:
    """Where a layer's rows lie in time, relative to its patch."""

    name: str
    n_features: int
    description: str
    per_patch: bool = False
    stride_frames: int = 1  # frame layers: frames between rows
    offset_frames: float = 0.0  # frame layers: centre of row 0 after the patch's first frame
    n_steps: int = PATCH_FRAMES  # frame layers: rows per patch
    feature_shape: tuple[int, ...] = ()  # vgg: (bands, channels)


_MUSICNN_LAYERS = (
    _Layer("timbral", 408, "front-end timbral filters (7x38, 7x67), max over frequency"),
    _Layer("temporal", 153, "front-end temporal filters (128, 64, 32 frames), max over frequency"),
    _Layer("cnn1", 64, "mid-end convolution 1"),
    _Layer("cnn2", 64, "mid-end convolution 2 + residual"),
    _Layer("cnn3", 64, "mid-end convolution 3 + residual"),
    _Layer("mean_pool", 753, "patch mean of front- and mid-end features", per_patch=True),
    _Layer("max_pool", 753, "patch max of front- and mid-end features", per_patch=True),
    _Layer("penultimate", 200, "dense layer before the tags", per_patch=True),
)
_VGG_LAYERS = (
    _Layer("pool1", 48 * 128, "block 1, pooled 4x1 / 2x2", False, 2, 1.5, 92, (48, 128)),
    _Layer("pool2", 24 * 128, "block 2, pooled 2x2", False, 4, 2.5, 46, (24, 128)),
    _Layer("pool3", 12 * 128, "block 3, pooled 2x2", False, 8, 4.5, 23, (12, 128)),
    _Layer("pool4", 6 * 128, "block 4, pooled 2x2", False, 16, 8.5, 11, (6, 128)),
    _Layer("pool5", 1 * 128, "block 5, pooled 4x4", False, 64, 32.5, 2, (1, 128)),
)


def _layers_of(checkpoint: str) -> dict[str, _Layer]:
    spec = CHECKPOINTS[checkpoint]
    body = _MUSICNN_LAYERS if spec.family == "musicnn" else _VGG_LAYERS
    taggram = _Layer("taggram", len(spec.tags), "tag probabilities (sigmoid)", per_patch=True)
    return {layer.name: layer for layer in (*body, taggram)}


# ------------------------------------------------------------------------------ weights
def weights_available(checkpoint: str = "MSD_musicnn") -> bool:
    """Whether a checkpoint's files are there (fetched or an installed wheel), without loading them.

    Examples
    --------
    >>> isinstance(weights_available("MSD_musicnn"), bool)
    True

    """
    check_option("checkpoint", checkpoint, CHECKPOINTS)
    if cached_checkpoint(checkpoint) is not None:
        return True
    if importlib.util.find_spec("musicnn") is None:
        return False
    with contextlib.suppress(CheckpointError):
        return (checkpoint_path(checkpoint) / ".index").is_file()
    return False


def checkpoint_path(checkpoint: str) -> Path:
    """Folder of a checkpoint: fetched into ``$FRISSON_HOME``, else in an installed musicnn wheel.

    ``frisson fetch musicnn`` puts the checkpoints into
    ``$FRISSON_HOME/musicnn-0.1.0`` (looked at first); an installed
    ``musicnn==0.1.0`` wheel is found through importlib.resources (its modules
    are never imported).

    Raises
    ------
    CheckpointError
        If the checkpoint was neither fetched nor is in an installed wheel.

    """
    check_option("checkpoint", checkpoint, CHECKPOINTS)
    fetched = cached_checkpoint(checkpoint)
    if fetched is not None:
        return fetched
    from importlib.resources import files

    try:
        folder = files("musicnn") / checkpoint
    except ModuleNotFoundError:
        raise CheckpointError(
            f"The {checkpoint} weights ({WHEEL}) are not in {musicnn_home()} and no musicnn "
            f"wheel is installed; run `{FETCH_HINT}` once (it unpacks them from the published "
            "wheel, or `--from` a downloaded copy; set FRISSON_HOME to move the cache)."
        ) from None
    if not isinstance(folder, Path) or not folder.is_dir():
        raise CheckpointError(
            f"{folder}: the {checkpoint} checkpoint folder is missing from the installed "
            f"musicnn package; run `{FETCH_HINT}` (unpacks it into {musicnn_home()})."
        )
    return folder


def _network(checkpoint: str):
    """The PyTorch network of a checkpoint, built once per process (weights CRC-checked)."""
    return MODELS.get(("musicnn", checkpoint), lambda: _build_network(checkpoint))


def _build_network(checkpoint: str):
    from frisson.encoders._musicnn_nets import MusicnnNet, VggNet

    reader = CheckpointReader(checkpoint_path(checkpoint))
    # Adam moments and step counters are training state; the model needs the rest.
    names = [n for n in reader.names if "Adam" not in n and not n.endswith("_power")]
    tensors = reader.read(names)
    cls = MusicnnNet if CHECKPOINTS[checkpoint].family == "musicnn" else VggNet
    network = cls(tensors).eval()
    logger.debug("loaded %s: %d tensors from %s", checkpoint, len(names), reader.prefix)
    return network


# ------------------------------------------------------------------------ preprocessing
def log_mel(audio: Audio) -> TimeSeries:
    """The original musicnn input: compressed 96-band mel frames at 62.5 Hz.

    Parameters
    ----------
    audio : Audio
        Any rate; resampled to 16 kHz.

    Returns
    -------
    TimeSeries, shape (n_frames, 96)
        ``log10(10000 * float16(power) + 1)`` in float32, with ``power`` the
        Slaney mel power spectrum (``n_fft=512``, ``hop=256``, centred frames):
        frame ``k`` at ``k / 62.5`` s; ``n_frames = 1 + n_samples_16k // 256``.

    Raises
    ------
    AudioError
        If the mel power overflows float16 (samples far beyond full scale).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000 * 2) / 16000
    >>> frames = log_mel(audio_from_array(0.5 * np.sin(2 * np.pi * 440 * t), 16000))
    >>> frames.values.shape, frames.rate_hz
    ((126, 96), 62.5)

    """
    import librosa

    audio = audio.resample(SAMPLE_RATE_HZ)
    power = librosa.feature.melspectrogram(
        y=audio.samples, sr=SAMPLE_RATE_HZ, n_fft=N_FFT, hop_length=HOP_SAMPLES, n_mels=N_MELS
    ).T
    rounded = _float16_round(power)
    if not np.isfinite(rounded).all():
        raise AudioError(
            f"{audio.source}: the mel power exceeds the float16 range of musicnn's input "
            f"(peak sample {np.abs(audio.samples).max():.3g}); scale the audio to full scale 1."
        )
    values = np.log10(np.float32(10000) * rounded + np.float32(1))
    return TimeSeries(
        values, FRAME_RATE_HZ, names=[f"mel{b:02d}" for b in range(N_MELS)], units=None
    )


def _float16_round(values: np.ndarray) -> np.ndarray:
    """``values.astype(float16).astype(float32)``, bit for bit, with torch's vectorised casts.

    Both round to nearest, ties to even, and overflow to inf; numpy's cast is a
    few times slower.
    """
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    return tensor.to(torch.float16).to(torch.float32).numpy()


def patch_starts(n_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of each patch, as the original: ``range(0, n_frames - 187 + 1, hop)``.

    Examples
    --------
    >>> patch_starts(626, 187)
    array([  0, 187, 374])
    >>> patch_starts(186, 187).size
    0

    """
    return _patch_starts(n_frames, hop_frames, patch_frames=PATCH_FRAMES)


def _stitch_plan(layer: _Layer, n_patches: int, hop_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """For every row of a frame layer: the patch it comes from and its row in that patch.

    Row ``g`` lies at frame ``offset + stride * g``; it is taken from the patch
    whose centre is nearest among the patches that compute it.
    """
    stride, per_hop = layer.stride_frames, hop_frames // layer.stride_frames
    n_rows = (n_patches - 1) * per_hop + layer.n_steps
    rows = np.arange(n_rows)
    position = layer.offset_frames + stride * rows
    nearest = np.floor((position - PATCH_CENTER_FRAMES) / hop_frames + 0.5).astype(np.int64)
    first = np.ceil((rows - layer.n_steps + 1) / per_hop).astype(np.int64)  # patches holding g
    last = np.floor(rows / per_hop).astype(np.int64)
    patch = np.clip(nearest, np.maximum(first, 0), np.minimum(last, n_patches - 1))
    return patch, rows - patch * per_hop


# ------------------------------------------------------------------------------ encoder
class MusicnnEncoder:
    """A musicnn or vgg auto-tagger from the musicnn wheel, as a frisson encoder.

    Parameters
    ----------
    checkpoint : {'MSD_musicnn', 'MTT_musicnn', 'MSD_vgg', 'MTT_vgg'}
        Which network (registry names ``musicnn-msd``, ``musicnn-mtt``,
        ``vgg-msd``, ``vgg-mtt`` fix it).
    patch_hop_s : float, optional
        Seconds between patch starts, rounded to whole frames (1/62.5 s) and at
        most one patch (2.992 s). Default: 2.992 s (187 frames, the original's
        non-overlapping patches) for musicnn, 2.048 s (128 frames) for vgg.
        The original's ``input_overlap=x`` is
        ``patch_hop_s=librosa.time_to_frames(x, sr=16000, n_fft=512, hop_length=256) / 62.5``.
    batch_size : int
        Patches per forward pass (does not change the output beyond float32
        rounding of the order of 1e-7).
    n_threads : int, optional
        Patches run concurrently on this many threads, one core each (default:
        ``torch.get_num_threads()``, usually the number of cores). Independent
        streams keep going when other processes load the machine, where one
        multi-threaded stream would stall.

    Attributes
    ----------
    tags : tuple of str
        Names of the taggram's channels.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> from frisson.encoders import get_encoder
    >>> encoder = get_encoder("musicnn-msd")
    >>> t = np.arange(22050 * 7) / 22050
    >>> audio = audio_from_array(0.3 * np.sin(2 * np.pi * 220 * t) * (t % 0.5 < 0.25), 22050)
    >>> embedding = encoder.encode(audio, layers=["cnn3", "taggram"])
    >>> embedding["cnn3"].rate_hz, embedding["cnn3"].n_times, embedding["taggram"].n_times
    (62.5, 374, 2)
    >>> tags = encoder.top_tags(embedding, n=3)  # [(tag, mean probability), ...]
    >>> len(tags), all(tag in encoder.tags and 0 < p < 1 for tag, p in tags)
    (3, True)

    """

    input_rate_hz = SAMPLE_RATE_HZ

    def __init__(
        self,
        *,
        checkpoint: str = "MSD_musicnn",
        patch_hop_s: float | None = None,
        batch_size: int = 1,
        n_threads: int | None = None,
    ) -> None:
        self.checkpoint = check_option("checkpoint", checkpoint, CHECKPOINTS)
        spec = CHECKPOINTS[checkpoint]
        self.name = spec.registry_name
        self.family = spec.family
        self.tags = spec.tags
        self._layers = _layers_of(checkpoint)
        self.layers = tuple(self._layers)
        self.default_layer = "cnn3" if spec.family == "musicnn" else "pool3"
        if patch_hop_s is None:
            self.patch_hop_frames = PATCH_FRAMES if spec.family == "musicnn" else 128
        else:
            check_positive("patch_hop_s", patch_hop_s)
            frames = math.floor(patch_hop_s * FRAME_RATE_HZ + 0.5)
            if not 1 <= frames <= PATCH_FRAMES:
                raise ParameterError(
                    f"patch_hop_s={patch_hop_s} is {frames} frames; it must lie between one "
                    f"frame (0.016 s) and one patch ({PATCH_FRAMES / FRAME_RATE_HZ} s)."
                )
            self.patch_hop_frames = frames
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, minimum=1)

    # ------------------------------------------------------------------ description
    @property
    def patch_hop_s(self) -> float:
        """Seconds between patch starts, ``patch_hop_frames / 62.5``."""
        return self.patch_hop_frames / FRAME_RATE_HZ

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output."""
        return {
            "weights": f"{WHEEL}/{self.checkpoint}",
            "rate_hz": SAMPLE_RATE_HZ,
            "n_fft": N_FFT,
            "hop_samples": HOP_SAMPLES,
            "n_mels": N_MELS,
            "compression": "log10(10000*float16(mel_power)+1)",
            "patch_frames": PATCH_FRAMES,
            "patch_hop_frames": self.patch_hop_frames,
        }

    def layer_info(self) -> list[LayerInfo]:
        """Rate, start, width and meaning of every layer (no weights are loaded)."""
        out = []
        for layer in self._layers.values():
            if layer.per_patch:
                rate = FRAME_RATE_HZ / self.patch_hop_frames
                start = PATCH_CENTER_FRAMES / FRAME_RATE_HZ
                kind = "per patch"
            else:
                rate = FRAME_RATE_HZ / layer.stride_frames
                start = layer.offset_frames / FRAME_RATE_HZ
                kind = "per frame" if layer.stride_frames == 1 else "per pooled step"
            out.append(
                LayerInfo(
                    layer.name, rate, start, layer.n_features, f"{layer.description} ({kind})"
                )
            )
        return out

    def weights_status(self) -> tuple[bool, str]:
        """Whether the weights are installed, and where they come from or how to get them."""
        if cached_checkpoint(self.checkpoint) is not None:
            return True, f"offline, {WHEEL} checkpoints in $FRISSON_HOME ({self.checkpoint})"
        if weights_available(self.checkpoint):
            return True, f"offline, {WHEEL} wheel ({self.checkpoint})"
        return False, f"missing: {INSTALL_HINT}"

    def fetch(self) -> str:
        """Unpack the musicnn checkpoints into ``$FRISSON_HOME`` (``frisson fetch musicnn``)."""
        return str(fetch_musicnn())

    def __repr__(self) -> str:
        return f"MusicnnEncoder(checkpoint={self.checkpoint!r}, patch_hop_s={self.patch_hop_s:.3f})"

    # --------------------------------------------------------------------- running
    @property
    def network(self):
        """The PyTorch module (loaded from the checkpoint on first use)."""
        return _network(self.checkpoint)

    def run_patches(
        self, patches: np.ndarray, *, layers: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the network on spectrogram patches; per-patch tensors in the original's layouts.

        Parameters
        ----------
        patches : ndarray, shape (n_patches, 187, 96)
            Log-mel patches (see :func:`log_mel`).
        layers : sequence of str, optional
            Which tensors to return (default all).

        Returns
        -------
        dict of str to ndarray
            musicnn frame layers ``(n_patches, 187, width)``, vgg pools
            ``(n_patches, steps, bands, channels)``, patch layers
            ``(n_patches, width)``.

        """
        names = resolve_layers(self, layers)
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ParameterError(
                f"patches must have shape (n, {PATCH_FRAMES}, {N_MELS}), got {patches.shape}."
            )
        flat = patches.reshape(-1, N_MELS)
        starts = np.arange(patches.shape[0]) * PATCH_FRAMES
        out: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for _, result in self._forward_batches(flat, starts):
            for name in names:
                out[name].append(result[name])
        return {name: np.concatenate(chunks) for name, chunks in out.items()}

    def _forward_batches(
        self, spectrogram: np.ndarray, starts: np.ndarray
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Yield (index of the batch's first patch, outputs) in order, batches run on threads.

        Patches are cut from ``spectrogram`` (frames x bands) at ``starts`` as each
        batch runs, so memory does not grow with the number of patches.
        """
        import torch

        network = self.network
        offsets = np.arange(PATCH_FRAMES)

        def run(first: int) -> tuple[int, dict[str, np.ndarray]]:
            index = starts[first : first + self.batch_size, None] + offsets
            batch = torch.from_numpy(np.ascontiguousarray(spectrogram[index], dtype=np.float32))
            with torch.inference_mode():
                return first, {k: v.numpy() for k, v in network(batch).items()}

        firsts = range(0, starts.size, self.batch_size)
        n_threads = self.n_threads or torch.get_num_threads()
        n_workers = max(1, min(n_threads, len(firsts)))
        # One torch thread per worker: a multi-threaded forward pass spins at its
        # barriers, which wastes whole cores when other processes hold the CPUs.
        with torch_threads(1):
            if n_workers == 1:
                yield from map(run, firsts)
                return
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_workers) as pool:
                yield from pool.map(run, firsts)

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Encode ``audio`` (any rate) into the requested layers (default all).

        Raises
        ------
        AudioError
            If the audio is shorter than one patch (2.976 s).
        ParameterError
            If a vgg pooling layer is requested with a hop that is not 64 or
            128 frames.
        CheckpointError
            If the weights are not installed or fail their checksums.

        """
        names = resolve_layers(self, layers)
        hop = self.patch_hop_frames
        for name in names:
            layer = self._layers[name]
            if not layer.per_patch and (
                hop % layer.stride_frames or hop > layer.stride_frames * layer.n_steps
            ):
                raise ParameterError(
                    f"{self.name} layer {name!r} has a row every {layer.stride_frames} frames; "
                    f"stitching it across patches needs a patch hop that is a multiple of "
                    f"{layer.stride_frames} frames and at most "
                    f"{layer.stride_frames * layer.n_steps}, got {hop} frames "
                    f"({self.patch_hop_s:.3f} s). Use patch_hop_s=2.048 (or 1.024), or request "
                    "only patch-level layers such as 'taggram'."
                )
        frames = log_mel(audio)
        starts = patch_starts(frames.n_times, hop)
        if starts.size == 0:
            raise AudioError(
                f"{audio.source}: lasts {audio.duration_s:.2f} s, shorter than one "
                f"{self.name} patch ({MIN_DURATION_S:.3f} s); use a longer excerpt."
            )
        logger.debug(
            "%s: %d patches of %d frames every %d frames", self.name, starts.size, PATCH_FRAMES, hop
        )
        n_patches = starts.size
        outputs: dict[str, np.ndarray] = {}
        plans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in names:
            layer = self._layers[name]
            if layer.per_patch:
                outputs[name] = np.empty((n_patches, layer.n_features), np.float32)
            else:
                plans[name] = _stitch_plan(layer, n_patches, hop)
                outputs[name] = np.empty((plans[name][0].size, layer.n_features), np.float32)
        for first, result in self._forward_batches(frames.values, starts):
            for name in names:
                values = result[name]
                count = values.shape[0]
                if name not in plans:
                    outputs[name][first : first + count] = values
                    continue
                values = values.reshape(count, values.shape[1], -1)  # (patch, row, feature)
                patch, row = plans[name]  # patch is non-decreasing along the rows
                lo, hi = np.searchsorted(patch, [first, first + count])
                outputs[name][lo:hi] = values[patch[lo:hi] - first, row[lo:hi]]
        series = {name: self._series(name, outputs[name]) for name in names}
        return Embedding(self.name, self.config(), audio.sha256, series)

    def _series(self, name: str, values: np.ndarray) -> TimeSeries:
        layer = self._layers[name]
        if layer.per_patch:
            rate = FRAME_RATE_HZ / self.patch_hop_frames
            start = PATCH_CENTER_FRAMES / FRAME_RATE_HZ
        else:
            rate = FRAME_RATE_HZ / layer.stride_frames
            start = layer.offset_frames / FRAME_RATE_HZ
        return TimeSeries(values, rate, start_s=start, names=self._channel_names(layer))

    def _channel_names(self, layer: _Layer) -> list[str]:
        if layer.name == "taggram":
            return list(self.tags)
        if layer.feature_shape:
            bands, channels = layer.feature_shape
            return [f"f{b:02d}_c{c:03d}" for b in range(bands) for c in range(channels)]
        if layer.name in ("mean_pool", "max_pool"):
            return [
                *(f"timbral{i:03d}" for i in range(408)),
                *(f"temporal{i:03d}" for i in range(153)),
                *(f"cnn{k}_{i:02d}" for k in (1, 2, 3) for i in range(64)),
            ]
        if layer.name in ("cnn1", "cnn2", "cnn3"):
            return [f"{layer.name}_{i:02d}" for i in range(layer.n_features)]
        if layer.name == "penultimate":
            return [f"unit{i:03d}" for i in range(layer.n_features)]
        return [f"{layer.name}{i:03d}" for i in range(layer.n_features)]

    def top_tags(self, audio: Audio | Embedding, *, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` tags with the highest mean probability over the patches.

        Parameters
        ----------
        audio : Audio or Embedding
            Audio to tag, or an embedding of this encoder holding ``taggram``.
        n : int
            Number of tags.

        Returns
        -------
        list of (str, float)
            Tag and its mean probability, most likely first.

        """
        n = check_int("n", n, minimum=1)
        embedding = (
            audio if isinstance(audio, Embedding) else self.encode(audio, layers=["taggram"])
        )
        taggram = embedding["taggram"]
        mean = taggram.values.mean(axis=0)
        order = np.argsort(-mean, kind="stable")[:n]
        return [(taggram.names[i], float(mean[i])) for i in order]
