"""Skin conductance (and heart rate) at chills vs matched controls, on many simulated studies.

A focused companion of ``null_studies.py --beyond``: each study is simulated
exactly as there (``null_params(family, ...)`` with the ``--beyond`` settings,
``--songs`` of a ``--pool`` of generated pieces, 12 listeners, PPG at 40 Hz),
its skin conductance prepared by the physiology step of ``frisson run`` and
only the ``chills`` (and, with ``--heart``, ``heart``) analysis run through
:func:`frisson.pipelines._beyond.beyond_analyses`, the code path ``frisson run``
takes (no latent step: transition-locked rows are not computed). The rejection
rates of ``skin conductance @ chills`` (and heart rate / RMSSD @ chills) at
alpha .05 and .01 with binomial 95 % intervals are printed and written to
``benchmarks/results/chills_sc_nulls.json`` (``--out``), one row per study to
``chills_sc_nulls_rows.jsonl`` beside it.

    .venv/bin/python benchmarks/chills_sc_nulls.py --studies 200 \
        --families heterogeneity_artefacts realistic --effects 1.0

Each row holds the library's p (``chills_sc``: the chills' rank among their
control sets) and the former one (``chills_sc_mean``: sign flips of the songs'
mean differences) of the same study. The committed results were made with
``--cache`` runs of seeds 10000+ at 40 Hz (the suite's studies: seed 10000's p
equal ``null_studies.py``'s), 30000+ at 10 Hz (``@10Hz`` rows), power seeds
20000+ (0.3 uS, and 0.1 uS at 10 Hz) and ``--heart`` seeds 10000+, then
tabulated with ``--from-cache`` (``--heart`` for ``chills_sc_nulls_heart.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _results import machine, write_results
from frisson.simulate import null_params, simulate_study
from null_studies import _beyond_params, _chosen, _print, _rate, _stimuli

RESULTS = Path(__file__).parent / "results"
KEYS = {
    "skin conductance @ chills": "chills_sc",
    "heart rate @ chills": "chills_hr",
    "rmssd @ chills": "chills_rmssd",
}


def _config(root: Path, seed: int, heart: bool):
    from frisson.pipelines.chills import RunConfig

    analyses = ("chills", "heart") if heart else ("chills",)
    return RunConfig(
        study=root / "study",
        output=root / "out",
        analyses=("latent", "epochs", *analyses),
        decomposition="highpass",
        seed=seed,
    )


def prepared(root: Path, pool: list[str], family: str, effect: float, seed: int, args):
    """One simulated study's trials (physiology step) and listening (chills, heart rate).

    Cached in ``--cache`` (when given) in the run cache's format, which cannot run
    code (:mod:`frisson.pipelines._cache`), so that another statistic can be tried
    on the same studies without simulating them again.
    """
    from frisson.pipelines._beyond import BeyondSettings, _read_listening
    from frisson.pipelines._cache import StepCache, dump_result, load_result
    from frisson.pipelines.chills import _physiology_step
    from frisson.study import read_study

    scr = f"_scr{args.chill_scr_us:g}" if effect > 0 and args.chill_scr_us is not None else ""
    name = f"{family}_{effect:g}_{seed}_{args.songs}x{args.participants}{scr}"
    name += "_h" if args.heart else ""
    name += f"_{args.physio_rate_hz:g}hz" if args.physio_rate_hz is not None else ""
    cached = args.cache / f"{name}.npz" if args.cache else None
    if cached is not None and cached.exists():
        return load_result(cached)
    study_dir = root / "study"
    if study_dir.exists():
        shutil.rmtree(study_dir)
    settings = {
        "effect_size": effect,
        "n_participants": args.participants,
        "ratings_rate_hz": None,
        **_beyond_params(effect),
    }
    if effect > 0 and args.chill_scr_us is not None:
        settings["chill_scr_us"] = args.chill_scr_us
    if args.physio_rate_hz is not None:
        settings["physio_rate_hz"] = args.physio_rate_hz
    songs = _chosen(pool, args.songs, seed)
    simulate_study(songs, study_dir, params=null_params(family, **settings), seed=seed)
    config = _config(root, seed, args.heart)
    study = read_study(study_dir)
    trials, _ = _physiology_step(StepCache(root / "cache"), config, study, False)
    listening = _read_listening(config, study, BeyondSettings(), args.heart, False)
    shutil.rmtree(root / "cache")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(dump_result((trials, listening)))
    return trials, listening


def one_study(
    root: Path, pool: list[str], family: str, effect: float, seed: int, args
) -> dict[str, float | None]:
    """The chill-locked tests of one study, as ``beyond_analyses`` computes them."""
    from frisson.pipelines._beyond import BeyondSettings, _chill_draws, _items, _locked

    trials, listening = prepared(root, pool, family, effect, seed, args)
    config = _config(root, seed, args.heart)
    settings = BeyondSettings()
    chill_draws = _chill_draws(config, listening)
    series = {"skin conductance @ chills": {(t.participant, t.stimulus): t.eda for t in trials}}
    if args.heart:
        series["heart rate @ chills"] = {(t.participant, t.stimulus): t.hr for t in listening}
        series["rmssd @ chills"] = {(t.participant, t.stimulus): t.rmssd for t in listening}
    label = _label((family, effect, seed, args))
    row: dict[str, float | None] = {"family": label, "effect_size": effect, "seed": seed}
    for key, values in series.items():
        name = KEYS[key]
        cardiac = settings if name != "chills_sc" else None
        items = _items(values, chill_draws)
        test = _locked(config, items, "song", cardiac=cardiac, chills=True)[0]
        row[name] = None if test is None else float(test.p)
        row[name + "_effect"] = None if test is None else float(test.effect)
        row[name + "_songs"] = None if test is None else int(test.n_songs)
        # The former p: sign flips over songs of the songs' mean differences.
        former = _locked(config, items, "song", cardiac=cardiac)[0]
        row[name + "_mean"] = None if former is None else float(former.p)
    return row


def table(rows: list[dict]) -> list[dict]:
    """Rejection rates per family, effect and test."""
    out = []
    for family, effect in sorted({(r["family"], r["effect_size"]) for r in rows}):
        subset = [r for r in rows if r["family"] == family and r["effect_size"] == effect]
        for name in (n + suffix for n in KEYS.values() for suffix in ("", "_mean")):
            values = [r.get(name) for r in subset]
            if not any(v is not None for v in values):
                continue
            rate05, low, high, n = _rate(values, 0.05)
            rate01, _, high01, _ = _rate(values, 0.01)
            effect_key = name.removesuffix("_mean") + "_effect"
            effects = [r[effect_key] for r in subset if r.get(name) is not None]
            out.append(
                {
                    "family": family,
                    "effect_size": effect,
                    "test": name,
                    "n": n,
                    "rate_05": rate05,
                    "ci95_05": [low, high],
                    "rate_01": rate01,
                    "ci95_01_high": high01,
                    "mean_effect": float(np.mean(effects)),
                }
            )
    return out


def _jobs(args) -> list[tuple]:
    """(family, effect, seed, args) of the studies to simulate, families interleaved."""
    jobs = []
    for k in range(max(args.studies, args.power_studies if args.effects else 0)):
        if k < args.studies:
            jobs += [(f, 0.0, args.first_seed + k, args) for f in args.families]
        if k < args.power_studies:
            jobs += [("realistic", e, 20_000 + k, args) for e in args.effects]
    return jobs


_CACHED = re.compile(
    r"(?P<family>.+?)_(?P<effect>[0-9.]+)_(?P<seed>\d+)_(?P<songs>\d+)x(?P<participants>\d+)"
    r"(?:_scr(?P<scr>[0-9.]+))?(?P<heart>_h)?(?:_(?P<rate>[0-9.]+)hz)?$"
)


def _cached_jobs(args) -> list[tuple]:
    """Every study prepared in ``--cache`` with ``--heart`` as now, each with its own settings."""
    jobs = []
    for path in sorted(args.cache.glob("*.npz")):
        match = _CACHED.match(path.stem)
        if match is None or bool(match["heart"]) != args.heart:
            continue
        job_args = argparse.Namespace(**vars(args))
        job_args.songs, job_args.participants = int(match["songs"]), int(match["participants"])
        job_args.chill_scr_us = float(match["scr"]) if match["scr"] else None
        job_args.physio_rate_hz = float(match["rate"]) if match["rate"] else None
        jobs.append((match["family"], float(match["effect"]), int(match["seed"]), job_args))
    return jobs


def _label(job: tuple) -> str:
    family, effect, _, args = job
    label = family + (f"@{args.physio_rate_hz:g}Hz" if args.physio_rate_hz else "")
    return label + (f"@{args.chill_scr_us:g}uS" if effect > 0 and args.chill_scr_us else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100, help="null studies per family")
    parser.add_argument("--families", nargs="*", default=["heterogeneity_artefacts", "realistic"])
    parser.add_argument("--effects", nargs="*", type=float, default=[], help="power rows")
    parser.add_argument("--power-studies", type=int, default=30)
    parser.add_argument(
        "--chill-scr-us",
        type=float,
        help="SCR at every chill of the power studies (default 0.3 uS, null_studies.py's)",
    )
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--participants", type=int, default=12)
    parser.add_argument("--songs", type=int, default=7)
    parser.add_argument("--pool", type=int, default=21)
    parser.add_argument(
        "--physio-rate-hz",
        type=float,
        help="simulated physiology rate (default 40 Hz, null_studies.py --beyond's; 10 Hz is "
        "4x faster and enough for skin conductance, not for heart rate)",
    )
    parser.add_argument("--heart", action="store_true", help="also heart rate and RMSSD")
    parser.add_argument("--out", type=Path, default=RESULTS / "chills_sc_nulls.json")
    parser.add_argument("--cache", type=Path, help="prepared studies (.npz)")
    parser.add_argument("--resume", action="store_true", help="keep the rows file's studies")
    parser.add_argument(
        "--from-cache",
        action="store_true",
        help="analyse every study prepared in --cache (any family, seed, rate) and nothing else",
    )
    args = parser.parse_args()
    logging.getLogger("frisson").setLevel(logging.ERROR)
    rows_path = args.out.with_name(args.out.stem + "_rows.jsonl")
    jobs = _cached_jobs(args) if args.from_cache else _jobs(args)
    rows = []
    if args.resume and rows_path.exists():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line]
        done = {(r["family"], r["effect_size"], r["seed"]) for r in rows}
        jobs = [j for j in jobs if (_label(j), j[1], j[2]) not in done]
    else:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        rows_path.write_text("")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, open(rows_path, "a") as handle:
        root = Path(tmp)
        pool = [str(p) for p in _stimuli(root / "pool", args.pool)]
        for k, (family, effect, seed, job_args) in enumerate(jobs, start=1):
            row = one_study(root, pool, family, effect, seed, job_args)
            rows.append(row)
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            if k % 10 == 0:
                print(f"{k}/{len(jobs)} studies, {time.perf_counter() - start:.0f} s", flush=True)
    result = table(rows)
    _print(result)
    write_results(
        args.out,
        {
            "benchmark": "chills_sc_nulls",
            "machine": machine(),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "seconds": time.perf_counter() - start,
            "table": result,
        },
    )


if __name__ == "__main__":
    main()
