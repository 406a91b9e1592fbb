"""The brain-emotion GLM (frisson.glm): planted responses recovered, calibrated on null BOLD."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from frisson.errors import DataError
from frisson.glm import (
    absolute_derivative,
    first_level,
    group_signflip,
    phase_randomise,
    run_design,
    surrogate_group_test,
    with_drives,
)
from frisson.timeseries import TimeSeries

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _emotion_study import write_emotion_study

TR_S = 1.0
N_FRAMES = 200
ONSETS_S = (10.0, 105.0)
DURATION_S = 75.0
RATE_HZ = 5.0
CHANNELS = ("emotionality", "enjoyment")
CONTRASTS = {
    "emotion": {"emotionality_absderiv": 1.0, "enjoyment_absderiv": 1.0},
    "emotionality": {"emotionality_absderiv": 1.0},
}


def _ratings(rng: np.random.Generator) -> TimeSeries:
    """Slider-like ratings: a random walk of 0.5-s steps, smoothed by the hand, 0-1."""
    n = int(DURATION_S * RATE_HZ)
    steps = rng.standard_normal((n // 10 + 1, len(CHANNELS))) * (rng.random((n // 10 + 1, 1)) < 0.4)
    walk = np.cumsum(np.repeat(steps, 10, axis=0)[:n], axis=0) / 50
    return TimeSeries(walk, RATE_HZ, names=list(CHANNELS))


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> np.ndarray:
    noise = rng.standard_normal(shape)
    out = np.empty(shape)
    out[0] = noise[0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + noise[t]
    return out * np.sqrt(1 - phi**2)


def _dataset(
    seed: int,
    *,
    n_participants: int = 8,
    n_units: int = 40,
    beta: float = 0.0,
    song_locked: float = 0.0,
):
    """Participants x 2 runs x 2 stimuli: BOLD = music block + drift + AR(1) (+ beta * emotion).

    The emotion regressor (the HRF-convolved |derivatives| of the group ratings)
    drives the first quarter of the units with ``beta`` per unit of the
    standardised regressor; the others see only the block, drift and noise.
    ``song_locked`` adds a response locked to the songs, the same in every
    listener and unrelated to the ratings. Returns the BOLD, the designs, the
    planted units and the group ratings (per stimulus).
    """
    rng = np.random.default_rng(seed)
    frames = np.arange(N_FRAMES) * TR_S
    raw = [_ratings(rng) for _ in range(4)]
    stimuli = [absolute_derivative(r, smooth_s=1.0) for r in raw]
    runs = []
    for run in range(2):
        drives = [(onset, stimuli[2 * run + i]) for i, onset in enumerate(ONSETS_S)]
        design = run_design(frames, drives, [(o, DURATION_S) for o in ONSETS_S])
        runs.append(design)
    responsive = np.arange(n_units) < n_units // 4
    song = [
        np.convolve(rng.standard_normal(N_FRAMES), np.ones(8) / 8, "same") * d["music"].to_numpy()
        for d in runs
    ]
    weights = song_locked * rng.uniform(0.5, 1.5, n_units)
    data = []
    for _ in range(n_participants):
        bold_runs = []
        for run, design in enumerate(runs):
            emotion = design["emotionality_absderiv"] + design["enjoyment_absderiv"]
            emotion = (emotion - emotion.mean()) / emotion.std()
            block = design["music"].to_numpy()[:, None] * rng.uniform(0.5, 2.0, n_units)
            drift = np.linspace(-1, 1, N_FRAMES)[:, None] * rng.normal(0, 1, n_units)
            noise = _ar1(rng, (N_FRAMES, n_units), 0.4)
            signal = beta * emotion.to_numpy()[:, None] * responsive + song[run][:, None] * weights
            bold_runs.append(TimeSeries(100 + block + drift + noise + signal, 1 / TR_S))
        data.append(bold_runs)
    return data, runs, responsive, raw


def _fit(data, designs):
    return [first_level(runs, designs, CONTRASTS) for runs in data]


def test_absolute_derivative_of_a_sine_matches_the_analytic_derivative():
    times = np.arange(0, 20, 1 / RATE_HZ)
    rating = TimeSeries(np.sin(2 * np.pi * 0.1 * times), RATE_HZ, names=["e"])
    out = absolute_derivative(rating, smooth_s=0.0).values[5:-5, 0]
    expected = np.abs(2 * np.pi * 0.1 * np.cos(2 * np.pi * 0.1 * times))[5:-5]
    assert np.max(np.abs(out - expected)) < 0.01
    # smoothing a slow sine by 0.5 s keeps its derivative (attenuation exp(-(w s)^2 / 2))
    smoothed = absolute_derivative(rating, smooth_s=0.5).values[20:-20, 0]
    gain = np.exp(-((2 * np.pi * 0.1 * 0.5) ** 2) / 2)
    assert np.max(np.abs(smoothed - gain * expected[15:-15])) < 0.01
    with pytest.raises(DataError, match="NaN"):
        absolute_derivative(TimeSeries(np.array([0.0, np.nan, 1.0]), 1.0))


def test_design_places_the_drive_at_its_onset_through_the_hrf():
    drive = TimeSeries(
        np.r_[np.zeros(25), np.ones(5), np.zeros(120)], RATE_HZ, names=["e_absderiv"]
    )
    design = run_design(np.arange(100.0), [(20.0, drive)], [(20.0, 30.0)])
    peak_s = float(np.argmax(design["e_absderiv"].to_numpy()))
    # impulse at 20 + 5..6 s; the SPM HRF peaks about 5 s later
    assert 29.0 <= peak_s <= 31.0
    assert design["e_absderiv"].to_numpy()[:25].max() < 1e-6
    assert "music" in design and "constant" in design


def test_planted_response_is_recovered_with_its_amplitude():
    data, designs, responsive, _ = _dataset(1, beta=0.6)
    fits = _fit(data, designs)
    emotion = np.array([f.effect[0] for f in fits])
    # the planted signal is beta * (e + j) / SD(e + j): each channel's beta is
    # beta / SD(e + j), and the contrast (their sum) twice that
    design = designs[0]
    total_sd = np.std(design["emotionality_absderiv"] + design["enjoyment_absderiv"])
    assert emotion[:, responsive].mean() == pytest.approx(2 * 0.6 / total_sd, rel=0.1)
    assert abs(emotion[:, ~responsive].mean()) < 0.1 * 2 * 0.6 / total_sd
    test = group_signflip(emotion, n_permutations=5000)
    assert test.exact and test.n_patterns == 256
    assert np.mean(test.p_fwe[responsive] < 0.05) >= 0.9
    assert np.mean(test.p_fwe[~responsive] < 0.05) <= 0.05
    # first level: most responsive voxels pass p < .05 in each participant
    assert np.mean([f.p[0, responsive] < 0.05 for f in fits]) > 0.6


def test_null_bold_unrelated_to_ratings_is_calibrated():
    """120 null datasets (8 listeners x 2 runs x 40 voxels; AR(1) 0.4, music block, drift)."""
    first, group, fwe = [], [], []
    for seed in range(120):
        data, designs, _, _ = _dataset(1000 + seed)
        fits = _fit(data, designs)
        first.append(np.mean([f.p[0] < 0.05 for f in fits]))
        test = group_signflip(np.array([f.effect[0] for f in fits]), n_permutations=1000)
        group.append(np.mean(test.p < 0.05))
        fwe.append(bool((test.p_fwe < 0.05).any()))
    rates = np.mean(first), np.mean(group), np.mean(fwe)
    print(f"null FPR at .05: first level {rates[0]:.3f}, group {rates[1]:.3f}, FWE {rates[2]:.3f}")
    assert 0.03 <= rates[0] <= 0.075  # AR(1) estimated per voxel: slightly liberal
    assert 0.03 <= rates[1] <= 0.07
    assert 0.01 <= rates[2] <= 0.10  # 120 datasets: 95 % of calibrated runs within


def test_group_signflip_is_exact_for_few_participants_and_refuses_nan():
    effects = np.array([[1.0, 0.1], [2.0, -0.2], [1.5, 0.3], [2.5, -0.1]])
    test = group_signflip(effects)
    assert test.exact and test.n_patterns == 16
    # all four positive: only the all-plus and all-minus patterns reach |t|
    assert test.p[0] == pytest.approx(2 / 16)
    with pytest.raises(DataError, match="NaN"):
        group_signflip(np.array([[1.0], [np.nan], [2.0]]))
    with pytest.raises(DataError, match="n_participants >= 3"):
        group_signflip(np.ones((2, 3)))


# ------------------------------------------------------------------ the pipeline (frisson encode)
@pytest.fixture(scope="module")
def emotion_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("emotion") / "study"
    planted = write_emotion_study(root, n_participants=8, beta=1.0, seed=3)
    return root, planted


def test_encode_glm_recovers_the_planted_voxels_and_writes_maps(emotion_study, tmp_path):
    from click.testing import CliRunner

    from frisson.cli import main
    from frisson.study import voxel_ijk

    root, planted = emotion_study
    toml = tmp_path / "study.toml"
    toml.write_text(f'[encode]\nstudy = "{root}"\noutput = "out"\nmode = "glm"\n')
    result = CliRunner().invoke(main, ["encode", str(toml)])
    assert result.exit_code == 0, result.output
    assert "emotion:" in result.output and "report:" in result.output
    out = tmp_path / "out"
    group = pd.read_csv(out / "glm_group.tsv", sep="\t")
    emotion = group[group["contrast"] == "emotion"]
    truth = planted[tuple(voxel_ijk(list(emotion["unit"])).T)]
    found = emotion["p_fwe"].to_numpy() < 0.05
    assert found[truth].mean() >= 0.8  # 36 planted voxels, 8 participants (256 sign patterns)
    assert found[~truth].mean() <= 0.01
    assert set(group["contrast"]) == {"emotion", "emotionality", "enjoyment"}
    first = pd.read_csv(out / "glm_first_level.tsv", sep="\t")
    assert first["participant"].nunique() == 8
    for suffix in (".nii.gz", ".png", "_surface.png", ".html"):
        assert (out / f"group_emotion_t{suffix}").is_file(), suffix
    assert (out / "sub-01_emotion_t.nii.gz").is_file()
    image = nib.load(out / "group_emotion_t.nii.gz")
    assert image.shape == planted.shape
    t_map = np.asarray(image.dataobj)
    assert t_map[planted].mean() > 5 * np.abs(t_map[~planted]).mean()
    page = (out / "report.html").read_text()
    assert "Maps" in page and "data:image/png;base64" in page


def test_encode_glm_refuses_a_target_other_than_bold(tmp_path):
    from frisson.errors import ParameterError
    from frisson.pipelines.encoding import EncodeConfig

    with pytest.raises(ParameterError, match="set target = 'bold'"):
        EncodeConfig(study=tmp_path, output=tmp_path / "o", mode="glm", target="ratings").check()
    with pytest.raises(ParameterError, match="mode"):
        EncodeConfig(study=tmp_path, output=tmp_path / "o", mode="rsa").check()


def test_layer_maps_on_mni152_and_fsaverage(tmp_path):
    """The layer-wise encoding's significant r, drawn on the template and the surface."""
    from _emotion_study import AFFINE, planted_mask
    from frisson.report.encoding_maps import write_significant_r_maps

    r_map = np.where(planted_mask(), 0.4, 0.0)
    files = write_significant_r_maps(r_map, AFFINE, tmp_path, "group")
    names = sorted(p.name for p in files)
    assert names == [
        "group_significant_r.html",
        "group_significant_r.nii.gz",
        "group_significant_r.png",
        "group_significant_r_surface.png",
    ]
    image = nib.load(tmp_path / "group_significant_r.nii.gz")
    np.testing.assert_allclose(np.asarray(image.dataobj), r_map, atol=1e-7)
    assert "http://" not in (tmp_path / "group_significant_r.html").read_text()[:100]


def _surrogate_designs(designs, raw, n_participants, n_surrogates, seed):
    """Designs from phase-randomised group ratings, the same for every listener."""
    rng = np.random.default_rng(seed)
    for _ in range(n_surrogates):
        drives = [absolute_derivative(phase_randomise(r, rng), smooth_s=1.0) for r in raw]
        runs = [
            with_drives(design, [(o, drives[2 * run + i]) for i, o in enumerate(ONSETS_S)])
            for run, design in enumerate(designs)
        ]
        yield [runs] * n_participants


@pytest.mark.slow
def test_song_locked_responses_pass_the_signflip_test_but_not_the_ratings_null():
    """Listeners share a song-locked response unrelated to the ratings (30 datasets).

    Sign flips over listeners cannot tell it from a rating response (it is in every
    listener); refits on surrogate ratings (songs as the random factor) can.
    """
    signflip, surrogate = [], []
    for seed in range(30):
        data, designs, _, raw = _dataset(3000 + seed, n_units=20, song_locked=1.0)
        fits = _fit(data, designs)
        effects = np.array([f.effect[0] for f in fits])
        signflip.append(bool((group_signflip(effects, n_permutations=1000).p_fwe < 0.05).any()))
        tests = surrogate_group_test(
            data, fits, _surrogate_designs(designs, raw, len(data), 19, seed), CONTRASTS
        )
        surrogate.append(bool((tests["emotion"].p_fwe <= 0.05).any()))
    print(f"song-locked: FWE sign-flip {np.mean(signflip):.2f}, surrogate {np.mean(surrogate):.2f}")
    assert np.mean(signflip) >= 0.15
    assert np.mean(surrogate) <= 0.12


def test_encode_glm_with_the_surrogate_ratings_null(emotion_study, tmp_path):
    """glm_null = 'ratings': the planted voxels still pass (4 songs, 39 surrogates)."""
    from frisson.pipelines import run_emotion_glm
    from frisson.pipelines.encoding import EncodeConfig
    from frisson.study import voxel_ijk

    root, planted = emotion_study
    config = EncodeConfig(
        study=root, output=tmp_path / "out", mode="glm", glm_null="ratings", n_permutations=39
    )
    results = run_emotion_glm(config)
    test = results.group["emotion"]
    assert test.n_patterns == 39 and not test.exact
    truth = planted[tuple(voxel_ijk(test.units).T)]
    assert (test.p_fwe[truth] <= 0.05).mean() >= 0.8
    assert (test.p_fwe[~truth] <= 0.05).mean() <= 0.01
    assert "surrogate ratings" in results.summary()
