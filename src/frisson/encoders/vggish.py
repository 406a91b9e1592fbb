"""VGGish (AudioSet): the original log-mel front end and all 24 layers of the network.

VGGish (Hershey et al., 2017) is the VGG-like audio network whose 128-D
embeddings came with AudioSet. The layer-wise emotion-encoding study used every
one of its 24 layers as a time series; this module gives them all, from the
published PyTorch port's weights (harritaylor/torchvggish, release v0.1).

Front end (as tensorflow/models research/audioset/vggish)
---------------------------------------------------------
``vggish_input.waveform_to_examples`` and ``mel_features``, in vectorised numpy
(float64 arithmetic as the original, float32 output):

* audio resampled to 16 kHz (soxr, high quality; the original uses resampy);
* frames of 400 samples (25 ms) every 160 samples (10 ms), **not centred**:
  frame ``j`` covers samples ``[160 j, 160 j + 400)``, so its centre lies at
  ``0.0125 + 0.01 j`` s; ``n_frames = 1 + (n_samples - 400) // 160``;
* periodic Hann window, FFT length 512, magnitude spectrum (257 bins);
* 64 mel bands from 125 to 7500 Hz built as ``mel_features.spectrogram_to_mel_matrix``:
  HTK mel scale ``1127 ln(1 + f / 700)``, triangles linear *in mel* between
  equally spaced mel edges, unnormalised, DC bin zeroed. This is not librosa's
  filterbank, not even with ``htk=True`` (librosa's triangles are linear in Hz);
* ``log(mel + 0.01)``;
* patches of 96 frames (0.96 s of hops; one patch spans 15600 samples =
  0.975 s of audio) starting every ``patch_hop_s`` (the original: 0.96 s,
  non-overlapping; the study and the default here: 0.48 s). Frames after the
  last full patch are dropped, as in the original.

Network and layers
------------------
The port's structure (``torchvggish/vggish.py``): input patch ``(N, 1, 96, 64)``
(time x mel band), 3x3 convolutions with padding 1 and 2x2 max-pooling, then the
maps are put in TensorFlow's NHWC order (``transpose(1, 3)``, ``transpose(1, 2)``:
time, band, channel) and flattened for ``fc1_1``, as the TF original flattened
them. Every layer is a time series with **one row per patch**, stamped at the
patch centre (``start_s = 0.4875`` s, ``rate_hz = 100 / patch_hop_frames``,
2.083 Hz by default); a conv map's row is the patch's ``(time, band, channel)``
tensor flattened in that order (channel fastest), with channels named
``t{time:02d}_f{band:02d}_c{channel:03d}``. Row ``t`` of a map with ``T`` time
steps covers frames ``[96 t / T, 96 (t + 1) / T)`` of its patch.

============  ===========================  =========  =======  ======
layer         TF op (port module)          per patch  width    MB/min
============  ===========================  =========  =======  ======
input         log-mel patch                96x64      6 144    3.1
conv1         conv1 (features.0)           96x64x64   393 216  196.6
conv1_relu    conv1/Relu (features.1)      96x64x64   393 216  196.6
pool1         pool1 (features.2)           48x32x64   98 304   49.2
conv2         conv2 (features.3)           48x32x128  196 608  98.3
conv2_relu    conv2/Relu (features.4)      48x32x128  196 608  98.3
pool2         pool2 (features.5)           24x16x128  49 152   24.6
conv3_1       conv3/conv3_1 (features.6)   24x16x256  98 304   49.2
conv3_1_relu  conv3_1/Relu (features.7)    24x16x256  98 304   49.2
conv3_2       conv3/conv3_2 (features.8)   24x16x256  98 304   49.2
conv3_2_relu  conv3_2/Relu (features.9)    24x16x256  98 304   49.2
pool3         pool3 (features.10)          12x8x256   24 576   12.3
conv4_1       conv4/conv4_1 (features.11)  12x8x512   49 152   24.6
conv4_1_relu  conv4_1/Relu (features.12)   12x8x512   49 152   24.6
conv4_2       conv4/conv4_2 (features.13)  12x8x512   49 152   24.6
conv4_2_relu  conv4_2/Relu (features.14)   12x8x512   49 152   24.6
pool4         pool4 (features.15)          6x4x512    12 288   6.1
fc1_1         fc1/fc1_1 (embeddings.0)     4096       4 096    2.0
fc1_1_relu    fc1_1/Relu (embeddings.1)    4096       4 096    2.0
fc1_2         fc1/fc1_2 (embeddings.2)     4096       4 096    2.0
fc1_2_relu    fc1_2/Relu (embeddings.3)    4096       4 096    2.0
fc2           fc2 (embeddings.4)           128        128      0.06
fc2_relu      fc2/Relu (embeddings.5)      128        128      0.06
embedding     vggish_postprocess PCA       128        128      0.06
============  ===========================  =========  =======  ======

MB/min: float32 megabytes per minute of audio at the default 0.48 s hop (125 rows).

That is 24 layers; all of them take 7.9 MB per patch, about 990 MB per minute
of audio at the default 0.48 s hop (half that at 0.96 s), in float32. ``encode``
computes only the layers asked for, and runs the network only up to the deepest
of them. Names follow the TF graph's scopes (``vggish/conv3/conv3_1``) with
``_relu`` for each ``Relu`` op; pre-activation layers hold conv/matmul plus bias.

``fc2`` is the pre-activation of the last fully connected layer, which the
current TF original returns as ``vggish/embedding``; the port (and the TF model
of 2017 that produced AudioSet's released embeddings) applies a ReLU, giving
``fc2_relu``, the port's output. ``embedding`` is ``vggish_postprocess`` applied
to the port's output ``fc2_relu``: PCA with whitening, ``E (x - mean)``. With
``postprocess=True`` it is then quantised as the original does: clipped to
[-2, 2], scaled to [0, 255] and truncated to integers (``astype(uint8)``; the
port rounds instead), kept as float32 values 0..255, the format of the released
AudioSet embeddings. The default, ``postprocess=False``, keeps the whitened
values unquantised (no clipping, full resolution for regression).

Speed: 3 minutes of audio (373 patches at the 0.48 s hop) took 14.5 s of CPU
time for ``embedding`` alone and 27.6 s for all 24 layers (2.9 GB), i.e. 12.4
and 6.5 s of audio per CPU-second (torch 2.13, 2 threads, x86). Wall-clock on a
shared 2-core machine (load 8.6): 35 s and 69 s, 5x and 2.6x real time.

``precision="bf16"`` (opt-in) runs the convolutions and fully connected layers
in bfloat16 on CPUs with AVX-512 BF16 / AMX and on CUDA devices with bf16
(float32 elsewhere; the PCA stays float64); the default ``"fast"`` is the
float32 channels-last path above. Measured (``benchmarks/results/encoders.json``,
random weights of the published architecture, 60 s, 2 threads, interleaved with
float32 on a shared machine at load 10.6): 1.8x less CPU time for ``embedding``
alone (35.3 against 20.1 s of audio per CPU-second) and 1.2x for all 24 layers
(16.5 against 13.5; copying 990 MB of outputs does not get faster); relative
error (Frobenius) growing from 0.3 % (``conv1``) to 0.6 % (``fc1_1``) and 0.8-0.9 %
(``embedding``). The ``input`` layer stays the float32 log-mel. It is opt-in:
0.9 % is close to the 1 % bound the project sets for a default, real weights
could not be checked offline, and VGGish is not where the time goes (a 90-s
song's embedding takes about 3 CPU-seconds in float32). bf16 embeddings have
their own store key (``config()["precision"]``).

Weights
-------
``frisson fetch vggish`` downloads the port's state dict and PCA parameters once
with ``torch.hub.load_state_dict_from_url`` (SHA-256 prefix checked) into
``$FRISSON_HOME/vggish`` (default ``~/.cache/frisson/vggish``); encoding only
reads that folder and fails at once with
:class:`~frisson.encoders.WeightsNotCachedError` when a file is missing.
Every load (once per process) checks each file's SHA-256 against the prefix in
its published name again, so a file damaged or replaced after the download is
refused with a :class:`~frisson.errors.DataError` naming it and
``frisson fetch vggish``.

References
----------
S. Hershey et al. (2017). CNN architectures for large-scale audio
classification. ICASSP. https://github.com/tensorflow/models/tree/master/research/audioset/vggish
and https://github.com/harritaylor/torchvggish

"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frisson._check import check_positive
from frisson._io import atomic_write_text
from frisson._logging import logger, progress_enabled
from frisson.audio import Audio
from frisson.encoders._base import Embedding, resolve_layers
from frisson.encoders._registry import LayerInfo
from frisson.encoders._shared import MODELS
from frisson.encoders._shared import patch_starts as _patch_starts
from frisson.encoders._weights import WeightsNotCachedError, frisson_home, not_cached_message
from frisson.errors import AudioError, DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "FRAME_RATE_HZ",
    "LAYERS",
    "MIN_DURATION_S",
    "PATCH_CENTER_S",
    "VggishEncoder",
    "log_mel",
    "mel_matrix",
    "patch_starts",
    "weights_folder",
]

SAMPLE_RATE_HZ = 16000.0
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
N_FFT = 512  # the next power of two above the window, as mel_features computes it
N_MELS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
PATCH_FRAMES = 96
FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP_SAMPLES  # 100 frames per second
#: Samples one patch spans: 95 hops and one window (15600 samples, 0.975 s).
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES
#: Shortest audio that gives one patch, in seconds (0.975).
MIN_DURATION_S = PATCH_SAMPLES / SAMPLE_RATE_HZ
#: Centre of the first patch (the middle of its 15600 samples), in seconds.
PATCH_CENTER_S = PATCH_SAMPLES / 2 / SAMPLE_RATE_HZ
EMBEDDING_SIZE = 128
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0
_BATCH_PATCHES = 32  # patches per forward pass: bounds working memory (~300 MB for all layers)
_STFT_CHUNK_FRAMES = 8192  # frames per FFT block: bounds the float64 working memory

_RELEASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
WEIGHTS_FILE = "vggish-10086976.pth"
PCA_FILE = "vggish_pca_params-970ea276.pth"
WEIGHTS_URL = _RELEASE + WEIGHTS_FILE
PCA_URL = _RELEASE + PCA_FILE
PCA_EIGEN_VECTORS = "pca_eigen_vectors"
PCA_MEANS = "pca_means"


# ------------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class _Layer:
    """One of the 24 layers: its op, per-patch shape and the weights it reads."""

    name: str
    op: str  # "input", "conv", "relu", "pool", "fc", "pca"
    shape: tuple[int, ...]  # (time, band, channel) for maps, (units,) for vectors
    key: str = ""  # state-dict prefix of conv / fc weights
    description: str = ""

    @property
    def n_features(self) -> int:
        return math.prod(self.shape)


def _build_layers() -> tuple[_Layer, ...]:
    layers = [_Layer("input", "input", (96, 64, 1), "", "log-mel patch (time x band)")]
    time, band, index = 96, 64, 0
    for group, widths in (("1", [64]), ("2", [128]), ("3", [256, 256]), ("4", [512, 512])):
        for i, channels in enumerate(widths):
            name = f"conv{group}" if len(widths) == 1 else f"conv{group}_{i + 1}"
            shape = (time, band, channels)
            layers.append(_Layer(name, "conv", shape, f"features.{index}", "3x3 conv + bias"))
            layers.append(_Layer(f"{name}_relu", "relu", shape, "", f"ReLU of {name}"))
            index += 2
        time, band = time // 2, band // 2
        layers.append(
            _Layer(f"pool{group}", "pool", (time, band, channels), "", "2x2 max-pool, stride 2")
        )
        index += 1
    for name, units, index in (("fc1_1", 4096, 0), ("fc1_2", 4096, 2), ("fc2", 128, 4)):
        layers.append(_Layer(name, "fc", (units,), f"embeddings.{index}", "fully connected + bias"))
        layers.append(_Layer(f"{name}_relu", "relu", (units,), "", f"ReLU of {name}"))
    layers.append(
        _Layer("embedding", "pca", (EMBEDDING_SIZE,), "", "PCA-whitened fc2_relu (postprocess)")
    )
    return tuple(layers)


_LAYERS: dict[str, _Layer] = {layer.name: layer for layer in _build_layers()}
#: The 24 layers, input side first.
LAYERS: tuple[str, ...] = tuple(_LAYERS)


def _channel_names(name: str) -> tuple[str, ...]:
    """Feature names of a layer: ``t{time}_f{band}_c{channel}`` for maps, then units / PCs."""
    layer = _LAYERS[name]
    if name == "input":
        return _map_names(96, 64, 0)
    if len(layer.shape) == 3:
        return _map_names(*layer.shape)
    if name == "embedding":
        return tuple(f"pc{i:03d}" for i in range(EMBEDDING_SIZE))
    digits = len(str(layer.shape[0] - 1))
    return tuple(f"unit{i:0{digits}d}" for i in range(layer.shape[0]))


@functools.cache
def _map_names(times: int, bands: int, channels: int) -> tuple[str, ...]:
    """Names of a flattened (time, band, channel) map, channel fastest (cached: up to 393 216)."""
    cells = [f"t{t:02d}_f{f:02d}" for t in range(times) for f in range(bands)]
    if channels == 0:
        return tuple(cells)
    suffixes = [f"_c{c:03d}" for c in range(channels)]
    return tuple(cell + suffix for cell in cells for suffix in suffixes)


# ------------------------------------------------------------------------ front end
def mel_matrix() -> np.ndarray:
    """The original's mel weights (``mel_features.spectrogram_to_mel_matrix``).

    Returns
    -------
    ndarray, shape (257, 64), float64
        Weight of FFT bin ``k`` (``k * 8000 / 256`` Hz) in band ``b``: a
        triangle, linear in HTK mel (``1127 ln(1 + f / 700)``), between
        equally spaced mel edges from 125 to 7500 Hz, peak 1, no area
        normalisation; the DC bin's row is zero.

    Examples
    --------
    >>> weights = mel_matrix()
    >>> weights.shape, float(weights[0].max()), float(weights.max()) <= 1.0
    ((257, 64), 0.0, True)

    """
    n_bins = N_FFT // 2 + 1
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE_HZ / 2, n_bins))[:, np.newaxis]
    edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), N_MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # HTK excludes the DC bin
    return weights


def _hz_to_mel(frequencies_hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(frequencies_hz, dtype=np.float64) / 700.0)


def log_mel(audio: Audio) -> TimeSeries:
    """The original VGGish input: ``log(mel + 0.01)`` frames at 100 Hz, not centred.

    Parameters
    ----------
    audio : Audio
        Any rate; resampled to 16 kHz.

    Returns
    -------
    TimeSeries, shape (n_frames, 64), float32
        ``log(|rfft(hann_periodic(400) * x[160 j : 160 j + 400], 512)| @ mel_matrix() + 0.01)``
        for ``j = 0 .. (n_samples - 400) // 160``; frame ``j`` is centred on
        ``0.0125 + j / 100`` s (``start_s = 0.0125``).

    Raises
    ------
    AudioError
        If the audio is shorter than one 25 ms window.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(16000 * 2) / 16000
    >>> frames = log_mel(audio_from_array(0.5 * np.sin(2 * np.pi * 440 * t), 16000))
    >>> frames.values.shape, frames.rate_hz, frames.start_s
    ((198, 64), 100.0, 0.0125)

    """
    audio = audio.resample(SAMPLE_RATE_HZ)
    samples = np.asarray(audio.samples, dtype=np.float64)
    if samples.size < WINDOW_SAMPLES:
        raise AudioError(
            f"{audio.source}: has {samples.size} samples at 16 kHz, fewer than one VGGish "
            f"window ({WINDOW_SAMPLES}); use a longer excerpt."
        )
    n_frames = 1 + (samples.size - WINDOW_SAMPLES) // HOP_SAMPLES
    window = 0.5 - 0.5 * np.cos(2 * np.pi / WINDOW_SAMPLES * np.arange(WINDOW_SAMPLES))
    weights = mel_matrix()
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW_SAMPLES)[::HOP_SAMPLES]
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for first in range(0, n_frames, _STFT_CHUNK_FRAMES):
        block = frames[first : first + _STFT_CHUNK_FRAMES] * window
        magnitude = np.abs(np.fft.rfft(block, N_FFT))
        out[first : first + block.shape[0]] = np.log(magnitude @ weights + LOG_OFFSET)
    start_s = WINDOW_SAMPLES / 2 / SAMPLE_RATE_HZ
    return TimeSeries(out, FRAME_RATE_HZ, start_s=start_s, names=[f"mel{b:02d}" for b in range(64)])


def patch_starts(n_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of each full 96-frame patch, ``range(0, n_frames - 96 + 1, hop)``.

    Examples
    --------
    >>> patch_starts(300, 48)
    array([  0,  48,  96, 144, 192])
    >>> patch_starts(95, 48).size
    0

    """
    return _patch_starts(n_frames, hop_frames, patch_frames=PATCH_FRAMES)


# -------------------------------------------------------------------------- weights
def weights_folder() -> Path:
    """Where ``frisson fetch vggish`` puts the weights: ``$FRISSON_HOME/vggish``.

    Examples
    --------
    >>> weights_folder().name
    'vggish'

    """
    return frisson_home() / "vggish"


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    """The port's state-dict keys and shapes (``features.0.weight`` ... ``embeddings.4.bias``)."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels_in = 1
    for layer in _LAYERS.values():
        if layer.op == "conv":
            channels = layer.shape[2]
            shapes[f"{layer.key}.weight"] = (channels, channels_in, 3, 3)
            shapes[f"{layer.key}.bias"] = (channels,)
            channels_in = channels
        elif layer.op == "fc":
            units_in = {"fc1_1": 512 * 6 * 4, "fc1_2": 4096, "fc2": 4096}[layer.name]
            shapes[f"{layer.key}.weight"] = (layer.shape[0], units_in)
            shapes[f"{layer.key}.bias"] = (layer.shape[0],)
    return shapes


@contextlib.contextmanager
def _numpy_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` build the numpy arrays of the PCA file.

    The port's PCA file holds numpy arrays pickled under numpy 1.x
    (``numpy.core.multiarray``); numpy 2 calls the module ``numpy._core``.
    """
    import torch

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    reconstruct = multiarray._reconstruct
    allowed = [
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        np.dtypes.Float32DType,
        np.dtypes.Float64DType,
    ]
    with torch.serialization.safe_globals(allowed):
        yield


def _read(path: Path) -> dict[str, Any]:
    """``torch.load`` of one cached file (weights only), with errors naming the file."""
    import torch

    try:
        with _numpy_globals():
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: one clear message
        raise DataError(
            f"{path}: cannot be read as VGGish weights ({error}). Delete it and run "
            "`frisson fetch vggish` again."
        ) from None
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: holds a {type(loaded).__name__}, not a state dict.")
    return loaded


def _checked_array(path: Path, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A state-dict entry as numpy, refused unless it has the port's shape."""
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    # the means are a vector in the original .npz; the port reshapes them to (128, 1) on use
    if array.shape != shape and not (key == PCA_MEANS and array.size == shape[0]):
        raise DataError(
            f"{path}: {key} has shape {array.shape}, expected {shape}; the file is not the "
            "VGGish port's. Delete it and run `frisson fetch vggish` again."
        )
    return array.reshape(shape)


@dataclass(frozen=True)
class _Params:
    """Loaded weights: torch tensors on the device, PCA in float64 numpy."""

    tensors: dict[str, Any]
    pca_matrix: np.ndarray  # (128, 128): rows are output components
    pca_means: np.ndarray  # (128,)
    device: str
    low: dict[str, dict[str, Any]] = field(default_factory=dict)  # copies in other dtypes

    def weights(self, dtype: str) -> dict[str, Any]:
        """The tensors in ``dtype`` (``"float32"``: the loaded ones; others copied once)."""
        if dtype == "float32":
            return self.tensors
        if dtype not in self.low:
            import torch

            self.low[dtype] = {k: v.to(getattr(torch, dtype)) for k, v in self.tensors.items()}
        return self.low[dtype]


def _load_params(device: str) -> _Params:
    """Read the cached weights once per process (per files and device); never download."""
    folder = weights_folder()
    paths = (folder / WEIGHTS_FILE, folder / PCA_FILE)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise WeightsNotCachedError(
            not_cached_message(f"'vggish' ({', '.join(missing)})", "vggish", folder)
        )
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)

    def load() -> _Params:
        params = _read_params(paths[0], paths[1], device)
        logger.debug("loaded VGGish weights from %s onto %s", folder, device)
        return params

    return MODELS.get(("vggish", *stamp, device), load)


#: In a weights folder: SHA-256s of random weights written for tests and benchmarks.
RANDOM_WEIGHTS_MANIFEST = "random_weights.json"


def _published_prefix(path: Path) -> str:
    """The SHA-256 prefix torch.hub puts in a published file's name (``name-<hex>.pth``)."""
    return path.stem.rpartition("-")[2]


def _verify_hash(path: Path) -> None:
    """Refuse a weights file whose SHA-256 is not the published one (checked on every load).

    Random weights written by :func:`_save_random_weights` (tests, benchmarks) are
    accepted through the folder's manifest, with a warning.
    """
    import hashlib
    import json

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    prefix = _published_prefix(path)
    if sha256.startswith(prefix):
        return
    manifest = path.parent / RANDOM_WEIGHTS_MANIFEST
    try:
        random = json.loads(manifest.read_text()) if manifest.is_file() else {}
    except (OSError, ValueError):
        random = {}
    if isinstance(random, dict) and random.get(path.name) == sha256:
        logger.warning("%s: random VGGish weights (tests/benchmarks), not the published ones", path)
        return
    raise DataError(
        f"{path}: SHA-256 {sha256[:12]}... does not match the published VGGish file "
        f"({prefix}...); the file is damaged or not the port's. Delete it and run "
        "`frisson fetch vggish` again."
    )


def _register_random_weights(folder: str | Path) -> None:
    """Record the SHA-256s of the files in ``folder`` as random test weights (see _verify_hash)."""
    import hashlib
    import json

    folder = Path(folder)
    manifest = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in (WEIGHTS_FILE, PCA_FILE)
        if (folder / name).is_file()
    }
    atomic_write_text(folder / RANDOM_WEIGHTS_MANIFEST, json.dumps(manifest, indent=2))


def _read_params(weights_path: Path, pca_path: Path, device: str) -> _Params:
    import torch

    _verify_hash(weights_path)
    _verify_hash(pca_path)
    state = _read(weights_path)
    expected = _expected_shapes()
    unknown = sorted(set(state) - set(expected))
    absent = sorted(set(expected) - set(state))
    if unknown or absent:
        raise DataError(
            f"{weights_path}: not the VGGish port's state dict (missing keys: "
            f"{', '.join(absent) or 'none'}; unexpected: {', '.join(unknown) or 'none'}). "
            "Delete it and run `frisson fetch vggish` again."
        )
    tensors = {}
    for key, shape in expected.items():
        array = np.ascontiguousarray(_checked_array(weights_path, key, state[key], shape))
        tensor = torch.from_numpy(array.astype(np.float32, copy=False)).to(device)
        if tensor.ndim == 4:  # channels-last convolutions run faster in oneDNN and cuDNN
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        tensors[key] = tensor
    pca = _read(pca_path)
    for key in (PCA_EIGEN_VECTORS, PCA_MEANS):
        if key not in pca:
            raise DataError(
                f"{pca_path}: has no {key!r}; delete it and run `frisson fetch vggish` again."
            )
    matrix = _checked_array(pca_path, PCA_EIGEN_VECTORS, pca[PCA_EIGEN_VECTORS], (128, 128))
    means = _checked_array(pca_path, PCA_MEANS, pca[PCA_MEANS], (128,))
    return _Params(tensors, matrix.astype(np.float64), means.astype(np.float64), device)


def _random_state_dict(seed: int) -> OrderedDict:
    """Random weights in the port's layout (He-scaled: activations neither vanish nor blow up).

    For tests and benchmarks: the same keys, shapes and dtype (float32 tensors) as
    ``vggish-10086976.pth``.
    """
    import torch

    rng = np.random.default_rng(seed)
    state = OrderedDict()
    for key, shape in _expected_shapes().items():
        # uniform with the variance of He's normal init (faster to draw: fc1_1 has 50 M weights)
        std = math.sqrt(2.0 / math.prod(shape[1:])) if key.endswith(".weight") else 0.05
        values = rng.random(shape, dtype=np.float32) - np.float32(0.5)
        values *= np.float32(std * math.sqrt(12.0))
        state[key] = torch.from_numpy(values)
    return state


def _random_pca_params(seed: int) -> dict[str, np.ndarray]:
    """Random PCA parameters in the port's layout: float64 numpy arrays, means ``(128,)``."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    scales = np.exp(rng.uniform(-1.0, 1.0, 128))
    return {
        PCA_EIGEN_VECTORS: rotation * scales[:, np.newaxis],
        PCA_MEANS: 0.3 * np.abs(rng.standard_normal(128)),
    }


def _save_random_weights(folder: str | Path, seed: int) -> Path:
    """Write random weights and PCA parameters under the published file names."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(_random_state_dict(seed), folder / WEIGHTS_FILE)
    torch.save(_random_pca_params(seed), folder / PCA_FILE)
    _register_random_weights(folder)
    return folder


# -------------------------------------------------------------------------- network
def _forward(
    params: _Params, patches: np.ndarray, wanted: Sequence[str], dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """Run patches ``(n, 96, 64)`` through the network up to the deepest wanted layer.

    Returns each wanted layer flattened per patch, ``(n, width)`` float32; conv
    maps in (time, band, channel) order. ``dtype``: the network's compute dtype.
    """
    import torch
    import torch.nn.functional as F

    wanted = set(wanted)
    last = max(LAYERS.index(name) for name in wanted)
    out: dict[str, np.ndarray] = {}
    w = params.weights(dtype)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(patches, np.float32)).to(params.device)
        x = x[:, None].contiguous(memory_format=torch.channels_last)  # (n, 1, time, band)
        for layer in list(_LAYERS.values())[: last + 1]:
            if layer.op == "conv":  # the input layer stays float32; the network runs in dtype
                weight = w[f"{layer.key}.weight"]
                x = F.conv2d(x.to(weight.dtype), weight, w[f"{layer.key}.bias"], padding=1)
            elif layer.op == "relu":
                x = torch.relu(x)
            elif layer.op == "pool":
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            elif layer.op == "fc":
                if x.ndim == 4:  # the port: transpose(1, 3), transpose(1, 2), flatten (NHWC)
                    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
                x = F.linear(x, w[f"{layer.key}.weight"], w[f"{layer.key}.bias"])
            if layer.name in wanted and layer.op != "pca":
                flat = x.permute(0, 2, 3, 1) if x.ndim == 4 else x
                out[layer.name] = flat.reshape(x.shape[0], -1).float().cpu().numpy()
            if layer.op == "pca":
                out[layer.name] = _pca(params, x.float().cpu().numpy())
    return out


def _pca(params: _Params, embeddings: np.ndarray) -> np.ndarray:
    """``vggish_postprocess`` PCA with whitening: ``(x - mean) @ E.T``, in float64."""
    return (embeddings.astype(np.float64) - params.pca_means) @ params.pca_matrix.T


def _quantize(whitened: np.ndarray) -> np.ndarray:
    """The original's 8-bit quantisation: clip to [-2, 2], scale to [0, 255], truncate."""
    clipped = np.clip(whitened, QUANTIZE_MIN, QUANTIZE_MAX)
    scaled = (clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
    return scaled.astype(np.uint8).astype(np.float32)


# -------------------------------------------------------------------------- encoder
_DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


class VggishEncoder:
    """VGGish with every one of its 24 layers as a time series (one row per patch).

    Parameters
    ----------
    patch_hop_s : float
        Seconds between patch starts, a whole number of 10 ms frames from 0.01
        to 0.96 s. Default 0.48 s (half-overlapping patches, as the layer-wise
        emotion study); the original uses 0.96 s (non-overlapping).
    postprocess : bool
        Quantise the ``embedding`` layer to 8 bits as the released AudioSet
        embeddings (clip the whitened values to [-2, 2], scale to 0..255,
        truncate). Default False: PCA-whitened values, unquantised.
    device : str
        Torch device for the network (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"``). It changes results only by float32 rounding and is not part
        of :meth:`config`.
    precision : {"fast", "bf16"}
        ``"fast"`` (default): float32, channels-last convolutions. ``"bf16"``:
        bfloat16 network where the CPU (AVX-512 BF16 / AMX) or GPU has it
        (:attr:`compute_dtype`): 1.2x (all layers) to 1.8x (``embedding``) less
        CPU time, up to ~0.9 % relative error (see the module docstring); part
        of :meth:`config` when bf16.
    progress_bar : bool, optional
        Show a progress bar over batches of patches (default: when stderr is a
        terminal).

    Notes
    -----
    Every layer has rows at ``0.4875 + k * patch_hop_s`` seconds (patch
    centres) and ``rate_hz = 100 / patch_hop_frames``. Widths, and megabytes
    per minute of audio at the default hop, are listed in the module
    docstring: from 128 values per row (``fc2``, ``embedding``; 64 kB per
    minute) to 393 216 (``conv1``, ``conv1_relu``; 197 MB per minute each);
    all 24 layers take about 990 MB per minute. Ask only for the layers you
    need: the network runs only as deep as the deepest one requested.

    Examples
    --------
    >>> encoder = VggishEncoder()
    >>> len(encoder.layers), encoder.layers[:4], encoder.layers[-3:]
    (24, ('input', 'conv1', 'conv1_relu', 'pool1'), ('fc2', 'fc2_relu', 'embedding'))
    >>> info = {layer.name: layer for layer in encoder.layer_info()}
    >>> info["conv1"].n_features, info["pool4"].n_features, info["embedding"].n_features
    (393216, 12288, 128)
    >>> round(info["embedding"].rate_hz, 4), info["embedding"].start_s
    (2.0833, 0.4875)

    """

    input_rate_hz = SAMPLE_RATE_HZ
    layers: tuple[str, ...] = LAYERS
    default_layer = "embedding"

    def __init__(
        self,
        *,
        patch_hop_s: float = 0.48,
        postprocess: bool = False,
        device: str = "cpu",
        precision: str = "fast",
        progress_bar: bool | None = None,
    ) -> None:
        self.name = "vggish"
        check_positive("patch_hop_s", patch_hop_s)
        frames = round(patch_hop_s * FRAME_RATE_HZ)
        if abs(frames - patch_hop_s * FRAME_RATE_HZ) > 1e-6 or not 1 <= frames <= PATCH_FRAMES:
            raise ParameterError(
                f"patch_hop_s={patch_hop_s!r} must be a whole number of 10 ms frames between "
                f"0.01 and {PATCH_FRAMES / FRAME_RATE_HZ} s (one patch), e.g. 0.48 or 0.96."
            )
        self.patch_hop_frames = frames
        if not isinstance(postprocess, bool):
            raise ParameterError(f"postprocess must be True or False, got {postprocess!r}.")
        self.postprocess = postprocess
        if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
            raise ParameterError(
                f"device={device!r} is not valid; use 'cpu', 'cuda', 'cuda:N' or 'mps'."
            )
        self.device = device
        if precision not in ("fast", "bf16"):
            raise ParameterError(
                f"precision={precision!r} is not valid; use 'fast' (float32) or 'bf16' "
                "(bfloat16 where the CPU or GPU has it, ~1 % error)."
            )
        self.precision = precision
        self.progress_bar = progress_bar

    # ------------------------------------------------------------------ description
    @property
    def compute_dtype(self) -> str:
        """``"float32"`` or ``"bfloat16"``: what :attr:`precision` computes in on :attr:`device`.

        Examples
        --------
        >>> VggishEncoder().compute_dtype
        'float32'

        """
        from frisson.encoders._fast_codecs import fast_dtype

        return fast_dtype(self.precision, self.device)

    @property
    def patch_hop_s(self) -> float:
        """Seconds between patch starts, ``patch_hop_frames / 100``."""
        return self.patch_hop_frames / FRAME_RATE_HZ

    @property
    def rate_hz(self) -> float:
        """Rows per second of every layer, ``100 / patch_hop_frames``."""
        return FRAME_RATE_HZ / self.patch_hop_frames

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output."""
        return {
            "weights": f"harritaylor/torchvggish v0.1 ({WEIGHTS_FILE}, {PCA_FILE})",
            "rate_hz": SAMPLE_RATE_HZ,
            "window_samples": WINDOW_SAMPLES,
            "hop_samples": HOP_SAMPLES,
            "n_fft": N_FFT,
            "n_mels": N_MELS,
            "mel_range_hz": [MEL_MIN_HZ, MEL_MAX_HZ],
            "compression": f"log(mel_magnitude+{LOG_OFFSET})",
            "patch_frames": PATCH_FRAMES,
            "patch_hop_frames": self.patch_hop_frames,
            "embedding": "pca(fc2_relu)" + ("+quantize8" if self.postprocess else ""),
            "postprocess": self.postprocess,
            # float32 adds no key, so the store's existing entries stay valid
            **({"precision": self.compute_dtype} if self.compute_dtype != "float32" else {}),
        }

    def layer_info(self) -> list[LayerInfo]:
        """Rate, start, width and meaning of every layer (no weights are loaded)."""
        out = []
        for layer in _LAYERS.values():
            shape = "x".join(map(str, layer.shape))
            description = f"{layer.description}; {shape} per patch"
            if layer.name == "embedding" and self.postprocess:
                description += ", quantised to 0..255"
            out.append(
                LayerInfo(layer.name, self.rate_hz, PATCH_CENTER_S, layer.n_features, description)
            )
        return out

    def weights_status(self) -> tuple[bool, str]:
        """Whether the weights are cached, and where they are or how to get them."""
        folder = weights_folder()
        if all((folder / name).is_file() for name in (WEIGHTS_FILE, PCA_FILE)):
            return True, f"cached in {folder}"
        return False, f"not cached: `frisson fetch {self.name}` (into {folder})"

    def fetch(self) -> str:
        """Download the port's weights and PCA parameters into :func:`weights_folder`.

        Needs internet; files already there are kept. Each download's SHA-256
        is checked against the prefix in its file name.

        Returns
        -------
        str
            The folder holding the weights.

        """
        import torch

        folder = weights_folder()
        folder.mkdir(parents=True, exist_ok=True)
        show = progress_enabled(self.progress_bar)
        for url in (WEIGHTS_URL, PCA_URL):
            try:
                with _numpy_globals():
                    torch.hub.load_state_dict_from_url(
                        url, str(folder), check_hash=True, progress=show, weights_only=True
                    )
            except Exception as error:  # network, hash mismatch: one clear message
                raise DataError(
                    f"Could not download {url} into {folder} ({error}). Check your internet "
                    "connection; a hash mismatch means a corrupt download: run it again."
                ) from None
        _load_params("cpu")  # checks keys and shapes now rather than at the first encode
        return str(folder)

    def __repr__(self) -> str:
        return (
            f"VggishEncoder(patch_hop_s={self.patch_hop_s:g}, postprocess={self.postprocess}, "
            f"device={self.device!r}, precision={self.precision!r})"
        )

    # --------------------------------------------------------------------- running
    def _params(self) -> _Params:
        if self.device != "cpu":
            import torch

            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise ParameterError(
                    f"device={self.device!r}, but torch sees no CUDA device; use device='cpu'."
                )
        return _load_params(self.device)

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Encode ``audio`` (any rate) into the requested layers (default all 24).

        Parameters
        ----------
        audio : Audio
            Resampled to 16 kHz.
        layers : sequence of str, optional
            Layer names (see :attr:`layers`); only these are computed and kept.

        Returns
        -------
        Embedding
            One float32 series per layer, ``(n_patches, width)``, rows at the
            patch centres ``0.4875 + k * patch_hop_s`` s; ``n_patches =
            1 + (n_frames - 96) // patch_hop_frames`` with ``n_frames = 1 +
            (n_samples_16k - 400) // 160``.

        Raises
        ------
        WeightsNotCachedError
            If the weights are not in :func:`weights_folder` (before any work).
        AudioError
            If the audio is shorter than one patch (0.975 s).

        """
        from tqdm.auto import tqdm

        names = resolve_layers(self, layers)
        if not names:
            raise ParameterError("layers is empty; name at least one layer, or None for all 24.")
        params = self._params()
        dtype = self.compute_dtype
        resampled = audio.resample(SAMPLE_RATE_HZ)
        if resampled.samples.size < PATCH_SAMPLES:
            raise AudioError(
                f"{audio.source}: lasts {audio.duration_s:.3f} s, shorter than one VGGish patch "
                f"({MIN_DURATION_S:.3f} s: 96 frames of 25 ms every 10 ms); use a longer excerpt."
            )
        frames = log_mel(resampled).values
        starts = patch_starts(frames.shape[0], self.patch_hop_frames)
        n_patches = starts.size
        logger.debug("vggish: %d patches every %d frames", n_patches, self.patch_hop_frames)
        outputs = {
            name: np.empty((n_patches, _LAYERS[name].n_features), np.float32) for name in names
        }
        offsets = np.arange(PATCH_FRAMES)
        firsts = range(0, n_patches, _BATCH_PATCHES)
        show = progress_enabled(self.progress_bar) and len(firsts) > 1
        for first in tqdm(firsts, desc="vggish", unit="batch", leave=False, disable=not show):
            batch = frames[starts[first : first + _BATCH_PATCHES, None] + offsets]
            result = _forward(params, batch, names, dtype)
            for name in names:
                values = result[name]
                if name == "embedding" and self.postprocess:
                    values = _quantize(values)
                outputs[name][first : first + batch.shape[0]] = values
        series = {
            name: TimeSeries(
                outputs[name], self.rate_hz, start_s=PATCH_CENTER_S, names=_channel_names(name)
            )
            for name in names
        }
        return Embedding(self.name, self.config(), audio.sha256, series)
