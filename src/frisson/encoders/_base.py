"""The encoder protocol and the embedding container."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from frisson.audio import Audio
from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["Embedding", "Encoder", "resolve_layers"]


@dataclass(frozen=True)
class Embedding:
    """The layers an encoder produced for one audio file.

    Attributes
    ----------
    encoder : str
        Registry name of the encoder.
    config : dict
        Every setting that changes the output (with ``encoder`` and the audio's
        hash, the cache key).
    source_sha256 : str
        SHA-256 of the encoded audio.
    layers : dict of str to TimeSeries
        One series per layer, ``(n_frames, n_features)`` with its own frame rate.

    """

    encoder: str
    config: Mapping[str, Any]
    source_sha256: str
    layers: Mapping[str, TimeSeries] = field(repr=False)

    def __getitem__(self, layer: str) -> TimeSeries:
        """The series of one layer; unknown names list the available ones."""
        try:
            return self.layers[layer]
        except KeyError:
            raise ParameterError(
                f"Encoder {self.encoder!r} has no layer {layer!r} in this embedding; "
                f"available: {', '.join(self.layers)}."
            ) from None

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the layers, in network order."""
        return tuple(self.layers)


@runtime_checkable
class Encoder(Protocol):
    """What every encoder provides.

    Attributes
    ----------
    name : str
        Registry name (``"mel"``, ``"musicnn-msd"``, ...).
    input_rate_hz : float
        The sampling rate the model expects; audio is resampled to it.
    layers : tuple of str
        Layer names in network order (input side first).
    default_layer : str
        The layer analyses use when none is named.

    """

    name: str
    input_rate_hz: float
    layers: tuple[str, ...]
    default_layer: str

    def config(self) -> dict[str, Any]:
        """Every setting that changes the output, as JSON-serialisable values."""
        ...

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Encode ``audio`` (any rate; resampled as needed) into the requested layers."""
        ...


def resolve_layers(encoder: Encoder, layers: str | Sequence[str] | None) -> tuple[str, ...]:
    """Check requested layer names against an encoder's layers.

    Parameters
    ----------
    encoder : Encoder
        Any encoder (its ``name`` and ``layers`` are read).
    layers : str or sequence of str, optional
        One layer name, several, or None for every layer.

    Returns
    -------
    tuple of str
        The requested names in the order given (all layers in network order for None).

    Raises
    ------
    ParameterError
        If a name is not a layer of ``encoder``; the message lists the valid ones.

    Examples
    --------
    >>> from frisson.encoders.mel import MelEncoder
    >>> resolve_layers(MelEncoder(), None), resolve_layers(MelEncoder(), "logmel")
    (('logmel',), ('logmel',))

    """
    if layers is None:
        return encoder.layers
    if isinstance(layers, str):
        layers = [layers]
    unknown = [name for name in layers if name not in encoder.layers]
    if unknown:
        raise ParameterError(
            f"Encoder {encoder.name!r} has no layer(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(encoder.layers)}."
        )
    return tuple(layers)
