"""The lag search over DCT surrogates as one matrix product (``feature_correlations``' fast path).

A DCT surrogate of a series ``y`` (``null="dct"`` in :mod:`frisson.latent`) is
``s_k = C^T (c * g_k)``: ``c = C y`` the orthonormal DCT-II coefficients of ``y``
and ``g_k`` the surrogate's Gaussian multipliers (``g_k[0] = 1``). ``C`` is
orthogonal, so every quantity the lagged Pearson r needs is linear in ``g_k``
except one sum of squares, which Parseval gives:

- the cross products ``sum_t x[t] s_k[t - L] = <C u_L, c * g_k>``, with ``u_L`` the
  series ``x`` moved by the lag (zeros where it does not overlap ``s_k``);
- the samples of ``s_k`` at the ends of the series, ``s_k[t] = <C e_t, c * g_k>``,
  which the lags leave out of the overlap: the sums of ``s_k`` and ``s_k^2`` over
  each lag's overlap are the whole-series sums minus those end samples;
- ``sum_t s_k[t]^2 = sum_j (c_j g_kj)^2`` and, with ``c_0`` set to 0 (the centred
  surrogate, as the reference centres each surrogate), ``sum_t s_k[t] = 0``.

So for one feature and a batch of surrogates all lags of all PCs come from one
product ``(G * c) @ B^T``, with ``B`` the DCTs of the moved PCs and of the end unit
vectors, computed once for every feature. The surrogates themselves are never
built, and no FFT runs per surrogate. This is the same statistic as
``frisson.latent._lagged_pearson`` on the built surrogates, up to rounding
(float64 throughout; ``tests/test_lagcorr.py`` holds the two to 1e-9 in r).
"""

from __future__ import annotations

import numpy as np

#: Surrogates multiplied at once (an hour at 21.5 Hz: 64 x 77 000 float64 = 40 MB).
_BATCH = 64
#: Largest basis ``B`` (PCs x lags + end samples, by series length) kept in memory;
#: beyond it (lags reaching far into a long series) the caller builds the surrogates.
MAX_BASIS_BYTES = 400 * 2**20


class DctLagSearch:
    """``max |r|`` over lags of each PC against DCT surrogates of a feature, for many features.

    Parameters
    ----------
    xs : ndarray, shape (n_x, n_times)
        The PCs (finite).
    lags : ndarray of int, shape (n_lags,)
        Lags in samples; r at lag ``L`` is ``corr(x(t), s(t - L))`` over the overlap.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> xs, y = rng.standard_normal((2, 200)), rng.standard_normal(200)
    >>> draw = rng.standard_normal((5, 200)).astype(np.float32)
    >>> draw[:, 0] = 1.0
    >>> search = DctLagSearch(xs, np.arange(-3, 4))
    >>> search.null_max_abs_r(y, draw).shape
    (2, 5)

    """

    def __init__(self, xs: np.ndarray, lags: np.ndarray) -> None:
        from scipy import fft

        xs = np.asarray(xs, dtype=np.float64)
        self.lags = np.asarray(lags, dtype=np.int64)
        self.n_x, self.n = xs.shape
        n, n_lags = self.n, self.lags.size
        self.n_head = max(0, -int(self.lags.min()))  # first samples some lag leaves out
        self.n_tail = max(0, int(self.lags.max()))  # last samples some lag leaves out
        xs = xs - xs.mean(axis=1, keepdims=True)
        basis = np.zeros((self.n_x * n_lags + self.n_head + self.n_tail, n))
        for i, x in enumerate(xs):
            rows = basis[i * n_lags : (i + 1) * n_lags]
            for row, lag in zip(rows, self.lags, strict=True):
                # u_L[t] = x[t + L] where 0 <= t + L < n
                lo, hi = max(0, -lag), min(n, n - lag)
                row[lo:hi] = x[lo + lag : hi + lag]
            rows[:] = fft.dct(rows, norm="ortho", axis=1)
        ends = basis[self.n_x * n_lags :]
        positions = np.r_[np.arange(self.n_head), np.arange(n - self.n_tail, n)]
        ends[np.arange(positions.size), positions] = 1.0
        ends[:] = fft.dct(ends, norm="ortho", axis=1)
        self.basis = basis
        # Overlap of each lag and the sums of x over it (as the reference computes them).
        x_lo, x_hi = np.maximum(0, self.lags), np.minimum(n, n + self.lags)
        self.m = (x_hi - x_lo).astype(float)
        cx = np.pad(np.cumsum(xs, axis=1), ((0, 0), (1, 0)))
        cxx = np.pad(np.cumsum(xs**2, axis=1), ((0, 0), (1, 0)))
        self.sx = cx[:, x_hi] - cx[:, x_lo]  # (n_x, n_lags)
        self.var_x = (cxx[:, x_hi] - cxx[:, x_lo]) - self.sx**2 / self.m

    @staticmethod
    def basis_bytes(n_x: int, n_times: int, lags: np.ndarray) -> int:
        """Memory of the basis for these sizes (to choose between this and the reference)."""
        lags = np.asarray(lags)
        rows = n_x * lags.size + max(0, -int(lags.min())) + max(0, int(lags.max()))
        return 8 * rows * n_times

    def null_max_abs_r(self, y: np.ndarray, draw: np.ndarray) -> np.ndarray:
        """``max_L |r|`` of every PC with every surrogate of ``y``, shape ``(n_x, n_surrogates)``.

        ``draw`` holds the DCT multipliers, shape ``(n_surrogates, n_times)``
        (``draw[:, 0]`` is ignored: the surrogates are centred, as r is shift invariant).
        """
        from scipy import fft

        coef = fft.dct(np.asarray(y, dtype=np.float64), norm="ortho")
        coef[0] = 0.0
        out = np.empty((self.n_x, draw.shape[0]))
        buffer = np.empty((min(_BATCH, draw.shape[0]), self.n))
        for start in range(0, draw.shape[0], _BATCH):
            batch = draw[start : start + _BATCH]
            scaled = np.multiply(batch, coef, out=buffer[: batch.shape[0]])  # float64
            out[:, start : start + batch.shape[0]] = self._batch(scaled)
        return out

    def _batch(self, scaled: np.ndarray) -> np.ndarray:
        """``max_L |r|`` for one batch of surrogates given as scaled coefficients ``c * g``."""
        n_lags, n_cross = self.lags.size, self.n_x * self.lags.size
        product = scaled @ self.basis.T  # (n_batch, n_cross + n_ends)
        sxy = product[:, :n_cross].reshape(-1, self.n_x, n_lags)
        ends = product[:, n_cross:]
        head, tail = ends[:, : self.n_head], ends[:, self.n_head :]
        total_sq = np.einsum("ij,ij->i", scaled, scaled)[:, np.newaxis]
        sy = np.zeros((scaled.shape[0], n_lags))
        syy = np.repeat(total_sq, n_lags, axis=1)
        # lag L < 0 leaves out the first |L| samples, L > 0 the last L
        for lag_index, lag in enumerate(self.lags):
            if lag < 0:
                left_out = head[:, :-lag]
            elif lag > 0:
                left_out = tail[:, tail.shape[1] - lag :]
            else:
                continue
            sy[:, lag_index] = -left_out.sum(axis=1)
            syy[:, lag_index] -= np.einsum("ij,ij->i", left_out, left_out)
        var_y = syy - sy**2 / self.m
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (sxy - self.sx * sy[:, np.newaxis, :] / self.m) / np.sqrt(
                self.var_x * var_y[:, np.newaxis, :]
            )
        r = np.clip(np.nan_to_num(r), -1.0, 1.0)
        return np.abs(r).max(axis=2).T


def dct_lag_search(xs: np.ndarray, lags: np.ndarray) -> DctLagSearch | None:
    """A :class:`DctLagSearch` for these PCs and lags, or None where its basis would not fit.

    None (the caller then builds the surrogates and uses FFTs) when the basis
    would exceed :data:`MAX_BASIS_BYTES`, i.e. lags reaching far into a long series.

    Examples
    --------
    >>> import numpy as np
    >>> dct_lag_search(np.zeros((3, 100)), np.arange(-5, 6)).basis.shape
    (43, 100)

    """
    if DctLagSearch.basis_bytes(xs.shape[0], xs.shape[1], lags) > MAX_BASIS_BYTES:
        return None
    return DctLagSearch(xs, lags)
