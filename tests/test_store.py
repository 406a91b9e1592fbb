"""The embedding store: keys, exact round trips, atomic writes, resumable embedding."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

import frisson
from frisson.audio import audio_from_array, load_audio
from frisson.encoders import get_encoder
from frisson.encoders.mel import MelEncoder
from frisson.encoders.musicnn import weights_available
from frisson.errors import DataError, ParameterError
from frisson.store import EmbeddingStore, config_hash, embed, find_audio_files

RATE = 22050


def _tone(freq, seconds=2.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.sin(2 * np.pi * 3 * freq * t)


@pytest.fixture()
def songs(tmp_path):
    folder = tmp_path / "songs"
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i, freq in enumerate([220, 330, 440, 550, 660, 770]):
        path = folder / ("sub" if i % 2 else "") / f"song{i}.wav"
        sf.write(path, _tone(freq), RATE)
        paths.append(path)
    return folder, sorted(paths)


def test_round_trip_is_exact_and_keyed_by_config_and_version(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    audio = audio_from_array(np.random.default_rng(0).standard_normal(RATE) * 0.1, RATE)
    encoder = MelEncoder(n_mels=16)
    embedding = encoder.encode(audio)
    path = store.put(embedding, source="noise.wav", duration_s=audio.duration_s)
    assert path.name == audio.sha256 and path.parent.name == frisson.__version__
    assert path.parent.parent.name == config_hash(encoder.config())
    back = store.get(audio.sha256, encoder)
    np.testing.assert_array_equal(back["logmel"].values, embedding["logmel"].values)
    assert back["logmel"].values.dtype == np.float32
    assert back["logmel"].rate_hz == embedding["logmel"].rate_hz
    assert back["logmel"].start_s == embedding["logmel"].start_s
    assert back["logmel"].names == embedding["logmel"].names
    assert back["logmel"].units == ("dB",) * 16
    assert back.config == encoder.config() and back.encoder == "mel"
    # by name and config, without an encoder object
    assert store.has(audio.sha256, "mel", encoder.config())
    # another config, another version: not stored
    assert not store.has(audio.sha256, MelEncoder(n_mels=32))
    assert not EmbeddingStore(tmp_path / "store", version="0.0.1").has(audio.sha256, encoder)
    (entry,) = store.entries()
    assert entry.source == "noise.wav" and entry.layers == ("logmel",)
    assert entry.duration_s == pytest.approx(1.0)
    assert not (tmp_path / "store" / ".tmp").exists()


def test_missing_entries_and_layers_say_how_to_compute_them(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    audio = audio_from_array(_tone(440), RATE)
    encoder = get_encoder("mel", n_mels=8)
    with pytest.raises(DataError, match=r"no mel embedding .* `frisson embed FILE --encoder mel"):
        store.get(audio.sha256, encoder)
    store.put(encoder.encode(audio))
    with pytest.raises(DataError, match=r"layer\(s\) conv1 not stored \(stored: logmel\)"):
        store.get(audio.sha256, encoder, layers=["conv1"])
    with pytest.raises(ParameterError, match="64 lowercase hex"):
        store.get("abc", encoder)
    with pytest.raises(ParameterError, match="Pass the encoder's config"):
        store.get(audio.sha256, "mel")


def test_only_empty_folders_or_stores_are_opened(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("x")
    with pytest.raises(DataError, match="not empty and not a frisson embedding store"):
        EmbeddingStore(tmp_path / "busy")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file, not a store folder"):
        EmbeddingStore(tmp_path / "file")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}})
    )
    with pytest.raises(DataError, match="not a frisson embedding store"):
        EmbeddingStore(tmp_path / "foreign")
    EmbeddingStore(tmp_path / "new")
    assert EmbeddingStore(tmp_path / "new").entries() == []


def test_a_failed_write_leaves_no_entry(tmp_path, monkeypatch):
    import frisson.store as store_module

    store = EmbeddingStore(tmp_path / "store")
    audio = audio_from_array(_tone(440), RATE)
    embedding = get_encoder("mel").encode(audio)
    written = []
    real = store_module._write_layer

    def failing(group, name, series):
        real(group, name, series)  # the array is complete in the private folder ...
        written.append(name)
        raise OSError("disk full")  # ... when the writer fails

    monkeypatch.setattr(store_module, "_write_layer", failing)
    with pytest.raises(OSError, match="disk full"):
        store.put(embedding)
    assert written == ["logmel"]
    assert store.stored_layers(audio.sha256, get_encoder("mel")) == ()
    assert store.entries() == []
    assert not (tmp_path / "store" / ".tmp").exists()


def test_leftovers_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    import socket

    store = EmbeddingStore(tmp_path / "store")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    tmp = tmp_path / "store" / ".tmp"
    tmp.mkdir()
    host = socket.gethostname()
    stale = tmp / f"{host}-{int(dead.stdout)}-deadbeef"
    live = tmp / f"{host}-{os.getpid()}-cafe"
    other_host = tmp / f"elsewhere-{int(dead.stdout)}-beef"
    for path in (stale, live, other_host):
        (path / "x").mkdir(parents=True)
    EmbeddingStore(store.root)
    assert not stale.exists() and live.exists() and other_host.exists()


def test_find_audio_files_walks_folders_and_reports_missing_paths(songs, tmp_path):
    folder, paths = songs
    (folder / "notes.txt").write_text("x")
    (folder / ".hidden").mkdir()
    sf.write(folder / ".hidden" / "h.wav", _tone(100), RATE)
    sf.write(folder / "UPPER.WAV", _tone(100), RATE)
    explicit = folder / "notes.txt"
    files, missing = find_audio_files([folder, explicit, paths[0], tmp_path / "gone.wav"])
    assert sorted(files[:7]) == sorted([*paths, folder / "UPPER.WAV"])
    assert files[7:] == [explicit]  # named explicitly: kept whatever its suffix; song0 once
    assert [m.path for m in missing] == [tmp_path / "gone.wav"]
    assert "file not found" in missing[0].error


def test_interrupted_embedding_resumes_with_only_the_missing_files(songs, tmp_path, monkeypatch):
    folder, paths = songs
    calls = []
    real_encode = MelEncoder.encode

    def interrupted(self, audio, *, layers=None):
        calls.append(audio.source)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while encoding the third file
        return real_encode(self, audio, layers=layers)

    monkeypatch.setattr(MelEncoder, "encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed(folder, store=tmp_path / "store", encoder="mel")
    store = EmbeddingStore(tmp_path / "store")
    assert len(store.entries()) == 2
    calls.clear()
    monkeypatch.setattr(MelEncoder, "encode", lambda self, audio, *, layers=None: (
        calls.append(audio.source) or real_encode(self, audio, layers=layers)
    ))  # fmt: skip
    report = embed(folder, store=store, encoder="mel")
    assert len(report.skipped) == 2 and len(report.computed) == 4 and report.ok
    assert len(calls) == 4 and set(calls).isdisjoint(map(str, report.skipped))
    encoder = get_encoder("mel")
    for path in paths:  # read back exactly what a fresh computation gives
        audio = load_audio(path)
        stored = store.get(audio.sha256, encoder)["logmel"].values
        np.testing.assert_array_equal(stored, real_encode(encoder, audio)["logmel"].values)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import frisson.store as store

    real = store._write_layer
    count = [0]

    def write_then_die(group, name, series):
        count[0] += 1
        if count[0] == 4:  # half-way through the 4th file's array: kill -9
            group.create_array("half", shape=(10,), dtype="float32")
            os.kill(os.getpid(), signal.SIGKILL)
        real(group, name, series)

    store._write_layer = write_then_die
    store.embed(sys.argv[1], store=sys.argv[2], encoder="mel")
    """
)


def test_killed_embed_leaves_complete_entries_and_a_rerun_finishes(songs, tmp_path):
    folder, paths = songs
    target = tmp_path / "store"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(folder), str(target)])
    assert killed.returncode == -9
    assert list((target / ".tmp").iterdir())  # the killed writer's private folder remains
    store = EmbeddingStore(target)  # ... until the store is opened again
    assert not (target / ".tmp").exists()
    assert len(store.entries()) == 3
    rerun = subprocess.run(
        [sys.executable, "-m", "frisson", "embed", str(folder), "--store", str(target),
         "--encoder", "mel"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "6 files, encoder mel: 3 computed, 3 already stored, 0 failed" in rerun.stdout
    encoder = get_encoder("mel")
    for path in paths:
        audio = load_audio(path)
        np.testing.assert_array_equal(
            store.get(audio.sha256, encoder)["logmel"].values,
            encoder.encode(audio)["logmel"].values,
        )


def test_cli_lists_every_failure_at_the_end_and_exits_1(songs, tmp_path):
    folder, _ = songs
    (folder / "empty.wav").write_bytes(b"")
    (folder / "short.wav").write_bytes(b"")
    sf.write(folder / "short.wav", _tone(300, seconds=0.2), RATE)
    run = subprocess.run(
        [sys.executable, "-m", "frisson", "embed", str(folder), str(tmp_path / "nope.flac"),
         "--store", str(tmp_path / "store"), "--encoder", "mel", "--layers", "logmel"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1
    assert "9 files, encoder mel: 6 computed, 0 already stored, 3 failed" in run.stdout
    tail = run.stderr[run.stderr.index("3 file(s) failed:") :]
    assert "nope.flac: file not found" in tail
    assert "empty.wav: the file is empty" in tail
    assert "short.wav: lasts 0.20 s, shorter than the minimum" in tail
    assert "Traceback" not in run.stderr


def test_python_entry_point_is_lazy_and_reports(songs, tmp_path):
    folder, _ = songs
    code = "import sys, frisson; print('zarr' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"]
    report = frisson.embed([folder], store=tmp_path / "s", encoder="mel", progress_bar=False)
    assert report.ok and len(report.computed) == 6
    assert report.summary().startswith("6 files, encoder mel: 6 computed")


@pytest.mark.skipif(not weights_available(), reason="needs the musicnn wheel")
def test_musicnn_layers_round_trip_and_missing_layers_are_added(songs, tmp_path):
    folder, _ = songs
    sf.write(folder / "long.wav", np.tile(_tone(440), 2), RATE)  # 4 s: one 3 s patch
    target = tmp_path / "store"
    first = embed(folder / "long.wav", store=target, layers=["cnn3"])
    assert first.encoder == "musicnn-msd" and len(first.computed) == 1
    second = embed(folder / "long.wav", store=target, layers=["cnn3", "taggram"])
    assert len(second.computed) == 1  # only taggram was missing
    third = embed(folder / "long.wav", store=target, layers=["taggram"])
    assert len(third.skipped) == 1
    encoder = get_encoder("musicnn-msd")
    audio = load_audio(folder / "long.wav")
    direct = encoder.encode(audio, layers=["cnn3", "taggram"])
    back = EmbeddingStore(target).get(audio.sha256, encoder)
    assert back.layer_names == ("cnn3", "taggram")
    for layer in ("cnn3", "taggram"):
        np.testing.assert_array_equal(back[layer].values, direct[layer].values)
        assert back[layer].names == direct[layer].names
        assert back[layer].start_s == direct[layer].start_s


# ------------------------------------------------------------------ integrity (issue 12)
def _chunks(layer_folder):
    return sorted(p for p in (layer_folder / "c").rglob("*") if p.is_file())


def _flip_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    [lambda chunk: chunk.unlink(), _flip_byte, lambda chunk: chunk.write_bytes(b"")],
    ids=["chunk-deleted", "chunk-byte-flipped", "chunk-emptied"],
)
def test_a_damaged_chunk_is_detected_and_embed_recomputes_it(songs, tmp_path, damage):
    import hashlib

    _, paths = songs
    target = tmp_path / "store"
    assert len(embed(paths[0], store=target, encoder="mel").computed) == 1
    store = EmbeddingStore(target)
    encoder = get_encoder("mel")
    audio = load_audio(paths[0])
    truth = encoder.encode(audio)["logmel"].values
    layer_folder = store.entry_path(audio.sha256, "mel", encoder.config()) / "logmel"
    attrs = json.loads((layer_folder / "zarr.json").read_text())["attributes"]
    assert attrs["sha256"] == hashlib.sha256(truth.astype("<f4").tobytes()).hexdigest()
    (chunk,) = _chunks(layer_folder)
    damage(chunk)
    with pytest.raises(DataError, match=r"logmel.*(damaged|cannot be read).*frisson embed FILE"):
        store.get(audio.sha256, encoder)
    assert list(store.damaged_layers(audio.sha256, encoder)) == ["logmel"]
    report = embed(paths[0], store=target, encoder="mel")
    assert len(report.computed) == 1 and not report.skipped  # never "already stored"
    np.testing.assert_array_equal(store.get(audio.sha256, encoder)["logmel"].values, truth)
    assert store.damaged_layers(audio.sha256, encoder) == {}
    assert len(embed(paths[0], store=target, encoder="mel").skipped) == 1
    assert not (target / ".tmp").exists()


def test_only_the_damaged_layer_is_reported_and_discarded(songs, tmp_path):
    _, paths = songs
    target = tmp_path / "store"
    encoder = get_encoder("mel")
    audio = load_audio(paths[1])
    store = EmbeddingStore(target)
    two = encoder.encode(audio)
    store.put(two)
    # a second layer, copied under another name, so the entry has two
    from frisson.encoders._base import Embedding

    extra = Embedding("mel", two.config, two.source_sha256, {"copy": two["logmel"]})
    store.put(extra)
    entry = store.entry_path(audio.sha256, "mel", encoder.config())
    _flip_byte(_chunks(entry / "copy")[0])
    assert list(store.damaged_layers(audio.sha256, encoder)) == ["copy"]
    store.discard(audio.sha256, encoder, layers=["copy"])
    assert store.stored_layers(audio.sha256, encoder) == ("logmel",)
    np.testing.assert_array_equal(
        store.get(audio.sha256, encoder)["logmel"].values, two["logmel"].values
    )


def test_damaged_entry_metadata_is_reported_and_the_entry_recomputed(songs, tmp_path):
    _, paths = songs
    target = tmp_path / "store"
    embed(paths[0], store=target, encoder="mel")
    store = EmbeddingStore(target)
    encoder = get_encoder("mel")
    audio = load_audio(paths[0])
    marker = store.entry_path(audio.sha256, "mel", encoder.config()) / "zarr.json"
    marker.write_text('{"zarr_format": 3, "node_ty')
    with pytest.raises(DataError, match=r"zarr.json: the entry's metadata is damaged"):
        store.get(audio.sha256, encoder)
    assert len(store.entries()) == 1  # listed, not a crash
    report = embed(paths[0], store=target, encoder="mel")
    assert len(report.computed) == 1 and report.ok
    np.testing.assert_array_equal(
        store.get(audio.sha256, encoder)["logmel"].values,
        encoder.encode(audio)["logmel"].values,
    )
