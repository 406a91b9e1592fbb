"""Calibration of the chills-model scores on null studies, held out on songs or not.

Each null study: 6 songs x 8 listeners (3 test, 1 early-stopping, 4 training), 60 s at 10 Hz;
the response is shared across listeners (a planted filter of an input, plus each listener's
noise), but the models get inputs drawn independently of it -- the null of "the music
predicts the response" that still lets a model memorise each song's mean response. Every
model is fitted and scored by ``frisson.models.evaluate_chills_models`` in both scopes:

- held-out participants and songs (cross-fitted over 3 song folds): the headline;
- held-out participants, seen songs: the memorisation ceiling.

Reported per model and scope: the median over studies of the median r over songs, the rate
at which Fisher's combined (one-sided) p falls below 0.05 (with a 95 % Clopper-Pearson
interval), and the per-song rates of p < 0.05 and p < 0.01. With ``--effect`` studies the
same rates on studies whose inputs are the real ones (power). Also: one-sided per-song p on
independent smooth pairs (AR(1), phi 0.9, 400 frames; phase randomisation and circular
shifts), and negated predictions (Fisher's p must stay large).

    .venv/bin/python benchmarks/heldout_nulls.py [--datasets 300] [--effect-datasets 50]
        [--models ridge,cnn] [--cnn-datasets 20] [--surrogates 199]

Prints a table and writes benchmarks/results/heldout_nulls.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.signal import lfilter
from threadpoolctl import threadpool_limits

from _results import machine, write_results
from frisson.models import (
    HELD_OUT_SONGS,
    SCOPES,
    ChillsCNN,
    DelayedRidge,
    evaluate_chills_models,
    planted_study,
    score_predictions,
    song_folds,
    split_participants,
)
from frisson.timeseries import TimeSeries

#: CNN sizes that train in seconds on a CPU (as in tests/test_models_cnn.py).
CNN_FAST = {"n_filters": 8, "epochs": 40, "patience": 6, "learning_rate": 3e-3, "n_threads": 1}
ALPHAS = (0.05, 0.01)


def study(seed: int, *, null: bool):
    """Inputs, targets and labels of one study (inputs independent of targets if ``null``)."""
    planted = planted_study(n_participants=8, n_songs=6, duration_s=60.0, rate_hz=10.0, seed=seed)
    inputs = planted.inputs
    if null:
        inputs = planted_study(
            n_participants=1, n_songs=6, duration_s=60.0, rate_hz=10.0, seed=seed + 10_000
        ).inputs
    return inputs, planted.targets, planted.participants, planted.songs


def make_model(name: str, seed: int):
    if name == "ridge":
        return DelayedRidge()
    return ChillsCNN(seed=seed, progress_bar=False, **CNN_FAST)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    low = stats.beta.ppf((1 - level) / 2, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(1 - (1 - level) / 2, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def run_studies(model: str, n_studies: int, *, null: bool, n_surrogates: int) -> list[dict]:
    """Per study and scope: median r, Fisher p, per-song p; plus the negated headline."""
    rows = []
    for seed in range(n_studies):
        inputs, targets, participants, songs = study(seed, null=null)
        split = split_participants(participants, n_test=3, n_validation=1, seed=seed)
        folds = song_folds(songs, n_folds=3, seed=seed)
        result = evaluate_chills_models(
            {model: (make_model(model, seed), inputs)},
            targets,
            split,
            folds,
            n_surrogates=n_surrogates,
            seed=seed,
        )
        for scope in SCOPES:
            scores = result.for_model(model, scope)
            rows.append(
                {
                    "seed": seed,
                    "scope": scope,
                    "median_r": result.median_r(model, scope),
                    "fisher_p": result.fisher_p(model, scope),
                    "song_p": [s.p for s in scores],
                    "control_median_r": result.median_r(f"{model} | mismatched songs", scope),
                }
            )
    return rows


def summarise(rows: list[dict], scope: str) -> dict:
    chosen = [r for r in rows if r["scope"] == scope]
    fisher = np.array([r["fisher_p"] for r in chosen])
    song_p = np.concatenate([r["song_p"] for r in chosen])
    k = int(np.sum(fisher < 0.05))
    return {
        "scope": scope,
        "n_studies": len(chosen),
        "median_r": float(np.median([r["median_r"] for r in chosen])),
        "fisher_rejected": k,
        "fisher_rate": k / len(chosen),
        "fisher_rate_ci95": clopper_pearson(k, len(chosen)),
        "n_songs": int(song_p.size),
        **{f"song_rate_{a:g}": float(np.mean(song_p < a)) for a in ALPHAS},
        "control_median_r": float(np.median([r["control_median_r"] for r in chosen])),
    }


def _ar1(rng, n: int, phi: float, burn: int = 200) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], rng.standard_normal(n + burn))[burn:]


def independent_pairs(n_pairs: int, n_surrogates: int) -> list[dict]:
    """One-sided per-song p on independent AR(1) pairs, and on their negations."""
    rng = np.random.default_rng(0)
    predictions, truths = {}, {}
    for k in range(n_pairs):
        predictions[f"s{k}"] = TimeSeries(_ar1(rng, 400, 0.9), 10.0)
        truths[f"s{k}"] = [TimeSeries(_ar1(rng, 400, 0.9), 10.0)]
    out = []
    for null in ("phase", "circular"):
        result = score_predictions(
            predictions, truths, null=null, n_surrogates=n_surrogates, seed=1
        )
        p = np.array([s.p for s in result.scores])
        # Fisher over groups of 6 songs (the studies' size).
        groups = p[: p.size // 6 * 6].reshape(-1, 6)
        fisher = np.array([stats.combine_pvalues(g, method="fisher").pvalue for g in groups])
        out.append(
            {
                "null": null,
                "n_pairs": n_pairs,
                **{f"song_rate_{a:g}": float(np.mean(p < a)) for a in ALPHAS},
                "ks_p": float(stats.kstest(p, "uniform").pvalue),
                "fisher6_rate_0.05": float(np.mean(fisher < 0.05)),
            }
        )
    return out


def negated_truth(n_surrogates: int) -> dict:
    """Predictions that run against a planted response: r < 0 and Fisher's p near 1."""
    planted = planted_study(n_participants=6, n_songs=6, duration_s=60.0, rate_hz=10.0, seed=0)
    truths = planted.truths(planted.participants[:3])
    noisy = {
        s: x.replace(-x.values[:, 0] + 2.0 * np.random.default_rng(k).standard_normal(x.n_times))
        for k, (s, x) in enumerate(planted.responses.items())
    }
    result = score_predictions(noisy, truths, model="negated", n_surrogates=n_surrogates)
    p = np.array([s.p for s in result.scores])
    two_sided = np.minimum(1.0, 2 * np.minimum(p, 1 - p + 1 / (1 + n_surrogates)))
    return {
        "median_r": result.median_r("negated"),
        "fisher_p_one_sided": result.fisher_p("negated"),
        "fisher_p_two_sided": float(stats.combine_pvalues(two_sided, method="fisher").pvalue),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300, help="null studies for ridge")
    parser.add_argument("--effect-datasets", type=int, default=50, help="planted studies (power)")
    parser.add_argument("--models", default="ridge", help="comma-separated: ridge, cnn")
    parser.add_argument("--cnn-datasets", type=int, default=20, help="studies for the CNN")
    parser.add_argument("--surrogates", type=int, default=199)
    parser.add_argument("--pairs", type=int, default=1200, help="independent smooth pairs")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "heldout_nulls.json"
    )
    args = parser.parse_args()
    logging.getLogger("frisson").setLevel(logging.ERROR)
    table = []
    with threadpool_limits(limits=1, user_api="blas"):
        for model in args.models.split(","):
            n = args.datasets if model == "ridge" else args.cnn_datasets
            for null, count in ((True, n), (False, min(n, args.effect_datasets))):
                start = time.perf_counter()
                rows = run_studies(model, count, null=null, n_surrogates=args.surrogates)
                seconds = time.perf_counter() - start
                for scope in SCOPES:
                    table.append(
                        {
                            "model": model,
                            "studies": "null" if null else "planted effect",
                            **summarise(rows, scope),
                            "seconds": round(seconds, 1),
                        }
                    )
        pairs = independent_pairs(args.pairs, args.surrogates)
        negated = negated_truth(args.surrogates)

    print(f"\n{'model':6} {'studies':15} {'scope':34} {'n':>4} {'med r':>6} "
          f"{'Fisher<.05':>10} {'95% CI':>13} {'song<.05':>8} {'song<.01':>8}")  # fmt: skip
    for row in table:
        low, high = row["fisher_rate_ci95"]
        print(
            f"{row['model']:6} {row['studies']:15} {row['scope']:34} {row['n_studies']:4d} "
            f"{row['median_r']:6.3f} {row['fisher_rate']:10.3f} {f'{low:.3f}-{high:.3f}':>13} "
            f"{row['song_rate_0.05']:8.3f} {row['song_rate_0.01']:8.3f}"
        )
    print("\nindependent AR(1) pairs (one-sided p):")
    for row in pairs:
        print(
            f"  {row['null']:8} {row['n_pairs']} pairs: p<.05 {row['song_rate_0.05']:.3f}, "
            f"p<.01 {row['song_rate_0.01']:.3f}, KS p {row['ks_p']:.3f}, Fisher over 6 "
            f"songs <.05 {row['fisher6_rate_0.05']:.3f}"
        )
    print(
        f"negated predictions: median r {negated['median_r']:.3f}, Fisher p one-sided "
        f"{negated['fisher_p_one_sided']:.3g} (two-sided would give "
        f"{negated['fisher_p_two_sided']:.3g})"
    )
    meta = machine(
        datasets=args.datasets,
        effect_datasets=args.effect_datasets,
        cnn_datasets=args.cnn_datasets,
        surrogates=args.surrogates,
        models=args.models,
        scope_headline=HELD_OUT_SONGS,
    )
    write_results(args.out, meta, table=table, independent_pairs=pairs, negated=negated)


if __name__ == "__main__":
    main()
