"""Encoder registry: names to lazily imported factories, and what each encoder offers."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frisson.encoders._base import Encoder
from frisson.errors import ParameterError

__all__ = [
    "DEFAULT_ENCODER",
    "EncoderInfo",
    "LayerInfo",
    "describe_encoder",
    "fetch_encoder",
    "get_encoder",
    "list_encoders",
    "register_encoder",
]

#: The encoder analyses use when none is named: a pretrained network that runs offline.
DEFAULT_ENCODER = "musicnn-msd"


@dataclass(frozen=True)
class LayerInfo:
    """One layer of an encoder: its time base and width.

    Attributes
    ----------
    name : str
        Layer name.
    rate_hz : float
        Rows per second.
    start_s : float
        Time of the first row (its centre), in seconds.
    n_features : int
        Columns per row.
    description : str
        What the layer is.

    """

    name: str
    rate_hz: float
    start_s: float
    n_features: int
    description: str = ""


@dataclass(frozen=True)
class EncoderInfo:
    """What :func:`describe_encoder` reports about a registered encoder.

    Attributes
    ----------
    name, description : str
        Registry name and its one-line description.
    input_rate_hz : float
        Rate the audio is resampled to.
    layers : tuple of LayerInfo
        Every layer, in network order.
    default_layer : str
        The layer analyses use when none is named.
    weights_available : bool
        Whether the encoder runs offline as installed.
    weights : str
        Where the weights come from, or how to install them.

    """

    name: str
    description: str
    input_rate_hz: float
    layers: tuple[LayerInfo, ...]
    default_layer: str
    weights_available: bool
    weights: str


@dataclass(frozen=True)
class _Entry:
    target: str | Callable[..., Encoder]  # "module:attribute" (imported on use) or a factory
    description: str
    defaults: dict[str, Any]

    def factory(self) -> Callable[..., Encoder]:
        if callable(self.target):
            return self.target
        module, attribute = self.target.split(":")
        return getattr(importlib.import_module(module), attribute)


_MUSICNN = "frisson.encoders.musicnn:MusicnnEncoder"
_REGISTRY: dict[str, _Entry] = {
    "mel": _Entry(
        "frisson.encoders.mel:MelEncoder", "log-mel spectrogram (non-neural baseline)", {}
    ),
    "musicnn-msd": _Entry(
        _MUSICNN,
        "musicnn tagger, Million Song Dataset (50 tags); pretrained, offline; the default",
        {"checkpoint": "MSD_musicnn"},
    ),
    "musicnn-mtt": _Entry(
        _MUSICNN,
        "musicnn tagger, MagnaTagATune (50 tags); pretrained, offline",
        {"checkpoint": "MTT_musicnn"},
    ),
    "vgg-msd": _Entry(
        _MUSICNN,
        "vgg-like tagger, Million Song Dataset (50 tags); pretrained, offline",
        {"checkpoint": "MSD_vgg"},
    ),
    "vgg-mtt": _Entry(
        _MUSICNN,
        "vgg-like tagger, MagnaTagATune (50 tags); pretrained, offline",
        {"checkpoint": "MTT_vgg"},
    ),
    "dac-44khz": _Entry(
        "frisson.encoders.codecs:DacEncoder",
        "Descript Audio Codec, 44.1 kHz (hop 512, 86.13 frames/s); download with frisson fetch",
        {"repo_id": "descript/dac_44khz"},
    ),
    "dac-24khz": _Entry(
        "frisson.encoders.codecs:DacEncoder",
        "Descript Audio Codec, 24 kHz (hop 320, 75 frames/s); download with frisson fetch",
        {"repo_id": "descript/dac_24khz"},
    ),
    "dac-16khz": _Entry(
        "frisson.encoders.codecs:DacEncoder",
        "Descript Audio Codec, 16 kHz (hop 320, 50 frames/s); download with frisson fetch",
        {"repo_id": "descript/dac_16khz"},
    ),
    "encodec-24khz": _Entry(
        "frisson.encoders.codecs:EncodecEncoder",
        "Meta EnCodec, 24 kHz mono (75 frames/s); download with frisson fetch",
        {"repo_id": "facebook/encodec_24khz"},
    ),
    "encodec-48khz": _Entry(
        "frisson.encoders.codecs:EncodecEncoder",
        "Meta EnCodec, 48 kHz (150 frames/s); download with frisson fetch",
        {"repo_id": "facebook/encodec_48khz"},
    ),
    "synthetic-layers": _Entry(
        "frisson.simulate:SyntheticLayersEncoder",
        "smooth random layers with known structure (simulations and power analyses; not hearing)",
        {},
    ),
    "vggish": _Entry(
        "frisson.encoders.vggish:VggishEncoder",
        "VGGish (AudioSet), 24 layers, 0.96 s patches every 0.48 s; download with frisson fetch",
        {},
    ),
}

#: ``hf:<repo-id>`` names any transformers audio model (hidden states as layers).
HF_PREFIX = "hf:"
_HF_FACTORY = "frisson.encoders.hf:HFEncoder"


def _entry(name: str) -> _Entry:
    """The registry entry of ``name``; ``hf:<repo-id>`` names are built on the fly."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith(HF_PREFIX) and len(name) > len(HF_PREFIX):
        repo_id = name[len(HF_PREFIX) :]
        return _Entry(
            _HF_FACTORY, f"transformers model {repo_id} (hidden states)", {"repo_id": repo_id}
        )
    raise ParameterError(
        f"Unknown encoder {name!r}; available: {', '.join(sorted(_REGISTRY))}, "
        "or hf:<repo-id> for any transformers audio model."
    )


def register_encoder(
    name: str,
    factory: str | Callable[..., Encoder],
    *,
    description: str,
    overwrite: bool = False,
    **defaults: Any,
) -> None:
    """Make an encoder available to :func:`get_encoder` and the command line.

    Parameters
    ----------
    name : str
        Registry name.
    factory : callable or str
        A callable returning an :class:`Encoder`, or ``"module:attribute"`` imported on first use.
    description : str
        One line shown by ``frisson encoders``.
    overwrite : bool
        Allow replacing an existing entry.
    **defaults
        Keyword arguments always passed to the factory (e.g. a checkpoint name).

    Examples
    --------
    >>> from frisson.encoders.mel import MelEncoder
    >>> register_encoder("mel-64", MelEncoder, description="64-band log-mel", n_mels=64)
    >>> get_encoder("mel-64").config()["n_mels"]
    64

    """
    if name in _REGISTRY and not overwrite:
        raise ParameterError(
            f"An encoder named {name!r} exists; pass overwrite=True to replace it."
        )
    _REGISTRY[name] = _Entry(factory, description, dict(defaults))


def list_encoders() -> dict[str, str]:
    """Registered encoder names with their one-line descriptions.

    Examples
    --------
    >>> "mel" in list_encoders()
    True

    """
    return {name: entry.description for name, entry in sorted(_REGISTRY.items())}


def get_encoder(name: str, **params: Any) -> Encoder:
    """Build a registered encoder by name.

    Parameters
    ----------
    name : str
        A name from :func:`list_encoders`.
    **params
        Settings of that encoder; unknown keys are refused with the valid ones listed.

    Examples
    --------
    >>> encoder = get_encoder("mel", n_mels=64)
    >>> encoder.name, encoder.default_layer
    ('mel', 'logmel')

    """
    entry = _entry(name)
    factory = entry.factory()
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [key for key in params if key not in accepted and not takes_any]
    if unknown:
        valid = [
            k for k, p in accepted.items() if p.kind is p.KEYWORD_ONLY and k not in entry.defaults
        ]
        raise ParameterError(
            f"Encoder {name!r} has no setting(s) {', '.join(unknown)}; valid: {', '.join(valid)}."
        )
    overlap = set(params) & set(entry.defaults)
    if overlap:
        raise ParameterError(
            f"Encoder {name!r} fixes {', '.join(sorted(overlap))}; "
            "register another name to change it."
        )
    encoder = factory(**entry.defaults, **params)
    encoder.name = name  # the registry name identifies the encoder in caches and reports
    return encoder


def describe_encoder(name: str, **params: Any) -> EncoderInfo:
    """Sample rate, layers (rate, start, width) and weight availability of an encoder.

    Encoders that implement ``layer_info()`` and ``weights_status()`` answer
    without loading weights. For others, the layers are found by encoding two
    seconds of a fixed noise signal, and weights count as available if that works.

    Parameters
    ----------
    name : str
        A name from :func:`list_encoders`.
    **params
        Settings passed to :func:`get_encoder` (they can change layer rates).

    Examples
    --------
    >>> info = describe_encoder("mel")
    >>> info.input_rate_hz, info.layers[0].name, round(info.layers[0].rate_hz, 2)
    (22050.0, 'logmel', 86.13)
    >>> [layer.name for layer in describe_encoder("musicnn-msd").layers][:3]
    ['timbral', 'temporal', 'cnn1']

    """
    from frisson.errors import FrissonError

    encoder = get_encoder(name, **params)
    layer_info = getattr(encoder, "layer_info", None)
    status = getattr(encoder, "weights_status", None)
    if callable(layer_info) and callable(status):
        from frisson.encoders._weights import WeightsNotCachedError

        available, weights = status()
        try:
            layers = tuple(layer_info())
        except WeightsNotCachedError:  # layer sizes come from a config that is not cached yet
            layers = ()
    else:
        import numpy as np

        from frisson.audio import audio_from_array

        rate = encoder.input_rate_hz
        noise = 0.1 * np.random.default_rng(0).standard_normal(int(2 * rate))
        try:
            embedding = encoder.encode(audio_from_array(noise, rate, source="<probe>"))
        except FrissonError as error:
            layers = tuple(LayerInfo(n, float("nan"), float("nan"), 0) for n in encoder.layers)
            available, weights = False, f"unavailable ({error})"
        else:
            layers = tuple(
                LayerInfo(n, s.rate_hz, s.start_s, s.n_channels)
                for n, s in embedding.layers.items()
            )
            available, weights = True, "none needed" if name == "mel" else "available"
    return EncoderInfo(
        name=name,
        description=_entry(name).description,
        input_rate_hz=float(encoder.input_rate_hz),
        layers=layers,
        default_layer=encoder.default_layer,
        weights_available=available,
        weights=weights,
    )


def fetch_encoder(name: str, **params: Any) -> str:
    """Download and cache an encoder's weights (needs internet); say where they are.

    Encoders never download while encoding; this is the one place they do
    (``frisson fetch NAME``; ``musicnn-msd`` and the other musicnn-wheel
    taggers unpack the published wheel's checkpoints into ``$FRISSON_HOME``).
    Encoders without weights (``mel``) have nothing to fetch.

    Parameters
    ----------
    name : str
        A name from :func:`list_encoders`, or ``hf:<repo-id>``.
    **params
        Settings passed to :func:`get_encoder`.

    Returns
    -------
    str
        Where the weights are cached, or why nothing was downloaded.

    Examples
    --------
    >>> fetch_encoder("mel")
    'mel: nothing to fetch (none needed)'

    """
    encoder = get_encoder(name, **params)
    fetch = getattr(encoder, "fetch", None)
    if callable(fetch):
        return f"{name}: cached in {fetch()}"
    status = getattr(encoder, "weights_status", None)
    detail = status()[1] if callable(status) else "none needed"
    return f"{name}: nothing to fetch ({detail})"
