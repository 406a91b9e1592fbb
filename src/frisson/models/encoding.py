"""Layer-wise encoding models: which layer of a network best predicts each response unit.

(Skeleton: the API below is fixed; the implementation follows.)

Public API
----------
delay_features(run, delays_samples) -> ndarray
    FIR design of one run: delayed copies, zero-filled at the run start, never across runs.
layer_design(features, grids, *, rectify=False, n_components=0.99, delays_s="auto", fit_runs=None)
    -> list[ndarray]
    One layer's features per run -> the response grid -> PCA -> z-score per run -> delays.
fit_layer_profiles(features, responses, *, delays_s="auto", alphas=np.logspace(-1, 7, 17),
                   n_components=0.99, rectify=False, n_permutations=100, seed=0,
                   solver="auto", device="auto", progress_bar=None) -> LayerProfiles
LayerProfiles: layers, units, r, r2, fold_r, alphas, p, q, best_layer, p_best, q_best;
    to_frame(), best_layer_names()
noise_ceiling(responses_by_subject, method="split-half" | "isc", *, n_splits=100, seed=0) -> ndarray
variance_partition(acoustic, latent, responses, *, delays_s="auto", alphas=..., n_components=None)
    -> pandas.DataFrame
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from frisson.timeseries import TimeSeries

__all__ = [
    "LayerProfiles",
    "delay_features",
    "fit_layer_profiles",
    "layer_design",
    "noise_ceiling",
    "variance_partition",
]


def delay_features(run: np.ndarray, delays_samples: Sequence[int]) -> np.ndarray:
    """Delayed copies of one run's features (delay-major), zero-filled at the run start."""
    raise NotImplementedError


def layer_design(features, grids, *, rectify=False, n_components=0.99, delays_s="auto",
                 fit_runs=None) -> list[np.ndarray]:
    """One layer's design matrix per run."""
    raise NotImplementedError


@dataclass(frozen=True)
class LayerProfiles:
    """Held-out scores of every layer for every response unit."""

    layers: tuple[str, ...]
    units: tuple[str, ...]
    r: np.ndarray
    r2: np.ndarray
    fold_r: np.ndarray
    alphas: np.ndarray
    p: np.ndarray
    q: np.ndarray
    best_layer: np.ndarray
    p_best: np.ndarray
    q_best: np.ndarray


def fit_layer_profiles(features: Mapping[str, Sequence[TimeSeries]],
                       responses: Sequence[TimeSeries], **options) -> LayerProfiles:
    """Nested leave-one-run-out ridge per layer; see the module docstring."""
    raise NotImplementedError


def noise_ceiling(responses_by_subject, method="split-half", **options) -> np.ndarray:
    """Highest Pearson r a perfect model could reach, per unit."""
    raise NotImplementedError


def variance_partition(acoustic, latent, responses, **options):
    """Banded ridge variance partitioning between an acoustic and a latent band."""
    raise NotImplementedError
