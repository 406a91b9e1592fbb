"""Layer preference over participants on planted profiles: peaked, plateau and flat units."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from frisson.models.encoding import group_profiles


def _fits(z):
    n, n_layers, n_units = z.shape
    return {
        f"sub-{s:02d}": SimpleNamespace(
            layers=tuple(f"l{i}" for i in range(n_layers)),
            units=tuple(f"v{u}" for u in range(n_units)),
            r=np.tanh(z[s]),
        )
        for s in range(n)
    }


def test_best_layer_beats_its_neighbours_only_where_planted():
    """Peaked at layer 3: preferred and stable; a plateau over layers 2-3 or flat: neither."""
    rng = np.random.default_rng(8)
    n, n_layers, n_units = 24, 6, 300  # units 0-99 peaked, 100-199 plateau, 200-299 flat
    z = 0.2 + 0.08 * rng.standard_normal((n, n_layers, n_units))
    z[:, 3, :100] += 0.12
    z[:, 2:4, 100:200] += 0.12  # layers 2 and 3 equally best
    group = group_profiles(_fits(z), n_permutations=2000, n_bootstrap=200, seed=1)
    peaked, plateau, flat = slice(0, 100), slice(100, 200), slice(200, 300)
    assert np.mean(group.best_layer[peaked] == 3) >= 0.95
    assert np.mean(group.best_layer_stability[peaked]) > 0.9
    assert np.mean(group.p_preference[peaked] <= 0.05) >= 0.8  # power on the planted peak
    # a plateau's best layer is one of the two, unstable, and does not beat its neighbours
    assert np.all(np.isin(group.best_layer[plateau], [2, 3]))
    assert 0.4 < np.mean(group.best_layer_stability[plateau]) < 0.8
    assert np.mean(group.p_preference[plateau] <= 0.05) <= 0.15
    # flat profiles: the bootstrap often moves the best layer (about half the resamples
    # here: resamples resemble the sample), no preference
    assert np.mean(group.best_layer_stability[flat]) < 0.65
    assert np.mean(group.p_preference[flat] <= 0.05) <= 0.08
