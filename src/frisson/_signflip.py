"""Sign-flip permutation tests over independent units (songs, participants).

Under the null each unit's value is symmetric about 0 and independent of the
others, so flipping the signs of whole units gives the null distribution of
any statistic of them; with every ``2**n`` pattern the test is exact.
"""

from __future__ import annotations

import numpy as np

from frisson._check import rng_from_seed


def sign_patterns(n: int, n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Rows of +-1, the observed pattern (all +1) first; all ``2**n`` when that fits.

    Examples
    --------
    >>> signs, exact = sign_patterns(3, 100, seed=0)
    >>> signs.shape, exact, signs[0].tolist()
    ((8, 3), True, [1.0, 1.0, 1.0])

    """
    if 2**n <= n_permutations:
        codes = np.arange(2**n)[:, None] >> np.arange(n)[None, :] & 1
        return 1.0 - 2.0 * codes, True
    rng = rng_from_seed(seed)
    random = rng.choice([-1.0, 1.0], size=(n_permutations - 1, n))
    return np.vstack([np.ones((1, n)), random]), False


def signflip_t(signs: np.ndarray, data: np.ndarray) -> np.ndarray:
    """One-sample t of ``signs[k] * data`` per column for every pattern k.

    ``data`` has shape (n_units, n_columns); the sum of squares is the same
    for every pattern, so only the mean changes. Returns (n_patterns, n_columns).

    Examples
    --------
    >>> signs, _ = sign_patterns(2, 10, seed=0)
    >>> signflip_t(signs, np.array([[1.0], [3.0]]))[:, 0].tolist()
    [2.0, 0.5, -0.5, -2.0]

    """
    n = data.shape[0]
    mean = signs @ data / n
    squares = (data**2).sum(axis=0) / n
    var = (squares[None, :] - mean**2) * n / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / np.sqrt(var / n)
    return np.where(var > 0, t, 0.0)


def signflip_p(values: np.ndarray, *, n_permutations: int = 10000, seed: int = 0) -> float:
    """One-sided (mean > 0) sign-flip p of the one-sample t of ``values``.

    ``(#patterns with t >= observed t) / n_patterns``, the observed pattern
    included; exact (every pattern) up to ``log2(n_permutations)`` units.
    NaN for fewer than 2 values.

    Examples
    --------
    >>> signflip_p(np.array([0.5, 1.0, 1.5, 2.0]))  # all positive: the smallest p, 1/16
    0.0625
    >>> signflip_p(np.array([0.5, -1.0, 1.5, -2.0])) > 0.5
    True

    """
    values = np.asarray(values, dtype=float)
    if values.size < 2 or not np.isfinite(values).all():
        return float("nan")
    signs, _ = sign_patterns(values.size, n_permutations, seed)
    t = signflip_t(signs, values[:, np.newaxis])[:, 0]
    return float(np.mean(t >= t[0] - 1e-12 * max(1.0, abs(t[0]))))
