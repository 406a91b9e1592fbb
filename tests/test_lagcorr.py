"""The DCT lag search as one matrix product equals the reference built from surrogates.

The reference is ``frisson.latent._lagged_pearson`` on the surrogates that
``_apply_surrogates`` builds (one FFT cross-correlation per PC and surrogate);
the fast path (``frisson._lagcorr``) never builds them. Both are float64, so they
are held to 1e-9 in r (they agree to about 1e-14).
"""

from __future__ import annotations

import numpy as np
import pytest

from frisson import _lagcorr, latent
from frisson._check import rng_from_seed
from frisson.timeseries import TimeSeries

TOL_R = 1e-9


def _reference_null_max(xs, y, draw, lags):
    surrogates = latent._apply_surrogates("dct", y, draw)
    return np.abs(latent._lagged_pearson(xs, surrogates, lags)).max(axis=2)


@pytest.mark.parametrize(
    ("n", "lags"),
    [
        (300, np.arange(-7, 8)),  # symmetric
        (301, np.arange(-9, 3)),  # odd length, mostly negative lags
        (256, np.arange(2, 6)),  # positive lags only: no head samples left out
        (257, np.arange(-4, -1)),  # negative lags only
        (200, np.array([0])),  # lag 0: nothing left out
    ],
)
def test_fast_null_equals_reference_on_smooth_series(n, lags):
    rng = np.random.default_rng(n)
    # smooth, offset series (as PCs and features are): centring matters
    xs = np.cumsum(rng.standard_normal((3, n)), axis=1) + 40.0
    y = np.cumsum(rng.standard_normal(n)) * 3.0 - 7.0
    draw = latent._draw_surrogates("dct", n, 150, 0, rng_from_seed(0))
    fast = _lagcorr.DctLagSearch(xs, lags).null_max_abs_r(y, draw)
    reference = _reference_null_max(xs, y, draw, lags)
    assert fast.shape == reference.shape == (3, 150)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=TOL_R)
    assert fast.max() > 0.3  # not a trivial match of zeros


def test_feature_correlations_fast_and_reference_paths_agree(monkeypatch):
    rng = np.random.default_rng(3)
    n, rate_hz = 900, 20.0
    drive = np.convolve(rng.standard_normal(n), np.ones(15) / 15, mode="same")
    pcs = TimeSeries(
        np.column_stack([drive, np.cumsum(rng.standard_normal((n, 2)), axis=0)]), rate_hz
    )
    loud = np.roll(drive, 8) + 0.1 * rng.standard_normal(n)
    features = TimeSeries(np.column_stack([loud, rng.standard_normal(n)]), rate_hz)
    fast = latent.feature_correlations(pcs, features, n_surrogates=199, seed=2)
    monkeypatch.setattr(_lagcorr, "MAX_BASIS_BYTES", 0)  # forces the surrogate/FFT path
    reference = latent.feature_correlations(pcs, features, n_surrogates=199, seed=2)
    assert fast.results.keys() == reference.results.keys()
    for key, result in fast.results.items():
        other = reference.results[key]
        np.testing.assert_allclose(result.null_max_abs_r, other.null_max_abs_r, atol=TOL_R)
        assert (result.lag_s, result.r, result.p) == (other.lag_s, other.r, other.p)
        assert fast.p_corrected[key] == reference.p_corrected[key]
    best = fast.to_frame().iloc[0]
    assert (best.pc, best.feature, float(best.lag_s)) == ("x0", "x0", -0.4)
    assert float(best.p) == pytest.approx(1 / 200)


def test_dct_lag_search_declines_a_basis_over_the_memory_bound(monkeypatch):
    xs, lags = np.zeros((3, 1000)), np.arange(-10, 11)
    assert _lagcorr.DctLagSearch.basis_bytes(3, 1000, lags) == 8 * (3 * 21 + 20) * 1000
    assert _lagcorr.dct_lag_search(xs, lags).basis.shape == (83, 1000)
    monkeypatch.setattr(_lagcorr, "MAX_BASIS_BYTES", 8 * 83 * 1000 - 1)
    assert _lagcorr.dct_lag_search(xs, lags) is None
