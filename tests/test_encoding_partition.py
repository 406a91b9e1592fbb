"""Variance partition of every layer against a partner feature space, on planted contributions."""

from __future__ import annotations

import numpy as np
import pytest

from frisson.errors import DataError
from frisson.models.encoding import fit_layer_profiles, partition_layers
from frisson.timeseries import TimeSeries


def _planted(seed: int = 4, n_runs: int = 4, n_times: int = 300):
    """Partner [p1, p2, s], layer [l1, l2, s] (s in both), unit-variance white columns.

    Units (noise variance 1): ``partner-only = 1.5 p1``, ``layer-only = 1.5 l1``,
    ``shared = 1.5 s``, ``all = p1 + l1 + s`` (each part a quarter of its variance).
    """
    rng = np.random.default_rng(seed)
    partner, layer, responses = [], [], []
    names = ["partner-only", "layer-only", "shared", "all"]
    for _ in range(n_runs):
        p1, p2, l1, l2, s = rng.standard_normal((5, n_times))
        y = np.c_[1.5 * p1, 1.5 * l1, 1.5 * s, p1 + l1 + s] + rng.standard_normal((n_times, 4))
        partner.append(TimeSeries(np.c_[p1, p2, s], 1.0))
        layer.append(TimeSeries(np.c_[l1, l2, s], 1.0))
        responses.append(TimeSeries(y, 1.0, names=names))
    return partner, layer, responses


def test_unique_and_shared_r2_recover_the_planted_parts():
    partner, layer, responses = _planted()
    features = {"layer": layer, "same": partner}  # 'same' is the partner itself
    options = {"delays_s": [0], "n_components": None, "progress_bar": False, "device": "cpu"}
    fit = fit_layer_profiles(features, responses, n_permutations=0, **options)
    table = partition_layers(fit, features, partner, responses, partner_name="loudness")
    frame = table.to_frame().set_index(["layer", "unit"])
    assert set(frame.partner) == {"loudness"}
    one = 2.25 / 3.25  # R^2 of a perfect model of a 1.5-weighted column in unit noise
    expected = {  # unit: (unique_r2 of the layer, unique_r2_partner, shared_r2)
        "partner-only": (0.0, one, 0.0),
        "layer-only": (one, 0.0, 0.0),
        "shared": (0.0, 0.0, one),
        "all": (0.25, 0.25, 0.25),
    }
    for unit, (unique, unique_partner, shared) in expected.items():
        row = frame.loc[("layer", unit)]
        assert abs(row.unique_r2 - unique) < 0.04, unit
        assert abs(row.unique_r2_partner - unique_partner) < 0.04, unit
        assert abs(row.shared_r2 - shared) < 0.04, unit
        total = unique + unique_partner + shared
        assert abs(row.r2_joint - total) < 0.04, unit
        # the parts add up: layer alone = unique + shared; partner alone likewise
        assert row.r2_joint == pytest.approx(row.unique_r2 + row.unique_r2_partner + row.shared_r2)
        # partitioned against itself, a layer has no unique part: all of its R^2 is shared
        same = frame.loc[("same", unit)]
        assert abs(same.unique_r2) < 0.01 and abs(same.unique_r2_partner) < 0.01, unit
        assert abs(same.shared_r2 - same.r2_partner) < 0.01, unit
    # the layer alone in the partition is the layer's own fit (same folds, PCA, ridge)
    np.testing.assert_allclose(
        frame.loc["layer"].r2_joint - frame.loc["layer"].unique_r2_partner,
        frame.loc["layer"].r2,
        atol=1e-8,
    )


def test_partition_needs_the_fitted_layers():
    partner, layer, responses = _planted(n_times=60, n_runs=3)
    fit = fit_layer_profiles(
        {"layer": layer}, responses, delays_s=[0], n_permutations=0, progress_bar=False
    )
    with pytest.raises(DataError, match="lack the layer"):
        partition_layers(fit, {"other": layer}, partner, responses)
