"""Speed of the physiology pipelines, and SCR counts beside NeuroKit2's defaults.

1. Seconds per hour of 1 kHz recording for the EDA pipeline (SCR detection,
   cvxEDA decomposition, phasic target) and the PPG pipeline (detection with
   the default ``elgendi`` detector, artefact correction, 10-s heart rate, HRV),
   measured on ``--minutes`` of simulated signal and scaled to one hour, with
   the peak traced memory.
2. SCR counts on NeuroKit2's simulator (40 SCRs in 400 s) at 32-1000 Hz:
   frisson's ``find_scrs`` vs NeuroKit2's default ``eda_process``.

Prints tables and writes ``benchmarks/results/physio.json``.

    .venv/bin/python benchmarks/physio.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from _results import machine, write_results
from frisson.physio import cardiac, eda
from frisson.physio.simulate import simulate_eda
from frisson.timeseries import TimeSeries


def _measure(function):
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def speed(minutes: float) -> list[dict]:
    import neurokit2 as nk

    duration = int(minutes * 60)
    rate = 1000
    sim = simulate_eda(duration_s=duration, rate_hz=rate, n_scr=duration // 10, seed=0)
    ppg = TimeSeries(
        nk.ppg_simulate(duration=duration, sampling_rate=rate, heart_rate=70, random_state=0),
        float(rate),
    )
    scale = 3600.0 / duration
    rows = []

    def stage(pipeline, name, function):
        result, seconds, peak = _measure(function)
        rows.append(
            {
                "pipeline": pipeline,
                "stage": name,
                "recording_min": minutes,
                "seconds": round(seconds, 3),
                "seconds_per_hour_1khz": round(seconds * scale, 2),
                "peak_mib": round(peak, 1),
            }
        )
        return result

    stage("EDA", "find_scrs", lambda: eda.find_scrs(sim.eda))
    stage("EDA", "decompose (cvxeda)", lambda: eda.decompose(sim.eda))
    stage("EDA", "phasic_target (cvxeda)", lambda: eda.phasic_target(sim.eda, rate_hz=21.5))
    beats = stage("PPG", "find_beats (elgendi)", lambda: cardiac.find_beats(ppg, kind="ppg"))
    stage("PPG", "heart_rate (10 s, 1 Hz)", lambda: cardiac.heart_rate(beats, rate_hz=1.0))
    stage("PPG", "hrv (60 s, hop 5 s)", lambda: cardiac.hrv(beats))
    for pipeline in ("EDA", "PPG"):
        part = [r for r in rows if r["pipeline"] == pipeline and "target" not in r["stage"]]
        rows.append(
            {
                "pipeline": pipeline,
                "stage": "TOTAL",
                "recording_min": minutes,
                "seconds": round(sum(r["seconds"] for r in part), 3),
                "seconds_per_hour_1khz": round(sum(r["seconds_per_hour_1khz"] for r in part), 2),
                "peak_mib": max(r["peak_mib"] for r in part),
            }
        )
    return rows


def scr_counts(seeds=(0, 1)) -> list[dict]:
    import neurokit2 as nk

    rows = []
    for rate in (32, 100, 250, 1000):
        for seed in seeds:
            sim = simulate_eda(duration_s=400, rate_hz=rate, n_scr=40, seed=seed)
            scrs = eda.find_scrs(sim.eda)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame, _ = nk.eda_process(sim.eda.values[:, 0], sampling_rate=rate)
            rows.append(
                {
                    "rate_hz": rate,
                    "seed": seed,
                    "true": 40,
                    "frisson": len(scrs),
                    "neurokit2_eda_process": int(np.nansum(frame["SCR_Peaks"])),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "physio.json"
    )
    args = parser.parse_args()
    speed(1.5)  # warm up imports and numba
    rows = speed(args.minutes)
    print(f"{'pipeline':<8} {'stage':<26} {'s':>8} {'s per h @1kHz':>14} {'peak MiB':>9}")
    for r in rows:
        print(
            f"{r['pipeline']:<8} {r['stage']:<26} {r['seconds']:>8.3f} "
            f"{r['seconds_per_hour_1khz']:>14.2f} {r['peak_mib']:>9.1f}"
        )
    counts = scr_counts()
    print(f"\n{'rate_hz':>7} {'seed':>4} {'true':>4} {'frisson':>7} {'nk eda_process':>14}")
    for r in counts:
        print(
            f"{r['rate_hz']:>7} {r['seed']:>4} {r['true']:>4} {r['frisson']:>7} "
            f"{r['neurokit2_eda_process']:>14}"
        )
    write_results(args.out, machine(), speed=rows, scr_counts=counts)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
