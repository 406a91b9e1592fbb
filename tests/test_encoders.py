import threading

import librosa
import numpy as np
import pytest
import torch

import frisson.encoders as enc
from frisson.audio import audio_from_array
from frisson.encoders import Embedding, Encoder, get_encoder, list_encoders, register_encoder
from frisson.encoders._shared import ModelCache, patch_starts, repo_key, torch_threads
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


# ------------------------------------------------------------------ shared helpers
def test_public_names_and_their_old_import_paths():
    from frisson.encoders._base import resolve_layers
    from frisson.encoders._weights import WeightsNotCachedError
    from frisson.errors import DataError

    assert {"resolve_layers", "WeightsNotCachedError"} <= set(enc.__all__)
    assert enc.resolve_layers is resolve_layers
    assert enc.WeightsNotCachedError is WeightsNotCachedError
    assert issubclass(enc.WeightsNotCachedError, DataError)


def test_resolve_layers_keeps_the_order_asked_and_lists_valid_names():
    encoder = MelEncoder()
    encoder.layers = ("a", "b", "c")  # any object with name and layers
    assert enc.resolve_layers(encoder, None) == ("a", "b", "c")
    assert enc.resolve_layers(encoder, "b") == ("b",)
    assert enc.resolve_layers(encoder, ["c", "a"]) == ("c", "a")
    with pytest.raises(ParameterError, match=r"no layer\(s\) 'x', 'y'; choose from a, b, c"):
        enc.resolve_layers(encoder, ["a", "x", "y"])


def test_model_cache_loads_each_key_once_across_threads():
    cache = ModelCache()
    calls = []
    release = threading.Event()

    def load():
        calls.append(1)
        release.wait(5)
        return object()

    results = [None] * 8

    def ask(i):
        results[i] = cache.get(("fam", "k"), load)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1
    assert all(r is results[0] for r in results) and results[0] is not None


def test_a_slow_load_does_not_hold_up_another_key():
    cache = ModelCache()
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "slow"

    thread = threading.Thread(target=cache.get, args=(("a", 1), slow))
    thread.start()
    assert started.wait(5)
    fast = []
    other = threading.Thread(target=lambda: fast.append(cache.get(("b", 1), lambda: "fast")))
    other.start()
    other.join(5)  # a single lock held while loading would keep it waiting for ("a", 1)
    assert fast == ["fast"] and ("a", 1) not in cache
    release.set()
    thread.join(5)
    assert cache.keys() == [("b", 1), ("a", 1)]


def test_a_failed_load_stores_nothing_and_clear_counts_by_family():
    cache = ModelCache()

    def broken():
        raise OSError("no weights")

    with pytest.raises(OSError, match="no weights"):
        cache.get(("fam", 1), broken)
    assert len(cache) == 0 and cache.get(("fam", 1), lambda: 7) == 7
    cache.get(("fam", 2), lambda: 8)
    cache.get(("other", 1), lambda: 9)
    assert cache.clear("fam") == 2 and cache.keys() == [("other", 1)]
    assert cache.clear() == 1 and len(cache) == 0


def test_patch_starts_is_one_helper_behind_both_families():
    from frisson.encoders import musicnn, vggish

    for module, frames in ((musicnn, 187), (vggish, 96)):
        assert module.PATCH_FRAMES == frames
        for n_frames, hop in ((frames - 1, 10), (frames, 10), (3 * frames + 5, 7), (1000, frames)):
            expected = list(range(0, n_frames - frames + 1, hop))
            assert module.patch_starts(n_frames, hop).tolist() == expected
            assert patch_starts(n_frames, hop, patch_frames=frames).tolist() == expected
    with pytest.raises(ParameterError, match="hop_frames must be >= 1, got 0"):
        patch_starts(100, 0, patch_frames=10)


def test_torch_threads_restores_the_count_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_repo_key_changes_when_a_folder_is_saved_again(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    first = repo_key(str(folder))
    assert first == repo_key(str(folder)) and first[0] == str(folder.resolve())
    (folder / "model.safetensors").write_bytes(b"12345")
    assert repo_key(str(folder)) != first
