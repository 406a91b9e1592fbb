"""The design matrix of one layer: response grid, PCA, z-score and delays per run.

1. **Resample.** Each run's features go onto that run's response grid with
   :meth:`TimeSeries.align_to` (area average when the grid is slower). With
   ``rectify=True`` the features are rectified (``max(x, 0)``, as a ReLU) at
   their own rate first, so averaging sees the rectified activations. Grid
   samples the features do not cover are set to the run's feature mean (0 after
   z-scoring) and logged; a run whose grid does not overlap the features at
   all is an error.
2. **PCA** on the training runs only: columns standardised, then the principal
   components that keep ``n_components`` of the variance (a float in (0, 1)), or
   a fixed count (an int), or none (``None``).
   :func:`~frisson.models.encoding.fit_layer_profiles` refits it in every outer
   fold on that fold's training runs; :func:`layer_design` fits it on
   ``fit_runs`` (default: every run given, for description only).
3. **z-score per run** (each component: mean 0, standard deviation 1 within
   the run).
4. **Delays per run** (:func:`delay_features`): the design at sample ``t`` holds
   the components at ``t - d`` for every delay ``d``; rows before a run's start
   are zero, never taken from the previous run (the concatenate-then-shift
   ``Delayer`` of himalaya's tutorial leaks the end of one run into the start of
   the next). ``delays_s="auto"`` (:func:`auto_delays_s`) picks every grid
   sample from 3 to 9 s on slow grids (<= 2 Hz, i.e. fMRI: 3, 4, ..., 9 s at TR
   1 s) and every whole second from 0 to 10 s on faster grids (ratings,
   physiology). ``delays_s="hrf"`` instead convolves each component with
   :func:`canonical_hrf`, per run (causal, zero initial state), one column per
   component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from frisson._check import check_int, check_option
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["auto_delays_s", "canonical_hrf", "delay_features", "layer_design"]

SLOW_GRID_MAX_HZ = 2.0  # grids at or below this rate get fMRI delays (3-9 s)


# ----------------------------------------------------------------------------- delays
def delay_features(run: np.ndarray, delays_samples: Sequence[int]) -> np.ndarray:
    """Delayed copies of one run's features, zero-filled at the run start.

    Parameters
    ----------
    run : ndarray, shape (n_times, n_features)
        Features of ONE run (never a concatenation of runs).
    delays_samples : sequence of int
        Delays in samples, each >= 0 and < ``n_times``.

    Returns
    -------
    ndarray, shape (n_times, n_delays * n_features)
        Delay-major: columns ``j * n_features ... (j + 1) * n_features - 1``
        hold ``run[t - delays_samples[j]]``, and 0 for ``t < delays_samples[j]``.

    Examples
    --------
    >>> delay_features(np.array([[1.0], [2.0], [3.0]]), [0, 2])
    array([[1., 0.],
           [2., 0.],
           [3., 1.]])

    """
    run = np.asarray(run)
    if run.ndim == 1:
        run = run[:, np.newaxis]
    if run.ndim != 2:
        raise DataError(f"run must be 2-D (time x features), got shape {run.shape}.")
    delays = [check_int("delays_samples", d, minimum=0) for d in delays_samples]
    if not delays:
        raise ParameterError("delays_samples is empty; pass at least one delay (e.g. [0]).")
    n_times, n_features = run.shape
    if max(delays) >= n_times:
        raise DataError(
            f"A delay of {max(delays)} samples is not shorter than the run ({n_times} samples); "
            "use smaller delays or longer runs."
        )
    out = np.zeros((n_times, len(delays) * n_features), dtype=np.result_type(run, np.float32))
    for j, d in enumerate(delays):
        out[d:, j * n_features : (j + 1) * n_features] = run[: n_times - d]
    return out


def auto_delays_s(rate_hz: float) -> np.ndarray:
    """The delays (s) that ``delays_s="auto"`` picks for a response grid of ``rate_hz``.

    Slow grids (``rate_hz <= 2``, fMRI): every grid sample from 3 to 9 s (the
    haemodynamic lag). Faster grids (ratings, physiology): every whole second from
    0 to 10 s.

    Examples
    --------
    >>> auto_delays_s(1.0)
    array([3., 4., 5., 6., 7., 8., 9.])
    >>> auto_delays_s(0.5)  # TR 2 s
    array([4., 6., 8.])
    >>> auto_delays_s(5.0)[:3]
    array([0., 1., 2.])

    """
    if rate_hz <= SLOW_GRID_MAX_HZ:
        samples = np.arange(np.ceil(3.0 * rate_hz - 1e-9), np.floor(9.0 * rate_hz + 1e-9) + 1)
        return samples / rate_hz
    return np.arange(11.0)


def canonical_hrf(rate_hz: float, *, length_s: float = 32.0) -> np.ndarray:
    """SPM's canonical double-gamma haemodynamic response, sampled at ``rate_hz``.

    ``h(t) = g(t; 6) - g(t; 16) / 6`` with ``g(t; k)`` the gamma density of
    shape ``k`` and scale 1 s (peak near 5 s, undershoot near 15 s), at
    ``t = 0, 1/rate_hz, ...`` below ``length_s``, scaled to sum to 1.

    Examples
    --------
    >>> h = canonical_hrf(1.0)
    >>> int(np.argmax(h)), round(float(h.sum()), 6)
    (5, 1.0)

    """
    from scipy.stats import gamma

    t = np.arange(0.0, length_s, 1.0 / rate_hz)
    h = gamma.pdf(t, 6.0) - gamma.pdf(t, 16.0) / 6.0
    return h / h.sum()


def _delays_samples(delays_s: Sequence[float] | str, rate_hz: float) -> np.ndarray | None:
    """Delays in samples for the grid rate; None for ``"hrf"``."""
    if isinstance(delays_s, str):
        check_option("delays_s", delays_s, ["auto", "hrf"])
        if delays_s == "hrf":
            return None
        delays_s = auto_delays_s(rate_hz)
    values = np.asarray(delays_s, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ParameterError(
            f"delays_s={delays_s!r} must be 'auto', 'hrf' or a non-empty list of delays >= 0 s "
            "(a negative delay would use music after the response)."
        )
    samples = np.rint(values * rate_hz).astype(int)
    if np.unique(samples).size != samples.size:
        raise ParameterError(
            f"delays_s={list(values)} s round to repeated samples {list(samples)} at "
            f"{rate_hz:g} Hz; give delays at least one sample ({1 / rate_hz:g} s) apart."
        )
    return samples


def _expand(scores: np.ndarray, delays: np.ndarray | None, hrf: np.ndarray) -> np.ndarray:
    """One run's z-scored components -> delayed (or HRF-convolved) design."""
    if delays is None:
        from scipy.signal import lfilter

        return lfilter(hrf, [1.0], scores, axis=0)
    return delay_features(scores, delays)


# ------------------------------------------------------------------- layer design steps
def _on_grid(
    features: Sequence[TimeSeries], grids: Sequence[TimeSeries], rectify: bool, what: str
) -> list[np.ndarray]:
    """Each run's features on its response grid (float64), NaN rows filled with the run mean."""
    if len(features) != len(grids):
        raise ParameterError(
            f"{what} has {len(features)} runs but the responses have {len(grids)}; pass one "
            "feature series per run."
        )
    blocks = []
    for run, (series, grid) in enumerate(zip(features, grids, strict=True)):
        if not isinstance(series, TimeSeries):
            raise ParameterError(f"{what}[{run}] must be a TimeSeries, got {type(series)}.")
        if rectify:
            series = series.replace(np.maximum(series.values, 0))
        values = series.align_to(grid).values
        missing = np.isnan(values).any(axis=1)
        if missing.all():
            raise DataError(
                f"{what}[{run}] covers {series.start_s:.2f}-{series.end_s:.2f} s but the response "
                f"grid of run {run} covers {grid.start_s:.2f}-{grid.end_s:.2f} s: no overlap. "
                "Put features and responses on the same clock (start_s)."
            )
        if missing.any():
            logger.warning(
                "%s run %d: %d of %d response samples lie outside the features "
                "(%.2f-%.2f s); they get the run's mean feature",
                what,
                run,
                int(missing.sum()),
                missing.size,
                series.start_s,
                series.end_s,
            )
            mean = np.nanmean(values[~missing], axis=0)
            values = np.where(missing[:, np.newaxis], mean, values)
        blocks.append(values)
    return blocks


@dataclass(frozen=True)
class _Projection:
    """Standardisation and PCA fitted on training runs."""

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray | None  # (n_components, n_features) or None (no PCA)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        z = (block - self.mean) / self.scale
        return z if self.components is None else z @ self.components.T

    @property
    def n_out(self) -> int:
        return self.mean.size if self.components is None else self.components.shape[0]


def _check_n_components(n_components: float | int | None) -> float | int | None:
    if n_components is None:
        return None
    if isinstance(n_components, bool):
        raise ParameterError(f"n_components must be a float, an int or None, got {n_components}.")
    if isinstance(n_components, (int, np.integer)):
        return check_int("n_components", n_components, minimum=1)
    if isinstance(n_components, float) and 0 < n_components < 1:
        return n_components
    raise ParameterError(
        f"n_components={n_components!r}: pass a fraction of variance in (0, 1) (e.g. 0.99), "
        "a number of components >= 1, or None for no PCA."
    )


def _fit_projection(blocks: Sequence[np.ndarray], n_components: float | int | None) -> _Projection:
    """Standardise columns and fit PCA on the given (training) runs."""
    stacked = np.concatenate(blocks)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    if n_components is None:
        return _Projection(mean, scale, None)
    z = (stacked - mean) / scale
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    if isinstance(n_components, float):
        explained = np.cumsum(s**2) / max(float(np.sum(s**2)), np.finfo(float).tiny)
        k = int(np.searchsorted(explained, n_components - 1e-12) + 1)
    else:
        k = n_components
    k = min(k, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.argmax(np.abs(axes), axis=1)])  # deterministic signs
    return _Projection(mean, scale, axes * signs[:, np.newaxis])


def _zscore(block: np.ndarray) -> np.ndarray:
    """Each column to mean 0 and standard deviation 1 within the block (constant -> 0)."""
    centred = block - block.mean(axis=0)
    sd = centred.std(axis=0)
    return centred / np.where(sd > 0, sd, 1.0)


def layer_design(
    features: Sequence[TimeSeries],
    grids: Sequence[TimeSeries],
    *,
    rectify: bool = False,
    n_components: float | int | None = 0.99,
    delays_s: Sequence[float] | str = "auto",
    fit_runs: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """One layer's design matrix per run: on the response grid, PCA, z-scored, delayed.

    Parameters
    ----------
    features : sequence of TimeSeries
        One layer's features, one series per run, on the stimulus clock.
    grids : sequence of TimeSeries
        The response series of each run (only their time grid is used).
    rectify : bool
        Rectify (``max(x, 0)``) the features at their own rate before resampling.
    n_components : float, int or None
        Variance fraction kept by the PCA (default 0.99), a fixed count, or None.
    delays_s : sequence of float, 'auto' or 'hrf'
        FIR delays in seconds (rounded to grid samples), 'auto'
        (:func:`auto_delays_s`) or the canonical HRF (:func:`canonical_hrf`).
    fit_runs : sequence of int, optional
        Runs the standardisation and PCA are fitted on (default: all). Inside
        cross-validation pass the training runs only, as
        :func:`fit_layer_profiles` does.

    Returns
    -------
    list of ndarray, one per run, shape (n_times of the grid, n_delays * n_pcs)
        Delay-major columns (``n_pcs`` columns for ``delays_s="hrf"``).

    Examples
    --------
    >>> grid = [TimeSeries(np.zeros(50), rate_hz=1.0) for _ in range(2)]
    >>> feats = [TimeSeries(np.random.default_rng(i).standard_normal((100, 4)), rate_hz=2.0)
    ...          for i in range(2)]
    >>> design = layer_design(feats, grid, n_components=2, delays_s=[3, 4])
    >>> [d.shape for d in design]
    [(50, 4), (50, 4)]
    >>> bool(np.all(design[1][:3, :2] == 0))  # delay 3 s: first 3 rows are zero
    True

    """
    n_components = _check_n_components(n_components)
    blocks = _on_grid(features, grids, rectify, "features")
    runs = range(len(blocks)) if fit_runs is None else [int(i) for i in fit_runs]
    projection = _fit_projection([blocks[i] for i in runs], n_components)
    delays = _delays_samples(delays_s, _common_rate(grids))
    hrf = canonical_hrf(_common_rate(grids))
    return [_expand(_zscore(projection(b)), delays, hrf) for b in blocks]


def _common_rate(grids: Sequence[TimeSeries]) -> float:
    rates = sorted({g.rate_hz for g in grids})
    if len(rates) != 1:
        raise DataError(
            f"The response runs have different rates {rates} Hz; resample them to one grid rate."
        )
    return rates[0]
