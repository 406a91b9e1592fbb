"""Time to simulate a study: 40 participants x 7 stimuli of 90 s (the acceptance target: < 60 s).

    .venv/bin/python benchmarks/simulate.py [--participants 40] [--stimuli 7] [--seconds 90]

Prints a table and writes benchmarks/results/simulate.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _results import machine, write_results
from frisson.simulate import StudyParams, arousal_drive, simulate_study, synth_piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--stimuli", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "simulate.json"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stimuli = Path(tmp) / "stimuli"
        stimuli.mkdir()
        start = time.perf_counter()
        for i in range(args.stimuli):
            n_sections = 5
            length = args.seconds / n_sections
            synth_piece(n_sections=n_sections, section_s=(length, length), seed=i).write(
                stimuli / f"piece-{i + 1:02d}.wav"
            )
        rows.append(("generate stimuli", time.perf_counter() - start))
        warm = synth_piece(n_sections=2, section_s=(10, 10)).audio
        arousal_drive(warm)  # import and JIT warm-up, not counted
        start = time.perf_counter()
        simulate_study(
            stimuli,
            Path(tmp) / "study",
            params=StudyParams(n_participants=args.participants),
            seed=0,
            progress_bar=False,
        )
        rows.append(
            (
                f"simulate {args.participants} x {args.stimuli} x {args.seconds:g} s",
                time.perf_counter() - start,
            )
        )
    print(f"{'step':<40} {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds:>8.2f}")
    write_results(args.out, machine(), rows=[{"step": n, "seconds": s} for n, s in rows])


if __name__ == "__main__":
    main()
