"""Speed of every registered encoder, as multiples of real time, on this machine.

Encodes a generated multi-section piece (default 3 minutes, 22.05 kHz) with
each encoder and all its layers: resampling, spectrogram, network, stitching.
Each encoder runs once to load its weights, then ``--repeats`` times; the table
gives the best and the median run. Other processes on the machine slow the
runs down, so the load average before and after is recorded with them, and so
is the CPU time the process used (all its threads): audio seconds per CPU
second is the speed per core, which other processes change much less than the
wall-clock speed.

    .venv/bin/python benchmarks/encoders.py                    # all encoders
    .venv/bin/python benchmarks/encoders.py --encoders musicnn-msd --minutes 10

Writes ``benchmarks/results/encoders.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from _results import machine, write_results
from frisson.encoders import describe_encoder, get_encoder, list_encoders
from frisson.simulate import synth_piece

#: The speed the default encoder must reach on 2 cores (issue 3).
TARGET_X_REAL_TIME = {"musicnn-msd": 60.0}


def bench(name: str, audio, repeats: int, params: dict) -> dict:
    encoder = get_encoder(name, **params)
    start = time.perf_counter()
    encoder.encode(audio)  # loads weights, warms caches
    first_s = time.perf_counter() - start
    load_before = os.getloadavg()[0]
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        embedding = encoder.encode(audio)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best, median = min(times), statistics.median(times)
    info = describe_encoder(name, **params)
    return {
        "encoder": name,
        "params": params,
        "audio_s": round(audio.duration_s, 2),
        "layers": list(embedding.layer_names),
        "values_mb": round(sum(s.values.nbytes for s in embedding.layers.values()) / 2**20, 1),
        "first_run_s": round(first_s, 3),
        "best_s": round(best, 3),
        "median_s": round(median, 3),
        "x_real_time_best": round(audio.duration_s / best, 1),
        "x_real_time_median": round(audio.duration_s / median, 1),
        "cpu_s_best": round(min(cpu), 3),
        "x_real_time_per_cpu_second": round(audio.duration_s / min(cpu), 1),
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
        "weights": info.weights,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=sorted(list_encoders()))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encoders.json"
    )
    args = parser.parse_args()
    n_sections = max(2, round(args.minutes * 60 / 15))
    piece = synth_piece(n_sections=n_sections, section_s=(15.0, 15.0), seed=0)
    runs = []
    for name in args.encoders:
        variants = [{}]
        if name == "musicnn-msd":  # also: one thread, and overlapping patches (1 s hop)
            variants += [{"n_threads": 1}, {"patch_hop_s": 1.0}]
        for params in variants:
            print(f"... {name} {params or ''}", flush=True)
            runs.append(bench(name, piece.audio, args.repeats, params))
    print(
        f"\n{'encoder':<32} {'audio (s)':>9} {'best (s)':>9} {'x real time':>12} "
        f"{'median x':>9} {'x per CPU s':>11} {'load avg':>9}"
    )
    for run in runs:
        label = run["encoder"] + "".join(f" {k}={v}" for k, v in run["params"].items())
        print(
            f"{label:<32} {run['audio_s']:>9.1f} {run['best_s']:>9.3f} "
            f"{run['x_real_time_best']:>12.1f} {run['x_real_time_median']:>9.1f} "
            f"{run['x_real_time_per_cpu_second']:>11.1f} {run['load_avg_before']:>9.2f}"
        )
    for name, target in TARGET_X_REAL_TIME.items():
        for run in runs:
            if run["encoder"] == name and not run["params"]:
                verdict = "meets" if run["x_real_time_best"] >= target else "MISSES"
                speed = run["x_real_time_best"]
                print(f"{name}: {speed:.0f}x real time {verdict} the {target:g}x target")
    write_results(args.out, machine(torch_threads=torch.get_num_threads()), runs=runs)


if __name__ == "__main__":
    main()
