import itertools

import numpy as np
import pandas as pd
import pytest

from frisson.errors import AudioError, DataError
from frisson.pipelines.song import analyze_song, read_boundaries
from frisson.report.song import write_song_analysis
from frisson.simulate import synth_piece


@pytest.fixture(scope="module")
def piece():
    return synth_piece(n_sections=6, seed=11)


@pytest.fixture(scope="module")
def analysis(piece):
    return analyze_song(
        piece.audio, encoder="mel", n_surrogates=199, reference_boundaries_s=piece.boundaries_s
    )


def test_synth_piece_is_deterministic_with_known_sections():
    a, b = synth_piece(n_sections=5, seed=3), synth_piece(n_sections=5, seed=3)
    np.testing.assert_array_equal(a.audio.samples, b.audio.samples)
    assert a.audio.sha256 != synth_piece(n_sections=5, seed=4).audio.sha256
    assert a.boundaries_s.size == 4
    np.testing.assert_allclose(a.boundaries_s, np.cumsum([s.duration_s for s in a.sections])[:-1])
    levels = [s.level_db for s in a.sections]
    assert all(abs(x - y) >= 12 for x, y in itertools.pairwise(levels))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mel_transitions_reach_f3_of_0_8_on_contrasting_sections(seed):
    piece = synth_piece(n_sections=6, seed=100 + seed)
    result = analyze_song(
        piece.audio, encoder="mel", n_surrogates=19, reference_boundaries_s=piece.boundaries_s
    )
    f3 = {method: scores[1].f_measure for method, scores in result.boundary_scores.items()}
    assert result.boundary_scores["pc1_variance"][1].window_s == 3.0
    assert f3["pc1_variance"] >= 0.8, f3


def test_analysis_contents(analysis, piece):
    assert analysis.smoothed.rate_hz == pytest.approx(22050 / 256 / 4)
    assert analysis.pca.pcs.n_channels == 10
    assert set(analysis.transitions) == {"tested_novelty", "pc1_variance", "foote_novelty"}
    # Sections alternate loud and soft: PC1 follows loudness, strongly and significantly.
    table = analysis.correlations.to_frame().set_index(["pc", "feature"])
    assert abs(table.loc[("PC1", "loudness"), "r"]) > 0.8
    assert table.loc[("PC1", "loudness"), "p"] <= 0.01
    assert "F(3 s)" in analysis.summary()


def test_written_tables_and_figure(analysis, tmp_path):
    written = write_song_analysis(analysis, tmp_path / "out")
    names = {p.name for p in written}
    assert names == {
        "pcs.tsv",
        "transitions.tsv",
        "clusters.tsv",
        "feature_correlations.tsv",
        "boundary_scores.tsv",
        "latent.png",
    }
    pcs = pd.read_csv(tmp_path / "out" / "pcs.tsv", sep="\t")
    assert list(pcs.columns) == ["time_s"] + [f"PC{i}" for i in range(1, 11)] + ["cluster"]
    np.testing.assert_allclose(pcs["time_s"], analysis.pca.pcs.times_s, atol=1e-5)
    transitions = pd.read_csv(tmp_path / "out" / "transitions.tsv", sep="\t")
    assert list(transitions.columns) == ["time_s", "strength", "method", "p", "default"]
    assert set(transitions["method"]) == {"tested_novelty", "pc1_variance", "foote_novelty"}
    tested = transitions[transitions.method == "tested_novelty"]
    assert (tested["default"] == (tested["p"] <= 0.05)).all()
    assert not transitions.loc[transitions.method != "tested_novelty", "default"].any()
    correlations = pd.read_csv(tmp_path / "out" / "feature_correlations.tsv", sep="\t")
    assert list(correlations.columns)[:5] == ["pc", "feature", "lag_s", "r", "p"]
    assert ((correlations.p > 0) & (correlations.p <= 1)).all()
    assert (tmp_path / "out" / "latent.png").read_bytes()[:4] == b"\x89PNG"
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_too_short_audio_names_the_minimum(piece):
    short = piece.audio.__class__(piece.audio.samples[: 22050 * 5], 22050.0, "clip.wav", "x")
    with pytest.raises(
        DataError, match=r"clip\.wav: lasts 5\.00 s, shorter than the minimum of 18\.00 s"
    ):
        analyze_song(short)


def test_missing_file_and_boundaries(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        analyze_song(tmp_path / "nope.wav")
    table = tmp_path / "bad.tsv"
    table.write_text("onset\tlabel\n1\ta\n")
    with pytest.raises(DataError, match="needs a 'time_s' column"):
        read_boundaries(table)


def test_silent_gap_inside_the_song_is_interpolated_not_fatal(piece, caplog):
    samples = piece.audio.samples.copy()
    samples[22050 * 30 : 22050 * 33] = 0.0  # 3 s of digital silence: the centroid is undefined
    audio = piece.audio.__class__(samples, 22050.0, "gap.wav", "y")
    with caplog.at_level("WARNING", logger="frisson"):
        result = analyze_song(audio, encoder="mel", n_surrogates=19)
    assert "interpolating undefined feature samples" in caplog.text
    assert np.isfinite(result.features.values).all()


def test_analyze_reads_the_layer_from_the_store_the_second_time(tmp_path, monkeypatch):
    from frisson.encoders import get_encoder
    from frisson.encoders.mel import MelEncoder
    from frisson.store import EmbeddingStore

    analysis_config = get_encoder("mel").config()
    calls = []
    original = MelEncoder.encode

    def counting(self, audio, **kwargs):
        calls.append(self.config() == analysis_config)  # False: the display spectrogram
        return original(self, audio, **kwargs)

    monkeypatch.setattr(MelEncoder, "encode", counting)
    piece = synth_piece(n_sections=3, section_s=(10.0, 10.0), seed=5)
    store = EmbeddingStore(tmp_path / "emb.zarr")
    first = analyze_song(piece.audio, encoder="mel", n_surrogates=19, store=store)
    assert calls.count(True) == 1 and len(store.entries()) == 1
    calls.clear()
    second = analyze_song(piece.audio, encoder="mel", n_surrogates=39, store=store)
    assert calls.count(True) == 0  # the layer came from the store
    np.testing.assert_array_equal(second.smoothed.values, first.smoothed.values)
