"""Time to simulate chills studies: the null-benchmark size and the demo size.

Two configurations: 16 participants x 4 stimuli of 40 s (one study of the null-study
benchmark, which simulates hundreds: target < 2 s) and 40 participants x 7 stimuli of
90 s (the demo; acceptance target < 60 s). The simulator reads each stimulus once
(boundaries table, A-weighted loudness) and runs no encoder.

    .venv/bin/python benchmarks/simulate.py [--repeats 3] [--family realistic]

Prints a table and writes benchmarks/results/simulate.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _results import machine, write_results
from frisson.simulate import NULL_FAMILIES, StudyParams, null_params, simulate_study, synth_piece

CONFIGS = ((16, 4, 40.0), (40, 7, 90.0))


def _stimuli(folder: Path, n: int, seconds: float) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        n_sections = 5
        length = seconds / n_sections
        synth_piece(n_sections=n_sections, section_s=(length, length), seed=i).write(
            folder / f"piece-{i + 1:02d}.wav"
        )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--family",
        default="default",
        choices=["default", *NULL_FAMILIES],
        help="StudyParams defaults (effect 1, realistic confounds) or a null family.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "simulate.json"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warm = _stimuli(root / "warm", 1, 10.0)
        simulate_study(warm, root / "warm-study", params=StudyParams(n_participants=1))
        for n_participants, n_stimuli, seconds in CONFIGS:
            stimuli = _stimuli(root / f"stimuli-{n_stimuli}-{seconds:g}", n_stimuli, seconds)
            if args.family == "default":
                params = StudyParams(n_participants=n_participants)
            else:
                params = null_params(args.family, n_participants=n_participants)
            times = []
            for repeat in range(args.repeats):
                start = time.perf_counter()
                simulate_study(
                    stimuli,
                    root / f"study-{n_participants}-{repeat}",
                    params=params,
                    seed=repeat,
                    progress_bar=False,
                )
                times.append(time.perf_counter() - start)
            rows.append(
                {
                    "step": f"simulate {n_participants} x {n_stimuli} x {seconds:g} s",
                    "seconds": min(times),
                    "seconds_all": [round(t, 3) for t in times],
                }
            )
    print(f"{'step':<40} {'seconds (best of ' + str(args.repeats) + ')':>24}")
    for row in rows:
        print(f"{row['step']:<40} {row['seconds']:>24.2f}")
    write_results(args.out, machine(family=args.family), rows=rows)


if __name__ == "__main__":
    main()
