"""Weight caches: offline-only loading, clear errors, and `frisson fetch`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from transformers import Wav2Vec2FeatureExtractor

from frisson.cli import main
from frisson.encoders import fetch_encoder
from frisson.encoders._weights import (
    WeightsNotCachedError,
    frisson_home,
    hf_cache_dir,
    hf_is_cached,
    load_hf,
)


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("FRISSON_HOME", str(tmp_path / "frisson"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def test_cache_folders_follow_the_environment(empty_caches):
    assert hf_cache_dir() == empty_caches / "hf"
    assert frisson_home() == empty_caches / "frisson"


def test_missing_hub_weights_fail_at_once_naming_the_fetch_command(empty_caches):
    assert not hf_is_cached("descript/dac_44khz")
    with pytest.raises(WeightsNotCachedError) as error:
        load_hf(Wav2Vec2FeatureExtractor, "descript/dac_44khz", fetch_name="dac-44khz")
    message = str(error.value)
    assert "frisson fetch dac-44khz" in message
    assert str(empty_caches / "hf") in message


def test_a_local_folder_loads_offline(empty_caches):
    folder = empty_caches / "extractor"
    Wav2Vec2FeatureExtractor(sampling_rate=24000).save_pretrained(folder)
    (folder / "config.json").write_text("{}")
    assert hf_is_cached(str(folder))
    loaded = load_hf(Wav2Vec2FeatureExtractor, str(folder), fetch_name="hf:x")
    assert loaded.sampling_rate == 24000


def test_hub_cache_layout_counts_as_cached(empty_caches):
    # the layout huggingface_hub writes: models--owner--name/snapshots/<rev>/ and refs/main
    repo = empty_caches / "hf" / "models--owner--tiny"
    snapshot = repo / "snapshots" / "abc123"
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(snapshot)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert hf_is_cached("owner/tiny")
    loaded = load_hf(Wav2Vec2FeatureExtractor, "owner/tiny", fetch_name="hf:owner/tiny")
    assert loaded.sampling_rate == 16000


def test_fetch_reports_encoders_that_need_nothing():
    assert fetch_encoder("mel") == "mel: nothing to fetch (none needed)"
    result = CliRunner().invoke(main, ["fetch", "mel"])
    assert result.exit_code == 0 and "nothing to fetch" in result.output


def test_fetch_without_network_is_one_clear_error(empty_caches):
    result = CliRunner().invoke(main, ["fetch", "hf:owner/not-there"])
    assert result.exit_code == 1
    assert "Could not download 'owner/not-there'" in result.output


def _fake_snapshot(cache, repo_id, commit, rate, *, ref=True):
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    Wav2Vec2FeatureExtractor(sampling_rate=rate).save_pretrained(snapshot)
    (snapshot / "config.json").write_text("{}")
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_a_pinned_revision_loads_that_snapshot_and_is_recorded(empty_caches):
    from frisson.encoders._weights import hf_cached_revision

    old, new = "1" * 40, "2" * 40
    _fake_snapshot(empty_caches / "hf", "owner/tiny", old, 16000, ref=False)
    _fake_snapshot(empty_caches / "hf", "owner/tiny", new, 24000)  # main points here
    assert hf_cached_revision("owner/tiny") == new
    assert hf_cached_revision("owner/tiny", revision=old) == old
    assert hf_cached_revision("owner/tiny", revision="3" * 40) is None
    assert hf_cached_revision("owner/absent") is None
    assert hf_cached_revision(str(empty_caches)) is None  # a local folder has no commit
    load = lambda **kw: load_hf(  # noqa: E731
        Wav2Vec2FeatureExtractor, "owner/tiny", fetch_name="hf:owner/tiny", **kw
    )
    assert load().sampling_rate == 24000
    assert load(revision=old).sampling_rate == 16000
    assert load(revision=new).sampling_rate == 24000
    assert hf_is_cached("owner/tiny", revision=old)
    assert not hf_is_cached("owner/tiny", revision="3" * 40)
    with pytest.raises(WeightsNotCachedError, match=r"owner/tiny at revision 3{40}.*frisson fetch"):
        load(revision="3" * 40)
