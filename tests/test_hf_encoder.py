"""hf:<repo>: tiny random transformers models saved to disk and loaded the way real ones are."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import transformers as T

from frisson.audio import audio_from_array
from frisson.encoders import WeightsNotCachedError, describe_encoder, get_encoder
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


def test_instances_share_one_model_from_the_encoders_cache(wav2vec2_dir):
    from frisson.encoders._shared import MODELS, repo_key

    first, second = HFEncoder(str(wav2vec2_dir)), HFEncoder(str(wav2vec2_dir), window_s=1.0)
    first._load()
    second._load()
    assert second._model is first._model
    assert second._feature_extractor is first._feature_extractor
    assert ("hf", *repo_key(str(wav2vec2_dir)), "cpu") in MODELS


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
    clap = _published_config("laion/clap-htsat-unfused")  # HTSAT-tiny: 96 * 2**3 = 768 wide
    audio = clap.audio_config
    assert (audio.spec_size, audio.num_mel_bins, audio.patch_embeds_hidden_size) == (256, 64, 96)
    assert (list(audio.depths), audio.hidden_size, clap.projection_dim) == ([2, 2, 6, 2], 768, 512)
    with pytest.raises(ParameterError, match="known: m-a-p/MERT-v1-95M"):
        _published_config("openai/whisper-base")


# --------------------------------------------------------------------------------- CLAP
# HTSAT in miniature: 64 x 64 image = 4 time chunks x 16 mel bands, 4 x 4 patches, 3 stages
# (token grids 16, 8, 4), 2-s windows at 48 kHz: 201 mel frames stretched to 256.
CLAP_AUDIO = dict(
    spec_size=64,
    num_mel_bins=16,
    patch_embeds_hidden_size=8,
    depths=[1, 1, 1],
    num_attention_heads=[2, 2, 2],
    hidden_size=32,
    window_size=4,
)
CLAP_TEXT = dict(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=16,
    max_position_embeddings=40,
)
CLAP_FRAME_SAMPLES = 480 * 200 / 255  # one interpolated frame: 200 mel hops over 255 frames


def _save_clap(folder, *, fused: bool, seed: int):
    torch.manual_seed(seed)
    audio = dict(CLAP_AUDIO, enable_fusion=fused, fusion_type="aff_2d" if fused else None)
    config = T.ClapConfig(text_config=CLAP_TEXT, audio_config=audio, projection_dim=8)
    model = T.ClapModel(config).eval()
    with torch.no_grad():  # move everything off its initial values (zero biases, unit norms)
        for parameter in model.audio_model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
        norm = model.audio_model.audio_encoder.batch_norm
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    model.save_pretrained(folder)
    truncation = "fusion" if fused else "rand_trunc"  # HTK or Slaney mel filters
    T.ClapFeatureExtractor(feature_size=16, max_length_s=2, truncation=truncation).save_pretrained(
        folder
    )
    return folder


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    return _save_clap(tmp_path_factory.mktemp("clap"), fused=False, seed=20)


@pytest.fixture(scope="module")
def fused_clap_dir(tmp_path_factory):
    return _save_clap(tmp_path_factory.mktemp("clap_fused"), fused=True, seed=21)


def _clap_reference(folder, samples, **extractor_settings):
    """The audio tower run directly: hidden states (C, H, W) and the normalised embedding."""
    features = T.ClapFeatureExtractor.from_pretrained(folder)(
        samples, sampling_rate=48000, return_tensors="pt", **extractor_settings
    )["input_features"]  # (1, 1 or 4 copies ("fusion"), 201 frames, 16 bands)
    model = T.ClapModel.from_pretrained(folder).eval()
    is_longer = torch.tensor([[False]])
    with torch.inference_mode():
        out = model.audio_model(
            features,
            is_longer=is_longer,
            output_hidden_states=True,
            output_hidden_states_before_downsampling=True,
        )
        embedding = model.get_audio_features(features, is_longer=is_longer).pooler_output
    return features, model, [state[0] for state in out.hidden_states], embedding[0].numpy()


def _unfold_by_index(state, n_rows, fold=4):
    """Row r = column r % W of chunk r // W, averaged over that chunk's frequency rows."""
    _, height, width = state.shape
    per_chunk = height // fold
    rows = []
    for r in range(n_rows):
        chunk, column = divmod(r, width)
        rows.append(state[:, chunk * per_chunk : (chunk + 1) * per_chunk, column].mean(-1))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("fused", [False, True])
def test_clap_stages_unfold_to_time_series_matching_the_tower(clap_dir, fused_clap_dir, fused):
    folder = fused_clap_dir if fused else clap_dir
    encoder = get_encoder("hf:" + str(folder))
    assert encoder.layers == ("hidden0", "hidden1", "hidden2", "hidden3", "embedding")
    assert encoder.input_rate_hz == 48000.0 and encoder.default_layer == "hidden1"
    samples = _noise(1.7, 48000, seed=22)  # one window, zero-padded to 2 s
    embedding = encoder.encode(audio_from_array(samples, 48000))
    features, model, states, reference_embedding = _clap_reference(folder, samples)
    info = {layer.name: layer for layer in encoder.layer_info()}
    # frames per row P = 4 (patch stride), 4 (stage 1), 8, 16 (merging halves time)
    for k, (frames, width) in enumerate([(4, 8), (4, 8), (8, 16), (16, 32)]):
        series = embedding[f"hidden{k}"]
        stamps = (frames * np.arange(256 // frames) + (frames - 1) / 2) * CLAP_FRAME_SAMPLES
        n_rows = int(np.sum(stamps <= samples.size))  # rows centred within the audio
        assert series.rate_hz == pytest.approx(48000 / (frames * CLAP_FRAME_SAMPLES), rel=1e-13)
        assert series.rate_hz == {4: 31.875, 8: 15.9375, 16: 7.96875}[frames]
        np.testing.assert_allclose(series.times_s, stamps[:n_rows] / 48000, rtol=1e-12)
        assert series.values.shape == (n_rows, width)
        expected = _unfold_by_index(states[k], n_rows)
        np.testing.assert_allclose(series.values, expected, atol=2e-5, rtol=0)
        layer = info[f"hidden{k}"]
        assert (layer.rate_hz, layer.start_s, layer.n_features) == (
            series.rate_hz,
            series.start_s,
            width,
        )
    # hidden0 from the unfolded spectrogram: normalise each band, stretch 201 -> 256
    # frames, 4 x 4 patches (4 frames x 4 bands) per row, project, layer-norm, mean over bands.
    encoder_module = model.audio_model.audio_encoder
    norm = encoder_module.batch_norm
    with torch.inference_mode():
        mel = (features[0, 0] - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
        mel = mel * norm.weight + norm.bias
        image = torch.nn.functional.interpolate(
            mel[None, None], (256, 16), mode="bicubic", align_corners=True
        )[0, 0]
        patches = image.reshape(64, 4, 4, 4)  # (row, frame in row, band group, band in group)
        conv = encoder_module.patch_embed.proj
        tokens = torch.einsum("rtgb,cbt->rgc", patches, conv.weight[:, 0]) + conv.bias
        tokens = encoder_module.patch_embed.norm(tokens)
        expected0 = tokens.mean(1).numpy()
    n0 = embedding["hidden0"].n_times
    np.testing.assert_allclose(embedding["hidden0"].values, expected0[:n0], atol=2e-5, rtol=0)
    # the projected embedding: one row, at the centre of the 1.7 s of audio in the window
    projected = embedding["embedding"]
    assert projected.values.shape == (1, 8) and projected.start_s == pytest.approx(0.85)
    np.testing.assert_allclose(projected.values[0], reference_embedding, atol=1e-6)
    assert np.linalg.norm(projected.values[0]) == pytest.approx(1.0, abs=1e-6)
    config = encoder.config()
    assert config["family"] == "clap" and config["is_longer"] is False
    assert config["truncation"] == ("fusion" if fused else "rand_trunc")


def test_clap_windows_stitch_stage_rows_and_embeddings_on_the_hop_grid(clap_dir):
    """5.5 s in 2-s windows starting every 12 of the 16 coarsest rows, the last ending the audio."""
    encoder = get_encoder("hf:" + str(clap_dir))
    samples = _noise(5.5, 48000, seed=23)
    embedding = encoder.encode(audio_from_array(samples, 48000), layers=["hidden3", "embedding"])
    coarse_hop = 16 * CLAP_FRAME_SAMPLES  # samples per hidden3 row
    n_rows0 = int((samples.size - 1.5 * CLAP_FRAME_SAMPLES) // (4 * CLAP_FRAME_SAMPLES)) + 1
    covered = -(-n_rows0 // 4)  # coarse rows holding every hidden0 row
    starts = [*range(0, covered - 16, 12), covered - 16]
    assert starts == [0, 12, 24, 28]
    runs = {s: _clap_reference(clap_dir, samples[round(s * coarse_hop) :][:96000]) for s in starts}
    series = embedding["hidden3"]
    assert series.n_times == int((samples.size - 7.5 * CLAP_FRAME_SAMPLES) // coarse_hop) + 1
    for row in range(series.n_times):
        # from the window whose centre (coarse row s + 7.5) is nearest; the first on a tie
        owner = min((s for s in starts if s <= row < s + 16), key=lambda s: abs(row - s - 7.5))
        expected = _unfold_by_index(runs[owner][2][3], 16)[row - owner]
        np.testing.assert_allclose(series.values[row], expected, atol=2e-5, rtol=0)
    projected = embedding["embedding"]  # windows on the 12-row hop grid: not the last (28)
    assert projected.start_s == pytest.approx(1.0) and projected.n_times == 3
    assert projected.rate_hz == pytest.approx(48000 / (12 * coarse_hop), rel=1e-13)
    np.testing.assert_allclose(projected.values, [runs[s][3] for s in (0, 12, 24)], atol=1e-6)


def test_clap_click_moves_the_patch_row_stamped_nearest(clap_dir):
    encoder = get_encoder("hf:" + str(clap_dir))
    clicks = np.array([0.6113, 2.3401, 4.4707])  # in the first, second and last window
    found, base = _argmax_change_times(encoder, _noise(5.0, 48000, seed=24), 48000, clicks)
    assert base.rate_hz == 31.875
    assert np.all(np.abs(found - clicks) <= 1 / base.rate_hz), (found, clicks)


def test_clap_short_audio_is_repeat_padded_and_embedded_at_its_centre(fused_clap_dir):
    samples = _noise(0.7, 48000, seed=25)  # shorter than half a window: repeated, then zeros
    encoder = get_encoder("hf:" + str(fused_clap_dir))
    embedding = encoder.encode(audio_from_array(samples, 48000, min_duration_s=0.5))
    _, _, states, reference = _clap_reference(fused_clap_dir, samples)
    n_rows = int(np.floor((samples.size - 7.5 * CLAP_FRAME_SAMPLES) / (16 * CLAP_FRAME_SAMPLES)))
    np.testing.assert_allclose(
        embedding["hidden3"].values, _unfold_by_index(states[3], n_rows + 1), atol=2e-5, rtol=0
    )
    assert embedding["embedding"].start_s == pytest.approx(0.35)  # the centre of the audio
    np.testing.assert_allclose(embedding["embedding"].values[0], reference, atol=1e-6)
    zero_padded = _clap_reference(fused_clap_dir, samples, padding="pad")[3]
    assert np.abs(zero_padded - reference).max() > 1e-2  # so the padding above mattered


def test_clap_from_the_hub_cache_layout(clap_dir, tmp_path, monkeypatch):
    """models--owner--name/{blobs, snapshots/<commit>, refs/main}, as huggingface_hub writes it."""
    import hashlib

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--frisson-test--tiny-clap"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for path in clap_dir.iterdir():
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (repo / "snapshots" / commit / path.name).symlink_to(f"../../blobs/{blob.name}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    encoder = get_encoder("hf:frisson-test/tiny-clap")
    assert encoder.name == "hf:frisson-test/tiny-clap"
    assert encoder.config()["revision"] == commit
    cached, where = encoder.weights_status()
    assert cached and commit in where
    audio = audio_from_array(_noise(1.5, 48000, seed=26), 48000)
    from_cache = encoder.encode(audio, layers=["hidden2", "embedding"])
    from_folder = get_encoder("hf:" + str(clap_dir)).encode(audio, layers=["hidden2", "embedding"])
    for name in ("hidden2", "embedding"):
        np.testing.assert_array_equal(from_cache[name].values, from_folder[name].values)
    assert from_folder.config["revision"] == f"local:{clap_dir.resolve()}"


def test_clap_geometry_it_cannot_unfold_and_other_windows_are_refused(tmp_path):
    extractor = T.ClapFeatureExtractor(feature_size=16, max_length_s=2)
    overlapping = tmp_path / "overlapping"
    audio = dict(CLAP_AUDIO, patch_size=6)
    T.ClapConfig(text_config=CLAP_TEXT, audio_config=audio).save_pretrained(overlapping)
    extractor.save_pretrained(overlapping)
    with pytest.raises(ParameterError, match="non-overlapping patches only"):
        HFEncoder(str(overlapping)).layer_info()
    fine = tmp_path / "fine"
    T.ClapConfig(text_config=CLAP_TEXT, audio_config=CLAP_AUDIO).save_pretrained(fine)
    extractor.save_pretrained(fine)
    assert len(HFEncoder(str(fine)).layer_info()) == 5
    with pytest.raises(ParameterError, match=r"CLAP takes 2-s inputs only"):
        HFEncoder(str(fine), window_s=5.0).layer_info()
    T.ClapFeatureExtractor(feature_size=16, max_length_s=3).save_pretrained(fine)
    with pytest.raises(DataError, match="at most 256 frames"):  # 301 mel frames > 256
        HFEncoder(str(fine)).layer_info()
