"""False-positive rates of the latent and ISC tests on null data (issue 13).

Null songs: independent PC-like (3) and feature-like (7) section-structured
series (random section boundaries every 4-20 s, a random level per section,
AR(1) noise with phi 0.9-0.99, every other feature exponentiated), 20-60 s at
21.5 Hz, tested with :func:`frisson.latent.feature_correlations` (lags -2..2 s)
under each surrogate null. Null listeners: independent AR(1) noise (phi
0.9-0.99), 60-180 s at 10 Hz, 5-14 listeners, for :func:`frisson.isc.isc`,
:func:`frisson.isc.sliding_isc` and :func:`frisson.isc.isc_near_events` (2-5
random events; the former event-shift null is re-run for comparison).

A test "rejects" when p <= alpha (with 199 surrogates a calibrated test then
rejects exactly alpha). Prints a table (rate and 95 % Clopper-Pearson interval) and writes
``benchmarks/results/latent_nulls.json``.

    .venv/bin/python benchmarks/latent_nulls.py --n-songs 300 --n-listener-sets 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.signal import lfilter

from _results import machine, write_results
from frisson import isc as isc_module
from frisson import latent
from frisson.timeseries import TimeSeries

RATE_HZ = 21.5


def _ar1(rng, n, phi, burn=300):
    return lfilter([1.0], [1.0, -phi], rng.standard_normal(n + burn))[burn:]


def section_structured(rng, n_times, n_channels, *, skewed=False):
    bounds = [0]
    while bounds[-1] < n_times:
        bounds.append(bounds[-1] + int(rng.uniform(4, 20) * RATE_HZ))
    sections = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))[:n_times]
    out = np.empty((n_times, n_channels))
    for c in range(n_channels):
        levels = rng.standard_normal(len(bounds) - 1)[sections]
        noise = _ar1(rng, n_times, rng.uniform(0.9, 0.99))
        out[:, c] = levels + rng.uniform(0.2, 1.0) * noise / noise.std()
        if skewed and c % 2 == 0:
            out[:, c] = np.exp(out[:, c])
    return out


def null_song(rng):
    n_times = int(rng.uniform(20, 60) * RATE_HZ)
    pcs = TimeSeries(section_structured(rng, n_times, 3), RATE_HZ, names=["PC1", "PC2", "PC3"])
    names = [f"f{i}" for i in range(7)]
    features = TimeSeries(section_structured(rng, n_times, 7, skewed=True), RATE_HZ, names=names)
    return pcs, features


def listeners(rng, n_times, n):
    return np.column_stack([_ar1(rng, n_times, rng.uniform(0.9, 0.99), burn=500) for _ in range(n)])


def _rate(count: int, total: int) -> dict:
    ci = stats.binomtest(int(count), total).proportion_ci(0.95)
    return {
        "rate": count / total,
        "ci95": [round(ci.low, 4), round(ci.high, 4)],
        "n": total,
    }


def feature_rows(n_songs: int, n_surrogates: int, seed: int) -> list[dict]:
    rows = []
    for null in ("circular", "phase", "dct"):
        rng = np.random.default_rng(seed)  # the same songs for every null
        single = family_05 = family_01 = n_tests = 0
        start = time.perf_counter()
        for i in range(n_songs):
            pcs, features = null_song(rng)
            table = latent.feature_correlations(
                pcs, features, null=null, n_surrogates=n_surrogates, seed=i
            ).to_frame()
            single += int((table.p_uncorrected <= 0.05).sum())
            n_tests += len(table)
            family_05 += bool(table.p.min() <= 0.05)
            family_01 += bool(table.p.min() <= 0.01)
        seconds = time.perf_counter() - start
        for what, count, total in (
            ("per pair, uncorrected, alpha .05", single, n_tests),
            ("per song, max-corrected, alpha .05", family_05, n_songs),
            ("per song, max-corrected, alpha .01", family_01, n_songs),
        ):
            rows.append(
                {"test": "feature_correlations", "null": null, "what": what}
                | _rate(count, total)
                | {"seconds": round(seconds, 1)}
            )
    return rows


def _old_near_events_p(series: TimeSeries, events: np.ndarray, radius_s, n, rng) -> float:
    """The former null: event sets shifted by offsets in [2 radius_s, span - 2 radius_s]."""
    times, values, span = series.times_s, series.values[:, 0], series.duration_s

    def contrast(event_times):
        near = (np.abs(times[:, None] - event_times[None]) <= radius_s).any(axis=1)
        if near.all() or not near.any():
            return 0.0
        return values[near].mean() - values[~near].mean()

    observed = contrast(events)
    offsets = rng.uniform(2 * radius_s, span - 2 * radius_s, n)
    null = np.array(
        [contrast(series.start_s + (events - series.start_s + o) % span) for o in offsets]
    )
    return (1 + np.count_nonzero(null >= observed)) / (1 + n)


def isc_rows(n_sets: int, n_sliding: int, n_surrogates: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    isc_05 = isc_01 = near_new = near_old = 0
    start = time.perf_counter()
    for i in range(n_sets):
        data = listeners(rng, int(rng.uniform(60, 180) * 10), int(rng.integers(5, 15)))
        grid = TimeSeries(data, 10.0)
        result = isc_module.isc(grid, n_surrogates=n_surrogates, seed=i)
        isc_05 += result.p <= 0.05
        isc_01 += result.p <= 0.01
        sliding = isc_module.sliding_isc(grid, window_s=10.0, hop_s=1.0, n_surrogates=1)
        events = np.sort(rng.uniform(10, sliding.isc.duration_s - 10, int(rng.integers(2, 6))))
        near_new += isc_module.isc_near_events(sliding, events, radius_s=5.0).p <= 0.05
        old = _old_near_events_p(sliding.isc, events, 5.0, n_surrogates, np.random.default_rng(i))
        near_old += old <= 0.05
    seconds = round(time.perf_counter() - start, 1)
    rows = [
        {"test": "isc (loo)", "null": "circular", "what": "alpha .05"} | _rate(isc_05, n_sets),
        {"test": "isc (loo)", "null": "circular", "what": "alpha .01"} | _rate(isc_01, n_sets),
        {"test": "isc_near_events", "null": "ISC shifted, every shift", "what": "alpha .05"}
        | _rate(near_new, n_sets),
        {"test": "isc_near_events", "null": "former: events shifted", "what": "alpha .05"}
        | _rate(near_old, n_sets),
    ]
    window_hits = window_total = fwe = 0
    for i in range(n_sliding):
        data = listeners(rng, int(rng.uniform(60, 180) * 10), int(rng.integers(5, 15)))
        sliding = isc_module.sliding_isc(
            TimeSeries(data, 10.0), window_s=10.0, hop_s=1.0, n_surrogates=n_surrogates, seed=i
        )
        window_hits += int((sliding.p <= 0.05).sum())
        window_total += sliding.p.size
        fwe += bool((sliding.p_fwe <= 0.05).any())
    rows += [
        {"test": "sliding_isc", "null": "circular", "what": "per window, alpha .05"}
        | _rate(window_hits, window_total),
        {"test": "sliding_isc", "null": "circular", "what": "any window p_fwe < .05"}
        | _rate(fwe, n_sliding),
    ]
    for row in rows:
        row["seconds"] = seconds
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-songs", type=int, default=300)
    parser.add_argument("--n-listener-sets", type=int, default=200)
    parser.add_argument("--n-sliding-sets", type=int, default=60)
    parser.add_argument("--n-surrogates", type=int, default=199)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "latent_nulls.json"
    )
    args = parser.parse_args()
    rows = feature_rows(args.n_songs, args.n_surrogates, args.seed)
    rows += isc_rows(args.n_listener_sets, args.n_sliding_sets, args.n_surrogates, args.seed)
    print(f"{'test':<21} {'null':<25} {'what':<36} {'rate':>6}  {'95 % CI':<15} {'n':>6}")
    for row in rows:
        low, high = row["ci95"]
        print(
            f"{row['test']:<21} {row['null']:<25} {row['what']:<36} "
            f"{100 * row['rate']:>5.1f}%  {100 * low:>5.1f}-{100 * high:<5.1f}%  {row['n']:>6}"
        )
    write_results(args.out, machine(**vars(args) | {"out": str(args.out)}), rows=rows)


if __name__ == "__main__":
    main()
