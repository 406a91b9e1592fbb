"""``hf:<repo-id>``: the hidden states of a transformers audio model, one layer each.

:class:`HFEncoder` loads a model from the Hugging Face cache (``frisson fetch
hf:<repo-id>`` downloads it once) or from a local folder written with
``save_pretrained``, runs it with ``output_hidden_states=True`` and returns every
hidden state as a :class:`~frisson.timeseries.TimeSeries` with exact frame times.
Audio is resampled to the model's own feature extractor's ``sampling_rate`` and
passed through that feature extractor, as the model was trained.

Layers
------
``hidden0`` is the embedding output (the input of the first transformer block)
and ``hidden{k}`` the output of block ``k``, up to ``hidden{num_hidden_layers}``:
``num_hidden_layers + 1`` layers, each ``hidden_size`` wide (channels
``dim0000``, ...). The last one is what transformers returns as the last hidden
state for wav2vec2-style post-norm models and Whisper; for AST and pre-norm
("stable layer norm") wav2vec2-style models it is the block output before the
final layer norm. The default layer is the middle one, ``hidden{L // 2}``.
CLAP differs: one layer per HTSAT stage, each as wide and as fast as its stage,
and the projected ``embedding`` (see *CLAP's audio tower*).

Model families and their time axes
----------------------------------
Row ``j`` of a layer is stamped with the centre of the audio that row stands
for: ``start_s + j / rate_hz``.

* **wav2vec2, HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT),
  wav2vec2-conformer, and MERT** (a convolutional feature encoder on the raw
  waveform): one row every ``H = prod(conv_stride)`` samples (320: 50 Hz at
  16 kHz, 75 Hz for MERT at 24 kHz); row ``j`` sees samples
  ``[j H, j H + R)`` with receptive field
  ``R = 1 + sum_i (conv_kernel[i] - 1) prod_{m<i} conv_stride[m]`` (400 for the
  standard encoder) and is stamped at its centre, ``(j H + (R - 1) / 2) / rate``
  (row 0 at 199.5 / 16000 s). ``floor((n - R) / H) + 1`` rows for ``n`` samples.
  The feature extractor (``do_normalize``) and, in models with
  ``feat_extract_norm="group"``, the first convolution's group norm normalise over
  the whole window.
* **AST** (``ASTModel``): 25-ms fbank frames every 10 ms (frame ``k`` centred on
  sample ``160 k + 199.5``), cut into 16 x 16 patches every ``frequency_stride``
  bands and ``time_stride`` frames; the tokens are ``[CLS, distillation]`` and
  the (frequency x time) patch grid. frisson drops the two summary tokens and
  averages each layer over the frequency patches, so a layer is a time series of
  ``hidden_size`` columns, one row per time patch: ``100 / time_stride`` Hz
  (10 Hz for the AudioSet models), row ``j`` at the centre of its patch, frame
  ``time_stride j + 7.5``, i.e. ``(160 (time_stride j + 7.5) + 199.5) / 16000`` s
  (0.0875 s for row 0). AST takes ``max_length`` frames (1024: 10.24 s) at once.
* **Whisper** (``WhisperModel``, encoder only): log-mel frames every 10 ms
  (centred STFT: frame ``k`` at ``k / 100`` s), padded to 30 s; two
  convolutions (the second with stride 2) give 50 Hz rows, row ``j`` centred on
  mel frame ``2 j``: at ``j / 50`` s from 0.

* **CLAP** (``ClapModel``: ``laion/clap-htsat-unfused``,
  ``laion/clap-htsat-fused``, ``laion/larger_clap_music``; audio tower only) -
  see *CLAP's audio tower* below: one layer per HTSAT stage, each a time series
  at its own rate, and the projected audio embedding.

Rows whose stamp lies past the end of the audio (Whisper's, AST's and CLAP's
padding) are dropped, so every layer ends within the audio.

CLAP's audio tower
------------------
frisson loads the audio tower and its projection (``ClapAudioModelWithProjection``
reads a ``ClapModel`` checkpoint; the text tower is never loaded) and
``ClapFeatureExtractor``. Audio is resampled to the extractor's rate (48 kHz) and
cut into windows of its ``max_length_s`` (10 s: ``W = 480000`` samples). The
extractor makes log-mel frames every ``hop_length`` samples (480: 10 ms) with a
centred STFT, ``N = W // hop_length + 1`` frames (1001, frame ``k`` centred on
sample ``480 k``). HTSAT then

1. interpolates time to ``spec_width = spec_size * f`` frames (1024; bicubic,
   ``align_corners=True``), with ``f = spec_size // num_mel_bins`` (4), so image
   frame ``u`` is centred on mel frame ``u (N - 1) / (spec_width - 1)`` (a local
   4-tap mix of the mel frames around it): sample ``u * 480000 / 1023`` for the
   published models;
2. folds the (1024 time x 64 mel) image into ``spec_size x spec_size`` (256 x
   256): ``reshape_mel2img`` cuts time into ``f`` chunks of ``spec_size`` frames
   (2.56 s) and stacks them along the frequency axis, so image row
   ``64 q + m`` is mel band ``m`` of chunk ``q`` and column ``c`` is frame
   ``256 q + c``;
3. cuts 4 x 4 patches (``patch_stride``; non-overlapping) into a 64 x 64 token
   grid, which each Swin stage keeps and patch merging halves in both axes
   (32, 16, 8).

A token of a stage working at ``P`` image frames per column (4, 4, 8, 16, 32)
lies in chunk ``q = row // (rows / f)`` and covers image frames
``256 q + P col`` to ``+ P - 1``. frisson undoes the fold: it splits each
stage's grid into its ``f`` chunks, averages each chunk's frequency rows (as AST's
frequency patches are averaged; the fold puts every token in exactly one chunk,
so no token mixes times) and lays the chunks end to end, so row ``j`` covers image
frames ``P j`` to ``P j + P - 1`` and is stamped at their centre:
``(P j + (P - 1) / 2) (N - 1) / (spec_width - 1) hop_length / rate`` s, i.e.
``rate_hz = 1023 / (10 P)`` (25.575 Hz for ``P = 4``, 3.196875 Hz for ``P = 32``),
row 0 at ``(P - 1) / 2 * 10 / 1023`` s. ``spec_width / P`` rows per window.

Layers: ``hidden0`` is the patch embedding (after its layer norm, 96 wide);
``hidden{k}`` is the output of Swin stage ``k`` *before* its patch merging, at the
resolution the stage worked on (``output_hidden_states_before_downsampling``:
``P = 4, 8, 16, 32``; 96, 192, 384, 768 wide; the last before the final layer
norm); ``embedding`` is the projected audio embedding of each window,
L2-normalised as ``ClapModel.get_audio_features`` returns it (512 wide). What is
approximate: the stamps give the centre of each token's own patch, but its
receptive field is wider - the bicubic interpolation (two mel frames either side)
and the 1024-sample STFT frames reach about 30 ms beyond a patch, shifted Swin
windows mix neighbouring tokens, and attention mixes the chunks (times 2.56 s
apart) where a Swin window spans a chunk border, and the whole window in the
last stage (8 x 8 tokens, one Swin window).

Deterministic preprocessing: a window never holds more than ``max_length_s`` of
audio, so neither random path of the extractor runs (``rand_trunc``'s random
crop, ``fusion``'s random chunks). The extractor's ``truncation`` setting
(``fusion`` by default) then only picks the mel filter bank (HTK for
``fusion``, Slaney for ``rand_trunc``) and stacks 4 identical copies (fusion),
of which frisson passes the first, the global mel. ``is_longer`` is false, as
LAION's CLAP marks clips of at most 10 s (the extractor marks one clip of each
batch "longer" when none is - a lone clip always - which would turn on the fused
models' local branch), so the fused models run their global branch only; that
pick among one clip draws no random number, so encoding leaves numpy's global
random state alone. Windows shorter than 10 s (audio shorter than one window,
or the end of the last) are filled by the extractor's ``padding``
(``repeatpad``: audio is repeated as many whole times as fit, so only audio
shorter than 5 s, then zeros), as LAION's CLAP fills clips.

Long audio: windows
-------------------
Audio is encoded in windows of ``window_s`` (default: the model's input length,
10.24 s for AST, 30 s for Whisper, 10 s for CLAP, 30 s for wav2vec2-style
models) that start every ``window_hop_s`` (default three quarters of a window),
on the layer's row grid, the last window ending with the audio (CLAP: on its
coarsest layer's grid, which every finer layer's grid contains; its row times
are not whole samples, so a window starts on the nearest sample, within half a
sample, 10 us, of the grid; the last window ends with the coarse row that holds
the finest layer's last row). Each row is taken from the window
whose centre is nearest, so it has at least an eighth of a window of context
either side (except at the ends of the audio) and memory stays bounded by one
window. Transformers attend over their whole input, so a windowed encoding is not
identical to one pass over long audio. Measured on a tiny random wav2vec2 over
10 s of noise, 2-s windows every 1 s against one pass: with only local
operations below the transformer (layer-norm convolutions, ``do_normalize``
off), ``hidden0`` matches to float rounding (3e-6 of its SD) and the last block
differs by at most 0.2 % of its SD (random attention is nearly uniform, so a
trained model differs more); with window-wide normalisation (``do_normalize``
and group norm, as wav2vec2-base and MERT-95M) every layer differs by 2.5 % of
its SD (RMS; 1 % with 4-s windows), correlations per channel >= 0.999.
Models were trained on inputs of one length (MERT: 5-s clips; AST: 10.24 s;
Whisper: 30 s; CLAP: 10 s); ``window_s=5`` runs MERT on what it was trained on.
CLAP's ``embedding`` has one row per window on the window hop grid, stamped at
the window's centre (``window_hop_s`` apart, the first at 5 s); the last window,
which ends with the audio off that grid, adds none, and audio shorter than one
window gives one row at the centre of the audio.

MERT without remote code
------------------------
MERT (``m-a-p/MERT-v1-95M``, ``m-a-p/MERT-v1-330M``) is published as a
``mert_model`` with its own Python code, which fails on transformers >= 4.48
(``conv_pos_batch_norm``). frisson never runs a repository's code: it reads
MERT's ``config.json``, builds transformers' own ``HubertModel`` with the
equivalent ``HubertConfig`` and loads MERT's weights into it, refusing any
weight that is missing or left over. MERT v1 is HuBERT with these differences:
its feature projection can concatenate a CQT (``feature_extractor_cqt``, off in
v1; refused here), ``deepnorm`` residual scaling (off in v1; refused), and
``attention_relax``, which shifts attention logits by their maximum before the
softmax and so changes nothing but rounding (and is only used with
``deepnorm``). The positional convolution uses weight norm, stored with the
legacy names ``weight_g`` / ``weight_v``, or batch norm where
``conv_pos_batch_norm`` is set. The feature extractor is
``Wav2Vec2FeatureExtractor`` at 24 kHz with ``do_normalize``.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from frisson._check import check_int, check_positive
from frisson._logging import logger, progress_enabled
from frisson._optional import import_optional
from frisson.audio import Audio
from frisson.encoders._base import Embedding, resolve_layers
from frisson.encoders._registry import LayerInfo
from frisson.encoders._shared import MODELS, repo_key, torch_threads
from frisson.encoders._weights import (
    WeightsNotCachedError,
    fetch_hf,
    hf_cache_dir,
    is_local_model,
    load_hf,
    not_cached_message,
)
from frisson.errors import AudioError, DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["CLAP_EMBEDDING_LAYER", "SUPPORTED_FAMILIES", "HFEncoder"]

#: model_type values (config.json) of each supported family.
SUPPORTED_FAMILIES: dict[str, tuple[str, ...]] = {
    "conv": (
        "wav2vec2",
        "hubert",
        "wavlm",
        "data2vec-audio",
        "unispeech",
        "unispeech-sat",
        "wav2vec2-conformer",
        "mert_model",
    ),
    "ast": ("audio-spectrogram-transformer",),
    "whisper": ("whisper",),
    "clap": ("clap", "clap_audio_model"),
}
_MERT_TYPES = ("mert_model",)
#: Name of CLAP's projected audio embedding layer (one row per window).
CLAP_EMBEDDING_LAYER = "embedding"
#: Default window of the conv (waveform) family, in seconds.
CONV_WINDOW_S = 30.0
#: Default hop between windows, as a fraction of the window.
WINDOW_HOP_FRACTION = 0.75
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# AST's fbank: 25-ms frames every 10 ms at 16 kHz, not centred (kaldi's snip_edges).
_AST_RATE_HZ = 16000
_AST_FRAME_SAMPLES = 400
_AST_SHIFT_SAMPLES = 160


# ----------------------------------------------------------------------- repository files
def _repo_file(repo_id: str, filename: str) -> Path | None:
    """A file of a local model folder or of a cached hub repository (None if absent)."""
    if is_local_model(repo_id):
        path = Path(repo_id).expanduser() / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=hf_cache_dir())
    return Path(found) if isinstance(found, str) else None


def _read_json(repo_id: str, filename: str, fetch_name: str) -> dict[str, Any]:
    path = _repo_file(repo_id, filename)
    if path is None and is_local_model(repo_id) and filename != "config.json":
        raise DataError(
            f"{repo_id}: the model folder has no {filename}; save the model's feature extractor "
            "there too (feature_extractor.save_pretrained(folder))."
        )
    if path is None:
        raise WeightsNotCachedError(
            not_cached_message(
                f"{fetch_name!r} ({repo_id}: no {filename})", fetch_name, hf_cache_dir()
            )
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot be read as JSON ({error}); fetch it again.") from None


def _is_mert(config: dict[str, Any]) -> bool:
    architectures = config.get("architectures") or []
    return config.get("model_type") in _MERT_TYPES or any(
        str(a).startswith("MERT") for a in architectures
    )


def _family_of(config: dict[str, Any], repo_id: str) -> str:
    model_type = "mert_model" if _is_mert(config) else config.get("model_type")
    for family, types in SUPPORTED_FAMILIES.items():
        if model_type in types:
            return family
    listed = "; ".join(
        f"{family}: {', '.join(types)}" for family, types in SUPPORTED_FAMILIES.items()
    )
    raise ParameterError(
        f"hf:{repo_id} is a {model_type!r} model, which frisson cannot time-align yet. "
        f"Supported model types by family: {listed}."
    )


# ------------------------------------------------------------------------------ time grid
@dataclass(frozen=True)
class _Grid:
    """Where a model's rows lie in the audio, in input samples.

    Row ``j`` of a window starting at sample ``s`` is centred on sample
    ``s + j * hop + centre``. ``receptive`` is the samples one row needs (conv
    family; 0 for padded families, whose rows count while their centre lies in the
    audio). ``window_rows`` rows come from one native window of
    ``window_samples`` samples. ``hop`` is a whole number of samples except for
    CLAP, whose rows follow its interpolated frames (a :class:`~fractions.Fraction`,
    so rates and stamps are exact to float rounding).
    """

    rate_hz: float
    hop: int | Fraction
    centre: float | Fraction
    receptive: int
    window_rows: int
    window_samples: int

    def n_rows(self, n_samples: int) -> int:
        """Rows of the whole audio: full receptive fields, or centres within the audio."""
        if self.receptive:
            return max(0, (n_samples - self.receptive) // self.hop + 1)
        return max(0, math.floor((n_samples - self.centre) / self.hop) + 1)

    @property
    def rate_out_hz(self) -> float:
        return float(Fraction(self.rate_hz) / self.hop)

    @property
    def start_s(self) -> float:
        return float(Fraction(self.centre) / Fraction(self.rate_hz))

    @property
    def min_samples(self) -> int:
        """Samples the first row needs: its receptive field, or its centre."""
        return self.receptive or math.floor(self.centre) + 1


def _conv_geometry(config: dict[str, Any]) -> tuple[int, int]:
    """Hop and receptive field (samples) of a wav2vec2-style convolutional feature encoder."""
    hop, receptive = 1, 1
    for kernel, stride in zip(config["conv_kernel"], config["conv_stride"], strict=True):
        receptive += (int(kernel) - 1) * hop
        hop *= int(stride)
    return hop, receptive


def _window_starts(n_rows: int, window_rows: int, hop_rows: int) -> list[int]:
    """First row of each window: every ``hop_rows``, the last window ending at the last row.

    Examples
    --------
    >>> _window_starts(10, 4, 3), _window_starts(3, 4, 3)
    ([0, 3, 6], [0])

    """
    if n_rows <= window_rows:
        return [0]
    return [*range(0, n_rows - window_rows, hop_rows), n_rows - window_rows]


# ------------------------------------------------------------------------------ CLAP
def _pair(value: Any) -> tuple[int, int]:
    """A HTSAT size given as one int or as (height, width)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _clap_audio_config(config: dict[str, Any]):
    """The ``ClapAudioConfig`` (defaults filled in) of a ``clap`` or ``clap_audio_model`` config."""
    from transformers import ClapAudioConfig, ClapConfig

    if config.get("model_type") == "clap":
        return ClapConfig.from_dict(config).audio_config  # projection_dim set from the top level
    return ClapAudioConfig.from_dict(config)


def _clap_has_projection(config: dict[str, Any]) -> bool:
    """Whether a CLAP checkpoint holds the audio projection (ClapModel, ...WithProjection)."""
    architectures = config.get("architectures") or []
    return config.get("model_type") == "clap" or "ClapAudioModelWithProjection" in architectures


def _unfold_clap(tokens: np.ndarray, fold: int) -> np.ndarray:
    """HTSAT tokens ``(channels, height, width)`` as ``(fold * width, channels)`` time rows.

    The height holds ``fold`` time chunks of ``height / fold`` frequency rows each
    (``reshape_mel2img``); each chunk's rows are averaged and the chunks laid end
    to end in time.

    Examples
    --------
    >>> tokens = np.arange(8.0).reshape(1, 4, 2)  # 1 channel, 2 chunks x 2 rows, 2 columns
    >>> _unfold_clap(tokens, 2)[:, 0]  # chunk 0: mean of rows 0-1; chunk 1: rows 2-3
    array([1., 2., 5., 6.])

    """
    channels, height, width = tokens.shape
    chunks = tokens.reshape(channels, fold, height // fold, width).mean(axis=2)
    return chunks.reshape(channels, fold * width).T


# ------------------------------------------------------------------------------ MERT
#: Keys of a MERT config.json that describe the checkpoint, not the network.
_META_KEYS = (
    "model_type",
    "architectures",
    "auto_map",
    "transformers_version",
    "_name_or_path",
    "torch_dtype",
    "dtype",
)
_MERT_ONLY_KEYS = (
    "feature_extractor_cqt",
    "feature_extractor_cqt_bins",
    "deepnorm",
    "attention_relax",
    "sample_rate",
)
_KEY_PREFIXES = ("mert_model.", "hubert.")
#: MERT's published MERT-v1-95M architecture (config.json, less training-only settings).
_MERT_V1_95M = {
    "model_type": "mert_model",
    "architectures": ["MERTModel"],
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "conv_dim": [512] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "feat_proj_layer_norm": True,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False,
    "layer_norm_eps": 1e-5,
    "feature_extractor_cqt": False,
    "feature_extractor_cqt_bins": 336,
    "deepnorm": False,
    "attention_relax": -1.0,
    "sample_rate": 24000,
}


def _hubert_config_from_mert(mert: dict[str, Any], *, source: str = "MERT config"):
    """The ``HubertConfig`` of the network a MERT ``config.json`` describes.

    Raises
    ------
    ParameterError
        For MERT variants HuBERT cannot express (CQT features, deepnorm).

    """
    from transformers import HubertConfig

    if mert.get("feature_extractor_cqt", False):
        raise ParameterError(
            f"{source}: feature_extractor_cqt=true (MERT's CQT branch, which needs nnAudio) is "
            "not supported; MERT v1 models have it off."
        )
    if mert.get("deepnorm", False):
        raise ParameterError(
            f"{source}: deepnorm=true scales MERT's residual connections, which transformers' "
            "HubertModel cannot express; MERT v1 models have it off."
        )
    known = set(HubertConfig().to_dict())
    settings = {
        key: value
        for key, value in mert.items()
        if key in known and key not in _META_KEYS and key not in _MERT_ONLY_KEYS
    }
    return HubertConfig(**settings)


def _weight_files(repo_id: str, fetch_name: str) -> list[Path]:
    for name in _WEIGHT_FILES:
        path = _repo_file(repo_id, name)
        if path is None:
            continue
        if not name.endswith(".index.json"):
            return [path]
        shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
        files = [_repo_file(repo_id, shard) for shard in shards]
        missing = [s for s, f in zip(shards, files, strict=True) if f is None]
        if not missing:
            return [f for f in files if f is not None]
        raise WeightsNotCachedError(
            not_cached_message(
                f"{fetch_name!r} ({repo_id}: missing {', '.join(missing)})",
                fetch_name,
                hf_cache_dir(),
            )
        )
    raise WeightsNotCachedError(
        not_cached_message(
            f"{fetch_name!r} ({repo_id}: no {' or '.join(_WEIGHT_FILES[::2])})",
            fetch_name,
            hf_cache_dir(),
        )
    )


def _read_state_dict(files: list[Path]) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {}
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(str(path)))
        else:
            state.update(torch.load(path, map_location="cpu", weights_only=True))
    return state


def _mert_to_hubert_keys(state: dict[str, Any], target_keys: set[str]) -> dict[str, Any]:
    """Rename a MERT state dict onto ``HubertModel``'s keys.

    A common ``mert_model.`` / ``hubert.`` prefix is removed, and the legacy
    weight-norm names ``weight_g`` / ``weight_v`` become
    ``parametrizations.weight.original0`` / ``original1`` where the target uses
    parametrized weight norm. Nothing is dropped.
    """
    for prefix in _KEY_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    renamed = {}
    for key, value in state.items():
        for legacy, modern in (("weight_g", "original0"), ("weight_v", "original1")):
            if key.endswith("." + legacy):
                candidate = f"{key[: -len(legacy)]}parametrizations.weight.{modern}"
                if candidate in target_keys:
                    key = candidate
        renamed[key] = value
    return renamed


def _load_mert(repo_id: str, config: dict[str, Any], fetch_name: str):
    """A ``HubertModel`` of transformers holding a MERT checkpoint's weights (no remote code)."""
    from transformers import HubertModel

    model = HubertModel(_hubert_config_from_mert(config, source=f"hf:{repo_id} config.json"))
    files = _weight_files(repo_id, fetch_name)
    state = _mert_to_hubert_keys(_read_state_dict(files), set(model.state_dict()))
    missing, unexpected = _key_differences(model, state)
    if missing or unexpected:
        raise DataError(
            f"{files[0]}: the MERT weights do not match a HuBERT network of its config.json; "
            f"missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'}. This MERT variant is not supported."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # shape mismatches
        raise DataError(
            f"{files[0]}: the MERT weights do not fit their config.json: {error}"
        ) from None
    logger.debug("MERT %s: %d tensors from %s loaded into HubertModel", repo_id, len(state), files)
    return model


def _key_differences(model: Any, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)


# ------------------------------------------------------------------------------ encoder
@dataclass(frozen=True)
class _Spec:
    """What config.json and preprocessor_config.json say about a model (no weights)."""

    family: str
    model_type: str
    mert: bool
    n_blocks: int
    #: Columns of hidden0 ... hidden{n_blocks}.
    widths: tuple[int, ...]
    #: The grid windows start on: the coarsest layer's (CLAP) or every layer's.
    grid: _Grid
    #: The row grid of hidden0 ... hidden{n_blocks}.
    layer_grids: tuple[_Grid, ...]
    #: CLAP: time chunks folded onto the frequency axis (``spec_size // num_mel_bins``).
    fold: int = 1
    #: CLAP: width of the projected audio embedding (0: the checkpoint has none).
    embedding_width: int = 0
    #: Further settings that change the output, for config().
    settings: tuple[tuple[str, Any], ...] = ()


class HFEncoder:
    """Any transformers audio model's hidden states as frisson layers (``hf:<repo-id>``).

    Parameters
    ----------
    repo_id : str
        Hugging Face Hub id (``"m-a-p/MERT-v1-95M"``, ``"facebook/wav2vec2-base"``,
        ``"MIT/ast-finetuned-audioset-10-10-0.4593"``, ``"openai/whisper-base"``,
        ``"laion/clap-htsat-unfused"``), fetched once with
        ``frisson fetch hf:<repo-id>``, or a local folder written with
        ``save_pretrained`` (model and feature extractor).
    window_s : float, optional
        Seconds of audio per forward pass (default: the model's input length;
        30 s for wav2vec2-style models). AST, Whisper and CLAP take only their
        input length (10.24 s, 30 s, ``max_length_s``: 10 s).
    window_hop_s : float, optional
        Seconds between window starts, at most ``window_s`` (default 3/4 of the
        window), rounded to whole rows (CLAP: of its coarsest layer, 0.313 s; also
        the spacing of its ``embedding`` rows).
    device : str
        Torch device to run on (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
    n_threads : int, optional
        Torch threads while encoding on the CPU (default: torch's setting).
    progress_bar : bool, optional
        Show a bar over windows (default: when stderr is a terminal).

    Notes
    -----
    See the module docstring for the layers, their time axes per family, the
    windowing, MERT and CLAP. Nothing is downloaded while encoding: weights that are not
    cached raise :class:`~frisson.encoders.WeightsNotCachedError`
    naming ``frisson fetch hf:<repo-id>``. Outputs are float32; the device changes
    them only by float rounding and is not part of :meth:`config`.

    Examples
    --------
    >>> encoder = HFEncoder("m-a-p/MERT-v1-95M", window_s=5.0)  # nothing is loaded yet
    >>> encoder.name
    'hf:m-a-p/MERT-v1-95M'

    """

    def __init__(
        self,
        repo_id: str,
        *,
        window_s: float | None = None,
        window_hop_s: float | None = None,
        device: str = "cpu",
        n_threads: int | None = None,
        progress_bar: bool | None = None,
    ) -> None:
        import_optional("transformers")  # the [codecs] extra
        if not isinstance(repo_id, str) or not repo_id:
            raise ParameterError(f"repo_id must be a hub id or a folder, got {repo_id!r}.")
        self.repo_id = repo_id
        self.name = f"hf:{repo_id}"
        self.window_s = None if window_s is None else check_positive("window_s", window_s)
        self.window_hop_s = (
            None if window_hop_s is None else check_positive("window_hop_s", window_hop_s)
        )
        if self.window_s and self.window_hop_s and self.window_hop_s > self.window_s:
            raise ParameterError(
                f"window_hop_s={window_hop_s} exceeds window_s={window_s}; windows would leave "
                "gaps. Use a hop of at most the window."
            )
        self.device = str(device)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, minimum=1)
        self.progress_bar = progress_bar
        self._spec_cache: _Spec | None = None
        self._model: Any = None
        self._feature_extractor: Any = None

    def __repr__(self) -> str:
        return f"HFEncoder({self.repo_id!r}, window_s={self.window_s}, device={self.device!r})"

    # ----------------------------------------------------------------- description
    @property
    def _spec(self) -> _Spec:
        if self._spec_cache is None:
            self._spec_cache = self._read_spec()
        return self._spec_cache

    def _read_spec(self) -> _Spec:
        config = _read_json(self.repo_id, "config.json", self.name)
        family = _family_of(config, self.repo_id)
        preprocessor = _read_json(self.repo_id, "preprocessor_config.json", self.name)
        rate_hz = float(preprocessor["sampling_rate"])
        mert = _is_mert(config)
        model_type = "mert_model" if mert else str(config["model_type"])
        if family == "clap":
            return self._clap_spec(config, preprocessor, rate_hz)
        if family == "conv":
            grid = self._conv_grid(config, rate_hz)
            n_blocks, width = config["num_hidden_layers"], config["hidden_size"]
        elif family == "ast":
            grid = self._ast_grid(config, preprocessor, rate_hz)
            n_blocks, width = config["num_hidden_layers"], config["hidden_size"]
        else:
            grid = self._whisper_grid(config, preprocessor, rate_hz)
            n_blocks, width = config["encoder_layers"], config["d_model"]
        n_layers = int(n_blocks) + 1
        widths = (int(width),) * n_layers
        return _Spec(family, model_type, mert, int(n_blocks), widths, grid, (grid,) * n_layers)

    def _conv_grid(self, config: dict[str, Any], rate_hz: float) -> _Grid:
        hop, receptive = _conv_geometry(config)
        window_samples = round((self.window_s or CONV_WINDOW_S) * rate_hz)
        if window_samples < receptive + hop:
            raise ParameterError(
                f"window_s={self.window_s} holds fewer than two frames of {self.name} "
                f"(receptive field {receptive / rate_hz:.4f} s, hop {hop / rate_hz:.4f} s); "
                "use a longer window."
            )
        rows = (window_samples - receptive) // hop + 1
        return _Grid(
            rate_hz, hop, (receptive - 1) / 2, receptive, rows, (rows - 1) * hop + receptive
        )

    def _fixed_window(self, native_s: float, what: str) -> None:
        if self.window_s is not None and abs(self.window_s - native_s) > 1e-3:
            raise ParameterError(
                f"window_s={self.window_s}: {what} takes {native_s:g}-s inputs only; leave "
                "window_s unset (window_hop_s sets the overlap)."
            )

    def _ast_grid(self, config: dict[str, Any], pre: dict[str, Any], rate_hz: float) -> _Grid:
        if rate_hz != _AST_RATE_HZ:
            raise ParameterError(
                f"{self.name}: AST feature extractor at {rate_hz:g} Hz; frisson knows AST's "
                f"fbank frame times at {_AST_RATE_HZ} Hz only."
            )
        frames = int(config["max_length"])
        if int(pre.get("max_length", frames)) != frames or int(
            pre.get("num_mel_bins", config["num_mel_bins"])
        ) != int(config["num_mel_bins"]):
            raise DataError(
                f"{self.name}: preprocessor_config.json and config.json disagree on max_length "
                "or num_mel_bins; re-save the feature extractor with the model."
            )
        stride, patch = int(config["time_stride"]), int(config["patch_size"])
        rows = (frames - patch) // stride + 1
        self._fixed_window(
            ((frames - 1) * _AST_SHIFT_SAMPLES + _AST_FRAME_SAMPLES) / rate_hz, "AST"
        )
        centre = _AST_SHIFT_SAMPLES * (patch - 1) / 2 + (_AST_FRAME_SAMPLES - 1) / 2
        return _Grid(
            rate_hz,
            stride * _AST_SHIFT_SAMPLES,
            centre,
            0,
            rows,
            (frames - 1) * _AST_SHIFT_SAMPLES + _AST_FRAME_SAMPLES,
        )

    def _whisper_grid(self, config: dict[str, Any], pre: dict[str, Any], rate_hz: float) -> _Grid:
        hop_mel = int(pre["hop_length"])
        n_samples = int(pre.get("n_samples", pre["chunk_length"] * rate_hz))
        rows = int(config["max_source_positions"])
        if n_samples // hop_mel != 2 * rows:
            raise DataError(
                f"{self.name}: the feature extractor makes {n_samples // hop_mel} mel frames per "
                f"window but the encoder takes {2 * rows}; re-save a matching feature extractor."
            )
        self._fixed_window(n_samples / rate_hz, "Whisper")
        return _Grid(rate_hz, 2 * hop_mel, 0.0, 0, rows, n_samples)

    def _clap_spec(self, config: dict[str, Any], pre: dict[str, Any], rate_hz: float) -> _Spec:
        """HTSAT's geometry: one row grid per stage, undoing the fold (module docstring)."""
        audio = _clap_audio_config(config)
        fold = audio.spec_size // audio.num_mel_bins
        image_frames = audio.spec_size * fold  # spec_width: time frames after interpolation
        stride_f, stride_t = _pair(audio.patch_stride)
        n_stages = len(audio.depths)
        coarsest = 2 ** (n_stages - 1)
        if _pair(audio.patch_size) != (stride_f, stride_t):
            raise ParameterError(
                f"{self.name}: HTSAT patches of {audio.patch_size} every {audio.patch_stride} "
                "overlap; frisson unfolds non-overlapping patches only (as in the published "
                "CLAP models)."
            )
        if (
            fold < 1
            or (audio.spec_size // fold) % (stride_f * coarsest)
            or audio.spec_size % (stride_t * coarsest)
        ):
            raise ParameterError(
                f"{self.name}: spec_size={audio.spec_size}, num_mel_bins={audio.num_mel_bins}, "
                f"patch_stride={audio.patch_stride} and {n_stages} stages put tokens across the "
                "folded time chunks; frisson cannot give this HTSAT geometry a time axis."
            )
        hop_length = int(pre["hop_length"])
        window_samples = float(pre["max_length_s"]) * rate_hz
        mel_frames = int(window_samples) // hop_length + 1
        if int(pre.get("feature_size", audio.num_mel_bins)) != audio.num_mel_bins or not (
            window_samples.is_integer() and mel_frames <= image_frames
        ):
            raise DataError(
                f"{self.name}: preprocessor_config.json (feature_size, max_length_s, hop_length) "
                f"does not fit config.json ({audio.num_mel_bins} mel bands, at most "
                f"{image_frames} frames); re-save the feature extractor with the model."
            )
        self._fixed_window(window_samples / rate_hz, "CLAP")
        # Image frame u is centred on mel frame u (N - 1) / (spec_width - 1) (align_corners).
        stretch = Fraction(mel_frames - 1, image_frames - 1) if mel_frames < image_frames else 1
        frames = (stride_t, *(stride_t * 2**stage for stage in range(n_stages)))
        grids = tuple(
            _Grid(
                rate_hz,
                frames_per_row * hop_length * stretch,
                Fraction(frames_per_row - 1, 2) * hop_length * stretch,
                0,
                image_frames // frames_per_row,
                int(window_samples),
            )
            for frames_per_row in frames
        )
        embed = audio.patch_embeds_hidden_size
        widths = (embed, *(embed * 2**stage for stage in range(n_stages)))
        projection = _clap_has_projection(config)
        settings = (
            ("frequency_tokens", "mean"),
            ("hidden_states", "stage outputs before patch merging"),
            ("truncation", str(pre.get("truncation", "fusion"))),
            ("padding", str(pre.get("padding", "repeatpad"))),
            ("is_longer", False),
            ("embedding", "L2-normalised audio projection" if projection else None),
        )
        return _Spec(
            "clap",
            str(config["model_type"]),
            False,
            n_stages,
            widths,
            grids[-1],
            grids,
            fold=fold,
            embedding_width=int(audio.projection_dim) if projection else 0,
            settings=settings,
        )

    @property
    def input_rate_hz(self) -> float:
        """The feature extractor's sampling rate (audio is resampled to it)."""
        return self._spec.grid.rate_hz

    @property
    def layers(self) -> tuple[str, ...]:
        """``hidden0`` (embedding output) to ``hidden{num_hidden_layers}`` (CLAP: stages).

        CLAP checkpoints with the audio projection add ``embedding`` last.
        """
        hidden = tuple(f"hidden{k}" for k in range(self._spec.n_blocks + 1))
        return (*hidden, CLAP_EMBEDDING_LAYER) if self._spec.embedding_width else hidden

    @property
    def default_layer(self) -> str:
        """The middle layer, ``hidden{num_hidden_layers // 2}``."""
        return f"hidden{self._spec.n_blocks // 2}"

    @property
    def _window_hop_rows(self) -> int:
        grid = self._spec.grid
        if self.window_hop_s is None:
            return max(1, round(WINDOW_HOP_FRACTION * grid.window_rows))
        rows = round(self.window_hop_s * grid.rate_out_hz)
        return min(max(1, rows), grid.window_rows)

    def _revision(self) -> str:
        path = _repo_file(self.repo_id, "config.json")
        if is_local_model(self.repo_id) or path is None:
            return f"local:{Path(self.repo_id).expanduser().resolve()}"
        return path.parent.name  # the hub snapshot's commit

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output."""
        spec = self._spec
        out = {
            "repo_id": self.repo_id,
            "revision": self._revision(),
            "model_type": spec.model_type,
            "family": spec.family,
            "rate_hz": spec.grid.rate_hz,
            "window_rows": spec.grid.window_rows,
            "window_hop_rows": self._window_hop_rows,
            "runtime": "transformers HubertModel (MERT weights)" if spec.mert else "transformers",
        }
        if spec.family == "ast":
            out["frequency_patches"] = "mean"
        out.update(spec.settings)
        return out

    def _embedding_grid(self) -> tuple[float, float]:
        """Rate and first stamp (s) of CLAP's ``embedding``: one row per window hop."""
        grid = self._spec.grid
        rate = Fraction(grid.rate_hz)
        centre = grid.centre + Fraction(grid.window_rows - 1, 2) * grid.hop  # samples
        return float(rate / (self._window_hop_rows * grid.hop)), float(centre / rate)

    def layer_info(self) -> list[LayerInfo]:
        """Rate, start, width and meaning of every layer (reads config.json; no weights)."""
        spec = self._spec
        out = []
        for k, grid in enumerate(spec.layer_grids):
            what = "embedding output" if k == 0 else f"transformer block {k} output"
            if spec.family == "ast":
                what += ", mean over frequency patches"
            if spec.family == "clap":
                what = "patch embedding" if k == 0 else f"Swin stage {k} output"
                what += ", mean over each time chunk's frequency tokens"
            width = spec.widths[k]
            out.append(LayerInfo(f"hidden{k}", grid.rate_out_hz, grid.start_s, width, what))
        if spec.embedding_width:
            rate_hz, start_s = self._embedding_grid()
            what = "projected audio embedding (L2-normalised), one row per window at its centre"
            out.append(
                LayerInfo(CLAP_EMBEDDING_LAYER, rate_hz, start_s, spec.embedding_width, what)
            )
        return out

    def weights_status(self) -> tuple[bool, str]:
        """Whether config and weights are cached, and where, or how to fetch them."""
        config = _repo_file(self.repo_id, "config.json")
        weights = [p for p in map(lambda n: _repo_file(self.repo_id, n), _WEIGHT_FILES) if p]
        if config is not None and weights:
            return True, f"cached: {weights[0].parent}"
        return False, f"missing: frisson fetch {self.name} (cache: {hf_cache_dir()})"

    def fetch(self) -> str:
        """Download the repository into the Hugging Face cache (needs internet); where it is."""
        if is_local_model(self.repo_id):
            return str(Path(self.repo_id).expanduser())
        # MERT's repositories also ship the fairseq training checkpoint; it is never read.
        return str(fetch_hf(self.repo_id, ignore_patterns=["*.pt"]))

    # --------------------------------------------------------------------- loading
    def _load(self) -> None:
        """Feature extractor and model from the process-wide cache (loaded on first use)."""
        if self._model is not None:
            return
        import torch

        spec = self._spec
        try:
            device = torch.device(self.device)
        except RuntimeError as error:
            raise ParameterError(
                f"device={self.device!r} is not a torch device ({error})."
            ) from None
        key = ("hf", *repo_key(self.repo_id), str(device))
        self._feature_extractor, self._model = MODELS.get(
            key, lambda: self._read_model(spec, device)
        )

    def _read_model(self, spec: _Spec, device: Any) -> tuple[Any, Any]:
        """Read the feature extractor and the model from the cache or folder, checked."""
        with _quiet_transformers():
            if spec.mert:
                from transformers import Wav2Vec2FeatureExtractor

                config = _read_json(self.repo_id, "config.json", self.name)
                feature_extractor = load_hf(
                    Wav2Vec2FeatureExtractor, self.repo_id, fetch_name=self.name
                )
                model = _load_mert(self.repo_id, config, self.name)
            else:
                from transformers import (
                    AutoFeatureExtractor,
                    AutoModel,
                    ClapAudioModel,
                    ClapAudioModelWithProjection,
                    WhisperModel,
                )

                feature_extractor = load_hf(
                    AutoFeatureExtractor, self.repo_id, fetch_name=self.name
                )
                loader = {"whisper": WhisperModel, "clap": ClapAudioModel}.get(
                    spec.family, AutoModel
                )
                if spec.embedding_width:  # reads a ClapModel checkpoint without its text tower
                    loader = ClapAudioModelWithProjection
                model, info = load_hf(
                    loader, self.repo_id, fetch_name=self.name, output_loading_info=True
                )
                if info.get("missing_keys"):
                    raise DataError(
                        f"{self.name}: the checkpoint lacks weights of the model "
                        f"({', '.join(sorted(info['missing_keys']))}); they would be random. "
                        "Fetch it again or use the repository of the base model."
                    )
                if info.get("unexpected_keys"):
                    logger.debug(
                        "%s: %d unused checkpoint weights (CLAP: the text tower) %s",
                        self.name,
                        len(info["unexpected_keys"]),
                        sorted(info["unexpected_keys"])[:20],
                    )
                if spec.family == "whisper":
                    model = model.get_encoder()
        if float(feature_extractor.sampling_rate) != spec.grid.rate_hz:
            raise DataError(f"{self.name}: feature extractor rate changed while loading.")
        model = model.eval().to(device)
        logger.debug("loaded %s (%s) on %s", self.name, type(model).__name__, device)
        return feature_extractor, model

    # --------------------------------------------------------------------- running
    def _forward(self, samples: np.ndarray) -> list[np.ndarray]:
        """Every hidden state of one window, as ``(rows, features)`` arrays on the row grid."""
        import torch

        spec = self._spec
        rate = round(spec.grid.rate_hz)
        if spec.family == "clap":
            return self._clap_forward(samples, rate)
        inputs = self._feature_extractor(samples, sampling_rate=rate, return_tensors="pt")
        key = "input_features" if spec.family == "whisper" else "input_values"
        tensor = inputs[key].to(self._model.device, torch.float32)
        with torch.inference_mode():
            states = self._model(tensor, output_hidden_states=True).hidden_states
        if len(states) != spec.n_blocks + 1:
            raise DataError(
                f"{self.name}: the model returned {len(states)} hidden states, expected "
                f"{spec.n_blocks + 1} (num_hidden_layers + 1)."
            )
        out = []
        for state in states:
            values = state[0].float().cpu().numpy()
            if spec.family == "ast":
                values = self._ast_time_series(values)
            out.append(values)
        return out

    def _clap_forward(self, samples: np.ndarray, rate: int) -> list[np.ndarray]:
        """CLAP: the stages' unfolded time series and the window's embedding (one row)."""
        import torch

        spec = self._spec
        inputs = self._feature_extractor(samples, sampling_rate=rate, return_tensors="pt")
        device = self._model.device
        mel = inputs["input_features"][:, :1].to(device, torch.float32)  # the global mel
        is_longer = torch.zeros((1, 1), dtype=torch.bool, device=device)
        tower = self._model.audio_model if spec.embedding_width else self._model
        with torch.inference_mode():
            output = tower(
                mel,
                is_longer=is_longer,
                output_hidden_states=True,
                output_hidden_states_before_downsampling=True,
            )
            if spec.embedding_width:
                projected = self._model.audio_projection(output.pooler_output)
                embedding = torch.nn.functional.normalize(projected, dim=-1)
        states = output.hidden_states
        if len(states) != spec.n_blocks + 1:
            raise DataError(
                f"{self.name}: the audio tower returned {len(states)} hidden states, expected "
                f"{spec.n_blocks + 1} (patch embedding and one per stage)."
            )
        out = [_unfold_clap(state[0].float().cpu().numpy(), spec.fold) for state in states]
        if spec.embedding_width:
            out.append(embedding.float().cpu().numpy())
        return out

    def _ast_time_series(self, tokens: np.ndarray) -> np.ndarray:
        """Drop CLS and distillation tokens; mean over the frequency patches of the grid."""
        n_time = self._spec.grid.window_rows
        grid = tokens[2:]
        if grid.shape[0] % n_time:
            raise DataError(
                f"{self.name}: {grid.shape[0]} patch tokens are no grid of {n_time} time patches."
            )
        return grid.reshape(-1, n_time, grid.shape[1]).mean(axis=0)

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Encode ``audio`` (any rate) into the requested layers (default all).

        Raises
        ------
        WeightsNotCachedError
            If the model is neither cached nor a local folder.
        AudioError
            If the audio is shorter than one frame of the model.

        """
        names = resolve_layers(self, layers)
        spec = self._spec
        grid = spec.grid
        self._load()
        audio = audio.resample(grid.rate_hz)
        samples = audio.samples
        n_rows = [layer_grid.n_rows(samples.size) for layer_grid in spec.layer_grids]
        wanted = [self.layers.index(name) for name in names]
        hidden = [k for k in wanted if k <= spec.n_blocks]
        for k in (0, *hidden):  # hidden0 has the finest grid
            if n_rows[k] < 1:
                layer_grid = spec.layer_grids[k]
                raise AudioError(
                    f"{audio.source}: lasts {audio.duration_s:.4f} s, shorter than the first "
                    f"frame of {self.name} hidden{k} "
                    f"({layer_grid.min_samples / layer_grid.rate_hz:.4f} s)."
                )
        # rows of each layer per row of the window grid (CLAP's finer stages: 2, 4, ...)
        factors = [layer_grid.window_rows // grid.window_rows for layer_grid in spec.layer_grids]
        covered = max(-(-n // factor) for n, factor in zip(n_rows, factors, strict=True))
        hop_rows = self._window_hop_rows
        starts = _window_starts(covered, grid.window_rows, hop_rows)
        outputs = {k: np.empty((n_rows[k], spec.widths[k]), np.float32) for k in hidden}
        best = {k: np.full(n_rows[k], np.inf) for k in hidden}
        embeddings = []
        logger.debug(
            "%s: %s rows in %d windows of %d rows",
            self.name,
            "/".join(map(str, n_rows)),
            len(starts),
            grid.window_rows,
        )
        from tqdm.auto import tqdm

        bar = tqdm(
            starts,
            desc=self.name,
            unit="window",
            disable=not progress_enabled(self.progress_bar) or len(starts) < 2,
        )
        with torch_threads(self.n_threads):
            for start in bar:
                first = round(start * grid.hop)  # CLAP: within half a sample of its grid
                states = self._forward(samples[first : first + grid.window_samples])
                for k in hidden:
                    window_rows = spec.layer_grids[k].window_rows
                    first_row = start * factors[k]
                    count = min(window_rows, n_rows[k] - first_row)
                    if count < 1:
                        continue
                    if states[k].shape[0] < count:
                        raise DataError(
                            f"{self.name}: a window gave {states[k].shape[0]} rows, "
                            f"expected {count}."
                        )
                    rows = np.arange(first_row, first_row + count)
                    distance = np.abs(rows - (first_row + (window_rows - 1) / 2))
                    take = distance < best[k][rows]
                    best[k][rows[take]] = distance[take]
                    outputs[k][rows[take]] = states[k][:count][take]
                if spec.embedding_width and start % hop_rows == 0:
                    embeddings.append(states[-1][0])
        bar.close()
        series = {
            self.layers[k]: TimeSeries(
                outputs[k],
                spec.layer_grids[k].rate_out_hz,
                start_s=spec.layer_grids[k].start_s,
                names=[f"dim{i:04d}" for i in range(spec.widths[k])],
            )
            for k in hidden
        }
        if CLAP_EMBEDDING_LAYER in names:
            rate_hz, start_s = self._embedding_grid()
            if len(starts) == 1:  # one window, maybe padded: the centre of the audio in it
                start_s = min(start_s, samples.size / 2 / grid.rate_hz)
            series[CLAP_EMBEDDING_LAYER] = TimeSeries(
                np.stack(embeddings),
                rate_hz,
                start_s=start_s,
                names=[f"dim{i:04d}" for i in range(spec.embedding_width)],
            )
        series = {name: series[name] for name in names}
        return Embedding(self.name, self.config(), audio.sha256, series)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' load reports and bars (frisson checks missing keys); restore after."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


# ------------------------------------------------------------------ benchmark support
def _published_config(repo_id: str):
    """The real-size architecture of a published model, built offline (for benchmarks).

    ``"m-a-p/MERT-v1-95M"`` gives the ``HubertConfig`` frisson runs MERT with;
    ``"facebook/wav2vec2-base"`` gives its ``Wav2Vec2Config``;
    ``"laion/clap-htsat-unfused"`` gives its ``ClapConfig`` (``ClapAudioConfig``'s
    defaults are that model's HTSAT-tiny audio tower, ``ClapTextConfig``'s its
    RoBERTa-base text tower, which frisson never loads). Random weights of these
    time the real architecture without downloading it.

    Examples
    --------
    >>> config = _published_config("m-a-p/MERT-v1-95M")
    >>> config.model_type, config.hidden_size, config.num_hidden_layers
    ('hubert', 768, 12)
    >>> audio = _published_config("laion/clap-htsat-unfused").audio_config
    >>> audio.depths, audio.patch_embeds_hidden_size, audio.enable_fusion
    ([2, 2, 6, 2], 96, False)

    """
    if repo_id == "m-a-p/MERT-v1-95M":
        return _hubert_config_from_mert(_MERT_V1_95M, source=repo_id)
    if repo_id == "facebook/wav2vec2-base":
        from transformers import Wav2Vec2Config

        return Wav2Vec2Config(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            feat_extract_norm="group",
            do_stable_layer_norm=False,
            conv_bias=False,
            num_conv_pos_embeddings=128,
            num_conv_pos_embedding_groups=16,
        )
    if repo_id == "laion/clap-htsat-unfused":
        from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

        return ClapConfig(
            text_config=ClapTextConfig().to_dict(),
            audio_config=ClapAudioConfig(enable_fusion=False).to_dict(),
            projection_dim=512,
        )
    raise ParameterError(
        f"No published config for {repo_id!r}; known: m-a-p/MERT-v1-95M, facebook/wav2vec2-base, "
        "laion/clap-htsat-unfused."
    )


def _published_feature_extractor(repo_id: str):
    """The feature extractor of :func:`_published_config`'s models (24 kHz MERT, 16 kHz).

    CLAP's is ``ClapFeatureExtractor``'s defaults (48 kHz, 64 mel bands, 10-ms hop,
    10-s windows), enough to time it.
    """
    from transformers import ClapFeatureExtractor, Wav2Vec2FeatureExtractor

    if repo_id == "laion/clap-htsat-unfused":
        return ClapFeatureExtractor()
    rate = {"m-a-p/MERT-v1-95M": 24000, "facebook/wav2vec2-base": 16000}.get(repo_id)
    if rate is None:
        raise ParameterError(f"No published feature extractor for {repo_id!r}.")
    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=rate,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=repo_id.startswith("m-a-p"),
    )
