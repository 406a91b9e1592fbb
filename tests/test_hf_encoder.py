"""hf:<repo>: tiny random transformers models saved to disk and loaded the way real ones are."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import transformers as T

from frisson.audio import audio_from_array
from frisson.encoders import describe_encoder, get_encoder
from frisson.encoders._weights import WeightsNotCachedError
from frisson.encoders.hf import HFEncoder, _published_config
from frisson.errors import DataError, ParameterError

# Real wav2vec2 feature encoder geometry (kernels 10,3,3,3,3,2,2; strides 5,2,...): R=400, H=320.
CONV = dict(
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _noise(duration_s: float, rate: float, seed: int = 0, level: float = 0.1) -> np.ndarray:
    return level * np.random.default_rng(seed).standard_normal(round(duration_s * rate))


def _normalised(samples: np.ndarray) -> np.ndarray:
    """Wav2Vec2FeatureExtractor's do_normalize, written out (in float32, as it computes)."""
    samples = samples.astype(np.float32)
    return (samples - samples.mean()) / np.sqrt(samples.var() + np.float32(1e-7))


def _argmax_change_times(encoder, background, rate, click_times_s, layer="hidden0"):
    """Time stamp of the row that a click at each time changes most."""
    base = encoder.encode(audio_from_array(background, rate), layers=[layer])[layer]
    found = []
    for t in click_times_s:
        clicked = background.copy()
        k = round(t * rate)
        clicked[k : k + 3] += 0.9
        series = encoder.encode(audio_from_array(clicked, rate), layers=[layer])[layer]
        change = np.linalg.norm(series.values - base.values, axis=1)
        found.append(series.times_s[int(np.argmax(change))])
    return np.array(found), base


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w2v")
    torch.manual_seed(0)
    T.Wav2Vec2ForCTC(T.Wav2Vec2Config(vocab_size=8, **CONV)).save_pretrained(folder)
    T.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def local_wav2vec2_dir(tmp_path_factory):
    """A wav2vec2 whose hidden0 depends only on nearby audio (no window-wide normalisation)."""
    folder = tmp_path_factory.mktemp("w2v_local")
    torch.manual_seed(1)
    config = T.Wav2Vec2Config(feat_extract_norm="layer", conv_bias=True, **CONV)
    T.Wav2Vec2Model(config).save_pretrained(folder)
    T.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False).save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------- wav2vec2
def test_wav2vec2_layers_times_and_values_match_the_model(wav2vec2_dir):
    encoder = get_encoder("hf:" + str(wav2vec2_dir))
    assert encoder.name == f"hf:{wav2vec2_dir}"
    assert encoder.layers == ("hidden0", "hidden1", "hidden2")  # num_hidden_layers + 1
    assert encoder.input_rate_hz == 16000.0
    audio = audio_from_array(_noise(2.0, 22050), 22050)  # resampled to the extractor's 16 kHz
    embedding = encoder.encode(audio)
    samples = audio.resample(16000).samples
    n_rows = (samples.size - 400) // 320 + 1
    model = T.Wav2Vec2Model.from_pretrained(wav2vec2_dir).eval()
    with torch.inference_mode():
        states = model(
            torch.from_numpy(_normalised(samples))[None], output_hidden_states=True
        ).hidden_states
    for k, name in enumerate(encoder.layers):
        series = embedding[name]
        assert series.rate_hz == 50.0
        assert series.start_s == 199.5 / 16000  # centre of the 400-sample receptive field
        assert series.values.shape == (n_rows, 16)
        np.testing.assert_allclose(series.values, states[k][0].numpy(), atol=1e-5)
    info = {layer.name: layer for layer in encoder.layer_info()}
    assert info["hidden2"].rate_hz == 50.0 and info["hidden2"].n_features == 16
    assert encoder.weights_status()[0] is True
    assert encoder.config()["window_rows"] == (30 * 16000 - 400) // 320 + 1


def test_wav2vec2_click_moves_the_frame_stamped_nearest(wav2vec2_dir):
    encoder = get_encoder("hf:" + str(wav2vec2_dir))
    clicks = np.array([0.4123, 1.0007, 1.6661])
    found, base = _argmax_change_times(encoder, _noise(2.0, 16000, seed=3), 16000, clicks)
    assert np.all(np.abs(found - clicks) <= 1 / base.rate_hz), (found, clicks)


def test_windows_stitch_rows_on_one_grid(local_wav2vec2_dir):
    """hidden0 (features + 16-frame positional conv) of 2-s windows equals one 10-s pass.

    Rows come from the window whose centre is nearest, at least 24 rows from the
    window's edges, beyond the 8-row reach of the positional convolution, so any
    misplaced row would show. Deeper layers attend over the whole window and differ.
    """
    audio = audio_from_array(_noise(10.0, 16000, seed=5), 16000)
    single = HFEncoder(str(local_wav2vec2_dir), window_s=10.0).encode(audio)
    windowed_encoder = HFEncoder(str(local_wav2vec2_dir), window_s=2.0, window_hop_s=1.0)
    windowed = windowed_encoder.encode(audio)
    assert windowed_encoder.config()["window_rows"] == 99  # (32000 - 400) // 320 + 1
    assert windowed["hidden0"].values.shape == single["hidden0"].values.shape == (499, 16)
    np.testing.assert_allclose(windowed["hidden0"].values, single["hidden0"].values, atol=1e-5)
    # measured 0.0022 of the SD: random tiny attention is nearly uniform
    deep = np.abs(windowed["hidden2"].values - single["hidden2"].values).max()
    assert 1e-4 < deep / single["hidden2"].values.std() < 0.05


# ---------------------------------------------------------------------------------- AST
@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ast")
    torch.manual_seed(2)
    config = T.ASTConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=32,
        max_length=128,
        patch_size=16,
        frequency_stride=8,
        time_stride=8,
    )
    T.ASTModel(config).save_pretrained(folder)
    T.ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(folder)
    return folder


def test_ast_time_patches_are_frequency_means_stamped_at_patch_centres(ast_dir):
    encoder = get_encoder("hf:" + str(ast_dir))
    assert encoder.layers == ("hidden0", "hidden1", "hidden2")
    samples = _noise(1.0, 16000, seed=7)
    embedding = encoder.encode(audio_from_array(samples, 16000))
    # 8-frame (80 ms) patch stride: 12.5 Hz; patch 0 = frames 0..15, centre frame 7.5
    start_s = (160 * 7.5 + 199.5) / 16000
    n_rows = int(np.floor((16000 - 1399.5) / 1280)) + 1  # rows centred within the 1-s audio
    features = T.ASTFeatureExtractor.from_pretrained(ast_dir)(
        samples, sampling_rate=16000, return_tensors="pt"
    )["input_values"]  # (1, 128 frames, 32 bands), zero-padded
    model = T.ASTModel.from_pretrained(ast_dir).eval()
    with torch.inference_mode():
        states = model(features, output_hidden_states=True).hidden_states
        # hidden0 from scratch: 16 x 16 patches every 8 bands x 8 frames, plus positions
        patches = features[0].T.unfold(0, 16, 8).unfold(1, 16, 8)  # (3 bands, 15 times, 16, 16)
        conv = model.embeddings.patch_embeddings.projection
        projected = torch.einsum("ftij,dij->ftd", patches, conv.weight[:, 0]) + conv.bias
        positions = model.embeddings.position_embeddings[0, 2:].reshape(3, 15, 16)
        expected0 = (projected + positions).mean(0)[:n_rows].numpy()
    for k, name in enumerate(encoder.layers):
        series = embedding[name]
        assert series.rate_hz == 12.5 and series.start_s == start_s
        grid = states[k][0, 2:].reshape(3, 15, 16).mean(0)[:n_rows].numpy()
        np.testing.assert_allclose(series.values, grid, atol=1e-5)
    np.testing.assert_allclose(embedding["hidden0"].values, expected0, atol=1e-5)


def test_ast_windows_over_long_audio_and_click_timing(ast_dir):
    encoder = get_encoder("hf:" + str(ast_dir))
    clicks = np.array([0.55, 1.733, 2.61])  # in the first, second and last of 3 windows
    found, base = _argmax_change_times(encoder, _noise(3.0, 16000, seed=9), 16000, clicks)
    assert base.n_times == int(np.floor((48000 - 1399.5) / 1280)) + 1
    assert np.all(np.abs(found - clicks) <= 1 / base.rate_hz), (found, clicks)
    with pytest.raises(ParameterError, match=r"AST takes 1\.295-s inputs only"):
        HFEncoder(str(ast_dir), window_s=5.0).layer_info()


# ------------------------------------------------------------------------------ Whisper
@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whisper")
    torch.manual_seed(4)
    config = T.WhisperConfig(
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=16,
        max_source_positions=100,  # 2-s windows: 200 mel frames -> 100 encoder rows
        max_target_positions=8,
        vocab_size=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    T.WhisperForConditionalGeneration(config).save_pretrained(folder)
    T.WhisperFeatureExtractor(feature_size=16, chunk_length=2).save_pretrained(folder)
    return folder


def test_whisper_encoder_rows_at_50_hz_dropped_past_the_end(whisper_dir):
    encoder = get_encoder("hf:" + str(whisper_dir))
    assert encoder.layers == ("hidden0", "hidden1", "hidden2")
    samples = _noise(1.5, 16000, seed=11)
    embedding = encoder.encode(audio_from_array(samples, 16000))
    features = T.WhisperFeatureExtractor.from_pretrained(whisper_dir)(
        samples, sampling_rate=16000, return_tensors="pt"
    )["input_features"]
    model = T.WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval()
    with torch.inference_mode():
        states = model.model.encoder(features, output_hidden_states=True).hidden_states
    for k, name in enumerate(encoder.layers):
        series = embedding[name]
        assert series.rate_hz == 50.0 and series.start_s == 0.0
        assert series.n_times == 76  # rows 0..75 at 0 .. 1.5 s; rows 76..99 lie in padding
        np.testing.assert_allclose(series.values, states[k][0, :76].numpy(), atol=1e-5)


def test_whisper_windows_and_click_timing(whisper_dir):
    encoder = get_encoder("hf:" + str(whisper_dir))
    clicks = np.array([0.7311, 2.2503, 4.404])
    found, base = _argmax_change_times(encoder, _noise(5.0, 16000, seed=13), 16000, clicks)
    assert base.n_times == 251
    assert np.all(np.abs(found - clicks) <= 1 / base.rate_hz), (found, clicks)


# --------------------------------------------------------------------------------- MERT
MERT_CONFIG = {
    "model_type": "mert_model",
    "architectures": ["MERTModel"],
    "auto_map": {
        "AutoConfig": "configuration_MERT.MERTConfig",
        "AutoModel": "modeling_MERT.MERTModel",
    },
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "hidden_act": "gelu",
    "conv_dim": [16] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "feat_proj_layer_norm": True,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "do_stable_layer_norm": False,
    "layer_norm_eps": 1e-5,
    "mask_time_prob": 0.05,
    "feature_extractor_cqt": False,
    "feature_extractor_cqt_bins": 336,
    "deepnorm": False,
    "attention_relax": -1.0,
    "sample_rate": 24000,
    "transformers_version": "4.24.0",
}
MERT_PREPROCESSOR = {
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
    "do_normalize": True,
    "sampling_rate": 24000,
}


def _mert_reference(batch_norm: bool, seed: int):
    """A HuBERT laid out as MERT saves it: legacy weight-norm names (weight_g, weight_v)."""
    torch.manual_seed(seed)
    keys = set(T.HubertConfig().to_dict()) - {"model_type"}
    settings = {k: v for k, v in MERT_CONFIG.items() if k in keys}
    model = T.HubertModel(T.HubertConfig(conv_pos_batch_norm=batch_norm, **settings)).eval()
    positional = model.encoder.pos_conv_embed
    if batch_norm:
        positional.batch_norm.running_mean.normal_()
        positional.batch_norm.running_var.uniform_(0.5, 2.0)
    else:  # MERT's code predates parametrized weight norm
        torch.nn.utils.parametrize.remove_parametrizations(positional.conv, "weight")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the legacy form is the point here
            torch.nn.utils.weight_norm(positional.conv, name="weight", dim=2)
    return model


def _write_mert(folder, state, *, config=None, fmt="bin"):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config or MERT_CONFIG))
    (folder / "preprocessor_config.json").write_text(json.dumps(MERT_PREPROCESSOR))
    # the hub repo's remote code; frisson must never import it
    (folder / "modeling_MERT.py").write_text("raise RuntimeError('remote code ran')\n")
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    if fmt == "bin":
        torch.save(state, folder / "pytorch_model.bin")
    else:
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize(
    ("fmt", "batch_norm", "prefix"),
    [("bin", False, ""), ("safetensors", False, "mert_model."), ("bin", True, "")],
)
def test_mert_weights_run_in_native_hubert(tmp_path, fmt, batch_norm, prefix):
    reference = _mert_reference(batch_norm, seed=6)
    state = {prefix + k: v for k, v in reference.state_dict().items()}
    assert any(k.endswith("weight_g") for k in state) is not batch_norm
    config = {**MERT_CONFIG, "conv_pos_batch_norm": True} if batch_norm else MERT_CONFIG
    folder = _write_mert(tmp_path / "mert", state, config=config, fmt=fmt)
    encoder = get_encoder("hf:" + str(folder))
    assert encoder.input_rate_hz == 24000.0 and len(encoder.layers) == 3
    samples = _noise(1.5, 24000, seed=8)
    embedding = encoder.encode(audio_from_array(samples, 24000))
    with torch.inference_mode():
        states = reference(
            torch.from_numpy(_normalised(samples))[None], output_hidden_states=True
        ).hidden_states
    for k, name in enumerate(encoder.layers):
        series = embedding[name]
        assert series.rate_hz == 75.0 and series.start_s == 199.5 / 24000
        assert series.n_times == (36000 - 400) // 320 + 1
        np.testing.assert_allclose(series.values, states[k][0].numpy(), atol=1e-6, rtol=0)
    assert encoder.config()["model_type"] == "mert_model"


def test_mert_extra_or_missing_weights_are_named(tmp_path):
    state = _mert_reference(False, seed=10).state_dict()
    extra = {**state, "encoder.cqt_proj.weight": torch.zeros(2)}
    encoder = HFEncoder(str(_write_mert(tmp_path / "extra", extra)))
    with pytest.raises(DataError, match=r"missing: none; unexpected: encoder\.cqt_proj\.weight"):
        encoder.encode(audio_from_array(_noise(1.0, 24000), 24000))
    fewer = {k: v for k, v in state.items() if k != "encoder.layer_norm.bias"}
    encoder = HFEncoder(str(_write_mert(tmp_path / "fewer", fewer)))
    with pytest.raises(DataError, match=r"missing: encoder\.layer_norm\.bias; unexpected: none"):
        encoder.encode(audio_from_array(_noise(1.0, 24000), 24000))


@pytest.mark.parametrize("setting", ["feature_extractor_cqt", "deepnorm"])
def test_mert_variants_hubert_cannot_express_are_refused(tmp_path, setting):
    state = _mert_reference(False, seed=12).state_dict()
    folder = _write_mert(tmp_path / setting, state, config={**MERT_CONFIG, setting: True})
    with pytest.raises(ParameterError, match=setting):
        HFEncoder(str(folder)).encode(audio_from_array(_noise(1.0, 24000), 24000))


# ------------------------------------------------------------------ weights and errors
def test_uncached_repo_names_the_fetch_command(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    encoder = get_encoder("hf:frisson-test/not-a-real-repo")
    cached, where = encoder.weights_status()
    assert not cached and "frisson fetch hf:frisson-test/not-a-real-repo" in where
    audio = audio_from_array(_noise(1.0, 16000), 16000)
    for attempt in (lambda: encoder.encode(audio), encoder.layer_info):
        with pytest.raises(WeightsNotCachedError, match="frisson fetch hf:frisson-test/not-a"):
            attempt()


def test_config_without_weights_describes_layers_but_cannot_encode(tmp_path):
    folder = tmp_path / "config_only"
    T.Wav2Vec2Config(**CONV).save_pretrained(folder)
    T.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    encoder = HFEncoder(str(folder))
    info = encoder.layer_info()
    assert [layer.name for layer in info] == ["hidden0", "hidden1", "hidden2"]
    assert (info[0].rate_hz, info[0].start_s, info[0].n_features) == (50.0, 199.5 / 16000, 16)
    assert encoder.weights_status()[0] is False
    described = describe_encoder("hf:" + str(folder))
    assert (described.input_rate_hz, described.default_layer) == (16000.0, "hidden1")
    assert described.weights_available is False and len(described.layers) == 3
    with pytest.raises(WeightsNotCachedError, match="frisson fetch hf:"):
        encoder.encode(audio_from_array(_noise(1.0, 16000), 16000))
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(DataError, match=r"no preprocessor_config\.json; save the model's feature"):
        HFEncoder(str(folder)).layer_info()


def test_unknown_model_type_lists_supported_families(tmp_path):
    folder = tmp_path / "bert"
    T.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(folder)
    with pytest.raises(ParameterError, match=r"'bert' model.*wav2vec2.*audio-spectrogram.*whisper"):
        HFEncoder(str(folder)).layer_info()


def test_window_settings_are_checked(wav2vec2_dir):
    with pytest.raises(ParameterError, match=r"window_hop_s=3\.0 exceeds window_s=2\.0"):
        HFEncoder(str(wav2vec2_dir), window_s=2.0, window_hop_s=3.0)
    with pytest.raises(ParameterError, match="fewer than two frames"):
        HFEncoder(str(wav2vec2_dir), window_s=0.02).layer_info()


def test_published_configs_have_the_real_architecture():
    mert = _published_config("m-a-p/MERT-v1-95M")
    assert isinstance(mert, T.HubertConfig)
    assert (mert.hidden_size, mert.num_hidden_layers, mert.num_attention_heads) == (768, 12, 12)
    assert int(np.prod(mert.conv_stride)) == 320  # 75 Hz at 24 kHz
    base = _published_config("facebook/wav2vec2-base")
    assert (base.model_type, base.hidden_size, base.feat_extract_norm) == ("wav2vec2", 768, "group")
    with pytest.raises(ParameterError, match="known: m-a-p/MERT-v1-95M"):
        _published_config("openai/whisper-base")
