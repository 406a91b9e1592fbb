"""VGGish: the original front end, the port's network, 24 layers on a patch-centre time axis.

Offline: random weights in the port's published layout are written under the
published file names into a temporary FRISSON_HOME and loaded through the same
path the real weights take.
"""

from __future__ import annotations

import zipfile

import librosa
import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from frisson.audio import audio_from_array
from frisson.encoders import Encoder, WeightsNotCachedError, describe_encoder, get_encoder
from frisson.encoders import vggish as vg
from frisson.encoders._shared import MODELS
from frisson.errors import AudioError, DataError, ParameterError

RATE = 16000

LAYER_SHAPES = {
    "input": (96, 64, 1),
    "conv1": (96, 64, 64),
    "conv1_relu": (96, 64, 64),
    "pool1": (48, 32, 64),
    "conv2": (48, 32, 128),
    "conv2_relu": (48, 32, 128),
    "pool2": (24, 16, 128),
    "conv3_1": (24, 16, 256),
    "conv3_1_relu": (24, 16, 256),
    "conv3_2": (24, 16, 256),
    "conv3_2_relu": (24, 16, 256),
    "pool3": (12, 8, 256),
    "conv4_1": (12, 8, 512),
    "conv4_1_relu": (12, 8, 512),
    "conv4_2": (12, 8, 512),
    "conv4_2_relu": (12, 8, 512),
    "pool4": (6, 4, 512),
    "fc1_1": (4096,),
    "fc1_1_relu": (4096,),
    "fc1_2": (4096,),
    "fc1_2_relu": (4096,),
    "fc2": (128,),
    "fc2_relu": (128,),
    "embedding": (128,),
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # pytest -n 2 on 2 cores: one thread per worker
    yield
    torch.set_num_threads(before)


def _save_published_pca(params, path):
    """torch.save the PCA arrays, then spell numpy's module as numpy 1.x did (the real file)."""
    raw = path.with_suffix(".tmp")
    torch.save(params, raw)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            dst.writestr(info, data)
    raw.unlink()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A FRISSON_HOME holding random weights under the published file names."""
    root = tmp_path_factory.mktemp("frisson_home")
    folder = root / "vggish"
    folder.mkdir()
    torch.save(vg._random_state_dict(0), folder / vg.WEIGHTS_FILE)
    _save_published_pca(vg._random_pca_params(0), folder / vg.PCA_FILE)
    vg._register_random_weights(folder)  # accepted although their hashes are not the published
    return root


@pytest.fixture
def weights(home, monkeypatch):
    monkeypatch.setenv("FRISSON_HOME", str(home))
    return home / "vggish"


def _noise(seconds, seed=0, level=0.1):
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    samples = level * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 440 * t)
    return audio_from_array(samples, RATE, source="noise", min_duration_s=0.1)


# ------------------------------------------------------------------------ layers
def test_the_24_layers_of_the_published_graph_with_widths_and_time_axis():
    encoder = get_encoder("vggish")
    assert isinstance(encoder, Encoder) and encoder.name == "vggish"
    assert encoder.layers == tuple(LAYER_SHAPES) and len(encoder.layers) == 24
    assert encoder.input_rate_hz == 16000 and encoder.default_layer == "embedding"
    info = {layer.name: layer for layer in encoder.layer_info()}
    assert {n: i.n_features for n, i in info.items()} == {
        n: int(np.prod(s)) for n, s in LAYER_SHAPES.items()
    }
    assert info["conv1"].n_features == 96 * 64 * 64
    for layer in info.values():
        assert layer.rate_hz == 100 / 48 and layer.start_s == 0.4875
    slow = get_encoder("vggish", patch_hop_s=0.96)
    assert slow.layer_info()[0].rate_hz == 100 / 96
    assert slow.config()["patch_hop_frames"] == 96 and encoder.config()["patch_hop_frames"] == 48
    assert encoder.config() != get_encoder("vggish", postprocess=True).config()
    assert get_encoder("vggish", postprocess=True).config()["postprocess"] is True


def test_describe_and_status_follow_the_cache(weights, tmp_path, monkeypatch):
    info = describe_encoder("vggish")
    assert info.weights_available and str(weights) in info.weights
    assert len(info.layers) == 24
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))
    cached, where = get_encoder("vggish").weights_status()
    assert not cached and "frisson fetch vggish" in where and str(tmp_path / "vggish") in where


# --------------------------------------------------------------------- front end
def _reference_mel_matrix():
    """spectrogram_to_mel_matrix written out band by band, as in mel_features.py."""

    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins_mel = hz_to_mel(np.linspace(0.0, 8000.0, 257))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)
    weights = np.empty((257, 64))
    for i in range(64):
        lo, mid, hi = edges[i : i + 3]
        lower = (bins_mel - lo) / (mid - lo)
        upper = (hi - bins_mel) / (hi - mid)
        weights[:, i] = np.maximum(0.0, np.minimum(lower, upper))
    weights[0, :] = 0.0
    return weights


def _reference_log_mel(samples):
    """librosa's STFT of 400-sample frames from sample 0 (not centred), the loop mel matrix."""
    window = scipy.signal.get_window("hann", 400, fftbins=True)  # periodic Hann
    # librosa centres the 400-sample window in the 512-point frame (56 zeros each side):
    # padding the signal by 56 makes frame j cover samples [160 j, 160 j + 400) exactly.
    padded = np.pad(np.asarray(samples, np.float64), (56, 56))
    spectrum = librosa.stft(
        padded, n_fft=512, hop_length=160, win_length=400, window=window, center=False
    )
    return np.log(np.abs(spectrum).T @ _reference_mel_matrix() + 0.01)


def test_front_end_matches_an_independent_reference():
    audio = _noise(1.537, seed=3)
    frames = vg.log_mel(audio)
    reference = _reference_log_mel(audio.samples)
    assert frames.values.shape == reference.shape == (1 + (audio.samples.size - 400) // 160, 64)
    assert frames.values.dtype == np.float32
    np.testing.assert_allclose(frames.values, reference, atol=1e-5, rtol=0)
    assert frames.rate_hz == 100.0 and frames.start_s == 0.0125
    np.testing.assert_allclose(vg.mel_matrix(), _reference_mel_matrix(), atol=1e-12, rtol=0)
    # librosa's HTK filterbank is linear in Hz between the mel edges, not in mel: it differs
    htk = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None
    ).T
    assert np.abs(htk - _reference_mel_matrix()).max() > 1e-3


def test_other_rates_are_resampled_to_16_khz_first():
    t = np.arange(int(2.0 * 44100)) / 44100
    audio = audio_from_array(0.3 * np.sin(2 * np.pi * 1000 * t), 44100)
    frames = vg.log_mel(audio)
    expected = _reference_log_mel(audio.resample(16000).samples)
    np.testing.assert_allclose(frames.values, expected, atol=1e-5, rtol=0)
    band = np.argmax(frames.values.mean(axis=0))  # 1 kHz lies in the band whose peak is nearest
    centres_hz = 700 * (
        np.exp(
            np.linspace(1127 * np.log(1 + 125 / 700), 1127 * np.log(1 + 7500 / 700), 66)[1:-1]
            / 1127
        )
        - 1
    )
    assert band == np.argmin(np.abs(centres_hz - 1000))


def test_input_layer_is_the_96_frame_patches_at_the_patch_hop(weights):
    audio = _noise(3.0)
    frames = _reference_log_mel(audio.samples)
    for hop_s, hop in ((0.48, 48), (0.96, 96), (0.25, 25)):
        layer = get_encoder("vggish", patch_hop_s=hop_s).encode(audio, layers=["input"])["input"]
        n_patches = 1 + (frames.shape[0] - 96) // hop
        assert layer.n_times == n_patches and layer.rate_hz == 100 / hop
        expected = np.stack([frames[k * hop : k * hop + 96].ravel() for k in range(n_patches)])
        np.testing.assert_allclose(layer.values, expected, atol=1e-5, rtol=0)
        assert layer.names[:2] == ("t00_f00", "t00_f01") and layer.names[-1] == "t95_f63"


# ----------------------------------------------------------------------- network
def test_shapes_names_and_times_of_every_layer(weights):
    audio = _noise(3.0)  # 298 frames: patches at frames 0, 48, ..., 192
    embedding = get_encoder("vggish").encode(audio)
    assert embedding.layer_names == tuple(LAYER_SHAPES)
    for name, shape in LAYER_SHAPES.items():
        layer = embedding[name]
        assert layer.values.shape == (5, int(np.prod(shape))) and layer.values.dtype == np.float32
        assert np.isfinite(layer.values).all() and np.ptp(layer.values) > 0
        np.testing.assert_allclose(layer.times_s, 0.4875 + 0.48 * np.arange(5), atol=1e-12)
    assert embedding["conv2"].names[:2] == ("t00_f00_c000", "t00_f00_c001")
    assert embedding["pool4"].names[-1] == "t05_f03_c511"
    assert embedding["fc1_1"].names[-1] == "unit4095" and embedding["fc2"].names[0] == "unit000"
    assert embedding["embedding"].names[-1] == "pc127"
    only = get_encoder("vggish").encode(audio, layers=["pool2", "fc2"])
    assert only.layer_names == ("pool2", "fc2")
    np.testing.assert_array_equal(only["fc2"].values, embedding["fc2"].values)


class _PortVGG(torch.nn.Module):
    """torchvggish's VGG written out: features, NHWC transposes, flatten, embeddings."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 1
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]:
            if v == "M":
                layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [torch.nn.Conv2d(channels, v, kernel_size=3, padding=1), torch.nn.ReLU()]
                channels = v
        self.features = torch.nn.Sequential(*layers)
        self.embeddings = torch.nn.Sequential(
            torch.nn.Linear(512 * 4 * 6, 4096), torch.nn.ReLU(),
            torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
            torch.nn.Linear(4096, 128), torch.nn.ReLU(),
        )  # fmt: skip

    def forward(self, x):
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        return self.embeddings(x.contiguous().view(x.size(0), -1))


def test_network_equals_independent_computations(weights):
    audio = _noise(2.5, seed=5)
    embedding = get_encoder("vggish").encode(audio)
    patches = embedding["input"].values.reshape(-1, 96, 64)
    state = torch.load(weights / vg.WEIGHTS_FILE, weights_only=True)

    # the port's own module structure, loaded strictly from the same file
    port = _PortVGG()
    port.load_state_dict(state, strict=True)
    with torch.no_grad():
        expected = port(torch.from_numpy(patches)[:, None]).numpy()
    got = embedding["fc2_relu"].values
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())

    # conv1 = conv2d of the input patch, flattened as (time, band, channel)
    with torch.no_grad():
        conv1 = F.conv2d(torch.from_numpy(patches)[:, None], state["features.0.weight"],
                         state["features.0.bias"], padding=1)  # fmt: skip
    expected = conv1.permute(0, 2, 3, 1).reshape(len(patches), -1).numpy()
    np.testing.assert_allclose(embedding["conv1"].values, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        embedding["conv1_relu"].values, np.maximum(embedding["conv1"].values, 0)
    )

    # pool1 = 2x2 max of conv1_relu in the (time, band, channel) layout
    relu1 = embedding["conv1_relu"].values.reshape(-1, 48, 2, 32, 2, 64)
    np.testing.assert_array_equal(embedding["pool1"].values.reshape(-1, 48, 32, 64),
                                  relu1.max(axis=(2, 4)))  # fmt: skip

    # fc1_1 reads pool4 in the port's flattening; fc2 is a plain affine map of fc1_2_relu
    def affine(x, key):
        return x @ state[f"{key}.weight"].numpy().T + state[f"{key}.bias"].numpy()

    fc1_1 = affine(embedding["pool4"].values, "embeddings.0")
    np.testing.assert_allclose(embedding["fc1_1"].values, fc1_1, rtol=1e-4, atol=1e-4)
    fc2 = affine(embedding["fc1_2_relu"].values, "embeddings.4")
    np.testing.assert_allclose(embedding["fc2"].values, fc2, rtol=1e-4, atol=1e-5)

    # embedding = vggish_postprocess PCA of fc2_relu; quantised with postprocess=True
    pca = vg._random_pca_params(0)
    whitened = (embedding["fc2_relu"].values - pca["pca_means"]) @ pca["pca_eigen_vectors"].T
    np.testing.assert_allclose(embedding["embedding"].values, whitened, rtol=1e-5, atol=1e-5)
    assert np.abs(whitened).max() > 2  # the clipping below is exercised
    quantised = get_encoder("vggish", postprocess=True).encode(audio, layers=["embedding"])
    expected = ((np.clip(whitened, -2, 2) + 2) * (255 / 4)).astype(np.uint8)
    np.testing.assert_array_equal(quantised["embedding"].values, expected)
    assert quantised["embedding"].values.min() == 0 and quantised["embedding"].values.max() == 255


def test_a_click_changes_exactly_the_patches_around_it_most_at_the_nearest_centre(weights):
    audio = _noise(5.0, seed=7)
    layers = ["input", "conv1", "pool1", "conv3_2_relu", "pool4", "fc1_2", "embedding"]
    for hop_s in (0.48, 0.96):
        encoder = get_encoder("vggish", patch_hop_s=hop_s)
        base = encoder.encode(audio, layers=layers)
        k = 2
        click_s = 0.4875 + k * hop_s  # the centre of patch k
        samples = audio.samples.copy()
        samples[round(click_s * RATE)] += 0.9
        clicked = encoder.encode(audio_from_array(samples, RATE, min_duration_s=0.1), layers=layers)
        times = base["input"].times_s
        spans = np.abs(times - click_s) < 0.4875  # patches whose 0.975 s span holds the click
        assert spans[k] and spans.sum() == (3 if hop_s == 0.48 else 1)
        for name in layers:
            change = np.abs(clicked[name].values - base[name].values).max(axis=1)
            scale = np.abs(base[name].values).max()
            assert np.all(change[~spans] <= 1e-6 * scale), name
            assert np.all(change[spans] > 1e-4 * scale), name
            peak = int(np.argmax(np.linalg.norm(clicked[name].values - base[name].values, axis=1)))
            assert abs(times[peak] - click_s) <= hop_s + 1e-9, name
            if name in ("input", "conv1", "pool1"):  # local layers: most where the click is central
                assert peak == k, name


# -------------------------------------------------------------------------- errors
def test_missing_weights_fail_at_once_naming_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))
    too_short = _noise(0.5)  # the weights are checked before the audio is looked at
    with pytest.raises(WeightsNotCachedError) as error:
        get_encoder("vggish").encode(too_short)
    message = str(error.value)
    assert "frisson fetch vggish" in message and str(tmp_path / "vggish") in message
    folder = tmp_path / "vggish"
    folder.mkdir()
    (folder / vg.WEIGHTS_FILE).write_bytes(b"")  # only the state dict: the PCA file is missing
    with pytest.raises(WeightsNotCachedError, match=vg.PCA_FILE):
        get_encoder("vggish").encode(_noise(2.0))


def test_a_foreign_weights_file_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))
    folder = tmp_path / "vggish"
    folder.mkdir()
    # every key of the port, but with the wrong shapes
    state = {key: torch.zeros(1) for key in vg._expected_shapes()}
    torch.save(state, folder / vg.WEIGHTS_FILE)
    torch.save(vg._random_pca_params(2), folder / vg.PCA_FILE)
    # not the published files: refused by their hash before anything is read
    with pytest.raises(DataError, match=rf"{vg.WEIGHTS_FILE}: SHA-256 [0-9a-f]{{12}}\.\.\. does "
                       r"not match the published VGGish file \(10086976\.\.\.\).*"
                       r"`frisson fetch vggish`"):  # fmt: skip
        get_encoder("vggish").encode(_noise(2.0))
    vg._register_random_weights(folder)  # past the hash: the structure checks
    with pytest.raises(DataError, match=r"features\.0\.weight has shape \(1,\), expected"):
        get_encoder("vggish").encode(_noise(2.0))
    del state["embeddings.4.weight"]
    torch.save(state, folder / vg.WEIGHTS_FILE)
    vg._register_random_weights(folder)
    with pytest.raises(DataError, match=r"missing keys: embeddings\.4\.weight"):
        get_encoder("vggish").encode(_noise(2.0))
    (folder / vg.WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    vg._register_random_weights(folder)
    with pytest.raises(DataError, match=f"{vg.WEIGHTS_FILE}: cannot be read"):
        get_encoder("vggish").encode(_noise(2.0))


def test_weights_load_once_into_the_shared_cache_keyed_by_the_files(home, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("FRISSON_HOME", str(home))
    params = vg._load_params("cpu")
    assert vg._load_params("cpu") is params
    (key,) = [k for k in MODELS.keys() if k[0] == "vggish" and str(home) in k[1][0]]
    assert key[-1] == "cpu" and MODELS.get(key, lambda: None) is params
    shutil.copytree(home / "vggish", tmp_path / "vggish")  # same bytes, other files
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))
    copy = vg._load_params("cpu")
    assert copy is not params
    np.testing.assert_array_equal(copy.pca_matrix, params.pca_matrix)


def test_weights_damaged_after_the_download_are_refused_on_load(home, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "vggish"
    shutil.copytree(home / "vggish", folder)
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))
    get_encoder("vggish").encode(_noise(2.0), layers=["embedding"])  # registered: loads
    raw = bytearray((folder / vg.PCA_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte, same size
    (folder / vg.PCA_FILE).write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"{vg.PCA_FILE}: SHA-256 .* \(970ea276\.\.\.\).*"
                       r"Delete it and run `frisson fetch vggish` again"):  # fmt: skip
        get_encoder("vggish").encode(_noise(2.0), layers=["embedding"])


@pytest.mark.parametrize("hop_s", [0, -0.48, 0.005, 0.485, 0.97, 1.0, True, "0.48", float("nan")])
def test_patch_hop_must_be_whole_frames_up_to_one_patch(hop_s):
    with pytest.raises(ParameterError, match="patch_hop_s"):
        vg.VggishEncoder(patch_hop_s=hop_s)


def test_settings_are_checked():
    assert vg.VggishEncoder(patch_hop_s=0.01).patch_hop_frames == 1
    assert vg.VggishEncoder(patch_hop_s=0.96).rate_hz == 100 / 96
    with pytest.raises(ParameterError, match="device"):
        vg.VggishEncoder(device="gpu")
    with pytest.raises(ParameterError, match="postprocess"):
        vg.VggishEncoder(postprocess="yes")
    with pytest.raises(ParameterError, match="no layer"):
        vg.VggishEncoder().encode(_noise(2.0), layers=["conv5"])
    with pytest.raises(ParameterError, match="layers is empty"):
        vg.VggishEncoder().encode(_noise(2.0), layers=[])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_a_cuda_device_without_a_gpu_is_one_clear_error(weights):
    with pytest.raises(ParameterError, match="no CUDA device"):
        vg.VggishEncoder(device="cuda").encode(_noise(2.0))


def test_audio_shorter_than_one_patch_names_the_minimum(weights):
    encoder = get_encoder("vggish")
    with pytest.raises(AudioError, match=r"0\.960 s, shorter than one VGGish patch \(0\.975 s"):
        encoder.encode(_noise(0.96))
    exactly = audio_from_array(np.resize(_noise(1.0).samples, 15600), RATE, min_duration_s=0.1)
    assert encoder.encode(exactly, layers=["fc2"])["fc2"].n_times == 1


def test_bf16_precision_is_within_one_percent_and_keyed_apart(weights):
    """bf16 (opt-in): every layer within 2 % of float32 (measured 0.3-0.9 % on random weights)."""
    from frisson.encoders._fast_codecs import fast_dtype

    audio = _noise(4.0, seed=7)
    names = ["input", "conv1", "conv3_2", "conv4_2", "pool4", "fc1_1", "fc2", "embedding"]
    exact = vg.VggishEncoder().encode(audio, layers=names)
    encoder = vg.VggishEncoder(precision="bf16")
    low = encoder.encode(audio, layers=names)
    bf16 = fast_dtype("bf16", "cpu") == "bfloat16"
    assert encoder.compute_dtype == ("bfloat16" if bf16 else "float32")
    assert "precision='bf16'" in repr(encoder)
    errors = {}
    for name in names:
        got, want = low[name], exact[name]
        assert got.values.dtype == np.float32 and got.values.shape == want.values.shape
        assert np.array_equal(got.times_s, want.times_s)
        errors[name] = np.linalg.norm(got.values - want.values) / np.linalg.norm(want.values)
    assert errors.pop("input") == 0  # the log-mel front end is float64 / float32 in both
    if bf16:  # 8 mantissa bits: 2^-9 = 0.2 % per rounding, ~0.5-0.9 % after 8 layers
        assert 1e-4 < errors["conv1"] < 0.01 and max(errors.values()) < 0.02, errors
        assert encoder.config()["precision"] == "bfloat16"
        assert encoder.config() != vg.VggishEncoder().config()
    else:
        assert max(errors.values()) < 1e-6, errors
    assert "precision" not in vg.VggishEncoder().config()  # float32 keys stay as they were
    with pytest.raises(ParameterError, match="precision='half'"):
        vg.VggishEncoder(precision="half")
