"""Speed and memory of the latent-trajectory analysis, stage by stage.

Runs each stage of ``analyze_song`` on generated pieces of increasing length,
prints a table and writes ``benchmarks/results/latent.json``.

    .venv/bin/python benchmarks/latent.py --minutes 1 3 10
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

from _results import machine, write_results
from frisson import latent
from frisson.encoders import get_encoder
from frisson.features import compute_features
from frisson.simulate import synth_piece


def _measure(function):
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def bench(minutes: float, n_surrogates: int) -> list[dict]:
    n_sections = max(2, int(minutes * 60 / 16))
    piece = synth_piece(n_sections=n_sections, section_s=(14.0, 18.0), seed=0)
    encoder = get_encoder("mel")
    rows = []

    def stage(name, function):
        result, seconds, peak_mib = _measure(function)
        rows.append(
            {
                "audio_min": round(piece.audio.duration_s / 60, 2),
                "stage": name,
                "seconds": round(seconds, 3),
                "peak_mib": round(peak_mib, 1),
            }
        )
        return result

    embedding = stage("encode (mel)", lambda: encoder.encode(piece.audio)["logmel"])
    smoothed = stage("sliding mean", lambda: latent.sliding_mean(embedding))
    pca = stage("PCA", lambda: latent.trajectory_pca(smoothed))
    stage("clusters (k 2-8)", lambda: latent.cluster_trajectory(pca.pcs))
    stage("PC1-variance transitions", lambda: latent.variance_transitions(pca.pcs))
    stage("Foote novelty transitions", lambda: latent.novelty_transitions(pca.pcs))
    features = stage(
        "acoustic features", lambda: compute_features(piece.audio, rate_hz=pca.pcs.rate_hz)
    )
    stage(
        f"PC-feature tests ({n_surrogates} surrogates)",
        lambda: latent.feature_correlations(pca.pcs, features, n_surrogates=n_surrogates),
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.5, 5.0])
    parser.add_argument("--n-surrogates", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "latent.json"
    )
    args = parser.parse_args()
    get_encoder("mel").encode(
        synth_piece(n_sections=2, section_s=(3, 3)).audio
    )  # warm up numba/librosa
    rows = [row for minutes in args.minutes for row in bench(minutes, args.n_surrogates)]
    print(f"{'audio (min)':>11}  {'stage':<36} {'seconds':>8} {'peak MiB':>9}")
    for row in rows:
        print(
            f"{row['audio_min']:>11.2f}  {row['stage']:<36} "
            f"{row['seconds']:>8.3f} {row['peak_mib']:>9.1f}"
        )
    write_results(args.out, machine(), rows=rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
