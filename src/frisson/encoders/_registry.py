"""Encoder registry: names to lazily imported factories."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frisson.encoders._base import Encoder
from frisson.errors import ParameterError

__all__ = ["get_encoder", "list_encoders", "register_encoder"]


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


_REGISTRY: dict[str, _Entry] = {
    "mel": _Entry(
        "frisson.encoders.mel:MelEncoder", "log-mel spectrogram (non-neural baseline)", {}
    ),
}


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
    if name not in _REGISTRY:
        raise ParameterError(
            f"Unknown encoder {name!r}; available: {', '.join(sorted(_REGISTRY))}."
        )
    entry = _REGISTRY[name]
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
