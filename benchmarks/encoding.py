"""Speed of the layer-wise encoding fit (frisson.models.encoding) against himalaya and scikit-learn.

Four parts, on 2 BLAS threads by default (``--threads 1`` for CPU seconds of one core):

1. ``solvers``: one outer fold of nested leave-one-run-out ridge (7 inner folds,
   the 21 alphas of ``DEFAULT_ALPHAS``; the results in ``_auto_solver`` were
   measured with the former 17) for few and many targets x a primal-shaped (n_features <
   n_samples) and a kernel-shaped design, with each solver: frisson's numpy
   ``eigh`` (one eigendecomposition shared by the alpha grid), himalaya's
   ``RidgeCV`` (primal) and ``KernelRidgeCV`` (kernel). This is the measurement
   behind ``solver="auto"`` on the CPU.
2. ``layers``: :func:`fit_layer_profiles` on simulated BOLD (``--pcs`` 100 PCs x 7
   delays = 700 columns per layer, the issue's design), per layer, with the null
   ``n_permutations="auto"`` gives at 20 000 voxels (20 permutations: 400 000
   pooled draws per layer), in float64 and with ``solver_params={"precision":
   "float32"}`` (the accuracy cost: r, t and p differences, alphas changed), and
   without the null; the first layer again at a quarter of the voxels, which
   separates the fixed cost per layer (eigendecompositions, PCA, the null's
   explicit operators) from the cost per voxel for the extrapolation to 20 000
   voxels x 24 layers (``summary``).
3. ``compare``: the first outer fold of one layer (the same 2100 x 700 design,
   the same 7 inner folds and 21 alphas) at ``--compare-voxels`` voxel counts,
   without the null: frisson's eigh solver (float32 and float64 products),
   himalaya's ``RidgeCV`` (numpy backend) and a plain scikit-learn loop
   (``Ridge`` per alpha and inner fold, best alpha per target, refit with
   ``Ridge(alpha=<one per target>)``; scikit-learn's ``RidgeCV`` cannot combine
   ``alpha_per_target`` with a ``cv`` splitter); for himalaya and scikit-learn
   also one refit with the chosen alphas (what one permutation of a refitting
   null costs per fold). ``summary.compare`` extrapolates each as fixed + per
   voxel per fold, x 8 folds x 24 layers at 20 000 voxels.
4. ``power``: planted sparse effects (5 % of units respond, signal variance 0.5
   against AR(1) noise of unit variance, the simulator's default SNR): share of
   responsive units with q < .05 and of null units passing, with the default
   pooled null and with 100 per-unit permutations; and the share of p <= .05 and
   a KS test on a study with no responsive unit (units of AR(1) 0-0.9).

    .venv/bin/python benchmarks/encoding.py            # 20 000 voxels x 24 layers x 8 x 300 TRs
    nice -n 10 .venv/bin/python benchmarks/encoding.py --voxels 4000 --layers 2 --threads 1 \
        --skip-solvers --skip-power   # the measured parts behind results/encoding.json
    .venv/bin/python benchmarks/encoding.py --quick
    .venv/bin/python benchmarks/encoding.py --skip-solvers --skip-layers --skip-compare  # power

Writes ``benchmarks/results/encoding.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _results import machine, write_results
from frisson.models import encoding
from frisson.models.encoding import fit_layer_profiles, layer_design
from frisson.timeseries import TimeSeries

ALPHAS = np.asarray(encoding.DEFAULT_ALPHAS)  # the grid fit_layer_profiles uses


def _timed(function, *args, **kwargs):
    """Result, wall-clock seconds and CPU seconds (all threads) of one call.

    Other work on a shared machine inflates the wall clock; the CPU time
    counts only this process (threads summed).
    """
    cpu, start = time.process_time(), time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start, time.process_time() - cpu


def bench_solvers(
    n_runs: int, run_samples: int, shapes: dict, targets: dict, repeats: int = 1
) -> list[dict]:
    rng = np.random.default_rng(0)
    n = (n_runs - 1) * run_samples  # the training runs of one outer fold
    slices = encoding._run_slices([run_samples] * n_runs)
    local = encoding.outer_folds(slices)[0].inner  # inner folds as rows of the training runs
    rows = []
    for shape_name, n_features in shapes.items():
        x = rng.standard_normal((n, n_features))
        x_test = rng.standard_normal((run_samples, n_features))
        for target_name, n_targets in targets.items():
            y = x[:, :50] @ rng.standard_normal((50, n_targets)) + 5 * rng.standard_normal(
                (n, n_targets)
            )
            for solver in ("eigh", "primal", "kernel"):
                with encoding._Solver(solver, "cpu") as solve:
                    _, seconds, cpu = min(
                        (_timed(solve.cv, x, y, x_test, ALPHAS, local) for _ in range(repeats)),
                        key=lambda t: t[2],
                    )
                rows.append(
                    {
                        "shape": shape_name,
                        "n_samples": n,
                        "n_features": n_features,
                        "targets": target_name,
                        "n_targets": n_targets,
                        "solver": solver,
                        "seconds": round(seconds, 3),
                        "cpu_seconds": round(cpu, 3),
                    }
                )
                print(
                    f"{shape_name:>7} {n}x{n_features:<5} {n_targets:>6} targets "
                    f"{solver:>7}: {seconds:8.2f} s wall {cpu:8.2f} s CPU",
                    flush=True,
                )
    return rows


def _simulate(n_voxels: int, n_layers: int, n_runs: int, run_samples: int, widths, seed=0):
    rng = np.random.default_rng(seed)
    features, responses = {}, []
    for layer in range(n_layers):
        features[f"layer{layer:02d}"] = [
            TimeSeries(rng.standard_normal((run_samples, widths[layer])), rate_hz=1.0)
            for _ in range(n_runs)
        ]
    weights = rng.standard_normal((min(10, widths[0]), n_voxels))  # the same in every run
    for run in range(n_runs):
        drive = features["layer00"][run].values[:, : weights.shape[0]] @ weights
        drive = np.roll(drive, 4, axis=0)  # a 4-s lag, inside the 3-9 s delays
        responses.append(
            TimeSeries(drive / 5 + rng.standard_normal((run_samples, n_voxels)), rate_hz=1.0)
        )
    return features, responses


def _sklearn_cv(x, y, x_test, alphas, splits) -> tuple[np.ndarray, np.ndarray]:
    """A plain scikit-learn loop: ``Ridge`` per alpha and inner split, best alpha per target, refit.

    scikit-learn's ``RidgeCV`` cannot combine ``alpha_per_target`` with a ``cv``
    splitter, so the inner leave-one-run-out is a loop.
    """
    from sklearn.linear_model import Ridge

    sse = np.zeros((alphas.size, y.shape[1]))
    for train, validation in splits:
        for a, alpha in enumerate(alphas):
            model = Ridge(alpha=alpha, fit_intercept=False).fit(x[train], y[train])
            sse[a] += ((y[validation] - model.predict(x[validation])) ** 2).sum(axis=0)
    best = np.argmin(sse, axis=0)
    return best, _sklearn_refit(x, y, x_test, alphas[best])


def _sklearn_refit(x, y, x_test, alpha_per_target) -> np.ndarray:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=alpha_per_target, fit_intercept=False).fit(x, y).predict(x_test)


def _one_fold(series, responses, width: int):
    """The first outer fold of one layer: ``x_train, y_train, x_test, inner splits``.

    The layer's delayed PCA design as ``layer_design`` builds it (PCA on all
    runs: the timing is the ridge); the responses z-scored per run.
    """
    designs = layer_design(series, responses, n_components=width)
    y_runs = [encoding._zscore(r.values.astype(float)) for r in responses]
    fold = encoding.outer_folds(encoding._run_slices([len(y) for y in y_runs]))[0]
    x_all, y_all = np.concatenate(designs), np.concatenate(y_runs)
    return x_all[fold.train_idx], y_all[fold.train_idx], designs[fold.test_run], fold.inner


def _fold_cv(library: str, x, y, x_test, splits):
    """(best alpha index, prediction) of one outer fold by ``library``."""
    if library == "sklearn":
        return _sklearn_cv(x, y, x_test, ALPHAS, splits)
    solver, params = {
        "frisson_float32": ("eigh", {"precision": "float32"}),
        "frisson_float64": ("eigh", {}),
        "himalaya": ("primal", {}),
    }[library]
    with encoding._Solver(solver, "cpu", params) as solve:
        return solve.cv(x, y, x_test, ALPHAS, splits)


def _fold_refit(library: str, x, y, x_test, alpha_per_target) -> np.ndarray:
    """One permutation of the null for one fold: a refit with the chosen alphas."""
    if library == "sklearn":
        return _sklearn_refit(x, y, x_test, alpha_per_target)
    with encoding._Solver("primal", "cpu") as solve:
        return solve.predict(x, y, x_test, alpha_per_target)


def bench_compare(series, responses, width: int, voxel_counts, n_runs: int) -> list[dict]:
    """One outer fold of one layer, same design and inner folds, per library and voxel count.

    frisson's eigh solver (float32 and float64 products), himalaya's ``RidgeCV``
    (numpy backend) and the scikit-learn loop choose alphas and predict (no
    null); himalaya's ``Ridge`` and scikit-learn's ``Ridge`` refit with the
    chosen alphas (what one permutation of a refitting null costs them per
    fold). CPU seconds of one process.
    """
    x, y, x_test, splits = _one_fold(series, responses, width)
    for library in ("frisson_float32", "himalaya", "sklearn"):  # imports, first BLAS calls
        _fold_cv(library, x[:, :20], y[:, :2], x_test[:, :20], splits)
    rows = []
    for n_voxels in voxel_counts:
        y_v = np.ascontiguousarray(y[:, :n_voxels])
        reference = None
        for library in ("frisson_float32", "frisson_float64", "himalaya", "sklearn"):
            load = os.getloadavg()[0]
            (best, prediction), seconds, cpu = _timed(_fold_cv, library, x, y_v, x_test, splits)
            row = {
                "library": library,
                "voxels": n_voxels,
                "outer_folds_timed": 1,
                "n_runs": n_runs,
                "cv_cpu_seconds_per_fold": round(cpu, 3),
                "cv_seconds_per_fold": round(seconds, 3),
                "load_average_1min": round(load, 2),
            }
            if reference is None:
                reference = (best, prediction)
            row["share_alphas_as_frisson_float32"] = round(float(np.mean(best == reference[0])), 4)
            row["max_abs_prediction_difference"] = float(np.abs(prediction - reference[1]).max())
            if library in ("himalaya", "sklearn"):
                _, _, refit = _timed(_fold_refit, library, x, y_v, x_test, ALPHAS[best])
                row["refit_cpu_seconds_per_fold"] = round(refit, 3)
            rows.append(row)
            print(row, flush=True)
    return rows


#: What n_permutations="auto" gives at 20 000 voxels (and at 2000): the null timed at every size.
N_PERMUTATIONS = int(np.clip(np.ceil(20000 / 20000), 20, 1000))  # _profiles._resolve_permutations


def _frisson_row(one, responses, width: int, options: dict) -> tuple[dict, object]:
    """frisson's fit of one layer: without null, with the auto null, float64 and float32."""
    row, fits = {}, {}
    for precision in ("float64", "float32"):
        params = {"solver_params": {"precision": precision}, **options}
        fits[precision], _, cpu = _timed(
            fit_layer_profiles, one, responses, n_permutations=N_PERMUTATIONS, **params
        )
        row[f"frisson_{precision}_cpu_seconds_with_null"] = round(cpu, 2)
    _, seconds, cpu = _timed(fit_layer_profiles, one, responses, n_permutations=0, **options)
    row["frisson_cpu_seconds_no_null"] = round(cpu, 2)
    row["frisson_seconds_no_null"] = round(seconds, 2)
    row["n_permutations"] = fits["float64"].n_permutations
    exact, low = fits["float64"], fits["float32"]
    row["float32_max_abs_r_difference"] = float(np.nanmax(np.abs(low.r - exact.r)))
    row["float32_max_abs_t_difference"] = float(np.nanmax(np.abs(low.t - exact.t)))
    row["float32_share_alphas_changed"] = float(np.mean(low.alphas != exact.alphas))
    row["float32_share_p_changed"] = float(np.mean(low.p != exact.p))
    row["float32_max_abs_p_difference"] = float(np.nanmax(np.abs(low.p - exact.p)))
    return row, exact


def bench_layers(
    n_voxels: int,
    n_layers: int,
    n_runs: int,
    run_samples: int,
    widths,
) -> list[dict]:
    """Per layer: frisson with its null (float64 and float32), at ``n_voxels`` and a quarter.

    The quarter-size fit (first layer; the layers share one width) separates
    the cost that does not grow with voxels (the eigendecompositions, PCA, the
    explicit null operators) from the cost per voxel, for the extrapolation.
    Each row carries the 1-min load average before its fits.
    """
    features, responses = _simulate(n_voxels, n_layers, n_runs, run_samples, widths)
    quarter = max(n_voxels // 4, 1)
    small = [TimeSeries(r.values[:, :quarter], rate_hz=r.rate_hz) for r in responses]
    warm = {"w": [TimeSeries(f.values[:, :2], rate_hz=1.0) for f in features["layer00"]]}
    fit_layer_profiles(warm, small, n_permutations=2, progress_bar=False, device="cpu")  # imports
    rows = []
    for index, (layer, series) in enumerate(features.items()):
        one = {layer: series}
        width = series[0].n_channels
        options = {"n_components": width, "progress_bar": False, "device": "cpu"}
        n_delays = encoding.auto_delays_s(1.0).size
        row = {
            "layer": layer,
            "pcs": width,
            "design_columns": width * n_delays,
            "n_train_samples": (n_runs - 1) * run_samples,
            "voxels": n_voxels,
        }
        row["load_average_1min"] = round(os.getloadavg()[0], 2)
        measured, profiles = _frisson_row(one, responses, width, options)
        row |= measured
        row["frisson_median_r"] = round(float(np.median(profiles.r)), 4)
        if index == 0:  # the layers have one width: one fit at a quarter of the voxels
            small_row, _ = _frisson_row(one, small, width, options)
            row["quarter_voxels"] = quarter
            row |= {f"quarter_{k}": v for k, v in small_row.items() if "cpu_seconds" in k}
        rows.append(row)
        print(row, flush=True)
    return rows


def _summary(rows: list[dict], n_voxels: int, n_layers_run: int) -> dict:
    """20 000 voxels x 24 layers from the measured layers: fixed + per-voxel cost, per layer."""
    out = {"voxels": n_voxels, "layers_run": n_layers_run}
    for precision in ("float64", "float32"):
        key = f"frisson_{precision}_cpu_seconds_with_null"
        big = float(np.mean([r[key] for r in rows]))
        small = float(np.mean([r[f"quarter_{key}"] for r in rows if f"quarter_{key}" in r]))
        quarter = rows[0]["quarter_voxels"]
        per_voxel = max(big - small, 0.0) / (n_voxels - quarter)
        fixed = max(big - per_voxel * n_voxels, 0.0)
        cpu = 24 * (fixed + per_voxel * 20000)
        out[f"{precision}_fixed_cpu_seconds_per_layer"] = round(fixed, 2)
        out[f"{precision}_cpu_seconds_per_1000_voxels_per_layer"] = round(1000 * per_voxel, 2)
        out[f"{precision}_extrapolated_cpu_hours_20000_voxels_24_layers_with_null"] = round(
            cpu / 3600, 3
        )
        out[f"{precision}_extrapolated_minutes_on_2_cores"] = round(cpu / 2 / 60, 1)
    out["note"] = (
        "CPU seconds of one process (BLAS threads: summary.threads; summed), on a shared "
        "machine whose other work inflates them; minutes on 2 cores = CPU seconds / 2 (the 24 "
        "layers are independent; BLAS on 2 threads scales the products, not the FFTs). The "
        "cost per layer is fitted as fixed + per voxel from the fits at the voxels and a "
        "quarter of them (summary.compare for himalaya and scikit-learn)."
    )
    return out


def _fixed_and_slope(sizes, values) -> tuple[float, float]:
    """Least-squares ``value = fixed + slope * size`` (both clipped at 0)."""
    slope, fixed = np.polyfit(np.asarray(sizes, float), np.asarray(values, float), 1)
    return max(float(fixed), 0.0), max(float(slope), 0.0)


def _compare_summary(rows: list[dict], n_permutations: int = N_PERMUTATIONS) -> dict:
    """20 000 voxels x 24 layers x ``n_runs`` outer folds from one timed outer fold per size.

    Per library, the CPU seconds of one outer fold are fitted as fixed + per
    voxel over the voxel counts run; a layer is ``n_runs`` such folds (the folds
    have one shape), 24 layers, minutes on 2 cores = CPU seconds / 2. With the
    null (himalaya, scikit-learn): plus ``n_permutations`` refits per fold, as
    frisson's auto null draws at 20 000 voxels.
    """
    out = {}
    for library in sorted({r["library"] for r in rows}):
        mine = [r for r in rows if r["library"] == library]
        sizes = [r["voxels"] for r in mine]
        n_runs = mine[0]["n_runs"]
        fixed, slope = _fixed_and_slope(sizes, [r["cv_cpu_seconds_per_fold"] for r in mine])
        cpu = 24 * n_runs * (fixed + slope * 20000)
        entry = {
            "voxels_run": sizes,
            "fixed_cpu_seconds_per_fold": round(fixed, 3),
            "cpu_seconds_per_1000_voxels_per_fold": round(1000 * slope, 3),
            "extrapolated_minutes_on_2_cores_no_null": round(cpu / 2 / 60, 1),
            "mean_load_average_1min": round(
                float(np.mean([r["load_average_1min"] for r in mine])), 2
            ),
        }
        if "refit_cpu_seconds_per_fold" in mine[0]:
            refit = _fixed_and_slope(sizes, [r["refit_cpu_seconds_per_fold"] for r in mine])
            null = 24 * n_runs * n_permutations * (refit[0] + refit[1] * 20000)
            entry["extrapolated_minutes_on_2_cores_with_null"] = round((cpu + null) / 2 / 60, 1)
            entry["null_permutations"] = n_permutations
        out[library] = entry
    return out


def _print_table(summary: dict) -> None:
    """Minutes on 2 cores for 20 000 voxels x 24 layers x 8 runs x 300 TRs, per library."""
    print(f"{'20 000 voxels x 24 layers, 2 cores':<36} {'no null':>10} {'with null':>10}")
    for precision in ("float64", "float32"):
        key = f"{precision}_extrapolated_minutes_on_2_cores"
        if key in summary:
            with_null = f"{summary[key]:.1f} min"
            print(f"{'frisson fit_layer_profiles ' + precision:<36} {'':>10} {with_null:>10}")
    for library, entry in summary.get("compare", {}).items():
        no_null = f"{entry['extrapolated_minutes_on_2_cores_no_null']:.1f} min"
        with_null = entry.get("extrapolated_minutes_on_2_cores_with_null")
        with_null = "" if with_null is None else f"{with_null:.0f} min"
        print(f"{library + ' (one fold x 8 x 24)':<36} {no_null:>10} {with_null:>10}")


def _ar(rng, n: int, k: int, phi) -> np.ndarray:
    """Stationary AR(1) noise of unit variance, shape (n, k); ``phi`` per column or scalar."""
    from scipy.signal import lfilter

    phi = np.broadcast_to(np.asarray(phi, dtype=float), (k,))
    out = np.empty((n, k))
    for value in np.unique(phi):
        cols = np.flatnonzero(phi == value)
        e = rng.standard_normal((n + 100, cols.size)) * np.sqrt(1 - value**2)
        out[:, cols] = lfilter([1.0], [1.0, -value], e, axis=0)[100:]
    return out


def _sparse_study(rng, n_units, n_responsive, n_runs, run_samples, n_layers=3, snr=0.5, phis=0.3):
    from scipy.signal import lfilter

    hrf = encoding.canonical_hrf(1.0)
    planted = np.arange(n_responsive) % n_layers
    weights = rng.standard_normal((n_responsive, 6))
    features = {f"layer{i}": [] for i in range(n_layers)}
    responses = []
    for _ in range(n_runs):
        layers = [_ar(rng, run_samples, 6, 0.7) for _ in range(n_layers)]
        for i, values in enumerate(layers):
            features[f"layer{i}"].append(TimeSeries(values, rate_hz=1.0))
        y = _ar(rng, run_samples, n_units, phis)
        if n_responsive:
            drive = np.stack(
                [lfilter(hrf, [1.0], layers[planted[u]] @ weights[u]) for u in range(n_responsive)],
                axis=1,
            )
            y[:, :n_responsive] += np.sqrt(snr) * drive / drive.std(axis=0)
        responses.append(TimeSeries(y, rate_hz=1.0))
    return features, responses


def bench_power(n_units: int, n_runs: int, run_samples: int, seed: int = 0) -> list[dict]:
    from scipy import stats

    rng = np.random.default_rng(seed)
    n_responsive = n_units // 20
    features, responses = _sparse_study(rng, n_units, n_responsive, n_runs, run_samples)
    rows = []
    for null, n_perm in (("pooled", "auto"), ("unit", 100)):
        profiles, _, cpu = _timed(
            fit_layer_profiles,
            features,
            responses,
            null=null,
            n_permutations=n_perm,
            progress_bar=False,
            device="cpu",
        )
        row = {
            "study": "5 % responsive, snr 0.5",
            "units": n_units,
            "responsive": n_responsive,
            "null": null,
            "n_permutations": profiles.n_permutations,
            "responsive_found_q05": round(float(np.mean(profiles.q_best[:n_responsive] < 0.05)), 3),
            "null_units_passing_q05": round(
                float(np.mean(profiles.q_best[n_responsive:] < 0.05)), 4
            ),
            "null_units_p_best_le_05": round(
                float(np.mean(profiles.p_best[n_responsive:] <= 0.05)), 4
            ),
            "cpu_seconds": round(cpu, 1),
        }
        rows.append(row)
        print(row, flush=True)
    phis = np.repeat([0.0, 0.3, 0.6, 0.9], n_units // 4)
    features, responses = _sparse_study(rng, phis.size, 0, n_runs, run_samples, phis=phis)
    profiles = fit_layer_profiles(features, responses, progress_bar=False, device="cpu")
    row = {
        "study": "no responsive unit, AR(1) 0 / 0.3 / 0.6 / 0.9",
        "units": phis.size,
        "null": "pooled",
        "n_permutations": profiles.n_permutations,
        "p_best_le_05": round(float(np.mean(profiles.p_best <= 0.05)), 4),
        "p_le_05_by_ar": {
            str(phi): round(float(np.mean(profiles.p[:, phis == phi] <= 0.05)), 4)
            for phi in (0.0, 0.3, 0.6, 0.9)
        },
        "ks_p_layer_p_values": float(stats.kstest(profiles.p.ravel(), "uniform").pvalue),
        "ks_p_best": float(stats.kstest(profiles.p_best, "uniform").pvalue),
        "q_best_passing": round(float(np.mean(profiles.q_best < 0.05)), 4),
    }
    rows.append(row)
    print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxels", type=int, default=20000)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--run-samples", type=int, default=300, help="TRs per run (TR 1 s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--many-targets", type=int, default=2000)
    parser.add_argument("--skip-solvers", action="store_true")
    parser.add_argument("--skip-layers", action="store_true")
    parser.add_argument("--solver-runs", type=int, default=8, help="runs x --solver-run-samples")
    parser.add_argument("--solver-run-samples", type=int, default=150)
    parser.add_argument("--primal-pcs", type=int, default=50, help="x 7 delays, < samples")
    parser.add_argument("--kernel-pcs", type=int, default=300, help="x 7 delays, > samples")
    parser.add_argument("--repeats", type=int, default=1, help="solver timings: best of N")
    parser.add_argument("--pcs", type=int, default=100, help="PCs per layer (x 7 delays)")
    parser.add_argument(
        "--compare-voxels",
        default="200,800",
        help="voxel counts of the one-fold comparison with himalaya and scikit-learn",
    )
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-power", action="store_true")
    parser.add_argument("--power-units", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="a small size, seconds")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encoding.json"
    )
    args = parser.parse_args()
    if args.quick:
        args.voxels, args.layers, args.runs, args.run_samples = 300, 2, 4, 100
        args.many_targets = 300
        args.compare_voxels = "20,60"
        args.solver_runs, args.solver_run_samples = 4, 100
    # the design: 100 PCs x 7 delays = 700 columns per layer (--pcs)
    widths = np.full(args.layers, args.pcs)
    if args.quick:
        widths = np.linspace(10, 60, args.layers).astype(int)
    shapes = {"primal": args.primal_pcs * 7, "kernel": args.kernel_pcs * 7}
    if args.quick:
        shapes = {"primal": 70, "kernel": 420}
    results = {}
    with threadpool_limits(limits=args.threads):
        if not args.skip_solvers:
            print(f"-- solvers: one outer fold, 7 inner folds, {ALPHAS.size} alphas")
            results["solvers"] = bench_solvers(
                args.solver_runs,
                args.solver_run_samples,
                shapes,
                {"few": 10, "many": args.many_targets},
                repeats=args.repeats,
            )
        if not args.skip_layers:
            print(f"-- layers: {args.voxels} voxels, {args.runs} runs x {args.run_samples} TRs")
            results["layers"] = bench_layers(
                args.voxels,
                args.layers,
                args.runs,
                args.run_samples,
                widths,
            )
        if not args.skip_compare:
            counts = [int(v) for v in args.compare_voxels.split(",")]
            print(f"-- compare: one outer fold, {counts} voxels, frisson / himalaya / sklearn")
            features, responses = _simulate(max(counts), 1, args.runs, args.run_samples, widths[:1])
            results["compare"] = bench_compare(
                features["layer00"], responses, int(widths[0]), counts, args.runs
            )
        if not args.skip_power:
            print(f"-- power: {args.power_units} units, {args.runs} runs x {args.run_samples} TRs")
            results["power"] = bench_power(args.power_units, args.runs, args.run_samples)
    meta = machine(threads=args.threads) | {
        "config": vars(args) | {"out": str(args.out), "widths": widths.tolist()}
    }
    for part in list(results):
        results[part] = {"meta": meta, "rows": results[part]}
    if "layers" in results:
        results["summary"] = _summary(results["layers"]["rows"], args.voxels, args.layers)
        results["summary"]["threads"] = args.threads
    out = args.out
    if out.exists():  # a part skipped this time keeps its last measurement (with its meta)
        previous = json.loads(out.read_text())
        for part in ("solvers", "layers", "compare", "summary", "power"):
            if part not in results and part in previous:
                results[part] = previous[part]
    if "compare" in results:  # the comparison's extrapolation, measured now or kept
        results.setdefault("summary", {})
        results["summary"]["compare"] = _compare_summary(results["compare"]["rows"])
    if "summary" in results:
        print(json.dumps(results["summary"], indent=1))
        _print_table(results["summary"])
    write_results(out, meta, **results)


if __name__ == "__main__":
    main()
