"""False positives of the transition-locked epoch test on studies without an effect.

Simulates studies with effect size 0 for several seeds (16 participants x 4 pieces of ~40 s),
runs the latent and epochs analyses, and counts seeds in which a cluster reaches p < 0.05
(the acceptance target: none in >= 90 % of seeds). With --effect 1 it reports the power instead.

    .venv/bin/python benchmarks/null_studies.py [--seeds 20] [--effect 0]

Prints a table and writes benchmarks/results/null_studies.json.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from _results import machine, write_results
from frisson.pipelines.chills import RunConfig, run_study
from frisson.simulate import StudyParams, simulate_study, synth_piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--effect", type=float, default=0.0)
    parser.add_argument("--participants", type=int, default=16)
    parser.add_argument("--encoder", default="musicnn-msd")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "null_studies.json"
    )
    args = parser.parse_args()
    logging.getLogger("frisson").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "stimuli").mkdir()
        for i in range(4):
            synth_piece(n_sections=4, section_s=(8.0, 14.0), seed=300 + i).write(
                root / "stimuli" / f"piece-{i + 1}.wav"
            )
        for seed in range(args.seeds):
            start = time.perf_counter()
            study = root / f"study-{seed}"
            params = StudyParams(
                n_participants=args.participants, effect_size=args.effect, ratings_rate_hz=None
            )
            simulate_study(root / "stimuli", study, params=params, seed=1000 + seed)
            config = RunConfig(
                study=study,
                output=root / "results",  # shared: the latent step is computed once
                encoder=args.encoder,
                analyses=("latent", "epochs"),
                decomposition="highpass",
                n_permutations=1000,
                n_surrogates=99,
                seed=seed,
            )
            result = run_study(config, progress_bar=False)
            rows.append(
                {
                    "seed": seed,
                    "min_cluster_p": result.epochs.min_p,
                    "n_clusters": len(result.epochs.clusters),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(f"seed {seed:3d}: smallest cluster p = {result.epochs.min_p:.4f}", flush=True)
    rejected = sum(r["min_cluster_p"] < 0.05 for r in rows)
    print(
        f"\neffect size {args.effect:g}: a cluster with p < 0.05 in {rejected} of "
        f"{len(rows)} seeds ({100 * rejected / len(rows):.0f} %)"
    )
    meta = machine(effect_size=args.effect, participants=args.participants, encoder=args.encoder)
    write_results(args.out, meta, rejected=rejected, rows=rows)


if __name__ == "__main__":
    main()
