"""Layer-wise encoding models: which layer of a network best predicts each response unit.

A response unit is a voxel, an ROI, a rating or a physiology channel, one
:class:`~frisson.timeseries.TimeSeries` channel per unit and one series per run
(a run is one continuous recording; with one stimulus per run, a run is a
stimulus). For every layer, a linear model (ridge on delayed features) is fitted
and scored on held-out runs; the layer profile of a unit is its held-out Pearson
r across layers, and its best layer is the argmax.

Public API
----------
``delay_features(run, delays_samples) -> ndarray``
    FIR design of one run: delayed copies, zero-filled at the run start.
``canonical_hrf(rate_hz) -> ndarray``
    SPM's canonical double-gamma haemodynamic response sampled at ``rate_hz``.
``auto_delays_s(rate_hz) -> ndarray``
    The delays ``delays_s="auto"`` resolves to.
``layer_design(features, grids, *, rectify=False, n_components=0.99, delays_s="auto",
fit_runs=None) -> list[ndarray]``
    One layer's design matrix per run.
``fit_layer_profiles(features, responses, *, delays_s="auto", alphas=DEFAULT_ALPHAS,
n_components=0.99, rectify=False, n_permutations="auto", null="pooled", seed=0,
solver="auto", solver_params=None, device="auto", progress_bar=None) -> LayerProfiles``
    Nested leave-one-run-out ridge per layer, phase-randomisation null (studentised r
    pooled over units, or per unit), FDR.
``LayerProfiles``
    ``layers, units, r, r2, t, fold_r, alphas, p, q, best_layer, p_best, q_best, n_pcs,
    delays_s, n_permutations, null, noise_ceiling``; ``to_frame()``, ``best_layer_names()``.
``group_profiles(profiles, *, n_permutations=10000, n_bootstrap=1000, ci=0.95, seed=0)
-> GroupProfiles``
    Random effects over participants: sign-flip test of Fisher-z r per unit and layer
    (p, max-statistic p_fwe, q), CIs across participants, best layer with its bootstrap
    stability, a held-out test of layer preference (best layer vs its neighbours).
``independent_profile(profiles, *, fdr_q=0.05, ci=0.95) -> dict``
    Each participant's profile over units selected on the other participants.
``noise_ceiling(responses_by_subject, method="split-half" | "isc", *, n_splits=100, seed=0)
-> ndarray``
    The highest Pearson r a perfect model could reach, per unit.
``variance_partition(acoustic, latent, responses, *, delays_s="auto", alphas=DEFAULT_ALPHAS,
n_components=None, n_band_weights=11) -> pandas.DataFrame``
    Held-out R^2 of an acoustic band, a latent band and both (banded ridge);
    unique and shared parts per unit.
``partition_layers(profiles, features, partner, responses, *, partner_name="partner",
alphas=DEFAULT_ALPHAS, n_components=None, n_band_weights=11) -> LayerProfiles``
    Every layer partitioned against one partner feature space (loudness, another layer):
    ``to_frame()`` gains ``r2_partner, r2_joint, unique_r2, unique_r2_partner, shared_r2``.
``inner_splits``, ``check_inner_splits``, ``outer_folds``
    The nested leave-one-run-out folds and their leak guard.
``DEFAULT_ALPHAS``, ``CV_SOLVERS``, ``FIXED_ALPHA_SOLVERS``
    The one ridge penalty grid of frisson.models, and the solver registries.

Modules, one idea each
----------------------
- :mod:`._design`: the design of one layer: features on the response grid
  (optionally rectified), standardisation and PCA fitted on training runs,
  z-score per run, FIR delays per run (never across a run boundary) or the
  canonical HRF.
- :mod:`._cv`: nested leave-one-run-out folds (outer: leave one run out; inner:
  leave one training run out to choose each unit's penalty), the leak guard,
  response checks and the held-out scores (Pearson r, R^2).
- :mod:`._solvers`: the ridge solvers, plain functions in two registries
  (``CV_SOLVERS``, ``FIXED_ALPHA_SOLVERS``), chosen by ``solver=`` and
  tuned by ``solver_params=``; ``DEFAULT_ALPHAS``.
- :mod:`._profiles`: :func:`fit_layer_profiles`, the best layer, the
  phase-randomisation null, p and Benjamini-Hochberg q.
- :mod:`._null`: the studentised statistic, the pooled p, and each fold's
  fitted map that every permutation reuses.
- :mod:`._group`: participants as the random factor (:func:`group_profiles`,
  :func:`independent_profile`).
- :mod:`._partition`: :func:`noise_ceiling`, :func:`variance_partition` and
  :func:`partition_layers`.

Responses are z-scored per run and unit; models have no intercept. Each
module's docstring states its method; tests patch a helper where it is looked
up (e.g. ``frisson.models.encoding._cv.inner_splits``), not in this package.

Examples
--------
>>> import numpy as np
>>> from frisson.timeseries import TimeSeries
>>> rng = np.random.default_rng(0)
>>> feats = {name: [] for name in ("low", "high")}
>>> responses = []
>>> for run in range(3):
...     low, high = rng.standard_normal((2, 120, 3))
...     feats["low"].append(TimeSeries(low, rate_hz=1.0))
...     feats["high"].append(TimeSeries(high, rate_hz=1.0))
...     y = np.r_[np.zeros(4), high[:-4, 0]] + 0.5 * rng.standard_normal(120)
...     responses.append(TimeSeries(y, rate_hz=1.0, names=["roi"]))
>>> profiles = fit_layer_profiles(feats, responses, n_permutations=19, progress_bar=False)
>>> profiles.best_layer_names()
['high']
>>> bool(profiles.r[1, 0] > 0.7), bool(profiles.p[1, 0] < 0.06)
(True, True)

"""

from frisson.models.encoding._cv import (
    MIN_RUNS,
    OuterFold,
    _check_responses,
    _pearson,
    _r2,
    _run_slices,
    check_inner_splits,
    inner_splits,
    outer_folds,
)
from frisson.models.encoding._design import (
    SLOW_GRID_MAX_HZ,
    _check_n_components,
    _common_rate,
    _delays_samples,
    _expand,
    _fit_projection,
    _on_grid,
    _Projection,
    _zscore,
    auto_delays_s,
    canonical_hrf,
    delay_features,
    layer_design,
)
from frisson.models.encoding._group import GroupProfiles, group_profiles, independent_profile
from frisson.models.encoding._partition import (
    noise_ceiling,
    partition_layers,
    variance_partition,
)
from frisson.models.encoding._profiles import (
    LayerProfiles,
    _bh,
    _phase_randomise,
    _random_phases,
    fit_layer_profiles,
)
from frisson.models.encoding._solvers import (
    CV_SOLVERS,
    DEFAULT_ALPHAS,
    DEVICES,
    FIXED_ALPHA_SOLVERS,
    SOLVERS,
    Device,
    Solver,
    _auto_solver,
    _check_alphas,
    _eigh_parts,
    _himalaya_backend,
    _resolve_device,
    _Solver,
    check_solver_params,
    solve_eigh,
    solve_eigh_cv,
    solve_kernel,
    solve_kernel_cv,
    solve_primal,
    solve_primal_cv,
)

__all__ = [
    "CV_SOLVERS",
    "DEFAULT_ALPHAS",
    "FIXED_ALPHA_SOLVERS",
    "GroupProfiles",
    "LayerProfiles",
    "OuterFold",
    "auto_delays_s",
    "canonical_hrf",
    "check_inner_splits",
    "check_solver_params",
    "delay_features",
    "fit_layer_profiles",
    "group_profiles",
    "independent_profile",
    "inner_splits",
    "layer_design",
    "noise_ceiling",
    "outer_folds",
    "partition_layers",
    "solve_eigh",
    "solve_eigh_cv",
    "solve_kernel",
    "solve_kernel_cv",
    "solve_primal",
    "solve_primal_cv",
    "variance_partition",
]

_eigh_cv = solve_eigh_cv  # the names of the eigh solver before the split
_eigh_predict = solve_eigh

# Names importable before the split (private helpers kept for scripts and notebooks;
# patch them in the submodule that uses them, not here).
_COMPAT = (
    MIN_RUNS,
    SLOW_GRID_MAX_HZ,
    SOLVERS,
    DEVICES,
    Device,
    Solver,
    _Projection,
    _auto_solver,
    _bh,
    _check_alphas,
    _check_n_components,
    _check_responses,
    _common_rate,
    _delays_samples,
    _eigh_parts,
    _expand,
    _fit_projection,
    _himalaya_backend,
    _on_grid,
    _pearson,
    _phase_randomise,
    _r2,
    _random_phases,
    _resolve_device,
    _run_slices,
    _Solver,
    _zscore,
)
