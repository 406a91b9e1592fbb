"""Neural audio codecs as frisson encoders: DAC and EnCodec, every encoder layer with exact times.

The Descript Audio Codec (DAC; Kumar et al. 2023) and Meta's EnCodec
(Défossez et al. 2022) run through ``transformers`` (``DacModel``,
``EncodecModel``). Weights and the feature extractor (which holds the sampling
rate) are read from the Hugging Face cache only, through
:func:`frisson.encoders._weights.load_hf`: ``frisson fetch dac-44khz`` downloads
them once, and a folder written by ``save_pretrained`` works as ``repo_id``.
The decoders are dropped after loading; frisson only encodes.

Layers (network order)
----------------------
DAC (``descript/dac_44khz``, ``dac_24khz``, ``dac_16khz``):

* ``conv_in``: the first convolution (64 channels, one row per sample);
* ``block1`` .. ``block4``: each encoder block's output (residual units and
  the strided convolution; 128, 256, 512, 1024 channels; strides 2, 4, 8, 8 at
  44.1 kHz, so 22 050, 5 512.5, 689.06 and 86.13 rows/s);
* ``latent``: the pre-quantisation latent (snake + final convolution, 1024);
* ``projected``: every codebook's low-dimensional projection of its residual
  (``in_proj``, before the codebook look-up), one layer with channels
  ``cb{k}_{d}`` (9 codebooks x 8 dims at 44.1 kHz): DAC's ``latents``;
* ``z``: the quantised continuous representation (1024), the decoder's input
  and the latent of the chills study;
* ``codes``: the integer code of each codebook (channels ``cb0`` ..), stored
  as float32 holding exact integers, so they survive the embedding cache.

EnCodec (``facebook/encodec_24khz``, ``encodec_48khz``): ``conv_in`` (32),
``block1`` .. ``block4`` (each SEANet residual block and its strided
convolution; strides 2, 4, 5, 8), ``lstm`` (512; the two-layer LSTM plus its
skip), ``latent`` (128, the final convolution), ``z`` (the sum of the selected
codebook vectors) and ``codes`` (one channel per codebook used at
``bandwidth_kbps``). EnCodec's codebooks live in the 128-d latent space itself,
so it has no ``projected`` layer.

Frame times
-----------
Row ``j`` of a layer with stride ``S`` (input samples per row; ``H`` = hop of
the model, the product of the strides) depends on input samples
``S*j + lo .. S*j + hi``, where ``lo`` and ``hi`` follow from the kernels,
strides, dilations and paddings: a convolution with stride ``s``, effective
kernel ``K`` and left padding ``P`` maps ``(S, lo, hi)`` to
``(S*s, lo - S*P, hi + S*(K - 1 - P))``, and a residual connection takes the
union of its branches. Input sample ``n`` lies at ``n / rate_hz`` seconds
(sample 0 at 0 s).

* DAC's convolutions are centred (kernel ``2s``, padding ``ceil(s/2)`` for the
  strided ones), and row ``j`` is stamped at the centre of its receptive
  field, ``(S*j + (lo + hi)/2) / rate_hz``. With even strides (44.1 kHz) this is
  ``(S*(j + 1/2) - 1/2) / rate_hz``, the centre of the ``S`` samples the row
  strides over: the ``z`` frames lie at ``(512*k + 255.5) / 44100`` s, 86.1328
  frames/s (``DacConfig.frame_rate`` rounds this up to 87). Their receptive
  field spans 7 978 samples (``lo = -3733``, ``hi = 4244``: +-90 ms around the
  stamp). The stride-5 block of the 24 and 16 kHz models pads asymmetrically,
  which moves their frames 4 samples earlier (``320*k + 155.5``).
* EnCodec 24 kHz is causal: a row's receptive field ends at
  ``S*(j + 1) - 1`` (convolutions) and, through the LSTM, reaches back to the
  start of the file. The samples a row is the first to see are
  ``S*j .. S*(j + 1) - 1``; the row is stamped at their centre,
  ``(S*(j + 1/2) - 1/2) / rate_hz``, the same formula as DAC. It then means
  "the newest audio in this row", half a hop before the last sample it
  has heard: nothing after the stamp's hop window reaches it.
* EnCodec 48 kHz is non-causal (asymmetric padding for odd strides): rows are
  stamped at the centre of the convolutional receptive field, ``(lo + hi)/2``;
  its LSTM still carries information forwards from the start of each segment.

:meth:`DacEncoder.layer_info` lists every layer's ``rate_hz`` and ``start_s``
without loading weights; ``tests/test_codecs.py`` checks each stamp against the
support of the gradient of a row with respect to the input samples.

Long audio: chunks with exact context
-------------------------------------
Audio is resampled to the model's rate (soxr) and zero-padded at the end to a
whole number of hops, ``n_frames = ceil(n_samples / H)`` (as DAC's feature
extractor does). It is encoded in chunks of ``chunk_s`` seconds (rounded to
whole frames, so chunk boundaries fall on frame boundaries of the coarsest
layer and every layer's rows line up). Each chunk is run with
``ceil(-lo / H)`` frames of context before it and ``ceil((hi - S + 1) / H)``
after it (DAC 44.1 kHz: 8 and 8 frames, 93 ms each side), and only its own
rows are kept. Every kept row then sees exactly the samples, and no padding,
that a single pass over the file would give it, so the chunked result equals
the single pass to float32 rounding everywhere, ends included (the first and
last chunks have the file's own ends). Codes agree except where a latent sits
at a codebook tie (none in the tests).

EnCodec 24 kHz's LSTM has unbounded memory; rather than a warm-up context
long enough for its state to converge, its state is carried from one chunk to
the next (chunks run in order), and the final convolution gets the previous
chunk's last LSTM outputs as its context. This is the single pass, exactly,
at any ``chunk_s``.

Memory is bounded by ``chunk_s`` plus the kept layers themselves. The kept
layers dominate for long files: per minute of 44.1 kHz audio ``conv_in`` takes
677 MB, ``block1`` 677 MB, ``block2`` 339 MB, ``block3`` 85 MB and
``block4``, ``latent`` and ``z`` 21 MB each. A 10-minute song with every layer
needs 18.4 GB; ask only for the layers you need (``layers=["z"]`` needs
0.21 GB): the network then runs only as deep as the deepest one, and a
warning names the size before an allocation above 2 GiB. Measured with the
published 44.1 kHz architecture (random weights, 2 threads): 10 minutes of
audio with ``layers=["z"]`` and the default 5-s chunks peaked at 1.16 GB
resident over the first chunks, the resident size staying flat (0.82 GB)
while ``z`` fills (0.21 GB by the end); 60 s with every layer runs as fast as
one ``DacModel.encode`` pass over the whole minute (183 s and 180 s of CPU
time), which itself peaks at several GB.

Fast paths (``precision="fast"``, the default, ``"bf16"`` and ``"bf16-mixed"``)
-------------------------------------------------------------------------------
``precision="exact"`` runs the ``transformers`` modules in float32 (the numbers
of ``DacModel.encode``, which the equivalence tests check). The default
``"fast"`` runs a copy of the encoder network built once per process by
:func:`frisson.encoders._fast_codecs.fast_copy`: weight norm folded into plain
weights, every convolution a channels-last 2-D convolution (oneDNN needs no
layout conversion per call; conv outputs stay time-major), DAC's Snake fused
into one ``torch.compile`` kernel (in-place eager operations, with a few more
bf16 roundings, where compiling fails, with a warning; the first compile takes
tens of seconds), in float32: the exact path's numbers to float32 rounding.
``"bf16"`` runs the same copy in bfloat16 on CPUs with AVX-512 BF16 or AMX and
on CUDA devices with bf16 (:attr:`~_CodecEncoder.compute_dtype`; float32
elsewhere). The quantisers,
EnCodec's LSTM and everything after it stay float32. Each bf16 convolution is
checked on a probe against float32 when the copy is built, and runs in float32
if it is off by more than 5 % (torch 2.13's oneDNN gives wrong bf16 results for
some small shapes, e.g. 8 to 16 channels with kernel 8). The compute dtype is
part of :meth:`~DacEncoder.config`, so bf16 and float32 embeddings never share
a store entry. Chunks, context and frame times are those of the exact path.

Measured (``benchmarks/results/encoders.json``: random weights of the
published models, 15 s, fast, bf16, exact and plain ``transformers``
interleaved in one process on 2 quiet cores): DAC 44.1 kHz ``z`` fast 2.1x
real time, 1.8x the exact path and 2.1x ``DacModel.encode``, with identical
codes; bf16 5.4x real time (5.4x ``DacModel.encode``). bf16 keeps 8 mantissa
bits: DAC's ``latent`` is within 1.0e-2 (relative Frobenius norm) of float32,
but codes flip where a latent sits near a codebook tie (85 % of frames with
all 9 codes identical; ``z``, which follows the codes, 0.24 away), so bf16 is
opt-in. On a loaded machine EnCodec 48 kHz gained 1.9x with bf16 and EnCodec
24 kHz nothing (its streaming path is bound by the LSTM and small
convolutions). A 10-minute song to ``z`` (fast, float32) peaked at 1.37 GB resident.

``"bf16-mixed"`` runs bfloat16 convolutions that return float32, so residual
sums and the stream between blocks stay float32, with DAC's first convolution,
last block, final Snake and latent convolution (EnCodec: its first
convolution) in float32. Where bf16's error comes from
(``benchmarks/results/dac_precision.json``; random weights, 15 s): each bf16
convolution adds about 0.25 % (relative Frobenius norm) to its output, so
DAC's error grows block by block, from 0.27 % at ``conv_in`` to 0.97 % at
``latent``; a single block in bf16 with all else float32 already puts the
latent 0.24-0.45 % away and changes the codes of 3-7 % of frames.
bf16-mixed halves bf16's latent error (0.52 %) and its flips (91 % of frames
with identical codes, against 84 %); no configuration with any bf16 block
reached 99 %. Noise added to the float32 latent shows why: 99 % of frames with
identical codes needs the latent within about 3e-4 (random quantiser) or 1e-4
(a quantiser fitted to the data as training fits one, whose shrinking residuals
make later codebooks more sensitive, so random weights understate flips), and
``z`` within 1e-2 of float32 needs practically no flip at all (at 1e-4 it is
already 0.03-0.05 away): float32 arithmetic. Speed, in one process with the others on 2 shared
cores (load 10; CPU seconds are the comparable figure): bf16-mixed took 8.6
CPU-seconds for 15 s of ``z`` against bf16's 7.8, fast's 15.0 and
``DacModel.encode``'s 26.0 (1.75, 1.93, 1.00 and 0.58 s of audio per
CPU-second). The fast float32 path is near what float32 can do here: DAC
44.1 kHz needs about 61 GFLOP per second of audio, and fast computes about
130 GFLOP/s on 2 quiet cores, so 10x real time (610 GFLOP/s) needs bf16's
AMX tiles, whose rounding changes codes.

EnCodec 48 kHz: segments, as the model
--------------------------------------
The 48 kHz model is stereo, normalises the loudness of each 1-s segment
(``normalize=True``) and, above all, normalises every convolution's output
over channels and time of its segment (``norm_type="time_group_norm"``), so its
output depends on how the audio is cut; ``EncodecModel.encode`` cuts 1-s
chunks every 0.99 s, a grid that is not a whole number of frames
(148.5). A single pass over the whole file would normalise with statistics of
the whole song, which the model never saw in training. frisson therefore runs
it as the model was trained: 1-s segments (the mono signal on both channels,
each segment divided by its own RMS as ``EncodecModel`` does), starting every
``segment_hop_s`` (default 0.5 s, on the frame grid; the last segment ends at
the file's end), and each row is taken from the segment whose centre is
nearest, so every row lies in the middle half of its segment. The result is
a continuous series whose rows come from overlapping segments; level
differences between segments are largely removed by the normalisations, so
pair it with a loudness feature when level matters. ``chunk_s`` only sets how
many segments run in one batch and does not change the output. A model with
``chunk_length_s=None`` and ``normalize=True`` (not a published one) is
normalised once per file.

Parameter counts
----------------
:func:`_published_config` rebuilds the published architectures without
network access: ``DacModel(_published_config("descript/dac_44khz"))`` has
76 620 777 parameters (encoder 22.3 M, quantiser 0.23 M, decoder 54.1 M), as
the hub's 307 MB float32 ``model.safetensors`` implies; DAC 24 kHz 74.65 M,
16 kHz 74.14 M, EnCodec 24 kHz 14.85 M.

References
----------
R. Kumar, P. Seetharaman, A. Luebs, I. Kumar, K. Kumar (2023). High-fidelity
audio compression with improved RVQGAN. NeurIPS. https://github.com/descriptinc/descript-audio-codec

A. Défossez, J. Copet, G. Synnaeve, Y. Adi (2022). High fidelity neural audio
compression. arXiv:2210.13438. https://github.com/facebookresearch/encodec

"""

from __future__ import annotations

import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frisson._check import check_positive
from frisson._logging import logger, progress_enabled
from frisson._optional import import_optional
from frisson.audio import Audio
from frisson.encoders._base import Embedding, resolve_layers
from frisson.encoders._registry import LayerInfo
from frisson.encoders._shared import MODELS, repo_key
from frisson.encoders._weights import fetch_hf, hf_cache_dir, hf_is_cached, load_hf
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["DacEncoder", "EncodecEncoder"]

_DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
#: ``precision=``: the fast float32 path, its bf16 variant, or the model's own modules.
_PRECISIONS = ("fast", "bf16", "bf16-mixed", "exact")
#: ``precision="bf16-mixed"``: DAC modules kept in float32 (the first convolution, the last
#: block, the final Snake and the latent convolution), around a float32 residual stream.
_DAC_MIXED_FLOAT32 = ("conv1", "block.3", "snake1", "conv2")
#: Warn before allocating more than this many bytes of layer outputs.
_WARN_OUTPUT_BYTES = 2 * 2**30

#: The published models: family, registry name, sampling rate and config arguments.
_PUBLISHED: dict[str, tuple[str, str, int, dict[str, Any]]] = {
    "descript/dac_44khz": ("dac", "dac-44khz", 44100, {
        "encoder_hidden_size": 64, "downsampling_ratios": [2, 4, 8, 8],
        "decoder_hidden_size": 1536, "n_codebooks": 9, "codebook_size": 1024,
        "codebook_dim": 8, "sampling_rate": 44100,
    }),
    "descript/dac_24khz": ("dac", "dac-24khz", 24000, {
        "encoder_hidden_size": 64, "downsampling_ratios": [2, 4, 5, 8],
        "decoder_hidden_size": 1536, "n_codebooks": 32, "codebook_size": 1024,
        "codebook_dim": 8, "sampling_rate": 24000,
    }),
    "descript/dac_16khz": ("dac", "dac-16khz", 16000, {
        "encoder_hidden_size": 64, "downsampling_ratios": [2, 4, 5, 8],
        "decoder_hidden_size": 1536, "n_codebooks": 12, "codebook_size": 1024,
        "codebook_dim": 8, "sampling_rate": 16000,
    }),
    "facebook/encodec_24khz": ("encodec", "encodec-24khz", 24000, {}),
    "facebook/encodec_48khz": ("encodec", "encodec-48khz", 48000, {
        "target_bandwidths": [3.0, 6.0, 12.0, 24.0], "sampling_rate": 48000,
        "audio_channels": 2, "use_causal_conv": False, "norm_type": "time_group_norm",
        "normalize": True, "chunk_length_s": 1.0, "overlap": 0.01,
    }),
}  # fmt: skip


def _published_config(repo_id: str):
    """The transformers config of a published codec (real sizes, random weights), offline.

    From the original checkpoints' metadata (descript-audio-codec's
    ``conf/final/*.yml``; transformers' EnCodec conversion script).

    Parameters
    ----------
    repo_id : str
        One of ``descript/dac_44khz``, ``descript/dac_24khz``,
        ``descript/dac_16khz``, ``facebook/encodec_24khz``,
        ``facebook/encodec_48khz``.

    Examples
    --------
    >>> config = _published_config("descript/dac_44khz")
    >>> config.hop_length, config.n_codebooks, config.sampling_rate
    (512, 9, 44100)

    """
    if repo_id not in _PUBLISHED:
        raise ParameterError(
            f"repo_id={repo_id!r} is not a published codec; choose one of {', '.join(_PUBLISHED)}."
        )
    family, _, _, kwargs = _PUBLISHED[repo_id]
    if family == "dac":
        from transformers import DacConfig

        return DacConfig(**kwargs)
    from transformers import EncodecConfig

    return EncodecConfig(**kwargs)


# ----------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Geometry:
    """Row ``j`` of a layer depends on input samples ``stride*j + lo .. stride*j + hi``."""

    stride: int = 1
    lo: int = 0
    hi: int = 0

    def conv(self, kernel: int, stride: int = 1, *, left_pad: int, dilation: int = 1) -> _Geometry:
        """The geometry after a convolution (``left_pad`` in the layer's own rows)."""
        span = (kernel - 1) * dilation
        return _Geometry(
            self.stride * stride,
            self.lo - self.stride * left_pad,
            self.hi + self.stride * (span - left_pad),
        )

    def union(self, other: _Geometry) -> _Geometry:
        """A residual connection: the union of two branches at the same stride."""
        return _Geometry(self.stride, min(self.lo, other.lo), max(self.hi, other.hi))


@dataclass(frozen=True)
class _LayerSpec:
    """One output layer: width, time base and meaning."""

    name: str
    channels: tuple[str, ...]
    geometry: _Geometry
    offset: float  # stamp of row 0, in input samples
    description: str
    memory: bool = False  # at or after an LSTM: depends on everything before, too

    @property
    def stride(self) -> int:
        return self.geometry.stride


def _names(prefix: str, n: int) -> tuple[str, ...]:
    width = len(str(n - 1))
    return tuple(f"{prefix}_{i:0{width}d}" for i in range(n))


def _centre(geometry: _Geometry) -> float:
    return (geometry.lo + geometry.hi) / 2


def _newest(geometry: _Geometry) -> float:
    return geometry.hi - (geometry.stride - 1) / 2


def _dac_specs(config) -> tuple[_LayerSpec, ...]:
    """DAC's layers and their geometry, as ``transformers.models.dac`` builds the encoder."""
    specs = []
    g = _Geometry().conv(7, left_pad=3)
    width = config.encoder_hidden_size
    specs.append(
        _LayerSpec("conv_in", _names("conv_in", width), g, _centre(g), "first convolution")
    )
    for index, stride in enumerate(config.downsampling_ratios, start=1):
        for dilation in (1, 3, 9):  # residual units: snake, conv k7 (dilated), snake, conv k1
            branch = g.conv(7, left_pad=3 * dilation, dilation=dilation).conv(1, left_pad=0)
            g = g.union(branch)
        g = g.conv(2 * stride, stride, left_pad=math.ceil(stride / 2))
        width *= 2
        name = f"block{index}"
        specs.append(
            _LayerSpec(
                name, _names(name, width), g, _centre(g),
                f"encoder block {index} (3 residual units, stride {stride})",
            )
        )  # fmt: skip
    g = g.conv(3, left_pad=1)
    hidden = config.hidden_size
    specs.append(
        _LayerSpec("latent", _names("latent", hidden), g, _centre(g), "pre-quantisation latent")
    )
    n_codebooks, dim = config.n_codebooks, config.codebook_dim
    projected = tuple(f"cb{k}_{d}" for k in range(n_codebooks) for d in range(dim))
    specs += [
        _LayerSpec(
            "projected", projected, g, _centre(g),
            f"each codebook's {dim}-d projection of its residual ({n_codebooks} codebooks)",
        ),
        _LayerSpec("z", _names("z", hidden), g, _centre(g), "quantised continuous representation"),
        _LayerSpec(
            "codes", tuple(f"cb{k}" for k in range(n_codebooks)), g, _centre(g),
            f"codebook indices 0..{config.codebook_size - 1}",
        ),
    ]  # fmt: skip
    return tuple(specs)


def _encodec_specs(config, n_quantizers: int) -> tuple[_LayerSpec, ...]:
    """EnCodec's layers and their geometry, as ``transformers.models.encodec`` builds them."""
    causal = config.use_causal_conv

    def conv(g: _Geometry, kernel: int, stride: int = 1, dilation: int = 1) -> _Geometry:
        total = (kernel - 1) * dilation + 1 - stride
        left = total if causal else total - total // 2
        return g.conv(kernel, stride, left_pad=left, dilation=dilation)

    stamp = _newest if causal else _centre
    specs = []
    g = conv(_Geometry(), config.kernel_size)
    width = config.num_filters
    specs.append(_LayerSpec("conv_in", _names("conv_in", width), g, stamp(g), "first convolution"))
    for index, ratio in enumerate(reversed(config.upsampling_ratios), start=1):
        for j in range(config.num_residual_layers):
            branch = conv(g, config.residual_kernel_size, dilation=config.dilation_growth_rate**j)
            branch = conv(branch, 1)
            g = g.union(branch)  # the shortcut (1x1 convolution or identity) adds no span
        g = conv(g, 2 * ratio, ratio)
        width *= 2
        name = f"block{index}"
        specs.append(
            _LayerSpec(
                name, _names(name, width), g, stamp(g),
                f"residual block {index} and its stride-{ratio} convolution",
            )
        )  # fmt: skip
    specs.append(
        _LayerSpec(
            "lstm", _names("lstm", width), g, stamp(g), "LSTM (2 layers) plus its skip", True
        )
    )
    g = conv(g, config.last_kernel_size)
    hidden = config.hidden_size
    specs += [
        _LayerSpec(
            "latent", _names("latent", hidden), g, stamp(g), "pre-quantisation latent", True
        ),
        _LayerSpec(
            "z", _names("z", hidden), g, stamp(g),
            f"sum of the {n_quantizers} selected codebook vectors", True,
        ),
        _LayerSpec(
            "codes", tuple(f"cb{k}" for k in range(n_quantizers)), g, stamp(g),
            f"codebook indices 0..{config.codebook_size - 1} ({n_quantizers} codebooks)", True,
        ),
    ]  # fmt: skip
    return tuple(specs)


# ------------------------------------------------------------------------------- models
@dataclass
class _Loaded:
    """A model loaded once per process (per repository and device)."""

    model: Any
    config: Any
    rate_hz: int
    lock: threading.Lock
    fast: dict[str, Any] = field(default_factory=dict)  # fast encoder copies by dtype


def _load(family: str, repo_id: str, fetch_name: str, device: str) -> _Loaded:
    """Model, config and sampling rate from the cache (never the network), once per process."""
    key = (family, *repo_key(repo_id), device)
    return MODELS.get(key, lambda: _read_model(family, repo_id, fetch_name, device))


def _read_model(family: str, repo_id: str, fetch_name: str, device: str) -> _Loaded:
    if family == "dac":
        from transformers import DacModel as Model
    else:
        from transformers import EncodecModel as Model
    extractor = load_hf(_extractor_class(family), repo_id, fetch_name=fetch_name)
    model = load_hf(Model, repo_id, fetch_name=fetch_name)
    model.decoder = None  # frisson only encodes: free the decoder's weights
    model = model.float().eval().to(device)
    rate = _checked_rate(repo_id, int(extractor.sampling_rate), model.config)
    logger.debug("loaded %s (%s) at %d Hz on %s", repo_id, family, rate, device)
    return _Loaded(model, model.config, rate, threading.Lock())


def _extractor_class(family: str):
    if family == "dac":
        from transformers import DacFeatureExtractor

        return DacFeatureExtractor
    from transformers import EncodecFeatureExtractor

    return EncodecFeatureExtractor


def _checked_rate(repo_id: str, extractor_rate: int, config) -> int:
    """The sampling rate: the feature extractor's, checked against the model config.

    Early uploads of the hub files disagreed (``dac_44khz``'s feature extractor
    said 16 kHz, ``dac_24khz``'s config had no rate), so for the published
    repositories the published rate wins and a disagreement is logged.
    """
    config_rate = getattr(config, "sampling_rate", None)
    if repo_id in _PUBLISHED:
        published = _PUBLISHED[repo_id][2]
        if extractor_rate != published or config_rate != published:
            logger.warning(
                "%s: cached files give %s Hz (feature extractor) and %s Hz (config); "
                "using the published %d Hz. `frisson fetch` again to update the cache.",
                repo_id, extractor_rate, config_rate, published,
            )  # fmt: skip
        return published
    if config_rate is not None and config_rate != extractor_rate:
        logger.warning(
            "%s: feature extractor says %d Hz, model config %s Hz; using the feature "
            "extractor's %d Hz.", repo_id, extractor_rate, config_rate, extractor_rate,
        )  # fmt: skip
    return extractor_rate


def _load_config(family: str, repo_id: str, fetch_name: str):
    """The model config (published: built offline; otherwise read from the cache)."""
    if repo_id in _PUBLISHED:
        return _published_config(repo_id)
    if family == "dac":
        from transformers import DacConfig as Config
    else:
        from transformers import EncodecConfig as Config
    return load_hf(Config, repo_id, fetch_name=fetch_name)


def _check_precision(precision: str) -> str:
    if precision not in _PRECISIONS:
        raise ParameterError(
            f"precision={precision!r} is not valid; use 'fast' (float32, fast layouts, the exact "
            "numbers to ~1e-6), 'bf16' (bfloat16 where the CPU or GPU has it; codes may flip), "
            "'bf16-mixed' (bf16 with a float32 stream and float32 ends; fewer flips) or 'exact' "
            "(the transformers modules in float32)."
        )
    return precision


class _StopForward(Exception):
    """Raised by a hook once the deepest requested layer has been computed."""


# ------------------------------------------------------------------------- the encoders
class _CodecEncoder(ABC):
    """What DAC and EnCodec share: loading, description, chunk plans and stitching."""

    _family: str = ""
    default_layer: str = "z"

    def __init__(
        self,
        repo_id: str,
        *,
        chunk_s: float,
        device: str,
        progress_bar: bool | None,
        precision: str = "fast",
    ) -> None:
        import_optional("transformers")  # the [codecs] extra
        if not isinstance(repo_id, str | Path) or not str(repo_id):
            raise ParameterError(f"repo_id must be a hub id or a folder, got {repo_id!r}.")
        self.repo_id = str(repo_id)
        self.chunk_s = check_positive("chunk_s", chunk_s)
        if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
            raise ParameterError(
                f"device={device!r} is not valid; use 'cpu', 'cuda', 'cuda:N' or 'mps'."
            )
        self.device = device
        self.precision = _check_precision(precision)
        self.progress_bar = progress_bar
        published = _PUBLISHED.get(self.repo_id)
        self.name = published[1] if published else self._family
        self._config_cache = None
        self._rate_cache: int | None = None

    # ------------------------------------------------------------------ description
    def _config(self):
        if self._config_cache is None:
            self._config_cache = _load_config(self._family, self.repo_id, self.name)
        return self._config_cache

    @property
    def input_rate_hz(self) -> float:
        """The model's sampling rate (published models: without loading anything)."""
        if self.repo_id in _PUBLISHED:
            return float(_PUBLISHED[self.repo_id][2])
        if self._rate_cache is None:
            extractor = load_hf(_extractor_class(self._family), self.repo_id, fetch_name=self.name)
            self._rate_cache = _checked_rate(
                self.repo_id, int(extractor.sampling_rate), self._config()
            )
        return float(self._rate_cache)

    @property
    def hop_samples(self) -> int:
        """Input samples per frame of the coarsest layers, the product of the strides."""
        return self._specs()[-1].stride

    @property
    def frame_rate_hz(self) -> float:
        """Frames per second of the coarsest layers, ``input_rate_hz / hop_samples`` (exact)."""
        return self.input_rate_hz / self.hop_samples

    @property
    def layers(self) -> tuple[str, ...]:
        """Layer names in network order."""
        return tuple(spec.name for spec in self._specs())

    @abstractmethod
    def _specs(self) -> tuple[_LayerSpec, ...]:
        """The layers of this family, with their geometry."""

    def layer_info(self) -> list[LayerInfo]:
        """Rate, start, width and meaning of every layer (published models: no files read)."""
        rate = self.input_rate_hz
        out = []
        for spec in self._specs():
            span = spec.geometry.hi - spec.geometry.lo + 1
            field = f"receptive field {span} samples ({1000 * span / rate:.1f} ms)"
            if spec.memory:
                field = f"convolutions' receptive field {span} samples, plus the LSTM's memory"
            out.append(
                LayerInfo(
                    spec.name, rate / spec.stride, spec.offset / rate, len(spec.channels),
                    f"{spec.description}; {field}",
                )
            )  # fmt: skip
        return out

    def weights_status(self) -> tuple[bool, str]:
        """Whether the weights can be loaded offline, and where they are or how to get them."""
        if hf_is_cached(self.repo_id):
            where = self.repo_id if Path(self.repo_id).is_dir() else hf_cache_dir()
            return True, f"cached ({self.repo_id} in {where})"
        return False, f"not cached: `frisson fetch {self.name}` (into {hf_cache_dir()})"

    def fetch(self) -> str:
        """Download the model and feature extractor into the Hugging Face cache (needs internet)."""
        return str(fetch_hf(self.repo_id))

    def _revision(self) -> str | None:
        """The cached snapshot (commit) of a hub repository, part of the cache key."""
        if Path(self.repo_id).expanduser().is_dir():
            return None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.repo_id, "config.json", cache_dir=hf_cache_dir())
        return Path(found).parent.name if isinstance(found, str) else None

    def _base_config(self) -> dict[str, Any]:
        return {
            "weights": self.repo_id,
            "revision": self._revision(),
            "rate_hz": self.input_rate_hz,
            "hop_samples": self.hop_samples,
            "padding": "zeros to a whole number of hops",
            "precision": self._fast_key,
        }

    @property
    def compute_dtype(self) -> str:
        """``"float32"`` or ``"bfloat16"``: what :attr:`precision` computes in on :attr:`device`.

        ``precision="exact"``: float32 in the ``transformers`` modules;
        ``"fast"``: float32 with fast layouts and the fused Snake (the exact
        numbers to float32 rounding, about 1e-6, so it shares their key);
        ``"bf16"``: bfloat16 on CPUs with AVX-512 BF16 or AMX and on CUDA
        devices with bf16, float32 elsewhere. Part of :meth:`config`, so the
        store never mixes bf16 and float32 embeddings.
        """
        from frisson.encoders._fast_codecs import fast_dtype

        return fast_dtype(self.precision, self.device)

    @property
    def _fast_key(self) -> str:
        """What the numbers depend on: :attr:`compute_dtype`, with ``-mixed`` for bf16-mixed."""
        dtype = self.compute_dtype
        return f"{dtype}-mixed" if dtype != "float32" and self.precision == "bf16-mixed" else dtype

    #: bf16-mixed: modules (qualified names in the encoder network) kept in float32.
    _mixed_float32: tuple[str, ...] = ()

    def _network(self, loaded: _Loaded, keep_float=None):
        """The encoder network to run: the model's own (exact) or its fast copy (cached)."""
        if self.precision == "exact":
            return loaded.model.encoder
        from frisson.encoders._fast_codecs import fast_copy

        key = self._fast_key
        if key not in loaded.fast:
            mixed = key.endswith("-mixed")
            kept = self._mixed_float32 if mixed else ()

            def float32(name: str) -> bool:
                named = any(name == k or name.startswith(f"{k}.") for k in kept)
                return named or (keep_float is not None and keep_float(name))

            loaded.fast[key] = fast_copy(
                loaded.model.encoder, self.compute_dtype, keep_float=float32, float_stream=mixed
            )
            logger.debug("%s: fast encoder built (%s)", self.name, key)
        return loaded.fast[key]

    # --------------------------------------------------------------------- running
    def _loaded(self) -> _Loaded:
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ParameterError(
                    f"device={self.device!r}, but torch sees no CUDA device; use device='cpu'."
                )
        return _load(self._family, self.repo_id, self.name, self.device)

    def _signal(self, audio: Audio, rate: int) -> tuple[np.ndarray, int]:
        """Resampled samples, zero-padded to ``n_frames`` whole hops."""
        samples = audio.resample(float(rate)).samples
        hop = self.hop_samples
        n_frames = max(1, math.ceil(samples.size / hop))
        padded = np.zeros(n_frames * hop, np.float32)
        padded[: samples.size] = samples
        return padded, n_frames

    def _outputs(
        self, specs: dict[str, _LayerSpec], n_frames: int, duration_s: float
    ) -> dict[str, np.ndarray]:
        hop = self.hop_samples
        sizes = {n: n_frames * (hop // s.stride) * len(s.channels) * 4 for n, s in specs.items()}
        total = sum(sizes.values())
        if total > _WARN_OUTPUT_BYTES:
            biggest = sorted(sizes, key=sizes.get, reverse=True)[:3]
            logger.warning(
                "%s: the requested layers take %.1f GB for %.0f s of audio (%s); request "
                "fewer layers to save memory.", self.name, total / 1e9, duration_s,
                ", ".join(f"{n} {sizes[n] / 1e9:.1f} GB" for n in biggest),
            )  # fmt: skip
        return {
            name: np.empty((n_frames * (hop // spec.stride), len(spec.channels)), np.float32)
            for name, spec in specs.items()
        }

    def _series(
        self, specs: dict[str, _LayerSpec], outputs: dict[str, np.ndarray], rate: int
    ) -> dict[str, TimeSeries]:
        return {
            name: TimeSeries(
                outputs[name], rate / spec.stride, start_s=spec.offset / rate,
                names=spec.channels,
            )
            for name, spec in specs.items()
        }  # fmt: skip

    def _chunk_frames(self, rate: int) -> int:
        return max(1, round(self.chunk_s * rate / self.hop_samples))

    def _context_frames(self, specs: Sequence[_LayerSpec]) -> tuple[int, int]:
        """Frames of context before and after a chunk so kept rows see no padding."""
        hop = self.hop_samples
        before = max(0, *(-s.geometry.lo for s in specs))
        after = max(0, *(s.geometry.hi - s.stride + 1 for s in specs))
        return math.ceil(before / hop), math.ceil(after / hop)

    def _progress(self, items: Sequence[Any]):
        from tqdm.auto import tqdm

        show = progress_enabled(self.progress_bar) and len(items) > 1
        return tqdm(items, desc=self.name, unit="chunk", leave=False, disable=not show)

    def _store(
        self,
        outputs: dict[str, np.ndarray],
        specs: dict[str, _LayerSpec],
        result: dict[str, Any],
        *,
        item: int,
        origin: int,
        first: int,
        stop: int,
        origins: dict[str, int] | None = None,
    ) -> None:
        """Copy rows of frames ``first .. stop`` from a result whose row 0 is frame ``origin``.

        ``result[name]`` has shape ``(batch, channels, rows)``; ``origins`` overrides
        the frame of row 0 per layer.
        """
        hop = self.hop_samples
        for name, tensor in result.items():
            if name not in outputs:
                continue
            per = hop // specs[name].stride
            at = (origins or {}).get(name, origin)
            values = tensor[item, :, (first - at) * per : (stop - at) * per]
            outputs[name][first * per : stop * per] = values.T.float().cpu().numpy()

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Encode ``audio`` (any rate; resampled) into the requested layers (default all).

        Parameters
        ----------
        audio : Audio
            Mono audio at any rate; resampled to :attr:`input_rate_hz` with soxr.
        layers : sequence of str, optional
            Layer names (see :attr:`layers`); the network runs only as deep as
            the deepest one requested.

        Returns
        -------
        Embedding
            One float32 series per layer, ``(n_frames * hop / S, channels)``
            with ``n_frames = ceil(n_samples / hop)``; row ``j`` at
            ``start_s + j * S / rate`` seconds (see the module docstring).

        Raises
        ------
        WeightsNotCachedError
            If the weights are not cached (before any work); ``frisson fetch NAME``.

        """
        names = resolve_layers(self, layers)
        loaded = self._loaded()  # fails at once without weights
        all_specs = {spec.name: spec for spec in self._specs()}
        specs = {name: all_specs[name] for name in names}
        signal, n_frames = self._signal(audio, loaded.rate_hz)
        outputs = self._outputs(specs, n_frames, audio.duration_s)
        import torch

        with loaded.lock, torch.inference_mode():
            self._run(loaded, signal, n_frames, specs, outputs)
        series = self._series(specs, outputs, loaded.rate_hz)
        return Embedding(self.name, self.config(), audio.sha256, series)

    @abstractmethod
    def _run(self, loaded, signal, n_frames, specs, outputs) -> None:
        """Run the network over ``signal`` (chunked), filling ``outputs`` per layer."""


class DacEncoder(_CodecEncoder):
    """The Descript Audio Codec's encoder and quantiser, every layer with exact frame times.

    Parameters
    ----------
    repo_id : str
        Hub id (``descript/dac_44khz``, ``descript/dac_24khz``,
        ``descript/dac_16khz``) or a folder written by ``save_pretrained``
        (model and ``DacFeatureExtractor``). Registry names ``dac-44khz``,
        ``dac-24khz``, ``dac-16khz`` fix it.
    chunk_s : float
        Seconds of audio per forward pass (rounded to whole frames); 8 frames of
        context are added on each side. Memory of the network grows with it;
        the output does not change (float32 rounding, about 1e-6 relative).
        Default 5 s.
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``); changes
        results by float rounding only and is not part of :meth:`config`.
    precision : {"fast", "bf16", "bf16-mixed", "exact"}
        ``"fast"`` (default): weights folded once, channels-last convolutions
        and a fused Snake in float32 (``DacModel.encode``'s numbers to about
        1e-6). ``"bf16"``: the same in bfloat16 where the CPU (AVX-512 BF16 /
        AMX) or GPU has it (:attr:`compute_dtype`; the quantiser stays float32;
        faster, but codes can flip). ``"bf16-mixed"``: bfloat16 convolutions
        around a float32 residual stream, the first convolution, the last
        block and the latent convolution in float32 (about half bf16's error,
        somewhat slower). ``"exact"``: the ``transformers`` modules in float32.
        See "Fast path" in the module docstring for speed and error.
    progress_bar : bool, optional
        Progress over chunks (default: when stderr is a terminal).

    Notes
    -----
    No loudness normalisation is applied (as ``DacModel.encode``; DAC's own
    ``compress`` normalises to -16 LUFS first). See the module docstring for
    layers, frame times and chunking.

    Examples
    --------
    >>> encoder = DacEncoder("descript/dac_44khz")
    >>> encoder.layers
    ('conv_in', 'block1', 'block2', 'block3', 'block4', 'latent', 'projected', 'z', 'codes')
    >>> info = {layer.name: layer for layer in encoder.layer_info()}
    >>> info["z"].rate_hz == 44100 / 512, round(info["z"].start_s * 44100, 1)
    (True, 255.5)
    >>> info["block2"].rate_hz, info["projected"].n_features, info["codes"].n_features
    (5512.5, 72, 9)

    """

    _family = "dac"
    _mixed_float32 = _DAC_MIXED_FLOAT32

    def __init__(
        self,
        repo_id: str = "descript/dac_44khz",
        *,
        chunk_s: float = 5.0,
        device: str = "cpu",
        precision: str = "fast",
        progress_bar: bool | None = None,
    ) -> None:
        super().__init__(
            repo_id, chunk_s=chunk_s, device=device, progress_bar=progress_bar,
            precision=precision,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"DacEncoder({self.repo_id!r}, chunk_s={self.chunk_s:g}, device={self.device!r}, "
            f"precision={self.precision!r})"
        )

    def _specs(self) -> tuple[_LayerSpec, ...]:
        return _dac_specs(self._config())

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output."""
        return {**self._base_config(), "family": "dac", "normalize": None}

    def _run(self, loaded, signal, n_frames, specs, outputs) -> None:
        import torch

        model = loaded.model
        network = self._network(loaded)
        hop = self.hop_samples
        chunk = self._chunk_frames(loaded.rate_hz)
        before, after = self._context_frames(self._specs())
        modules = {"conv_in": network.conv1, "latent": network.conv2}
        modules.update({f"block{i}": b for i, b in enumerate(network.block, start=1)})
        quantised = {"projected", "z", "codes"} & set(specs)
        order = [name for name in self.layers if name in modules]
        deepest = None if quantised else max(specs, key=order.index)
        captured: dict[str, Any] = {}

        def hook(name: str) -> Callable[..., None]:
            def keep(module, inputs, output) -> None:
                captured[name] = output
                if name == deepest:
                    raise _StopForward

            return keep

        handles = [
            modules[name].register_forward_hook(hook(name))
            for name in modules
            if name in specs or name == deepest
        ]
        try:
            starts = range(0, n_frames, chunk)
            for first in self._progress(starts):
                stop = min(first + chunk, n_frames)
                lo, hi = max(0, first - before), min(n_frames, stop + after)
                x = torch.from_numpy(signal[lo * hop : hi * hop]).to(self.device)[None, None]
                captured.clear()
                try:
                    latent = network(x)
                    if quantised:  # DacModel.encode's quantiser, always on float32 latents
                        z, codes, projected, *_ = model.quantizer(latent.float().contiguous())
                        captured.update(z=z, codes=codes, projected=projected)
                except _StopForward:
                    pass
                self._store(outputs, specs, captured, item=0, origin=lo, first=first, stop=stop)
        finally:
            for handle in handles:
                handle.remove()


class EncodecEncoder(_CodecEncoder):
    """Meta's EnCodec encoder and quantiser, every layer with exact frame times.

    Parameters
    ----------
    repo_id : str
        Hub id (``facebook/encodec_24khz``, ``facebook/encodec_48khz``) or a
        folder written by ``save_pretrained`` (model and
        ``EncodecFeatureExtractor``). Registry names ``encodec-24khz``,
        ``encodec-48khz`` fix it.
    bandwidth_kbps : float, optional
        Target bandwidth, one of the model's ``target_bandwidths``; sets how many
        codebooks ``codes`` and ``z`` use. Default: the highest (24 kbps: 32
        codebooks at 24 kHz, 16 at 48 kHz), so ``z`` is closest to ``latent``.
    segment_hop_s : float, optional
        Models that encode fixed segments (48 kHz: 1 s): seconds between segment
        starts, rounded to whole frames (default half a segment). Refused for
        models without segments (24 kHz).
    chunk_s : float
        Seconds of audio per forward pass (24 kHz: chunks, the LSTM state carried
        over; 48 kHz: segments batched). Does not change the output. Default 10 s.
    device : str
        Torch device; changes results by float rounding only.
    precision : {"fast", "bf16", "bf16-mixed", "exact"}
        ``"fast"`` (default): folded weight norm and channels-last convolutions
        in float32. ``"bf16"``: the same in bfloat16 where the hardware has it,
        up to the LSTM (the LSTM, the last convolution and the quantiser stay
        float32). ``"bf16-mixed"``: as bf16 with the first convolution in
        float32 and convolutions returning float32 (residual sums in float32).
        ``"exact"``: the ``transformers`` modules in float32.
    progress_bar : bool, optional
        Progress over chunks (default: when stderr is a terminal).

    Examples
    --------
    >>> encoder = EncodecEncoder("facebook/encodec_24khz")
    >>> encoder.layers
    ('conv_in', 'block1', 'block2', 'block3', 'block4', 'lstm', 'latent', 'z', 'codes')
    >>> info = {layer.name: layer for layer in encoder.layer_info()}
    >>> info["latent"].rate_hz, round(info["latent"].start_s * 24000, 1), info["codes"].n_features
    (75.0, 159.5, 32)

    """

    _family = "encodec"
    _mixed_float32 = ("layers.0",)  # the first convolution; the LSTM on is float32 anyway
    default_layer = "latent"

    def __init__(
        self,
        repo_id: str = "facebook/encodec_24khz",
        *,
        bandwidth_kbps: float | None = None,
        segment_hop_s: float | None = None,
        chunk_s: float = 10.0,
        device: str = "cpu",
        precision: str = "fast",
        progress_bar: bool | None = None,
    ) -> None:
        super().__init__(
            repo_id, chunk_s=chunk_s, device=device, progress_bar=progress_bar,
            precision=precision,
        )  # fmt: skip
        self.bandwidth_kbps = (
            None if bandwidth_kbps is None else check_positive("bandwidth_kbps", bandwidth_kbps)
        )
        self.segment_hop_s = (
            None if segment_hop_s is None else check_positive("segment_hop_s", segment_hop_s)
        )
        if self.repo_id in _PUBLISHED:  # check what can be checked without loading anything
            self._checked_settings(self._config())

    def __repr__(self) -> str:
        return (
            f"EncodecEncoder({self.repo_id!r}, bandwidth_kbps={self.bandwidth_kbps}, "
            f"chunk_s={self.chunk_s:g}, device={self.device!r}, precision={self.precision!r})"
        )

    def _checked_settings(self, config) -> tuple[float, int | None]:
        """The bandwidth in use and the segment hop in frames (None: no segments)."""
        bandwidths = [float(b) for b in config.target_bandwidths]
        bandwidth = max(bandwidths) if self.bandwidth_kbps is None else self.bandwidth_kbps
        if bandwidth not in bandwidths:
            raise ParameterError(
                f"bandwidth_kbps={self.bandwidth_kbps!r} is not one of {self.repo_id}'s "
                f"bandwidths {bandwidths}."
            )
        segment = _segment_frames(config)
        if segment is None:
            if self.segment_hop_s is not None:
                raise ParameterError(
                    f"segment_hop_s is for models that encode fixed segments; {self.repo_id} "
                    "encodes the whole signal (its chunks carry the LSTM state); leave it unset."
                )
            if config.norm_type != "weight_norm" or not config.use_causal_conv:
                raise ParameterError(
                    f"{self.repo_id}: a model without segments (chunk_length_s=None) must be "
                    "causal with weight_norm to be chunked exactly; this one is not."
                )
            return bandwidth, None
        rate = config.sampling_rate
        hop_frames = segment // 2
        if self.segment_hop_s is not None:
            hop_frames = round(self.segment_hop_s * rate / config.hop_length)
            if not 1 <= hop_frames <= segment:
                raise ParameterError(
                    f"segment_hop_s={self.segment_hop_s!r} is {hop_frames} frames; it must lie "
                    f"between one frame and one segment ({segment} frames)."
                )
        return bandwidth, hop_frames

    def _n_quantizers(self, config, bandwidth: float) -> int:
        frame_rate = math.ceil(config.sampling_rate / config.hop_length)
        per_codebook = math.log2(config.codebook_size) * frame_rate
        return int(max(1, math.floor(bandwidth * 1000 / per_codebook)))

    def _specs(self) -> tuple[_LayerSpec, ...]:
        config = self._config()
        bandwidth, _ = self._checked_settings(config)
        return _encodec_specs(config, self._n_quantizers(config, bandwidth))

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output."""
        config = self._config()
        bandwidth, hop_frames = self._checked_settings(config)
        segment = _segment_frames(config)
        return {
            **self._base_config(),
            "family": "encodec",
            "bandwidth_kbps": bandwidth,
            "n_quantizers": self._n_quantizers(config, bandwidth),
            "normalize": ("per segment" if segment else "per file") if config.normalize else None,
            "segment_frames": segment,
            "segment_hop_frames": hop_frames,
            "channels": "mono on every input channel",
        }

    def _input(self, samples: np.ndarray, channels: int):
        """``(batch, channels, n)`` float32 tensor, the mono signal on every channel."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(samples, np.float32)).to(self.device)
        if x.ndim == 1:
            x = x[None]
        return x[:, None, :].expand(-1, channels, -1).contiguous()

    def _run(self, loaded, signal, n_frames, specs, outputs) -> None:
        config = loaded.config
        bandwidth, hop_frames = self._checked_settings(config)
        if hop_frames is None:
            self._run_stream(loaded, signal, n_frames, specs, outputs, bandwidth)
        else:
            self._run_segments(loaded, signal, n_frames, specs, outputs, bandwidth, hop_frames)

    def _encodec_network(self, loaded: _Loaded):
        """The encoder network; the fast copy keeps the LSTM and what follows in float32."""
        from transformers.models.encodec.modeling_encodec import EncodecLSTM

        layers = list(loaded.model.encoder.layers)
        at_lstm = next(i for i, layer in enumerate(layers) if isinstance(layer, EncodecLSTM))
        built = self.precision != "exact" and self._fast_key in loaded.fast

        def after_lstm(name: str) -> bool:
            return name.startswith("layers.") and int(name.split(".")[1]) >= at_lstm

        network = self._network(loaded, keep_float=after_lstm)
        if self.precision != "exact" and not built:
            network.layers[at_lstm].register_forward_pre_hook(_float_inputs)
        return network

    def _quantise(self, model, latent, bandwidth: float, specs) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if {"z", "codes"} & set(specs):
            codes = model.quantizer.encode(latent, bandwidth)  # (n_q, batch, frames)
            out["codes"] = codes.transpose(0, 1)
            if "z" in specs:
                out["z"] = model.quantizer.decode(codes)
        return out

    def _run_stream(self, loaded, signal, n_frames, specs, outputs, bandwidth) -> None:
        """Causal model on the whole signal: chunks with conv context, LSTM state carried."""
        import torch
        from transformers.models.encodec.modeling_encodec import EncodecLSTM

        model, config = loaded.model, loaded.config
        hop = self.hop_samples
        layers = list(self._encodec_network(loaded).layers)
        at_lstm = next(i for i, layer in enumerate(layers) if isinstance(layer, EncodecLSTM))
        names = _encodec_module_names(layers)
        pre = [s for s in self._specs() if s.name in names[:at_lstm]]
        before, _ = self._context_frames(pre)
        tail_frames = config.last_kernel_size - 1  # the final causal convolution's context
        scale = None
        if config.normalize:  # no segments: one scale for the file, as the model's single chunk
            scale = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))) + 1e-8)
        wanted_post = {"latent", "z", "codes"} & set(specs)
        need_lstm = bool(wanted_post) or "lstm" in specs
        last_pre = at_lstm - 1 if need_lstm else max(names.index(n) for n in specs)
        state = None
        tail = None
        chunk = self._chunk_frames(loaded.rate_hz)
        for first in self._progress(range(0, n_frames, chunk)):
            stop = min(first + chunk, n_frames)
            lo = max(0, first - before)
            h = self._input(signal[lo * hop : stop * hop], config.audio_channels)
            if scale is not None:
                h = h / scale
            captured: dict[str, Any] = {}
            for index in range(last_pre + 1):
                h = layers[index](h)
                if names[index] in specs:
                    captured[names[index]] = h
            self._store(outputs, specs, captured, item=0, origin=lo, first=first, stop=stop)
            if not need_lstm:
                continue
            h = h[..., first - lo :].float()  # the LSTM and what follows run in float32
            lstm = layers[at_lstm]
            steps = h.permute(2, 0, 1)
            y, state = lstm.lstm(steps, state)
            h = (y + steps).permute(1, 2, 0)  # EncodecLSTM.forward, with the state carried
            captured = {"lstm": h} if "lstm" in specs else {}
            if wanted_post:
                post_in = h if tail is None else torch.cat([tail, h], dim=-1)
                tail = post_in[..., -tail_frames:] if tail_frames else None
                latent = post_in
                for index in range(at_lstm + 1, len(layers)):
                    latent = layers[index](latent)
                captured["latent"] = latent
                captured.update(self._quantise(model, latent, bandwidth, specs))
                shift = post_in.shape[-1] - h.shape[-1]
                origins = {n: first - shift for n in ("latent", "z", "codes")}
            else:
                origins = {}
            self._store(
                outputs, specs, captured, item=0, origin=first, first=first, stop=stop,
                origins=origins,
            )  # fmt: skip

    def _run_segments(
        self, loaded, signal, n_frames, specs, outputs, bandwidth, hop_frames
    ) -> None:
        """Segment model: fixed segments, each normalised like the model, rows from the nearest."""
        model, config = loaded.model, loaded.config
        hop = self.hop_samples
        segment = min(_segment_frames(config), n_frames)
        starts = _segment_starts(n_frames, segment, hop_frames)
        bounds = _nearest_segment_bounds(starts, segment, n_frames)
        per_batch = max(1, self._chunk_frames(loaded.rate_hz) // segment)
        captured: dict[str, Any] = {}
        network = self._encodec_network(loaded)
        names = _encodec_module_names(list(network.layers))
        handles = []
        for module, name in zip(network.layers, names, strict=True):
            if name in specs or (name == "latent" and {"z", "codes"} & set(specs)):
                handles.append(module.register_forward_hook(_capture(captured, name)))
        try:
            batches = range(0, starts.size, per_batch)
            for b in self._progress(batches):
                index = np.arange(b, min(b + per_batch, starts.size))
                rows = starts[index, None] * hop + np.arange(segment * hop)
                x = self._input(signal[rows], config.audio_channels)
                if config.normalize:
                    scale = x.pow(2).mean(dim=(1, 2), keepdim=True).sqrt() + 1e-8
                    x = x / scale
                captured.clear()
                network(x)
                captured.update(self._quantise(model, captured["latent"], bandwidth, specs))
                for item, k in enumerate(index):
                    first, stop = bounds[k]
                    if stop > first:
                        self._store(
                            outputs, specs, captured, item=item, origin=int(starts[k]),
                            first=int(first), stop=int(stop),
                        )  # fmt: skip
        finally:
            for handle in handles:
                handle.remove()


def _float_inputs(module, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: the fast EnCodec's LSTM gets float32 inputs."""
    return tuple(x.float() for x in inputs)


def _capture(captured: dict[str, Any], name: str) -> Callable[..., None]:
    def keep(module, inputs, output) -> None:
        captured[name] = output

    return keep


def _encodec_module_names(layers: Sequence[Any]) -> list[str]:
    """The frisson name of each module of ``EncodecEncoder.layers`` ('' for unnamed ones)."""
    from transformers.models.encodec.modeling_encodec import EncodecConv1d, EncodecLSTM

    convs = [i for i, layer in enumerate(layers) if isinstance(layer, EncodecConv1d)]
    names = [""] * len(layers)
    names[convs[0]] = "conv_in"
    names[convs[-1]] = "latent"
    for number, index in enumerate(convs[1:-1], start=1):
        names[index] = f"block{number}"
    for index, layer in enumerate(layers):
        if isinstance(layer, EncodecLSTM):
            names[index] = "lstm"
    return names


def _segment_frames(config) -> int | None:
    """Frames per segment of a model that encodes fixed segments (None: whole signal)."""
    if config.chunk_length_s is None:
        return None
    samples = config.chunk_length_s * config.sampling_rate
    frames = samples / config.hop_length
    if abs(frames - round(frames)) > 1e-9:
        raise DataError(
            f"chunk_length_s={config.chunk_length_s} is {frames:g} frames of "
            f"{config.hop_length} samples; frisson needs whole frames."
        )
    return round(frames)


def _segment_starts(n_frames: int, segment: int, hop: int) -> np.ndarray:
    """First frame of each segment: every ``hop`` frames, the last one ending at the end.

    Examples
    --------
    >>> _segment_starts(400, 150, 75).tolist()
    [0, 75, 150, 225, 250]
    >>> _segment_starts(100, 100, 75).tolist()
    [0]

    """
    starts = list(range(0, max(1, n_frames - segment + 1), hop))
    if starts[-1] + segment < n_frames:
        starts.append(n_frames - segment)
    return np.asarray(starts, dtype=np.int64)


def _nearest_segment_bounds(starts: np.ndarray, segment: int, n_frames: int) -> np.ndarray:
    """For each segment, the frames ``[first, stop)`` closest to its centre (a partition).

    Frame ``f`` (centre ``f + 0.5``) goes to the segment whose centre is nearest;
    a frame exactly halfway goes to the later segment.

    Examples
    --------
    >>> _nearest_segment_bounds(np.array([0, 75, 150, 225, 250]), 150, 400).tolist()
    [[0, 112], [112, 187], [187, 262], [262, 312], [312, 400]]

    """
    centres = starts + segment / 2
    frames = np.arange(n_frames) + 0.5
    nearest = np.searchsorted((centres[:-1] + centres[1:]) / 2, frames, side="right")
    counts = np.bincount(nearest, minlength=starts.size)
    stops = np.cumsum(counts)
    return np.stack([stops - counts, stops], axis=1)
