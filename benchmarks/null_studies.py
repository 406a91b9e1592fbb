"""False-positive rates and power of the chills study's tests, on simulated null studies.

Each null family of :data:`frisson.simulate.NULL_FAMILIES` is an effect-free study
(nothing is locked to the music's structure) that emphasises one confound real
data contain: SCRs shared by all listeners of a song at moments unrelated to its
structure, a song-onset orienting response with tonic habituation and drift,
loudness-driven responses, participant heterogeneity with artefacts, all of them,
or none. For each family, ``--datasets`` studies are simulated (new seed each)
and analysed with ``frisson run`` (``run_study``: the same code and defaults a
user gets; the ridge baseline stands in for the CNN, which is too slow to fit
hundreds of times here), and the rejection rate of each test at alpha .05 and .01
is counted:

- ``epochs``: transition-locked vs pseudo-transition skin conductance, songs as
  the random factor (summary effect, sign flips over songs);
- ``epochs_cluster``: its cluster test over epoch time (smallest cluster p);
- ``ridge_headline``: the song-level p (sign flips over songs of the songs'
  standardised r, :meth:`frisson.models.Evaluation.song_level_p`) of the ridge
  predictor on held-out participants AND songs (the headline scope);
- ``ridge_fisher``: Fisher's combined p of the same songs' one-sided p;
- ``ridge_seen_songs``: the song-level p on held-out participants of seen songs
  (the memorisation ceiling: expected to reject under song-shared responses;
  shown so the table says why it is not the headline);
- ``ridge_song``: per-song one-sided p of the headline (rate over songs);
- ``cnn_headline``, ``cnn_fisher``, ``cnn_song``: the same for the chills CNN,
  on the first ``--cnn-datasets`` studies of each family (it is slow to fit);
- ``isc_near``: ISC near transitions vs elsewhere, per song (rate over songs).

Each study draws its ``--songs`` stimuli from a pool of ``--pool`` generated
pieces (seeded by the study), so the music varies between studies as well as
the listeners; a piece's latent analysis is computed once and cached
(``RunConfig.song_seed`` keeps it independent of the study seed).

Loudness: in these pieces (as in much real music) loudness changes at the section
boundaries, so a loudness-driven response is a response at the transitions and
predictable from the music. The ``loudness`` family is therefore a positive
control (the tests should detect it), and every other family has
``loudness_gain_us = 0`` (:data:`frisson.simulate.NULL_FAMILIES`).

``--beyond`` adds the opt-in analyses (``chills``, ``heart``, ``individual``;
:mod:`frisson.pipelines._beyond`) to every study and their p-values to its row.
The null studies then report chills at random moments
(``spontaneous_chills_per_min = 1``), write a ``trait`` score that scales nothing
(``trait_scaling = 0``) and post-listening ratings per song with listener biases
and song effects that are unrelated to the responses (``song_ratings``,
``rating_scaling = 0``), with PPG at 40 Hz for heart rate; the power rows plant
an SCR (0.3 uS) and a heart-rate rise (4 bpm) at every chill, chills at
boundaries, a trait (``trait_scaling = 1``) and a pleasure rating that scales
its trial's responses (``rating_scaling = 1``). Results then go to
``null_studies_beyond.json`` / ``.md`` (``--out``), apart from the main suite's:

- ``chills_sc``, ``chills_hr``, ``chills_rmssd``: skin conductance, heart rate
  and RMSSD around chills vs controls drawn like them, songs as the unit;
- ``transitions_hr``, ``transitions_rmssd``: heart rate and RMSSD around
  latent transitions vs pseudo-transitions, songs as the unit;
- ``chill_hits``: the chill hit rate after transitions vs pseudo-transitions;
- ``listener_p``, ``listener_fwer``: participants.tsv scores and listeners'
  mean ratings vs listener effects (per pair: the uncorrected p; per effect:
  the max-|rho| corrected p of its strongest score, the family-wise rate);
- ``ratings_p``, ``ratings_fwer``: ratings per song vs per-trial effects
  within listeners and songs (:func:`frisson.chills_events.trial_associations`),
  the same two ways.

With a tested detector (``tested_novelty``, the run's default) a song whose
segmentation does not beat its null has no transitions and is left out of the
transition test (a study with fewer than 3 such songs has none): the results'
``transition_counts`` say, per family, in how many studies the test ran and
how many songs had transitions; ``pooled nulls`` pools the transition test's
rows over the effect-free families (loudness and ``POOL_SKIP`` out).

Power rows use the realistic family with planted boundary-locked responses of
several sizes (``effect_size``; the demo uses 1.0). Binomial 95 % intervals are
printed beside each rate. Results go to ``benchmarks/results/null_studies.json``
(and each dataset's numbers to ``null_studies_rows.jsonl`` as they finish, so an
interrupted run keeps its work).

    .venv/bin/python benchmarks/null_studies.py [--datasets 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy import stats

from _results import machine, write_results
from frisson.simulate import NULL_FAMILIES, null_params, simulate_study, synth_piece
from frisson.structure import DEFAULT_TRANSITIONS

RESULTS = Path(__file__).parent / "results"
#: The most telling nulls first, so that an interrupted run has them.
FAMILY_ORDER = [
    "onset_habituation",
    "shared_scrs",
    "all",
    "loudness",
    "clean",
    "realistic",
    "heterogeneity_artefacts",
]
assert set(FAMILY_ORDER) == set(NULL_FAMILIES)
TESTS = (
    "epochs",
    "epochs_cluster",
    "ridge_headline",
    "ridge_fisher",
    "ridge_seen_songs",
    "ridge_song",
    "cnn_headline",
    "cnn_fisher",
    "cnn_seen_songs",
    "cnn_song",
    "isc_near",
)
#: The opt-in analyses' rows (``--beyond``).
BEYOND_TESTS = {
    "skin conductance @ chills": "chills_sc",
    "heart rate @ chills": "chills_hr",
    "rmssd @ chills": "chills_rmssd",
    "heart rate @ transitions": "transitions_hr",
    "rmssd @ transitions": "transitions_rmssd",
}
BEYOND_ROWS = (
    *BEYOND_TESTS.values(),
    "chill_hits",
    "listener_p",
    "listener_fwer",
    "ratings_p",
    "ratings_fwer",
)


def _stimuli(folder: Path, n_pieces: int) -> list[Path]:
    """The pool of generated pieces (4-6 sections of 9-15 s each), written once."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_pieces):
        path = folder / f"piece-{i + 1}.wav"
        if not path.exists():
            piece = synth_piece(n_sections=4 + i % 3, section_s=(9.0, 15.0), seed=500 + i)
            piece.write(path)
        paths.append(path)
    return paths


def _chosen(pool: list[str], n_songs: int, seed: int) -> list[str]:
    """The study's songs: ``n_songs`` of the pool, drawn with the study's seed."""
    rng = np.random.default_rng(seed)
    return sorted(str(p) for p in rng.choice(pool, size=n_songs, replace=False))


def _config(
    study: Path,
    output: Path,
    encoder: str,
    seed: int,
    isc: bool,
    cnn: bool,
    transitions: str,
    beyond: bool = False,
):
    from frisson.pipelines.chills import RunConfig

    analyses = ("latent", "epochs", "isc", "cnn") if isc else ("latent", "epochs", "cnn")
    return RunConfig(
        study=study,
        output=output,
        encoder=encoder,
        transition_method=transitions,
        analyses=analyses + (("chills", "heart", "individual") if beyond else ()),
        decomposition="highpass",
        models=("cnn", "ridge") if cnn else ("ridge",),
        n_test=4,
        song_folds=3,
        n_surrogates=199,
        seed=seed,
    )


def _one(job: dict) -> dict:
    """Simulate and analyse one study; return every p-value the table needs."""
    from frisson.models import HELD_OUT_SONGS, SEEN_SONGS
    from frisson.pipelines.chills import run_study

    logging.getLogger("frisson").setLevel(logging.ERROR)
    root = Path(job["root"])
    study = root / f"study-{os.getpid()}"
    settings = {
        "effect_size": job["effect_size"],
        "n_participants": job["participants"],
        "ratings_rate_hz": None,
        "physio_rate_hz": 10.0,  # the analyses use 10 Hz; heart rate is not tested here
    }
    if job.get("beyond"):
        settings.update(_beyond_params(job["effect_size"]))
    params = null_params(job["family"], **settings)
    start = time.perf_counter()
    if study.exists():
        import shutil

        shutil.rmtree(study)
    songs = _chosen(job["pool"], job["songs"], job["seed"])
    simulate_study(songs, study, params=params, seed=job["seed"])
    config = _config(
        study,
        root / "results",
        job["encoder"],
        job["seed"],
        job["isc"],
        job["cnn"],
        job["transitions"],
        job.get("beyond", False),
    )
    results = run_study(config, progress_bar=False)
    row = {k: job[k] for k in ("family", "effect_size", "seed", "transitions")}
    e = results.epochs
    row["epochs"] = e.p if e is not None else None
    row["epochs_cluster"] = e.min_p if e is not None else None
    row["effect"] = e.effect if e is not None else None
    for key in ("songs_with_transitions", "songs_tested"):  # tested detectors keep fewer
        row[key] = results.epoch_counts.get(key)
    evaluation = results.cnn
    labels = {"ridge": "ridge (same embedding)"}
    if job["cnn"]:
        labels["cnn"] = evaluation.main_model
    for name, model in labels.items():
        row[f"{name}_headline"] = evaluation.song_level_p(model, HELD_OUT_SONGS)
        row[f"{name}_fisher"] = evaluation.fisher_p(model, HELD_OUT_SONGS)
        row[f"{name}_seen_songs"] = evaluation.song_level_p(model, SEEN_SONGS)
        row[f"{name}_song"] = [s.p for s in evaluation.for_model(model, HELD_OUT_SONGS)]
    row["songs"] = [Path(p).stem for p in songs]
    row["isc_near"] = [
        v["near"].p for v in results.isc.values() if v.get("near") is not None
    ] or None
    if job.get("beyond"):
        row.update(_beyond_row(results.beyond))
    row["seconds"] = time.perf_counter() - start
    return row


def _beyond_params(effect_size: float) -> dict:
    """Simulator settings of the opt-in analyses' null (effect 0) and power studies."""
    planted = effect_size > 0
    return {
        "physio_rate_hz": 40.0,  # PPG for heart rate
        "spontaneous_chills_per_min": 0.5 if planted else 1.0,
        "chill_scr_us": 0.3 if planted else 0.0,
        "chill_hr_bpm": 4.0 if planted else 0.0,
        "trait_scaling": 1.0 if planted else 0.0,
        "song_ratings": True,
        "rating_scaling": 1.0 if planted else 0.0,
    }


def _beyond_row(beyond) -> dict:
    """The opt-in analyses' p-values of one study."""
    row = {name: None for name in BEYOND_ROWS}
    for key, name in BEYOND_TESTS.items():
        if key in beyond.locked:
            row[name] = beyond.locked[key].p
    if beyond.chill_hits is not None:
        row["chill_hits"] = beyond.chill_hits.p
    for prefix, result in (("listener", beyond.individual), ("ratings", beyond.song_scores)):
        if result is None or not result.rows:
            continue
        row[f"{prefix}_p"] = [r["p"] for r in result.rows]
        strongest: dict[str, float] = {}
        for r in result.rows:
            strongest[r["effect"]] = min(strongest.get(r["effect"], 1.0), r["p_corrected"])
        row[f"{prefix}_fwer"] = list(strongest.values())
        row[f"{prefix}_detail"] = [
            [r["effect"], r["score"], r["p"], r["p_corrected"]] for r in result.rows
        ]
    row["beyond_notes"] = list(beyond.notes)
    return row


def _jobs(args) -> list[dict]:
    """Round-robin over the families (and effect sizes), so an interrupted run stays balanced."""
    jobs = []
    for k in range(max(args.datasets, args.small_datasets, args.power_datasets)):
        common = {
            "isc": k < args.isc_datasets,
            "cnn": k < args.cnn_datasets,
            "beyond": args.beyond,
        }
        for family in args.families:
            wanted = args.small_datasets if family in args.small_families else args.datasets
            if k < wanted:
                jobs.append({"family": family, "effect_size": 0.0, "seed": 10_000 + k, **common})
        if k < args.power_datasets:
            for effect in args.effects:
                jobs.append(
                    {"family": "realistic", "effect_size": effect, "seed": 20_000 + k, **common}
                )
    return jobs


def _warm(root: Path, pool: list[str], encoder: str, transitions: str) -> None:
    """Encode and analyse every piece of the pool (the latent step only), into the shared cache."""
    import dataclasses
    import shutil

    from frisson.pipelines.chills import run_study

    study = root / "warm"
    for start in range(0, len(pool), 7):
        if study.exists():
            shutil.rmtree(study)
        simulate_study(pool[start : start + 7], study, params=null_params("clean"), seed=0)
        config = _config(study, root / "results", encoder, 0, False, False, transitions)
        run_study(dataclasses.replace(config, analyses=("latent",)), progress_bar=False)


def _rate(values: list[float], alpha: float) -> tuple[float, float, float, int]:
    values = [v for v in values if v is not None]
    n = len(values)
    k = sum(v < alpha for v in values)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    return k / n, ci.low, ci.high, n


#: Families whose chill reports and pulse equal another family's at the same seed (their
#: random streams coincide: only SCR sizes differ), left out of the pooled opt-in rows.
POOL_SKIP = {"onset_habituation": "realistic"}


def _pooled_beyond(rows: list[dict]) -> list[dict]:
    """The opt-in analyses' null rows pooled over the effect-free families (``POOL_SKIP`` out)."""
    nulls = [
        {**r, "family": "pooled nulls"}
        for r in rows
        if r["effect_size"] == 0
        and r["family"] != "loudness"
        and r["family"] not in POOL_SKIP
        and any(r.get(t) is not None for t in BEYOND_ROWS)
    ]
    return [row for row in _table(nulls) if row["test"] in BEYOND_ROWS]


def _pooled_epochs(rows: list[dict]) -> list[dict]:
    """The transition test's null rows pooled over the effect-free families (``POOL_SKIP`` out)."""
    nulls = [
        {**r, "family": "pooled nulls"}
        for r in rows
        if r["effect_size"] == 0 and r["family"] != "loudness" and r["family"] not in POOL_SKIP
    ]
    return [row for row in _table(nulls) if row["test"] in ("epochs", "epochs_cluster")]


def _table(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["family"], r["effect_size"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for family, effect in keys:
        subset = [r for r in rows if r["family"] == family and r["effect_size"] == effect]
        for test in (*TESTS, *BEYOND_ROWS):
            values = []
            for r in subset:
                value = r.get(test)
                values += value if isinstance(value, list) else [value]
            if not any(v is not None for v in values):
                continue
            rate05, low05, high05, n = _rate(values, 0.05)
            rate01, _, high01, _ = _rate(values, 0.01)
            out.append(
                {
                    "family": family,
                    "effect_size": effect,
                    "test": test,
                    "n": n,
                    "rate_05": rate05,
                    "ci95_05": [low05, high05],
                    "rate_01": rate01,
                    "ci95_01_high": high01,
                }
            )
    return out


def _print(table: list[dict]) -> None:
    print(f"{'family':<25}{'effect':>7}  {'test':<18}{'n':>6}  {'alpha .05':>22}  {'alpha .01':>9}")
    for row in table:
        low, high = row["ci95_05"]
        print(
            f"{row['family']:<25}{row['effect_size']:>7g}  {row['test']:<18}{row['n']:>6}  "
            f"{100 * row['rate_05']:>6.1f} % [{100 * low:4.1f}, {100 * high:4.1f}]  "
            f"{100 * row['rate_01']:>7.1f} %"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=200, help="null studies per family")
    parser.add_argument(
        "--small-families",
        nargs="*",
        default=["loudness"],
        help="families run with --small-datasets only (see the module notes on loudness)",
    )
    parser.add_argument("--small-datasets", type=int, default=30)
    parser.add_argument("--power-datasets", type=int, default=25, help="studies per effect size")
    parser.add_argument("--families", nargs="*", default=FAMILY_ORDER)
    parser.add_argument("--effects", nargs="*", type=float, default=[1.0, 0.5, 0.25])
    parser.add_argument(
        "--isc-datasets", type=int, default=0, help="of each family, how many also run the ISC"
    )
    parser.add_argument(
        "--cnn-datasets", type=int, default=0, help="of each family, how many also fit the CNN"
    )
    parser.add_argument("--participants", type=int, default=12)
    parser.add_argument("--songs", type=int, default=7, help="songs per study")
    parser.add_argument("--pool", type=int, default=21, help="generated pieces to draw from")
    parser.add_argument("--encoder", default="musicnn-msd")
    parser.add_argument(
        "--transition-method",
        default=DEFAULT_TRANSITIONS,
        help="RunConfig.transition_method: the transitions the epoch test locks to (default "
        "the run's, tested_novelty; pc1_variance is the poster's)",
    )
    parser.add_argument(
        "--beyond",
        action="store_true",
        help="also run the opt-in chills, heart and individual analyses (see the module notes)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "null_studies.json")
    parser.add_argument(
        "--from-rows", action="store_true", help="only tabulate the rows file of an earlier run"
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep the rows file's studies and run the rest"
    )
    args = parser.parse_args()
    logging.getLogger("frisson").setLevel(logging.ERROR)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows_path = args.out.with_name(args.out.stem + "_rows.jsonl")
    if args.from_rows:
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line]
        _report(args, rows, seconds=float(sum(r["seconds"] for r in rows)))
        return
    jobs = _jobs(args)
    start = time.perf_counter()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pool = [str(p) for p in _stimuli(root / "pool", args.pool)]
        common = {
            "root": str(root),
            "participants": args.participants,
            "encoder": args.encoder,
            "pool": pool,
            "songs": args.songs,
            "transitions": args.transition_method,
        }
        jobs = [{**common, **job} for job in jobs]
        if args.resume and rows_path.exists():  # the seeds make every study reproducible
            rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line]
            done = {(r["family"], r["effect_size"], r["seed"]) for r in rows}
            jobs = [j for j in jobs if (j["family"], j["effect_size"], j["seed"]) not in done]
            print(f"resuming: {len(rows)} studies done, {len(jobs)} to go")
        else:
            rows_path.write_text("")
        if not jobs:
            _report(args, rows, seconds=time.perf_counter() - start)
            return
        _warm(
            root, pool, args.encoder, args.transition_method
        )  # every piece analysed once; the workers reuse the cache
        first = _one(jobs[0])
        rows.append(first)
        with open(rows_path, "a") as handle, ProcessPoolExecutor(args.workers) as pool:
            handle.write(json.dumps(first) + "\n")
            for k, row in enumerate(pool.map(_one, jobs[1:]), start=len(rows) + 1):
                rows.append(row)
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                if k % 20 == 0:
                    print(f"{k} studies, {time.perf_counter() - start:.0f} s", flush=True)
    _report(args, rows, seconds=time.perf_counter() - start)


#: How each test reads in the Markdown table (README).
LABELS = {
    "epochs": "transition vs control: effect over songs",
    "epochs_cluster": "same, cluster test over epoch time",
    "ridge_headline": "ridge, held-out songs + participants (headline): p over songs",
    "ridge_fisher": "same, Fisher's p",
    "ridge_seen_songs": "ridge, seen songs (memorisation ceiling): p over songs",
    "ridge_song": "ridge headline, per-song p",
    "cnn_headline": "CNN, held-out songs + participants (headline): p over songs",
    "cnn_fisher": "same, Fisher's p",
    "cnn_seen_songs": "CNN, seen songs (memorisation ceiling): p over songs",
    "cnn_song": "CNN headline, per-song p",
    "isc_near": "ISC near transitions vs elsewhere, per song",
    "chills_sc": "SC at chills vs controls: over songs",
    "chills_hr": "heart rate at chills vs controls: over songs",
    "chills_rmssd": "RMSSD at chills vs controls: over songs",
    "transitions_hr": "heart rate at transitions vs pseudo-transitions: over songs",
    "transitions_rmssd": "RMSSD at transitions vs pseudo-transitions: over songs",
    "chill_hits": "chill hit rate after transitions vs pseudo-transitions: over songs",
    "listener_p": "listener scores vs listener effects, per pair (uncorrected)",
    "listener_fwer": "same, per effect: strongest score, max-|rho| corrected",
    "ratings_p": "ratings per song vs trial effects, per pair (uncorrected)",
    "ratings_fwer": "same, per effect: strongest rating, max-|t| corrected",
}


def _markdown(table: list[dict]) -> str:
    lines = [
        "| family | effect | test | n | rejects at .05 [95 % CI] | at .01 |",
        "|---|---|---|---|---|---|",
    ]
    for row in table:
        low, high = row["ci95_05"]
        lines.append(
            f"| {row['family']} | {row['effect_size']:g} | {LABELS[row['test']]} | {row['n']} | "
            f"{100 * row['rate_05']:.1f} % [{100 * low:.1f}, {100 * high:.1f}] | "
            f"{100 * row['rate_01']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def _transition_counts(rows: list[dict]) -> list[dict]:
    """Per family and effect: studies with a transition test, songs with transitions."""
    out = []
    for family, effect in sorted({(r["family"], r["effect_size"]) for r in rows}):
        subset = [r for r in rows if r["family"] == family and r["effect_size"] == effect]
        counted = [r for r in subset if r.get("songs_with_transitions") is not None]
        out.append(
            {
                "family": family,
                "effect_size": effect,
                "studies": len(subset),
                "studies_tested": sum(r["epochs"] is not None for r in subset),
                "songs": sum(len(r["songs"]) for r in counted),
                "songs_with_transitions": sum(r["songs_with_transitions"] for r in counted),
                "songs_tested": sum(r["songs_tested"] or 0 for r in counted),
                # The sign-flip test's smallest p is 2^-n over n songs: 4 or fewer cannot
                # reach .05 (the tested detector's songs without transitions cost power).
                "studies_min_p_above_05": sum(
                    r["epochs"] is not None and 0.5 ** (r["songs_tested"] or 0) > 0.05
                    for r in counted
                ),
            }
        )
    return out


def _report(args, rows: list[dict], *, seconds: float) -> None:
    table = _table(rows)
    counts = _transition_counts(rows)
    for c in counts:
        print(
            f"{c['family']:<25}{c['effect_size']:>7g}  transition test in {c['studies_tested']} "
            f"of {c['studies']} studies; {c['songs_with_transitions']} of {c['songs']} songs "
            f"with transitions, {c['songs_tested']} tested; {c['studies_min_p_above_05']} "
            "studies with too few songs to reach p < .05"
        )
    if args.beyond:
        table += _pooled_beyond(rows)
    else:
        table += _pooled_epochs(rows)
    _print(table)
    args.out.with_suffix(".md").write_text(_markdown(table))
    write_results(
        args.out,
        {
            "benchmark": "null_studies",
            "machine": machine(),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "seconds": seconds,
            "median_seconds_per_study": float(np.median([r["seconds"] for r in rows])),
            "table": table,
            "transition_counts": counts,
        },
    )


if __name__ == "__main__":
    main()
