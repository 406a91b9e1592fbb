"""What a model could reach, and what each band explains: noise ceiling, variance partition.

:func:`noise_ceiling` estimates, from repeated listeners, the highest Pearson r
a perfect model of the group-mean (split-half) or of one listener's response
(leave-one-out inter-subject correlation) could reach. :func:`variance_partition`
splits the held-out R^2 of two feature bands (acoustic, latent) into unique and
shared parts with banded ridge in the same nested leave-one-run-out folds as the
layer profiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from frisson._check import check_int, check_option, rng_from_seed
from frisson._optional import import_optional
from frisson.errors import DataError
from frisson.models.encoding._cv import (
    _check_responses,
    _pearson,
    _r2,
    _run_slices,
    outer_folds,
)
from frisson.models.encoding._design import (
    _check_n_components,
    _common_rate,
    _delays_samples,
    _expand,
    _fit_projection,
    _on_grid,
    _zscore,
    canonical_hrf,
)
from frisson.models.encoding._solvers import (
    DEFAULT_ALPHAS,
    _check_alphas,
    _himalaya_backend,
    solve_eigh_cv,
)
from frisson.timeseries import TimeSeries

__all__ = ["noise_ceiling", "partition_layers", "variance_partition"]


# ------------------------------------------------------------------------ noise ceiling
def noise_ceiling(
    responses_by_subject: Sequence[Sequence[TimeSeries]],
    method: Literal["split-half", "isc"] = "split-half",
    *,
    n_splits: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """The highest Pearson r a perfect model could reach, per unit.

    Every subject's runs are mean-centred per run and unit and concatenated.

    - ``"split-half"``: subjects are split at random into two halves
      (``n_splits`` times); the correlation ``r_h`` of the two half means,
      Spearman-Brown corrected ``rel = 2 r_h / (1 + r_h)``, estimates the
      reliability of the mean over all subjects, ``var_s / (var_s + var_n / N)``
      for signal variance ``var_s`` and independent noise ``var_n``. The ceiling
      returned is ``sqrt(rel)`` (the r of the subject mean with the true signal):
      the ceiling for a model of the group-mean response.
    - ``"isc"``: the mean over subjects of the correlation of each subject with
      the mean of the others (leave-one-subject-out inter-subject correlation):
      a conservative ceiling for a model of a single subject's response
      (``var_s / sqrt((var_s + var_n) (var_s + var_n / (N - 1)))``).

    Parameters
    ----------
    responses_by_subject : sequence of sequence of TimeSeries
        ``[subject][run]``; the same runs, units and lengths for every subject.
    method : {'split-half', 'isc'}
        The reliability estimate (see above).
    n_splits : int
        Random half splits averaged (split-half only).
    seed : int
        Seed of the splits.

    Returns
    -------
    ndarray, shape (n_units,)
        Negative reliabilities give a ceiling of 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.standard_normal((2000, 1))
    >>> subjects = [[TimeSeries(signal + rng.standard_normal((2000, 1)), rate_hz=1.0)]
    ...             for _ in range(8)]
    >>> float(noise_ceiling(subjects)[0] ** 2).__round__(2)  # analytic 1 / (1 + 1/8) = 0.89
    0.89

    """
    check_option("method", method, ["split-half", "isc"])
    n_subjects = len(responses_by_subject)
    if n_subjects < 2:
        raise DataError(f"noise_ceiling needs >= 2 subjects, got {n_subjects}.")
    data = []
    for s, runs in enumerate(responses_by_subject):
        if isinstance(runs, TimeSeries):
            runs = [runs]
        blocks = []
        for run, series in enumerate(runs):
            values = np.asarray(series.values, dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise DataError(f"Subject {s} run {run} has NaN/inf responses; interpolate them.")
            blocks.append(values - values.mean(axis=0))
        data.append(np.concatenate(blocks))
    shapes = {d.shape for d in data}
    if len(shapes) != 1:
        raise DataError(
            f"Subjects have different response shapes {sorted(shapes)} (samples, units); "
            "every subject needs the same runs, lengths and units."
        )
    stack = np.stack(data)  # (subjects, samples, units)
    if method == "isc":
        total = stack.sum(axis=0)
        rs = [_pearson(stack[s], (total - stack[s]) / (n_subjects - 1)) for s in range(n_subjects)]
        return np.maximum(np.mean(rs, axis=0), 0.0)
    rng = rng_from_seed(seed)
    n_splits = check_int("n_splits", n_splits, minimum=1)
    half = n_subjects // 2
    rs = []
    for _ in range(n_splits):
        order = rng.permutation(n_subjects)
        rs.append(_pearson(stack[order[:half]].mean(axis=0), stack[order[half:]].mean(axis=0)))
    r_half = np.mean(rs, axis=0)
    reliability = 2 * r_half / (1 + r_half)
    return np.sqrt(np.clip(reliability, 0.0, None))


# -------------------------------------------------------------------- variance partition
def variance_partition(
    acoustic: Sequence[TimeSeries],
    latent: Sequence[TimeSeries],
    responses: Sequence[TimeSeries],
    *,
    delays_s: Sequence[float] | str = "auto",
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_components: float | int | None = None,
    n_band_weights: int = 11,
):
    """Held-out R^2 of an acoustic band, a latent band and both; unique and shared parts.

    Each band goes through the layer pipeline (grid, optional PCA, z-score and
    delays per run). Outer leave-one-run-out folds; per unit, ridge on one band
    (lambda by inner leave-one-run-out, the numpy ``eigh`` solver,
    :func:`~frisson.models.encoding.solve_eigh_cv`) and banded ridge on
    both (himalaya's ``BandedRidgeCV``: the band weights ``(g, 1 - g)`` for
    ``n_band_weights`` values of ``g`` evenly in [0, 1], including each band
    alone, times ``alphas``, chosen by the same inner folds).

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``unit, r2_acoustic, r2_latent, r2_joint,
        unique_acoustic = r2_joint - r2_latent, unique_latent = r2_joint -
        r2_acoustic, shared = r2_acoustic + r2_latent - r2_joint`` (R^2 of the
        concatenated held-out predictions).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a, l, y = [], [], []
    >>> for run in range(3):
    ...     fa, fl = rng.standard_normal((2, 150, 2))
    ...     a.append(TimeSeries(fa, rate_hz=1.0)); l.append(TimeSeries(fl, rate_hz=1.0))
    ...     y.append(TimeSeries(fa[:, 0] + 0.5 * rng.standard_normal(150), rate_hz=1.0))
    >>> table = variance_partition(a, l, y, delays_s=[0])
    >>> bool(table.unique_acoustic[0] > 0.6), bool(abs(table.unique_latent[0]) < 0.05)
    (True, True)

    """
    import pandas as pd

    import_optional("himalaya")  # the [fmri] extra
    from himalaya.ridge import BandedRidgeCV

    y_runs = _check_responses(responses)
    rate = _common_rate(responses)
    alpha_grid = _check_alphas(alphas)
    n_components = _check_n_components(n_components)
    n_band_weights = check_int("n_band_weights", n_band_weights, minimum=2)
    delays = _delays_samples(delays_s, rate)
    hrf = canonical_hrf(rate)
    slices = _run_slices([y.shape[0] for y in y_runs])
    y_all = np.concatenate(y_runs)
    bands = {
        "acoustic": _on_grid(acoustic, responses, False, "acoustic"),
        "latent": _on_grid(latent, responses, False, "latent"),
    }
    # himalaya divides by the weights: "alone" is a weight of 1e-6 (1e6 times the penalty)
    g = np.clip(np.linspace(0.0, 1.0, n_band_weights), 1e-6, 1 - 1e-6)
    gammas = np.c_[g, 1.0 - g]
    predictions = {name: np.zeros_like(y_all) for name in ("acoustic", "latent", "joint")}
    with _himalaya_backend("numpy") as backend:
        for fold in outer_folds(slices):
            test_run, train_runs, local = fold.test_run, fold.train_runs, fold.inner
            y_train = y_all[fold.train_idx]
            designs = {}
            for name, blocks in bands.items():
                projection = _fit_projection([blocks[i] for i in train_runs], n_components)
                design = [_expand(_zscore(projection(b)), delays, hrf) for b in blocks]
                designs[name] = (np.concatenate([design[i] for i in train_runs]), design[test_run])
                x_train, x_test = designs[name]
                _, pred = solve_eigh_cv(x_train, y_train, x_test, alpha_grid, local)
                predictions[name][slices[test_run]] = pred
            model = BandedRidgeCV(
                groups="input",
                solver_params={
                    "n_iter": gammas,
                    "alphas": alpha_grid,
                    "progress_bar": False,
                    "warn": False,
                },
                cv=local,
            )
            model.fit([designs["acoustic"][0], designs["latent"][0]], y_train)
            predictions["joint"][slices[test_run]] = backend.to_numpy(
                model.predict([designs["acoustic"][1], designs["latent"][1]])
            )
    r2 = {name: _r2(y_all, pred) for name, pred in predictions.items()}
    return pd.DataFrame(
        {
            "unit": list(responses[0].names),
            "r2_acoustic": r2["acoustic"],
            "r2_latent": r2["latent"],
            "r2_joint": r2["joint"],
            "unique_acoustic": r2["joint"] - r2["latent"],
            "unique_latent": r2["joint"] - r2["acoustic"],
            "shared": r2["acoustic"] + r2["latent"] - r2["joint"],
        }
    )


def partition_layers(
    profiles,
    features: Mapping[str, Sequence[TimeSeries]],
    partner: Sequence[TimeSeries],
    responses: Sequence[TimeSeries],
    *,
    partner_name: str = "partner",
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_components: float | int | None = None,
    n_band_weights: int = 11,
):
    """Unique and shared held-out R^2 of every layer and one partner feature space, per unit.

    For each layer of ``profiles``, :func:`variance_partition` of the partner
    (e.g. loudness, a mel spectrogram, or another layer) and the layer, with the
    profiles' delays: held-out R^2 of the partner alone, the layer alone and
    both (banded ridge, Nunez-Elizalde, Huth & Gallant 2019, NeuroImage 197:482;
    himalaya, Dupré la Tour et al. 2022, NeuroImage 264:119728), split by the
    set-theoretic partition (Lescroart, Stansbury & Gallant 2015, Front. Comput.
    Neurosci. 9:135; de Heer et al. 2017, J. Neurosci. 37:6539):
    ``unique_r2 = R2_joint - R2_partner``, ``unique_r2_partner = R2_joint -
    R2_layer``, ``shared_r2 = R2_layer + R2_partner - R2_joint``, all in the
    same nested leave-one-run-out folds as the profiles.

    Parameters
    ----------
    profiles : LayerProfiles
        The layers' fit (:func:`~frisson.models.encoding.fit_layer_profiles`).
    features : mapping of str to sequence of TimeSeries
        The features the profiles were fitted on (every layer of ``profiles``).
    partner : sequence of TimeSeries
        The partner feature space, one series per run on the responses' clock.
    responses : sequence of TimeSeries
        The responses the profiles were fitted on.
    partner_name : str
        Its name in the tables (``partner`` column).
    alphas, n_components, n_band_weights
        As :func:`variance_partition` (PCA: per band, on the training runs).

    Returns
    -------
    LayerProfiles
        ``profiles`` with ``partition`` set: ``to_frame()`` gains the columns
        ``partner, r2_partner, r2_joint, unique_r2, unique_r2_partner, shared_r2``.

    Examples
    --------
    >>> from frisson.models.encoding import fit_layer_profiles
    >>> rng = np.random.default_rng(0)
    >>> base, layer, y = [], [], []
    >>> for run in range(3):
    ...     fb, fl = rng.standard_normal((2, 150, 2))
    ...     base.append(TimeSeries(fb, rate_hz=1.0)); layer.append(TimeSeries(fl, rate_hz=1.0))
    ...     y.append(TimeSeries(fl[:, :1] + 0.5 * rng.standard_normal((150, 1)), rate_hz=1.0))
    >>> fit = fit_layer_profiles({"a": layer}, y, delays_s=[0], n_permutations=0,
    ...                          progress_bar=False, device="cpu")
    >>> table = partition_layers(fit, {"a": layer}, base, y, partner_name="base").to_frame()
    >>> bool(table.unique_r2[0] > 0.6), bool(abs(table.unique_r2_partner[0]) < 0.05)
    (True, True)

    """
    import dataclasses

    missing = [layer for layer in profiles.layers if layer not in features]
    if missing:
        raise DataError(
            f"features lack the layer(s) {missing} of the profiles; pass the features the "
            "profiles were fitted on."
        )
    delays = "hrf" if profiles.delays_s == "hrf" else list(profiles.delays_s)
    names = ("r2_partner", "r2_joint", "unique_r2", "unique_r2_partner", "shared_r2")
    out = {name: np.full((len(profiles.layers), len(profiles.units)), np.nan) for name in names}
    for li, layer in enumerate(profiles.layers):
        table = variance_partition(
            partner,
            features[layer],
            responses,
            delays_s=delays,
            alphas=alphas,
            n_components=n_components,
            n_band_weights=n_band_weights,
        )
        out["r2_partner"][li] = table.r2_acoustic
        out["r2_joint"][li] = table.r2_joint
        out["unique_r2"][li] = table.unique_latent
        out["unique_r2_partner"][li] = table.unique_acoustic
        out["shared_r2"][li] = table.shared
    return dataclasses.replace(profiles, partition={"partner": str(partner_name), **out})
