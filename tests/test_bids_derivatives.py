"""fMRIPrep and XCP-D derivatives: explicit space, brain mask, confounds regressed, parcels.

A tiny replica of fMRIPrep's layout holds a BOLD whose voxels are a planted signal
plus confounds (motion, CSF), a linear drift and a slow cosine; cleaning must give
back the signal and leave nothing of the confounds.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from frisson.errors import DataError, ParameterError
from frisson.study import clean_bold, find_preprocessed, read_confounds, read_study
from frisson.timeseries import TimeSeries

N = 120  # volumes at TR 1 s
RUN = {"sub": "01", "task": "happy"}


def _save(path, data, tr=1.0):
    image = nib.Nifti1Image(data, np.eye(4))
    image.header.set_xyzt_units("mm", "sec")
    if data.ndim == 4:
        image.header.set_zooms((2.0, 2.0, 2.0, tr))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(N, dtype=float)
    signal = np.sin(2 * np.pi * t / 20)
    confounds = pd.DataFrame(
        {
            "trans_x": rng.standard_normal(N).cumsum() * 0.1,
            "rot_z": rng.standard_normal(N) * 0.5,
            "csf": rng.standard_normal(N),
            "framewise_displacement": np.r_[np.nan, rng.random(N - 1)],
        }
    )
    drift = 0.05 * t + 2 * np.cos(np.pi * (t + 0.5) / N)  # linear + the slowest cosine
    data = np.zeros((2, 2, 1, N), dtype=np.float64)
    planted = {}
    for (i, j), gain in {(0, 0): 1.0, (1, 1): 2.0, (0, 1): 0.0, (1, 0): 0.0}.items():
        mixture = 3 * confounds["trans_x"] - 2 * confounds["rot_z"] + confounds["csf"]
        data[i, j, 0] = 1000 + gain * signal + mixture + drift
        planted[f"{i}_{j}_0"] = gain * signal
    root = tmp_path / "study"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    (root / "task-happy_bold.json").write_text(json.dumps({"RepetitionTime": 1.0}))
    _save(root / "sub-01/func/sub-01_task-happy_bold.nii.gz", data.astype(np.float32))
    func = root / "derivatives/fmriprep/sub-01/func"
    for space in ("space-MNI152NLin2009cAsym_res-2", "space-T1w"):
        _save(func / f"sub-01_task-happy_{space}_desc-preproc_bold.nii.gz", data.astype(np.float32))
        (func / f"sub-01_task-happy_{space}_desc-preproc_bold.json").write_text(
            json.dumps({"RepetitionTime": 1.0})
        )
    mask = np.zeros((2, 2, 1), dtype=np.uint8)
    mask[0, 0, 0] = mask[1, 1, 0] = 1
    _save(func / "sub-01_task-happy_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz", mask)
    confounds.to_csv(
        func / "sub-01_task-happy_desc-confounds_timeseries.tsv", sep="\t", index=False,
        na_rep="n/a",
    )  # fmt: skip
    return root, signal, confounds, planted


def test_space_must_be_chosen_when_there_are_several(dataset):
    root, *_ = dataset
    fmriprep = root / "derivatives/fmriprep"
    with pytest.raises(DataError, match=r"2 spaces: MNI152NLin2009cAsym:res-2, T1w; choose one"):
        find_preprocessed(fmriprep, RUN)
    found = find_preprocessed(fmriprep, RUN, space="MNI152NLin2009cAsym")
    assert found.space == "MNI152NLin2009cAsym:res-2"
    assert found.mask.name.endswith("_res-2_desc-brain_mask.nii.gz")
    assert found.confounds.name == "sub-01_task-happy_desc-confounds_timeseries.tsv"
    assert find_preprocessed(fmriprep, RUN, space="T1w").mask is None
    with pytest.raises(DataError, match=r"space 'fsaverage' not found .* available: MNI152"):
        find_preprocessed(fmriprep, RUN, space="fsaverage")


def test_confounds_trends_and_drifts_are_regressed_in_the_brain_mask(dataset):
    root, signal, confounds, planted = dataset
    study = read_study(root, task_stimuli=None)
    run = study.runs[0]
    options = {"space": "MNI152NLin2009cAsym", "high_pass_hz": 1 / 100}
    raw = study.read_preprocessed(run, "derivatives/fmriprep", **options)
    assert raw.names == ("0_0_0", "1_1_0")  # the brain mask's voxels only
    assert raw.rate_hz == 1.0
    assert np.corrcoef(raw.values[:, 1], signal)[0, 1] < 0.8  # confounds still in
    cleaned = study.read_preprocessed(
        run, "derivatives/fmriprep", confounds=["trans_*", "rot_*", "csf"], **options
    )
    # The oracle: the planted signal minus its least-squares part in the nuisance space
    # (intercept, linear trend, cosines of periods 240 and 120 s, the three confounds).
    t = np.arange(N)
    nuisance = np.column_stack(
        [np.ones(N), t, np.cos(np.pi * (t + 0.5) / N), np.cos(2 * np.pi * (t + 0.5) / N),
         confounds[["trans_x", "rot_z", "csf"]].to_numpy()]
    )  # fmt: skip
    for column, name in enumerate(cleaned.names):
        beta = np.linalg.lstsq(nuisance, planted[name], rcond=None)[0]
        expected = planted[name] - nuisance @ beta
        residual = cleaned.values[:, column] - cleaned.values[:, column].mean()
        np.testing.assert_allclose(residual, expected, atol=2e-3)  # float32 images
        assert np.corrcoef(residual, planted[name])[0, 1] > 0.97
    matrix, names = read_confounds(
        root / "derivatives/fmriprep/sub-01/func/sub-01_task-happy_desc-confounds_timeseries.tsv",
        ["framewise_displacement", "trans_*"],
    )
    assert names == ["framewise_displacement", "trans_x"] and not np.isnan(matrix).any()
    assert matrix[0, 0] == pytest.approx(confounds["framewise_displacement"].mean())
    with pytest.raises(DataError, match=r"no confound column matches 'a_comp_cor_\*'.*trans_x"):
        study.read_preprocessed(run, "derivatives/fmriprep", confounds=["a_comp_cor_*"], **options)


def test_clean_bold_is_a_projection():
    rng = np.random.default_rng(3)
    confound = rng.standard_normal((200, 2))
    values = rng.standard_normal((200, 3)) + confound @ rng.standard_normal((2, 3))
    cleaned = clean_bold(TimeSeries(values, 0.5), confounds=confound, detrend_order=2)
    np.testing.assert_allclose(confound.T @ (cleaned.values - cleaned.values.mean(0)), 0, atol=1e-9)
    np.testing.assert_allclose(cleaned.values.mean(0), values.mean(0))  # the mean is kept
    z = clean_bold(TimeSeries(values, 0.5), standardize=True, high_pass_hz=0.01)
    np.testing.assert_allclose(z.values.std(0), 1.0)
    with pytest.raises(DataError, match="confounds have 100 rows but the BOLD has 200"):
        clean_bold(TimeSeries(values, 0.5), confounds=confound[:100])


def test_parcellated_timeseries_as_targets(dataset):
    root, *_ = dataset
    study = read_study(root)
    run = study.runs[0]
    xcpd = root / "derivatives/xcp_d/sub-01/func"
    xcpd.mkdir(parents=True)
    rng = np.random.default_rng(4)
    for seg in ("4S156Parcels", "Gordon"):
        table = pd.DataFrame(rng.standard_normal((N, 3)), columns=[f"{seg}_{k}" for k in "abc"])
        table.iloc[5, 1] = np.nan
        name = f"sub-01_task-happy_space-MNI152NLin2009cAsym_seg-{seg}_stat-mean_timeseries.tsv"
        table.to_csv(xcpd / name, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(DataError, match=r"parcellations 4S156Parcels, Gordon; choose one"):
        study.read_parcellated(run, "derivatives/xcp_d")
    with pytest.raises(ParameterError, match=r"seg='Schaefer'"):
        study.read_parcellated(run, "derivatives/xcp_d", seg="Schaefer")
    parcels = study.read_parcellated(run, "derivatives/xcp_d", seg="Gordon")
    assert parcels.names == ("Gordon_a", "Gordon_b", "Gordon_c") and parcels.n_times == N
    assert parcels.rate_hz == 1.0  # from the raw BOLD's inherited sidecar
    assert np.isnan(parcels.values[5, 1])
    sidecar = (
        xcpd / "sub-01_task-happy_space-MNI152NLin2009cAsym_seg-Gordon_stat-mean_timeseries.json"
    )
    sidecar.write_text(json.dumps({"RepetitionTime": 2.0}))
    assert study.read_parcellated(run, "derivatives/xcp_d", seg="Gordon").rate_hz == 0.5


def test_cleaning_matches_nilearns_nifti_masker(dataset):
    """The preprocessed BOLD equals NiftiMasker's output (brain mask, detrend, cosine high-pass,
    confounds), plus each voxel's mean, which frisson keeps."""
    from nilearn.maskers import NiftiMasker

    root, _, confounds, _ = dataset
    study = read_study(root, task_stimuli=None)
    space = "MNI152NLin2009cAsym"
    found = find_preprocessed(root / "derivatives/fmriprep", RUN, space=space)
    cleaned = study.read_preprocessed(
        study.runs[0],
        "derivatives/fmriprep",
        space=space,
        confounds=["trans_x", "csf"],
        high_pass_hz=1 / 100,
    )
    masker = NiftiMasker(
        mask_img=str(found.mask),
        t_r=1.0,
        detrend=True,
        high_pass=1 / 100,
        standardize=None,
        clean_args={"filter": "cosine"},  # SPM's drift model, not nilearn's Butterworth default
    )
    expected = masker.fit_transform(
        str(found.bold), confounds=confounds[["trans_x", "csf"]].to_numpy()
    )
    values = cleaned.values - cleaned.values.mean(axis=0)
    np.testing.assert_allclose(values, expected, atol=2e-3)


def test_desc_chooses_among_preprocessed_outputs(dataset):
    root, *_ = dataset
    func = root / "derivatives/fmriprep/sub-01/func"
    source = func / "sub-01_task-happy_space-T1w_desc-preproc_bold.nii.gz"
    denoised = func / "sub-01_task-happy_space-T1w_desc-denoised_bold.nii.gz"
    denoised.write_bytes(source.read_bytes())
    fmriprep = root / "derivatives/fmriprep"
    assert find_preprocessed(fmriprep, RUN, space="T1w", desc="denoised").bold == denoised
    assert find_preprocessed(fmriprep, RUN, space="T1w").bold == source
    with pytest.raises(DataError, match=r"no \*_desc-smoothAROMA_bold.nii\[.gz\]"):
        find_preprocessed(fmriprep, RUN, space="T1w", desc="smoothAROMA")
    study = read_study(root, task_stimuli=None)
    bold = study.read_preprocessed(study.runs[0], fmriprep, space="T1w", desc="denoised")
    assert bold.n_times == N
