"""Speed of the chills predictor, its ridge baseline and the evaluation, at the study's size.

A planted study (frisson.models.planted_study) of 40 participants x 7 songs of
90 s at 21.53 Hz (DAC frames averaged with hop 4) with 512-d inputs: the CNN
is fitted on 25 participants with 5 for early stopping (the study's 30
training participants) and scored on 10 others. Prints a table and writes
``benchmarks/results/cnn.json``.

    .venv/bin/python benchmarks/cnn.py                      # the study's size
    .venv/bin/python benchmarks/cnn.py --dims 128 --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from _results import machine, write_results
from frisson.models import (
    ChillsCNN,
    DelayedRidge,
    evaluate_models,
    planted_study,
    predict_songs,
    split_participants,
)

DAC_SMOOTHED_HZ = 44100 / 512 / 4  # 21.53 Hz


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(args: argparse.Namespace, dims: int, threads: int) -> list[dict]:
    rows: list[dict] = []
    start = time.perf_counter()
    study = planted_study(
        n_participants=args.participants,
        n_songs=args.songs,
        duration_s=args.duration_s,
        rate_hz=DAC_SMOOTHED_HZ,
        n_dims=dims,
        seed=0,
    )
    setup_s = time.perf_counter() - start
    split = split_participants(study.participants, n_test=10, n_validation=5, seed=0)
    train, valid = study.pairs(split.train), study.pairs(split.validation)
    truths = study.truths(split.test)
    base = {
        "dims": dims,
        "threads": threads,
        "participants": args.participants,
        "songs": args.songs,
        "song_s": args.duration_s,
    }

    def row(stage: str, seconds: float, **extra) -> None:
        rows.append(
            {**base, "stage": stage, "seconds": round(seconds, 3),
             "peak_rss_mib": round(_peak_rss_mib(), 1), **extra}
        )  # fmt: skip

    row("planted data", setup_s)
    cnn = ChillsCNN(seed=0, n_threads=threads, progress_bar=False, epochs=args.epochs)
    start = time.perf_counter()
    cnn.fit(train, valid)
    seconds = time.perf_counter() - start
    row(
        "CNN fit",
        seconds,
        epochs=cnn.n_epochs_,
        best_epoch=cnn.best_epoch_,
        s_per_epoch=round(seconds / cnn.n_epochs_, 3),
        train_windows=cnn.n_train_windows_,
        pairs=len(train),
    )
    start = time.perf_counter()
    cnn_predictions = predict_songs(cnn, study.inputs)
    row("CNN predict (all songs)", time.perf_counter() - start)
    ridge = DelayedRidge(n_threads=threads)
    start = time.perf_counter()
    ridge.fit(train, valid)
    row("ridge fit (32 PCs x 25 delays, alpha on validation)", time.perf_counter() - start)
    start = time.perf_counter()
    ridge_predictions = predict_songs(ridge, study.inputs)
    row("ridge predict (all songs)", time.perf_counter() - start)
    start = time.perf_counter()
    result = evaluate_models(
        {"cnn": cnn_predictions, "ridge": ridge_predictions}, truths, n_surrogates=1000
    )
    row("evaluate 2 models + control (1000 phase surrogates)", time.perf_counter() - start)
    summary = result.summary().set_index("model")
    for entry in rows:
        entry["cnn_median_r"] = round(float(summary.loc["cnn", "median_r"]), 3)
        entry["ridge_median_r"] = round(float(summary.loc["ridge", "median_r"]), 3)
        entry["mismatched_median_r"] = round(
            float(summary.loc["cnn | mismatched songs", "median_r"]), 3
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--songs", type=int, default=7)
    parser.add_argument("--duration-s", type=float, default=90.0)
    parser.add_argument("--dims", type=int, nargs="+", default=[512])
    parser.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1])
    parser.add_argument("--epochs", type=int, default=200, help="upper bound (early stopping)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cnn.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = [
        row for dims in args.dims for threads in args.threads for row in bench(args, dims, threads)
    ]
    print(f"{'dims':>5} {'thr':>3}  {'stage':<52} {'seconds':>8} {'peak RSS MiB':>12}  notes")
    for row in rows:
        notes = ""
        if row["stage"] == "CNN fit":
            notes = (
                f"{row['epochs']} epochs (best {row['best_epoch']}), {row['s_per_epoch']} s/epoch, "
                f"{row['train_windows']} windows from {row['pairs']} pairs"
            )
        print(
            f"{row['dims']:>5} {row['threads']:>3}  {row['stage']:<52} {row['seconds']:>8.3f} "
            f"{row['peak_rss_mib']:>12.1f}  {notes}"
        )
    last = rows[-1]
    print(
        f"median r on held-out participants: cnn {last['cnn_median_r']}, ridge "
        f"{last['ridge_median_r']}, mismatched-song control {last['mismatched_median_r']}"
    )
    meta = machine(rate_hz=DAC_SMOOTHED_HZ, load_average_1min_before=round(load_before[0], 2))
    print(f"load average (1 min) before/after: {load_before[0]:.2f}/{meta['load_average_1min']}")
    write_results(args.out, meta, rows=rows)


if __name__ == "__main__":
    main()
