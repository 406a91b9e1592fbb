"""Audio encoders: the :class:`Encoder` protocol, the registry and the built-in families.

Encoders are looked up by name (``get_encoder("mel")``) so that heavy
dependencies load only when an encoder is used. Every encoder turns an
:class:`~frisson.audio.Audio` into an :class:`Embedding`: one
:class:`~frisson.timeseries.TimeSeries` per layer with exact frame times.
"""

from frisson.encoders._base import Embedding, Encoder
from frisson.encoders._registry import get_encoder, list_encoders, register_encoder

__all__ = ["Embedding", "Encoder", "get_encoder", "list_encoders", "register_encoder"]
