"""Scale-out on Dask: the same stores and tables as the serial run, on 2 workers x 1 thread.

One LocalCluster (2 worker processes, 1 thread each, ``allowed-failures = 0`` so that a
worker killed mid-task fails its task at once instead of after three restarts) serves
every test of the module; the functions reach it through its ``tcp://`` address or a
scheduler file, as a cluster would. Without the ``[dask]`` extra the cluster tests are
skipped (``pytest.importorskip``, as the other optional extras' tests are); the checks of
the ``scheduler`` setting run either way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from frisson.distributed import TaskFailure, check_scheduler, map_tasks, open_client
from frisson.errors import DataError, ParameterError
from frisson.store import EmbeddingStore, embed

RATE = 22050


# ------------------------------------------------------------------ the setting, no dask
@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("local:0", "N >= 1"),
        ("local", "local:N with N workers"),
        ("localhost:8786", "local:N with N workers"),
        ("tcp//host:8786", "no such scheduler file"),
        ("http://host:8786", "not a scheduler address"),
        ("missing/scheduler.json", "no such scheduler file.*dask scheduler --scheduler-file"),
        (3, "must be text"),
    ],
)
def test_bad_scheduler_settings_name_the_value_and_the_forms(spec, match):
    with pytest.raises(ParameterError, match=match):
        check_scheduler(spec)


def test_good_scheduler_settings_pass_unchanged(tmp_path):
    (tmp_path / "scheduler.json").write_text("{}")
    assert check_scheduler("local:4") == "local:4"
    assert check_scheduler("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    assert check_scheduler(tmp_path / "scheduler.json") == str(tmp_path / "scheduler.json")
    with open_client(None) as client:
        assert client is None


def test_in_process_map_keeps_input_order_and_names_failed_inputs():
    report = map_tasks(lambda x: 12 // x, [4, 0, 3, 0, 6], desc="divide", progress_bar=False)
    assert report.results == (3, None, 4, None, 2)
    assert [f.index for f in report.failed] == [1, 3] and not report.ok
    assert report.failed[0] == TaskFailure(
        1, 0, "0: ZeroDivisionError: integer division or modulo by zero"
    )
    assert isinstance(report.failed[0].exception, ZeroDivisionError)
    assert report.summary() == "5 tasks: 3 done, 2 failed"


def test_a_config_refuses_a_bad_scheduler_before_any_work(tmp_path):
    from frisson.pipelines.chills import RunConfig

    toml = tmp_path / "study.toml"
    toml.write_text('[run]\nstudy = "s"\noutput = "o"\nscheduler = "local:zero"\n')
    with pytest.raises(DataError, match=r"study.toml: scheduler = 'local:zero'"):
        RunConfig.from_toml(toml)
    toml.write_text('[run]\nstudy = "s"\noutput = "o"\nscheduler = "local:2"\n')
    config = RunConfig.from_toml(toml)
    assert config.scheduler == "local:2" and "scheduler" not in config.to_dict()


# ------------------------------------------------------------------------- the cluster
@pytest.fixture(scope="module")
def cluster():
    """2 workers x 1 thread; a dead worker fails its task at once (no retries)."""
    dask = pytest.importorskip("dask", reason="the [dask] extra is not installed")
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test helpers go by value
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local:
            with distributed.Client(local) as client:
                client.wait_for_workers(2)
                yield local, client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _tone(freq: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * np.sin(2 * np.pi * 3.1 * freq * t)).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("music")
    for i, freq in enumerate((220.0, 330.0, 440.0, 550.0, 660.0, 770.0)):
        sf.write(folder / f"{'abcdef'[i]}.wav", _tone(freq, seconds=2.0 + i), RATE)
    (folder / "broken.wav").write_bytes(b"RIFF not really audio")
    return folder


def _layer_files(store: EmbeddingStore) -> dict[str, bytes]:
    """Every file of every stored layer (arrays, chunks, their metadata), by relative path."""
    out = {}
    for entry in store.entries():
        for layer in entry.layers:
            for path in sorted((entry.path / layer).rglob("*")):
                if path.is_file():
                    out[str(path.relative_to(store.root))] = path.read_bytes()
    return out


def test_distributed_embed_gives_the_serial_report_and_store_bit_for_bit(cluster, music, tmp_path):
    local, _ = cluster
    serial = embed(music, store=tmp_path / "serial", encoder="mel", progress_bar=False)
    spread = embed(
        music,
        store=tmp_path / "spread",
        encoder="mel",
        progress_bar=False,
        scheduler=local.scheduler_address,
    )
    assert [p.name for p in spread.computed] == [
        "a.wav",
        "b.wav",
        "c.wav",
        "d.wav",
        "e.wav",
        "f.wav",
    ]
    assert spread.computed == serial.computed and spread.skipped == serial.skipped == ()
    # the bad file is reported in both runs with the same message, and the others went on
    assert [f.path.name for f in spread.failed] == ["broken.wav"]
    assert spread.failed == serial.failed
    files = _layer_files(spread.store)
    assert len(files) >= 6 * 2 and files == _layer_files(serial.store)
    for entry in serial.store.entries():
        twin = spread.store.get(entry.sha256, "mel", entry.config)
        mine = serial.store.get(entry.sha256, "mel", entry.config)
        np.testing.assert_array_equal(twin["logmel"].values, mine["logmel"].values)
    # a rerun through a scheduler file: everything is already stored, nothing recomputed
    address_file = tmp_path / "scheduler.json"
    address_file.write_text(json.dumps({"address": local.scheduler_address}))
    again = embed(
        music, store=tmp_path / "spread", encoder="mel", progress_bar=False, scheduler=address_file
    )
    assert again.computed == () and again.skipped == serial.computed


def test_the_commands_take_scheduler_and_refuse_a_bad_one(cluster, music, tmp_path):
    from click.testing import CliRunner

    from frisson.cli import main

    local, _ = cluster
    files = [str(music / "a.wav"), str(music / "b.wav")]
    store = ["--store", str(tmp_path / "store"), "--encoder", "mel", "--no-progress"]
    done = CliRunner().invoke(
        main, ["embed", *files, *store, "--scheduler", local.scheduler_address]
    )
    assert done.exit_code == 0, done.output
    assert "2 files, encoder mel: 2 computed, 0 already stored, 0 failed" in done.output
    bad = CliRunner().invoke(main, ["embed", *files, *store, "--scheduler", "local:0"])
    assert bad.exit_code == 1 and "scheduler = 'local:0': local:N needs N >= 1" in bad.output
    toml = tmp_path / "study.toml"
    toml.write_text('[run]\nstudy = "s"\noutput = "o"\n')
    bad = CliRunner().invoke(main, ["run", str(toml), "--scheduler", "tcp:/nowhere"])
    assert bad.exit_code == 1 and "no such scheduler file" in bad.output


def test_an_unreachable_scheduler_is_one_clear_error(cluster, tmp_path):
    import dask

    (tmp_path / "scheduler.json").write_text("not json")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for spec in ("tcp://127.0.0.1:9", tmp_path / "scheduler.json"):
            with pytest.raises(DataError, match=r"cannot reach the Dask scheduler.*dask scheduler"):
                map_tasks(abs, [1], spec, progress_bar=False)


def _put(item) -> str:
    """One writer's task: store embedding ``item % 3`` (several writers race on each entry)."""
    root, index = item
    from frisson.audio import audio_from_array
    from frisson.encoders import get_encoder

    encoder = get_encoder("mel", n_mels=16)
    audio = audio_from_array(_tone(200.0 + 100 * (index % 3)), RATE)
    EmbeddingStore(root).put(encoder.encode(audio), source=f"tone-{index % 3}")
    return audio.sha256


def test_concurrent_writers_leave_every_entry_whole(cluster, tmp_path):
    _, client = cluster
    root = tmp_path / "store"
    EmbeddingStore(root)
    # 12 tasks on 2 worker processes, plus this process writing the same entries meanwhile
    futures = client.map(_put, [(root, i) for i in range(12)], pure=False)
    here = [_put((root, i)) for i in range(3)]
    keys = client.gather(futures)
    assert sorted(set(keys)) == sorted(here)
    store = EmbeddingStore(root)
    entries = store.entries()
    assert len(entries) == 3 and all(e.layers == ("logmel",) for e in entries)
    assert not (root / ".tmp").exists()  # every writer cleaned up after itself
    from frisson.audio import audio_from_array
    from frisson.encoders import get_encoder

    encoder = get_encoder("mel", n_mels=16)
    for i, sha256 in enumerate(here):
        assert store.damaged_layers(sha256, encoder) == {}
        expected = encoder.encode(audio_from_array(_tone(200.0 + 100 * i), RATE))["logmel"]
        np.testing.assert_array_equal(store.get(sha256, encoder)["logmel"].values, expected.values)


# --------------------------------------------------------------------- the chills study
@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from frisson.simulate import StudyParams, simulate_study, synth_piece

    root = tmp_path_factory.mktemp("chills")
    for i in range(3):
        synth_piece(n_sections=3, section_s=(8.0, 9.0), rate_hz=16000, seed=20 + i).write(
            root / f"piece-{i + 1}.wav"
        )
    params = StudyParams(n_participants=3, ratings_rate_hz=None, physio_rate_hz=10.0)
    simulate_study(sorted(root.glob("*.wav")), root / "study", params=params, seed=3)
    return root / "study"


def _chills(study: Path, output: Path, scheduler, *, report: bool = True):
    from frisson.pipelines.chills import RunConfig, run_study
    from frisson.report.study_report import write_study_report

    config = RunConfig(
        study=study,
        output=output,
        encoder="mel",
        decomposition="highpass",
        analyses=("latent", "epochs", "isc"),
        # Equality needs a transition test: the poster's detector keeps transitions in every
        # 25-s song (the tested default only where a song beats its null; test_run runs it).
        transition_method="pc1_variance",
        n_permutations=50,
        n_surrogates=5,
        sliding_isc_surrogates=5,
        scheduler=scheduler,
    )
    results = run_study(config, progress_bar=False)
    if report:
        write_study_report(results, output)
    return results


def _tables_and_caches(output: Path) -> dict[str, bytes]:
    paths = [*output.glob("*.tsv"), *output.glob("cache/*.npz"), output / "settings.json"]
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(paths)}


def test_distributed_chills_run_writes_the_serial_tables_and_caches(cluster, study, tmp_path):
    local, _ = cluster
    serial = _chills(study, tmp_path / "serial", None)
    spread = _chills(study, tmp_path / "spread", local.scheduler_address)
    expected = _tables_and_caches(tmp_path / "serial")
    assert sum(name.startswith("cache/latent-") for name in expected) == 3
    assert sum(name.startswith("cache/physio-") for name in expected) == 3  # one per run
    assert _tables_and_caches(tmp_path / "spread") == expected
    assert list(spread.songs) == list(serial.songs) and spread.left_out == serial.left_out
    assert spread.epochs.p == serial.epochs.p and spread.epochs.effect == serial.epochs.effect
    for name, song in serial.songs.items():
        np.testing.assert_array_equal(spread.songs[name].smoothed.values, song.smoothed.values)
    # the serial run's caches serve the distributed run: the scheduler is in no key
    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / "serial" / "cache").iterdir()}
    _chills(study, tmp_path / "serial", local.scheduler_address, report=False)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "serial" / "cache").iterdir()} == cached


def test_distributed_encode_fits_give_the_serial_profiles(cluster, study, tmp_path):
    from frisson.pipelines.encoding import EncodeConfig, run_encoding

    local, _ = cluster
    common = dict(study=study, target="physio", encoder="mel", n_permutations=5, seed=1)
    serial = run_encoding(EncodeConfig(output=tmp_path / "serial", **common), progress_bar=False)
    spread = run_encoding(
        EncodeConfig(output=tmp_path / "spread", scheduler=local.scheduler_address, **common),
        progress_bar=False,
    )
    # the same fits, in the same order (a participant the serial run skips is skipped too)
    assert list(spread.profiles) == list(serial.profiles) and len(serial.profiles) >= 2
    for label, profile in serial.profiles.items():
        pd.testing.assert_frame_equal(spread.profiles[label].to_frame(), profile.to_frame())
        np.testing.assert_array_equal(spread.profiles[label].fold_r, profile.fold_r)
    # the stimuli were encoded on the workers into the store: the serial store, bit for bit
    stores = [EmbeddingStore(tmp_path / name / "embeddings.zarr") for name in ("serial", "spread")]
    assert len(stores[1].entries()) == 3 and _layer_files(stores[1]) == _layer_files(stores[0])
    fits = sorted(p.name for p in (tmp_path / "serial" / "cache").glob("fit-*.npz"))
    assert len(fits) == len(serial.profiles)
    assert fits == sorted(p.name for p in (tmp_path / "spread" / "cache").glob("fit-*.npz"))
    for name in fits:
        assert (tmp_path / "serial" / "cache" / name).read_bytes() == (
            tmp_path / "spread" / "cache" / name
        ).read_bytes()


# -------------------------------------------------------- a worker killed mid-write (last)
def _install_killer(name: str) -> None:
    """On a worker: ``EmbeddingStore.put`` of the file ``name`` dies halfway through its write."""
    import zarr

    from frisson import store as module

    original = module.EmbeddingStore.put

    def put(self, embedding, *, source="", duration_s=None):
        if Path(source).name == name:
            tmp = self._tmp_dir()  # the entry's private folder, as put() starts
            group = zarr.open_group(tmp, mode="w")
            group.create_array("logmel", shape=(10, 4), dtype="float32")  # header, no chunks
            os._exit(1)  # the process dies here, like a node that loses power
        return original(self, embedding, source=source, duration_s=duration_s)

    module.EmbeddingStore.put = put
    module.EmbeddingStore._original_put = original


def _remove_killer() -> None:
    from frisson import store as module

    if hasattr(module.EmbeddingStore, "_original_put"):
        module.EmbeddingStore.put = module.EmbeddingStore._original_put


def test_a_killed_worker_loses_no_entry_and_a_rerun_computes_only_the_rest(
    cluster, music, tmp_path
):
    local, client = cluster
    client.run(_install_killer, "c.wav")
    try:
        first = embed(
            music,
            store=tmp_path / "store",
            encoder="mel",
            progress_bar=False,
            scheduler=local.scheduler_address,
        )
    finally:
        client.run(_remove_killer)
    # the task whose worker died names its file (a task queued on that worker may share its
    # fate: allowed-failures = 0); every other file is stored, whole
    killed = sorted(f.path.name for f in first.failed if "KilledWorker" in f.error)
    assert "c.wav" in killed and all(f.path.name in f.error for f in first.failed)
    assert len(killed) <= 2 and "broken.wav" in {f.path.name for f in first.failed}
    good = ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav", "f.wav"]
    assert [p.name for p in first.computed] == [n for n in good if n not in killed]
    leftovers = list((tmp_path / "store" / ".tmp").iterdir())
    assert len(leftovers) == 1  # the dead writer's half entry, never renamed into place
    store = EmbeddingStore(tmp_path / "store")  # reopening removes a dead writer's leftovers
    assert not (tmp_path / "store" / ".tmp").exists()
    assert len(store.entries()) == 6 - len(killed)
    assert all(store.damaged_layers(e.sha256, "mel", e.config) == {} for e in store.entries())
    # resuming recomputes only what is missing, and the store is the serial one bit for bit
    again = embed(music, store=tmp_path / "store", encoder="mel", progress_bar=False)
    assert [p.name for p in again.computed] == killed
    assert [p.name for p in again.skipped] == [n for n in good if n not in killed]
    fresh = embed(music, store=tmp_path / "fresh", encoder="mel", progress_bar=False)
    assert _layer_files(again.store) == _layer_files(fresh.store)
