"""The encoding report (`frisson encode`): navigation, tables, maps on an underlay, provenance."""

import hashlib
import json
from html.parser import HTMLParser

import nibabel as nib
import numpy as np
import pytest

from frisson.encoders import register_encoder
from frisson.pipelines.encoding import EncodeConfig, run_encoding
from frisson.report.encoding_figures import plot_slice_mosaic
from frisson.report.encoding_report import _underlay, write_encoding_report
from frisson.simulate import FmriParams, SyntheticLayersEncoder, simulate_fmri_study, synth_piece

register_encoder(
    "synthetic-layers", SyntheticLayersEncoder, description="test layers", overwrite=True
)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.images = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.hrefs.append(attrs.get("href", ""))
        if tag == "img":
            self.images.append(attrs.get("src", ""))


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    from threadpoolctl import threadpool_limits

    root = tmp_path_factory.mktemp("encode")
    stimuli = root / "stimuli"
    stimuli.mkdir()
    for i in range(4):
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=70 + i).write(
            stimuli / f"piece-{i + 1}.wav"
        )
    params = FmriParams(n_participants=1, volume_shape=(5, 6, 3), responsive_fraction=0.4)
    simulate_fmri_study(stimuli, root / "study", params=params, encoder="synthetic-layers", seed=5)
    config = EncodeConfig(
        study=root / "study",
        output=root / "results",
        encoder="synthetic-layers",
        target="bold",
        mask=root / "study" / "derivatives" / "atlas" / "brain_mask.nii.gz",
        n_permutations=20,
        seed=1,
    )
    with threadpool_limits(limits=1, user_api="blas"):
        results = run_encoding(config, progress_bar=False)
        results.files = write_encoding_report(results, config.output)
    return root, results


def test_encoding_report_has_contents_tables_maps_and_no_absolute_path(encoded):
    root, results = encoded
    out = results.config.output
    text = (out / "report.html").read_text()
    page = _Links()
    page.feed(text)
    anchors = [h[1:] for h in page.hrefs if h.startswith("#")]
    for name in ("summary", "layer-profiles", "best-layers", "maps", "data-quality", "provenance"):
        assert name in anchors
    assert set(anchors) <= page.ids
    assert len(page.images) >= 3 and all(
        s.startswith("data:image/png;base64,") for s in page.images
    )
    assert "table class='sortable'" in text and str(root) not in text
    settings = json.loads((out / "settings.json").read_text())
    assert settings["study"] == "../study" and settings["mask"].startswith("../study/derivatives")


def test_encoding_provenance_hashes_the_bold_and_the_mask(encoded):
    _, results = encoded
    out = results.config.output
    record = json.loads((out / "provenance.json").read_text())
    by_file = {entry["file"]: entry["sha256"] for entry in record["inputs"]}
    bold = next(results.config.study.rglob("*_bold.nii.gz"))
    key = "../" + bold.relative_to(results.config.study.parent).as_posix()
    assert by_file[key] == hashlib.sha256(bold.read_bytes()).hexdigest()
    assert "../study/derivatives/atlas/brain_mask.nii.gz" in by_file
    assert record["settings"]["layers"] == list(results.layers)


def test_best_layer_mosaic_is_drawn_on_the_mean_epi(encoded):
    _, results = encoded
    out = results.config.output
    # The underlay is the mean EPI of the participant's run (the simulator writes no T1w).
    image = nib.load(next(results.config.study.rglob("*_bold.nii.gz")))
    mean = np.asarray(image.dataobj, dtype=float).mean(axis=-1)
    underlay, kind = _underlay(results.config.study, "sub-01", mean.shape, image.affine)
    assert kind == "mean EPI"
    np.testing.assert_allclose(underlay, mean)
    figure = plot_slice_mosaic(-np.ones(mean.shape, int), layers=["a", "b"], underlay=mean)
    shown = [ax.images[0].get_array() for ax in figure.axes if ax.images]
    np.testing.assert_allclose(np.asarray(shown[0]), mean[..., 0].T)
    assert (out / "sub-01_best_layer.png").stat().st_size > 0
    with pytest.raises(Exception, match="resample the anatomical image"):
        plot_slice_mosaic(mean, underlay=mean[:-1])
