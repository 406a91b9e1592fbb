"""Boundaries on real music, method by method, plus the null and the speed of each stage.

``boundaries`` (the default) builds concatenations of real tracks from Debian's
music packages (wesnoth-1.16-music, fretsonfire-songs-muldjord,
extremetuxracer-data, and for the unseen sets seven more; ``make bench-music``
installs them, nothing is committed):
each a sequence of 4-6 segments of 20-40 s cut from inside tracks, consecutive
segments of different genres (metal, electronic game music, orchestral, folk),
every segment RMS-equalised so that no boundary is a loudness jump. Each
boundary detector is scored with ``mir_eval.segment.detection`` at 0.5 s and 3 s
per encoder (``musicnn-msd``, ``mel``); the default detector's song-wise null
(:func:`frisson.structure.significant_segmentation`) is measured on stationary
signals (white noise and a steady loop through ``mel``, mixed AR(1) latents).
Results: ``benchmarks/results/latent_boundaries.json``. The default's settings
(:func:`frisson.structure.chosen_sections`' ratio 0.65, then its elbow rule)
were chosen on these 10 concatenations; ``--set held-out`` scores 8 others
(``latent_boundaries_held_out.json``; looked at while the elbow rule was chosen
among the candidates that were best on the 10); ``--set fresh`` scores 10 more
(new seeds, nine more wesnoth tracks, each tagged GENRE=Romantic Classical, in
the orchestral pool), scored once after the rule was fixed
(``latent_boundaries_fresh.json``); ``nulls`` reruns the null alone, and
``--null-songs 0`` keeps the stored one (the rule that counts the sections acts
only after the song-wise test, which it does not change).

Candidates for the number of sections measured on the 10 tuning concatenations
and not kept (mean F(3 s), musicnn-msd / mel): Arlot, Celisse & Harchaoui's
(2019) penalty ``D (c1 + c2 log(n / D))`` with C by the dimension jump
(0.24-0.79 / 0.29-0.78 over c1, c2, factor and k_max) or by the slope of the large-D
costs (0.33-0.84 / 0.34-0.77): the within-section costs of music are not those
of independent noise; boundaries whose gain beats the 50th-99th percentile of
the song's DCT surrogates' gain at the same k (0.67-0.83 / 0.66-0.80); the
L-method knee alone (0.78 / 0.79); the gain ratio against the second-largest
gain (0.88 / 0.94 at ratio 0.7, but 0.72 / 0.90 on the held-out 8, against the
former 0.73 / 0.85). Features for the kernel (same rule): 8 or 20 whitened
PCs, unwhitened PCs, bandwidth 0.5-4 x the median, a 2-4 s mean or mean + SD
texture of the whitened PCs: none better on both encoders than 12 whitened PCs
at the median bandwidth.

``layers`` scores every ``musicnn-msd`` layer (and ``mel``'s) with the encoders'
default settings, as ``frisson run`` uses them (frame layers smoothed, per-patch
layers at one row per 2.992-s patch): the default detector, its boundaries before
the song-wise test, and the kernel split with the true number of sections, with
each case's song p and k (``latent_layers.json``; ``--layer-sets final`` scores
the fourth set, 12 concatenations built like ``fresh`` and looked at once, after
the rule below was fixed). The mean-gain elbow of
:func:`frisson.structure.chosen_sections` (a section counts where its gain is at
least 0.85 of the mean gain of all the splits) was chosen there on the tuning,
held-out and fresh sets together, on ``cnn3`` and ``mel``; ``boundaries --set
final`` scores every method on the fourth set.

``--set unseen-dev`` and ``--set unseen-final`` (12 concatenations each, seeds 300-311 and
400-411, built like the others) draw from a new, broader pool, ``UNSEEN_GENRES``: five genres
(metal_rock, orchestral, electronic, ambient, chiptune), most tracks from seven packages not
used before (``UNSEEN_PACKAGES``), consecutive segments from different games where the genre
allows. Each track's genre comes from its Vorbis comments (GENRE, TITLE, COMMENT), its title or
its package's own files (see the comment at ``UNSEEN_GENRES``), never from the audio or the
encoders. ``unseen-dev`` is for development; ``unseen-final`` is held back and scored once, at
the very end (``latent_boundaries_unseen-dev.json``, ``latent_boundaries_unseen-final.json``).

``audit`` (default: both unseen sets) asks whether the default's boundaries that
match no track change are where the audio itself changes: four librosa descriptors
(loudness, brightness, onset strength, percussive share; no frisson encoder), their
mean over the 5 s after each time against the 5 s before, as a percentile of every
time inside a segment at least 5 s from its ends (``latent_audit.json``).

Every method's boundary is the edge between two 2-Hz samples, half a sample before
the first sample of the new section (as :func:`frisson.structure.significant_segmentation`).

``speed`` times each stage of ``analyze_song`` on generated pieces
(``benchmarks/results/latent.json``).

    .venv/bin/python benchmarks/latent.py boundaries --null-songs 100
    .venv/bin/python benchmarks/latent.py boundaries --set held-out
    .venv/bin/python benchmarks/latent.py boundaries --set fresh
    .venv/bin/python benchmarks/latent.py boundaries --set unseen-dev
    .venv/bin/python benchmarks/latent.py nulls --null-songs 100
    .venv/bin/python benchmarks/latent.py speed --minutes 1 3 10
    .venv/bin/python benchmarks/latent.py layers
    .venv/bin/python benchmarks/latent.py layers --layer-sets final
    .venv/bin/python benchmarks/latent.py audit
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from _results import machine, write_results
from frisson import latent, structure
from frisson.audio import audio_from_array, load_audio
from frisson.encoders import get_encoder
from frisson.features import compute_features
from frisson.simulate import synth_piece
from frisson.timeseries import TimeSeries

RESULTS = Path(__file__).parent / "results"
CACHE = Path.home() / ".cache" / "frisson" / "benchmarks" / "latent_boundaries"
RATE_HZ = 22050.0
ENCODERS = ("musicnn-msd", "mel")
_W = "/usr/share/games/wesnoth/1.16/data/core/music/"
_E = "/usr/share/games/etr/music/"
_F = "/usr/share/games/fretsonfire/data/songs/muldjord/"
GENRES = {
    "metal": [
        f"{_F}{s}/song.ogg"
        for s in ("chaos_god", "internal_degeneration", "mutilated_mime", "armygeddon")
    ],
    "electronic": [
        f"{_E}{s}.ogg"
        for s in (
            "race1-jt",
            "start1-jt",
            "credits1-cp",
            "freezingpoint",
            "spunkyrace-ks",
            "calmrace-ks",
        )
    ],
    "orchestral": [
        f"{_W}{s}.ogg"
        for s in (
            "battle-epic",
            "the_city_falls",
            "siege_of_laurelmor",
            "heroes_rite",
            "legends_of_the_north",
            "northerners",
            "weight_of_revenge",
            "breaking_the_chains",
            "casualties_of_war",
            "frantic",
            "loyalists",
            "the_dangerous_symphony",
        )
    ],
    "folk": [
        f"{_W}{s}.ogg"
        for s in (
            "traveling_minstrels",
            "knalgan_theme",
            "elvish-theme",
            "love_theme",
            "wanderer",
            "silvan_sanctuary",
            "journeys_end",
            "the_deep_path",
            "knolls",
            "nunc_dimittis",
        )
    ],
}
PACKAGES = ("wesnoth-1.16-music", "fretsonfire-songs-muldjord", "extremetuxracer-data")
#: (seed, number of segments) of each concatenation.
CASES = [(0, 4), (1, 5), (2, 6), (3, 4), (4, 5), (5, 6), (6, 4), (7, 5), (8, 6), (9, 5)]
#: Concatenations never looked at while the default's settings were chosen (``--set held-out``).
HELD_OUT_CASES = [(10, 4), (11, 5), (12, 6), (13, 4), (14, 5), (15, 6), (16, 5), (17, 4)]
#: A third set, scored once after the rule for the number of sections was chosen (``--set
#: fresh``): new seeds, and orchestral tracks not in GENRES (each tagged GENRE=Romantic
#: Classical in wesnoth-1.16-music's Vorbis comments).
FRESH_CASES = [(100, 4), (101, 5), (102, 6), (103, 4), (104, 5)]
FRESH_CASES += [(105, 6), (106, 4), (107, 5), (108, 6), (109, 5)]
FRESH_GENRES = {
    **GENRES,
    "orchestral": GENRES["orchestral"]
    + [
        f"{_W}{s}.ogg"
        for s in (
            "battle",
            "into_the_shadows",
            "northern_mountains",
            "return_to_wesnoth",
            "revelation",
            "suspense",
            "the_king_is_dead",
            "underground",
            "vengeful",
        )
    ],
}
#: A fourth set, built like ``fresh`` and scored once, at the very end of the layer study
#: (``layers``; ``--set final``).
FINAL_CASES = [(200 + i, 4 + i % 3) for i in range(12)]
_O = "/usr/share/games/openclonk/Music.ocg/"
_D = "/usr/share/freedroidrpg/data/sound/music/"
_S = "/usr/share/games/supertux2/music/"
_M = "/usr/share/games/marsshooter/audio/"
#: A new pool, never looked at while tuning: five genres from seven more packages
#: (UNSEEN_PACKAGES), with GENRES' metal and electronic tracks and three of FRESH_GENRES'
#: extra orchestral ones. Every genre comes from the tracks' Vorbis comments, titles or the
#: packages' own files, never from the audio. metal_rock: GENRE=Female Fronted Metal
#: (Obsidian Shell's album Elysia in marsshooter-data; the band's six untagged tracks of
#: Angelic Asylum there by ARTIST), GENRE=Rock (openclonk's Motorway, TheSkylands),
#: GENRE=Death Metal (muldjord). orchestral: GENRE=Orchestral (UrbanBolero), TITLE=Airship
#: Song Orchestral Mix, cave_old's COMMENTS (cello, concert harp, strings), GENRE=Romantic
#: Classical (wesnoth). electronic: GENRE=House (CrushedIceCocktail), GENRE=dnb
#: (freedroidrpg's temple), Bleostrada (ALBUM=kahvi, an electronica netlabel), noiz2sa's
#: loops (COMMENT=Made with Sonic Foundry ACID 3, a loop sequencer), extremetuxracer's as in
#: GENRES. ambient: GENRE=ambient (TheBeginning), GENRE=Ambient (LucidDream), the titles
#: Ambience and AmbientBattle. chiptune: TITLE=Mortimer's Chipdisko, greatgigantic (COMMENT:
#: based on Chris Huelsbeck's Giana Sisters theme, a C64 tune), btanks' gameboy (the title),
#: powermanga's music_game (its changelog: rewritten in MilkyTracker; sound/handheld_console).
UNSEEN_GENRES = {
    "metal_rock": [
        *[
            f"{_M}{s}.ogg"
            for s in (
                "menu",
                "tutorial",
                "music/01_-_Ezer_Ev",
                "music/06_-_Elveszett_Lelkek",
                "music/07_-_Vermocsar",
                "music/12_-_Misanthropia",
                "music/02_orphanage",
                "music/03_fear",
                "music/06_starfall",
                "music/08_second_birth",
                "music/09_wings_of_cruelty",
                "music/10_farewell",
            )
        ],
        f"{_O}Motorway.ogg",
        f"{_O}TheSkylands.ogg",
        *GENRES["metal"],
    ],
    "orchestral": [
        f"{_O}UrbanBolero.ogg",
        f"{_S}antarctic/airship_remix.ogg",
        f"{_S}retro/cave_old.ogg",
        *[f"{_W}{s}.ogg" for s in ("battle", "into_the_shadows", "northern_mountains")],
    ],
    "electronic": [
        f"{_O}@CrushedIceCocktail.ogg",
        f"{_D}temple.ogg",
        f"{_D}Bleostrada.ogg",
        *[f"/usr/share/games/noiz2sa/sounds/stg{i}.ogg" for i in (0, 1, 2, 3, 5)],
        *GENRES["electronic"],
    ],
    "ambient": [
        f"{_O}LucidDream.ogg",
        f"{_D}TheBeginning.ogg",
        f"{_D}Ambience.ogg",
        f"{_D}AmbientBattle.ogg",
    ],
    "chiptune": [
        f"{_S}antarctic/chipdisko.ogg",
        f"{_S}forest/greatgigantic.ogg",
        "/usr/share/games/btanks/data/tunes/gameboy.ogg",
        "/usr/share/games/powermanga/sound/handheld_console/music_game.ogg",
    ],
}
UNSEEN_PACKAGES = (
    "marsshooter-data",
    "openclonk-data",
    "freedroidrpg-data",
    "supertux-data",
    "btanks-data",
    "powermanga-data",
    "noiz2sa-data",
)
#: Two sets from UNSEEN_GENRES: ``unseen-dev`` for development, ``unseen-final`` held back
#: and scored once, at the very end. Consecutive segments differ in genre and, where the
#: genre has a track from another package, in package (``distinct_sources``).
UNSEEN_DEV_CASES = [(300 + i, 4 + i % 3) for i in range(12)]
UNSEEN_FINAL_CASES = [(400 + i, 4 + i % 3) for i in range(12)]
SETS = {
    "tuning": (CASES, GENRES, "latent_boundaries.json"),
    "held-out": (HELD_OUT_CASES, GENRES, "latent_boundaries_held_out.json"),
    "fresh": (FRESH_CASES, FRESH_GENRES, "latent_boundaries_fresh.json"),
    "final": (FINAL_CASES, FRESH_GENRES, "latent_boundaries_final.json"),
    "unseen-dev": (UNSEEN_DEV_CASES, UNSEEN_GENRES, "latent_boundaries_unseen-dev.json"),
    "unseen-final": (UNSEEN_FINAL_CASES, UNSEEN_GENRES, "latent_boundaries_unseen-final.json"),
}


# ------------------------------------------------------------------------------- data
def ensure_music() -> None:
    """Install the Debian music packages when missing (root), else say how."""
    pools = [*FRESH_GENRES.values(), *UNSEEN_GENRES.values()]
    missing = [p for paths in pools for p in paths if not Path(p).is_file()]
    if not missing:
        return
    packages = (*PACKAGES, *UNSEEN_PACKAGES)
    if shutil.which("apt-get") and hasattr(subprocess, "run"):
        print(f"installing {', '.join(packages)} (apt-get) for the real-music benchmark")
        subprocess.run(["apt-get", "install", "-y", *packages], check=False)
    missing = [p for paths in pools for p in paths if not Path(p).is_file()]
    if missing:
        sys.exit(
            f"{missing[0]} (and {len(missing) - 1} more) not found: run `make bench-music` "
            f"or `apt-get install -y {' '.join(packages)}` as root, then rerun."
        )


_TRACKS: dict[str, np.ndarray] = {}


def _track(path: str) -> np.ndarray:
    if path not in _TRACKS:
        _TRACKS[path] = load_audio(path, rate_hz=RATE_HZ).samples.astype(np.float64)
    return _TRACKS[path]


def _source(path: str) -> str:
    """The game a track comes from (the folder under /usr/share/games or /usr/share)."""
    parts = Path(path).parts
    return parts[4] if parts[3] == "games" else parts[3]


def build_case(
    seed: int,
    n_segments: int,
    *,
    fade_s: float = 0.05,
    genres: dict = GENRES,
    distinct_sources: bool = False,
):
    """One concatenation: samples, the true boundaries (s) and the segments' labels.

    ``distinct_sources`` takes each segment, where its genre allows, from another game
    than the segment before (the first sets were built without it).
    """
    rng = np.random.default_rng(seed)
    order: list[str] = []
    for _ in range(n_segments):
        choices = [g for g in genres if not order or g != order[-1]]
        order.append(choices[rng.integers(len(choices))])
    used, pieces, ends, labels = set(), [], [], []
    previous = ""  # the game of the segment before
    for genre in order:
        length = float(rng.uniform(20.0, 40.0))
        fits = [
            p for p in genres[genre] if p not in used and _track(p).size / RATE_HZ >= length + 10
        ]
        if distinct_sources:
            fits = [p for p in fits if _source(p) != previous] or fits
        path = fits[rng.integers(len(fits))]
        used.add(path)
        previous = _source(path)
        samples = _track(path)
        start = float(rng.uniform(5.0, samples.size / RATE_HZ - length - 5.0))
        first = int(start * RATE_HZ)
        segment = samples[first : first + int(length * RATE_HZ)].copy()
        segment *= 0.1 / np.sqrt(np.mean(segment**2))  # RMS-equalised
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, int(fade_s * RATE_HZ)))
        segment[: ramp.size] *= ramp
        segment[-ramp.size :] *= ramp[::-1]
        pieces.append(segment)
        name = Path(path).parent.name if path.endswith("song.ogg") else Path(path).stem
        labels.append(f"{genre}:{name}@{start:.0f}s")
        ends.append(sum(p.size for p in pieces) / RATE_HZ)
    return np.concatenate(pieces), np.array(ends[:-1]), labels


def _cache_path(prefix: str, seed: int, n_segments: int, genres: dict) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = "" if genres is GENRES else "_unseen" if genres is UNSEEN_GENRES else "_fresh"
    return CACHE / f"{prefix}{seed}_{n_segments}{tag}.npz"


def _case_audio(seed: int, n_segments: int, genres: dict):
    distinct = genres is UNSEEN_GENRES
    samples, boundaries, labels = build_case(
        seed, n_segments, genres=genres, distinct_sources=distinct
    )
    return audio_from_array(samples, RATE_HZ, source=f"case{seed}"), boundaries, labels


def case_latents(
    seed: int, n_segments: int, genres: dict = GENRES
) -> tuple[dict[str, TimeSeries], dict]:
    """Each encoder's default layer for one concatenation (cached under ~/.cache)."""
    path = _cache_path("case", seed, n_segments, genres)
    if not path.exists():
        audio, boundaries, labels = _case_audio(seed, n_segments, genres)
        layers = {}
        for name in ENCODERS:
            encoder = get_encoder(name)
            layers[name] = encoder.encode(audio)[encoder.default_layer]
        _save_case(path, layers, audio, boundaries, labels)
    return _load_case(path, ENCODERS)


def case_layers(
    seed: int, n_segments: int, genres: dict = GENRES
) -> tuple[dict[str, TimeSeries], dict]:
    """Every ``musicnn-msd`` layer and ``mel``'s, as the segmentation sees them (cached).

    The encoders' default settings (``get_encoder(name)``, as ``frisson run``); frame
    layers smoothed by :func:`frisson.structure.smooth_latent` and averaged to 2 Hz (what
    :func:`frisson.structure.significant_segmentation` does first), per-patch layers (one
    row per 2.992-s patch, too slow for the smoothing) as they come.
    """
    path = _cache_path("layers_case", seed, n_segments, genres)
    if not path.exists():
        audio, boundaries, labels = _case_audio(seed, n_segments, genres)
        embedding = dict(get_encoder("musicnn-msd").encode(audio).layers)
        mel = get_encoder("mel")
        embedding["mel"] = mel.encode(audio)[mel.default_layer]
        for name, layer in embedding.items():
            if layer.rate_hz * structure.POSTER_WINDOW_S >= 1.5:
                embedding[name] = _at_rate(structure.smooth_latent(layer), 2.0)
        _save_case(path, embedding, audio, boundaries, labels, layers=list(embedding))
    return _load_case(path)


def _save_case(path: Path, series: dict, audio, boundaries, labels, **extra) -> None:
    """Store a case's layers (float32 values, rate and start) and what scoring needs."""
    arrays = {}
    for name, layer in series.items():
        arrays[name] = layer.values.astype(np.float32)
        arrays[f"{name}_time"] = np.array([layer.rate_hz, layer.start_s])
    meta = {
        "boundaries_s": boundaries.tolist(),
        "labels": labels,
        "duration_s": audio.duration_s,
        **extra,
    }
    np.savez(path, meta=json.dumps(meta), **arrays)


def _load_case(path: Path, names=None) -> tuple[dict[str, TimeSeries], dict]:
    """A stored case's layers (``names``, default ``meta["layers"]``) and its meta."""
    stored = np.load(path)
    meta = json.loads(str(stored["meta"]))
    layers = {}
    for name in names or meta["layers"]:
        rate, start = stored[f"{name}_time"]
        layers[name] = TimeSeries(stored[name].astype(float), float(rate), start_s=float(start))
    return layers, meta


# ---------------------------------------------------------------------------- methods
def _at_rate(series: TimeSeries, rate_hz: float) -> TimeSeries:
    return series.resample(rate_hz) if rate_hz < series.rate_hz else series


def _standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-9)


def multi_pc_variance(pcs: TimeSeries, *, n_pcs: int = 5, window_s: float = 4.0) -> np.ndarray:
    """Peaks of the summed sliding variance of the first PCs (each scaled to unit SD)."""
    values = pcs.values[:, :n_pcs] / pcs.values[:, :n_pcs].std(axis=0)
    series = TimeSeries(values, pcs.rate_hz, start_s=pcs.start_s)
    window = max(2, round(window_s * series.rate_hz))
    window += 1 - window % 2
    curve = series.sliding_samples(window, 1, "var")
    summed = curve.replace(values=curve.values.sum(axis=1, keepdims=True), names=["variance"])
    times, _ = latent._pick_peaks(  # the peak picking of variance_transitions, same settings
        summed, min_distance_s=5.0, prominence=0.1, edge_s=5.0, bounds_s=(pcs.start_s, pcs.end_s)
    )
    return times


def _edges(series: TimeSeries) -> np.ndarray:
    """Where a section starting at each sample begins: half a sample before it (as the default)."""
    return series.times_s - 0.5 / series.rate_hz


def agglomerative(smoothed: TimeSeries, n_segments: int) -> np.ndarray:
    """librosa's agglomerative segmentation at 2 Hz, given the true number of segments."""
    import librosa

    series = _at_rate(smoothed, 2.0)
    bounds = librosa.segment.agglomerative(_standardised(series.values).T, n_segments)
    return _edges(series)[bounds[1:]]


def spectral_clustering(smoothed: TimeSeries, *, k_max: int = 10, min_segment_s: float = 5.0):
    """McFee & Ellis (2014) Laplacian segmentation (librosa's recipe) at 2 Hz, k by eigengap."""
    series = _at_rate(smoothed, 2.0)
    kept: list[float] = []
    for t in _edges(series)[structure.laplacian_boundaries(series.values, k_max=k_max)]:
        if not kept or t - kept[-1] >= min_segment_s:
            kept.append(float(t))
    return np.array(kept)


def kernel_true_k(smoothed: TimeSeries, n_segments: int) -> np.ndarray:
    """The default's kernel change points given the true number of segments (a ceiling)."""
    series = _at_rate(smoothed, 2.0)
    white = structure.whitened_latent(series.values, 12)
    bounds, _ = structure.optimal_partitions(structure.kernel_costs(white, 10), n_segments)
    return _edges(series)[bounds[n_segments - 1]]


METHODS = {
    "pc1_variance (poster's)": lambda sm, pca, n: latent.variance_transitions(pca.pcs).times_s,
    "foote_novelty (full latent)": lambda sm, pca, n: latent.novelty_transitions(sm).times_s,
    "multi_pc_variance (5 PCs)": lambda sm, pca, n: multi_pc_variance(pca.pcs),
    "librosa agglomerative (true k)": lambda sm, pca, n: agglomerative(sm, n),
    "spectral clustering (McFee-Ellis)": lambda sm, pca, n: spectral_clustering(sm),
    "tested segmentation (default: kernel change points, k by ratio or elbow)": lambda sm, pca, n: (
        structure.significant_segmentation(sm).times_s
    ),
    "tested segmentation, k by the gain ratio alone (former default)": lambda sm, pca, n: (
        structure.significant_segmentation(sm, sections="ratio").times_s
    ),
    "tested segmentation, Laplacian (previous default)": lambda sm, pca, n: (
        structure.significant_segmentation(sm, detector="laplacian").times_s
    ),
    "kernel change points (true k)": lambda sm, pca, n: kernel_true_k(sm, n),
    "step-down tested novelty, mean shift": lambda sm, pca, n: (
        structure.significant_transitions(pca.pcs).times_s
    ),
    "step-down tested novelty, Foote": lambda sm, pca, n: (
        structure.significant_transitions(pca.pcs, statistic="foote").times_s
    ),
}


def score_cases(cases: list[tuple[int, int]] = CASES, genres: dict = GENRES) -> list[dict]:
    """One row per case x encoder x method: F, precision, recall at 0.5 s and 3 s."""
    rows = []
    for seed, n_segments in cases:
        latents, meta = case_latents(seed, n_segments, genres)
        reference = np.array(meta["boundaries_s"])
        for encoder, layer in latents.items():
            smoothed = structure.smooth_latent(layer)
            pca = latent.trajectory_pca(smoothed, n_components=10)
            for method, detect in METHODS.items():
                found = detect(smoothed, pca, reference.size + 1)
                scores = latent.score_boundaries(found, reference, duration_s=meta["duration_s"])
                rows.append(
                    {
                        "case": f"case{seed}",
                        "segments": " | ".join(meta["labels"]),
                        "encoder": encoder,
                        "method": method,
                        "n_reference": int(reference.size),
                        "n_found": int(np.size(found)),
                        **{f"f_{s.window_s:g}s": round(s.f_measure, 4) for s in scores},
                        **{f"precision_{s.window_s:g}s": round(s.precision, 4) for s in scores},
                        **{f"recall_{s.window_s:g}s": round(s.recall, 4) for s in scores},
                    }
                )
        print(f"scored case{seed} ({n_segments} segments, {meta['duration_s']:.0f} s)", flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and minimum F per method x encoder."""
    out = []
    for method in METHODS:
        for encoder in ENCODERS:
            chosen = [r for r in rows if r["method"] == method and r["encoder"] == encoder]
            f05 = np.array([r["f_0.5s"] for r in chosen])
            f3 = np.array([r["f_3s"] for r in chosen])
            out.append(
                {
                    "method": method,
                    "encoder": encoder,
                    "n_cases": len(chosen),
                    "mean_f_0.5s": round(float(f05.mean()), 3),
                    "mean_f_3s": round(float(f3.mean()), 3),
                    "min_f_3s": round(float(f3.min()), 3),
                }
            )
    return out


# ----------------------------------------------------------------------------- layers
def _f3(found: np.ndarray, reference: np.ndarray, duration_s: float) -> tuple[float, float]:
    scores = latent.score_boundaries(found, reference, duration_s=duration_s)
    return round(scores[0].f_measure, 4), round(scores[1].f_measure, 4)


def layer_row(series: TimeSeries, reference: np.ndarray, duration_s: float) -> dict:
    """The default detector on one layer, its song p, k, and the kernel's best k-splits.

    ``bounds_by_k_s[k - 1]`` is the best k-section split as the default reports it
    (``min_segment_s`` apart, ``edge_s`` inside), so any rule for k can be scored
    offline; ``true_k`` scores the split with the true number of sections.
    """
    found = structure.significant_segmentation(series)
    params = found.params
    min_length = max(1, round(params["min_segment_s"] * series.rate_hz))
    white = structure.whitened_latent(series.values, params["n_dims"])
    bounds, total = structure.optimal_partitions(
        structure.kernel_costs(white, min_length), params["max_sections"]
    )
    by_k = [
        structure._kept_boundaries(series, b, params["min_segment_s"], params["edge_s"])
        for b in bounds
    ]
    n_true = reference.size + 1
    f05, f3 = _f3(found.times_s, reference, duration_s)
    return {
        "rate_hz": round(series.rate_hz, 4),
        "n_reference": int(reference.size),
        "p": params["song_p"],
        "n_candidates": int(found.candidates_s.size),
        "n_found": int(found.times_s.size),
        "k_ratio": structure.chosen_sections(total, rule="ratio"),
        "k_elbow": structure.chosen_sections(total),
        "f_0.5s": f05,
        "f_3s": f3,
        "f_3s_true_k": _f3(by_k[n_true - 1], reference, duration_s)[1],
        "f_3s_candidates": _f3(found.candidates_s, reference, duration_s)[1],
        "total_by_k": [float(t) for t in total],
        "bounds_by_k_s": [[round(float(t), 2) for t in b] for b in by_k],
    }


def score_layers(cases: list[tuple[int, int]], genres: dict) -> list[dict]:
    """One row per case x layer (every musicnn-msd layer, and mel's): :func:`layer_row`."""
    rows = []
    for seed, n_segments in cases:
        layers, meta = case_layers(seed, n_segments, genres)
        reference = np.array(meta["boundaries_s"])
        for name, series in layers.items():
            encoder = "mel" if name == "mel" else "musicnn-msd"
            row = {"case": f"case{seed}", "encoder": encoder, "layer": name}
            rows.append(row | layer_row(series, reference, meta["duration_s"]))
        print(f"layers of case{seed} ({n_segments} segments)", flush=True)
    return rows


def summarise_layers(rows: list[dict]) -> list[dict]:
    """Mean and minimum F(3 s) per layer: the default detector, its candidates, true k."""
    out = []
    for layer in dict.fromkeys(r["layer"] for r in rows):
        chosen = [r for r in rows if r["layer"] == layer]
        entry = {"layer": layer, "n_cases": len(chosen)}
        for key in ("f_3s", "f_3s_candidates", "f_3s_true_k"):
            values = np.array([r[key] for r in chosen])
            entry[f"mean_{key}"] = round(float(values.mean()), 3)
            entry[f"min_{key}"] = round(float(values.min()), 3)
        entry["n_failed_test"] = sum(r["p"] > 0.05 for r in chosen)
        entry["n_k_right"] = sum(r["n_candidates"] == r["n_reference"] for r in chosen)
        out.append(entry)
    return out


def _layer_table(name: str, summary: list[dict]) -> None:
    print(f"\n{name}: F(3 s) mean (min); default = tested segmentation, cand. = before the test")
    print(
        f"{'layer':12s} {'default':>12} {'candidates':>12} {'true k':>12} {'p > 0.05':>8} k right"
    )
    for r in summary:
        cells = [
            f"{r[f'mean_{key}']:.2f} ({r[f'min_{key}']:.2f})"
            for key in ("f_3s", "f_3s_candidates", "f_3s_true_k")
        ]
        print(
            f"{r['layer']:12s} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12} "
            f"{r['n_failed_test']:>8} {r['n_k_right']}/{r['n_cases']}"
        )


# ------------------------------------------------------------------------------- null
def null_rates(n_songs: int, *, duration_s: float = 60.0, seed: int = 0) -> list[dict]:
    """Share of stationary songs with any default transition (target: <= 5 %)."""
    rng = np.random.default_rng(seed)
    rows = []
    kinds = {
        "white noise (mel)": lambda r: r.standard_normal(int(duration_s * RATE_HZ)) * 0.1,
        "steady loop (mel)": lambda r: _loop(r, duration_s),
    }
    encoder = get_encoder("mel")
    for kind, make in kinds.items():
        hits = 0
        for i in range(n_songs):
            audio = audio_from_array(make(rng), RATE_HZ, source=f"{kind} {i}")
            smoothed = structure.smooth_latent(encoder.encode(audio)["logmel"])
            hits += structure.significant_segmentation(smoothed, seed=i).times_s.size > 0
        rows.append(
            {
                "signal": kind,
                "n_songs": n_songs,
                "songs_with_any": int(hits),
                "rate": round(hits / n_songs, 4),
            }
        )
        print(f"null {kind}: {hits}/{n_songs} songs with a default transition", flush=True)
    for tau_s in (0.5, 2.0, 5.0):
        hits, n_latent = 0, 4 * n_songs
        for i in range(n_latent):
            mixed = _ar1_latent(rng, duration_s, tau_s)
            hits += structure.significant_segmentation(mixed, seed=i).times_s.size > 0
        rows.append(
            {
                "signal": f"AR(1) latent, 16 sources mixed into 32 dims, tau {tau_s:g} s",
                "n_songs": n_latent,
                "songs_with_any": int(hits),
                "rate": round(hits / n_latent, 4),
            }
        )
        print(f"null AR(1) tau {tau_s:g} s: {hits}/{n_latent}", flush=True)
    return rows


def _loop(rng: np.random.Generator, duration_s: float) -> np.ndarray:
    """A 2-s bar (kick, hi-hat, a chord) repeated, with a little noise: stationary."""
    t = np.arange(int(2.0 * RATE_HZ)) / RATE_HZ
    bar = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 600, 3)) * 0.05
    for beat in range(4):
        onset = (t - beat * 0.5) % 2.0
        bar += 0.3 * np.sin(2 * np.pi * 60 * t) * np.exp(-onset / 0.08) * (onset < 0.4)
    loop = np.tile(bar, int(np.ceil(duration_s / 2.0)))[: int(duration_s * RATE_HZ)]
    return loop + 0.01 * rng.standard_normal(loop.size)


def _ar1_latent(rng: np.random.Generator, duration_s: float, tau_s: float) -> TimeSeries:
    """16 independent AR(1) sources mixed at random into 32 dimensions (21.5 Hz)."""
    from scipy.signal import lfilter

    rate = 44100 / 512 / 4
    phi = np.exp(-1 / (tau_s * rate))
    n = int(duration_s * rate)
    sources = lfilter([1.0], [1.0, -phi], rng.standard_normal((n + 500, 16)), axis=0)[500:]
    return TimeSeries(sources @ rng.standard_normal((16, 32)), rate)


def _measure(function):
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def bench(minutes: float, n_surrogates: int) -> list[dict]:
    n_sections = max(2, int(minutes * 60 / 16))
    piece = synth_piece(n_sections=n_sections, section_s=(14.0, 18.0), seed=0)
    encoder = get_encoder("mel")
    rows = []

    def stage(name, function):
        result, seconds, peak_mib = _measure(function)
        rows.append(
            {
                "audio_min": round(piece.audio.duration_s / 60, 2),
                "stage": name,
                "seconds": round(seconds, 3),
                "peak_mib": round(peak_mib, 1),
            }
        )
        return result

    embedding = stage("encode (mel)", lambda: encoder.encode(piece.audio)["logmel"])
    smoothed = stage("sliding mean", lambda: latent.sliding_mean(embedding))
    pca = stage("PCA", lambda: latent.trajectory_pca(smoothed))
    stage("clusters (k 2-8)", lambda: latent.cluster_trajectory(pca.pcs))
    stage("PC1-variance transitions", lambda: latent.variance_transitions(pca.pcs))
    stage("Foote novelty transitions", lambda: latent.novelty_transitions(pca.pcs))
    features = stage(
        "acoustic features", lambda: compute_features(piece.audio, rate_hz=pca.pcs.rate_hz)
    )
    stage(
        f"PC-feature tests ({n_surrogates} surrogates)",
        lambda: latent.feature_correlations(pca.pcs, features, n_surrogates=n_surrogates),
    )
    return rows


def _table(summary: list[dict]) -> None:
    print(f"\n{'method':72s} {'encoder':12s} {'F(0.5 s)':>9} {'F(3 s)':>7} {'min F(3 s)':>11}")
    for row in summary:
        print(
            f"{row['method']:72s} {row['encoder']:12s} {row['mean_f_0.5s']:>9.2f} "
            f"{row['mean_f_3s']:>7.2f} {row['min_f_3s']:>11.2f}"
        )


def _layers(names: list[str]) -> None:
    """Every musicnn-msd layer (and mel) per set, into ``latent_layers.json`` (sets merged)."""
    path = RESULTS / "latent_layers.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    sets = stored.get("sets", {})
    for name in names:
        cases, genres, _ = SETS[name]
        rows = score_layers(cases, genres)
        sets[name] = {"summary": summarise_layers(rows), "rows": rows}
    for name, result in sets.items():
        _layer_table(name, result["summary"])
    meta = machine(
        cases={name: [f"case{s}: {n} segments" for s, n in SETS[name][0]] for name in sets}
    )
    write_results(path, meta, sets=sets)


# ------------------------------------------------------------------------------ audit
#: librosa descriptors of the audio, none from a frisson encoder: loudness (dB),
#: brightness (log spectral centroid), rhythmic activity (onset strength) and the
#: percussive share of the energy (HPSS).
DESCRIPTORS = ("rms_db", "log_centroid", "onset_strength", "percussive_share")
AUDIT_WINDOW_S = 5.0


def audio_descriptors(samples: np.ndarray, rate_hz: float) -> tuple[np.ndarray, float]:
    """The four :data:`DESCRIPTORS` at 2 Hz (``(n_frames, 4)``, each z-scored) and their rate."""
    import librosa

    y = samples.astype(np.float32)
    hop = int(rate_hz / 2.0)
    frame = 2 * hop
    rms = librosa.feature.rms(y=y, frame_length=frame, hop_length=hop)[0]
    centroid = librosa.feature.spectral_centroid(y=y, sr=rate_hz, n_fft=frame, hop_length=hop)[0]
    onset = librosa.onset.onset_strength(y=y, sr=rate_hz, hop_length=hop)
    _, percussive = librosa.effects.hpss(y)
    percussive_rms = librosa.feature.rms(y=percussive, frame_length=frame, hop_length=hop)[0]
    n = min(rms.size, centroid.size, onset.size, percussive_rms.size)
    values = np.column_stack(
        [
            20 * np.log10(rms[:n] + 1e-6),
            np.log(centroid[:n] + 1.0),
            onset[:n],
            percussive_rms[:n] / (rms[:n] + 1e-6),
        ]
    )
    return _standardised(values), rate_hz / hop


def descriptor_change(values: np.ndarray, rate_hz: float, times_s: np.ndarray) -> np.ndarray:
    """RMS over descriptors of the change of mean from the 5 s before to the 5 s after each time."""
    half = int(AUDIT_WINDOW_S * rate_hz)
    out = []
    for t in np.atleast_1d(times_s):
        i = round(float(t) * rate_hz)
        before, after = values[max(0, i - half) : i], values[i : i + half]
        if before.shape[0] < half // 2 or after.shape[0] < half // 2:
            out.append(np.nan)
            continue
        out.append(float(np.sqrt(np.mean((after.mean(axis=0) - before.mean(axis=0)) ** 2))))
    return np.array(out)


def audit_case(seed: int, n_segments: int, genres: dict) -> list[dict]:
    """Each default boundary of one case (both encoders) against the audio's own changes.

    Every time inside a segment, at least the audit window from its ends, is a
    baseline; a boundary's ``percentile`` is the share of those times whose
    descriptor change is below its own. A found boundary within 3 s of a true
    one is a ``hit``, within 3-5 s a ``near`` miss, else ``extra``; the true
    boundaries are scored too (``reference``).
    """
    audio, reference, _ = _case_audio(seed, n_segments, genres)
    values, rate = audio_descriptors(audio.samples, RATE_HZ)
    duration_s = audio.duration_s
    grid = np.arange(AUDIT_WINDOW_S, duration_s - AUDIT_WINDOW_S, 1.0 / rate)
    inside = grid[np.min(np.abs(grid[:, None] - reference[None]), axis=1) >= AUDIT_WINDOW_S]
    baseline = descriptor_change(values, rate, inside)
    baseline = np.sort(baseline[np.isfinite(baseline)])

    def rows_for(times, kind_of, encoder):
        change = descriptor_change(values, rate, times)
        return [
            {
                "case": f"case{seed}",
                "encoder": encoder,
                "time_s": round(float(t), 2),
                "kind": kind_of(t),
                "change": round(float(c), 3),
                "percentile": round(100 * np.searchsorted(baseline, c) / baseline.size, 1),
            }
            for t, c in zip(times, change, strict=True)
            if np.isfinite(c)
        ]

    def kind(t):
        distance = float(np.min(np.abs(reference - t)))
        return "hit" if distance <= 3.0 else "near" if distance <= AUDIT_WINDOW_S else "extra"

    rows = rows_for(reference, lambda t: "reference", "audio")
    latents, _ = case_latents(seed, n_segments, genres)
    for encoder, layer in latents.items():
        found = structure.significant_segmentation(structure.smooth_latent(layer)).times_s
        rows += rows_for(found, kind, encoder)
    return rows


def summarise_audit(rows: list[dict]) -> list[dict]:
    """Per kind x encoder: count, median percentile, share above the 90th percentile."""
    out = []
    for encoder in ("audio", *ENCODERS):
        for kind in ("reference", "hit", "near", "extra"):
            chosen = np.array(
                [r["percentile"] for r in rows if r["encoder"] == encoder and r["kind"] == kind]
            )
            if chosen.size:
                out.append(
                    {
                        "encoder": encoder,
                        "kind": kind,
                        "n": int(chosen.size),
                        "median_percentile": round(float(np.median(chosen)), 1),
                        "above_90th": round(float(np.mean(chosen >= 90)), 3),
                    }
                )
    return out


def _audit(names: list[str]) -> None:
    """Audit every case of the sets, print the summary, write ``latent_audit.json``."""
    rows = []
    for name in names:
        cases, genres, _ = SETS[name]
        for seed, n_segments in cases:
            rows += [{"set": name, **row} for row in audit_case(seed, n_segments, genres)]
            print(f"audited case{seed}", flush=True)
    summary = summarise_audit(rows)
    print(f"{'encoder':<12} {'kind':<10} {'n':>4} {'median pct':>11} {'>= 90th':>8}")
    for row in summary:
        print(
            f"{row['encoder']:<12} {row['kind']:<10} {row['n']:>4} "
            f"{row['median_percentile']:>11.1f} {100 * row['above_90th']:>7.0f}%"
        )
    meta = machine(sets=names, descriptors=list(DESCRIPTORS), window_s=AUDIT_WINDOW_S)
    write_results(RESULTS / "latent_audit.json", meta, summary=summary, rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what",
        nargs="?",
        choices=["boundaries", "nulls", "speed", "layers", "audit"],
        default="boundaries",
    )
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.5, 5.0])
    parser.add_argument("--n-surrogates", type=int, default=1000)
    parser.add_argument("--null-songs", type=int, default=40, help="stationary songs per signal")
    parser.add_argument(
        "--set",
        choices=list(SETS),
        default="tuning",
        help="the 10 concatenations the settings were chosen on, 8 held-out ones, 10 fresh "
        "ones scored once at the end, ...; unseen-dev / unseen-final: 12 each from a new pool "
        "of packages (unseen-final held back, scored once); no null run but for tuning",
    )
    parser.add_argument(
        "--layer-sets",
        nargs="+",
        choices=list(SETS),
        default=["tuning", "held-out", "fresh"],
        help="the sets of `layers` (final: once, at the end)",
    )
    parser.add_argument(
        "--audit-sets",
        nargs="+",
        choices=list(SETS),
        default=["unseen-dev", "unseen-final"],
        help="the sets of `audit` (each default boundary against the audio's own changes)",
    )
    args = parser.parse_args()
    if args.what == "speed":
        get_encoder("mel").encode(synth_piece(n_sections=2, section_s=(3, 3)).audio)  # warm up
        rows = [row for minutes in args.minutes for row in bench(minutes, args.n_surrogates)]
        print(f"{'audio (min)':>11}  {'stage':<36} {'seconds':>8} {'peak MiB':>9}")
        for row in rows:
            print(
                f"{row['audio_min']:>11.2f}  {row['stage']:<36} "
                f"{row['seconds']:>8.3f} {row['peak_mib']:>9.1f}"
            )
        write_results(RESULTS / "latent.json", machine(), rows=rows)
        return
    if args.what == "nulls":  # the null alone, into the existing results
        path = RESULTS / "latent_boundaries.json"
        stored = json.loads(path.read_text())
        stored["null"] = null_rates(args.null_songs)
        stored["meta"] = machine(cases=stored["meta"].get("cases", []))
        write_results(path, stored.pop("meta"), **stored)
        return
    ensure_music()
    if args.what == "layers":
        _layers(args.layer_sets)
        return
    if args.what == "audit":
        _audit(args.audit_sets)
        return
    cases, genres, name = SETS[args.set]
    rows = score_cases(cases, genres)
    summary = summarise(rows)
    _table(summary)
    results = {"summary": summary}
    if args.set == "tuning":
        # --null-songs 0 keeps the stored null (the song-wise test it measures is
        # unchanged by the rule that counts the sections after it passes).
        stored = RESULTS / name
        keep = args.null_songs == 0 and stored.exists()
        results["null"] = (
            json.loads(stored.read_text())["null"] if keep else null_rates(args.null_songs)
        )
    write_results(
        RESULTS / name,
        machine(cases=[f"case{s}: {n} segments" for s, n in cases]),
        **results,
        rows=rows,
    )


if __name__ == "__main__":
    main()
