"""Tests of frisson.features: every feature recovers a planted, known answer."""

from __future__ import annotations

import numpy as np
import pytest

from frisson import features
from frisson.audio import audio_from_array
from frisson.errors import ParameterError
from frisson.features import (
    FEATURES,
    amplitude_envelope,
    compute_features,
    list_features,
    loudness,
    onset_strength,
    rms,
    roughness,
    spectral_centroid,
    spectral_flux,
)

SR = 16000


def _tone(freq_hz, amplitude=1.0, duration_s=1.0, sr=SR, phase=0.0):
    t = np.arange(round(duration_s * sr)) / sr
    return amplitude * np.sin(2 * np.pi * freq_hz * t + phase)


def _audio(samples, sr=SR):
    return audio_from_array(samples, sr, min_duration_s=0.1)


def _plomp_levelt(f1, f2):
    """Independent statement of the Sethares/MIRtoolbox dissonance curve (mirroughness.m)."""
    s = 0.24 / (0.0207 * min(f1, f2) + 18.96)
    d = abs(f2 - f1)
    return np.exp(-3.51 * s * d) - np.exp(-5.75 * s * d)


def _steady_roughness(samples, **kwargs):
    """Median roughness over frames that lie wholly inside a 1 s signal."""
    series = roughness(_audio(samples), rate_hz=20, **kwargs)
    return float(np.median(series.crop(0.15, 0.85).values))


# ---------------------------------------------------------------------- roughness
DELTAS_HZ = [0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 70, 100, 150, 200]


def _two_tones(delta_hz, amplitude=0.5, low_hz=500.0, ratio=1.0):
    # Different phases so that the unison case is not a trivially doubled sine.
    return _tone(low_hz, amplitude) + _tone(low_hz + delta_hz, amplitude * ratio, phase=1.0)


@pytest.fixture(scope="module")
def roughness_curves():
    return {
        model: np.array([_steady_roughness(_two_tones(d), model=model) for d in DELTAS_HZ])
        for model in ("sethares", "vassilakis")
    }


@pytest.mark.parametrize("model", ["sethares", "vassilakis"])
def test_roughness_curve_shape(roughness_curves, model):
    curve = roughness_curves[model]
    peak = curve.max()
    assert 15 <= DELTAS_HZ[int(np.argmax(curve))] <= 40
    # Unison: one partial, no beating.
    assert curve[0] < 0.01 * peak
    # Beyond a critical band (about 110 Hz at 500 Hz) the tones no longer interact.
    assert curve[DELTAS_HZ.index(150)] < 0.2 * peak
    assert curve[DELTAS_HZ.index(200)] < 0.05 * peak
    # Monotone decay after the maximum.
    after = curve[int(np.argmax(curve)) :]
    assert np.all(np.diff(after) <= 1e-9)


def test_roughness_matches_closed_form(roughness_curves):
    # Two resolved partials of amplitude 0.5: R = 0.5 * 0.5 * d(f1, f2) (sethares)
    # and 0.5 * (0.25)^0.1 * 1^3.11 * d(f1, f2) (vassilakis).
    for delta in [15, 20, 25, 30, 40, 50, 70, 100, 150]:
        i = DELTAS_HZ.index(delta)
        d = _plomp_levelt(500.0, 500.0 + delta)
        np.testing.assert_allclose(roughness_curves["sethares"][i], 0.25 * d, rtol=0.03)
        np.testing.assert_allclose(
            roughness_curves["vassilakis"][i], 0.5 * 0.25**0.1 * d, rtol=0.03
        )
    # The maximum of the published curve: 0.18 a^2 at s * df = ln(b2 / b1) / (b2 - b1).
    assert roughness_curves["sethares"].max() == pytest.approx(0.25 * 0.18, rel=0.03)


@pytest.mark.parametrize(
    ("model", "factor"), [("sethares", 4.0), ("sethares_min", 2.0), ("vassilakis", 2.0**0.2)]
)
def test_roughness_amplitude_scaling(model, factor):
    quiet = _steady_roughness(_two_tones(30, amplitude=0.2), model=model)
    loud = _steady_roughness(_two_tones(30, amplitude=0.4), model=model)
    assert loud / quiet == pytest.approx(factor, rel=0.01)


def test_roughness_unequal_amplitudes():
    a1, a2, delta = 0.6, 0.15, 30.0
    x = _two_tones(delta, amplitude=a1, ratio=a2 / a1)
    d = _plomp_levelt(500.0, 500.0 + delta)
    expected = {
        "sethares": a1 * a2 * d,
        "sethares_min": a2 * d,
        "vassilakis": 0.5 * (a1 * a2) ** 0.1 * (2 * a2 / (a1 + a2)) ** 3.11 * d,
    }
    for model, value in expected.items():
        assert _steady_roughness(x, model=model) == pytest.approx(value, rel=0.03)


def test_roughness_sums_all_pairs():
    # Three partials: the result is the sum over the three pairs.
    freqs, amps = [300.0, 330.0, 380.0], [0.4, 0.3, 0.2]
    x = sum(_tone(f, a, phase=i) for i, (f, a) in enumerate(zip(freqs, amps, strict=True)))
    expected = sum(
        amps[i] * amps[j] * _plomp_levelt(freqs[i], freqs[j])
        for i in range(3)
        for j in range(i + 1, 3)
    )
    assert _steady_roughness(x) == pytest.approx(expected, rel=0.03)


def test_roughness_single_tone_and_silence_are_zero():
    assert _steady_roughness(_tone(440.0, 0.9)) < 1e-4
    x = np.zeros(SR)
    x[: SR // 2] = _tone(440.0, 0.5, duration_s=0.5)
    series = roughness(_audio(x), rate_hz=20)
    np.testing.assert_array_equal(series.crop(0.7, None).values, 0.0)


def test_roughness_max_peaks_caps_pairs():
    # Ten partials 20 Hz apart; keeping 2 peaks leaves one pair, the two strongest.
    freqs = 400.0 + 20.0 * np.arange(10)
    amps = np.linspace(0.05, 0.14, 10)
    x = sum(_tone(f, a, phase=0.3 * i) for i, (f, a) in enumerate(zip(freqs, amps, strict=True)))
    capped = _steady_roughness(x, max_peaks=2)
    assert capped == pytest.approx(amps[-1] * amps[-2] * _plomp_levelt(560.0, 580.0), rel=0.03)
    assert _steady_roughness(x) > 3 * capped


def test_roughness_unit_depends_on_model():
    audio = _audio(_two_tones(30))
    assert roughness(audio, rate_hz=10).units == ("FS^2",)
    assert roughness(audio, rate_hz=10, model="vassilakis").units == ("FS^0.2",)


# -------------------------------------------------------------------------- flux
ONSETS_S = np.array([0.3, 0.87, 1.42, 2.03, 2.61])
F0S_HZ = [220.0, 330.0, 262.0, 392.0, 294.0]


def _note_sequence(sr=SR, duration_s=3.2, seed=0):
    """Harmonic notes with sharp attacks and exponential decays, plus faint noise."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    x = 1e-3 * rng.standard_normal(n)
    for onset, f0 in zip(ONSETS_S, F0S_HZ, strict=True):
        local = t - onset
        on = local >= 0
        env = np.where(on, np.exp(-np.clip(local, 0, None) / 0.25), 0.0)
        env *= np.clip(local / 0.002, 0, 1)  # 2 ms attack, no click
        partials = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))
        x += 0.3 * env * partials
    return x


def _peak_times(series, onsets_s, search_s=0.1):
    values, times = series.values[:, 0], series.times_s
    found = []
    for onset in onsets_s:
        inside = np.abs(times - onset) <= search_s
        found.append(times[inside][np.argmax(values[inside])])
    return np.array(found)


@pytest.mark.parametrize("rate_hz", [100.0, 200.0])
def test_spectral_flux_peaks_at_onsets(rate_hz):
    flux = spectral_flux(_audio(_note_sequence()), rate_hz=rate_hz)
    assert flux.rate_hz == rate_hz and flux.start_s == 0
    np.testing.assert_array_less(np.abs(_peak_times(flux, ONSETS_S) - ONSETS_S), 0.025)
    # The onsets stand out: each peak is far above the flux between notes.
    between = flux.crop(ONSETS_S[0] + 0.15, ONSETS_S[1] - 0.1).values.max()
    peaks = [flux.crop(o - 0.05, o + 0.05).values.max() for o in ONSETS_S]
    assert min(peaks) > 5 * between


def test_spectral_flux_is_rectified_difference():
    # A decaying tone: magnitudes only fall, so the rectified flux is ~0 once the
    # frames lie inside the signal (its abrupt end spreads energy over bins, so it is
    # left out), while the onset at t = 0 gives a large value.
    t = np.arange(SR) / SR
    x = 0.8 * np.exp(-t / 0.2) * np.sin(2 * np.pi * 440 * t)
    flux = spectral_flux(_audio(x), rate_hz=200)
    assert flux.values[0, 0] == 0.0
    assert flux.crop(0.05, 0.95).values.max() < 1e-3 * flux.values.max()
    # The unrectified sum would be negative: the rectification is what keeps it at 0.
    assert flux.crop(None, 0.03).values.max() > 0.1


def test_onset_strength_peaks_at_onsets():
    strength = onset_strength(_audio(_note_sequence()), rate_hz=100)
    assert strength.units == ("dB",)
    np.testing.assert_array_less(np.abs(_peak_times(strength, ONSETS_S) - ONSETS_S), 0.025)


# ---------------------------------------------------------------------- envelope
def test_envelope_recovers_am_rate_and_depth():
    sr, duration_s, mod_hz, depth = 8000, 10.0, 4.0, 0.5
    t = np.arange(int(sr * duration_s)) / sr
    x = 0.6 * (1 + depth * np.cos(2 * np.pi * mod_hz * t)) * np.sin(2 * np.pi * 1000 * t)
    env = amplitude_envelope(_audio(x, sr), rate_hz=100).crop(0.5, 9.5)
    values = env.values[:, 0]
    centred = values - values.mean()
    n_fft = 1 << 16
    spectrum = np.abs(np.fft.rfft(centred * np.hanning(centred.size), n_fft))
    peak_hz = np.fft.rfftfreq(n_fft, 1 / env.rate_hz)[np.argmax(spectrum)]
    assert abs(peak_hz - mod_hz) < 0.1
    # Least-squares fit of a + b cos + c sin at the modulation rate.
    times = env.times_s
    design = np.column_stack(
        [
            np.ones_like(times),
            np.cos(2 * np.pi * mod_hz * times),
            np.sin(2 * np.pi * mod_hz * times),
        ]
    )
    (mean, b, c), *_ = np.linalg.lstsq(design, values, rcond=None)
    assert mean == pytest.approx(0.6, rel=0.01)
    assert np.hypot(b, c) / mean == pytest.approx(depth, abs=0.02)


def test_envelope_lowpass_removes_fast_modulation():
    sr = 8000
    t = np.arange(4 * sr) / sr
    x = 0.5 * (1 + 0.3 * np.cos(2 * np.pi * 3 * t) + 0.3 * np.cos(2 * np.pi * 40 * t))
    x = x * np.sin(2 * np.pi * 1500 * t)

    def amplitude_at(series, freq_hz):
        v = series.crop(0.5, 3.5)
        tt = v.times_s
        y = v.values[:, 0]
        return 2 * np.hypot(
            np.mean(y * np.cos(2 * np.pi * freq_hz * tt)),
            np.mean(y * np.sin(2 * np.pi * freq_hz * tt)),
        )

    raw = amplitude_envelope(_audio(x, sr), rate_hz=400)
    smooth = amplitude_envelope(_audio(x, sr), rate_hz=400, lowpass_hz=10)
    assert amplitude_at(raw, 40) == pytest.approx(0.15, rel=0.05)
    assert amplitude_at(smooth, 40) < 0.01 * 0.15
    assert amplitude_at(smooth, 3) == pytest.approx(0.15, rel=0.05)


def test_blockwise_hilbert_matches_whole():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(50000) * 0.1 + _tone(700.0, 0.5, duration_s=50000 / SR)
    whole = features._analytic_magnitude(x)
    blocks = features._analytic_magnitude(x, block_samples=8192, margin_samples=2048)
    interior = slice(2048, -2048)
    np.testing.assert_allclose(blocks[interior], whole[interior], atol=0.01, rtol=0)
    assert np.median(np.abs(blocks[interior] - whole[interior])) < 1e-3


# ------------------------------------------------------ centroid, rms, loudness
def test_centroid_of_tones():
    c = spectral_centroid(_audio(_tone(1000.0, 0.5)), rate_hz=50).crop(0.1, 0.9)
    np.testing.assert_allclose(c.values, 1000.0, rtol=0.01)
    assert c.units == ("Hz",)
    # Two equal partials: the centroid is their midpoint.
    x = _tone(1000.0, 0.4) + _tone(3000.0, 0.4)
    c2 = spectral_centroid(_audio(x), rate_hz=50).crop(0.1, 0.9)
    np.testing.assert_allclose(c2.values, 2000.0, rtol=0.01)


def test_centroid_is_nan_in_silence():
    x = np.zeros(SR)
    x[: SR // 2] = _tone(1000.0, 0.5, duration_s=0.5)
    c = spectral_centroid(_audio(x), rate_hz=20)
    assert np.isnan(c.crop(0.6, None).values).all()
    assert np.isfinite(c.crop(None, 0.4).values).all()


def test_rms_of_sine_and_square():
    r = rms(_audio(_tone(440.0, 1.0)), rate_hz=20).crop(0.1, 0.9)
    np.testing.assert_allclose(r.values, 1 / np.sqrt(2), atol=2e-3)
    square = 0.5 * np.sign(_tone(50.0, 1.0) + 1e-9)
    np.testing.assert_allclose(
        rms(_audio(square), rate_hz=10).crop(0.1, 0.9).values, 0.5, atol=1e-3
    )


def test_rms_averages_power_when_downsampling():
    # 0.25 s loud, 0.25 s quiet: one 2 Hz sample spans both halves, so its mean square is the mean.
    x = np.concatenate([_tone(400.0, 0.8, 0.25), _tone(400.0, 0.2, 0.25)] * 4)
    fine = rms(_audio(x), rate_hz=200)
    coarse = rms(_audio(x), rate_hz=2)
    expected = np.sqrt((0.8**2 + 0.2**2) / 4)
    assert coarse.values[2, 0] == pytest.approx(expected, rel=0.02)
    assert fine.values.max() == pytest.approx(0.8 / np.sqrt(2), rel=0.02)


def test_loudness_levels():
    quiet = loudness(_audio(_tone(1000.0, 0.05)), rate_hz=20).crop(0.1, 0.9).values
    loud = loudness(_audio(_tone(1000.0, 0.5)), rate_hz=20).crop(0.1, 0.9).values
    np.testing.assert_allclose(loud - quiet, 20.0, atol=0.01)
    # A full-scale 1 kHz sine is 0 dB; A-weighting at 1 kHz is 0 dB.
    np.testing.assert_allclose(loud, 20 * np.log10(0.5), atol=0.05)
    # IEC 61672: A(100 Hz) = -19.1 dB.
    low = loudness(_audio(_tone(100.0, 0.5)), rate_hz=20).crop(0.1, 0.9).values
    np.testing.assert_allclose(low - loud, -19.1, atol=0.15)


def test_loudness_of_noise_matches_global_fft():
    import librosa

    rng = np.random.default_rng(7)
    x = 0.1 * rng.standard_normal(2 * SR)
    # Oracle: weight the whole signal's spectrum, back to time, mean square.
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    gain = np.zeros_like(freqs)
    gain[1:] = 10 ** (librosa.A_weighting(freqs[1:], min_db=None) / 20)
    weighted = np.fft.irfft(spectrum * gain, x.size)
    expected_db = 10 * np.log10(np.mean(weighted**2) / 0.5)
    # At 1 Hz, the sample at t = 1 s is the equivalent level over 0.5-1.5 s.
    level = loudness(_audio(x), rate_hz=1).values[1, 0]
    assert level == pytest.approx(expected_db, abs=0.2)


def test_loudness_floor_in_silence():
    x = np.zeros(SR)
    x[: SR // 2] = _tone(1000.0, 0.5, duration_s=0.5)
    level = loudness(_audio(x), rate_hz=20, floor_db=-90.0)
    np.testing.assert_allclose(level.crop(0.6, None).values, -90.0)


# ------------------------------------------------------- oracles at the internal rate
HOP = 80  # samples: 5 ms at 16 kHz, so rate_hz = SR / HOP returns the frames unchanged
FRAME = 736  # samples: the default 0.046 s at 16 kHz
N_FFT = 1024


def test_framewise_features_match_librosa():
    import librosa

    x = _note_sequence(duration_s=2.0, seed=1)  # 401 frames: crosses a block boundary (256)
    audio = _audio(x)
    internal = SR / HOP
    y = audio.samples.astype(np.float64)

    ours = rms(audio, rate_hz=internal).values[:, 0]
    ref = librosa.feature.rms(y=y, frame_length=FRAME, hop_length=HOP, pad_mode="constant")[0]
    n = min(ours.size, ref.size)
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=1e-6, atol=1e-9)

    kwargs = dict(n_fft=N_FFT, hop_length=HOP, win_length=FRAME, pad_mode="constant")
    centroid = spectral_centroid(audio, rate_hz=internal).values[:, 0]
    ref_centroid = librosa.feature.spectral_centroid(y=y, sr=SR, **kwargs)[0]
    n = min(centroid.size, ref_centroid.size)
    np.testing.assert_allclose(centroid[:n], ref_centroid[:n], rtol=1e-6)

    window = np.hanning(FRAME + 1)[:-1]  # periodic Hann, as scipy.signal.get_window
    magnitude = np.abs(librosa.stft(y, window=window, **kwargs)) * 2 / window.sum()
    ref_flux = np.r_[0.0, np.maximum(np.diff(magnitude, axis=1), 0).sum(axis=0)]
    flux = spectral_flux(audio, rate_hz=internal).values[:, 0]
    n = min(flux.size, ref_flux.size)
    np.testing.assert_allclose(flux[:n], ref_flux[:n], rtol=1e-6, atol=1e-9)


def test_onset_strength_matches_librosa():
    import librosa

    audio = _audio(_note_sequence(duration_s=2.0, seed=2))
    ours = onset_strength(audio, rate_hz=SR / HOP, lag=2, max_size=3).values[:, 0]
    ref = librosa.onset.onset_strength(
        y=audio.samples.astype(np.float64),
        sr=SR,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=FRAME,
        lag=2,
        max_size=3,
        center=False,
    )
    n = min(ours.size, ref.size)
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=1e-5, atol=1e-6)


def test_blocking_does_not_change_roughness():
    audio = _audio(_note_sequence(duration_s=1.0))
    one = roughness(audio, rate_hz=50, block_frames=1).values
    many = roughness(audio, rate_hz=50, block_frames=1000).values
    np.testing.assert_allclose(one, many, rtol=1e-12, atol=0)


# --------------------------------------------------------------- grid and registry
@pytest.mark.parametrize("name", list(FEATURES))
def test_every_feature_on_requested_grid(name):
    audio = _audio(_note_sequence(duration_s=1.5))
    series = FEATURES[name](audio, rate_hz=21.5)
    assert series.rate_hz == 21.5
    assert series.start_s == 0.0
    assert series.names == (name,)
    assert series.units is not None and series.units[0]
    assert abs(series.n_times - 1.5 * 21.5) <= 2
    assert np.isfinite(series.values).all()


def test_compute_features_stacks_individual_calls():
    audio = _audio(_note_sequence(duration_s=1.5))
    names = ["rms", "roughness", "spectral_flux", "amplitude_envelope"]
    stacked = compute_features(
        audio, rate_hz=50, names=names, options={"roughness": {"model": "vassilakis"}}
    )
    assert stacked.names == tuple(names)
    assert stacked.rate_hz == 50 and stacked.start_s == 0
    assert stacked.units == ("FS", "FS^0.2", "FS", "FS")
    singles = [FEATURES[n](audio, rate_hz=50) for n in names]
    singles[1] = roughness(audio, rate_hz=50, model="vassilakis")
    assert stacked.n_times == min(s.n_times for s in singles)
    for name, single in zip(names, singles, strict=True):
        np.testing.assert_array_equal(stacked.channel(name), single.values[: stacked.n_times, 0])
    # Items differ.
    assert not np.allclose(stacked.channel("rms"), stacked.channel("amplitude_envelope"))


def test_compute_features_default_is_all():
    audio = _audio(_note_sequence(duration_s=1.0))
    stacked = compute_features(audio, rate_hz=10)
    assert list(stacked.names) == list_features() == list(FEATURES)
    assert len(stacked.units) == stacked.n_channels


def test_compute_features_rejects_unknown_names_and_options():
    audio = _audio(_tone(440.0, 0.5))
    with pytest.raises(ParameterError, match=r"'brightness'.*valid names are amplitude_envelope"):
        compute_features(audio, rate_hz=10, names=["rms", "brightness"])
    with pytest.raises(ParameterError, match="more than once"):
        compute_features(audio, rate_hz=10, names=["rms", "rms"])
    with pytest.raises(ParameterError, match="not among the selected"):
        compute_features(audio, rate_hz=10, names=["rms"], options={"roughness": {}})
    with pytest.raises(ParameterError, match=r"'modle'.*roughness accepts model"):
        compute_features(
            audio, rate_hz=10, names=["roughness"], options={"roughness": {"modle": "x"}}
        )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda a: rms(a, rate_hz=0), "rate_hz must be > 0"),
        (lambda a: rms(a, rate_hz=SR * 2), "exceeds the audio's sampling rate"),
        (lambda a: spectral_flux(a, rate_hz=10, frame_s=0.01, hop_s=0.02), "hop_s=0.02"),
        (lambda a: spectral_flux(a, rate_hz=10, frame_s=1e-4), "frame_s=0.0001"),
        (lambda a: spectral_centroid(a, rate_hz=10, window="nope"), "window='nope'"),
        (lambda a: roughness(a, rate_hz=10, model="plomp"), "model='plomp'.*'vassilakis'"),
        (lambda a: roughness(a, rate_hz=10, peak_threshold=1.5), "peak_threshold=1.5"),
        (lambda a: roughness(a, rate_hz=10, max_peaks=1), "max_peaks must be >= 2"),
        (lambda a: amplitude_envelope(a, rate_hz=10, lowpass_hz=9000), "Nyquist"),
        (lambda a: loudness(a, rate_hz=10, floor_db=float("nan")), "floor_db"),
        (lambda a: onset_strength(a, rate_hz=10, lag=0), "lag must be >= 1"),
    ],
)
def test_parameter_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call(_audio(_tone(440.0, 0.5)))
