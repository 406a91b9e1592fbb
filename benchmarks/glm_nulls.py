"""False-positive rates and power of the brain-emotion GLM (frisson.glm, issue 18).

Datasets: listeners x 2 runs x 200 volumes (TR 1 s), two 75-s stimuli per run whose
group ratings (two channels, slider-like random walks at 5 Hz) give the regressors
(absolute derivatives, smoothed 1 s, through the SPM HRF). BOLD per voxel: a music-block
response (amplitude 0.5-2), a linear drift and AR(1) noise (phi 0.4) in every family, plus

* ``null``: nothing else (BOLD unrelated to the ratings);
* ``song_locked``: a response locked to each song, the same for every listener (smoothed
  noise during the music, weight 0.5-1.5 per voxel), unrelated to the ratings. The group
  test takes listeners as the random factor, so a song-locked response that correlates by
  chance with the few songs' rating derivatives is a false positive it does not control;
* ``planted``: the ratings regressor (beta 0.3 per SD) in a quarter of the voxels (power).

Rates: first-level voxels at p < .05, group voxels at sign-flip p < .05, datasets with
any voxel at p_fwe < .05 (family-wise), with 95 % Clopper-Pearson intervals; writes
``benchmarks/results/glm_nulls.json``.

    nice -n 10 .venv/bin/python benchmarks/glm_nulls.py --n-datasets 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats

from _results import machine, write_results
from frisson.glm import absolute_derivative, first_level, group_signflip, run_design
from frisson.timeseries import TimeSeries

N_FRAMES, ONSETS_S, DURATION_S, RATE_HZ = 200, (10.0, 105.0), 75.0, 5.0
CONTRAST = {"emotion": {"emotionality_absderiv": 1.0, "enjoyment_absderiv": 1.0}}


def _ratings(rng) -> TimeSeries:
    n = int(DURATION_S * RATE_HZ)
    steps = rng.standard_normal((n // 10 + 1, 2)) * (rng.random((n // 10 + 1, 1)) < 0.4)
    walk = np.cumsum(np.repeat(steps, 10, axis=0)[:n], axis=0) / 50
    return TimeSeries(walk, RATE_HZ, names=["emotionality", "enjoyment"])


def _ar1(rng, shape, phi=0.4) -> np.ndarray:
    out = np.empty(shape)
    out[0] = rng.standard_normal(shape[1])
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(shape[1])
    return out


def _dataset(rng, family: str, n_participants: int, n_units: int):
    frames = np.arange(N_FRAMES, dtype=float)
    drives = [absolute_derivative(_ratings(rng), smooth_s=1.0) for _ in range(4)]
    designs = [
        run_design(
            frames,
            [(o, drives[2 * r + i]) for i, o in enumerate(ONSETS_S)],
            [(o, DURATION_S) for o in ONSETS_S],
        )
        for r in range(2)
    ]
    planted = np.arange(n_units) < n_units // 4
    song = [
        np.convolve(rng.standard_normal(N_FRAMES), np.ones(8) / 8, "same") * d["music"].to_numpy()
        for d in designs
    ]
    weights = rng.uniform(0.5, 1.5, n_units)
    data = []
    for _ in range(n_participants):
        runs = []
        for r, design in enumerate(designs):
            emotion = (design["emotionality_absderiv"] + design["enjoyment_absderiv"]).to_numpy()
            emotion = (emotion - emotion.mean()) / emotion.std()
            y = (
                design["music"].to_numpy()[:, None] * rng.uniform(0.5, 2.0, n_units)
                + np.linspace(-1, 1, N_FRAMES)[:, None] * rng.normal(0, 1, n_units)
                + _ar1(rng, (N_FRAMES, n_units))
            )
            if family == "song_locked":
                y += song[r][:, None] * weights
            if family == "planted":
                y += 0.3 * emotion[:, None] * planted
            runs.append(TimeSeries(100 + y, 1.0))
        data.append(runs)
    return data, designs, planted


def _interval(k: int, n: int) -> list[float]:
    low = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return [float(low), float(high)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-datasets", type=int, default=200)
    parser.add_argument("--n-participants", type=int, default=8)
    parser.add_argument("--n-units", type=int, default=40)
    parser.add_argument("--families", default="null,song_locked,planted")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {}
    for family in args.families.split(","):
        start = time.perf_counter()
        first, group, family_wise, power = [], [], 0, []
        for _ in range(args.n_datasets):
            data, designs, planted = _dataset(rng, family, args.n_participants, args.n_units)
            fits = [first_level(runs, designs, CONTRAST) for runs in data]
            test = group_signflip(np.array([f.effect[0] for f in fits]), n_permutations=1000)
            others = ~planted if family == "planted" else np.ones_like(planted)
            first.append(np.mean([f.p[0][others] < 0.05 for f in fits]))
            group.append(np.mean(test.p[others] < 0.05))
            family_wise += bool((test.p_fwe[others] < 0.05).any())
            if family == "planted":
                power.append(np.mean(test.p_fwe[planted] < 0.05))
        n = args.n_datasets
        results[family] = {
            "first_level_rate": float(np.mean(first)),
            "group_rate": float(np.mean(group)),
            "family_wise_rate": family_wise / n,
            "family_wise_ci95": _interval(family_wise, n),
            "power_fwe": float(np.mean(power)) if power else None,
            "seconds": time.perf_counter() - start,
        }
        print(family, {k: v for k, v in results[family].items()})
    write_results(
        Path(__file__).parent / "results" / "glm_nulls.json",
        machine(n_datasets=args.n_datasets, n_participants=args.n_participants),
        **results,
    )


if __name__ == "__main__":
    main()
