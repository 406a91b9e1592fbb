"""frisson.structure.significant_segmentation: the default detector and its song-wise null."""

import itertools
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

RATE_HZ = 44100 / 512 / 4  # the poster's smoothed DAC rate, 21.5 Hz


def _mixed_ar1(rng, duration_s, tau_s, n_sources=16, n_dims=32):
    """Stationary latent: independent AR(1) sources mixed at random into n_dims."""
    phi = np.exp(-1 / (tau_s * RATE_HZ))
    n = int(duration_s * RATE_HZ)
    sources = lfilter([1.0], [1.0, -phi], rng.standard_normal((n + 500, n_sources)), axis=0)
    return TimeSeries(sources[500:] @ rng.standard_normal((n_sources, n_dims)), RATE_HZ)


def _sectioned(rng, boundaries_s, duration_s, n_dims=32, noise=1.0):
    """Sections: a random level per section in every dimension, plus AR(1) noise (tau 1 s)."""
    times = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    levels = rng.standard_normal((len(boundaries_s) + 1, n_dims))
    section = np.searchsorted(boundaries_s, times, side="right")
    phi = np.exp(-1 / RATE_HZ)
    wander = lfilter([1.0], [1.0, -phi], rng.standard_normal((times.size, n_dims)), axis=0)
    return TimeSeries(levels[section] + noise * wander / wander.std(), RATE_HZ)


def _brute_force_costs(values, k_max, min_length):
    n = values.shape[0]
    out = np.full(k_max, np.inf)
    for k in range(1, k_max + 1):
        for cuts in itertools.combinations(range(1, n), k - 1):
            edges = (0, *cuts, n)
            if min(np.diff(edges)) < min_length:
                continue
            cost = sum(
                ((values[a:b] - values[a:b].mean(axis=0)) ** 2).sum()
                for a, b in itertools.pairwise(edges)
            )
            out[k - 1] = min(out[k - 1], cost)
    return out


@pytest.mark.parametrize(("n", "min_length"), [(12, 1), (13, 3)])
def test_segmentation_costs_equal_every_split_tried(n, min_length):
    rng = np.random.default_rng(n)
    values = rng.standard_normal((2, n, 3))
    got = structure.segmentation_costs(values, 4, min_length)
    for series, costs in zip(values, got, strict=True):
        np.testing.assert_allclose(costs, _brute_force_costs(series, 4, min_length), rtol=1e-9)


def _brute_force_kernel_costs(values, min_length):
    """Each segment's scatter in the Gaussian kernel's feature space, pair by pair."""
    n = values.shape[0]
    distance = ((values[:, None, :] - values[None, :, :]) ** 2).sum(axis=-1)
    gram = np.exp(-distance / np.median(distance[np.triu_indices(n, 1)]))
    out = np.full((n + 1, n + 1), np.inf)
    for a in range(n + 1):
        for b in range(a + min_length, n + 1):
            out[a, b] = np.trace(gram[a:b, a:b]) - gram[a:b, a:b].sum() / (b - a)
    return out


def test_kernel_costs_and_optimal_partitions_equal_every_split_tried():
    rng = np.random.default_rng(4)
    values = rng.standard_normal((11, 3))
    cost = structure.kernel_costs(values, 2)
    np.testing.assert_allclose(cost, _brute_force_kernel_costs(values, 2), rtol=1e-9, atol=1e-12)
    bounds, total = structure.optimal_partitions(cost, 4)
    for k in range(1, 5):
        splits = [
            (0, *cuts, 11)
            for cuts in itertools.combinations(range(1, 11), k - 1)
            if min(np.diff((0, *cuts, 11))) >= 2
        ]
        costs = [sum(cost[a, b] for a, b in itertools.pairwise(edges)) for edges in splits]
        assert total[k - 1] == pytest.approx(min(costs), rel=1e-12)
        assert tuple(bounds[k - 1]) == splits[int(np.argmin(costs))][1:-1]


def test_chosen_sections_keeps_the_clear_boundaries_only():
    # Four sections 3 SD apart, and inside the second a change of 0.8 SD: the
    # best 4-split explains far more than the 5th section adds.
    rng = np.random.default_rng(5)
    levels = np.repeat(3.0 * rng.standard_normal((4, 6)), 60, axis=0)
    levels[80:120] += 0.8
    values = levels + rng.standard_normal(levels.shape)
    bounds, total = structure.optimal_partitions(structure.kernel_costs(values, 10), 8)
    assert structure.chosen_sections(total) == 4
    np.testing.assert_array_equal(bounds[3], [60, 120, 180])
    assert structure.chosen_sections(np.array([5.0, 5.0])) == 1  # no gain: one section


def _planted_steps(rng, lengths, contrasts, n_dims=6, walk=False):
    """Sections of the given lengths plus white noise (SD 1).

    Section j's level is ``contrasts[j - 1]`` SD per dimension from section
    j - 1's (``walk=True``) or from 0 (``walk=False``).
    """
    levels = [np.zeros(n_dims)]
    for contrast in contrasts:
        step = rng.standard_normal(n_dims)
        step *= contrast * np.sqrt(n_dims) / np.linalg.norm(step)
        levels.append(levels[-1] + step if walk else step)
    values = np.repeat(np.array(levels), lengths, axis=0)
    return values + rng.standard_normal(values.shape), np.cumsum(lengths)[:-1]


@pytest.mark.parametrize("walk", [False, True])
@pytest.mark.parametrize(
    ("n_sections", "contrast"), [(2, 1.5), (3, 1.0), (3, 2.0), (4, 2.5), (5, 1.5), (6, 3.0)]
)
def test_chosen_sections_equals_the_planted_number(walk, n_sections, contrast):
    # Equal contrasts, unequal lengths (40-70 samples), section levels drawn
    # independently or as a random walk: the elbow rule finds the planted number
    # of sections and the DP puts the boundaries within 2 samples. The gain ratio
    # alone (the former rule) found 2-4 of them (their gains differ by the
    # sections' lengths and levels).
    rng = np.random.default_rng(10 * n_sections)
    lengths = rng.integers(40, 71, n_sections)
    values, planted = _planted_steps(rng, lengths, [contrast] * (n_sections - 1), walk=walk)
    bounds, total = structure.optimal_partitions(structure.kernel_costs(values, 10), 8)
    k = structure.chosen_sections(total)
    assert k == n_sections
    np.testing.assert_allclose(bounds[k - 1], planted, atol=2)
    assert structure.chosen_sections(total, rule="ratio") <= n_sections


def test_a_dominant_boundary_does_not_hide_the_weaker_ones():
    # Five sections: the second boundary a change of 6 SD, the other three of
    # 2 SD. The gain ratio keeps the dominant one only; the elbow rule all four.
    rng = np.random.default_rng(50)
    values, planted = _planted_steps(rng, [60] * 5, [2.0, 6.0, 2.0, 2.0], walk=True)
    bounds, total = structure.optimal_partitions(structure.kernel_costs(values, 10), 8)
    assert structure.chosen_sections(total, rule="ratio") == 2
    k = structure.chosen_sections(total)
    assert k == 5
    np.testing.assert_allclose(bounds[k - 1], planted, atol=2)


def test_slowly_falling_gains_of_real_music_keep_the_boundaries_above_the_mean():
    # The best k-splits of mel on a real concatenation of 5 tracks
    # (benchmarks/latent.py, fresh case107): one clear first boundary, then gains
    # that fall slowly with no knee. The ratio, noise floor and L-method kept
    # one boundary (F(3 s) 0.40); the four gains above 0.85 x their mean are the
    # planted 5 sections (F 1.0 for that split).
    gains = [0.11, 0.056, 0.056, 0.048, 0.041, 0.03, 0.03]
    total = 100.0 * (1.0 - np.cumsum([0.0, *gains]))
    assert structure.chosen_sections(total) == 5
    assert structure.chosen_sections(total, mean_ratio=8.0) == 2  # mean-gain elbow off
    assert structure.chosen_sections(total, rule="ratio") == 2


def test_chosen_sections_edge_cases():
    assert structure.chosen_sections(np.array([5.0, 5.0])) == 1  # no gain: one section
    assert structure.chosen_sections(np.array([10.0, np.inf])) == 1  # two do not fit
    # a sharp drop, then flat: the noise floor and the knee agree on 2
    assert structure.chosen_sections(np.array([10.0, 2.0, 1.9, 1.8, 1.7, 1.6])) == 2
    with pytest.raises(ParameterError, match="rule='third'"):
        structure.chosen_sections(np.array([10.0, 5.0]), rule="third")


def test_whitened_latent_has_unit_uncorrelated_columns():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 20)) * 50.0
    white = structure.whitened_latent(values, 4)
    np.testing.assert_allclose(white.T @ white / 400, np.eye(4), atol=1e-9)
    assert structure.whitened_latent(values, 30).shape == (400, 6)  # capped at the rank


def test_planted_sections_are_found_and_the_song_passes():
    rng = np.random.default_rng(3)
    boundaries = np.array([22.0, 49.0, 83.0, 110.0])
    found = structure.significant_segmentation(_sectioned(rng, boundaries, 140.0), n_surrogates=99)
    np.testing.assert_allclose(found.times_s, boundaries, atol=1.0)  # 2 Hz grid
    np.testing.assert_array_equal(found.p, found.params["song_p"])
    assert found.params["song_p"] <= 0.02
    frame = found.to_frame()
    assert list(frame.columns) == ["time_s", "strength", "method", "p", "default"]
    assert frame["default"].all() and (frame.method == structure.DEFAULT_TRANSITIONS).all()


def test_boundary_times_are_unbiased_at_any_phase_of_the_grid():
    # Steps at random sub-sample times: each boundary is the edge between two 2-Hz
    # samples, so the error is spread around 0 (it was +0.25 s: sample i's own time).
    rng = np.random.default_rng(1)
    errors = []
    for _ in range(12):
        boundaries = np.sort(rng.uniform([18.0, 38.0], [22.0, 42.0]))
        series = _sectioned(rng, boundaries, 60.0, noise=0.3)
        found = structure.significant_segmentation(series, n_surrogates=19).candidates_s
        nearest = found[np.argmin(np.abs(found[:, None] - boundaries), axis=0)]
        errors.extend(nearest - boundaries)
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.08, errors.mean()
    assert np.abs(errors).max() <= 0.75, errors


def test_planted_boundaries_in_generated_audio():
    piece = synth_piece(n_sections=5, section_s=(18.0, 26.0), seed=3)
    frames = get_encoder("mel").encode(piece.audio)["logmel"]
    found = structure.significant_segmentation(structure.smooth_latent(frames), n_surrogates=99)
    f3 = latent.score_boundaries(
        found.times_s, piece.boundaries_s, duration_s=piece.audio.duration_s
    )[1]
    # Every planted boundary is found; the kernel detector also splits some of the
    # generator's sections at their own repeats (7 boundaries for 4, precision 0.57;
    # the Laplacian segmentation, the former default, found 10: precision 0.4).
    assert f3.recall == 1.0, (found.times_s, piece.boundaries_s)
    assert f3.precision >= 0.55 and found.params["song_p"] <= 0.05
    laplacian = structure.significant_segmentation(
        structure.smooth_latent(frames), n_surrogates=99, detector="laplacian"
    )
    assert (
        laplacian.candidates_s.size == 10 and laplacian.params["song_p"] == found.params["song_p"]
    )


def test_song_wise_false_positive_rate_on_stationary_latents():
    # Mixed AR(1) latents (correlation time 0.5 s, 2 s and 5 s), 60-s songs: any
    # transition in about 5 % of songs (with phase-randomised instead of DCT sign
    # surrogates 10 and 23 of 60 songs passed at 2 s and 5 s).
    rng = np.random.default_rng(11)
    for tau_s in (0.5, 2.0, 5.0):
        hits = sum(
            structure.significant_segmentation(
                _mixed_ar1(rng, 60.0, tau_s), n_surrogates=49, seed=i
            ).times_s.size
            > 0
            for i in range(40)
        )
        assert hits <= 5, (tau_s, hits)  # P(> 5 of 40 | 5 %) = 1.4 %


def test_stationary_audio_gets_no_transition():
    # White noise and a steady loop through the mel encoder, 45 s each.
    hits = 0
    for i, smoothed in enumerate(stationary_mel_latents()):
        found = structure.significant_segmentation(smoothed, n_surrogates=99, seed=i // 2)
        hits += found.times_s.size > 0
    assert hits <= 3  # 16 songs, 0.8 expected at 5 %; P(>= 4) = 0.7 %


def test_bad_settings_and_short_songs_are_named():
    latent_series = TimeSeries(np.random.default_rng(0).standard_normal((100, 4)), 2.0)
    with pytest.raises(ParameterError, match="alpha"):
        structure.significant_segmentation(latent_series, alpha=1.5)
    with pytest.raises(ParameterError, match="detector='foote'"):
        structure.significant_segmentation(latent_series, detector="foote")
    with pytest.raises(ParameterError, match="min_gain_ratio"):
        structure.significant_segmentation(latent_series, min_gain_ratio=0.0)
    with pytest.raises(ParameterError, match="sections='last'"):
        structure.significant_segmentation(latent_series, sections="last")
    with pytest.raises(DataError, match="min_segment_s=30"):
        structure.significant_segmentation(latent_series, min_segment_s=30.0)
    broken = latent_series.replace(values=np.where(latent_series.values > 2, np.nan, 0.0))
    with pytest.raises(DataError, match="NaN"):
        structure.significant_segmentation(broken)
