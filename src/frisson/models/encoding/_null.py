"""The permutation null of the layer profiles: studentised r, pooled over units, made cheap.

Why pooled
----------
With ``B`` permutations per unit the smallest p is ``1 / (B + 1)``, and
Benjamini-Hochberg at ``q`` over ``m`` units passes ``k`` discoveries only if
their p are below ``q k / m``: with 5 % of units responsive that is ``0.0025``
at ``q = .05``, out of reach of 100 permutations per unit (no unit passed in
that setting; see ``tests/test_encoding_null.py``). Pooling the null draws of
every unit of a layer (``B x n_units`` draws) gives p down to
``1 / (B n_units + 1)``. Pooling raw r would be wrong: the spread of a null r
grows with the autocorrelation of the response and of the prediction, so a
smooth unit would be compared with a null that is too narrow (liberal) and a
rough one with a null that is too wide. Each r is therefore **studentised**
first, divided by its standard deviation under phase randomisation given the
two spectra (:func:`studentised_r`), which makes the null of every unit about
N(0, 1) whatever its autocorrelation; the pooled empirical distribution of the
studentised draws then calibrates what remains (the statistic is only
approximately pivotal). Measured: p uniform (KS) on null units whose AR(1)
coefficients range 0-0.9, where pooled raw r is not (the test above).

Why the alphas are chosen again
-------------------------------
Each unit's penalty is chosen per outer fold by the inner leave-one-run-out
splits of the training runs. That choice never sees the fold's own test run,
but it sees the test runs of every other fold, and the scored ``r`` pools the
folds: on null data, units whose inner CV happens to find features that
predict other runs choose small alphas *and* get a larger pooled r. A null
that refits with the real alphas kept fixed misses that coupling. Measured on
``benchmarks/encoding_cli_power.py``'s voxels (9 musicnn layers, 20
permutations, 5227 null voxels): null units choosing the largest alpha in
under 20 % of folds x layers had their observed best-layer t above all 20 of
their own fixed-alpha draws 5.2 times as often as chance (1.0 expected), those
choosing it in over 80 % never; pooled, the best layer's p had 1.2-1.5 times
the nominal rate at .01-.005, as had the per-layer p below .001 and the
Bonferroni min-p x 9 (so the max over layers was not the culprit), and 8.2 %
of BH discoveries were false. With one fixed alpha (no choice) the same data's
p was calibrated. The pooled null therefore refits each permutation as the real
fit was fitted, alphas chosen again by the same inner splits
(:class:`FoldReselection`); the per-unit null keeps the real alphas
(:class:`FoldOperator`). Choosing again costs about one inner CV per unit and
permutation, so the pool draws from at most ``POOL_DRAWS / n_permutations``
randomly chosen units (and at least 1000; ``_profiles._pool_units``): a
random sample of the same mixture of units' null distributions.

Why cheap
---------
Phase randomisation of a run multiplies it by an orthogonal matrix ``R`` (the
same random phases for every column, the mean kept). Randomising every column
of a run's delayed design, ``X -> R X``, leaves its Gram matrix
``X'R'R X = X'X`` unchanged, so the ridge fit of a fold needs no new
decomposition: the weights on the randomised design are those of the real
design fitted to ``R'y``, and the held-out r of ``R X_test w`` with
``y_test`` is the r of ``X_test w`` with ``R'y_test``. Each permutation is
therefore the real fold's linear map, shared by all permutations, applied to
phase-randomised responses (``R'`` has uniform random phases as ``R`` has).
The phases are applied to the delayed design, circularly, where the former
null randomised the components and delayed them with zero fill; the two
differ only in the first few samples of each run.

With the alphas chosen again, each fold keeps the inner splits' decompositions
and scorers (:class:`FoldReselection`, the numpy ``eigh`` solver's own
steps), so a permutation costs the products with the responses only.

Per fold, the held-out prediction of a unit with penalty ``alpha`` is
``M_alpha y_train`` with ``M_alpha = X_test V (L + alpha)^-1 V' X_train'``;
:class:`FoldOperator` applies it in the eigenbasis (cost ``(n_train + n_test)
p`` per unit) or as the explicit ``n_test x n_train`` matrix when that is
smaller (``p`` large), in float32 (r changes by < 1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from frisson.models.encoding._solvers import (
    _EIGH_BATCH,
    _eigh_parts,
    _prepare_splits,
    _projector,
)

__all__ = [
    "FoldOperator",
    "FoldReselection",
    "pooled_p",
    "run_power",
    "studentised_r",
    "studentised_rows",
]


def run_power(y_runs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``|Y_f|^2`` of every run (rfft over time), the weights of :func:`studentised_r`.

    The mean (f = 0) gets weight 0 and an even run's Nyquist term half weight,
    as phase randomisation leaves the first fixed and gives the second a
    random sign.

    Examples
    --------
    >>> power = run_power([np.ones((4, 1))])
    >>> power[0].ravel().tolist()
    [0.0, 0.0, 0.0]

    """
    out = []
    for block in y_runs:
        power = np.abs(np.fft.rfft(block, axis=0)) ** 2
        power[0] = 0.0
        if block.shape[0] % 2 == 0:
            power[-1] *= 0.5
        out.append(power)
    return out


def studentised_r(
    r: np.ndarray,
    y_power: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    *,
    time_axis: int = 0,
) -> np.ndarray:
    """Divide r over the runs by by its standard deviation under phase randomisation.

    Parameters
    ----------
    r : ndarray, shape (n_units,)
        Pearson r of the concatenated runs, each run's response and prediction
        z-scored (``r = sum_k (n_k / N) r_k``, ``r_k`` the r of run ``k``).
    y_power : sequence of ndarray, shape (n_freqs_k, n_units)
        :func:`run_power` of each run's response.
    predictions : sequence of ndarray, shape (n_k, n_units)
        Each run's prediction z-scored in the run.
    time_axis : {0, 1}
        The axis of time (and of frequency in ``y_power``): 1 for units as rows,
        ``(n_units, n_k)``.

    Returns
    -------
    ndarray, shape (n_units,)
        ``r / sqrt(sum_k (n_k / N)^2 var_k)`` with
        ``var_k = 2 / n_k^4 sum_f |Y_f|^2 |P_f|^2``, the variance of ``r_k``
        when the phases of one series are uniform and independent (white
        noise: ``1 / n_k``). NaN where a prediction is constant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, p = rng.standard_normal((2, 400, 1))
    >>> t = studentised_r(np.array([0.1]), run_power([y]), [p])
    >>> bool(1.6 < t[0] < 2.4)  # about 0.1 * sqrt(400) for white series
    True

    """
    if time_axis not in (0, 1):
        raise ValueError(f"time_axis must be 0 or 1, got {time_axis!r}.")
    total = float(sum(p.shape[time_axis] for p in predictions))
    variance = np.zeros(np.shape(r))
    products = "fu,fu->u" if time_axis == 0 else "uf,uf->u"
    for power, prediction in zip(y_power, predictions, strict=True):
        n = prediction.shape[time_axis]
        p_power = np.abs(np.fft.rfft(prediction, axis=time_axis)) ** 2
        variance += (n / total) ** 2 * 2.0 / n**4 * np.einsum(products, power, p_power)
    return np.divide(r, np.sqrt(variance), out=np.full(np.shape(r), np.nan), where=variance > 0)


def studentised_rows(
    r: np.ndarray, y_power_rows: Sequence[np.ndarray], predictions: Sequence[np.ndarray]
) -> np.ndarray:
    """:func:`studentised_r` for units as rows, in float32 products (the null's draws).

    ``y_power_rows``: each run's ``|Y_f|^2`` as (n_units, n_freqs); ``predictions``:
    each run's z-scored prediction as (n_units, n_k). The same formula; equal to
    :func:`studentised_r` to float32 rounding (``tests/test_encoding_speed.py``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, p = rng.standard_normal((2, 400, 1))
    >>> t = studentised_r(np.array([0.1]), run_power([y]), [p])
    >>> rows = studentised_rows(np.array([0.1]), [run_power([y])[0].T], [p.T])
    >>> bool(np.allclose(rows, t, rtol=1e-5))
    True

    """
    total = float(sum(p.shape[1] for p in predictions))
    variance = np.zeros(np.shape(r))
    for power, prediction in zip(y_power_rows, predictions, strict=True):
        n = prediction.shape[1]
        spectrum = np.fft.rfft(prediction, axis=1)
        p_power = spectrum.real**2 + spectrum.imag**2
        variance += (n / total) ** 2 * 2.0 / n**4 * np.einsum("uf,uf->u", power, p_power)
    return np.divide(r, np.sqrt(variance), out=np.full(np.shape(r), np.nan), where=variance > 0)


def pooled_p(statistic: np.ndarray, null: np.ndarray) -> np.ndarray:
    """The p of each statistic against one null pooled over every unit and permutation.

    Parameters
    ----------
    statistic : ndarray, shape (..., n_units)
        Observed (studentised) statistics; NaN gives NaN.
    null : ndarray, shape (..., n_permutations, n_units)
        Null draws of the same statistic; the leading axes match ``statistic``'s
        and each leading index pools its own draws (e.g. one pool per layer).
        Non-finite draws (constant predictions) count as below every statistic.

    Returns
    -------
    ndarray, shape statistic.shape
        ``(1 + #(draws >= statistic)) / (1 + n_draws)``.

    Examples
    --------
    >>> pooled_p(np.array([[2.0, 0.0]]), np.array([[[1.0, -1.0], [0.5, 3.0]]])).tolist()
    [[0.4, 0.8]]

    """
    statistic = np.asarray(statistic, dtype=float)
    null = np.asarray(null, dtype=float)
    lead = statistic.shape[:-1]
    flat_stat = statistic.reshape(-1, statistic.shape[-1])
    flat_null = null.reshape(flat_stat.shape[0], -1)
    out = np.full(flat_stat.shape, np.nan)
    for i, (values, draws) in enumerate(zip(flat_stat, flat_null, strict=True)):
        pool = np.sort(np.where(np.isfinite(draws), draws, -np.inf))
        exceed = pool.size - np.searchsorted(pool, values, side="left")
        ok = np.isfinite(values)
        out[i, ok] = (1.0 + exceed[ok]) / (1.0 + pool.size)
    return out.reshape(*lead, statistic.shape[-1])


class FoldOperator:
    """The held-out prediction of one outer fold as a linear map of the training responses.

    Built once from the fold's real design (one eigendecomposition of the
    training Gram matrix, or the refit's own, passed as ``decomposition``) and
    the penalty chosen for each unit; applied to any responses (the
    phase-randomised ones of every permutation).

    Parameters
    ----------
    x_train : ndarray, shape (n_train, p)
    x_test : ndarray, shape (n_test, p)
    alpha_per_unit : ndarray, shape (n_units,)
    dtype : numpy dtype
        Precision of the products (float32 by default).
    decomposition : tuple of ndarray, optional
        ``(eigenvalues, V, x_test V)`` of ``x_train' x_train = V L V'`` (eigenvalues
        clipped at 0), as the eigh solver's refit computed it: then no second
        eigendecomposition (the same numbers as without it).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, x_test = rng.standard_normal((40, 3)), rng.standard_normal((5, 3))
    >>> y = x[:, :2] + rng.standard_normal((40, 2))
    >>> alphas = np.array([1.0, 10.0])
    >>> op = FoldOperator(x, x_test, alphas, dtype=np.float64)
    >>> solve = np.linalg.solve
    >>> ridge = [solve(x.T @ x + a * np.eye(3), x.T @ y[:, [u]]) for u, a in enumerate(alphas)]
    >>> bool(np.allclose(op(y), x_test @ np.hstack(ridge)))
    True
    >>> bool(np.allclose(op.apply_rows(y.T, slice(0, 0)), op(y).T))  # units as rows
    True

    """

    def __init__(
        self,
        x_train: np.ndarray,
        x_test: np.ndarray,
        alpha_per_unit: np.ndarray,
        *,
        dtype: type = np.float32,
        decomposition: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if decomposition is None:
            eigenvalues, vectors = np.linalg.eigh(x_train.T @ x_train)
            eigenvalues = np.maximum(eigenvalues, 0.0)
            b = x_test @ vectors
        else:
            eigenvalues, vectors, b = decomposition
        self.alpha_per_unit = np.asarray(alpha_per_unit, dtype=float)
        # units sorted by alpha, so that each alpha's units are one contiguous block
        self.order = np.argsort(self.alpha_per_unit, kind="stable")
        values, starts = np.unique(self.alpha_per_unit[self.order], return_index=True)
        stops = np.r_[starts[1:], self.order.size]
        self.groups = [
            (alpha, slice(int(a), int(b)))
            for alpha, a, b in zip(values, starts, stops, strict=True)
        ]
        self.sorted = bool(np.all(self.order == np.arange(self.order.size)))
        n_train, p = x_train.shape
        n_test = x_test.shape[0]
        # explicit matrices cost n_test * n_train per unit, the eigenbasis (n_train + n_test) * p
        self.explicit = n_test * n_train < (n_train + n_test) * p
        if self.explicit:
            z = x_train @ vectors
            self.matrices = {
                alpha: ((b / (eigenvalues + alpha)) @ z.T).astype(dtype) for alpha, _ in self.groups
            }
        else:
            self.z_t = (x_train @ vectors).T.astype(dtype)
            self.b = b.astype(dtype)
            self.eigenvalues = eigenvalues.astype(dtype)
        self.dtype = dtype
        self.n_test = n_test

    def __call__(self, y_train: np.ndarray) -> np.ndarray:
        """Predictions (n_test, n_units) of the ridge fitted to ``y_train`` (n_train, n_units)."""
        return self.blocks([y_train])

    def blocks(self, y_blocks: Sequence[np.ndarray]) -> np.ndarray:
        """As calling with ``np.concatenate(y_blocks)``, without the copy.

        ``y_blocks``: consecutive row blocks of the training responses (e.g. the
        runs before and after the test run, as views of all runs). Each block's
        columns are gathered once in the order of the units' alphas, so that
        every alpha is one product with a contiguous block of columns.
        """
        y_blocks = [np.asarray(y, dtype=self.dtype) for y in y_blocks if y.shape[0]]
        if not self.sorted:
            y_blocks = [np.take(y, self.order, axis=1) for y in y_blocks]
        edges = np.cumsum([0] + [y.shape[0] for y in y_blocks])
        out = np.empty((self.n_test, self.order.size), dtype=self.dtype)
        if self.explicit:
            for alpha, cols in self.groups:
                matrix = self.matrices[alpha]
                out[:, cols] = matrix[:, : edges[1]] @ y_blocks[0][:, cols]
                for i in range(1, len(y_blocks)):
                    out[:, cols] += matrix[:, edges[i] : edges[i + 1]] @ y_blocks[i][:, cols]
        else:
            a = self.z_t[:, : edges[1]] @ y_blocks[0]
            for i in range(1, len(y_blocks)):
                a += self.z_t[:, edges[i] : edges[i + 1]] @ y_blocks[i]
            for alpha, cols in self.groups:
                out[:, cols] = (self.b / (self.eigenvalues + self.dtype(alpha))) @ a[:, cols]
        if self.sorted:
            return out
        unsorted = np.empty_like(out)
        unsorted[:, self.order] = out
        return unsorted

    def apply_rows(
        self, y_rows: np.ndarray, test: slice, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Predictions as rows, (n_units, n_test), from responses as rows, (n_units, n_all).

        ``y_rows`` holds every run side by side (units as rows); the columns
        ``test`` (the held-out run) are left out, the others are the training
        samples in order. The same map as :meth:`blocks`, with units as rows so
        that each alpha's units are gathered as whole rows (contiguous copies)
        rather than as columns; equal to ``blocks(...).T`` to float32 rounding.
        ``out``: where to write them (e.g. a view of the columns of the test run).
        """
        start, stop = test.start, test.stop
        if out is None:
            out = np.empty((y_rows.shape[0], self.n_test), dtype=self.dtype)
        if not self.explicit:
            a = y_rows[:, :start] @ self.z_t[:, :start].T  # (n_units, p)
            a += y_rows[:, stop:] @ self.z_t[:, start:].T
        for alpha, cols in self.groups:
            units = self.order[cols]
            if self.explicit:
                rows = y_rows[cols] if self.sorted else np.take(y_rows, units, axis=0)
                matrix = self.matrices[alpha]
                part = rows[:, :start] @ matrix[:, :start].T
                part += rows[:, stop:] @ matrix[:, start:].T
            else:
                scaled = self.b / (self.eigenvalues + self.dtype(alpha))
                part = (a[cols] if self.sorted else np.take(a, units, axis=0)) @ scaled.T
            out[units] = part
        return out


class FoldReselection:
    """One outer fold refitted as the real fit was: each unit's alpha chosen again, then predicted.

    The pooled null's map of a fold (module notes, "Why the alphas are chosen
    again"): the inner leave-one-run-out splits of the real fit score every
    alpha on the (phase-randomised) training responses by their validation SSE,
    each unit takes the alpha of the best mean score, and the refit on all
    training runs with that alpha predicts the test run; the same steps, split
    scorers and decompositions as the numpy ``eigh`` solver's cross-validation
    (:func:`~frisson.models.encoding._solvers.solve_eigh_cv`), built once per fold
    and applied to every permutation. On the real responses it returns the real
    fit's alphas and predictions (``tests/test_encoding_pbest.py``). When the
    real fit ran himalaya's solvers (``device='cuda'``), the null still replays
    this rule (the validation SSE), which may choose differently from
    himalaya's own scoring for near-tied alphas.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, p)
    x_test : ndarray, shape (n_test, p)
    alphas : ndarray, shape (n_alphas,)
        The penalties the real fit tried.
    splits : sequence of (ndarray, ndarray)
        The fold's inner (train, validation) rows into ``x_train``.
    dtype : numpy dtype
        Precision of the products with the responses (float32 by default: the
        validation SSE moves by <= 2e-5 of its spread over the alphas, which can
        flip near-tied choices; the eigendecompositions stay float64).
    parts : tuple, optional
        The real fit's decompositions and scorers of these splits and of the
        refit (``_Solver.parts`` after the numpy ``eigh`` solver's ``cv`` on
        ``x_train``, ``x_test``, ``alphas``, ``splits``): reused, cast to
        ``dtype``, instead of decomposed again (the same numbers).

    Examples
    --------
    >>> from frisson.models.encoding import solve_eigh_cv
    >>> rng = np.random.default_rng(0)
    >>> x, x_test = rng.standard_normal((60, 3)), rng.standard_normal((5, 3))
    >>> y = x[:, :2] + rng.standard_normal((60, 2))
    >>> alphas, splits = np.array([0.1, 10.0, 1e4]), [(np.arange(30, 60), np.arange(30))]
    >>> best, prediction = FoldReselection(x, x_test, alphas, splits, dtype=np.float64).select(y)
    >>> real_best, real_prediction = solve_eigh_cv(x, y, x_test, alphas, splits)
    >>> bool(np.array_equal(best, real_best) and np.allclose(prediction, real_prediction))
    True

    """

    def __init__(
        self,
        x_train: np.ndarray,
        x_test: np.ndarray,
        alphas: np.ndarray,
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        *,
        dtype: type = np.float32,
        parts: tuple | None = None,
    ) -> None:
        self.primal = x_train.shape[0] >= x_train.shape[1]
        if parts is None:
            gram = x_train.T @ x_train if self.primal else None
            self.prepared, self.partition = _prepare_splits(x_train, alphas, splits, gram, dtype)
            self.eigenvalues, self.b, self.to_a = _eigh_parts(x_train, x_test, gram, dtype)
        else:
            self.prepared, self.partition, refit = _cast_parts(parts, dtype)
            self.eigenvalues, self.b, self.to_a = refit
        self.x_low = x_train.astype(dtype, copy=False)
        self.alphas = np.asarray(alphas, dtype=float)
        self.dtype, self.n_test = dtype, x_test.shape[0]

    def select(self, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each unit's alpha index (n_units,) and test prediction (n_test, n_units)."""
        n_units = y_train.shape[1]
        best = np.empty(n_units, dtype=int)
        out = np.empty((self.n_test, n_units))
        for start in range(0, n_units, _EIGH_BATCH):
            cols = slice(start, start + _EIGH_BATCH)
            best[cols], out[:, cols] = self._select_batch(y_train[:, cols])
        return best, out

    def _select_batch(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~frisson.models.encoding._solvers._eigh_cv`'s steps for one batch of units."""
        x_low, y_low = self.x_low, y.astype(self.dtype, copy=False)
        x_vy = [
            x_low[v].T @ y_low[v] if form == "parts" else None for _, v, form, *_ in self.prepared
        ]
        if self.partition:
            xty = sum(x_vy[1:], x_vy[0].copy())
        else:
            xty = x_low.T @ y_low if self.primal else None
        scores = np.zeros((self.alphas.size, y.shape[1]))
        for (train, validation, form, to_a, score), xvy in zip(self.prepared, x_vy, strict=True):
            if form == "parts":
                a_low = to_a.low(xty - xvy)
            else:
                a_low = to_a.low(
                    x_low[train].T @ y_low[train] if form == "primal" else y_low[train]
                )
            scores -= score(a_low, y[validation], y_low[validation])  # = to_a's float64 a
        best = np.argmax(scores / len(self.prepared), axis=0)
        a = self.to_a(xty if self.primal else y_low)
        out = np.empty((self.n_test, y.shape[1]))
        for i in np.unique(best):
            chosen = np.flatnonzero(best == i)
            out[:, chosen] = (self.b / (self.eigenvalues + self.alphas[i])) @ a[:, chosen]
        return best, out

    def apply_rows(
        self, y_rows: np.ndarray, test: slice, out: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`FoldOperator.apply_rows` with the alphas chosen again on ``y_rows``.

        ``y_rows``: every run side by side, units as rows; the columns ``test``
        are the held-out run, the others the training samples in order.
        """
        y_train = np.concatenate([y_rows[:, : test.start], y_rows[:, test.stop :]], axis=1).T
        _, prediction = self.select(np.ascontiguousarray(y_train))
        if out is None:
            out = np.empty((y_rows.shape[0], self.n_test), dtype=self.dtype)
        out[...] = prediction.T
        return out


def _cast_parts(parts: tuple, dtype: type) -> tuple[list[tuple], bool, tuple]:
    """The real fit's ``(prepared, partition, (eigenvalues, b, to_a))`` with products in ``dtype``.

    As :func:`~frisson.models.encoding._solvers._prepare_splits` and
    ``_eigh_parts`` build them with ``dtype`` (the float64 decompositions and
    scorers are shared, the low-precision copies made from them).
    """
    prepared, partition, (eigenvalues, b, to_a) = parts
    cast = [
        (train, validation, form, _projector(t.vectors, t.primal, dtype), scorer.cast(dtype))
        for train, validation, form, t, scorer in prepared
    ]
    return cast, partition, (eigenvalues, b, _projector(to_a.vectors, to_a.primal, dtype))
