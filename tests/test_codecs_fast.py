"""The codecs' fast paths (``precision="fast"``, the default, and ``"bf16"``) against the exact one.

Tiny random DAC and EnCodec models, saved and loaded like real weights. The
fast path computes in bfloat16 on CPUs with AVX-512 BF16 / AMX (this project's
machine) and in float32 elsewhere; the bounds below hold for both, and the
float32 fast path is also checked on its own (forced), where it must equal the
exact one to float32 rounding.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from transformers import DacConfig, DacFeatureExtractor, DacModel

from frisson.audio import audio_from_array
from frisson.encoders import _fast_codecs
from frisson.encoders._fast_codecs import (
    ChannelsLastConv1d,
    FusedSnake,
    cpu_supports_bf16,
    fast_copy,
    fast_dtype,
    set_snake_compile,
)
from frisson.encoders.codecs import DacEncoder, EncodecEncoder
from frisson.errors import ParameterError

RATE = 44100
HOP = 512
LAYERS = ("conv_in", "block1", "block2", "block3", "block4", "latent", "projected", "z", "codes")


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(autouse=True)
def _eager_snake():
    """Compiling the Snake kernel takes tens of seconds; one test below does it."""
    before = set_snake_compile(False)
    yield
    set_snake_compile(before)


@pytest.fixture(scope="module")
def dac_folder(tmp_path_factory):
    """44.1 kHz DAC with the published strides and 8..64 channels."""
    torch.manual_seed(0)
    config = DacConfig(
        encoder_hidden_size=4, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=16,
        n_codebooks=3, codebook_size=16, codebook_dim=4, sampling_rate=RATE,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("dac_fast")
    DacModel(config).eval().save_pretrained(folder)
    DacFeatureExtractor(sampling_rate=RATE, hop_length=HOP).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def noise():
    samples = 0.3 * np.random.default_rng(0).standard_normal(round(1.3 * RATE))
    return audio_from_array(samples.astype(np.float32), RATE)


def _encode(folder, audio, precision, chunk_s=0.25):
    encoder = DacEncoder(folder, chunk_s=chunk_s, precision=precision, progress_bar=False)
    return encoder, encoder.encode(audio)


def test_bf16_dac_is_close_to_exact_with_the_same_frames(dac_folder, noise):
    encoder, fast = _encode(dac_folder, noise, "bf16")
    _, exact = _encode(dac_folder, noise, "exact")
    bf16 = encoder.compute_dtype == "bfloat16"
    assert encoder.compute_dtype == ("bfloat16" if cpu_supports_bf16() else "float32")
    for name in LAYERS:
        got, want = fast[name], exact[name]
        assert got.values.shape == want.values.shape and got.values.dtype == np.float32
        assert (got.start_s, got.rate_hz, got.names) == (want.start_s, want.rate_hz, want.names)
        if name != "codes":
            # bf16 keeps 8 mantissa bits: 2^-9 = 0.2 % per rounding, ~0.8 % after 30 layers
            assert _relative(got.values, want.values) < (0.02 if bf16 else 1e-5), name
    same = np.all(fast["codes"].values == exact["codes"].values, axis=1).mean()
    assert same >= (0.9 if bf16 else 1.0)


def test_bf16_mixed_dac_keeps_the_ends_and_the_stream_in_float32(dac_folder, noise):
    """bf16-mixed: conv_in exact (float32), every later layer closer to float32 than bf16's.

    Measured on this small model (AMX CPU): latent 0.51 % from float32 (bf16: 0.78 %),
    block3 0.49 % (0.66 %); the published model: latent 0.52 % (0.97 %), frames with
    identical codes 91 % (84 %).
    """
    _, exact = _encode(dac_folder, noise, "exact")
    _, low = _encode(dac_folder, noise, "bf16")
    encoder, mixed = _encode(dac_folder, noise, "bf16-mixed")
    if encoder.compute_dtype != "bfloat16":
        for name in LAYERS[:-1]:
            assert _relative(mixed[name].values, exact[name].values) < 1e-5, name
        return
    assert encoder.config()["precision"] == "bfloat16-mixed"
    keys = {DacEncoder(dac_folder, precision=p).config()["precision"] for p in ("fast", "bf16")}
    assert keys == {"float32", "bfloat16"}  # three precisions, three store keys
    assert _relative(mixed["conv_in"].values, exact["conv_in"].values) < 1e-6
    for name in ("block1", "block2", "block3", "block4", "latent"):
        error = _relative(mixed[name].values, exact[name].values)
        assert 1e-4 < error < 0.85 * _relative(low[name].values, exact[name].values), name
        assert error < 0.01, name
    same = np.all(mixed["codes"].values == exact["codes"].values, axis=1).mean()
    assert same >= 0.95


def test_float_stream_convolutions_return_float32_from_bfloat16_inputs():
    torch.manual_seed(4)
    conv = torch.nn.Conv1d(16, 16, 7, padding=3)
    x = torch.randn(1, 16, 500)
    with torch.no_grad():
        net = fast_copy(torch.nn.Sequential(conv), "bfloat16", float_stream=True)
        got = net(x.bfloat16())
        plain = fast_copy(torch.nn.Sequential(conv), "bfloat16")(x)
        want = conv(x)
    assert got.dtype == torch.float32 and plain.dtype == torch.bfloat16
    assert float((got - want).norm() / want.norm()) < 0.01  # bf16 inputs, float32 out


@pytest.mark.parametrize("precision", ["fast", "bf16 without bf16 hardware"])
def test_fast_float32_path_equals_exact(dac_folder, noise, monkeypatch, precision):
    monkeypatch.setattr(_fast_codecs, "cpu_supports_bf16", lambda: False)
    encoder, fast = _encode(dac_folder, noise, precision.split()[0])
    assert encoder.compute_dtype == "float32" == encoder.config()["precision"]
    _, exact = _encode(dac_folder, noise, "exact")
    for name in LAYERS:
        if name == "codes":
            assert np.array_equal(fast[name].values, exact[name].values)
        else:
            assert _relative(fast[name].values, exact[name].values) < 1e-5, name


def test_fast_chunks_keep_exact_frame_times(dac_folder):
    """An impulse moves only the rows whose receptive field holds it, centred on it."""
    encoder = DacEncoder(dac_folder, chunk_s=0.3, progress_bar=False)  # fast, 8 frames context
    n = np.arange(RATE)
    base = 0.01 * np.sin(2 * np.pi * 100 * n / RATE)
    reference = encoder.encode(audio_from_array(base, RATE))
    for t_s in (0.3017, 0.6123):  # 7 samples before the first chunk boundary (26 frames, 0.3019 s)
        impulse = base.copy()
        impulse[round(t_s * RATE)] += 0.5
        moved = encoder.encode(audio_from_array(impulse, RATE))
        t_s = round(t_s * RATE) / RATE
        for name in LAYERS[:-2]:  # z and codes move only where a code flips
            series = moved[name]
            change = np.abs(series.values - reference[name].values).max(axis=1)
            rows = np.flatnonzero(change > 0)
            middle = (series.times_s[rows[0]] + series.times_s[rows[-1]]) / 2
            assert abs(middle - t_s) <= 1 / series.rate_hz, name
            if name == "latent":  # 7 978 samples of receptive field: +-90 ms, 16 frames at most
                assert rows.size <= 17 and np.ptp(series.times_s[rows]) <= 0.19


def test_precision_reaches_the_config_and_is_checked(dac_folder):
    exact = DacEncoder(dac_folder, precision="exact")
    fast = DacEncoder(dac_folder)
    bf16 = DacEncoder(dac_folder, precision="bf16")
    assert fast.precision == "fast" and "precision='fast'" in repr(fast)
    assert exact.config()["precision"] == "float32" == fast.config()["precision"]
    assert fast.config() == exact.config()  # the same numbers share the store's entries
    assert bf16.config()["precision"] == fast_dtype("bf16", "cpu")
    if cpu_supports_bf16():  # bf16 and float32 embeddings never share a cache key
        assert bf16.config()["precision"] == "bfloat16" and bf16.config() != exact.config()
    with pytest.raises(ParameterError, match="precision='double'"):
        DacEncoder(dac_folder, precision="double")
    with pytest.raises(ParameterError, match="precision='half'"):
        EncodecEncoder("facebook/encodec_24khz", precision="half")
    assert fast_dtype("bf16", "mps") == "float32" and fast_dtype("exact", "cuda") == "float32"
    assert fast_dtype("fast", "cuda") == "float32"


def test_cpu_flags_decide_bf16(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu_supports_bf16.__wrapped__(str(amx)) is torch.backends.mkldnn.is_available()
    assert cpu_supports_bf16.__wrapped__(str(plain)) is False


# ---------------------------------------------------------------------------- pieces
def test_channels_last_conv_folds_weight_norm_and_matches_conv1d():
    torch.manual_seed(1)
    conv = torch.nn.utils.parametrizations.weight_norm(
        torch.nn.Conv1d(6, 10, 7, stride=2, padding=4, dilation=3)
    )
    x = torch.randn(2, 6, 300)
    with torch.no_grad():
        want = conv(x)
        fast = ChannelsLastConv1d(conv, torch.float32)
        got = fast(x)
        again = fast(got[:, :6])  # a strided view in
    assert "parametrizations" not in dict(fast.named_children())
    assert got.shape == want.shape == (2, 10, 145)  # floor((300 + 8 - 18 - 1) / 2) + 1
    assert float((got - want).abs().max() / want.abs().max()) < 1e-6
    assert again.shape == (2, 10, 68)


def test_a_wrong_low_precision_kernel_falls_back_to_float32(monkeypatch, caplog):
    conv = torch.nn.Conv1d(16, 32, 3, padding=1)
    monkeypatch.setattr(_fast_codecs, "_PROBE_TOLERANCE", -1.0)  # every kernel "fails"
    with caplog.at_level(logging.WARNING, logger="frisson"):
        net = fast_copy(torch.nn.Sequential(conv), "bfloat16")
    assert net[0].weight.dtype == torch.float32
    assert "runs in float32" in caplog.text
    monkeypatch.undo()
    assert fast_copy(torch.nn.Sequential(conv), "bfloat16")[0].weight.dtype == torch.bfloat16


def test_every_fast_conv_of_a_small_dac_is_within_the_probe_tolerance():
    """oneDNN's bf16 kernel is wrong for 8 -> 16 channels, kernel 8, padding 2 (torch 2.13)."""
    torch.manual_seed(2)
    conv = torch.nn.Conv1d(8, 16, 8, stride=4, padding=2)
    x = torch.randn(1, 8, 4000)
    with torch.no_grad():
        fast = fast_copy(torch.nn.Sequential(conv), "bfloat16")
        error = float((fast(x).float() - conv(x)).norm() / conv(x).norm())
    assert error < 0.01


def _snake_reference(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    x, alpha = x.double(), alpha.double()
    return x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x) ** 2


def test_fused_snake_equals_the_formula_compiled_and_eager(caplog):
    torch.manual_seed(3)
    alpha = torch.rand(1, 5, 1) + 0.2
    x = torch.randn(2, 5, 64).transpose(1, 2).contiguous().transpose(1, 2)  # time-major
    want = _snake_reference(x, alpha)
    snake = FusedSnake(alpha, torch.float32)
    eager = snake(x)
    assert eager.stride() == x.stride()
    assert float((eager - want).abs().max()) < 1e-5
    set_snake_compile(True)
    with caplog.at_level(logging.WARNING, logger="frisson"):
        compiled = snake(x)  # compiles (tens of seconds the first time) or falls back, logged
    if _fast_codecs._COMPILE["enabled"]:
        assert compiled.stride() == x.stride()
    else:
        assert "Snake" in caplog.text
    assert float((compiled - want).abs().max()) < 1e-5
    low = FusedSnake(alpha, torch.bfloat16)(x.bfloat16()).double()
    assert float((low - want).abs().max() / want.abs().max()) < 0.01


def test_compile_failure_falls_back_with_one_warning(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setitem(_fast_codecs._COMPILE, "kernel", broken)
    set_snake_compile(True)
    alpha = torch.full((1, 3, 1), 0.5)
    x = torch.randn(1, 3, 20)
    with caplog.at_level(logging.WARNING, logger="frisson"):
        first = FusedSnake(alpha, torch.float32)(x)
        FusedSnake(alpha, torch.float32)(x)
    assert caplog.text.count("no C++ compiler") == 1
    assert float((first - _snake_reference(x, alpha)).abs().max()) < 1e-5


# --------------------------------------------------------------------------- EnCodec
def _encodec(folder, **kwargs):
    from transformers import EncodecConfig, EncodecFeatureExtractor, EncodecModel

    torch.manual_seed(0)
    config = EncodecConfig(
        num_filters=4, hidden_size=16, codebook_size=16, target_bandwidths=[1.5, 3.0], **kwargs
    )
    model = EncodecModel(config).eval()
    with torch.no_grad():
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
    model.save_pretrained(folder)
    EncodecFeatureExtractor(
        feature_size=config.audio_channels, sampling_rate=config.sampling_rate,
        chunk_length_s=config.chunk_length_s, overlap=config.overlap,
    ).save_pretrained(folder)  # fmt: skip
    return folder


@pytest.mark.parametrize("rate", [24000, 48000])
def test_fast_encodec_is_close_to_exact(tmp_path, rate):
    kwargs = {}
    if rate == 48000:  # the 48 kHz model's layout: segments, time group norm, stereo
        kwargs = dict(
            sampling_rate=48000, audio_channels=2, use_causal_conv=False,
            norm_type="time_group_norm", normalize=True, chunk_length_s=1.0, overlap=0.01,
        )  # fmt: skip
    folder = _encodec(tmp_path / str(rate), **kwargs)
    samples = 0.3 * np.random.default_rng(1).standard_normal(round(1.7 * rate))
    audio = audio_from_array(samples.astype(np.float32), rate)
    runs = {}
    for precision in ("fast", "bf16", "bf16-mixed", "exact"):
        encoder = EncodecEncoder(folder, chunk_s=0.4, precision=precision, progress_bar=False)
        runs[precision] = encoder.encode(audio)
    bf16 = fast_dtype("bf16", "cpu") == "bfloat16"
    low = 0.03 if bf16 else 1e-5
    for precision, bound in (("fast", 1e-5), ("bf16", low), ("bf16-mixed", low)):
        for name in ("conv_in", "block2", "block4", "lstm", "latent"):
            got, want = runs[precision][name], runs["exact"][name]
            assert (got.start_s, got.values.shape) == (want.start_s, want.values.shape)
            assert _relative(got.values, want.values) < bound, (precision, name)
    same = np.all(runs["bf16"]["codes"].values == runs["exact"]["codes"].values, axis=1)
    assert same.mean() >= (0.8 if bf16 else 1.0)
    assert np.array_equal(runs["fast"]["codes"].values, runs["exact"]["codes"].values)
