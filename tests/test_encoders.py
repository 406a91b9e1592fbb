import librosa
import numpy as np
import pytest

from frisson.audio import audio_from_array
from frisson.encoders import Embedding, Encoder, get_encoder, list_encoders, register_encoder
from frisson.encoders.mel import MelEncoder
from frisson.errors import ParameterError


def test_registry_lists_and_builds_the_mel_encoder():
    assert "mel" in list_encoders()
    encoder = get_encoder("mel", n_mels=40)
    assert isinstance(encoder, Encoder)
    assert encoder.config()["n_mels"] == 40
    assert encoder.frame_rate_hz == pytest.approx(22050 / 256)


def test_registry_errors_list_valid_choices():
    with pytest.raises(ParameterError, match=r"Unknown encoder 'nope'; available: .*mel"):
        get_encoder("nope")
    with pytest.raises(ParameterError, match="no setting\\(s\\) n_bands; valid: rate_hz, n_fft"):
        get_encoder("mel", n_bands=3)
    with pytest.raises(ParameterError, match="exists"):
        register_encoder("mel", MelEncoder, description="again")


def test_registered_variant_fixes_its_defaults():
    register_encoder("mel-test-32", MelEncoder, description="32 bands", overwrite=True, n_mels=32)
    encoder = get_encoder("mel-test-32")
    assert encoder.name == "mel-test-32" and encoder.n_mels == 32
    with pytest.raises(ParameterError, match="fixes n_mels"):
        get_encoder("mel-test-32", n_mels=64)


def test_mel_frames_are_centred_on_their_times():
    # A click at 1.0 s must show up in the frame stamped 1.0 s (centred frames).
    rate = 22050
    samples = 1e-4 * np.random.default_rng(0).standard_normal(3 * rate)
    samples[rate] = 1.0
    embedding = MelEncoder().encode(audio_from_array(samples, rate))
    assert isinstance(embedding, Embedding)
    logmel = embedding["logmel"]
    assert logmel.start_s == 0.0 and logmel.rate_hz == pytest.approx(rate / 256)
    assert logmel.units[0] == "dB"
    energy = logmel.values.mean(axis=1)
    assert abs(logmel.times_s[np.argmax(energy)] - 1.0) <= 0.5 / logmel.rate_hz


def test_mel_band_of_a_tone_and_level_in_db():
    rate = 16000
    t = np.arange(2 * rate) / rate
    quiet = MelEncoder(rate_hz=rate, n_fft=1024, hop_samples=160, n_mels=64, fmax_hz=8000)
    low = quiet.encode(audio_from_array(0.01 * np.sin(2 * np.pi * 1000 * t), rate))["logmel"]
    loud = quiet.encode(audio_from_array(0.1 * np.sin(2 * np.pi * 1000 * t), rate))["logmel"]
    band = int(np.argmax(low.values.mean(axis=0)))
    edges = librosa.mel_frequencies(n_mels=66, fmin=0, fmax=8000)
    assert edges[band] <= 1000 <= edges[band + 2]
    # x10 amplitude = +20 dB in the tone's band.
    assert loud.values[10:-10, band].mean() - low.values[10:-10, band].mean() == pytest.approx(
        20, abs=0.01
    )


def test_mel_resamples_input_and_rejects_unknown_layers():
    audio = audio_from_array(np.random.default_rng(1).standard_normal(44100) * 0.1, 44100)
    embedding = get_encoder("mel").encode(audio)
    assert embedding["logmel"].n_times == 1 + 22050 // 256
    assert embedding.source_sha256 == audio.sha256
    with pytest.raises(ParameterError, match="no layer"):
        embedding["conv1"]
    with pytest.raises(ParameterError, match="choose from logmel"):
        get_encoder("mel").encode(audio, layers=["conv1"])
    with pytest.raises(ParameterError, match="fmin_hz < fmax_hz"):
        MelEncoder(fmin_hz=9000, fmax_hz=8000)
