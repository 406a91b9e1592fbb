"""Group-level encoding statistics (frisson.models.encoding._group): planted answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from frisson.errors import DataError
from frisson.models.encoding import group_profiles, independent_profile


def _fits(z, q_best=None, units=None):
    """Per-participant profile stand-ins from Fisher-z values (participants, layers, units)."""
    n, n_layers, n_units = z.shape
    units = units or tuple(f"v{u}" for u in range(n_units))
    return {
        f"sub-{s:02d}": SimpleNamespace(
            layers=tuple(f"l{i}" for i in range(n_layers)),
            units=units,
            r=np.tanh(z[s]),
            q_best=None if q_best is None else q_best[s],
        )
        for s in range(n)
    }


def test_sign_flip_test_is_calibrated_on_null_units_and_finds_planted_ones():
    rng = np.random.default_rng(0)
    n, n_layers, n_null, n_effect = 12, 5, 400, 100
    z = 0.1 * rng.standard_normal((n, n_layers, n_null + n_effect))
    z[:, 2, n_null:] += 0.12  # layer 2 predicts the last units in every participant
    group = group_profiles(_fits(z), n_permutations=2000, seed=1)
    assert group.n_patterns == 2000
    null_p = group.p[:, :n_null]
    assert 0.03 <= np.mean(null_p <= 0.05) <= 0.07
    assert np.mean(group.p[2, n_null:] <= 0.05) >= 0.9
    assert np.mean(group.p_fwe[:, :n_null] <= 0.05) <= 0.01  # family-wise over units
    assert np.mean(group.best_layer[n_null:] == 2) >= 0.95
    assert np.mean(group.q_best[:n_null] < 0.05) <= 0.02
    assert np.mean(group.best_layer_stability[n_null:]) > 0.8
    frame = group.to_frame()
    assert len(frame) == n_layers * (n_null + n_effect) and set(frame["n_participants"]) == {n}


def test_exact_sign_flips_with_few_participants():
    z = np.full((4, 2, 1), 0.3) + np.array([0.01, 0.02, 0.03, 0.04])[:, None, None]
    group = group_profiles(_fits(z))
    assert group.n_patterns == 16
    assert group.p[0, 0] == pytest.approx(1 / 16)  # the smallest p 4 participants allow


def test_cis_are_across_participants_and_cover_the_truth():
    rng = np.random.default_rng(2)
    n, n_units = 8, 2000
    mu = 0.2
    z = mu + 0.15 * rng.standard_normal((n, 1, n_units))
    group = group_profiles(_fits(z), n_permutations=200, n_bootstrap=10)
    covered = (group.ci_low[0] <= np.tanh(mu)) & (np.tanh(mu) <= group.ci_high[0])
    assert 0.93 <= covered.mean() <= 0.97


def test_layer_preference_is_not_circular():
    """Flat profiles: the in-sample best-minus-neighbours is positive; held-out is not."""
    rng = np.random.default_rng(3)
    n, n_layers, n_units = 20, 6, 600  # halves of 10: p down to 2 / 1024
    z = 0.2 + 0.1 * rng.standard_normal((n, n_layers, n_units))
    z[:, 3, 500:] += 0.15  # a real preference for layer 3 in the last 100 units
    group = group_profiles(_fits(z), n_permutations=1000, n_bootstrap=20)
    mean = z.mean(axis=0)
    best = mean.argmax(axis=0)
    columns = np.arange(n_units)
    in_sample = mean[best, columns] - 0.5 * (
        mean[np.maximum(best - 1, 0), columns] + mean[np.minimum(best + 1, n_layers - 1), columns]
    )
    assert in_sample[:500].mean() > 0.02  # what a circular test would call a preference
    assert abs(group.preference[:500].mean()) < 0.01
    assert np.mean(group.p_preference[:500] <= 0.05) <= 0.08
    assert np.mean(group.p_preference[500:] <= 0.05) >= 0.8


def test_independent_profile_selects_units_on_the_other_participants():
    """Units differ in true effect; selecting on one's own noisy data inflates its profile."""
    rng = np.random.default_rng(4)
    n, n_units = 8, 2000
    mu = 0.1 * rng.standard_normal(n_units)
    z = mu + 0.1 * rng.standard_normal((n, 2, n_units))
    q_own = np.where(z[:, 0] > 0.1, 0.01, 0.9)  # "significant" on each one's own data
    out = independent_profile(_fits(z, q_best=q_own))
    assert len(out["participants"]) == n and out["per_participant"].shape == (n, 2)
    circular_bias, independent_bias = [], []
    for s in range(n):
        own = q_own[s] < 0.05
        circular_bias.append(z[s, 0, own].mean() - mu[own].mean())
        chosen = np.mean(np.delete(q_own, s, axis=0) < 0.05, axis=0) >= 0.5
        assert out["n_units"][s] == chosen.sum() > 0
        independent_bias.append(out["per_participant"][s, 0] - mu[chosen].mean())
    assert np.mean(circular_bias) > 0.05
    assert abs(np.mean(independent_bias)) < 0.01


def test_group_errors_name_the_problem():
    z = np.zeros((1, 2, 3))
    with pytest.raises(DataError, match="need >= 2 participants"):
        group_profiles(_fits(z))
    fits = _fits(np.zeros((2, 2, 3)))
    fits["sub-01"].units = ("a", "b", "c")
    with pytest.raises(DataError, match="share no unit"):
        group_profiles(fits)
