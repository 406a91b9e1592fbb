"""Throughput of ``frisson embed`` in one process and on Dask workers, and a cluster model.

Measured here: a catalogue of generated songs (harmonic tones with moving envelopes)
embedded serially (``scheduler=None``), and on a LocalCluster of 1 and 2 workers x 1
thread (``scheduler=<its tcp:// address>``), each into a fresh store. A cluster's
start and each worker's first task (imports, model weights) are timed apart from the
warm run. Also measured: the serial run's cost per second of audio, each task's compute
time on the workers (Dask's task stream) and Dask's overhead per task (no-op tasks through
the same scheduler).

Modelled: 100 workers and a 10 000-song catalogue (song lengths log-normal, median
240 s, as in pop catalogues): tasks in input order to the first free worker (Dask's
default for independent tasks), the scheduler dispatching one task per overhead
period, plus the measured worker start-up, each worker on a core of its own (the serial
run's cost per audio second). From the task times measured on the 2 workers, the same
model predicts the 2-worker run's wall time (``model_check``). Not modelled: a shared file
system slower than this disk, and workers that die (their tasks rerun). Prints a table and writes
``benchmarks/results/scale_out.json``.

    nice .venv/bin/python benchmarks/scale_out.py                  # musicnn-msd, 8 songs of 30 s
    nice .venv/bin/python benchmarks/scale_out.py --encoder mel --songs 16
"""

from __future__ import annotations

import argparse
import heapq
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from _results import machine, write_results
from frisson.store import embed

RATE_HZ = 16000
RESULTS = Path(__file__).parent / "results" / "scale_out.json"


def write_catalogue(folder: Path, n_songs: int, song_s: float, seed: int = 0) -> list[Path]:
    """``n_songs`` songs of about ``song_s`` seconds (+-20 %), harmonic tones, 16 kHz WAV."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n_songs):
        seconds = song_s * rng.uniform(0.8, 1.2)
        t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
        pitch = 110 * 2 ** rng.integers(0, 24, size=8) / 12
        notes = np.repeat(pitch, int(np.ceil(t.size / 8)))[: t.size]
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t)
        wave = sum(np.sin(2 * np.pi * k * notes * t) / k for k in (1, 2, 3))
        audio = 0.2 * envelope * wave + 0.01 * rng.standard_normal(t.size)
        paths.append(folder / f"song-{i:03d}.wav")
        sf.write(paths[-1], audio.astype(np.float32), RATE_HZ)
    return paths


def _noop(x: int) -> int:
    return x


def _warm(encoder: str) -> float:
    """A worker's first task: import frisson, build the encoder, encode 3 s (weights loaded)."""
    start = time.perf_counter()
    from frisson.audio import audio_from_array
    from frisson.encoders import get_encoder

    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(3 * RATE_HZ) / RATE_HZ)
    get_encoder(encoder).encode(audio_from_array(tone.astype(np.float32), RATE_HZ))
    return time.perf_counter() - start


def measure_serial(files: list[Path], encoder: str, folder: Path) -> dict:
    """The serial run, file by file (per-file cost), into one store."""
    _warm(encoder)  # this process' imports and weights, as the workers' warm-up does
    costs = []
    start = time.perf_counter()
    for path in files:
        began = time.perf_counter()
        report = embed(path, store=folder / "serial", encoder=encoder, progress_bar=False)
        assert report.ok and len(report.computed) == 1
        costs.append(time.perf_counter() - began)
    wall = time.perf_counter() - start
    seconds = np.array([sf.info(p).duration for p in files])
    return {
        "mode": "serial",
        "workers": 0,
        "wall_s": wall,
        "songs_per_s": len(files) / wall,
        "task_s": costs,
        "song_s": seconds.tolist(),
        # a file's cost is proportional to its length (decoding, framing, the network)
        "cost_per_audio_s": float(np.sum(costs) / seconds.sum()),
    }


def measure_cluster(files: list[Path], encoder: str, folder: Path, n_workers: int) -> dict:
    """A LocalCluster of ``n_workers`` x 1 thread: start, warm-up, a warm embed, the overhead."""
    import distributed

    start = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(n_workers)
        cluster_start_s = time.perf_counter() - start
        warm = client.run(_warm, encoder)
        began = time.perf_counter()
        with distributed.get_task_stream(client) as stream:
            report = embed(
                files,
                store=folder / f"workers-{n_workers}",
                encoder=encoder,
                progress_bar=False,
                scheduler=cluster.scheduler_address,
            )
        wall = time.perf_counter() - began
        task_s = [
            sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
            for task in stream.data
        ]
        assert report.ok and len(report.computed) == len(files)
        n_noop = 400
        began = time.perf_counter()
        client.gather(client.map(_noop, range(n_noop), pure=False))
        overhead = (time.perf_counter() - began) / n_noop
    return {
        "mode": f"local:{n_workers}",
        "workers": n_workers,
        "cluster_start_s": cluster_start_s,
        "worker_warmup_s": max(warm.values()),
        "wall_s": wall,
        "songs_per_s": len(files) / wall,
        "task_s": task_s,
        "overhead_per_task_s": overhead,
    }


def model_makespan(
    task_s: np.ndarray, n_workers: int, overhead_s: float, startup_s: float
) -> float:
    """Tasks in order to the first free worker; the scheduler sends one per ``overhead_s``."""
    free = [startup_s] * n_workers
    heapq.heapify(free)
    dispatch = 0.0
    end = 0.0
    for cost in task_s:
        dispatch += overhead_s
        start = max(heapq.heappop(free), dispatch)
        finish = start + cost
        end = max(end, finish)
        heapq.heappush(free, finish)
    return end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="musicnn-msd")
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--song-s", type=float, default=30.0)
    parser.add_argument("--model-workers", type=int, default=100)
    parser.add_argument("--model-songs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "music").mkdir()
        files = write_catalogue(folder / "music", args.songs, args.song_s)
        serial = measure_serial(files, args.encoder, folder)
        runs = [serial] + [measure_cluster(files, args.encoder, folder, n) for n in (1, 2)]
    two = runs[2]
    overhead = float(np.median([r["overhead_per_task_s"] for r in runs[1:]]))
    # the model's scheduling, checked on the 2-worker run with the task times measured there
    # (on a shared machine a worker's task takes longer than the serial run's: contention)
    predicted_two = model_makespan(np.array(two["task_s"]), 2, overhead, 0.0)
    contention = float(np.sum(two["task_s"]) / np.sum(serial["task_s"]))
    rng = np.random.default_rng(1)
    lengths = rng.lognormal(np.log(240.0), 0.35, size=args.model_songs)
    catalogue = serial["cost_per_audio_s"] * lengths  # one core per worker, as the serial run
    startup = max(r["cluster_start_s"] + r["worker_warmup_s"] for r in runs[1:])
    makespan = model_makespan(catalogue, args.model_workers, overhead, startup)
    model = {
        "workers": args.model_workers,
        "songs": args.model_songs,
        "song_s_median": 240.0,
        "task_s_mean": float(catalogue.mean()),
        "overhead_per_task_s": overhead,
        "startup_s": startup,
        "serial_hours": float(catalogue.sum() / 3600),
        "makespan_hours": makespan / 3600,
        "speedup": float(catalogue.sum() / makespan),
        "efficiency": float(catalogue.sum() / makespan / args.model_workers),
        "songs_per_s": args.model_songs / makespan,
    }
    check = {
        "measured_2_workers_s": two["wall_s"],
        "predicted_2_workers_s": predicted_two,
        "relative_error": (predicted_two - two["wall_s"]) / two["wall_s"],
        "task_time_2_workers_over_serial": contention,
    }
    print(f"embed with {args.encoder}: {args.songs} songs of ~{args.song_s:g} s")
    header = ("mode", "wall s", "songs/s", "start s", "warm-up s", "task ovh ms")
    widths = (9, 9, 9, 11, 13)
    cells = "".join(f"{h:>{w}}" for h, w in zip(header[1:], widths, strict=True))
    print(f"{header[0]:<10}{cells}")
    for r in runs:
        print(
            f"{r['mode']:<10}{r['wall_s']:9.2f}{r['songs_per_s']:9.3f}"
            f"{r.get('cluster_start_s', 0):9.2f}{r.get('worker_warmup_s', 0):11.2f}"
            f"{1000 * r.get('overhead_per_task_s', 0):13.2f}"
        )
    print(
        f"per file: {serial['cost_per_audio_s']:.4f} s per audio second (serial); on 2 workers "
        f"a task took {contention:.2f} x as long (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores); model of the 2-worker run from its task times: "
        f"{predicted_two:.2f} s predicted, {two['wall_s']:.2f} s measured "
        f"({100 * check['relative_error']:+.0f} %)"
    )
    print(
        f"model: {args.model_songs} songs (median 240 s) on {args.model_workers} workers: "
        f"{model['makespan_hours']:.2f} h instead of {model['serial_hours']:.1f} h serial, "
        f"speed-up {model['speedup']:.1f} (efficiency {100 * model['efficiency']:.0f} %), "
        f"{model['songs_per_s']:.2f} songs/s"
    )
    meta = machine(encoder=args.encoder, songs=args.songs, song_s=args.song_s)
    write_results(RESULTS, meta, runs=runs, model_check=check, model=model)


if __name__ == "__main__":
    main()
