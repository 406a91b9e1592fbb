"""FDR power of ``frisson encode`` with its defaults on ``frisson simulate-fmri`` data.

Issue 18's own check, end to end through the command line: generated pieces
(one run each), BOLD with a share of responsive voxels at the simulator's
default SNR, then ``frisson encode`` with the TOML that ``simulate-fmri``
writes (defaults: pooled studentised null, Benjamini-Hochberg). Reported per
participant: the share of responsive voxels with q < .05, the share of the
others, the false discovery proportion, and on the non-responsive voxels the
share of p <= .05 and a KS test of p against uniform (``p`` of
``best_layers.tsv`` is the best layer's, ``p_best``), with the counts of p <=
.01, .005 and .001 and of (false) discoveries, to pool over participants and
seeds.

Run::

    .venv/bin/python benchmarks/encoding_cli_power.py              # 16 x 16 x 8, 5 % responsive
    .venv/bin/python benchmarks/encoding_cli_power.py --responsive-fraction 0.1 --participants 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine, write_results
from frisson.simulate import synth_piece

FRISSON = [sys.executable, "-m", "frisson"]


def _stimuli(folder: Path, n_pieces: int, seed: int) -> None:
    folder.mkdir(parents=True)
    for index in range(n_pieces):
        piece = synth_piece(n_sections=4, section_s=(12.0, 20.0), seed=seed + index)
        sf.write(folder / f"piece-{index + 1}.wav", piece.audio.samples, int(piece.audio.rate_hz))


def _scores(root: Path) -> list[dict]:
    best = pd.read_csv(root / "study_encoding" / "best_layers.tsv", sep="\t")
    truth = pd.read_csv(root / "study" / "derivatives" / "ground_truth" / "voxels.tsv", sep="\t")
    table = best.merge(truth[["unit", "responsive"]], on="unit")
    rows = []
    for participant, group in table.groupby("participant"):
        responsive, others = group[group["responsive"]], group[~group["responsive"]]
        found = group[group["significant"]]
        rows.append(
            {
                "participant": participant,
                "voxels": len(group),
                "responsive": len(responsive),
                "responsive_found_q05": round(float(responsive["significant"].mean()), 4),
                "others_passing_q05": round(float(others["significant"].mean()), 4),
                "false_discovery_proportion": round(
                    float((~found["responsive"]).mean()) if len(found) else 0.0, 4
                ),
                "others_p_le_05": round(float((others["p"] <= 0.05).mean()), 4),
                **{
                    f"others_p_le_{level:g}": int((others["p"] <= level).sum())
                    for level in (0.01, 0.005, 0.001)
                },
                "false_discoveries": int(found.shape[0] - found["responsive"].sum()),
                "discoveries": len(found),
                "others_ks_p_uniform": round(float(stats.kstest(others["p"], "uniform").pvalue), 4),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=7, help="generated pieces (one run each)")
    parser.add_argument("--participants", type=int, default=2)
    parser.add_argument("--shape", default="16,16,8")
    parser.add_argument("--responsive-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encoding_cli_power.json"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frisson-encode-power-") as tmp:
        root = Path(tmp)
        _stimuli(root / "stimuli", args.pieces, args.seed)
        simulate = [
            *("simulate-fmri", "--stimuli", str(root / "stimuli"), "--out", str(root / "study")),
            *("--participants", str(args.participants), "--shape", args.shape),
            *("--responsive-fraction", str(args.responsive_fraction), "--seed", str(args.seed)),
        ]
        subprocess.run([*FRISSON, *simulate], check=True)
        subprocess.run([*FRISSON, "encode", str(root / "encode.toml")], check=True)
        rows = _scores(root)
    print(f"{'participant':<12}{'responsive':>11}{'found':>8}{'others':>8}{'FDP':>7}{'KS p':>7}")
    for row in rows:
        print(
            f"{row['participant']:<12}{row['responsive']:>11}{row['responsive_found_q05']:>8.2f}"
            f"{row['others_passing_q05']:>8.3f}{row['false_discovery_proportion']:>7.2f}"
            f"{row['others_ks_p_uniform']:>7.2f}"
        )
    meta = machine(config=vars(args) | {"out": str(args.out)})
    meta["seconds"] = round(time.perf_counter() - start, 1)
    means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "participant"}
    write_results(args.out, meta, rows=rows, mean=means)


if __name__ == "__main__":
    main()
