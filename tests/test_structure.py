"""frisson.structure: smoothing in seconds, tested transitions and their null, gap clusters."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from frisson import latent, structure
from frisson.encoders import get_encoder
from frisson.errors import DataError, ParameterError
from frisson.simulate import synth_piece
from frisson.timeseries import TimeSeries

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _stationary_audio import stationary_mel_latents

DAC_HZ = 44100 / 512


def _ar1_pcs(rng, duration_s, tau_s, rate_hz=DAC_HZ / 4, n_pcs=10):
    phi = np.exp(-1 / (tau_s * rate_hz))
    n = int(duration_s * rate_hz)
    values = lfilter([1.0], [1.0, -phi], rng.standard_normal((n + 500, n_pcs)), axis=0)[500:]
    return TimeSeries(values * np.linspace(3, 1, n_pcs), rate_hz)


def _stepped_pcs(rng, boundaries_s, duration_s, rate_hz=20.0, n_pcs=10, noise=1.0):
    times = np.arange(int(duration_s * rate_hz)) / rate_hz
    states = 2.0 * np.eye(len(boundaries_s) + 1, n_pcs)  # every step 2.8 units
    levels = states[np.searchsorted(boundaries_s, times, side="right")]
    smooth = lfilter([1.0], [1.0, -0.9], rng.standard_normal((times.size, n_pcs)), axis=0)
    return TimeSeries(levels + noise * 0.3 * smooth, rate_hz)


# ------------------------------------------------------------------------- smoothing
def test_smoothing_in_seconds_is_the_posters_at_dac_and_the_same_seconds_elsewhere():
    assert structure.smoothing_frames(
        DAC_HZ, structure.POSTER_WINDOW_S, structure.POSTER_HOP_S
    ) == (
        100,
        4,
    )
    # musicnn (62.5 frames/s): 73 x 16 ms = 1.168 s, hop 3 frames = 0.048 s
    assert structure.smoothing_frames(62.5, structure.POSTER_WINDOW_S, structure.POSTER_HOP_S) == (
        73,
        3,
    )
    frames = TimeSeries(np.random.default_rng(0).standard_normal((1000, 3)), 62.5)
    smooth = structure.smooth_latent(frames, window_s=1.0, hop_s=0.08)
    np.testing.assert_allclose(smooth.values[2], frames.values[10:72].mean(axis=0))
    assert smooth.rate_hz == pytest.approx(62.5 / 5)
    with pytest.raises(ParameterError, match="less than one frame"):
        structure.smoothing_frames(62.5, 1.0, 0.001)


def test_checkerboard_novelty_equals_the_band_computation():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal((400, 6)), axis=0)
    reference = latent.foote_novelty(TimeSeries(values, 10.0), kernel_s=4.0).values[:, 0]
    centred = values - values.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    np.testing.assert_allclose(structure.checkerboard_novelty(unit, 20), reference, atol=1e-10)


# ----------------------------------------------------------------------- transitions
def test_whole_spectrum_surrogates_alone_miss_steps_the_step_down_finds():
    # Steps of unequal size: tested against the whole-spectrum null once, only the
    # largest passes; the step-down removes it and then finds the others.
    rng = np.random.default_rng(2)
    boundaries = np.array([30.0, 60.0, 90.0])
    times = np.arange(int(120 * 20.0)) / 20.0
    levels = np.array([[0.0], [4.0], [3.0], [4.5]])[np.searchsorted(boundaries, times, "right")]
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal((times.size, 3)), axis=0)
    pcs = TimeSeries(levels * [1.0, 0.7, 0.5] + 0.3 * noise, 20.0)
    found = structure.significant_transitions(pcs, n_surrogates=99)
    np.testing.assert_allclose(found.times_s, boundaries, atol=1.5)
    first = found.to_frame().sort_values("p")
    assert first.iloc[0].time_s == pytest.approx(30.0, abs=1.0)  # the 4-unit step


def test_planted_latent_steps_are_found_with_small_p():
    rng = np.random.default_rng(1)
    boundaries = np.array([25.0, 52.0, 80.0, 110.0])
    found = structure.significant_transitions(_stepped_pcs(rng, boundaries, 140.0), n_surrogates=99)
    np.testing.assert_allclose(found.times_s, boundaries, atol=1.0)  # 24-s kernel, 4 Hz grid
    # Every planted step passes the song-wise level; the strongest reach the smallest p with
    # 99 surrogates (a later step of the step-down is tested on what the earlier ones left).
    assert (found.p <= 0.05).all() and np.sum(found.p == 0.01) >= 3
    frame = found.to_frame()
    assert list(frame.columns) == ["time_s", "strength", "method", "p", "default"]
    assert frame["default"].sum() == 4 and (frame.method == "tested_novelty").all()
    # the step-down stops at the first peak that fails: at most one more row, p > 0.05
    assert len(frame) <= 5 and (frame.loc[~frame["default"], "p"] > 0.05).all()


def test_planted_boundaries_in_generated_audio():
    piece = synth_piece(n_sections=5, section_s=(18.0, 26.0), seed=3)
    frames = get_encoder("mel").encode(piece.audio)["logmel"]
    pcs = latent.trajectory_pca(structure.smooth_latent(frames)).pcs
    found = structure.significant_transitions(pcs, n_surrogates=99)
    f3 = latent.score_boundaries(
        found.times_s, piece.boundaries_s, duration_s=piece.audio.duration_s
    )[1]
    assert f3.f_measure == 1.0, (found.times_s, piece.boundaries_s)
    assert (found.p <= 0.05).all()


def test_song_wise_false_positive_rate_on_stationary_latents():
    # AR(1) PCs (correlation time 0.5 s and 2 s), 60 s songs: any transition at
    # alpha = 0.05 in about 5 % of songs (max-statistic over the song).
    rng = np.random.default_rng(7)
    for tau_s in (0.5, 2.0):
        hits = sum(
            structure.significant_transitions(
                _ar1_pcs(rng, 60.0, tau_s), n_surrogates=99, seed=i
            ).times_s.size
            > 0
            for i in range(100)
        )
        assert hits <= 10, (tau_s, hits)  # P(> 10 of 100 | 5 %) = 1.1 %


def test_stationary_audio_gets_no_transition():
    # White noise and a steady loop through the mel encoder, 45 s each.
    hits = 0
    for i, smoothed in enumerate(stationary_mel_latents()):
        pcs = latent.trajectory_pca(smoothed).pcs
        hits += structure.significant_transitions(pcs, n_surrogates=99, seed=i // 2).times_s.size
    assert hits <= 3  # 16 songs, 0.8 expected at 5 %; P(>= 4) = 0.7 %


def test_short_songs_shrink_the_kernel_and_bad_settings_are_named():
    rng = np.random.default_rng(0)
    pcs = _stepped_pcs(rng, np.array([12.0]), 25.0)
    found = structure.significant_transitions(pcs, n_surrogates=19)
    assert found.params["kernel_s"] == pytest.approx(15.0, abs=0.3)
    with pytest.raises(ParameterError, match="alpha"):
        structure.significant_transitions(pcs, alpha=1.5)
    with pytest.raises(DataError, match="edge_s"):
        structure.significant_transitions(pcs, edge_s=12.4)


# --------------------------------------------------------------------------- clusters
def test_gap_statistic_finds_planted_clusters_and_k1_without_them():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]])
    order = [0, 1, 2, 3, 1]
    points = np.concatenate([centres[k] + 0.5 * rng.standard_normal((120, 2)) for k in order])
    found = structure.cluster_with_null(TimeSeries(points, 4.0), seed=0)
    assert found.n_clusters == 4 and found.beats_null and found.p <= 0.05
    labels = found.labels.values[:, 0].reshape(5, 120)
    np.testing.assert_array_equal(np.median(labels, axis=1), [0, 1, 2, 3, 1])
    # A smooth Gaussian trajectory without clusters: k = 1.
    hits = sum(
        structure.cluster_with_null(
            _ar1_pcs(rng, 60.0, 1.0, rate_hz=4.0), k_max=4, n_surrogates=19, seed=i
        ).beats_null
        for i in range(10)
    )
    assert hits <= 1, hits
