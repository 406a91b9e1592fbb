"""Power and null of song-wise segmentation tests: candidates for ``structure.segmentation_test``.

Every candidate keeps the project's surrogates (DCT sign surrogates of the 12
whitened PCs at 2 Hz, signs shared by every column) and max-statistic over its
columns (min-p); only the statistic changes (:data:`CANDIDATES`). ``mean+kernel
k2-8`` won and is ``segmentation_test`` since 84e431b (the same p on the songs
checked); "current" below is the mean-shift test it replaced:

- ``mean k2-8`` (the test before 84e431b), ``mean k2-4`` / ``k2-3`` / ``k2`` (fewer k),
  ``mean k2-8 weighted 1/(k-1)`` (weighted min-p toward small k);
- ``kernel k2-8`` / ``k2-4``: the share of the kernel change-point scatter
  (``structure.kernel_costs``, the detector's cost) that the best k-split explains;
- ``mean+kernel k2-8`` / ``k2-4``: min-p over both statistics' columns;
- ``local shift``: the largest 5-s two-window standardised mean shift (a CUSUM-type scan).

Representations (``--representations``): ``white12`` (the current), ``white5``,
``white3``, ``white1``, ``pcs12`` / ``pcs3`` (PCs not whitened). Song sets:
stationary nulls (white noise and ``benchmarks/latent.py``'s steady loop through
``mel``; its mixed AR(1) latents at tau 0.5, 2, 5 s; the same at tau 2 s with
Student-t(3) innovations, heavy-tailed), the null-study pool's simulated pieces
(``benchmarks/null_studies.py``: ``synth_piece(n_sections=4 + i % 3,
section_s=(9, 15), seed=500 + i)``) through ``mel`` and ``musicnn-msd``, and every
cached real concatenation of ``benchmarks/latent.py``
(``~/.cache/frisson/benchmarks/latent_boundaries``). ``visibility`` says how
visible the simulated sections are in the tested latent; ``timing`` the CPU
cost of the current and the proposed test. Latents are cached under
``~/.cache/frisson/benchmarks/segmentation_power``. Results:
``benchmarks/results/segmentation_power.json`` (``--merge`` adds to it).

    .venv/bin/python benchmarks/segmentation_power.py cache
    .venv/bin/python benchmarks/segmentation_power.py run --sets "AR(1) tau 0.5" --merge
    .venv/bin/python benchmarks/segmentation_power.py run --sets noise loop t3 sim real --merge
    .venv/bin/python benchmarks/segmentation_power.py visibility --encoders musicnn-msd --merge
    .venv/bin/python benchmarks/segmentation_power.py timing --merge

Measured (199 surrogates, 12 whitened PCs, share of songs with p <= .05):

=============================  ==========  ===========  ================
songs                          current     kernel k2-8  mean+kernel k2-8
=============================  ==========  ===========  ================
AR(1) tau 0.5 / 2 / 5 s (400)  19/31/22    16/17/19     15/18/18
white noise / loop, mel (200)  8 / 11      8 / 4        7 / 5
AR(1) t3, tau 2 s (400)        31          36           28
simulated, mel (80)            76          80           80
simulated, musicnn-msd (80)    67          80           79
real, mel / musicnn (28 each)  28 / 28     28 / 28      28 / 28
=============================  ==========  ===========  ================

The simulated sections are plain in the first PC (their means explain a median
87 % (mel) / 82 % (musicnn) of its variance) but not in the 12 whitened PCs the
test sees (24 % / 20 %): the other whitened PCs are within-section texture,
which differs between loud and soft sections (within-section variance ratio
1.3 / 1.5), a change of distribution the kernel statistic counts and the
mean-shift one does not. Every DCT-surrogate statistic is somewhat liberal on
heavy-tailed stationary latents (t3: 5-9 %); amplitude-adjusted (AAFT) DCT
surrogates, which keep each column's values, were far worse (14-62 % at 99
surrogates; ``--surrogates aaft``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _results import machine, write_results
from frisson import structure
from frisson.audio import audio_from_array
from frisson.encoders import get_encoder
from frisson.simulate import synth_piece
from frisson.timeseries import TimeSeries
from latent import _loop  # the steady loop of the real-music benchmark's null

RESULTS = Path(__file__).parent / "results"
CACHE = Path.home() / ".cache" / "frisson" / "benchmarks" / "segmentation_power"
REAL_CACHE = Path.home() / ".cache" / "frisson" / "benchmarks" / "latent_boundaries"
RATE_HZ = 22050.0
TEST_RATE_HZ = 2.0
MIN_LENGTH = 10  # 5 s at 2 Hz, significant_segmentation's default
ENCODERS = ("mel", "musicnn-msd")


# ------------------------------------------------------------------------ the songs
def _at_test_rate(layer: TimeSeries) -> np.ndarray:
    """The encoder layer as ``significant_segmentation`` tests it: smoothed, at 2 Hz."""
    smoothed = structure.smooth_latent(layer)
    if TEST_RATE_HZ < smoothed.rate_hz:
        smoothed = smoothed.resample(TEST_RATE_HZ)
    return np.asarray(smoothed.values, dtype=np.float32)


def _encoded(audio, encoder_name: str) -> np.ndarray:
    encoder = get_encoder(encoder_name)
    return _at_test_rate(encoder.encode(audio)[encoder.default_layer])


def simulated_latents(n_songs: int, encoder_name: str) -> list[dict]:
    """The null-study pool's pieces (``benchmarks/null_studies.py``: seed 500 + i), 2-Hz latents."""
    CACHE.mkdir(parents=True, exist_ok=True)
    songs = []
    for i in range(n_songs):
        path = CACHE / f"sim{i}_{encoder_name}.npz"
        if not path.exists():
            piece = synth_piece(n_sections=4 + i % 3, section_s=(9.0, 15.0), seed=500 + i)
            np.savez(
                path,
                values=_encoded(piece.audio, encoder_name),
                boundaries_s=piece.boundaries_s,
                levels_db=np.array([s.level_db for s in piece.sections]),
            )
        stored = np.load(path)
        songs.append(
            {
                "name": f"piece-{i + 1}",
                "values": stored["values"].astype(float),
                "boundaries_s": stored["boundaries_s"],
                "levels_db": stored["levels_db"],
            }
        )
    return songs


def _ar1_latent(
    rng: np.random.Generator, duration_s: float, tau_s: float, *, t_df: float | None = None
) -> TimeSeries:
    """``benchmarks/latent.py``'s AR(1) latent: 16 sources mixed into 32 dims (21.5 Hz).

    ``t_df``: Student-t innovations of that many degrees of freedom instead of
    Gaussian ones (a stationary but heavy-tailed, bursty latent).
    """
    from scipy.signal import lfilter

    rate = 44100 / 512 / 4
    phi = np.exp(-1 / (tau_s * rate))
    n = int(duration_s * rate)
    shape = (n + 500, 16)
    shocks = rng.standard_normal(shape) if t_df is None else rng.standard_t(t_df, shape)
    sources = lfilter([1.0], [1.0, -phi], shocks, axis=0)[500:]
    return TimeSeries(sources @ rng.standard_normal((16, 32)), rate)


def null_latents(kind: str, n_songs: int, duration_s: float = 60.0) -> list[np.ndarray]:
    """Stationary 2-Hz songs: ``noise``, ``loop`` (through ``mel``), ``ar1_<tau>``, ``ar1t_<tau>``.

    ``ar1t``: the AR(1) latent with Student-t (3 degrees of freedom) innovations.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n_songs):
        if kind.startswith("ar1"):
            heavy = kind.startswith("ar1t_")
            tau_s = float(kind.split("_")[1])
            rng = np.random.default_rng([int(tau_s * 10), i, 2 if heavy else 1])
            series = _ar1_latent(rng, duration_s, tau_s, t_df=3.0 if heavy else None)
            out.append(np.asarray(series.resample(TEST_RATE_HZ).values, dtype=float))
            continue
        path = CACHE / f"null_{kind}{i}_mel.npy"
        if not path.exists():
            rng = np.random.default_rng([0 if kind == "noise" else 1, i])
            samples = (
                rng.standard_normal(int(duration_s * RATE_HZ)) * 0.1
                if kind == "noise"
                else _loop(rng, duration_s)
            )
            audio = audio_from_array(samples, RATE_HZ, source=f"{kind} {i}")
            np.save(path, _encoded(audio, "mel"))
        out.append(np.load(path).astype(float))
    return out


def real_latents() -> list[dict]:
    """Every cached real concatenation of ``benchmarks/latent.py`` (both encoders), 2 Hz."""
    songs = []
    for path in sorted(REAL_CACHE.glob("case*.npz")):
        stored = np.load(path)
        meta = json.loads(str(stored["meta"]))
        for name in ("musicnn-msd", "mel"):
            rate, start = stored[f"{name}_time"]
            layer = TimeSeries(stored[name].astype(float), float(rate), start_s=float(start))
            songs.append(
                {
                    "name": f"{path.stem} {name}",
                    "encoder": name,
                    "values": _at_test_rate(layer).astype(float),
                    "boundaries_s": np.array(meta["boundaries_s"]),
                }
            )
    return songs


# ------------------------------------------------------------------ representations
def pc_scores(values: np.ndarray, n_dims: int = 12) -> np.ndarray:
    """Z-scored dimensions, their leading PCs *not* whitened (each PC keeps its variance)."""
    white = structure.whitened_latent(values, n_dims)
    z = (values - values.mean(axis=0)) / np.where(values.std(axis=0) > 0, values.std(axis=0), 1)
    spread = (
        np.sqrt(np.square(z.T @ white).sum(axis=0)) / values.shape[0]
    )  # singular value / sqrt n
    return white * spread


REPRESENTATIONS = {
    "white12": lambda v: structure.whitened_latent(v, 12),
    "white5": lambda v: structure.whitened_latent(v, 5),
    "white3": lambda v: structure.whitened_latent(v, 3),
    "white1": lambda v: structure.whitened_latent(v, 1),
    "pcs12": lambda v: pc_scores(v, 12),
    "pcs3": lambda v: pc_scores(v, 3),
}


# ----------------------------------------------------------------------- statistics
def kernel_explained(values: np.ndarray, k_max: int, min_length: int) -> np.ndarray:
    """``1 - total_k / total_1`` of the kernel change-point cost, k = 2..k_max, per series.

    The kernel half of ``structure.segmentation_test`` (``segmentation_costs(kind="kernel")``:
    Gaussian kernel, each series' median bandwidth, exact DP).
    """
    return structure._explained(
        structure.segmentation_costs(values, k_max, min_length, kind="kernel")
    )


def mean_explained(values: np.ndarray, k_max: int, min_length: int) -> np.ndarray:
    """The current statistic: share of variance of the best k-segment split, k = 2..k_max."""
    return structure._explained(structure.segmentation_costs(values, k_max, min_length))


def local_shift(values: np.ndarray, half: int = MIN_LENGTH) -> np.ndarray:
    """Largest standardised two-window mean shift (``structure.mean_shift_statistic``)."""
    return structure.mean_shift_statistic(values, half).max(axis=-1, keepdims=True)


K_MAX = 8


def statistic_columns(values: np.ndarray, min_length: int = MIN_LENGTH) -> dict[str, np.ndarray]:
    """Every candidate's columns for ``(m, n, d)`` series: name -> ``(m, n_columns)``."""
    k_max = max(2, min(K_MAX, values.shape[-2] // min_length))
    chunks = [values[i : i + 25] for i in range(0, values.shape[0], 25)]
    mean = np.vstack([mean_explained(c, k_max, min_length) for c in chunks])
    kernel = np.vstack([kernel_explained(c, k_max, min_length) for c in chunks])
    pad = K_MAX - 1 - mean.shape[1]  # short songs: k that do not fit explain nothing
    if pad > 0:
        mean, kernel = (np.pad(a, ((0, 0), (0, pad))) for a in (mean, kernel))
    return {"mean": mean, "kernel": kernel, "local": local_shift(values)}


def min_p(columns: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Song p of the max-statistic over columns: row 0 the song, the rest its surrogates.

    Each column's p is the rank among all rows (the song counted); the song's
    p is the share of surrogates whose (weighted) min-p is at most the song's,
    as in ``structure.segmentation_test``. ``weights`` (summing to the number of
    columns) divide each column's p (a weighted min-p: Westfall-Young with a
    prior toward some columns).
    """
    reach = (columns[np.newaxis, :, :] >= columns[:, np.newaxis, :]).sum(axis=1)
    per = reach / columns.shape[0]
    if weights is not None:
        per = per / weights
    smallest = per.min(axis=1)
    return float((1 + np.sum(smallest[1:] <= smallest[0])) / columns.shape[0])


def song_columns(
    values: np.ndarray, representation: str, n_surrogates: int, seed: int
) -> dict[str, np.ndarray]:
    """The song's and its DCT sign surrogates' columns (row 0 the song) for one representation."""
    x = REPRESENTATIONS[representation](values)
    rng = np.random.default_rng(seed)
    make = aaft_dct_surrogates if SURROGATES["kind"] == "aaft" else structure._dct_surrogates
    rows = np.concatenate([x[np.newaxis], make(x, n_surrogates, rng)])
    return statistic_columns(rows)


#: Which surrogates ``song_columns`` draws (``--surrogates``): ``dct`` (the project's) or ``aaft``.
SURROGATES = {"kind": "dct"}


def aaft_dct_surrogates(values: np.ndarray, n_surrogates: int, rng: np.random.Generator):
    """Amplitude-adjusted DCT sign surrogates: each column keeps its values exactly.

    Theiler et al.'s (1992) AAFT with the DCT: each column is mapped by ranks
    to Gaussian quantiles, given DCT sign surrogates (signs shared by every
    column), and mapped back by ranks to the column's own sorted values (its
    distribution kept exactly, its spectrum approximately).
    """
    from scipy import stats

    n = values.shape[0]
    ranks = np.argsort(np.argsort(values, axis=0), axis=0)
    gaussian = stats.norm.ppf((ranks + 1) / (n + 1))
    drawn = structure._dct_surrogates(gaussian, n_surrogates, rng)
    order = np.argsort(np.argsort(drawn, axis=1), axis=1)
    return np.take_along_axis(np.sort(values, axis=0)[np.newaxis], order, axis=1)


_SMALL_K = np.array([1 / (k - 1) for k in range(2, K_MAX + 1)])
#: candidate name -> (statistic columns, weights): columns of ``statistic_columns``.
CANDIDATES = {
    "mean k2-8": ("mean", slice(0, 7), None),
    "mean k2-4": ("mean", slice(0, 3), None),
    "mean k2-3": ("mean", slice(0, 2), None),
    "mean k2": ("mean", slice(0, 1), None),
    "mean k2-8 weighted 1/(k-1)": ("mean", slice(0, 7), _SMALL_K * 7 / _SMALL_K.sum()),
    "kernel k2-8": ("kernel", slice(0, 7), None),
    "kernel k2-4": ("kernel", slice(0, 3), None),
    "mean+kernel k2-8": ("both", slice(0, 7), None),
    "mean+kernel k2-4": ("both", slice(0, 3), None),
    "local shift (5 s windows)": ("local", slice(0, 1), None),
}


def candidate_ps(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """Each candidate's song p from one song's columns."""
    out = {}
    for name, (kind, keep, weights) in CANDIDATES.items():
        if kind == "both":
            chosen = np.hstack([columns["mean"][:, keep], columns["kernel"][:, keep]])
            weights = None
        else:
            chosen = columns[kind][:, keep]
        out[name] = min_p(chosen, weights)
    return out


def _interval(hits: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95 % interval of a binomial rate."""
    from scipy import stats

    low = stats.beta.ppf(0.025, hits, n - hits + 1) if hits > 0 else 0.0
    high = stats.beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return float(low), float(high)


def datasets(args) -> dict[str, object]:
    """Each song set's loader of 2-Hz latents: the stationary nulls, simulated and real songs."""
    n, n_ar = args.null_songs, args.ar_songs
    sets: dict[str, object] = {
        "null: white noise (mel)": lambda: null_latents("noise", n),
        "null: steady loop (mel)": lambda: null_latents("loop", n),
    }
    for tau_s in (0.5, 2.0, 5.0):
        sets[f"null: AR(1) tau {tau_s:g} s"] = lambda t=tau_s: null_latents(f"ar1_{t:g}", n_ar)
    sets["null: AR(1) t3 innovations tau 2 s"] = lambda: null_latents("ar1t_2", n_ar)
    for name in args.encoders:
        sets[f"simulated ({name})"] = lambda e=name: [
            s["values"] for s in simulated_latents(args.sim_songs, e)
        ]
    for name in ("mel", "musicnn-msd"):
        sets[f"real ({name})"] = lambda e=name: [
            s["values"] for s in real_latents() if s["encoder"] == e
        ]
    return {k: v for k, v in sets.items() if not args.sets or any(w in k for w in args.sets)}


def evaluate(args) -> list[dict]:
    """Share of songs with p <= alpha, per song set, representation and candidate."""
    rows = []
    for set_name, load in datasets(args).items():
        songs = load()
        for representation in args.representations:
            start = time.perf_counter()
            ps = [
                candidate_ps(song_columns(v, representation, args.n_surrogates, seed=i))
                for i, v in enumerate(songs)
            ]
            seconds = (time.perf_counter() - start) / len(songs)
            for name in CANDIDATES:
                values = np.array([p[name] for p in ps])
                hits = int(np.sum(values <= args.alpha))
                low, high = _interval(hits, len(values))
                rows.append(
                    {
                        "songs": set_name,
                        "representation": representation,
                        "candidate": name,
                        "n_songs": len(values),
                        "passing": hits,
                        "rate": round(hits / len(values), 4),
                        "ci95": [round(low, 4), round(high, 4)],
                        "median_p": float(np.median(values)),
                        "max_p": float(values.max()),
                    }
                )
            print(
                f"{set_name:28s} {representation:8s} "
                + " ".join(f"{r['rate']:.2f}" for r in rows[-len(CANDIDATES) :])
                + f"  ({seconds:.2f} s/song, all candidates)",
                flush=True,
            )
    return rows


# ------------------------------------------------------------------ the proposed test
def proposed_segmentation_test(
    values: np.ndarray,
    *,
    k_max: int = 8,
    min_length: int = 10,
    n_surrogates: int = 199,
    rng: np.random.Generator | None = None,
    statistic: str = "both",
) -> tuple[float, np.ndarray]:
    """``structure.segmentation_test`` with the kernel change-point statistic added (the proposal).

    The same surrogates (DCT signs shared by every column), k = 2..k_max and
    max-statistic over every column; only the statistics change. With
    ``statistic="both"`` (the proposal) the columns are the share of variance
    of the best k-segment split (the current statistic) and the share of the
    kernel scatter (:func:`frisson.structure.kernel_costs`, the detector's own
    cost) that the best k-segment split explains, ``1 - total_k / total_1``,
    for k = 2..k_max: the song's p is the min-p over those 2 (k_max - 1)
    columns against the surrogates' own min-p. ``"kernel"``: the kernel
    columns alone. ``"both"`` is ``structure.segmentation_test`` since 84e431b.

    Returns
    -------
    p : float
    observed : ndarray, shape (2 (k_max - 1),) or (k_max - 1,)
        The song's columns: mean-shift shares for k = 2..k_max, then kernel shares.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = np.repeat(rng.standard_normal((4, 6)), 60, axis=0)
    >>> p, _ = proposed_segmentation_test(steps + 0.5 * rng.standard_normal(steps.shape),
    ...                                   n_surrogates=99, rng=rng)
    >>> p <= 0.05
    True

    """
    rng = rng if rng is not None else np.random.default_rng(0)
    k_max = max(2, min(k_max, values.shape[0] // max(1, min_length)))

    def columns(series: np.ndarray) -> np.ndarray:
        kernel = kernel_explained(series, k_max, min_length)
        if statistic == "kernel":
            return kernel
        return np.hstack([mean_explained(series, k_max, min_length), kernel])

    chunk = max(1, (1 << 23) // (values.shape[0] + 1) ** 2)  # ~64 MB per temporary
    observed = columns(values[np.newaxis])[0]
    null = np.concatenate(
        [
            columns(structure._dct_surrogates(values, min(chunk, n_surrogates - i), rng))
            for i in range(0, n_surrogates, chunk)
        ]
    )
    everything = np.vstack([observed[np.newaxis], null])  # row 0: the song
    reach = (everything[np.newaxis, :, :] >= everything[:, np.newaxis, :]).sum(axis=1)
    smallest = (reach / everything.shape[0]).min(axis=1)
    p = float((1 + np.sum(smallest[1:] <= smallest[0])) / (1 + n_surrogates))
    return p, observed


def timing(durations_s: tuple[float, ...] = (60.0, 90.0, 180.0, 300.0)) -> list[dict]:
    """Seconds per song of the current and the proposed test (199 surrogates, 12 whitened PCs)."""
    rows = []
    for duration_s in durations_s:
        rng = np.random.default_rng(0)
        series = _ar1_latent(rng, duration_s, 2.0).resample(TEST_RATE_HZ).values
        white = structure.whitened_latent(np.asarray(series), 12)
        row: dict = {"duration_s": duration_s, "n_times": white.shape[0]}
        for name, test in (
            ("current", structure.segmentation_test),
            ("proposed", proposed_segmentation_test),
            ("kernel_alone", partial(proposed_segmentation_test, statistic="kernel")),
        ):
            start = time.process_time()
            test(white, n_surrogates=199, rng=np.random.default_rng(1))
            row[f"{name}_cpu_s"] = round(time.process_time() - start, 3)
        rows.append(row)
        print(
            f"{duration_s:5.0f} s song: current {row['current_cpu_s']:.2f} s CPU, "
            f"proposed (mean+kernel) {row['proposed_cpu_s']:.2f} s, "
            f"kernel alone {row['kernel_alone_cpu_s']:.2f} s",
            flush=True,
        )
    return rows


# ------------------------------------------------------------- why songs fail the test
def section_visibility(songs: list[dict], n_surrogates: int = 199) -> list[dict]:
    """How visible each simulated song's sections are in the tested latent, with both ps.

    ``r2_pc1`` / ``r2_white12``: share of variance of the first PC / of the 12
    whitened PCs that the true sections' means explain (what the mean-shift
    statistic can find); ``spread_ratio``: the loud sections' over the soft
    sections' within-section variance of whitened PCs 2..12 (a change the
    kernel statistic sees and the mean-shift one does not).
    """
    rows = []
    for i, song in enumerate(songs):
        white = structure.whitened_latent(song["values"], 12)
        times = np.arange(white.shape[0]) / TEST_RATE_HZ
        label = np.searchsorted(song["boundaries_s"], times, side="right")
        means = np.array([white[label == j].mean(axis=0) for j in range(label.max() + 1)])
        residual = white - means[label]
        total = np.square(white - white.mean(axis=0))
        r2 = 1 - np.square(residual).sum(axis=0) / total.sum(axis=0)
        loud = np.isin(label, np.flatnonzero(song["levels_db"] > -15))
        spread = np.square(residual[:, 1:])
        current, _ = structure.segmentation_test(
            white, n_surrogates=n_surrogates, rng=np.random.default_rng(i)
        )
        proposed, _ = proposed_segmentation_test(
            white, n_surrogates=n_surrogates, rng=np.random.default_rng(i)
        )
        kernel, _ = proposed_segmentation_test(
            white, n_surrogates=n_surrogates, rng=np.random.default_rng(i), statistic="kernel"
        )
        rows.append(
            {
                "song": song["name"],
                "n_sections": int(label.max() + 1),
                "r2_pc1": round(float(r2[0]), 3),
                "r2_white12": round(float(1 - np.square(residual).sum() / total.sum()), 3),
                "spread_ratio": round(float(spread[loud].mean() / spread[~loud].mean()), 3),
                "p_current": current,
                "p_proposed": proposed,
                "p_kernel_alone": kernel,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", choices=["cache", "run", "timing", "visibility"], default="run", nargs="?"
    )
    parser.add_argument("--sim-songs", type=int, default=80)
    parser.add_argument("--null-songs", type=int, default=200)
    parser.add_argument("--ar-songs", type=int, default=400, help="AR(1) songs per tau")
    parser.add_argument("--n-surrogates", type=int, default=199)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--representations", nargs="+", default=["white12", "pcs12"])
    parser.add_argument("--sets", nargs="*", default=[], help="only song sets naming these")
    parser.add_argument("--surrogates", choices=["dct", "aaft"], default="dct")
    parser.add_argument("--merge", action="store_true", help="add to the results file")
    parser.add_argument("--out", default="segmentation_power.json")
    args = parser.parse_args()
    if args.what == "cache":
        start = time.perf_counter()
        for encoder_name in ENCODERS:
            simulated_latents(args.sim_songs, encoder_name)
            print(f"simulated {encoder_name}: {time.perf_counter() - start:.0f} s", flush=True)
        for kind in ("noise", "loop"):
            null_latents(kind, args.null_songs)
            print(f"null {kind}: {time.perf_counter() - start:.0f} s", flush=True)
        return
    SURROGATES["kind"] = args.surrogates
    path = RESULTS / args.out
    stored = json.loads(path.read_text()) if path.exists() and args.merge else {}
    if args.what == "timing":
        stored["timing"] = timing()
    elif args.what == "visibility":
        rows = section_visibility(simulated_latents(args.sim_songs, args.encoders[0]))
        stored[f"visibility_{args.encoders[0]}"] = rows
        keys = ("r2_pc1", "r2_white12", "spread_ratio", "p_current", "p_proposed", "p_kernel_alone")
        for key in keys:
            values = np.array([r[key] for r in rows])
            print(
                f"{key:14s} median {np.median(values):.3f}  "
                f"range {values.min():.3f}-{values.max():.3f}"
            )
    else:
        rows = evaluate(args)
        done = {(r["songs"], r["representation"]) for r in rows}
        kept = [r for r in stored.get("rows", []) if (r["songs"], r["representation"]) not in done]
        stored["rows"] = kept + rows
        _table(stored["rows"])
    stored.pop("meta", None)
    meta = machine(n_surrogates=args.n_surrogates, alpha=args.alpha, candidates=list(CANDIDATES))
    write_results(path, meta, **stored)


def _table(rows: list[dict]) -> None:
    print(f"\n{'songs':38s} {'repr.':8s} {'candidate':28s} {'rate':>6} {'95 % CI':>15}  n")
    for r in rows:
        print(
            f"{r['songs']:38s} {r['representation']:8s} {r['candidate']:28s} {r['rate']:6.3f} "
            f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]  {r['n_songs']}"
        )


if __name__ == "__main__":
    main()
