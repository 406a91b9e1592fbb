"""`frisson encode` end to end on simulated studies: planted layers, FDR, outputs, cache."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from frisson.cli import main
from frisson.encoders import register_encoder
from frisson.errors import DataError, ParameterError
from frisson.pipelines.encoding import EncodeConfig, _ratings_targets, run_encoding
from frisson.simulate import (
    FmriParams,
    StudyParams,
    SyntheticLayersEncoder,
    simulate_fmri_study,
    simulate_study,
    synth_piece,
)
from frisson.study import read_study

register_encoder(
    "synthetic-layers", SyntheticLayersEncoder, description="test layers", overwrite=True
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():  # module scope: also around the module-scoped fits below
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i in range(5):
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=70 + i).write(
            folder / f"piece-{i + 1}.wav"
        )
    return folder


@pytest.fixture(scope="module")
def encoded(stimuli, tmp_path_factory):
    """A 2-participant simulated fMRI study run through `frisson encode` once."""
    root = tmp_path_factory.mktemp("encode")
    # 35 % responsive, encode's default null (studentised r pooled over voxels). BH bounds
    # the false discovery rate (q m0 / m = 3 %), not the share of noise-only voxels that
    # pass, which is about q R / m0 (3 % when every responsive voxel passes).
    params = FmriParams(n_participants=2, volume_shape=(6, 8, 4), responsive_fraction=0.35, snr=1.0)
    sim = simulate_fmri_study(
        stimuli, root / "study", params=params, encoder="synthetic-layers", seed=11
    )
    toml = root / "study.toml"
    toml.write_text(
        "[encode]\n"
        'study = "study"\n'
        'output = "results"\n'
        'encoder = "synthetic-layers"\n'
        'target = "bold"\n'
        'mask = "study/derivatives/atlas/brain_mask.nii.gz"\n'
        "seed = 2\n"
    )
    result = CliRunner().invoke(main, ["encode", str(toml), "--no-progress"])
    assert result.exit_code == 0, result.output
    return sim, toml, root / "results", result.output


def _best_with_truth(sim, results):
    best = pd.read_csv(results / "best_layers.tsv", sep="\t")
    return best.merge(sim.voxels, on="unit")


def test_planted_layers_are_recovered(encoded):
    sim, _, results, output = encoded
    table = _best_with_truth(sim, results)
    assert set(table["participant"]) == {"sub-01", "sub-02"}
    assert len(table) == 2 * sim.mask.sum()
    responsive = table[table["responsive"]]
    distance = (responsive["best_layer_index"] - responsive["layer_index"]).abs()
    assert (distance <= 1).mean() >= 0.8
    assert (distance == 0).mean() >= 0.8
    # Responsive voxels are found; few discoveries are noise-only voxels.
    assert responsive["significant"].mean() >= 0.8
    significant = table[table["significant"]]
    assert (~significant["responsive"]).mean() <= 0.1  # false discovery proportion
    assert table.loc[~table["responsive"], "significant"].mean() <= 0.08
    assert "sub-01:" in output and "with q < 0.05" in output


def test_outputs_tables_maps_and_figures(encoded):
    sim, _, results, _ = encoded
    for name in (
        "profiles.tsv",
        "layer_summary.tsv",
        "layer_profiles.png",
        "best_layers.png",
        "sub-01_best_layer.png",
        "group_best_layer.png",
        "settings.json",
    ):
        assert (results / name).stat().st_size > 0, name
    profiles = pd.read_csv(results / "profiles.tsv", sep="\t")
    assert len(profiles) == 2 * 4 * sim.mask.sum()
    assert set(profiles["layer"]) == {"layer1", "layer2", "layer3", "layer4"}
    assert profiles.groupby(["participant", "unit"])["best"].sum().eq(1).all()
    best = pd.read_csv(results / "best_layers.tsv", sep="\t")
    sub1 = best[best["participant"] == "sub-01"]
    image = nib.load(results / "sub-01_best_layer.nii.gz")
    np.testing.assert_allclose(image.affine, nib.load(next(sim.root.rglob("*_bold.nii.gz"))).affine)
    volume = np.asarray(image.dataobj)
    ijk = sub1["unit"].str.split("_", expand=True).astype(int).to_numpy()
    np.testing.assert_array_equal(volume[tuple(ijk.T)], sub1["best_layer_index"] + 1)
    assert (volume[~sim.mask] == 0).all()
    max_r = np.asarray(nib.load(results / "sub-01_max_r.nii.gz").dataobj)
    np.testing.assert_allclose(max_r[tuple(ijk.T)], sub1["r"], rtol=1e-5, atol=1e-6)
    # The group map: best layer of the mean Fisher-z profile, as planted.
    group = np.asarray(nib.load(results / "group_best_layer.nii.gz").dataobj)
    responsive = sim.responsive
    assert np.mean(group[responsive] - 1 == sim.planted_layer[responsive]) >= 0.8


def test_rerun_uses_the_cache(encoded, monkeypatch):
    _, toml, results, _ = encoded
    before = (results / "best_layers.tsv").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr("frisson.models.encoding.fit_layer_profiles", fail)
    monkeypatch.setattr(SyntheticLayersEncoder, "encode", fail)
    result = CliRunner().invoke(main, ["encode", str(toml), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (results / "best_layers.tsv").read_text() == before
    # A changed setting is a new cache key: the fit runs again (and here fails).
    changed = toml.with_name("changed.toml")
    changed.write_text(toml.read_text().replace("seed = 2", "seed = 3"))
    result = CliRunner().invoke(main, ["encode", str(changed), "--no-progress"])
    assert result.exit_code != 0 and isinstance(result.exception, AssertionError)


def test_configuration_errors_name_the_file_and_fix(tmp_path):
    toml = tmp_path / "study.toml"
    toml.write_text('[encode]\nstudy = "s"\noutput = "o"\nlayer = "cnn3"\n')
    with pytest.raises(DataError, match=r"study\.toml: unknown key\(s\) \['layer'\].*layers"):
        EncodeConfig.from_toml(toml)
    toml.write_text('[encode]\nstudy = "s"\noutput = "o"\ntarget = "eeg"\n')
    with pytest.raises(DataError, match=r"target='eeg' is not valid.*'bold', 'ratings'"):
        EncodeConfig.from_toml(toml)
    result = CliRunner().invoke(main, ["encode", str(toml)])
    assert result.exit_code == 1 and "target='eeg'" in result.output


@pytest.fixture(scope="module")
def chills_study(stimuli, tmp_path_factory):
    """A physiology + ratings study (no BOLD): 3 participants, 4 stimuli, physiology at 10 Hz."""
    params = StudyParams(
        n_participants=3, physio_rate_hz=10.0, dropout_probability=0.0, motion_per_min=0.0
    )
    root = tmp_path_factory.mktemp("chills") / "study"
    simulate_study(sorted(stimuli.glob("*.wav"))[:4], root, params=params, seed=4)
    return root


def test_bold_target_without_bold_says_what_to_do(chills_study, tmp_path):
    config = EncodeConfig(study=chills_study, output=tmp_path / "out", target="bold")
    with pytest.raises(DataError, match=r"no run with a \*_bold.*target = 'ratings'"):
        run_encoding(config, progress_bar=False)


def test_ratings_target_fits_the_group_mean(chills_study, tmp_path):
    config = EncodeConfig(
        study=chills_study,
        output=tmp_path / "out",
        target="ratings",
        encoder="synthetic-layers",
        n_permutations=5,
    )
    study = read_study(config.study)
    responses, placements = _ratings_targets(study, config, study.runs)
    assert len(responses) == 4 and all(p[0][0] == 0.0 for p in placements)
    assert responses[0].names == ("emotionality", "emotionality_absderiv")
    # Against a hand computation: the NaN-aware mean over participants of each trial's ratings
    # (a trial's first grid sample can precede its first rating).
    first = placements[0][0][1]
    trials = list(study.trials(stimulus=first))
    assert len(trials) == 3
    times = responses[0].times_s
    by_hand = np.nanmean(
        [t.responses["emotionality"].sample_at(times, width_s=0.2)[:, 0] for t in trials], axis=0
    )
    np.testing.assert_allclose(responses[0].values[:, 0], by_hand, rtol=1e-6, atol=1e-9)
    derivative = np.abs(np.gradient(by_hand)) * 5.0
    np.testing.assert_allclose(responses[0].values[:, 1], derivative, rtol=1e-6, atol=1e-9)
    results = run_encoding(config, progress_bar=False)
    assert list(results.profiles) == ["group"]
    profile = results.profiles["group"]
    assert profile.units == ("emotionality", "emotionality_absderiv")
    assert profile.fold_r.shape == (4, 4, 2)  # 4 layers, leave-one-stimulus-out over 4


def test_group_statistics_and_noise_ceiling_columns(encoded):
    sim, toml, results, _ = encoded
    run = run_encoding(EncodeConfig.from_toml(toml), overwrite=True, progress_bar=False)  # cached
    truth = sim.voxels.set_index("unit")["responsive"]
    group = run.group
    assert group is not None and group.participants == ("sub-01", "sub-02")
    assert group.n_patterns == 4  # 2 participants: every sign pattern, p >= 1 / 4
    responsive = truth.loc[list(group.units)].to_numpy()
    assert np.nanmean(group.mean_r.max(axis=0)[responsive]) > 0.3
    assert np.nanmean(group.mean_r.max(axis=0)[~responsive]) < 0.1
    # the noise ceiling (leave-one-out ISC) is high where the voxels follow the music
    frame = pd.read_csv(results / "profiles.tsv", sep="\t")
    assert {"noise_ceiling", "r_normalised", "t"} <= set(frame.columns)
    ceiling = frame.drop_duplicates(["participant", "unit"]).merge(sim.voxels, on="unit")
    assert ceiling.loc[ceiling["responsive"], "noise_ceiling"].median() > 0.3
    assert ceiling.loc[~ceiling["responsive"], "noise_ceiling"].median() < 0.1
    assert run.group_profile["mean_r"].shape == (len(run.layers),)


def _one_piece_per_task_study(tmp_path):
    """ds003085's layout: no events, one piece per task, TR 1 s in top-level sidecars only."""
    import json

    import soundfile as sf

    root = tmp_path / "ds"
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "replica", "BIDSVersion": "1.4.0", "DatasetType": "raw"})
    )
    pieces = {"happy": 70, "sad": 71, "calm": 72}
    (root / "stimuli").mkdir()
    for piece, seed in pieces.items():
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=seed).write(
            root / "stimuli" / f"{piece}.wav"
        )
        (root / f"task-{piece}_bold.json").write_text(json.dumps({"RepetitionTime": 1.0}))
    rng = np.random.default_rng(0)
    for pid in ("01", "02"):
        for piece in pieces:
            duration = sf.info(root / "stimuli" / f"{piece}.wav").duration
            data = 100 + rng.standard_normal((3, 2, 2, int(duration) + 10)).astype(np.float32)
            image = nib.Nifti1Image(data, np.eye(4))
            image.header.set_xyzt_units("mm", "sec")
            image.header.set_zooms((3.0, 3.0, 3.0, 2.5))
            (root / f"sub-{pid}/func").mkdir(parents=True, exist_ok=True)
            nib.save(image, root / f"sub-{pid}/func/sub-{pid}_task-{piece}_bold.nii.gz")
    return root, pieces


def test_encode_reads_a_study_without_events_one_piece_per_task(tmp_path, caplog):
    """ds003085's layout: no events, one piece per task, TR in inherited sidecars (header: 2.5 s).

    The audio of each task comes from ``[encode.task_stimuli]``; every run is one presentation
    from 0 s, and the sidecar's TR (not the header's) sets the BOLD grid.
    """
    _root, pieces = _one_piece_per_task_study(tmp_path)
    toml = tmp_path / "encode.toml"
    toml.write_text(
        "[encode]\n"
        'study = "ds"\n'
        'output = "results"\n'
        'encoder = "synthetic-layers"\n'
        'target = "bold"\n'
        "n_permutations = 0\n"
        "[encode.task_stimuli]\n"
        + "".join(f'{piece} = "stimuli/{piece}.wav"\n' for piece in pieces)
    )
    config = EncodeConfig.from_toml(toml)
    assert config.task_stimuli == {p: f"stimuli/{p}.wav" for p in pieces}
    with caplog.at_level("WARNING", logger="frisson"):
        results = run_encoding(config, progress_bar=False)
    assert sorted(results.profiles) == ["sub-01", "sub-02"]
    frame = results.profiles["sub-01"].to_frame()
    assert frame.unit.nunique() == 12 and frame.layer.nunique() == len(results.layers)
    assert "using the sidecar's 1 s" in caplog.text
    # Without the mapping the error names the key to add.
    bare = tmp_path / "bare.toml"
    bare.write_text('[encode]\nstudy = "ds"\noutput = "results2"\nencoder = "synthetic-layers"\n')
    with pytest.raises(DataError, match="task_stimuli"):
        run_encoding(EncodeConfig.from_toml(bare), progress_bar=False)


def test_encode_on_fmriprep_derivatives_space_mask_and_confounds(tmp_path):
    """`derivatives`: preprocessed BOLD in the chosen space, inside its brain mask, cleaned."""
    import pandas as pd

    root, pieces = _one_piece_per_task_study(tmp_path)
    mask = np.zeros((3, 2, 2), dtype=np.uint8)
    mask[:2] = 1  # 8 of the 12 voxels
    for raw in sorted(root.glob("sub-*/func/*_bold.nii.gz")):
        image = nib.load(raw)
        func = root / "derivatives/fmriprep" / raw.parent.relative_to(root)
        func.mkdir(parents=True, exist_ok=True)
        stem = raw.name.replace("_bold.nii.gz", "")
        for space in ("space-MNI152NLin2009cAsym", "space-T1w"):
            nib.save(image, func / f"{stem}_{space}_desc-preproc_bold.nii.gz")
            nib.save(
                nib.Nifti1Image(mask, np.eye(4)), func / f"{stem}_{space}_desc-brain_mask.nii.gz"
            )
        n = image.shape[-1]
        pd.DataFrame({"trans_x": np.linspace(0, 1, n), "csf": np.cos(np.arange(n))}).to_csv(
            func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False
        )
    text = (
        "[encode]\n"
        'study = "ds"\n'
        'output = "results"\n'
        'encoder = "synthetic-layers"\n'
        "n_permutations = 0\n"
        'derivatives = "ds/derivatives/fmriprep"\n'
        "{space}"
        'confounds = ["trans_*", "csf"]\n'
        "[encode.task_stimuli]\n" + "".join(f'{p} = "stimuli/{p}.wav"\n' for p in pieces)
    )
    toml = tmp_path / "encode.toml"
    toml.write_text(text.format(space=""))
    with pytest.raises(DataError, match=r"MNI152NLin2009cAsym.*T1w"):
        run_encoding(EncodeConfig.from_toml(toml), progress_bar=False)
    toml.write_text(text.format(space='space = "T1w"\n'))
    results = run_encoding(EncodeConfig.from_toml(toml), progress_bar=False)
    frame = results.profiles["sub-02"].to_frame()
    assert frame.unit.nunique() == 8  # the brain mask's voxels only
    with pytest.raises(ParameterError, match="derivatives applies to target = 'bold'"):
        EncodeConfig(study=root, output=tmp_path / "x", target="ratings", derivatives=root).check()


def test_encode_on_parcellated_timeseries_equals_the_same_atlas(tmp_path):
    """`parcellated`: XCP-D's parcel TSVs as targets give the fit of the same atlas on the BOLD."""
    import pandas as pd

    root, pieces = _one_piece_per_task_study(tmp_path)
    labels = np.zeros((3, 2, 2), dtype=np.int16)
    labels[:2, :, 0], labels[:2, :, 1], labels[2] = 1, 2, 3
    atlas = root / "derivatives/atlas/atlas.nii.gz"
    atlas.parent.mkdir(parents=True)
    nib.save(nib.Nifti1Image(labels, np.eye(4)), atlas)
    names = {1: "auditory", 2: "insula", 3: "striatum"}
    pd.DataFrame({"index": list(names), "name": list(names.values())}).to_csv(
        atlas.with_suffix("").with_suffix(".tsv"), sep="\t", index=False
    )
    for raw in sorted(root.glob("sub-*/func/*_bold.nii.gz")):
        data = nib.load(raw).get_fdata()
        func = root / "derivatives/xcp_d" / raw.parent.relative_to(root)
        func.mkdir(parents=True, exist_ok=True)
        stem = raw.name.replace("_bold.nii.gz", "")
        for seg, scale in (("Toy", 1.0), ("Other", -1.0)):
            table = {name: scale * data[labels == k].mean(axis=0) for k, name in names.items()}
            pd.DataFrame(table).to_csv(
                func / f"{stem}_space-MNI152NLin6Asym_seg-{seg}_stat-mean_timeseries.tsv",
                sep="\t",
                index=False,
            )
    common = (
        "[encode]\n"
        'study = "ds"\n'
        'output = "{output}"\n'
        'encoder = "synthetic-layers"\n'
        "n_permutations = 0\n"
        "detrend_order = 0\n"
        "{targets}"
        "[encode.task_stimuli]\n" + "".join(f'{p} = "stimuli/{p}.wav"\n' for p in pieces)
    )
    toml = tmp_path / "encode.toml"
    parcellated = 'parcellated = "ds/derivatives/xcp_d"\n'
    toml.write_text(common.format(output="parcels", targets=parcellated))
    with pytest.raises(DataError, match=r"parcellations Other, Toy; choose one with seg="):
        run_encoding(EncodeConfig.from_toml(toml), progress_bar=False)
    toml.write_text(common.format(output="parcels", targets=parcellated + 'seg = "Toy"\n'))
    parcels = run_encoding(EncodeConfig.from_toml(toml), progress_bar=False)
    toml.write_text(common.format(output="atlas", targets=f'atlas = "{atlas}"\n'))
    voxels = run_encoding(EncodeConfig.from_toml(toml), progress_bar=False)
    for participant in ("sub-01", "sub-02"):
        by_parcels = parcels.profiles[participant].to_frame().sort_values(["unit", "layer"])
        by_atlas = voxels.profiles[participant].to_frame().sort_values(["unit", "layer"])
        assert sorted(by_parcels.unit.unique()) == sorted(names.values())
        np.testing.assert_allclose(by_parcels["r"], by_atlas["r"], atol=1e-5)
    assert parcels.spaces["sub-01"] is None  # parcels: no voxel grid, no maps
    with pytest.raises(ParameterError, match="parcellated targets are already parcels"):
        EncodeConfig(study=root, output=tmp_path / "x", parcellated=root, atlas=atlas).check()
    with pytest.raises(ParameterError, match="confounds come from fMRIPrep"):
        EncodeConfig(study=root, output=tmp_path / "x", confounds=("csf",)).check()
