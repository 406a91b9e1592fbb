"""musicnn / vgg encoders: time axes, patch stitching, settings and errors."""

import importlib.resources

import numpy as np
import pytest

from frisson.audio import audio_from_array
from frisson.encoders import Encoder, describe_encoder, get_encoder
from frisson.encoders import musicnn as mn
from frisson.encoders._tf_checkpoint import CheckpointError
from frisson.errors import AudioError, ParameterError

pytestmark = pytest.mark.skipif(
    not mn.weights_available("MSD_musicnn"), reason="needs `frisson fetch musicnn`"
)
RATE = 16000


def _onset_audio(onset_s=4.0, seconds=9.0):
    """Faint noise, then a loud 440 Hz tone from ``onset_s`` on."""
    t = np.arange(int(seconds * RATE)) / RATE
    samples = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    samples += np.where(t >= onset_s, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    return audio_from_array(samples, RATE, source="onset")


@pytest.fixture(scope="module")
def onset_audio():
    return _onset_audio()


def test_registered_encoders_follow_the_protocol_and_describe_their_layers():
    for name, frame_layer, frame_rate in (
        ("musicnn-msd", "cnn3", 62.5),
        ("musicnn-mtt", "timbral", 62.5),
        ("vgg-msd", "pool3", 62.5 / 8),
        ("vgg-mtt", "pool5", 62.5 / 64),
    ):
        encoder = get_encoder(name)
        assert isinstance(encoder, Encoder) and encoder.name == name
        assert encoder.input_rate_hz == 16000
        info = describe_encoder(name)
        assert info.weights_available and "musicnn==0.1.0" in info.weights
        layers = {layer.name: layer for layer in info.layers}
        assert layers[frame_layer].rate_hz == pytest.approx(frame_rate)
        taggram = layers["taggram"]
        assert taggram.n_features == 50
        hop = 187 if "musicnn" in name else 128
        assert taggram.rate_hz == pytest.approx(62.5 / hop)
        assert taggram.start_s == pytest.approx(93 / 62.5)
    widths = {layer.name: layer.n_features for layer in describe_encoder("musicnn-msd").layers}
    assert widths == {
        "timbral": 408,
        "temporal": 153,
        "cnn1": 64,
        "cnn2": 64,
        "cnn3": 64,
        "mean_pool": 753,
        "max_pool": 753,
        "penultimate": 200,
        "taggram": 50,
    }
    assert get_encoder("musicnn-msd").tags[:3] == ("rock", "pop", "alternative")
    assert get_encoder("vgg-mtt").tags[:3] == ("guitar", "classical", "slow")


def test_patch_hop_is_rounded_to_frames_and_checked():
    assert get_encoder("musicnn-msd").patch_hop_frames == 187
    assert get_encoder("musicnn-msd", patch_hop_s=1.0).patch_hop_frames == 63  # 62.5, half up
    assert get_encoder("musicnn-msd", patch_hop_s=61 / 62.5).patch_hop_frames == 61
    assert get_encoder("musicnn-msd", patch_hop_s=0.5).config()["patch_hop_frames"] == 31
    with pytest.raises(ParameterError, match=r"between one frame .* and one patch"):
        get_encoder("musicnn-msd", patch_hop_s=3.5)
    with pytest.raises(ParameterError, match="patch_hop_s must be > 0"):
        get_encoder("musicnn-msd", patch_hop_s=0)
    with pytest.raises(ParameterError, match="fixes checkpoint"):
        get_encoder("musicnn-msd", checkpoint="MTT_vgg")
    with pytest.raises(ParameterError, match="checkpoint='MSD_big' is not valid"):
        mn.MusicnnEncoder(checkpoint="MSD_big")


def test_every_instance_shares_one_network_from_the_encoders_model_cache():
    from frisson.encoders._shared import MODELS

    network = get_encoder("musicnn-msd").network
    assert ("musicnn", "MSD_musicnn") in MODELS
    assert get_encoder("musicnn-msd", patch_hop_s=1.0).network is network
    assert mn.MusicnnEncoder(checkpoint="MSD_musicnn").network is network
    assert get_encoder("musicnn-mtt").network is not network  # another checkpoint, another key


def test_patches_follow_the_original_batching():
    np.testing.assert_array_equal(mn.patch_starts(626, 187), [0, 187, 374])
    np.testing.assert_array_equal(mn.patch_starts(440, 61), np.arange(0, 254, 61))
    assert mn.patch_starts(187, 187).tolist() == [0]
    assert mn.patch_starts(186, 187).size == 0


@pytest.mark.parametrize(
    ("name", "layer", "tolerance_s"),
    [
        ("musicnn-msd", "timbral", 2 / 62.5),
        ("musicnn-msd", "cnn1", 2 / 62.5),
        ("vgg-msd", "pool1", 1.5 * 2 / 62.5),  # within 1.5 rows
        ("vgg-msd", "pool2", 1.5 * 4 / 62.5),
    ],
)
def test_rows_are_stamped_at_the_time_of_what_they_see(name, layer, tolerance_s, onset_audio):
    # A tone starts at 4.0 s: the largest change between neighbouring rows straddles 4.0 s.
    series = get_encoder(name).encode(onset_audio, layers=[layer])[layer]
    change = np.abs(np.diff(series.values, axis=0)).mean(axis=1)
    k = int(np.argmax(change))
    midpoint = (series.times_s[k] + series.times_s[k + 1]) / 2
    assert abs(midpoint - 4.0) <= tolerance_s, (series.times_s[k], series.times_s[k + 1])


def test_non_overlapping_frame_layers_are_the_patches_concatenated(onset_audio):
    encoder = get_encoder("musicnn-msd")
    embedding = encoder.encode(onset_audio, layers=["cnn2", "temporal", "max_pool"])
    frames = mn.log_mel(onset_audio).values
    starts = mn.patch_starts(frames.shape[0], 187)
    patches = np.stack([frames[s : s + 187] for s in starts])
    direct = encoder.run_patches(patches, layers=["cnn2", "temporal", "max_pool"])
    np.testing.assert_array_equal(embedding["cnn2"].values, direct["cnn2"].reshape(-1, 64))
    np.testing.assert_array_equal(embedding["temporal"].values, direct["temporal"].reshape(-1, 153))
    # max_pool is the patch maximum of the frame layers (channel block order as in the graph)
    np.testing.assert_allclose(
        embedding["max_pool"].values[:, 561 + 64 : 561 + 128], direct["cnn2"].max(axis=1)
    )
    assert embedding["cnn2"].n_times == 187 * starts.size
    assert embedding["cnn2"].start_s == 0.0 and embedding["cnn2"].rate_hz == 62.5
    assert embedding["max_pool"].names[561 + 64] == "cnn2_00"


@pytest.mark.parametrize(("name", "hop_s"), [("musicnn-msd", 1.0), ("vgg-msd", 1.024)])
def test_overlapping_patches_take_each_row_from_the_nearest_centred_patch(name, hop_s, onset_audio):
    encoder = get_encoder(name, patch_hop_s=hop_s)
    hop = encoder.patch_hop_frames
    layer = "cnn3" if "musicnn" in name else "pool2"
    series = encoder.encode(onset_audio, layers=[layer])[layer]
    frames = mn.log_mel(onset_audio).values
    starts = mn.patch_starts(frames.shape[0], hop)
    per_patch = encoder.run_patches(np.stack([frames[s : s + 187] for s in starts]), layers=[layer])
    per_patch = per_patch[layer].reshape(starts.size, per_patch[layer].shape[1], -1)
    spec = mn._layers_of(encoder.checkpoint)[layer]
    row_frames = spec.offset_frames + spec.stride_frames * np.arange(series.n_times)
    np.testing.assert_allclose(series.times_s, row_frames / 62.5)
    centres = starts + 93
    for g in range(series.n_times):
        # candidates: patches that compute row g; pick the one whose centre is nearest
        steps = g - starts // spec.stride_frames
        ok = (steps >= 0) & (steps < spec.n_steps)
        assert ok.any()
        candidates = np.flatnonzero(ok)
        best = candidates[np.argmin(np.abs(row_frames[g] - centres[candidates]))]
        np.testing.assert_array_equal(series.values[g], per_patch[best, steps[best]])


def test_vgg_pools_need_an_aligned_hop_but_the_taggram_does_not(onset_audio):
    encoder = get_encoder("vgg-mtt", patch_hop_s=2.992)
    with pytest.raises(ParameterError, match=r"multiple of 64 frames .* patch_hop_s=2\.048"):
        encoder.encode(onset_audio, layers=["pool5"])
    taggram = encoder.encode(onset_audio, layers=["taggram"])["taggram"]
    assert taggram.n_times == 3 and taggram.rate_hz == pytest.approx(62.5 / 187)


def test_threads_and_batches_do_not_change_the_numbers(onset_audio):
    one = get_encoder("musicnn-msd", n_threads=1, batch_size=1).encode(onset_audio)
    many = get_encoder("musicnn-msd", n_threads=2, batch_size=2).encode(onset_audio)
    for layer in one.layer_names:
        np.testing.assert_allclose(one[layer].values, many[layer].values, rtol=0, atol=1e-4)
    assert set(one.layer_names) == set(get_encoder("musicnn-msd").layers)


def test_top_tags_rank_the_mean_taggram(onset_audio):
    encoder = get_encoder("musicnn-mtt")
    embedding = encoder.encode(onset_audio, layers=["taggram"])
    top = encoder.top_tags(embedding, n=4)
    mean = embedding["taggram"].values.mean(axis=0)
    assert [p for _, p in top] == sorted(mean, reverse=True)[:4]
    assert top[0][0] == encoder.tags[int(np.argmax(mean))]
    assert all(0 < p < 1 for _, p in top)


def test_audio_shorter_than_one_patch_is_refused_with_the_minimum():
    t = np.arange(47615) / RATE  # one sample short of 187 centred frames
    short = audio_from_array(0.3 * np.sin(2 * np.pi * 300 * t), RATE, source="clip.wav")
    with pytest.raises(AudioError, match=r"clip\.wav: lasts 2\.98 s, shorter than one musicnn-msd"):
        get_encoder("musicnn-msd").encode(short)
    just = audio_from_array(0.3 * np.sin(2 * np.pi * 300 * np.arange(47616) / RATE), RATE)
    assert get_encoder("musicnn-msd").encode(just, layers=["taggram"])["taggram"].n_times == 1


def test_overflowing_input_is_refused():
    t = np.arange(5 * RATE) / RATE
    loud = audio_from_array(3000.0 * np.sin(2 * np.pi * 300 * t), RATE, source="loud.wav")
    with pytest.raises(AudioError, match=r"loud\.wav: the mel power exceeds the float16 range"):
        get_encoder("musicnn-msd").encode(loud)


def test_missing_wheel_says_how_to_install_it(monkeypatch, tmp_path):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setenv("FRISSON_HOME", str(tmp_path))  # nothing fetched there
    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(CheckpointError, match=r"run `frisson fetch musicnn` once"):
        mn.checkpoint_path("MSD_musicnn")
    monkeypatch.setattr(mn.importlib.util, "find_spec", lambda name: None)
    assert not mn.weights_available("MTT_vgg")
    available, how = get_encoder("vgg-mtt").weights_status()
    assert not available and how == "missing: frisson fetch musicnn"


def test_cli_lists_encoders_with_rates_widths_and_weights():
    from click.testing import CliRunner

    from frisson.cli import main

    out = CliRunner().invoke(main, ["encoders"]).output
    assert "musicnn-msd (default):" in out
    for name in ("musicnn-mtt", "vgg-msd", "vgg-mtt", "mel"):
        assert f"\n{name}:" in out or out.startswith(f"{name}:")
    assert "weights: offline, musicnn==0.1.0 wheel (MSD_musicnn); default layer: cnn3" in out
    blocks = {}  # encoder name -> {layer: [rate, start, width]}
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = blocks.setdefault(line.split(":")[0].split(" ")[0], {})
        elif line[:2] == "  ":
            current[line.split()[0]] = line.split()[1:4]
    assert blocks["vgg-mtt"]["taggram"] == ["0.4883", "1.488", "50"]
    assert blocks["vgg-mtt"]["pool1"] == ["31.25", "0.024", "6144"]
    assert blocks["musicnn-msd"]["cnn3"] == ["62.5", "0.000", "64"]
    assert "weights: none needed" in out  # mel
    brief = CliRunner().invoke(main, ["encoders", "--brief"]).output
    assert "rate (Hz)" not in brief and "vgg-mtt:" in brief


def test_float16_rounding_is_numpys_bit_for_bit():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.lognormal(-10, 6, 200_000),  # subnormal to overflowing magnitudes
            [0.0, 5.96e-8, 2.98e-8, 2.99e-8, 1 + 2**-11, 1 + 3 * 2**-11, 65504, 65519.9, 65520],
        ]
    ).astype(np.float32)
    with np.errstate(over="ignore"):
        expected = values.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(mn._float16_round(values), expected)
    assert np.isinf(mn._float16_round(np.float32([65520.0]))).all()
