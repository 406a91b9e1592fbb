"""frisson.structure's fast transition test equals the direct implementation it replaced.

The reference functions below are the implementation of commit d0845cb (fancy-
indexed cumulative sums, one surrogate demeaned at a time): slow, obviously
the formula, kept here only to check the vectorised code against.
"""

import itertools

import numpy as np
import pytest
from scipy.signal import lfilter

from frisson import structure
from frisson.timeseries import TimeSeries


def _reference_mean_shift(values: np.ndarray, half: int) -> np.ndarray:
    n = values.shape[-2]
    zero = np.zeros((*values.shape[:-2], 1, values.shape[-1]))
    c1 = np.concatenate([zero, np.cumsum(values, axis=-2)], axis=-2)
    c2 = np.concatenate([zero, np.cumsum(values**2, axis=-2)], axis=-2)
    t = np.arange(half, n - half + 1)
    before = (c1[..., t, :] - c1[..., t - half, :]) / half
    after = (c1[..., t + half, :] - c1[..., t, :]) / half
    var_before = (c2[..., t, :] - c2[..., t - half, :]) / half - before**2
    var_after = (c2[..., t + half, :] - c2[..., t, :]) / half - after**2
    floor = 1e-3 * values.var(axis=-2, keepdims=True) + 1e-300
    out = np.zeros(values.shape[:-1])
    out[..., t] = ((after - before) ** 2 / (var_before + var_after + floor)).mean(axis=-1)
    return out


def _reference_surrogates(values, n_surrogates, rng, *, single=False):  # float64 always
    n = values.shape[0]
    mean = values.mean(axis=0)
    spectrum = np.fft.rfft(values - mean, axis=0)
    phases = rng.uniform(0.0, 2 * np.pi, size=(n_surrogates, spectrum.shape[0], 1))
    phases[:, 0] = 0.0
    if n % 2 == 0:
        phases[:, -1] = 0.0
    return np.fft.irfft(spectrum[np.newaxis] * np.exp(1j * phases), n=n, axis=1) + mean


def _reference_demeaned(series, boundaries, guard):
    if not boundaries:
        return series
    edges = np.r_[0, np.sort(np.asarray(boundaries, dtype=int)), series.shape[1]]
    out = []
    for one in series:
        means = np.empty_like(one)
        for start, stop in itertools.pairwise(edges):
            means[start:stop] = one[start:stop].mean(axis=0)
        out.append(one - means)
    out = np.stack(out)
    for index in boundaries:
        out[:, max(0, index - guard) : index + guard] = 0.0
    return out


def _wandering(rng, shape):
    """AR(0.9) series with a mean far from zero (the floor's variance is then least exact)."""
    return 5.0 + lfilter([1.0], [1.0, -0.9], rng.standard_normal(shape), axis=-2)


@pytest.mark.parametrize(
    ("shape", "half"),
    [((3, 400, 10), 48), ((257, 2), 20), ((4, 7, 3), 3), ((9, 2), 5), ((10, 2), 5)],
)
def test_mean_shift_statistic_equals_the_direct_formula(shape, half):
    values = _wandering(np.random.default_rng(0), shape)
    fast = structure.mean_shift_statistic(values, half)
    assert fast.shape == values.shape[:-1]
    np.testing.assert_allclose(fast, _reference_mean_shift(values, half), rtol=1e-9, atol=0)


def test_mean_shift_statistic_chunks_do_not_change_a_value(monkeypatch):
    values = _wandering(np.random.default_rng(1), (7, 300, 4))
    whole = structure.mean_shift_statistic(values, 12)
    monkeypatch.setattr(structure, "_CHUNK_ELEMENTS", 300 * 4 * 2)  # two series per chunk
    np.testing.assert_array_equal(structure.mean_shift_statistic(values, 12), whole)


@pytest.mark.parametrize("n", [400, 401])
def test_surrogates_and_demeaning_equal_the_direct_ones(n):
    values = _wandering(np.random.default_rng(2), (n, 5))
    fast = structure._phase_surrogates(values, 6, np.random.default_rng(3))
    slow = _reference_surrogates(values, 6, np.random.default_rng(3))
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    single = structure._phase_surrogates(values, 6, np.random.default_rng(3), single=True)
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, slow, rtol=0, atol=1e-6 * np.abs(slow).max())
    for boundaries in ([], [100], [300, 50, 201]):
        np.testing.assert_array_equal(
            structure._demeaned(slow, boundaries, 4), _reference_demeaned(slow, boundaries, 4)
        )


def _planted_steps(seed: int) -> TimeSeries:
    """Three steps of unequal size in AR(0.9) noise, 10 PCs at 4 Hz, 150 s."""
    rng = np.random.default_rng(seed)
    times = np.arange(4 * 150) / 4.0
    levels = np.array([0.0, 3.0, 1.0, 4.0])[np.searchsorted([40.0, 80.0, 115.0], times, "right")]
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal((times.size, 10)), axis=0)
    return TimeSeries(levels[:, np.newaxis] * np.linspace(1, 0.2, 10) + 0.3 * noise, 4.0)


def _null_song(seed: int) -> TimeSeries:
    """AR(0.95) PCs without structure (p of the first peak spread over (0, 1])."""
    rng = np.random.default_rng(seed)
    noise = lfilter([1.0], [1.0, -0.95], rng.standard_normal((600, 10)), axis=0)
    return TimeSeries(noise * np.linspace(3, 1, 10), 4.0)


def _both(pcs: TimeSeries, monkeypatch, seed: int):
    fast = structure.significant_transitions(pcs, n_surrogates=99, seed=seed)
    with monkeypatch.context() as patch:
        patch.setitem(structure._STATISTICS, "mean_shift", _reference_mean_shift)
        patch.setattr(structure, "_phase_surrogates", _reference_surrogates)
        patch.setattr(structure, "_demeaned", _reference_demeaned)
        slow = structure.significant_transitions(pcs, n_surrogates=99, seed=seed)
    return fast, slow


def _assert_same_decisions(fast, slow):
    np.testing.assert_array_equal(fast.times_s, slow.times_s)
    np.testing.assert_array_equal(fast.p, slow.p)
    np.testing.assert_array_equal(fast.candidates_s, slow.candidates_s)
    np.testing.assert_array_equal(fast.candidates_p, slow.candidates_p)
    np.testing.assert_allclose(fast.curve.values, slow.curve.values, rtol=1e-9, atol=0)


def test_step_down_decisions_equal_the_direct_implementation(monkeypatch):
    # float32 surrogates' transforms included: the same transitions and p at every step.
    fast, slow = _both(_planted_steps(4), monkeypatch, seed=5)
    for planted_s in (40.0, 80.0, 115.0):  # found (with others: AR noise at 4 Hz wanders)
        assert np.abs(fast.times_s - planted_s).min() <= 1.0
    assert fast.candidates_p[-1] > 0.05  # the step-down ended on a failed peak
    _assert_same_decisions(fast, slow)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_null_song_p_values_equal_the_direct_implementation(monkeypatch, seed):
    fast, slow = _both(_null_song(seed), monkeypatch, seed=seed)
    _assert_same_decisions(fast, slow)
