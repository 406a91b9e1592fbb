"""Ridge solvers: plain functions in two registries, one penalty per target.

Every solver is a pair of plain functions, registered under its name:

- ``CV_SOLVERS[name](x, y, x_test, alphas, splits, **solver_params)``: choose
  one alpha per target from ``alphas`` by the inner folds ``splits`` (score:
  minus the validation sum of squared errors, averaged over folds, as
  himalaya's ``l2_neg_loss``), refit on all of ``x``, predict ``x_test``;
  returns ``(best alpha index per target, predictions)``.
- ``FIXED_ALPHA_SOLVERS[name](x, y, x_test, alpha_per_target, **solver_params)``:
  refit with a given alpha per target and predict ``x_test`` (the null's path).

No intercept: designs and responses are z-scored per run.

``solver="eigh"``: in numpy, one eigendecomposition per (inner or outer)
training set of ``X'X`` (primal, ``n_features <= n_samples``) or ``XX'`` (kernel),
shared by the whole alpha grid and every target (the scikit-learn approach).
``"primal"``: himalaya's ``RidgeCV`` / ``Ridge``. ``"kernel"``:
himalaya's ``KernelRidgeCV`` / ``KernelRidge`` with a linear kernel. ``"auto"``
picks by shape and device: on a GPU himalaya (backend ``torch_cuda``), primal
when ``n_features < n_samples`` else kernel; on the CPU ``eigh``, which
``benchmarks/encoding.py`` measured 15-60 times faster than himalaya's CPU
solvers for 10 and for 2000 targets (numbers in :func:`_auto_solver`).
On a machine busy with other work, limit BLAS threads to the free cores
(``threadpoolctl.threadpool_limits``): oversubscribed OpenBLAS threads made
a 200 x 200 ``eigh`` 14 times slower here (0.21 s on 2 threads, 0.015 s on 1).

``solver_params`` (as himalaya's estimators take them) go to the chosen
solver's functions; a key the solver's functions do not take, or a key the
caller passes itself (``x``, ``y``, ``x_test``, ``alphas``, ``splits``,
``alpha_per_target``), is refused. Every solver takes ``n_targets_batch``
(targets solved at once, to bound memory; default 4096 for ``eigh``, himalaya's
default, all at once, for the others).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((60, 3))
>>> y = x @ [[1.0], [0.0], [-1.0]] + 0.1 * rng.standard_normal((60, 1))
>>> splits = [(np.arange(30, 60), np.arange(30)), (np.arange(30), np.arange(30, 60))]
>>> best, prediction = CV_SOLVERS["eigh"](x, y, x[:2], np.array([0.1, 1e4]), splits)
>>> best.tolist(), bool(np.allclose(prediction[:, 0], x[:2, 0] - x[:2, 2], atol=0.1))
([0], True)

"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option
from frisson._optional import import_optional
from frisson.errors import ParameterError

__all__ = [
    "CV_SOLVERS",
    "DEFAULT_ALPHAS",
    "FIXED_ALPHA_SOLVERS",
    "check_solver_params",
    "solve_eigh",
    "solve_eigh_cv",
    "solve_kernel",
    "solve_kernel_cv",
    "solve_primal",
    "solve_primal_cv",
]

Solver = Literal["auto", "eigh", "primal", "kernel"]
Device = Literal["auto", "cpu", "cuda"]
SOLVERS = ("auto", "eigh", "primal", "kernel")  # the values of solver=
DEVICES = ("auto", "cpu", "cuda")

#: The ridge penalties tried by default, per target, by every ridge in frisson.models
#: (:func:`~frisson.models.encoding.fit_layer_profiles`,
#: :func:`~frisson.models.encoding.variance_partition` and
#: :class:`~frisson.models.DelayedRidge`): ``logspace(-2, 8, 21)``, half-decade
#: steps. The penalty's scale follows the design's Gram matrix: about ``n_samples``
#: per z-scored column for the encoding models (a few hundred to 10^4), about
#: ``n_pairs x n_frames`` for DelayedRidge's pooled sufficient statistics (10^4 to
#: 10^6), so one grid spans both. The encoding models used ``logspace(-1, 7, 17)``
#: before (the same half-decade points, 0.1 to 1e7): on planted data
#: (``tests/test_encoding.py``'s simulation, 3 layers x 50 units x 4 runs) 27 % of
#: the units chose 1e7, the top of that grid (the noise units); they now choose
#: 1e8, which changes their r by < 2e-5 (as alpha grows a ridge prediction tends to
#: a fixed direction, ``X X' y``) and leaves every other choice, p and q unchanged.
#: Cost: the eigh solver's per-alpha step runs 21 instead of 17 times (1050 x 350
#: design, 2000 targets, 7 inner folds, 1 BLAS thread: 0.8-1.1 s with 17 alphas,
#: 1.05-1.15 s with 21 on this busy machine).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 8, 21))

_DIRECT_PARAMS = ("x", "y", "x_test", "alphas", "splits", "alpha_per_target")
_EIGH_BATCH = 4096


def _check_alphas(alphas: Sequence[float]) -> np.ndarray:
    values = np.asarray(alphas, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ParameterError(f"alphas must be a non-empty list of values > 0, got {alphas!r}.")
    return np.unique(values)


# ------------------------------------------------------------------------------- eigh
#: Eigenvalue pairs closer than this (relative to the larger of the two and the smallest
#: alpha) are scored exactly per alpha, the others by partial fractions (_SplitScorer).
_CLOSE = 1e-4
_MAX_CLOSE_PAIRS = 8  # per eigenvalue; beyond, a split is scored by explicit predictions


def _eigh_parts(
    x: np.ndarray,
    x_test: np.ndarray,
    gram: np.ndarray | None = None,
    dtype: type = np.float64,
    *,
    shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Diagonalise the smaller Gram matrix of ``x`` once for every alpha.

    Returns ``(eigenvalues, b, to_a)`` such that the ridge prediction for
    ``x_test`` with penalty ``alpha`` is ``(b / (eigenvalues + alpha)) @ to_a(...)``:
    primal (``n >= p``): ``x'x = V L V'``, ``b = x_test V``, ``to_a(x'y) = V' x'y``
    (the caller forms ``x'y``, possibly by parts; ``gram``: ``x'x`` if known, and
    then ``x`` may be None with ``shape`` its shape);
    kernel (``n < p``): ``x x' = U L U'``, ``b = x_test x' U``, ``to_a(y) = U' y``.
    ``to_a`` projects in ``dtype`` and returns float64; ``to_a.vectors`` is ``V``
    (or ``U``), ``to_a.primal`` which of the two.
    """
    n, p = x.shape if shape is None else shape
    if n >= p:
        eigenvalues, vectors = np.linalg.eigh(x.T @ x if gram is None else gram)
        b = x_test @ vectors
    else:
        eigenvalues, vectors = np.linalg.eigh(x @ x.T)
        b = (x_test @ x.T) @ vectors

    return np.maximum(eigenvalues, 0.0), b, _projector(vectors, n >= p, dtype)


def _projector(vectors: np.ndarray, primal: bool, dtype: type) -> Any:
    """:func:`_eigh_parts`'s ``to_a``: ``vectors' @ values`` in ``dtype``, returned as float64.

    ``to_a.low(values)`` returns the product in ``dtype`` (the same numbers before the cast).
    """
    projection = vectors.T.astype(dtype, copy=False)

    def to_a(values: np.ndarray) -> np.ndarray:
        return np.asarray(projection @ values, dtype=np.float64)

    to_a.vectors, to_a.primal = vectors, primal  # type: ignore[attr-defined]
    to_a.low = projection.__matmul__  # type: ignore[attr-defined]
    return to_a


def _rows(index: np.ndarray) -> np.ndarray | slice:
    """``index`` as a slice when it is a run of consecutive rows (a view, not a copy)."""
    index = np.asarray(index)
    if index.ndim == 1 and index.size and np.all(np.diff(index) == 1):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


class _SplitScorer:
    """Validation SSE of every alpha for one inner split, without forming predictions.

    The validation prediction is ``b D a`` with ``D = diag(1 / (l + alpha))``, so
    ``SSE = |y|^2 - 2 sum_j c_j a_j / (l_j + alpha) + sum_jk G_jk a_j a_k /
    ((l_j + alpha)(l_k + alpha))`` with ``c = b'y`` and ``G = b'b``. By partial
    fractions, ``1 / ((l_j + alpha)(l_k + alpha)) = (1 / (l_j + alpha) - 1 / (l_k +
    alpha)) / (l_k - l_j)``, so the sum over pairs of distinct eigenvalues is
    ``2 sum_j a_j (H a)_j / (l_j + alpha)`` with ``H_jk = G_jk / (l_k - l_j)``: one
    product ``H a`` (``m^2`` per target) serves every alpha, where forming the
    predictions costs ``n_val m`` per target and alpha. Pairs of (near-)equal
    eigenvalues (``|l_j - l_k| <= 1e-4 max(l_j, l_k, min(alphas))``, the diagonal
    included), where the difference would lose precision, are summed exactly per
    alpha; a split with more than 8 such pairs per eigenvalue is scored by
    explicit predictions.
    """

    def __init__(
        self, eigenvalues: np.ndarray, b: np.ndarray, alphas: np.ndarray, dtype: type = np.float64
    ) -> None:
        lam = eigenvalues
        self.b = b
        self.b_low = b.astype(dtype)  # for c = b'y, in the precision of the target products
        self.inverse = 1.0 / (lam[np.newaxis, :] + alphas[:, np.newaxis])  # (n_alphas, m)
        difference = lam[np.newaxis, :] - lam[:, np.newaxis]  # [j, k] = l_k - l_j
        close = np.abs(difference) <= _CLOSE * np.maximum(np.maximum.outer(lam, lam), alphas.min())
        self.j, self.k = np.nonzero(close)
        self.explicit = self.j.size > _MAX_CLOSE_PAIRS * lam.size
        if not self.explicit:
            gram = b.T @ b
            self.h = np.divide(gram, difference, out=np.zeros_like(gram), where=~close)
            self.h_low = self.h.astype(dtype, copy=False)  # H a in the product precision
            self.pair_gram = gram[self.j, self.k][:, np.newaxis]
            self.pair_inverse = self.inverse[:, self.j] * self.inverse[:, self.k]

    def cast(self, dtype: type) -> _SplitScorer:
        """The scorer with its target products in ``dtype`` (as if built with it)."""
        scorer = copy.copy(self)
        scorer.b_low = self.b.astype(dtype)
        if not self.explicit:
            scorer.h_low = self.h.astype(dtype, copy=False)
        return scorer

    def __call__(
        self, a: np.ndarray, y_val: np.ndarray, y_val_low: np.ndarray | None = None
    ) -> np.ndarray:
        """SSE, shape (n_alphas, n_targets), of the coefficients ``a`` (m, n_targets).

        ``y_val_low``: ``y_val`` in the scorer's product precision (default
        ``y_val``). ``a`` may be float64 or already in the product precision (the
        sums are float64 either way, from the same values: a float32 ``a`` gives
        the numbers of its float64 copy).
        """
        y_low = y_val if y_val_low is None else y_val_low
        if self.explicit:
            return np.stack([((y_val - (self.b * w) @ a) ** 2).sum(axis=0) for w in self.inverse])
        total = np.einsum("ij,ij->j", y_val, y_val)
        a_low = a.astype(self.h_low.dtype, copy=False)
        # inverse @ (a (2 H a - 2 c)) in float64 as 2 (inverse @ ((H a - c) a)): the same
        # numbers (x2 is exact), with fewer passes over (m, n_targets) arrays
        weights = np.subtract(self.h_low @ a_low, self.b_low.T @ y_low, dtype=np.float64)
        weights *= a
        linear = self.inverse @ weights
        linear *= 2.0
        pairs = np.multiply(self.pair_gram, np.take(a, self.j, axis=0), dtype=np.float64)
        pairs *= np.take(a, self.k, axis=0)
        return total + linear + self.pair_inverse @ pairs


def _is_complement(n: int, train: np.ndarray, validation: np.ndarray) -> bool:
    """Whether ``train`` and ``validation`` partition ``range(n)`` (each row once)."""
    rows = np.zeros(n, dtype=int)
    np.add.at(rows, np.asarray(train, dtype=int), 1)
    np.add.at(rows, np.asarray(validation, dtype=int), 1)
    return bool(np.all(rows == 1))


def _prepare_splits(x, alphas, splits, gram, dtype) -> tuple[list[tuple], bool]:
    """Per split ``(train, validation, form, to_a, scorer)``; whether validations partition rows.

    When the validation sets partition the rows, ``x'y`` is the sum of the
    validation rows' ``x_v'y``.
    ``form``: ``"parts"`` (primal, the training set's ``x'x`` and ``x'y`` as the
    whole set's minus the validation rows'), ``"primal"`` or ``"kernel"`` (as
    :func:`_eigh_parts` decides for the training set). ``train`` and
    ``validation`` are slices where the rows are consecutive (views of x and y).
    """
    prepared = []
    for train, validation in splits:
        x_v = x[_rows(validation)]
        form = "primal" if len(train) >= x.shape[1] else "kernel"
        if form == "primal" and gram is not None and _is_complement(x.shape[0], train, validation):
            form = "parts"
        if form == "parts":  # x[train] is never formed
            shape = (len(train), x.shape[1])
            parts = _eigh_parts(None, x_v, gram - x_v.T @ x_v, dtype, shape=shape)
        else:
            parts = _eigh_parts(x[_rows(train)], x_v, None, dtype)
        prepared.append(
            (
                _rows(train),
                _rows(validation),
                form,
                parts[2],
                _SplitScorer(*parts[:2], alphas, dtype),
            )
        )
    covered = np.zeros(x.shape[0], dtype=int)
    for _, validation in splits:
        np.add.at(covered, np.asarray(validation, dtype=int), 1)
    partition = all(p[2] == "parts" for p in prepared) and bool(np.all(covered == 1))
    return prepared, partition


def solve_eigh_cv(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    n_targets_batch: int = _EIGH_BATCH,
    precision: Literal["float64", "float32"] = "float64",
) -> tuple[np.ndarray, np.ndarray]:
    """Choose one alpha per target by the inner splits, refit on all of x, predict x_test.

    One eigendecomposition per split and one for the refit serve every alpha and
    target. Primal designs (``n_samples >= n_features``) whose splits partition
    the rows (leave-one-run-out) get each training set's ``x'x`` and ``x'y`` as
    the whole set's minus the validation rows', and the whole set's ``x'y`` as
    the sum of the validation rows'. Each split scores every alpha without
    forming its predictions (:class:`_SplitScorer`), equal to the explicit
    ``sum((y_val - prediction)^2)`` to rounding (``tests/test_encoding_speed.py``).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_features)
        Training design.
    y : ndarray, shape (n_samples, n_targets)
        Training targets.
    x_test : ndarray, shape (n_test, n_features)
        Design to predict.
    alphas : ndarray, shape (n_alphas,)
        Penalties tried.
    splits : sequence of (ndarray, ndarray)
        Inner (train, validation) row indices into ``x``.
    n_targets_batch : int
        Targets scored at once (bounds memory).
    precision : {'float64', 'float32'}
        Precision of the products with the targets (``x'y``, the projections on
        the eigenvectors, the scorer's ``H a``); the eigendecompositions, ``H``
        itself and the sums over alphas stay float64. float32 halves the time
        of those products and moves each split's validation SSE by <= 2e-5 of
        its spread over the alpha grid (``tests/test_encoding_speed.py``: white,
        smooth and collinear designs), which can flip near-tied alpha choices
        (none of 2000 units in ``benchmarks/encoding.py``).

    Returns
    -------
    best : ndarray of int, shape (n_targets,)
        Index into ``alphas`` of the best mean score, ``-sum((y_val - pred)^2)``.
    prediction : ndarray, shape (n_test, n_targets)

    Examples
    --------
    >>> x = np.eye(4)
    >>> best, pred = solve_eigh_cv(x, x[:, :1], x, np.array([1.0]), [([0, 1], [2, 3])])
    >>> best.tolist(), pred[:, 0].tolist()  # 1 / (1 + alpha) on the target's own row
    ([0], [0.5, 0.0, 0.0, 0.0])

    """
    batch = check_int("n_targets_batch", n_targets_batch, minimum=1)
    dtype = np.dtype(check_option("precision", precision, ("float64", "float32"))).type
    best, out, _, _ = _eigh_cv(x, y, x_test, alphas, splits, batch, dtype)
    return best, out


def _eigh_cv(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    batch: int,
    dtype: type,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None, tuple]:
    """:func:`solve_eigh_cv` (checked arguments), also returning the refit's decomposition.

    The third value is ``(eigenvalues, V, x_test V)`` of the refit's ``x'x = V L V'``
    (primal designs; None for kernel ones), for the null's
    :class:`~frisson.models.encoding._null.FoldOperator` to reuse; the fourth
    ``(prepared, partition, (eigenvalues, b, to_a))``, every split's and the
    refit's parts, for :class:`~frisson.models.encoding._null.FoldReselection`.
    """
    primal = x.shape[0] >= x.shape[1]
    gram = x.T @ x if primal else None
    prepared, partition = _prepare_splits(x, alphas, splits, gram, dtype)
    eigenvalues, b, to_a = _eigh_parts(x, x_test, gram, dtype)
    x_low = x.astype(dtype, copy=False)
    best = np.empty(y.shape[1], dtype=int)
    out = np.empty((x_test.shape[0], y.shape[1]))
    for start in range(0, y.shape[1], batch):
        cols = slice(start, start + batch)
        y_batch = y[:, cols]
        y_low = y_batch.astype(dtype, copy=False)
        x_vy = [x_low[v].T @ y_low[v] if form == "parts" else None for _, v, form, *_ in prepared]
        if partition:
            xty = sum(x_vy[1:], x_vy[0].copy())
        else:
            xty = x_low.T @ y_low if primal else None
        scores = np.zeros((alphas.size, y_batch.shape[1]))
        for (train, validation, form, to_a_split, score), xvy in zip(prepared, x_vy, strict=True):
            if form == "parts":
                a = to_a_split(xty - xvy)
            else:
                a = to_a_split(x_low[train].T @ y_low[train] if form == "primal" else y_low[train])
            scores -= score(a, y_batch[validation], y_low[validation])
        best[cols] = np.argmax(scores / len(splits), axis=0)
        a = to_a(xty if primal else y_low)
        for i in np.unique(best[cols]):
            chosen = np.flatnonzero(best[cols] == i)
            out[:, start + chosen] = (b / (eigenvalues + alphas[i])) @ a[:, chosen]
    decomposition = (eigenvalues, to_a.vectors, b) if primal else None
    return best, out, decomposition, (prepared, partition, (eigenvalues, b, to_a))


def solve_eigh(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alpha_per_target: np.ndarray,
    *,
    n_targets_batch: int = _EIGH_BATCH,
    precision: Literal["float64", "float32"] = "float64",
) -> np.ndarray:
    """Ridge fitted on (x, y) with one alpha per target; predictions for x_test.

    Returns
    -------
    ndarray, shape (n_test, n_targets)
        ``x_test @ (x'x + alpha I)^-1 x' y`` per target, through one
        eigendecomposition shared by every alpha.

    Examples
    --------
    >>> x = np.eye(3)
    >>> solve_eigh(x, x, x[:1], np.array([1.0, 3.0, 1.0]))
    array([[0.5, 0. , 0. ]])

    """
    batch = check_int("n_targets_batch", n_targets_batch, minimum=1)
    dtype = np.dtype(check_option("precision", precision, ("float64", "float32"))).type
    eigenvalues, b, to_a = _eigh_parts(x, x_test, dtype=dtype)
    x_low, y_low = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    a = to_a(x_low.T @ y_low if x.shape[0] >= x.shape[1] else y_low)
    out = np.empty((x_test.shape[0], y.shape[1]))
    for alpha in np.unique(alpha_per_target):
        cols = np.flatnonzero(alpha_per_target == alpha)
        for start in range(0, cols.size, batch):
            part = cols[start : start + batch]
            out[:, part] = (b / (eigenvalues + alpha)) @ a[:, part]
    return out


# --------------------------------------------------------------------------- himalaya
def _nearest(chosen: Any, alphas: np.ndarray, backend: Any) -> np.ndarray:
    """Index into ``alphas`` of each alpha himalaya chose (nearest in log)."""
    values = np.asarray(backend.to_numpy(chosen), dtype=float)
    return np.argmin(np.abs(np.log(values[:, np.newaxis]) - np.log(alphas)), axis=1)


def solve_primal_cv(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    n_targets_batch: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`solve_eigh_cv` with himalaya's ``RidgeCV`` (current himalaya backend)."""
    import_optional("himalaya")  # the [fmri] extra
    from himalaya.backend import get_backend
    from himalaya.ridge import RidgeCV

    backend = get_backend()
    params = {"warn": False, "n_targets_batch": n_targets_batch}
    model = RidgeCV(alphas=alphas, cv=list(splits), solver_params=params)
    model.fit(x, y)
    prediction = np.asarray(backend.to_numpy(model.predict(x_test)), dtype=float)
    return _nearest(model.best_alphas_, alphas, backend), prediction


def solve_kernel_cv(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    n_targets_batch: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`solve_eigh_cv` with himalaya's linear ``KernelRidgeCV``."""
    import_optional("himalaya")  # the [fmri] extra
    from himalaya.backend import get_backend
    from himalaya.kernel_ridge import KernelRidgeCV

    backend = get_backend()
    model = KernelRidgeCV(
        alphas=alphas,
        kernel="linear",
        cv=list(splits),
        warn=False,
        solver_params={"n_targets_batch": n_targets_batch},
    )
    model.fit(x, y)
    prediction = np.asarray(backend.to_numpy(model.predict(x_test)), dtype=float)
    return _nearest(model.best_alphas_, alphas, backend), prediction


def solve_primal(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alpha_per_target: np.ndarray,
    *,
    n_targets_batch: int | None = None,
) -> np.ndarray:
    """As :func:`solve_eigh` with himalaya's ``Ridge``."""
    import_optional("himalaya")  # the [fmri] extra
    from himalaya.backend import get_backend
    from himalaya.ridge import Ridge

    model = Ridge(alpha=alpha_per_target, solver_params={"n_targets_batch": n_targets_batch})
    model.fit(x, y)
    return np.asarray(get_backend().to_numpy(model.predict(x_test)), dtype=float)


def solve_kernel(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    alpha_per_target: np.ndarray,
    *,
    n_targets_batch: int | None = None,
) -> np.ndarray:
    """As :func:`solve_eigh` with himalaya's linear ``KernelRidge`` (eigenvalues solver)."""
    import_optional("himalaya")  # the [fmri] extra
    from himalaya.backend import get_backend
    from himalaya.kernel_ridge import KernelRidge

    model = KernelRidge(
        alpha=alpha_per_target,
        kernel="linear",
        solver="eigenvalues",
        solver_params={"n_targets_batch": n_targets_batch},
        warn=False,
    )
    model.fit(x, y)
    return np.asarray(get_backend().to_numpy(model.predict(x_test)), dtype=float)


#: Solver name -> choose alpha per target by inner folds, refit, predict.
CV_SOLVERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "eigh": solve_eigh_cv,
    "primal": solve_primal_cv,
    "kernel": solve_kernel_cv,
}
#: Solver name -> refit with a given alpha per target, predict (the null's path).
FIXED_ALPHA_SOLVERS: dict[str, Callable[..., np.ndarray]] = {
    "eigh": solve_eigh,
    "primal": solve_primal,
    "kernel": solve_kernel,
}


# ----------------------------------------------------------------------- the choice
def check_solver_params(
    solver: str, solver_params: Mapping[str, Any] | None, device: str = "cpu"
) -> dict[str, Any]:
    """Check ``solver_params`` against the functions ``solver`` may run.

    A key must be a keyword-only parameter of both registered functions of
    every solver that can run (``solver="auto"``: ``eigh`` on the CPU,
    ``primal`` and ``kernel`` on a GPU), so that no setting is silently ignored;
    a key the caller passes itself is refused.

    Parameters
    ----------
    solver : {'auto', 'eigh', 'primal', 'kernel'}
        The solver name.
    solver_params : mapping of str to value, or None
        Settings for the solver's functions.
    device : {'cpu', 'cuda'}
        The resolved device (decides what ``'auto'`` may run).

    Returns
    -------
    dict
        A copy of ``solver_params`` ({} for None).

    Examples
    --------
    >>> check_solver_params("eigh", {"n_targets_batch": 512})
    {'n_targets_batch': 512}
    >>> check_solver_params("eigh", {"alphas": [1.0]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    frisson.errors.ParameterError: solver_params={'alphas': ...} holds alphas, which ...

    """
    check_option("solver", solver, SOLVERS)
    if solver_params is not None and not isinstance(solver_params, Mapping):
        raise ParameterError(
            f"solver_params must be a dict of solver settings (e.g. "
            f"{{'n_targets_batch': 1024}}), got {type(solver_params)}."
        )
    params = dict(solver_params or {})
    direct = sorted(set(params) & set(_DIRECT_PARAMS))
    if direct:
        raise ParameterError(
            f"solver_params={params!r} holds {', '.join(direct)}, which the encoding model "
            "passes to the solver itself (alphas= is a parameter of its own); remove them "
            "from solver_params."
        )
    if solver != "auto":
        names = [solver]
    else:
        names = ["primal", "kernel"] if device == "cuda" else ["eigh"]
    valid = None
    for name in names:
        for function in (CV_SOLVERS[name], FIXED_ALPHA_SOLVERS[name]):
            keys = {
                p.name
                for p in inspect.signature(function).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY
            }
            valid = keys if valid is None else valid & keys
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ParameterError(
            f"solver_params key(s) {', '.join(unknown)} are not settings of solver={solver!r} "
            f"(on {device}); valid keys: {', '.join(sorted(valid)) or 'none'}."
        )
    return params


@contextlib.contextmanager
def _himalaya_backend(name: str) -> Iterator[Any]:
    """Set himalaya's global backend inside the block and restore the previous one."""
    import_optional("himalaya")  # the [fmri] extra
    from himalaya.backend import get_backend, set_backend

    previous = get_backend()
    backend = set_backend(name, on_error="raise")
    try:
        yield backend
    finally:
        set_backend(previous)


def _resolve_device(device: str) -> str:
    check_option("device", device, DEVICES)
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError("device='cuda' but torch sees no CUDA GPU; use device='cpu'.")
    return device


def _auto_solver(n_samples: int, n_features: int, n_targets: int, device: str) -> str:
    """The solver for one problem shape.

    On a GPU: himalaya (torch_cuda), primal when ``n_features < n_samples``, else
    kernel (not measured here: no GPU was available). On the CPU: the numpy
    ``eigh`` solver for every shape and target count. Measured by
    ``benchmarks/encoding.py`` (one outer fold, 7 inner leave-one-run-out folds,
    17 alphas, 1 BLAS thread, a shared and busy 2-core machine, CPU seconds):
    primal-shaped 1050 x 350, 10 targets: eigh 0.21, himalaya RidgeCV 13.2,
    KernelRidgeCV 26.6; 2000 targets: eigh 1.5, RidgeCV 31.3, KernelRidgeCV 47.8;
    kernel-shaped 1050 x 2100, 10 targets: eigh 2.3 (himalaya: see
    benchmarks/results/encoding.json). himalaya builds one (features x samples)
    solution matrix per alpha; eigh shares one eigendecomposition and applies
    ``1 / (eigenvalue + alpha)`` per alpha to the projected targets.
    """
    del n_targets  # measured: eigh wins for few and for many targets
    if device == "cuda":
        return "primal" if n_features < n_samples else "kernel"
    return "eigh"


class _Solver:
    """One solver choice with its backend: ``cv`` (choose alpha, predict) and ``predict``.

    A context manager: inside the block himalaya's backend is the device's
    (``numpy`` or ``torch_cuda``), restored on exit.
    """

    def __init__(
        self, solver: str, device: str, solver_params: Mapping[str, Any] | None = None
    ) -> None:
        self.solver = check_option("solver", solver, SOLVERS)
        self.device = _resolve_device(device)
        if self.solver == "eigh" and self.device == "cuda":
            raise ParameterError(
                "solver='eigh' runs in numpy on the CPU; with device='cuda' use solver='auto', "
                "'primal' or 'kernel' (himalaya on torch_cuda), or pass device='cpu'."
            )
        self.params = check_solver_params(self.solver, solver_params, self.device)
        self.dtype = np.float32 if self.device == "cuda" else np.float64
        self._stack = contextlib.ExitStack()
        self._backend_name = "torch_cuda" if self.device == "cuda" else "numpy"
        self.backend: Any = None
        self.used: set[str] = set()
        self.decomposition: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.parts: tuple | None = None

    def __enter__(self) -> _Solver:
        self.backend = self._stack.enter_context(_himalaya_backend(self._backend_name))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def kind(self, x: np.ndarray, y: np.ndarray) -> str:
        if self.solver != "auto":
            return self.solver
        return _auto_solver(x.shape[0], x.shape[1], y.shape[1], self.device)

    def _cast(self, kind: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        if kind == "eigh":
            return arrays
        return tuple(a.astype(self.dtype, copy=False) for a in arrays)

    def cv(self, x, y, x_test, alphas, splits) -> tuple[np.ndarray, np.ndarray]:
        """Best alpha index per target and predictions; ``self.decomposition`` as it goes.

        ``self.decomposition``: ``(eigenvalues, V, x_test V)`` of the refit on all
        of ``x`` when the registered numpy ``eigh`` solver ran on a primal design
        (the null's fold operator reuses it), else None; ``self.parts``: every
        inner split's and the refit's decompositions and scorers when the numpy
        ``eigh`` solver ran (:class:`~frisson.models.encoding._null.FoldReselection`
        reuses them), else None.
        """
        kind = self.kind(x, y)
        self.used.add(kind)
        x, y, x_test = self._cast(kind, x, y, x_test)
        self.decomposition = self.parts = None
        if CV_SOLVERS[kind] is solve_eigh_cv:  # not replaced in the registry
            params = {"n_targets_batch": _EIGH_BATCH, "precision": "float64"} | self.params
            batch = check_int("n_targets_batch", params["n_targets_batch"], minimum=1)
            precision = check_option("precision", params["precision"], ("float64", "float32"))
            best, out, self.decomposition, self.parts = _eigh_cv(
                x, y, x_test, alphas, splits, batch, np.dtype(precision).type
            )
            return best, out
        return CV_SOLVERS[kind](x, y, x_test, alphas, splits, **self.params)

    def predict(self, x, y, x_test, alpha_per_target) -> np.ndarray:
        kind = self.kind(x, y)
        x, y, x_test, alpha_per_target = self._cast(kind, x, y, x_test, alpha_per_target)
        return FIXED_ALPHA_SOLVERS[kind](x, y, x_test, alpha_per_target, **self.params)
