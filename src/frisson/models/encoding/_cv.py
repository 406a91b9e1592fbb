"""Nested leave-one-run-out cross-validation: folds, leak guards, response checks, scores.

Outer: leave one run out. Inner: in each outer fold, each unit's ridge penalty
is chosen by leave-one-run-out among that fold's training runs (mean squared
error summed over the held-out run, averaged over inner folds; never GCV or
leave-one-sample-out, which autocorrelation makes optimistic).
:func:`inner_splits` builds the inner folds as indices into the concatenated
runs, :func:`check_inner_splits` refuses any that touch the test run, and
:func:`outer_folds` runs both for every outer fold and maps the inner folds to
rows of the fold's training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from frisson.errors import DataError, FrissonError, ParameterError
from frisson.models.encoding._design import _common_rate, _zscore
from frisson.timeseries import TimeSeries

__all__ = ["MIN_RUNS", "OuterFold", "check_inner_splits", "inner_splits", "outer_folds"]

MIN_RUNS = 3  # nested leave-one-run-out needs >= 2 training runs in every outer fold


def _run_slices(lengths: Sequence[int]) -> list[np.ndarray]:
    """Global sample indices of each run in the concatenation."""
    edges = np.r_[0, np.cumsum(lengths)]
    return [np.arange(edges[i], edges[i + 1]) for i in range(len(lengths))]


def inner_splits(
    run_indices: Sequence[np.ndarray], test_run: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner leave-one-run-out folds for the outer fold that holds out ``test_run``.

    Parameters
    ----------
    run_indices : sequence of ndarray of int
        Global sample indices of each run in the concatenation of all runs.
    test_run : int
        The outer fold's test run.

    Returns
    -------
    list of (train, validation) index arrays
        Global sample indices; one fold per training run, which is the validation
        run; the test run is in neither.

    Examples
    --------
    >>> runs = [np.arange(0, 2), np.arange(2, 4), np.arange(4, 6)]
    >>> [(t.tolist(), v.tolist()) for t, v in inner_splits(runs, test_run=0)]
    [([4, 5], [2, 3]), ([2, 3], [4, 5])]

    """
    training = [i for i in range(len(run_indices)) if i != test_run]
    splits = []
    for held in training:
        train = np.concatenate([run_indices[i] for i in training if i != held])
        splits.append((train, np.asarray(run_indices[held])))
    return splits


def check_inner_splits(
    splits: Sequence[tuple[np.ndarray, np.ndarray]], test_indices: np.ndarray
) -> None:
    """Refuse inner folds that would let the choice of lambda see the test run.

    Raises
    ------
    FrissonError
        If any inner training or validation index is a test index, or an inner
        fold's training and validation sets overlap.

    Examples
    --------
    >>> check_inner_splits([(np.array([0, 1]), np.array([2]))], np.array([3]))
    >>> check_inner_splits([(np.array([0, 3]), np.array([2]))], np.array([3]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    frisson.errors.FrissonError: Nested CV leak: inner fold 0 uses 1 sample(s) of ...

    """
    test = np.asarray(test_indices)
    for k, (train, validation) in enumerate(splits):
        leaked = np.intersect1d(np.r_[train, validation], test)
        if leaked.size:
            raise FrissonError(
                f"Nested CV leak: inner fold {k} uses {leaked.size} sample(s) of the outer test "
                f"run (e.g. index {leaked[0]}); lambda must be chosen on training runs only."
            )
        if np.intersect1d(train, validation).size:
            raise FrissonError(f"Inner fold {k}: training and validation samples overlap.")


class OuterFold(NamedTuple):
    """One outer leave-one-run-out fold, its inner folds checked for leaks.

    Attributes
    ----------
    test_run : int
        The held-out run.
    train_runs : list of int
        The other runs, in order.
    train_idx : ndarray of int
        Global sample indices of the training runs (concatenated).
    inner : list of (ndarray, ndarray)
        Inner (train, validation) folds as row indices into ``train_idx``.

    """

    test_run: int
    train_runs: list[int]
    train_idx: np.ndarray
    inner: list[tuple[np.ndarray, np.ndarray]]


def outer_folds(run_indices: Sequence[np.ndarray]) -> list[OuterFold]:
    """Every outer leave-one-run-out fold with its inner folds, checked for leaks.

    Each outer fold holds out one run; its inner folds come from
    :func:`inner_splits`, are refused by :func:`check_inner_splits` if they touch
    the test run, and are mapped to rows of the fold's training set (the
    concatenation of the training runs), as the solvers index them.

    Parameters
    ----------
    run_indices : sequence of ndarray of int
        Global sample indices of each run in the concatenation of all runs.

    Returns
    -------
    list of OuterFold
        One per run, in run order.

    Raises
    ------
    FrissonError
        An inner fold uses a sample of its outer test run.

    Examples
    --------
    >>> runs = [np.arange(0, 2), np.arange(2, 4), np.arange(4, 6)]
    >>> fold = outer_folds(runs)[1]
    >>> fold.train_runs, fold.train_idx.tolist()
    ([0, 2], [0, 1, 4, 5])
    >>> [(t.tolist(), v.tolist()) for t, v in fold.inner]  # rows of train_idx
    [([2, 3], [0, 1]), ([0, 1], [2, 3])]

    """
    n_runs = len(run_indices)
    folds = []
    for test_run in range(n_runs):
        train_runs = [i for i in range(n_runs) if i != test_run]
        train_idx = np.concatenate([run_indices[i] for i in train_runs])
        splits = inner_splits(run_indices, test_run)
        check_inner_splits(splits, run_indices[test_run])
        local = [(np.searchsorted(train_idx, a), np.searchsorted(train_idx, b)) for a, b in splits]
        folds.append(OuterFold(test_run, train_runs, train_idx, local))
    return folds


def _check_responses(responses: Sequence[TimeSeries], what: str = "responses") -> list[np.ndarray]:
    """Validate runs (count, units, NaNs) and return each run z-scored per unit (float64)."""
    if isinstance(responses, TimeSeries) or len(responses) < MIN_RUNS:
        n = 1 if isinstance(responses, TimeSeries) else len(responses)
        raise DataError(
            f"{what} has {n} run(s); nested leave-one-run-out cross-validation needs at least "
            f"{MIN_RUNS} (one to test, two to choose lambda by leave-one-run-out)."
        )
    for run, series in enumerate(responses):
        if not isinstance(series, TimeSeries):
            raise ParameterError(f"{what}[{run}] must be a TimeSeries, got {type(series)}.")
    counts = [series.n_channels for series in responses]
    if len(set(counts)) != 1:
        listing = ", ".join(f"run {i}: {c}" for i, c in enumerate(counts))
        raise DataError(
            f"{what} runs have different numbers of units ({listing}); every run must hold the "
            "same units (voxels, ROIs, channels) in the same order."
        )
    names = responses[0].names
    for run, series in enumerate(responses):
        if series.names != names:
            raise DataError(
                f"{what}[{run}] has units {series.names[:3]}... but run 0 has {names[:3]}...; "
                "select the same units in the same order in every run."
            )
    _common_rate(responses)
    out = []
    for run, series in enumerate(responses):
        values = np.asarray(series.values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            units = [names[c] for c in np.flatnonzero(bad.any(axis=0))]
            raise DataError(
                f"{what}[{run}] (run {run}) has {int(bad.sum())} NaN/inf value(s) in unit(s) "
                f"{', '.join(units[:5])}{', ...' if len(units) > 5 else ''}; interpolate them "
                "(TimeSeries.interpolate_nan) or drop those units."
            )
        if series.n_times < 3:
            raise DataError(f"{what}[{run}] has only {series.n_times} samples.")
        out.append(_zscore(values))
    return out


# ------------------------------------------------------------------------------ scores
def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Pearson r; NaN where either column is constant."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    numerator = np.einsum("ij,ij->j", a, b)
    return np.divide(numerator, denominator, out=np.full(a.shape[1], np.nan), where=denominator > 0)


def _r2(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    out = np.full(truth.shape[1], np.nan)
    ok = total > 0
    out[ok] = 1 - ((truth - prediction) ** 2).sum(axis=0)[ok] / total[ok]
    return out
