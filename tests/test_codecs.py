"""DAC and EnCodec encoders: tiny random models saved and loaded back exactly as real weights are.

Each model is built in the test with a small config, written with
``save_pretrained`` (model and feature extractor) and loaded by the encoder
from that folder, the same path a cached hub download takes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    DacConfig,
    DacFeatureExtractor,
    DacModel,
    EncodecConfig,
    EncodecFeatureExtractor,
    EncodecModel,
)

from frisson.audio import audio_from_array
from frisson.encoders import WeightsNotCachedError, describe_encoder, get_encoder
from frisson.encoders.codecs import (
    DacEncoder,
    EncodecEncoder,
    _nearest_segment_bounds,
    _published_config,
    _segment_starts,
)
from frisson.errors import ParameterError

DAC_RATE = 44100
HOP = 512
DAC_LAYERS = ("conv_in", "block1", "block2", "block3", "block4", "latent", "projected", "z", "codes")  # fmt: skip  # noqa: E501
ENCODEC_LAYERS = ("conv_in", "block1", "block2", "block3", "block4", "lstm", "latent", "z", "codes")


def _noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(
        np.float32
    )


def _padded(samples: np.ndarray, hop: int) -> np.ndarray:
    out = np.zeros(-(-samples.size // hop) * hop, np.float32)
    out[: samples.size] = samples
    return out


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def dac_folder(tmp_path_factory):
    """A 44.1 kHz DAC with the published strides [2, 4, 8, 8] and tiny widths."""
    torch.manual_seed(0)
    config = DacConfig(
        encoder_hidden_size=4, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=16,
        n_codebooks=3, codebook_size=16, codebook_dim=4, sampling_rate=DAC_RATE,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("dac_tiny")
    DacModel(config).eval().save_pretrained(folder)
    DacFeatureExtractor(sampling_rate=DAC_RATE, hop_length=HOP).save_pretrained(folder)
    return folder


def _encodec(folder, **kwargs):
    torch.manual_seed(0)
    config = EncodecConfig(
        num_filters=2, hidden_size=8, codebook_size=16, target_bandwidths=[1.5, 3.0], **kwargs
    )
    model = EncodecModel(config).eval()
    with torch.no_grad():  # transformers initialises codebooks to zeros: every code would tie
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
    model.save_pretrained(folder)
    EncodecFeatureExtractor(
        feature_size=config.audio_channels, sampling_rate=config.sampling_rate,
        chunk_length_s=config.chunk_length_s, overlap=config.overlap,
    ).save_pretrained(folder)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def encodec24_folder(tmp_path_factory):
    """Causal, weight-normed, no segments: the 24 kHz model's architecture, tiny."""
    return _encodec(tmp_path_factory.mktemp("encodec24"))


@pytest.fixture(scope="module")
def encodec48_folder(tmp_path_factory):
    """Non-causal, time group norm, 1-s segments, stereo: the 48 kHz model's, tiny."""
    return _encodec(
        tmp_path_factory.mktemp("encodec48"), sampling_rate=48000, audio_channels=2,
        use_causal_conv=False, norm_type="time_group_norm", normalize=True,
        chunk_length_s=1.0, overlap=0.01,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dac_noise(dac_folder):
    """Every DAC layer of 1.3 s of noise, in one pass and in 0.25-s chunks."""
    audio = audio_from_array(_noise(1.3, DAC_RATE), DAC_RATE)
    single = DacEncoder(dac_folder, chunk_s=100, progress_bar=False, precision="exact").encode(
        audio
    )
    chunked = DacEncoder(dac_folder, chunk_s=0.25, progress_bar=False, precision="exact").encode(
        audio
    )
    return audio, single, chunked


# ------------------------------------------------------------------------ DAC layers
def test_dac_layers_names_widths_rates_and_starts(dac_folder, dac_noise):
    audio, single, _ = dac_noise
    encoder = DacEncoder(dac_folder)
    assert encoder.layers == DAC_LAYERS == single.layer_names
    assert encoder.default_layer == "z" and encoder.input_rate_hz == DAC_RATE
    n_frames = -(-audio.samples.size // HOP)  # 112
    strides = {"conv_in": 1, "block1": 2, "block2": 8, "block3": 64}
    widths = {"conv_in": 4, "block1": 8, "block2": 16, "block3": 32, "block4": 64, "latent": 64,
              "projected": 12, "z": 64, "codes": 3}  # fmt: skip
    info = {layer.name: layer for layer in encoder.layer_info()}
    for name in DAC_LAYERS:
        stride = strides.get(name, HOP)
        series = single[name]
        assert series.rate_hz == DAC_RATE / stride == info[name].rate_hz
        # row j stamped at the centre of the samples it strides over (all strides even)
        assert series.start_s == pytest.approx((stride - 1) / 2 / DAC_RATE, abs=1e-15)
        assert series.start_s == info[name].start_s
        assert series.values.shape == (n_frames * HOP // stride, widths[name])
        assert series.values.dtype == np.float32 and info[name].n_features == widths[name]
    assert single["z"].rate_hz == 44100 / 512  # exact, not DacConfig.frame_rate's 87
    assert single["projected"].names[:5] == ("cb0_0", "cb0_1", "cb0_2", "cb0_3", "cb1_0")
    assert single["codes"].names == ("cb0", "cb1", "cb2")
    assert single["z"].names[0] == "z_00" and single["conv_in"].names[-1] == "conv_in_3"
    codes = single["codes"].values
    assert np.array_equal(codes, np.round(codes)) and 0 <= codes.min() and codes.max() <= 15
    assert len(np.unique(codes[:, 0])) > 1  # not a degenerate all-tie codebook


def test_dac_equals_dacmodel_encode(dac_folder, dac_noise):
    audio, single, _ = dac_noise
    model = DacModel.from_pretrained(dac_folder).eval()
    x = torch.from_numpy(_padded(audio.samples, HOP))[None, None]
    with torch.inference_mode():
        out = model.encode(x)
        latent = model.encoder(x)
    assert np.array_equal(single["z"].values, out.quantized_representation[0].T.numpy())
    assert np.array_equal(single["projected"].values, out.projected_latents[0].T.numpy())
    assert np.array_equal(single["codes"].values, out.audio_codes[0].T.numpy())
    assert np.array_equal(single["latent"].values, latent[0].T.numpy())


def test_dac_chunked_equals_single_pass(dac_noise):
    _, single, chunked = dac_noise  # 112 frames in chunks of 22 frames, 8 frames of context
    for name in DAC_LAYERS:
        if name == "codes":
            mismatches = int((single[name].values != chunked[name].values).sum())
            assert mismatches == 0, f"{mismatches} codes differ (codebook ties?)"
        else:
            assert _relative(chunked[name].values, single[name].values) < 1e-4, name
        assert chunked[name].start_s == single[name].start_s


def test_dac_requested_layers_alone_match_all_layers(dac_folder, dac_noise):
    audio, single, _ = dac_noise
    alone = DacEncoder(dac_folder, chunk_s=0.25, progress_bar=False, precision="exact").encode(
        audio, layers=["block2"]
    )
    assert alone.layer_names == ("block2",)
    assert _relative(alone["block2"].values, single["block2"].values) < 1e-4


# --------------------------------------------------------------------------- timing
def _gradient_support(model_layers, hooks, x_length, channels=1):
    """For each hooked layer and a middle row: the first and last input samples it depends on."""
    x = torch.zeros(1, channels, x_length, requires_grad=True)
    captured = {}
    handles = [
        module.register_forward_hook(lambda m, i, o, n=name: captured.__setitem__(n, o))
        for name, module in hooks.items()
    ]
    try:
        model_layers(x)
    finally:
        for handle in handles:
            handle.remove()
    generator = torch.Generator().manual_seed(0)
    support = {}
    for name, out in captured.items():
        row = out.shape[-1] // 2
        weights = torch.randn(out.shape[1], generator=generator)
        (grad,) = torch.autograd.grad((out[0, :, row] * weights).sum(), x, retain_graph=True)
        nonzero = torch.nonzero(grad[0].abs().sum(0)).flatten()
        support[name] = (row, int(nonzero.min()), int(nonzero.max()))
    return support


def test_dac_stamps_are_receptive_field_centres(dac_folder):
    model = DacModel.from_pretrained(dac_folder).eval()
    hooks = {"conv_in": model.encoder.conv1, "latent": model.encoder.conv2}
    hooks.update({f"block{i}": b for i, b in enumerate(model.encoder.block, start=1)})
    support = _gradient_support(model.encoder, hooks, 40 * HOP)
    info = {layer.name: layer for layer in DacEncoder(dac_folder).layer_info()}
    assert support["latent"][1:] == (20 * HOP - 3733, 20 * HOP + 4244)  # the docstring's numbers
    for name, (row, first, last) in support.items():
        stamp_s = info[name].start_s + row / info[name].rate_hz
        assert stamp_s == pytest.approx((first + last) / 2 / DAC_RATE, abs=1e-12), name


def test_encodec_stamps_causal_and_centred(encodec24_folder, tmp_path):
    # the 48 kHz model's geometry without its time group norm, whose statistics span the
    # whole segment and would hide the convolutions' support from the gradient
    non_causal = _encodec(
        tmp_path / "noncausal", sampling_rate=48000, use_causal_conv=False,
        chunk_length_s=1.0, overlap=0.01,
    )  # fmt: skip
    for folder, causal in ((encodec24_folder, True), (non_causal, False)):
        model = EncodecModel.from_pretrained(folder).eval()
        layers = list(model.encoder.layers)
        encoder = EncodecEncoder(folder)
        rate = encoder.input_rate_hz
        convs = [i for i, layer in enumerate(layers) if type(layer).__name__ == "EncodecConv1d"]
        names = ["conv_in", "block1", "block2", "block3", "block4"]
        hooks = dict(zip(names, (layers[i] for i in convs[:5]), strict=True))
        channels = model.config.audio_channels
        support = _gradient_support(model.encoder, hooks, 30 * 320, channels)
        info = {layer.name: layer for layer in encoder.layer_info()}
        for name, (row, first, last) in support.items():
            stride = round(rate / info[name].rate_hz)
            stamp = (info[name].start_s + row / info[name].rate_hz) * rate
            if causal:  # the row's newest samples are the stride it steps over; stamp their centre
                assert last == stride * (row + 1) - 1, name
                assert stamp == pytest.approx(last - (stride - 1) / 2), name
            else:
                assert stamp == pytest.approx((first + last) / 2), name


def test_an_impulse_moves_the_rows_centred_on_it(dac_folder):
    """The rows an impulse changes are centred on it, within one row, in every DAC layer."""
    encoder = DacEncoder(dac_folder, chunk_s=0.3, progress_bar=False, precision="exact")
    n = np.arange(DAC_RATE)
    base = 0.01 * np.sin(2 * np.pi * 100 * n / DAC_RATE)
    reference = encoder.encode(audio_from_array(base, DAC_RATE))
    for t_s in (0.3017, 0.6123):
        impulse = base.copy()
        impulse[round(t_s * DAC_RATE)] += 0.5
        moved = encoder.encode(audio_from_array(impulse, DAC_RATE))
        t_s = round(t_s * DAC_RATE) / DAC_RATE
        for name in DAC_LAYERS:
            series = moved[name]
            change = np.abs(series.values - reference[name].values).max(axis=1)
            rows = np.flatnonzero(change > 1e-6 * np.abs(reference[name].values).max())
            if name == "codes":  # codes move only where a code flips
                continue
            times = series.times_s
            middle = (times[rows[0]] + times[rows[-1]]) / 2
            assert abs(middle - t_s) <= 1 / series.rate_hz, name


def test_an_impulse_reaches_encodec24_first_in_the_row_whose_stamp_is_nearest(encodec24_folder):
    encoder = EncodecEncoder(encodec24_folder, chunk_s=0.5, progress_bar=False, precision="exact")
    rate = 24000
    n = np.arange(rate)
    base = 0.01 * np.sin(2 * np.pi * 100 * n / rate)
    reference = encoder.encode(audio_from_array(base, rate))
    for sample in (7001, 15_555):
        impulse = base.copy()
        impulse[sample] += 0.5
        moved = encoder.encode(audio_from_array(impulse, rate))
        for name in ENCODEC_LAYERS[:-2]:  # z and codes move only where a code flips
            series = moved[name]
            change = np.abs(series.values - reference[name].values).max(axis=1)
            first = np.flatnonzero(change > 1e-6 * np.abs(reference[name].values).max())[0]
            assert not change[:first].any(), name  # causal: nothing earlier moves at all
            nearest = np.abs(series.times_s - sample / rate).argmin()
            assert first == nearest, name


# -------------------------------------------------------------------------- EnCodec
def test_encodec24_equals_the_model_and_chunks_equal_one_pass(encodec24_folder):
    rate, hop = 24000, 320
    audio = audio_from_array(_noise(1.37, rate, seed=1), rate)
    single = EncodecEncoder(
        encodec24_folder, chunk_s=100, progress_bar=False, precision="exact"
    ).encode(audio)
    chunked = EncodecEncoder(
        encodec24_folder, chunk_s=0.2, progress_bar=False, precision="exact"
    ).encode(audio)
    assert single.layer_names == ENCODEC_LAYERS
    assert single["latent"].rate_hz == 75.0
    assert single["latent"].start_s == pytest.approx(159.5 / rate)
    for name in ENCODEC_LAYERS:
        if name == "codes":
            assert int((single[name].values != chunked[name].values).sum()) == 0
        else:  # the LSTM state is carried over: the single pass, whatever the chunks
            assert _relative(chunked[name].values, single[name].values) < 1e-4, name
    model = EncodecModel.from_pretrained(encodec24_folder).eval()
    x = torch.from_numpy(_padded(audio.samples, hop))[None, None]
    with torch.inference_mode():
        codes = model.encode(x, bandwidth=3.0).audio_codes[0, 0]  # the highest: 10 codebooks
        latent = model.encoder(x)[0]
    assert single["codes"].n_channels == 10
    assert np.array_equal(single["codes"].values, codes.T.numpy())
    assert np.array_equal(single["latent"].values, latent.T.numpy())
    low = EncodecEncoder(encodec24_folder, bandwidth_kbps=1.5, precision="exact").encode(
        audio, layers=["codes"]
    )
    assert np.array_equal(low["codes"].values, single["codes"].values[:, :5])


def test_encodec48_runs_the_models_segments(encodec48_folder):
    rate = 48000
    audio = audio_from_array(_noise(2.7, rate, seed=2), rate)  # 405 frames, 5 segments
    one = EncodecEncoder(
        encodec48_folder, chunk_s=100, progress_bar=False, precision="exact"
    ).encode(audio)
    batched = EncodecEncoder(
        encodec48_folder, chunk_s=1.0, progress_bar=False, precision="exact"
    ).encode(audio)
    assert one["latent"].rate_hz == 150.0 and one["latent"].n_times == 405
    for name in ENCODEC_LAYERS:
        assert _relative(batched[name].values, one[name].values) < 1e-4, name
    # frames nearest segment 0 (0 .. 111) equal the model's own first 1-s chunk
    model = EncodecModel.from_pretrained(encodec48_folder).eval()
    stereo = torch.from_numpy(np.stack([audio.samples, audio.samples]))[None]
    with torch.inference_mode():
        codes = model.encode(stereo, bandwidth=3.0).audio_codes[0, 0]  # (5 codebooks, 150)
    assert np.array_equal(one["codes"].values[:112], codes.T.numpy()[:112])
    assert _relative(one["latent"].values[:112], _model_latent(model, stereo)[:112]) < 1e-5
    config = EncodecEncoder(encodec48_folder).config()
    assert config["segment_frames"] == 150 and config["segment_hop_frames"] == 75
    assert config["normalize"] == "per segment"


def _model_latent(model, stereo):
    x = stereo[..., :48000]
    scale = x.pow(2).mean(dim=(1, 2), keepdim=True).sqrt() + 1e-8  # EncodecModel's normalize
    with torch.inference_mode():
        return model.encoder(x / scale)[0].T.numpy()


def test_segment_plan_covers_every_frame_from_the_nearest_segment():
    starts = _segment_starts(405, 150, 75)
    assert starts.tolist() == [0, 75, 150, 225, 255]
    bounds = _nearest_segment_bounds(starts, 150, 405)
    assert bounds[0, 0] == 0 and bounds[-1, 1] == 405
    assert np.array_equal(bounds[1:, 0], bounds[:-1, 1])  # a partition, in order
    for (first, stop), start in zip(bounds, starts, strict=True):
        frames = np.arange(first, stop) + 0.5
        assert np.all(np.abs(frames - (start + 75)) <= 75)  # inside its segment
    assert _segment_starts(100, 150, 75).tolist() == [0]


# --------------------------------------------------------------- weights, settings
def test_missing_weights_fail_at_once_naming_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = DacEncoder("descript/dac_44khz")
    assert encoder.name == "dac-44khz"
    assert encoder.layer_info()[-1].rate_hz == 44100 / 512  # described without weights
    assert encoder.weights_status()[0] is False
    audio = audio_from_array(np.ones(44100, np.float32) * 0.1, 44100)
    with pytest.raises(WeightsNotCachedError, match="frisson fetch dac-44khz") as error:
        encoder.encode(audio)
    assert str(tmp_path / "hf") in str(error.value)
    with pytest.raises(WeightsNotCachedError, match="frisson fetch encodec-48khz"):
        get_encoder("encodec-48khz").encode(audio)
    info = describe_encoder("dac-44khz")
    assert not info.weights_available and "frisson fetch dac-44khz" in info.weights
    assert [layer.name for layer in info.layers] == list(DAC_LAYERS)


def test_instances_share_the_loaded_model_until_the_folder_changes(dac_folder, tmp_path):
    import shutil

    from frisson.encoders._shared import MODELS

    first = DacEncoder(str(dac_folder))._loaded()
    assert DacEncoder(str(dac_folder))._loaded() is first
    assert any(k[0] == "dac" and k[1] == str(dac_folder.resolve()) for k in MODELS.keys())
    copy = tmp_path / "dac"
    shutil.copytree(dac_folder, copy)
    loaded = DacEncoder(str(copy))._loaded()
    assert loaded is not first
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")  # saved again
    assert DacEncoder(str(copy))._loaded() is not loaded


def test_other_rates_are_resampled(dac_folder):
    encoder = DacEncoder(dac_folder, progress_bar=False, precision="exact")
    t = np.arange(22050) / 22050
    audio = audio_from_array(0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.5), 22050)
    direct = encoder.encode(audio, layers=["latent"])
    resampled = encoder.encode(audio.resample(DAC_RATE), layers=["latent"])
    assert direct["latent"].n_times == 87  # ceil(44100 / 512)
    assert np.array_equal(direct["latent"].values, resampled["latent"].values)
    assert direct.source_sha256 == audio.sha256


def test_published_configs_have_the_published_sizes():
    dac = _published_config("descript/dac_44khz")
    assert (dac.hop_length, dac.hidden_size, dac.n_codebooks) == (512, 1024, 9)
    with torch.device("meta"):  # shapes only, no memory
        model = DacModel(dac)
    # the hub's float32 model.safetensors is 307 MB: 76.6 M parameters
    assert sum(p.numel() for p in model.parameters()) == 76_620_777
    assert sum(p.numel() for p in model.encoder.parameters()) == 22_299_200
    for repo, hop, n_codebooks in (
        ("descript/dac_24khz", 320, 32),
        ("descript/dac_16khz", 320, 12),
    ):
        config = _published_config(repo)
        assert (config.hop_length, config.n_codebooks) == (hop, n_codebooks)
    e24, e48 = (
        _published_config("facebook/encodec_24khz"),
        _published_config("facebook/encodec_48khz"),
    )
    assert (e24.hop_length, e24.frame_rate, e24.num_quantizers) == (320, 75, 32)
    assert (e48.frame_rate, e48.num_quantizers, e48.chunk_length) == (150, 16, 48000)
    assert EncodecEncoder("facebook/encodec_48khz").layer_info()[-1].n_features == 16
    with pytest.raises(ParameterError, match="not a published codec"):
        _published_config("descript/dac_8khz")


def test_settings_are_checked():
    with pytest.raises(ParameterError, match="device"):
        DacEncoder(device="gpu")
    with pytest.raises(ParameterError, match="chunk_s"):
        DacEncoder(chunk_s=0)
    with pytest.raises(ParameterError, match=r"bandwidth_kbps=5\.0"):
        EncodecEncoder("facebook/encodec_24khz", bandwidth_kbps=5.0)
    with pytest.raises(ParameterError, match="segment_hop_s is for models"):
        EncodecEncoder("facebook/encodec_24khz", segment_hop_s=0.5)
    with pytest.raises(ParameterError, match=r"segment_hop_s=2\.0"):
        EncodecEncoder("facebook/encodec_48khz", segment_hop_s=2.0)
    with pytest.raises(ParameterError, match="no layer"):
        DacEncoder().encode(audio_from_array(np.ones(44100) * 0.1, 44100), layers=["block9"])
    assert get_encoder("encodec-24khz").config()["bandwidth_kbps"] == 24.0
