"""The PyTorch ports against the original musicnn (TensorFlow), tensor by tensor.

``tests/data/musicnn_reference.npz`` comes from ``scripts/make_musicnn_reference.py``,
which runs the original extractor and graph (tensorflow-cpu 2.15.1, numpy 1.26.4) on a
generated music-like signal. Tolerances (issue 3): taggram and penultimate within 1e-4
absolute on every patch; every deeper tensor within 1e-5 of its largest magnitude.

Nothing here compares hashes of floating-point results: ``log10`` (and resampling)
differ in the last bit between CPUs (numpy's SIMD loops on AVX-512 vs AVX2), so the
preprocessing is compared with a stated tolerance in units in the last place (ulps).
The only hash left guards the regenerated test signal, which lies on the 16-bit grid.
"""

import importlib.util
import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from frisson.audio import audio_from_array
from frisson.encoders import get_encoder
from frisson.encoders.musicnn import PATCH_FRAMES, log_mel, patch_starts, weights_available

DATA = Path(__file__).parent / "data"
MODELS = {
    "MSD_musicnn": "musicnn-msd",
    "MTT_musicnn": "musicnn-mtt",
    "MSD_vgg": "vgg-msd",
    "MTT_vgg": "vgg-mtt",
}
ABS_TOL = 1e-4  # taggram, penultimate
REL_TOL = 1e-5  # deeper tensors, relative to the tensor's largest magnitude
# float32 log10 of the preprocessing: numpy's SIMD loops promise <= 4 ulps (measured 2.08 on
# AVX-512, Sapphire Rapids); the original ran numpy 1.26's loops on its own CPU.
LOG_ULPS = 4
RESAMPLE_TOL = 1e-6  # soxr at 16 kHz vs the original's samples (full scale 1)
pytestmark = pytest.mark.skipif(
    not weights_available("MSD_musicnn"), reason="needs `frisson fetch musicnn`"
)


def _script():
    path = Path(__file__).parents[1] / "scripts" / "make_musicnn_reference.py"
    spec = importlib.util.spec_from_file_location("make_musicnn_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return _script()


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "musicnn_reference.npz") as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def meta(reference):
    return json.loads(str(reference["meta"]))


@pytest.fixture(scope="module")
def audio(script, meta):
    samples = script.music_signal()
    assert script.signal_sha256(samples) == meta["signal_sha256"]  # rebuilt bit for bit
    return audio_from_array(samples, meta["signal"]["rate_hz"], source="music_signal")


@pytest.fixture(scope="module")
def original_patches(reference):
    # What the original fed its graph: log10(10000 * float16 power + 1) in float32
    # (the float32 product and sum are exact IEEE operations; log10 is within 1 ulp).
    logmel = _original_logmel(reference["mel_f16"])
    _assert_within_ulps(logmel, _exact_logmel(reference["mel_f16"]), LOG_ULPS)
    starts = patch_starts(logmel.shape[0], PATCH_FRAMES)
    return np.stack([logmel[s : s + PATCH_FRAMES] for s in starts])


def _original_logmel(mel_f16: np.ndarray) -> np.ndarray:
    power = mel_f16.astype(np.float32)
    return np.log10(np.float32(10000) * power + np.float32(1))


def _exact_logmel(mel_f16: np.ndarray) -> np.ndarray:
    """The original's formula with float32 rounding of the argument, log10 in float64."""
    argument = np.float32(10000) * mel_f16.astype(np.float32) + np.float32(1)
    return np.log10(argument.astype(np.float64))


def _assert_within_ulps(ours: np.ndarray, exact: np.ndarray, ulps: int) -> None:
    """Every float32 element within ``ulps`` units in the last place of the exact value."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    error_ulps = np.abs(ours.astype(np.float64) - exact) / spacing
    assert error_ulps.max() <= ulps, f"worst error {error_ulps.max():.2f} ulps"


def test_ulp_check_catches_a_wrong_formula(reference):
    exact = _exact_logmel(reference["mel_f16"])
    _assert_within_ulps(exact.astype(np.float32), exact, 1)  # correctly rounded: <= 0.5 ulp
    with pytest.raises(AssertionError, match="ulps"):  # another formula
        _assert_within_ulps(np.log(exact + 1.0).astype(np.float32), exact, LOG_ULPS)
    nudged = exact.astype(np.float32)
    for _ in range(LOG_ULPS + 1):  # LOG_ULPS + 0.5 to LOG_ULPS + 1.5 ulps off
        nudged = np.nextafter(nudged, np.float32(np.inf))
    with pytest.raises(AssertionError, match="ulps"):
        _assert_within_ulps(nudged, exact, LOG_ULPS)


def _worst(ours, theirs):
    """Largest absolute error and that error over the reference's largest magnitude."""
    error = float(np.max(np.abs(np.asarray(ours, np.float64) - theirs)))
    return error, error / float(np.max(np.abs(theirs)))


def test_reference_records_the_original_and_its_extractor_bug(meta):
    assert meta["versions"]["tensorflow"] == "2.15.1" and meta["versions"]["numpy"] == "1.26.4"
    assert meta["n_patches"] == 3 and meta["n_frames_spectrogram"] == 626
    for model in ("MSD_musicnn", "MTT_musicnn"):
        checks = meta["checks"][model]
        assert checks["extractor_equals_graph"]
        # the extractor returns patch 0's cnn1-3 and penultimate for every patch
        for name in ("cnn1", "cnn2", "cnn3", "penultimate"):
            assert checks[f"extractor_{name}_repeats_patch0"]


def test_preprocessing_matches_the_original(audio, reference):
    resampled = audio.resample(16000)  # soxr HQ, as librosa.load
    np.testing.assert_allclose(
        resampled.samples, reference["resampled_16k"], rtol=0, atol=RESAMPLE_TOL
    )
    power = librosa.feature.melspectrogram(
        y=resampled.samples, sr=16000, n_fft=512, hop_length=256, n_mels=96
    ).T
    # float16 power as the original rounded it: equal, or (where the float32 power
    # lies on a rounding boundary) one float16 step away, in a handful of cells
    ours_f16, theirs_f16 = power.astype(np.float16), reference["mel_f16"]
    steps = np.abs(ours_f16.astype(np.float64) - theirs_f16) / np.spacing(theirs_f16).astype(
        np.float64
    )
    assert steps.max() <= 1 and np.count_nonzero(steps) <= 1e-4 * steps.size
    ours = log_mel(audio).values
    same = steps == 0
    _assert_within_ulps(ours[same], _exact_logmel(theirs_f16)[same], LOG_ULPS)


@pytest.mark.parametrize("model", MODELS)
def test_every_layer_matches_the_original_graph(model, reference, original_patches, script):
    encoder = get_encoder(MODELS[model])
    ours = encoder.run_patches(original_patches)
    n_patches = original_patches.shape[0]
    for name in ("taggram", "penultimate"):
        if name in ours:
            error, _ = _worst(ours[name], reference[f"{model}.{name}"])
            assert error <= ABS_TOL, (model, name, error)
    if "musicnn" in model:
        deep = {name: reference[f"{model}.{name}"] for name in ("mean_pool", "max_pool")}
        frame_layers = ("timbral", "temporal", "cnn1", "cnn2", "cnn3")
    else:
        deep = {"pool5": reference[f"{model}.pool5"]}
        frame_layers = ("pool1", "pool2", "pool3", "pool4")
    for name, theirs in deep.items():
        _, relative = _worst(ours[name], theirs)
        assert relative <= REL_TOL, (model, name, relative)
    for name in frame_layers:
        full = ours[name].reshape(n_patches, ours[name].shape[1], -1)  # (patch, time, features)
        flat = full.reshape(n_patches, -1)
        scale = float(reference[f"{model}.{name}.absmax"].max())
        np.testing.assert_allclose(
            np.abs(flat).max(axis=1), reference[f"{model}.{name}.absmax"], rtol=REL_TOL
        )
        picked = flat[:, script.spread_indices(flat.shape[1])]
        checks = {"sample": (picked, reference[f"{model}.{name}.sample"])}
        if "musicnn" in model:
            checks["edges"] = (full[:, [0, -1], :], reference[f"{model}.{name}.edges"])
            checks["frame_mean"] = (
                full.mean(axis=2, dtype=np.float64),
                reference[f"{model}.{name}.frame_mean"],
            )
        else:
            pooled = ours[name]  # (patch, time, band, channel)
            checks["channel_mean"] = (
                pooled.mean(axis=(1, 2), dtype=np.float64),
                reference[f"{model}.{name}.channel_mean"],
            )
            checks["step_mean"] = (
                pooled.mean(axis=(2, 3), dtype=np.float64),
                reference[f"{model}.{name}.step_mean"],
            )
        for what, (a, b) in checks.items():
            error = float(np.max(np.abs(np.asarray(a, np.float64) - b)))
            assert error <= REL_TOL * scale, (model, name, what, error / scale)


@pytest.mark.parametrize("model", MODELS)
def test_audio_to_tags_matches_the_original_extractor(model, audio, reference):
    # The original's default 3 s patches, and input_overlap=1 (a hop of 61 frames).
    for hop_frames, key in ((187, "taggram"), (61, "taggram_hop61")):
        encoder = get_encoder(MODELS[model], patch_hop_s=hop_frames / 62.5)
        layers = ["taggram", "penultimate"] if "musicnn" in model else ["taggram"]
        embedding = encoder.encode(audio, layers=layers)
        taggram = embedding["taggram"]
        theirs = reference[f"{model}.{key}"]
        assert taggram.values.shape == theirs.shape
        assert np.max(np.abs(taggram.values - theirs)) <= ABS_TOL
        # patch p is centred on frame p * hop + 93, i.e. (p * hop + 93) / 62.5 s
        np.testing.assert_allclose(
            taggram.times_s, (np.arange(len(theirs)) * hop_frames + 93) / 62.5
        )
        if hop_frames == 187 and "musicnn" in model:
            penultimate = embedding["penultimate"].values
            assert np.max(np.abs(penultimate - reference[f"{model}.penultimate"])) <= ABS_TOL
