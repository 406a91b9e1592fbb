"""``encode``'s variance partition: each layer against a partner (``partition_with``).

The partner is an audio feature of :mod:`frisson.features` (``"loudness"``,
``"rms"``, ...: computed from each stimulus at its layers' frame rate) or
another layer of the encoder. It goes through the layers' path (z-scored per
stimulus, placed on the response grid) and
:func:`frisson.models.encoding.partition_layers` adds the columns ``partner,
r2_partner, r2_joint, unique_r2, unique_r2_partner, shared_r2`` to the per-unit
table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["add_partner", "check_partner", "partition"]


def check_partner(partner: str, encoder, layers: Sequence[str]) -> str:
    """``partner`` when it names an audio feature or a layer of ``encoder``; else an error.

    Examples
    --------
    >>> from frisson.encoders import get_encoder
    >>> check_partner("loudness", get_encoder("musicnn-msd"), ["penultimate"])
    'loudness'

    """
    from frisson.encoders import resolve_layers
    from frisson.features import list_features

    encoder_layers = list(resolve_layers(encoder, None)) + list(layers)
    if partner in encoder_layers or partner in list_features():
        return partner
    raise ParameterError(
        f"partition_with = {partner!r} is neither an audio feature "
        f"({', '.join(list_features())}) nor a layer of the encoder "
        f"({', '.join(dict.fromkeys(encoder_layers))}); set one of them."
    )


def add_partner(
    embeddings: dict[str, dict[str, TimeSeries]], paths: Mapping[str, Path], partner: str, embed
) -> None:
    """Put the partner of every stimulus beside its layers in ``embeddings`` (in place).

    An audio feature is computed at the rate of the stimulus' layers; a layer
    comes from ``embed(path, layers)`` (the embedding store, or the encoder).
    """
    from frisson.audio import load_audio
    from frisson.features import list_features

    for name, layers in embeddings.items():
        if partner in layers:
            continue
        if partner not in list_features():
            layers[partner] = embed(paths[name], [partner])[partner]
            continue
        from frisson.features import compute_features

        rate_hz = next(iter(layers.values())).rate_hz
        layers[partner] = compute_features(
            load_audio(paths[name]), rate_hz=rate_hz, names=[partner]
        )


def partition(profiles, features: Mapping, partner: str, series, responses, config):
    """``profiles`` with each fitted layer partitioned against ``series``, the partner's runs."""
    from frisson.models.encoding import partition_layers

    options = {} if config.alphas is None else {"alphas": config.alphas}
    n_components = None if config.n_components in (None, "none") else config.n_components
    return partition_layers(
        profiles,
        features,
        series,
        responses,
        partner_name=partner,
        n_components=n_components,
        **options,
    )
