"""Baselines for the chills predictor: ridge regression on time-delayed inputs (an FIR model).

:class:`DelayedRidge` predicts the target at frame ``t`` from the inputs at
frames ``t - d`` for every delay ``d`` in ``delays_s`` -- a linear filter of
the music, the classic encoding model. With the default delays (0 to 9.6 s) it
sees exactly the music :class:`~frisson.models.ChillsCNN` sees with its default
windows, and its prediction spans the same frames, so the two score on equal
terms.

Delays are built per input series (per song): rows whose delays would reach
before the song's first frame are dropped, never filled from another song.
Inputs are standardised and reduced to their leading principal components
(fitted on the training songs) before delaying.

Because predictions depend only on the song, the fit uses sufficient
statistics: ``X'X`` is computed once per distinct input series and weighted by
the number of pairs that share it, so the cost grows with songs, not
participants. The penalty ``alpha`` is chosen on the validation pairs (the
participants the CNN stops early on) or, without them, by grouped K-fold
cross-validation over the training pairs (``groups``: participant or song
labels), minimising the pooled squared error.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from frisson._check import check_int, check_positive, check_range_s
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.models._pairs import (
    InputGroup,
    Pair,
    check_fitted_input,
    check_pairs,
)
from frisson.models.encoding import DEFAULT_ALPHAS
from frisson.timeseries import TimeSeries

__all__ = ["DelayedRidge"]


class DelayedRidge:
    """Ridge regression of a target on delayed copies of an input series.

    Model: ``y(t) = b + sum_d z(t - d) . w_d``, with ``z`` the inputs
    standardised and projected on ``n_components`` principal components, and
    ``d`` every delay from ``delays_s[0]`` in steps of ``delay_step_s`` below
    ``delays_s[1]``, plus ``delays_s[1]`` itself (rounded to frames). Penalty ``alpha * |w|^2``; the
    intercept is not penalised.

    Parameters
    ----------
    delays_s : (float, float)
        Smallest and largest delay, >= 0 (default 0 to 9.6 s: the CNN's
        ``observe_s - predict_s``).
    delay_step_s : float
        Spacing of the delays (default 0.4 s).
    n_components : int or None
        Principal components of the standardised inputs kept (default 32,
        capped at the input dimensions); None keeps every standardised dimension.
    alphas : sequence of float
        Penalties tried (default :data:`frisson.models.encoding.DEFAULT_ALPHAS`,
        ``logspace(-2, 8, 21)``, the one grid of every ridge in frisson.models;
        the penalty scale here is about ``n_pairs x n_frames``, pooled over pairs).
    n_folds : int
        Folds of the grouped cross-validation used when no validation pairs
        are given (default 5, capped at the number of groups).
    n_threads : int, optional
        BLAS threads during fit and predict (``threadpoolctl``, restored
        afterwards); None leaves the current setting. On a busy machine
        OpenBLAS threads that outnumber free cores slow eigendecompositions
        down many times (a 512 x 512 ``eigh``: 0.08 s on one thread, 6 s on two
        threads competing with other work), so pass 1 when running in parallel.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    scores_ : ndarray, shape (n_alphas,)
        Mean squared error of each alpha on the validation pairs (or pooled
        over the cross-validation folds).
    coef_ : ndarray, shape (n_delays * n_components,)
        Weights, delay-major (all components of the first delay first).
    intercept_ : float
    delays_frames_ : ndarray of int
        The delays in frames.
    rate_hz_ : float
        Frame rate of the training inputs.
    n_inputs_ : int
        Input dimensions.
    input_mean_, input_scale_ : ndarray, shape (n_inputs_,)
        Standardisation.
    components_ : ndarray, shape (n_components, n_inputs_)
        Projection applied after standardisation (identity when
        ``n_components`` is None).

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(
    ...     n_participants=4, n_songs=3, duration_s=60.0, rate_hz=10.0, nonlinearity="linear"
    ... )
    >>> ridge = DelayedRidge(n_components=None).fit(
    ...     study.pairs(study.participants[:3]), study.pairs(study.participants[3:])
    ... )
    >>> prediction = ridge.predict(study.inputs["song-1"])  # from 9.6 s: the largest delay
    >>> truth = study.responses["song-1"].align_to(prediction)
    >>> r = np.corrcoef(prediction.values[:, 0], truth.values[:, 0])[0, 1]
    >>> prediction.start_s, bool(r > 0.7)
    (9.6, True)

    """

    def __init__(
        self,
        *,
        delays_s: tuple[float, float] = (0.0, 9.6),
        delay_step_s: float = 0.4,
        n_components: int | None = 32,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        n_folds: int = 5,
        n_threads: int | None = None,
    ) -> None:
        self.delays_s = delays_s
        self.delay_step_s = delay_step_s
        self.n_components = n_components
        self.alphas = alphas
        self.n_folds = n_folds
        self.n_threads = n_threads

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params``."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k != "alphas")
        return f"DelayedRidge({params})"

    # ------------------------------------------------------------------------- fit
    def fit(
        self,
        train_pairs: Sequence[Pair],
        validation_pairs: Sequence[Pair] | None = None,
        *,
        groups: Sequence[str] | None = None,
    ) -> DelayedRidge:
        """Fit the weights on the training pairs, choosing ``alpha`` on held-out data.

        Parameters
        ----------
        train_pairs : sequence of (TimeSeries, TimeSeries)
            ``(inputs, target)`` per training participant x song, as for
            :meth:`ChillsCNN.fit <frisson.models.ChillsCNN.fit>`.
        validation_pairs : sequence of (TimeSeries, TimeSeries), optional
            Pairs of validation participants: ``alpha`` minimises their squared error.
        groups : sequence of str, optional
            One label per training pair (its participant, or its song for a
            song-generalisation choice); used for grouped K-fold
            cross-validation when ``validation_pairs`` is None.

        Returns
        -------
        DelayedRidge
            ``self``, fitted.

        """
        if self.n_threads is not None:
            check_int("n_threads", self.n_threads, minimum=1)
        with _blas_threads(self.n_threads):
            return self._fit(train_pairs, validation_pairs, groups)

    def _fit(
        self,
        train_pairs: Sequence[Pair],
        validation_pairs: Sequence[Pair] | None,
        groups: Sequence[str] | None,
    ) -> DelayedRidge:
        low, high, step, alphas, n_folds = self._checked_params(validation_pairs, groups)
        train = check_pairs(train_pairs, "train_pairs")
        rate = train[0].inputs.rate_hz
        n_dims = train[0].inputs.n_channels
        steps = np.r_[np.arange(low, high, step), high]
        delays = np.unique(np.rint(steps * rate).astype(int))
        self.delays_frames_, self.rate_hz_, self.n_inputs_ = delays, rate, n_dims
        valid = (
            None
            if validation_pairs is None
            else check_pairs(validation_pairs, "validation_pairs", rate_hz=rate, n_dims=n_dims)
        )
        stacked = np.concatenate([g.inputs.values for g in train]).astype(np.float64)
        self.input_mean_ = stacked.mean(axis=0)
        scale = stacked.std(axis=0)
        self.input_scale_ = np.where(scale > 0, scale, 1.0)
        self.components_ = _principal_axes(
            (stacked - self.input_mean_) / self.input_scale_, self.n_components
        )
        train_stats = [self._pair_stats(g, "train_pairs") for g in train]
        n_pairs = sum(len(g.indices) for g in train)
        total = _total(train_stats)
        if valid is not None:
            weights, intercepts = _solve(total, alphas)
            held_out = _total([self._pair_stats(g, "validation_pairs") for g in valid])
            sse, count = _sse(weights, intercepts, held_out), float(held_out["n"])
        else:
            sse, count = _grouped_cv_sse(train_stats, groups, n_pairs, alphas, n_folds)
        self.scores_ = sse / count
        best = int(np.argmin(self.scores_))
        self.alpha_ = float(alphas[best])
        if best in (0, alphas.size - 1) and alphas.size > 1:
            logger.warning(
                "DelayedRidge: the best alpha %.3g is at the edge of the grid (%.3g-%.3g); "
                "widen alphas",
                self.alpha_,
                alphas.min(),
                alphas.max(),
            )
        if valid is None:  # refit on every training pair
            weights, intercepts = _solve(total, np.array([self.alpha_]))
            best = 0
        self.coef_, self.intercept_ = weights[:, best].copy(), float(intercepts[best])
        logger.info(
            "DelayedRidge: %d delays (%.2f-%.2f s) x %d components, alpha %.3g, "
            "%d distinct inputs, %d pairs",
            delays.size,
            delays[0] / rate,
            delays[-1] / rate,
            self.components_.shape[0],
            self.alpha_,
            len(train),
            n_pairs,
        )
        return self

    def _checked_params(
        self, validation_pairs: Sequence[Pair] | None, groups: Sequence[str] | None
    ) -> tuple[float, float, float, np.ndarray, int]:
        """Checked ``(low_s, high_s, step_s, alphas, n_folds)``; refuses ignored options."""
        low, high = check_range_s("delays_s", self.delays_s)
        if low < 0:
            raise ParameterError(
                f"delays_s={self.delays_s} has a negative delay: the model would use music "
                "after the response. Use delays >= 0."
            )
        step = check_positive("delay_step_s", self.delay_step_s)
        alphas = np.asarray(self.alphas, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(alphas > 0):
            raise ParameterError(f"alphas must be a non-empty list of values > 0, got {alphas}.")
        n_folds = check_int("n_folds", self.n_folds, minimum=2)
        if self.n_components is not None:
            check_int("n_components", self.n_components, minimum=1)
        if validation_pairs is not None and groups is not None:
            raise ParameterError(
                "Pass validation_pairs or groups, not both: alpha is chosen on the validation "
                "pairs when given, so groups would be ignored."
            )
        if validation_pairs is None and groups is None:
            raise ParameterError(
                "DelayedRidge.fit needs validation_pairs or groups to choose alpha; pass the "
                "validation participants' pairs, or one participant (or song) label per pair."
            )
        return low, high, step, alphas, n_folds

    def _design(self, inputs: TimeSeries, what: str) -> np.ndarray:
        """Delayed design matrix of one input, rows for frames ``max_delay .. n - 1``."""
        max_delay = int(self.delays_frames_[-1])
        n = inputs.n_times
        if n <= max_delay:
            raise DataError(
                f"{what} covers {inputs.duration_s:.2f} s ({n} frames), not longer than the "
                f"largest delay {max_delay / self.rate_hz_:.2f} s; use a longer series or "
                "smaller delays_s."
            )
        z = ((inputs.values - self.input_mean_) / self.input_scale_) @ self.components_.T
        return np.concatenate([z[max_delay - d : n - d] for d in self.delays_frames_], axis=1)

    def _pair_stats(self, group: InputGroup, what: str) -> list[dict[str, Any]]:
        """Sufficient statistics of each pair of one input group."""
        x = self._design(group.inputs, f"{what}[{group.indices[0]}] inputs")
        xtx, sx = x.T @ x, x.sum(axis=0)
        max_delay = int(self.delays_frames_[-1])
        stats = []
        for index, target in zip(group.indices, group.targets, strict=True):
            y = target[max_delay:]
            finite = np.isfinite(y)
            if finite.all():
                pair_xtx, pair_sx, xf, yf = xtx, sx, x, y
            else:
                missing = x[~finite]
                pair_xtx, pair_sx = xtx - missing.T @ missing, sx - missing.sum(axis=0)
                xf, yf = x[finite], y[finite]
            stats.append(
                {
                    "index": index,
                    "xtx": pair_xtx,
                    "sx": pair_sx,
                    "xty": xf.T @ yf,
                    "sy": float(yf.sum()),
                    "yty": float(yf @ yf),
                    "n": float(finite.sum()),
                }
            )
        return stats

    # --------------------------------------------------------------------- predict
    def predict(self, inputs: TimeSeries) -> TimeSeries:
        """Predict the target for one song's input series.

        Returns
        -------
        TimeSeries, shape (n_frames - max_delay, 1)
            Channel ``prediction`` at the input's rate, from the frame at the
            largest delay (``inputs.start_s + delays_s[1]``, rounded to
            frames) to the input's last frame.

        """
        if not hasattr(self, "coef_"):
            raise ParameterError("This DelayedRidge is not fitted yet; call fit first.")
        inputs = check_fitted_input(inputs, rate_hz=self.rate_hz_, n_inputs=self.n_inputs_)
        with _blas_threads(self.n_threads):
            values = self._design(inputs, "inputs") @ self.coef_ + self.intercept_
        start = inputs.start_s + self.delays_frames_[-1] / inputs.rate_hz
        return TimeSeries(values, inputs.rate_hz, start_s=start, names=["prediction"])


@contextlib.contextmanager
def _blas_threads(n_threads: int | None) -> Iterator[None]:
    """Limit BLAS threads to ``n_threads`` inside the block (nothing when None)."""
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads, user_api="blas"):
        yield


def _grouped_cv_sse(
    train_stats: list[list[dict[str, Any]]],
    groups: Sequence[str],
    n_pairs: int,
    alphas: np.ndarray,
    n_folds: int,
) -> tuple[np.ndarray, float]:
    """Squared error of every alpha pooled over grouped K-fold folds, and the rows scored."""
    labels = np.asarray([str(g) for g in groups])
    if labels.size != n_pairs:
        raise ParameterError(
            f"groups has {labels.size} labels for {n_pairs} train_pairs; pass one "
            "label (participant or song) per pair."
        )
    unique = np.unique(labels)
    if unique.size < 2:
        raise DataError("groups holds a single label; cross-validation needs at least 2 groups.")
    from sklearn.model_selection import GroupKFold

    sse, count = np.zeros(alphas.size), 0.0
    splitter = GroupKFold(n_splits=min(n_folds, unique.size))
    for fit_idx, test_idx in splitter.split(np.zeros(n_pairs), groups=labels):
        fold_weights, fold_intercepts = _solve(_subset(train_stats, set(fit_idx.tolist())), alphas)
        held_out = _subset(train_stats, set(test_idx.tolist()))
        sse += _sse(fold_weights, fold_intercepts, held_out)
        count += float(held_out["n"])
    return sse, count


def _principal_axes(standardised: np.ndarray, n_components: int | None) -> np.ndarray:
    """Leading eigenvectors of the covariance (rows), signs fixed; identity for None."""
    n_dims = standardised.shape[1]
    if n_components is None:
        return np.eye(n_dims)
    k = min(n_components, n_dims)
    covariance = standardised.T @ standardised / standardised.shape[0]
    values, vectors = np.linalg.eigh(covariance)
    axes = vectors[:, np.argsort(values)[::-1][:k]].T
    signs = np.sign(axes[np.arange(k), np.argmax(np.abs(axes), axis=1)])
    return axes * signs[:, np.newaxis]


def _flatten(stats: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [s for group in stats for s in group]


def _sum(items: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("xtx", "sx", "xty", "sy", "yty", "n")
    if not items:
        raise DataError("A cross-validation fold has no training pairs; use fewer folds.")
    total = {k: np.array(items[0][k], dtype=np.float64) for k in keys}
    for item in items[1:]:
        for k in keys:
            total[k] += item[k]
    return total


def _total(stats: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return _sum(_flatten(stats))


def _subset(stats: list[list[dict[str, Any]]], indices: set[int]) -> dict[str, Any]:
    return _sum([s for s in _flatten(stats) if s["index"] in indices])


def _solve(stats: dict[str, Any], alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred ridge solutions for every alpha: weights (p, n_alphas) and intercepts."""
    n = stats["n"]
    mean_x, mean_y = stats["sx"] / n, stats["sy"] / n
    covariance = stats["xtx"] - n * np.outer(mean_x, mean_x)
    cross = stats["xty"] - n * mean_x * mean_y
    values, vectors = np.linalg.eigh(covariance)
    projected = vectors.T @ cross
    weights = vectors @ (projected[:, np.newaxis] / (values[:, np.newaxis] + alphas))
    return weights, mean_y - mean_x @ weights


def _sse(weights: np.ndarray, intercepts: np.ndarray, test: dict[str, Any]) -> np.ndarray:
    """Squared error on the pairs summarised by ``test`` of each (weights, intercept) column."""
    w, b = weights, intercepts
    sse = (
        test["yty"]
        - 2 * (w.T @ test["xty"])
        - 2 * b * test["sy"]
        + np.einsum("pa,pq,qa->a", w, test["xtx"], w)
        + 2 * b * (w.T @ test["sx"])
        + test["n"] * b**2
    )
    return np.maximum(sse, 0.0)
