"""Group level: which layers predict a unit across participants, and how reliably.

A claim about listeners generalises over listeners, so participants are the
unit of inference. Inputs are the per-participant
:class:`~frisson.models.encoding.LayerProfiles` of the same units (voxels in
one template space, ROIs, channels); r is Fisher-z transformed (``arctanh``).

- **Random-effects test per unit and layer**: the one-sample t of the
  participants' z against 0, its null from sign flips of whole participants
  (every ``2^n`` pattern when that is at most ``n_permutations``, else random
  patterns; the same patterns for every unit and layer, so max statistics stay
  paired). One-sided (r > 0). ``p`` per unit and layer; ``p_fwe`` against the
  max over units of the layer (family-wise over units); ``q`` Benjamini-Hochberg
  over units. ``p_best``: the max over layers of t against the max over layers
  of each pattern's t (the unit responds to some layer); ``q_best`` its BH q.
- **CIs across participants**: mean z ± t-quantile x SD / sqrt(n) over
  participants, back to r with ``tanh``; never across units.
- **Best layer and its reliability**: the argmax of the mean z profile; a
  bootstrap over participants gives the share of resamples choosing the same
  layer (``best_layer_stability``).
- **Layer preference, without circularity**: choose the best layer on one half
  of the participants (even positions) and score the other half's
  ``z[best] - z[neighbour]`` for each neighbour of best, then swap. Per split, a
  one-sided sign-flip test over the held-out participants per neighbour, and
  the larger of the two p (an intersection-union test: the best layer must beat
  *each* neighbour, so a plateau of two equal layers is no preference; the
  former test of ``z[best] - mean(z[neighbours])`` called 72 % of such plateaus
  preferred, ``tests/test_encoding_group_preference.py``); Bonferroni over the
  two splits: ``p_preference``.
- **Profiles on independently selected units** (:func:`independent_profile`):
  each participant's profile over the units that are significant
  (``q_best < q``) in at least half of the *other* participants, so selection
  never sees the data it summarises; mean and CI across participants.

With n participants the smallest sign-flip p is ``1 / 2^n`` (4 participants:
0.0625): group claims need enough listeners (ds003085 has 39).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from frisson._check import check_int, check_positive, rng_from_seed
from frisson.errors import DataError

__all__ = ["GroupProfiles", "group_profiles", "independent_profile"]


@dataclass(frozen=True)
class GroupProfiles:
    """Random-effects layer profiles over participants (see the module notes).

    Attributes
    ----------
    layers, units, participants : tuple of str
    z : ndarray, shape (n_participants, n_layers, n_units)
        Fisher-z r of every participant.
    mean_r, ci_low, ci_high : ndarray, shape (n_layers, n_units)
        ``tanh`` of the mean z and of its CI across participants.
    t, p, p_fwe, q : ndarray, shape (n_layers, n_units)
        One-sample t over participants; sign-flip p, family-wise p over units
        (max statistic), BH q over units.
    best_layer : ndarray of int, shape (n_units,)
        Argmax of the mean z.
    best_layer_stability : ndarray, shape (n_units,)
        Share of bootstrap resamples of participants with the same best layer.
    p_best, q_best : ndarray, shape (n_units,)
        Max over layers of t against its sign-flip null; BH q.
    preference, p_preference : ndarray, shape (n_units,)
        Mean over the two splits of the held-out half's
        ``z[best] - mean(z[neighbours])`` (best chosen on the other half) and
        the one-sided p that it beats *every* neighbour (module notes; NaN with
        fewer than 4 participants).
    n_patterns : int
        Sign patterns in the null (``2^n`` when exact).
    ci : float

    """

    layers: tuple[str, ...]
    units: tuple[str, ...]
    participants: tuple[str, ...]
    z: np.ndarray
    mean_r: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    t: np.ndarray
    p: np.ndarray
    p_fwe: np.ndarray
    q: np.ndarray
    best_layer: np.ndarray
    best_layer_stability: np.ndarray
    p_best: np.ndarray
    q_best: np.ndarray
    preference: np.ndarray
    p_preference: np.ndarray
    n_patterns: int
    ci: float

    def to_frame(self):
        """Long table, one row per unit x layer.

        Columns: ``unit, layer, layer_index, n_participants, mean_r, ci_low,
        ci_high, t, p, p_fwe, q, best, best_layer, best_layer_stability,
        p_best, q_best, preference, p_preference``.
        """
        import pandas as pd

        n_layers, n_units = self.mean_r.shape
        layer_index = np.repeat(np.arange(n_layers), n_units)
        unit_index = np.tile(np.arange(n_units), n_layers)
        per_unit = {
            "best_layer": [self.layers[i] for i in self.best_layer[unit_index]],
            "best_layer_stability": self.best_layer_stability[unit_index],
            "p_best": self.p_best[unit_index],
            "q_best": self.q_best[unit_index],
            "preference": self.preference[unit_index],
            "p_preference": self.p_preference[unit_index],
        }
        return pd.DataFrame(
            {
                "unit": [self.units[u] for u in unit_index],
                "layer": [self.layers[i] for i in layer_index],
                "layer_index": layer_index,
                "n_participants": len(self.participants),
                "mean_r": self.mean_r.ravel(),
                "ci_low": self.ci_low.ravel(),
                "ci_high": self.ci_high.ravel(),
                "t": self.t.ravel(),
                "p": self.p.ravel(),
                "p_fwe": self.p_fwe.ravel(),
                "q": self.q.ravel(),
                "best": self.best_layer[unit_index] == layer_index,
                **per_unit,
            }
        )


def _fisher_stack(profiles: Mapping[str, object]) -> tuple[np.ndarray, tuple, tuple, tuple]:
    labels = tuple(profiles)
    if len(labels) < 2:
        raise DataError(
            f"group statistics need >= 2 participants' profiles, got {len(labels)}; "
            "fit more participants (or report the single fit)."
        )
    first = profiles[labels[0]]
    layers = tuple(first.layers)
    units = [u for u in first.units if all(u in set(p.units) for p in profiles.values())]
    if not units:
        raise DataError("the participants' fits share no unit; fit them on one grid (mask, atlas).")
    for label in labels:
        if tuple(profiles[label].layers) != layers:
            raise DataError(f"{label}: layers {profiles[label].layers} differ from {layers}.")
    z = []
    for label in labels:
        profile = profiles[label]
        index = {u: i for i, u in enumerate(profile.units)}
        columns = [index[u] for u in units]
        z.append(np.arctanh(np.clip(profile.r[:, columns], -0.999999, 0.999999)))
    return np.nan_to_num(np.stack(z)), labels, layers, tuple(units)


def _sign_patterns(n: int, n_permutations: int, seed: int) -> np.ndarray:
    """Rows of +-1 (the observed all-ones first); all 2^n patterns when that fits."""
    if 2**n <= n_permutations:
        codes = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
        return 1.0 - 2.0 * codes
    rng = rng_from_seed(seed)
    return np.vstack([np.ones((1, n)), rng.choice([-1.0, 1.0], size=(n_permutations - 1, n))])


def _t(signs: np.ndarray, data: np.ndarray) -> np.ndarray:
    """One-sample t of ``signs[k] * data`` over axis 0 of data, for every pattern k."""
    n = data.shape[0]
    flat = data.reshape(n, -1)
    mean = signs @ flat / n
    sumsq = (flat**2).sum(axis=0)
    var = np.maximum(sumsq[None, :] - n * mean**2, 0.0) / (n - 1)
    t = np.divide(mean, np.sqrt(var / n), out=np.zeros_like(mean), where=var > 0)
    return t.reshape(signs.shape[0], *data.shape[1:])


def _p_from(null: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(#(null >= observed)) / n_patterns; the observed pattern is null's first row."""
    return (null >= observed[None] - 1e-12).mean(axis=0)


def group_profiles(
    profiles: Mapping[str, object],
    *,
    n_permutations: int = 10000,
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> GroupProfiles:
    """Random-effects layer profiles over participants (module notes).

    Parameters
    ----------
    profiles : mapping of str to LayerProfiles
        Participant label -> that participant's fit; the units all share are used.
    n_permutations : int
        Sign patterns (all ``2^n`` when that is no more).
    n_bootstrap : int
        Resamples of participants for ``best_layer_stability``.
    ci : float
        Coverage of the CIs across participants.
    seed : int

    Returns
    -------
    GroupProfiles

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> fits = {f"sub-{s}": SimpleNamespace(layers=("a", "b"), units=("v1", "v2"),
    ...         r=np.array([[0.3, 0.0], [0.1, 0.0]]) + 0.05 * rng.standard_normal((2, 2)))
    ...         for s in range(8)}
    >>> group = group_profiles(fits)
    >>> group.best_layer.tolist(), bool(group.p[0, 0] < 0.01), bool(group.p[0, 1] > 0.05)
    ([0, 1], True, True)

    """
    from scipy import stats

    from frisson.models.encoding._profiles import _bh

    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, minimum=1)
    check_positive("ci", ci)
    z, labels, layers, units = _fisher_stack(profiles)
    n = z.shape[0]
    signs = _sign_patterns(n, n_permutations, seed)
    null = _t(signs, z)  # (patterns, layers, units)
    t = null[0]
    p = _p_from(null, t)
    p_fwe = _p_from(null.max(axis=2, keepdims=True), t)
    null_best = null.max(axis=1)
    p_best = _p_from(null_best, t.max(axis=0))
    mean = z.mean(axis=0)
    half = stats.t.ppf(0.5 + ci / 2, n - 1) * z.std(axis=0, ddof=1) / np.sqrt(n)
    best = np.argmax(mean, axis=0)
    rng = rng_from_seed(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    stability = np.mean([np.argmax(z[d].mean(axis=0), axis=0) == best for d in draws], axis=0)
    preference, p_pref = _preference(z, n_permutations, seed)
    return GroupProfiles(
        layers=layers,
        units=units,
        participants=labels,
        z=z,
        mean_r=np.tanh(mean),
        ci_low=np.tanh(mean - half),
        ci_high=np.tanh(mean + half),
        t=t,
        p=p,
        p_fwe=p_fwe,
        q=_bh(p),
        best_layer=best,
        best_layer_stability=stability,
        p_best=p_best,
        q_best=_bh(p_best[None])[0],
        preference=preference,
        p_preference=p_pref,
        n_patterns=signs.shape[0],
        ci=ci,
    )


def _preference(z: np.ndarray, n_permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Best layer chosen on one half of the participants, its margins tested on the other half.

    Per unit and split: for each neighbour of the best layer, the held-out
    half's ``z[best] - z[neighbour]`` and its one-sided sign-flip p; the split's
    margin is the mean over neighbours and its p the larger p (intersection-union:
    better than every neighbour). Over the two splits: the mean margin and
    ``min(1, 2 min(p_1, p_2))`` (Bonferroni). Leave-one-out selection would make
    the held-out margins dependent (each participant is in the others'
    selection), which made the test liberal.
    """
    n, n_layers, n_units = z.shape
    halves = (np.arange(0, n, 2), np.arange(1, n, 2))
    if min(len(h) for h in halves) < 2:
        nan = np.full(n_units, np.nan)
        return nan, nan
    columns = np.arange(n_units)
    margins, ps = [], []
    for select, test in (halves, halves[::-1]):
        best = np.argmax(z[select].mean(axis=0), axis=0)
        held = z[test]
        signs = _sign_patterns(len(test), n_permutations, seed)
        margin, count, p = np.zeros(n_units), np.zeros(n_units), np.zeros(n_units)
        for step in (-1, 1):
            neighbour = best + step
            exists = (neighbour >= 0) & (neighbour < n_layers)
            side = held[:, best, columns] - held[:, np.clip(neighbour, 0, n_layers - 1), columns]
            null = _t(signs, side)
            margin += np.where(exists, side.mean(axis=0), 0.0)
            count += exists
            p = np.where(exists, np.maximum(p, _p_from(null, null[0])), p)
        margins.append(np.divide(margin, count, out=np.full(n_units, np.nan), where=count > 0))
        ps.append(np.where(count > 0, p, np.nan))
    return np.mean(margins, axis=0), np.minimum(1.0, 2 * np.minimum(*ps))


def independent_profile(
    profiles: Mapping[str, object], *, fdr_q: float = 0.05, ci: float = 0.95
) -> dict[str, np.ndarray]:
    """Layer profile of units selected on the other participants, with CIs across participants.

    For each participant, the units with ``q_best < fdr_q`` in at least half of
    the other participants are selected, and the participant's mean Fisher z
    over them is its profile; participants with no selected unit are left out.

    Returns
    -------
    dict
        ``mean_r, ci_low, ci_high`` (shape (n_layers,), ``tanh`` of the mean z
        over participants and its t CI), ``per_participant`` (n_used,
        n_layers) z, ``n_units`` (units selected per participant used),
        ``participants`` (labels used).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> fits = {s: SimpleNamespace(layers=("a", "b"), units=("v1", "v2"),
    ...         r=np.array([[0.4 + 0.01 * i, 0.0], [0.1, 0.0]]), q_best=np.array([0.01, 0.9]))
    ...         for i, s in enumerate("abcd")}
    >>> out = independent_profile(fits)
    >>> out["n_units"].tolist(), np.round(out["mean_r"], 2).tolist()
    ([1, 1, 1, 1], [0.42, 0.1])

    """
    from scipy import stats

    z, labels, layers, units = _fisher_stack(profiles)
    significant = []
    for label in labels:
        profile = profiles[label]
        index = {u: i for i, u in enumerate(profile.units)}
        significant.append(np.asarray(profile.q_best)[[index[u] for u in units]] < fdr_q)
    significant = np.asarray(significant)
    rows, counts, used = [], [], []
    for s, label in enumerate(labels):
        others = np.delete(significant, s, axis=0)
        chosen = others.mean(axis=0) >= 0.5
        if chosen.any():
            rows.append(z[s][:, chosen].mean(axis=1))
            counts.append(int(chosen.sum()))
            used.append(label)
    if not rows:
        nan = np.full(len(layers), np.nan)
        return {
            "mean_r": nan,
            "ci_low": nan,
            "ci_high": nan,
            "per_participant": np.zeros((0, len(layers))),
            "n_units": np.zeros(0, dtype=int),
            "participants": (),
        }
    per = np.asarray(rows)
    mean = per.mean(axis=0)
    half = (
        stats.t.ppf(0.5 + ci / 2, per.shape[0] - 1) * per.std(axis=0, ddof=1) / np.sqrt(len(per))
        if len(per) > 1
        else np.full(mean.shape, np.nan)
    )
    return {
        "mean_r": np.tanh(mean),
        "ci_low": np.tanh(mean - half),
        "ci_high": np.tanh(mean + half),
        "per_participant": per,
        "n_units": np.asarray(counts),
        "participants": tuple(used),
    }
