"""Audio encoders: the :class:`Encoder` protocol, the registry and the built-in families.

Encoders are looked up by name (``get_encoder("musicnn-msd")``) so that heavy
dependencies load only when an encoder is used. Built in: ``musicnn-msd`` (the
default), ``musicnn-mtt``, ``vgg-msd``, ``vgg-mtt`` (pretrained taggers from the
musicnn wheel, run offline in PyTorch), ``mel`` (a log-mel baseline), and, with
weights downloaded once by ``frisson fetch NAME`` (:func:`fetch_encoder`), the
neural codecs ``dac-44khz``/``dac-24khz``/``dac-16khz`` and
``encodec-24khz``/``encodec-48khz``, ``vggish`` (all 24 layers) and
``hf:<repo-id>`` (any transformers audio model's hidden states, MERT included).
Every encoder turns an :class:`~frisson.audio.Audio` into an :class:`Embedding`: one
:class:`~frisson.timeseries.TimeSeries` per layer with exact frame times.
:func:`resolve_layers` checks layer names for any encoder; an encoder whose weights
are not cached raises :class:`WeightsNotCachedError` naming ``frisson fetch NAME``.
"""

from frisson.encoders._base import Embedding, Encoder, resolve_layers
from frisson.encoders._registry import (
    DEFAULT_ENCODER,
    EncoderInfo,
    LayerInfo,
    describe_encoder,
    fetch_encoder,
    get_encoder,
    list_encoders,
    register_encoder,
)
from frisson.encoders._weights import WeightsNotCachedError

__all__ = [
    "DEFAULT_ENCODER",
    "Embedding",
    "Encoder",
    "EncoderInfo",
    "LayerInfo",
    "WeightsNotCachedError",
    "describe_encoder",
    "fetch_encoder",
    "get_encoder",
    "list_encoders",
    "register_encoder",
    "resolve_layers",
]
