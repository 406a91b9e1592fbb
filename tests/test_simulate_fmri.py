"""Simulated fMRI studies (planted layers) and BOLD loading (TR, masks, atlas ROI means)."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from frisson.errors import DataError
from frisson.models.encoding import canonical_hrf
from frisson.simulate import (
    FmriParams,
    SyntheticLayersEncoder,
    simulate_fmri_study,
    synth_piece,
)
from frisson.study import load_bold, read_study, voxel_ijk


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i in range(5):
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=40 + i).write(
            folder / f"piece-{i + 1}.wav"
        )
    return folder


@pytest.fixture(scope="module")
def simulated(stimuli, tmp_path_factory):
    params = FmriParams(n_participants=2, volume_shape=(6, 8, 4), snr=1.0)
    return simulate_fmri_study(
        stimuli,
        tmp_path_factory.mktemp("fmri") / "study",
        params=params,
        encoder=SyntheticLayersEncoder(),
        seed=3,
    )


def test_study_layout_reads_and_validates(simulated):
    study = read_study(simulated.root)
    assert study.participant_ids == ["01", "02"]
    assert len(study.runs) == 10 and all(run.bold is not None for run in study.runs)
    assert study.validate() == []
    for run in study.runs:  # each run's BOLD is its own (run-1 never takes run-10's file)
        assert run.bold.name == f"{run.label}_bold.nii.gz"
        events = study.read_events(run)
        assert len(events) == 1 and events["stim_file"][0].startswith("piece-")
    image = nib.load(study.runs[0].bold)
    assert image.get_data_dtype() == np.float32
    assert image.header.get_zooms()[3] == pytest.approx(1.0)
    truth = json.loads((simulated.root / "derivatives/ground_truth/simulation.json").read_text())
    assert truth["seed"] == 3 and truth["layers"] == ["layer1", "layer2", "layer3", "layer4"]


def test_ground_truth_matches_the_arrays(simulated):
    truth_dir = simulated.root / "derivatives" / "ground_truth"
    planted = np.asarray(nib.load(truth_dir / "planted_layer.nii.gz").dataobj)
    np.testing.assert_array_equal(planted, simulated.planted_layer)
    assert (planted[~simulated.mask] == -1).all()
    voxels = pd.read_csv(truth_dir / "voxels.tsv", sep="\t")
    assert len(voxels) == simulated.mask.sum()
    # Every layer is planted somewhere, as a gradient along j.
    assert sorted(voxels["layer_index"].unique()) == [0, 1, 2, 3]
    assert voxels.groupby("layer_index")["j"].mean().is_monotonic_increasing
    assert 0.3 < voxels["responsive"].mean() < 0.7


def test_voxels_follow_their_planted_layer_through_the_hrf(simulated):
    """Independent check: BOLD vs the HRF-convolved projection of the planted features."""
    study = read_study(simulated.root)
    run = next(r for r in study.runs if r.participant == "01")
    bold = study.read_bold(run, mask=simulated.mask)
    stimulus = study.read_events(run)["stim_file"][0].removeprefix("stimuli/")
    onset = int(study.read_events(run)["onset"][0])
    hrf = canonical_hrf(1.0)
    ijk = voxel_ijk(bold.names)
    correlations, nulls = [], []
    for column, (i, j, k) in enumerate(ijk):
        unit = bold.names[column]
        layer = simulated.layers[simulated.planted_layer[i, j, k]]
        drive = np.zeros(bold.n_times)
        values = simulated.features[stimulus][layer].values @ simulated.weights[unit]
        drive[onset : onset + values.size] = values[: bold.n_times - onset]
        predicted = np.convolve(drive, hrf)[: bold.n_times]
        r = np.corrcoef(predicted, bold.values[:, column])[0, 1]
        (correlations if simulated.responsive[i, j, k] else nulls).append(r)
    # snr = 1 (variance ratio): the true model explains half the variance, r ~ 0.71
    # (the signal's variance is set over all five runs, so one run scatters around it).
    assert 0.6 < np.median(correlations) < 0.8
    assert abs(np.median(nulls)) < 0.15


def test_noise_is_ar1_with_the_set_coefficient(stimuli, tmp_path):
    params = FmriParams(
        n_participants=1, volume_shape=(4, 4, 3), snr=0.0, noise_ar1=0.6, post_s=200.0
    )
    sim = simulate_fmri_study(
        stimuli, tmp_path / "s", params=params, encoder=SyntheticLayersEncoder(), seed=0
    )
    study = read_study(sim.root)
    bold = study.read_bold(study.runs[0], mask=sim.mask)
    x = bold.values - bold.values.mean(axis=0)
    lag1 = (x[1:] * x[:-1]).sum(axis=0) / (x**2).sum(axis=0)
    assert np.median(lag1) == pytest.approx(0.6, abs=0.04)
    # Percent signal change: baseline 800-1000, 1 % per unit of noise sd.
    relative = bold.values.std(axis=0) / bold.values.mean(axis=0)
    assert np.median(relative) == pytest.approx(0.01, rel=0.15)


def test_synthetic_layers_are_deterministic_and_correlated_as_set():
    from frisson.audio import audio_from_array

    noise = np.random.default_rng(1).standard_normal(1000 * 3000)
    audio = audio_from_array(noise, 1000)  # 50 min: ~7000 independent frames
    encoder = SyntheticLayersEncoder(n_layers=3, n_features=1, timescale_s=0.2, correlation=0.6)
    first, again = encoder.encode(audio), encoder.encode(audio)
    np.testing.assert_array_equal(first["layer3"].values, again["layer3"].values)
    a, b, c = (first[name].values[:, 0] for name in ("layer1", "layer2", "layer3"))
    # One feature: the "rotation" is +-1, so |corr| of neighbours is the set 0.6, two apart 0.36.
    assert abs(np.corrcoef(a, b)[0, 1]) == pytest.approx(0.6, abs=0.04)
    assert abs(np.corrcoef(a, c)[0, 1]) == pytest.approx(0.36, abs=0.04)


# ---------------------------------------------------------------------------- load_bold
def _write_bold(path, data, tr=2.0):
    image = nib.Nifti1Image(data.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    image.header.set_zooms((2.0, 2.0, 2.0, tr))
    nib.save(image, path)
    return path


def test_load_bold_voxels_rate_and_names(tmp_path):
    data = np.random.default_rng(0).standard_normal((3, 2, 2, 7))
    bold = load_bold(_write_bold(tmp_path / "b_bold.nii.gz", data))
    assert bold.rate_hz == 0.5 and bold.start_s == 0.0 and bold.n_channels == 12
    for column, (i, j, k) in enumerate(voxel_ijk(bold.names)):
        np.testing.assert_allclose(bold.values[:, column], data[i, j, k], rtol=1e-6)
    mask = np.zeros((3, 2, 2), dtype=bool)
    mask[2, 1, 0] = mask[0, 0, 1] = True
    masked = load_bold(tmp_path / "b_bold.nii.gz", mask=mask)
    assert masked.names == ("0_0_1", "2_1_0")


def test_load_bold_refuses_missing_tr_and_wrong_mask(tmp_path):
    data = np.ones((3, 2, 2, 5))
    path = _write_bold(tmp_path / "no_tr_bold.nii.gz", data, tr=0.0)
    with pytest.raises(DataError, match=r"no repetition time.*tr_s="):
        load_bold(path)
    assert load_bold(path, tr_s=1.5).rate_hz == pytest.approx(1 / 1.5)
    with pytest.raises(DataError, match=r"mask has shape \(3, 3, 2\).*\(3, 2, 2\)"):
        load_bold(path, mask=np.ones((3, 3, 2)), tr_s=1.0)
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4)), mask_path)
    with pytest.raises(DataError, match=r"mask\.nii\.gz: mask has shape"):
        load_bold(path, mask=mask_path, tr_s=1.0)
    with pytest.raises(DataError, match="4-D"):
        nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.float32), np.eye(4)), tmp_path / "x.nii")
        load_bold(tmp_path / "x.nii")


def test_atlas_roi_means_match_a_hand_computation(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.standard_normal((4, 3, 2, 6))
    path = _write_bold(tmp_path / "a_bold.nii.gz", data)
    atlas = np.zeros((4, 3, 2), dtype=np.int16)
    atlas[:2] = 3
    atlas[2:, :, 1] = 7
    atlas_path = tmp_path / "rois_dseg.nii.gz"
    nib.save(nib.Nifti1Image(atlas, np.eye(4)), atlas_path)
    (tmp_path / "rois_dseg.tsv").write_text("index\tname\n3\tauditory\n7\tfrontal\n")
    rois = load_bold(path, atlas=atlas_path)
    assert rois.names == ("auditory", "frontal")
    by_hand_3 = np.mean([data[i, j, k] for i in range(2) for j in range(3) for k in range(2)], 0)
    by_hand_7 = np.mean([data[i, j, 1] for i in (2, 3) for j in range(3)], axis=0)
    np.testing.assert_allclose(rois.values[:, 0], by_hand_3, rtol=1e-5)
    np.testing.assert_allclose(rois.values[:, 1], by_hand_7, rtol=1e-5)
    # Within a mask, and unnamed labels when no table is given.
    mask = np.zeros((4, 3, 2), dtype=bool)
    mask[0, 0, 0] = mask[3, 2, 1] = True
    masked = load_bold(path, atlas=atlas, mask=mask)
    assert masked.names == ("roi-3", "roi-7")
    np.testing.assert_allclose(masked.values[:, 0], data[0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(masked.values[:, 1], data[3, 2, 1], rtol=1e-6)
    with pytest.raises(DataError, match="atlas has shape"):
        load_bold(path, atlas=np.ones((4, 3, 3), dtype=int))


def test_simulate_fmri_command_writes_a_study_and_a_ready_encode_toml(stimuli, tmp_path):
    from click.testing import CliRunner

    from frisson.cli import main
    from frisson.pipelines.encoding import EncodeConfig

    out = tmp_path / "fmri" / "study"
    args = ["simulate-fmri", "--stimuli", str(stimuli), "--out", str(out)]
    args += ["--encoder", "synthetic-layers", "--participants", "1", "--shape", "4,4,3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    config = EncodeConfig.from_toml(tmp_path / "fmri" / "encode.toml")
    assert config.study == out.resolve() and config.target == "bold"
    assert config.layers == ("layer1", "layer2", "layer3", "layer4")
    assert config.mask.is_file()
    assert not [p for p in read_study(out).validate() if p.severity == "error"]
    bad = CliRunner().invoke(main, [*args[:5], "--shape", "4,4"])
    assert bad.exit_code == 1 and "--shape must be three integers" in bad.output
