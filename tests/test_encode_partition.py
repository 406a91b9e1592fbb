"""`frisson encode` with partition_with: unique and shared R^2 columns in the per-unit table."""

import numpy as np
import pytest

from frisson.encoders import get_encoder, register_encoder
from frisson.errors import ParameterError
from frisson.pipelines._encode_partition import check_partner
from frisson.pipelines.encoding import EncodeConfig, run_encoding
from frisson.simulate import FmriParams, SyntheticLayersEncoder, simulate_fmri_study, synth_piece

register_encoder(
    "synthetic-layers", SyntheticLayersEncoder, description="test layers", overwrite=True
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_encode_partition_with_loudness_adds_the_columns(tmp_path):
    for i in range(4):
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=90 + i).write(
            tmp_path / f"piece-{i + 1}.wav"
        )
    params = FmriParams(n_participants=1, volume_shape=(4, 4, 3), responsive_fraction=0.5, snr=1.0)
    sim = simulate_fmri_study(
        tmp_path, tmp_path / "study", params=params, encoder="synthetic-layers", seed=3
    )
    config = EncodeConfig(
        study=tmp_path / "study",
        output=tmp_path / "results",
        encoder="synthetic-layers",
        partition_with="loudness",
        n_permutations=0,
    )
    results = run_encoding(config, progress_bar=False)
    table = results.profiles["sub-01"].to_frame()  # the rows of profiles.tsv
    assert set(table["partner"]) == {"loudness"}
    parts = table[["unique_r2", "unique_r2_partner", "shared_r2"]].sum(axis=1)
    np.testing.assert_allclose(parts, table["r2_joint"], atol=1e-9)
    # the layer alone in the partition is the layer's own fit: r2 = unique + shared
    np.testing.assert_allclose(table["unique_r2"] + table["shared_r2"], table["r2"], atol=1e-8)
    # the planted voxels follow their layer, not the loudness: most of the fit is the layer's
    responsive = table.merge(sim.voxels, on="unit")
    planted = responsive[
        responsive["responsive"] & (responsive["layer"] == responsive["planted_layer"])
    ]
    assert len(planted) > 0 and (planted["unique_r2"] > planted["unique_r2_partner"]).mean() >= 0.8
    assert np.all(np.isfinite(results.profiles["sub-01"].partition["r2_partner"]))


def test_partition_with_names_the_valid_choices():
    encoder = get_encoder("synthetic-layers")
    assert check_partner("rms", encoder, ["layer2"]) == "rms"
    assert check_partner("layer1", encoder, ["layer2"]) == "layer1"
    with pytest.raises(ParameterError, match=r"neither an audio feature.*layer1"):
        check_partner("nope", encoder, ["layer2"])
