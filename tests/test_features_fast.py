"""The fast paths of frisson.features equal the straightforward implementations they replaced.

Each reference below is the earlier code, kept here as the oracle: dense peak
picking over every bin, the pair sum over the full ``max_peaks x max_peaks`` matrix,
``scipy.signal.hilbert`` for the envelope, ``rfft(n=n_fft)`` per block for the
spectra and a dense mel matrix for the onset strength. Tolerances: peak picking,
spectra, flux are exact (the same float operations); the pair sum and the envelope
sum or transform in another order, so they agree to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from frisson import features
from frisson.audio import audio_from_array

SR = 16000


def _reference_peaks(magnitude, rate_hz, n_fft, *, threshold, min_amplitude, max_peaks):
    n_frames = magnitude.shape[0]
    centre = magnitude[:, 1:-1]
    floor = np.maximum(threshold * magnitude.max(axis=1), min_amplitude)[:, np.newaxis]
    is_peak = (centre > magnitude[:, :-2]) & (centre >= magnitude[:, 2:]) & (centre >= floor)
    rows, cols = np.nonzero(is_peak)
    cols = cols + 1
    tiny = np.finfo(np.float64).tiny
    left, mid, right = (
        np.log(np.maximum(magnitude[rows, cols + shift].astype(np.float64), tiny))
        for shift in (-1, 0, 1)
    )
    curvature = left - 2.0 * mid + right
    offset = np.divide(0.5 * (left - right), curvature, out=np.zeros_like(mid), where=curvature < 0)
    offset = np.clip(offset, -0.5, 0.5)
    freqs = (cols + offset) * rate_hz / n_fft
    amps = np.exp(mid - 0.25 * (left - right) * offset)
    order = np.lexsort((-amps, rows))
    rows, freqs, amps = rows[order], freqs[order], amps[order]
    first_of_row = np.searchsorted(rows, np.arange(n_frames))
    rank = np.arange(rows.size) - first_of_row[rows]
    keep = rank < max_peaks
    out_f = np.zeros((n_frames, max_peaks))
    out_a = np.zeros((n_frames, max_peaks))
    out_f[rows[keep], rank[keep]] = freqs[keep]
    out_a[rows[keep], rank[keep]] = amps[keep]
    return out_f, out_a


def _reference_pair_sum(freqs_hz, amplitudes, weight):
    f1, f2 = freqs_hz[:, :, np.newaxis], freqs_hz[:, np.newaxis, :]
    a1, a2 = amplitudes[:, :, np.newaxis], amplitudes[:, np.newaxis, :]
    return 0.5 * (weight(a1, a2) * features._plomp_levelt(f1, f2)).sum(axis=(1, 2))


def _spectra(dtype, seed=0):
    """Frames of a few partials in noise, some silent: peaks of every kind, ties included."""
    rng = np.random.default_rng(seed)
    magnitude = np.abs(rng.standard_normal((40, 513))).astype(dtype) * 1e-3
    for row in range(0, 40, 3):
        bins = rng.choice(np.arange(2, 510), size=rng.integers(1, 60), replace=False)
        magnitude[row, bins] = rng.uniform(0.01, 1.0, bins.size)
    magnitude[5] = 0.0  # silence: no peak
    magnitude[7, 100:103] = 0.5  # a plateau: the left edge counts (> left, >= right)
    return magnitude


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_peaks", [2, 7, 50])
def test_spectral_peaks_equal_dense_reference(dtype, max_peaks):
    magnitude = _spectra(dtype)
    kwargs = dict(threshold=0.01, min_amplitude=1e-5, max_peaks=max_peaks)
    fast = features._spectral_peaks(magnitude, 44100.0, 1024, **kwargs)
    reference = _reference_peaks(magnitude, 44100.0, 1024, **kwargs)
    np.testing.assert_array_equal(fast[0], reference[0])
    np.testing.assert_array_equal(fast[1], reference[1])
    n_peaks = np.count_nonzero(fast[1], axis=1)
    assert n_peaks[5] == 0 and n_peaks.max() == max_peaks  # silence; a frame at the cap


@pytest.mark.parametrize("model", ["sethares", "sethares_min", "vassilakis"])
def test_pair_sum_equals_full_matrix_reference(model):
    weight, _ = features._ROUGHNESS_MODELS[model]
    for dtype in (np.float32, np.float64):
        freqs, amps = features._spectral_peaks(
            _spectra(dtype, seed=1), 44100.0, 1024, threshold=0.01, min_amplitude=1e-5, max_peaks=50
        )
        fast = features._pair_sum(freqs, amps, weight)
        reference = _reference_pair_sum(freqs, amps, weight)
        np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=0)
        assert (fast > 0).sum() >= 10
    # no frame with two peaks: nothing to sum
    one = np.zeros((3, 5))
    one[:, 0] = 1.0
    np.testing.assert_array_equal(features._pair_sum(one * 440.0, one, weight), 0.0)


@pytest.mark.parametrize("n", [1000, 1001, 4096])
def test_hilbert_magnitude_equals_scipy_hilbert(n):
    rng = np.random.default_rng(n)
    x = (np.sin(2 * np.pi * 440 * np.arange(n) / SR) + 0.1 * rng.standard_normal(n)).astype(
        np.float32
    )
    for n_fft in (n, scipy.fft.next_fast_len(n), scipy.fft.next_fast_len(n) + 1):
        reference = np.abs(scipy.signal.hilbert(x.astype(np.float64), n_fft)[:n])
        fast = features._hilbert_magnitude(x, n_fft)
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12 * reference.max())


def _noise_audio(seconds=1.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return audio_from_array(
        0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size), SR
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_magnitude_blocks_equal_rfft_per_block(dtype):
    audio = _noise_audio()
    frame, hop, n_fft = 700, 80, 2048  # zero-padded, blocks of 64 frames, a short last block
    win = scipy.signal.get_window("blackman", frame, fftbins=True)
    blocks = features._magnitude_blocks(
        audio, frame, hop, n_fft, "blackman", block_frames=64, dtype=dtype
    )
    frames = features._frame_blocks(
        audio.samples, frame, hop, features._n_frames(audio, hop), block_frames=64, dtype=dtype
    )
    n_seen = 0
    for (first, fast), (first_ref, raw) in zip(blocks, frames, strict=True):
        reference = np.abs(scipy.fft.rfft(raw * win.astype(dtype), n=n_fft, axis=1))
        reference *= reference.dtype.type(2.0 / win.sum())
        assert first == first_ref and fast.dtype == dtype
        np.testing.assert_array_equal(fast, reference)
        n_seen += fast.shape[0]
    assert n_seen == features._n_frames(audio, hop)


def test_onset_strength_with_sparse_mel_equals_dense_mel():
    import librosa

    audio = _noise_audio(seconds=2.0, seed=3)
    internal = SR / 80
    fast = features.onset_strength(audio, rate_hz=internal).values[:, 0]
    # the same onset function from a dense mel matrix over the same spectra
    frame, hop, n_fft = features._frame_samples(audio, features.FRAME_S, features.HOP_S)
    unscale = scipy.signal.get_window("hann", frame, fftbins=True).sum() / 2.0
    mel = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=128).T.astype(np.float64)
    spectra = features._magnitude_blocks(audio, frame, hop, n_fft, "hann")
    power = np.vstack([((m * unscale) ** 2) @ mel for _, m in spectra])
    db = 10 * np.log10(np.maximum(power, 1e-10))
    db = np.maximum(db.astype(np.float32).astype(np.float64), db.max() - 80.0)
    reference = librosa.onset.onset_strength(S=db.T, sr=SR, lag=1, max_size=1, center=False)
    np.testing.assert_allclose(fast, reference[: fast.size], rtol=1e-6, atol=1e-6)
    assert fast.max() > 1.0
