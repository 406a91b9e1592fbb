"""The ``frisson`` command: parses arguments, calls the library, prints a summary.

Diagnostics go to stderr, data files to ``--out``. Errors frisson raises on
purpose (bad files, bad parameters) end the command with a one-line message
and exit status 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from frisson import __version__
from frisson.encoders import DEFAULT_ENCODER
from frisson.structure import POSTER_HOP_S, POSTER_WINDOW_S

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: ``--scheduler`` of embed, run and encode (frisson.distributed; the TOML key ``scheduler``).
SCHEDULER_OPTION = click.option(
    "--scheduler",
    default=None,
    envvar="FRISSON_SCHEDULER",
    show_envvar=True,
    metavar="SPEC",
    help="Run the tasks on Dask: local:N (N workers here), tcp://host:port or a scheduler "
    "file [default: the TOML's scheduler, else in this process; needs frisson[dask]].",
)


def abort(message: str, code: int = 1) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="frisson")
@click.option("-v", "--verbose", count=True, help="More log messages (-v info, -vv debug).")
@click.option("-q", "--quiet", count=True, help="Fewer messages (only errors).")
def main(verbose: int, quiet: int) -> None:
    """Frisson: what in the music moves the listener.

    Encode music with neural audio encoders, analyse each song's latent
    trajectory, and relate it to listeners' physiology and ratings.
    """
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("frisson").setLevel(max(logging.DEBUG, min(logging.ERROR, level)))


@main.command(context_settings=CONTEXT)
@click.argument("song", type=click.Path(path_type=Path))
@click.option(
    "--encoder",
    default=DEFAULT_ENCODER,
    show_default=True,
    help="Encoder name (see `frisson encoders`); `mel` is the fast non-neural baseline.",
)
@click.option("--layer", default=None, help="Encoder layer [default: the encoder's default layer].")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: <song stem>_frisson next to the song].",
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TSV/CSV of known boundaries (column time_s) to score the transitions against.",
)
@click.option(
    "--window-s",
    "window_s",
    type=float,
    default=POSTER_WINDOW_S,
    show_default=f"{POSTER_WINDOW_S:.4g}",
    help="Sliding-mean window (s; the poster's 100 DAC frames), rounded to encoder frames.",
)
@click.option(
    "--hop-s",
    "hop_s",
    type=float,
    default=POSTER_HOP_S,
    show_default=f"{POSTER_HOP_S:.3g}",
    help="Sliding-mean hop (s; the poster's 4 DAC frames), rounded to encoder frames.",
)
@click.option("--n-components", default=10, show_default=True, help="PCs kept.")
@click.option(
    "--variance-window",
    "variance_window_s",
    default=4.0,
    show_default=True,
    help="Window of the PC1 sliding variance (s).",
)
@click.option(
    "--min-distance",
    "min_distance_s",
    default=5.0,
    show_default=True,
    help="Minimum time between transitions (s).",
)
@click.option(
    "--edge",
    "edge_s",
    default=5.0,
    show_default=True,
    help="Ignore transitions this close to the song's start or end (s).",
)
@click.option(
    "--max-lag",
    "max_lag_s",
    default=2.0,
    show_default=True,
    help="PC-feature correlations tried at lags -max-lag..+max-lag (s).",
)
@click.option(
    "--n-surrogates",
    default=1000,
    show_default=True,
    help="Surrogates per PC-feature correlation test.",
)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Embedding store (Zarr) to read the layer from and write it to, e.g. the one "
    "`frisson embed` fills; reanalysing with other settings then skips the encoder.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of clustering and surrogates.")
def analyze(
    song: Path,
    encoder: str,
    layer: str | None,
    out_dir: Path | None,
    reference: Path | None,
    window_s: float,
    hop_s: float,
    n_components: int,
    variance_window_s: float,
    min_distance_s: float,
    edge_s: float,
    max_lag_s: float,
    n_surrogates: int,
    store_dir: Path | None,
    seed: int,
) -> None:
    """Latent-trajectory analysis of one SONG.

    Writes pcs.tsv (time, PC1..k, cluster), transitions.tsv (time, strength,
    method), feature_correlations.tsv (pc, feature, lag_s, r, p corrected over every
    PC x feature x lag, p_uncorrected) and latent.png
    to the output folder, and prints a summary.

    Example: frisson analyze song.ogg --out results/song   (or --encoder mel)
    """
    from frisson.errors import FrissonError
    from frisson.pipelines.song import analyze_song, read_boundaries
    from frisson.report.song import write_song_analysis
    from frisson.store import EmbeddingStore

    out_dir = out_dir or song.with_name(f"{song.stem}_frisson")
    try:
        boundaries = None if reference is None else read_boundaries(reference)
        result = analyze_song(
            song,
            encoder=encoder,
            layer=layer,
            window_s=window_s,
            hop_s=hop_s,
            n_components=n_components,
            variance_window_s=variance_window_s,
            min_distance_s=min_distance_s,
            edge_s=edge_s,
            lag_range_s=(-max_lag_s, max_lag_s),
            n_surrogates=n_surrogates,
            reference_boundaries_s=boundaries,
            store=None if store_dir is None else EmbeddingStore(store_dir),
            seed=seed,
        )
        written = write_song_analysis(result, out_dir)
    except FrissonError as error:
        abort(str(error))
    except OSError as error:  # read-only folder, disk full: earlier files stay as they were
        reason = error.strerror or str(error)
        abort(
            f"{out_dir}: cannot write the results there ({reason}); free space or choose "
            "another folder with --out."
        )
    click.echo(result.summary())
    click.echo(f"wrote {len(written)} files to {out_dir}/: " + ", ".join(p.name for p in written))


@main.command("synth-piece", context_settings=CONTEXT)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sections", "n_sections", default=6, show_default=True, help="Number of sections.")
@click.option(
    "--min-section", "min_section_s", default=12.0, show_default=True, help="Shortest section (s)."
)
@click.option(
    "--max-section", "max_section_s", default=20.0, show_default=True, help="Longest section (s)."
)
@click.option("--rate", "rate_hz", default=22050.0, show_default=True, help="Sampling rate (Hz).")
@click.option(
    "--seed", default=0, show_default=True, help="Seed; the same seed gives the same audio."
)
def synth_piece_command(
    out: Path,
    n_sections: int,
    min_section_s: float,
    max_section_s: float,
    rate_hz: float,
    seed: int,
) -> None:
    """Generate a multi-section test piece with known boundaries.

    Writes OUT (WAV) and OUT's stem + _boundaries.tsv (column time_s), to test
    transition detection or run the demo offline.

    Example: frisson synth-piece demo/piece.wav --sections 6 --seed 0
    """
    from frisson.errors import FrissonError
    from frisson.simulate import synth_piece

    try:
        piece = synth_piece(
            n_sections=n_sections,
            section_s=(min_section_s, max_section_s),
            rate_hz=rate_hz,
            seed=seed,
        )
        table = piece.write(out)
    except FrissonError as error:
        abort(str(error))
    bounds = ", ".join(f"{t:.2f}" for t in piece.boundaries_s)
    click.echo(
        f"wrote {out} ({piece.audio.duration_s:.1f} s, boundaries at {bounds} s) and {table}"
    )


@main.command(context_settings=CONTEXT)
@click.option("--brief", is_flag=True, help="Names and descriptions only.")
def encoders(brief: bool) -> None:
    """List every registered encoder: input rate, layers (rate, start, width), weights.

    Layers are time series: 'rate' is rows per second, 'start' the time of the
    first row's centre. [ready] means the encoder runs offline as installed or
    cached; others need `frisson fetch NAME` once (with internet). Any
    transformers audio model is also available as hf:<repo-id>.
    """
    from frisson._optional import MissingExtraError
    from frisson.encoders import DEFAULT_ENCODER, describe_encoder, list_encoders

    for name, description in list_encoders().items():
        default = " (default)" if name == DEFAULT_ENCODER else ""
        try:
            info = describe_encoder(name)
        except MissingExtraError as error:  # e.g. the codecs without frisson[codecs]
            click.echo(f"{name}{default}: {description} [unavailable: {error}]\n")
            continue
        cached = "ready" if info.weights_available else "not cached: frisson fetch " + name
        click.echo(f"{name}{default}: {description} [{cached}]")
        if brief:
            continue
        click.echo(
            f"  input {info.input_rate_hz:g} Hz mono; weights: {info.weights}; "
            f"default layer: {info.default_layer}"
        )
        if not info.layers:
            click.echo("  layers: listed once the model's config is fetched\n")
            continue
        click.echo(f"  {'layer':<12} {'rate (Hz)':>10} {'start (s)':>10} {'width':>6}  what")
        for layer in info.layers:
            click.echo(
                f"  {layer.name:<12} {layer.rate_hz:>10.4g} {layer.start_s:>10.3f} "
                f"{layer.n_features:>6}  {layer.description}"
            )
        click.echo("")


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="musicnn only: a downloaded musicnn-0.1.0-py3-none-any.whl (or its folder) "
    "[env var: FRISSON_MUSICNN_WHEEL; default: pip download from the package index].",
)
def fetch(names: tuple[str, ...], source: Path | None) -> None:
    """Download and cache the weights of the encoders NAMES (needs internet).

    Encoders never download while encoding: fetch once, then they run offline.
    Hugging Face models go to the Hugging Face cache (HF_HUB_CACHE), others to
    FRISSON_HOME (default ~/.cache/frisson). `musicnn` unpacks the default
    encoder's four checkpoints (musicnn-msd/-mtt, vgg-msd/-mtt) from the
    published musicnn==0.1.0 wheel, hash-checked; nothing is installed.

    Example: frisson fetch musicnn dac-44khz vggish hf:m-a-p/MERT-v1-95M
    """
    from frisson.encoders import fetch_encoder
    from frisson.encoders.musicnn import fetch_musicnn
    from frisson.errors import FrissonError

    if source is not None and names != ("musicnn",):
        abort("--from applies to `frisson fetch musicnn` alone; fetch other encoders apart.")
    for name in names:
        try:
            if name == "musicnn":
                click.echo(f"musicnn: checkpoints in {fetch_musicnn(source)}")
            else:
                click.echo(fetch_encoder(name))
        except FrissonError as error:
            abort(str(error))


@main.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--store",
    "store_dir",
    required=True,
    envvar="FRISSON_STORE",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Embedding store folder (created if missing).",
)
@click.option(
    "--encoder",
    default=DEFAULT_ENCODER,
    show_default=True,
    help="Encoder name (see `frisson encoders`).",
)
@click.option(
    "--layers",
    multiple=True,
    help="Layers to store, comma-separated or repeated [default: all of the encoder's].",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Encoder setting, e.g. --param patch_hop_s=1.0 (part of the cache key; repeatable).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr [default: when stderr is a terminal].",
)
@SCHEDULER_OPTION
def embed(
    paths: tuple[Path, ...],
    store_dir: Path,
    encoder: str,
    layers: tuple[str, ...],
    params: tuple[str, ...],
    progress: bool | None,
    scheduler: str | None,
) -> None:
    """Encode audio files (and folders, recursively) into an embedding store.

    Each file is keyed by its content (SHA-256), the encoder, its settings and
    the frisson version; what is already stored is skipped, so an interrupted
    run resumes where it stopped. A bad file does not stop the run: every
    failure is listed at the end and the exit status is 1.

    Example: frisson embed music/ extra.mp3 --store embeddings.zarr --layers cnn3,taggram
    """
    from frisson.errors import FrissonError
    from frisson.store import embed as embed_files

    wanted = [name.strip() for item in layers for name in item.split(",") if name.strip()]
    try:
        report = embed_files(
            paths,
            store=store_dir,
            encoder=encoder,
            layers=wanted or None,
            encoder_params=_parse_params(params),
            progress_bar=progress,
            scheduler=scheduler,
        )
    except FrissonError as error:
        abort(str(error))
    except OSError as error:  # a store that cannot be written: what was stored stays valid
        reason = error.strerror or str(error)
        abort(
            f"{store_dir}: cannot write to the embedding store ({reason}); free space or "
            "choose another --store."
        )
    click.echo(report.summary())
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) failed:", err=True)
        for failure in report.failed:
            click.echo(f"  {failure.error}", err=True)
        sys.exit(1)


def _parse_params(items: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs; values parsed as JSON when they can be (numbers, true, null)."""
    import json

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            abort(f"--param {item!r}: expected KEY=VALUE, e.g. patch_hop_s=1.0")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


@main.command(context_settings=CONTEXT)
def features() -> None:
    """List the acoustic features computed by `frisson analyze`."""
    from frisson.features import list_features

    for name in list_features():
        click.echo(name)


@main.command("demo-stimuli", context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--pieces", "n_pieces", default=7, show_default=True, help="Number of pieces.")
@click.option(
    "--seed", default=0, show_default=True, help="Seed; the same seed gives the same audio."
)
def demo_stimuli_command(out_dir: Path, n_pieces: int, seed: int) -> None:
    """Write the demo stimuli: generated multi-section pieces of 60-90 s with known boundaries.

    Example: frisson demo-stimuli demo/stimuli
    """
    from frisson.errors import FrissonError
    from frisson.simulate import write_demo_stimuli

    try:
        paths = write_demo_stimuli(out_dir, n_pieces=n_pieces, seed=seed)
    except FrissonError as error:
        abort(str(error))
    click.echo(f"wrote {len(paths)} pieces (and their _boundaries.tsv) to {out_dir}/")


@main.command(context_settings=CONTEXT)
@click.option(
    "--stimuli",
    "stimuli_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of stimulus audio files.",
)
@click.option(
    "--participants",
    "n_participants",
    default=10,
    show_default=True,
    help="Number of simulated participants.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Study folder to create.",
)
@click.option(
    "--effect-size",
    default=1.0,
    show_default=True,
    help="How strongly the music drives responses (0 = no effect).",
)
@click.option(
    "--physio-rate",
    "physio_rate_hz",
    default=100.0,
    show_default=True,
    help="Sampling rate of skin conductance and PPG (Hz).",
)
@click.option(
    "--eda-noise",
    "eda_noise_us",
    default=0.01,
    show_default=True,
    help="White noise on skin conductance (uS).",
)
@click.option("--no-ratings", is_flag=True, help="Do not simulate continuous ratings.")
@click.option(
    "--null-family",
    default=None,
    type=click.Choice(
        [
            "clean",
            "realistic",
            "shared_scrs",
            "onset_habituation",
            "loudness",
            "heterogeneity_artefacts",
            "all",
        ]
    ),
    help="Start from an effect-free study emphasising one confound family "
    "(frisson.simulate.NULL_FAMILIES); --effect-size still applies.",
)
@click.option("--overwrite", is_flag=True, help="Replace the study if OUT exists and is not empty.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random draw.")
def simulate(
    stimuli_dir: Path,
    n_participants: int,
    out_dir: Path,
    effect_size: float,
    physio_rate_hz: float,
    eda_noise_us: float,
    no_ratings: bool,
    null_family: str | None,
    overwrite: bool,
    seed: int,
) -> None:
    """Simulate a BIDS listening study with known ground truth from a folder of stimuli.

    Skin conductance, PPG, chill reports and ratings respond to each stimulus'
    own section boundaries (STEM_boundaries.tsv beside the audio, as written by
    `frisson synth-piece` and `frisson demo-stimuli`), never to what an
    analysis detects, plus realistic confounds independent of the boundaries
    (song-shared SCRs, onset responses, habituation, drift, loudness-driven
    responses, artefacts). The truth goes to OUT/derivatives/ground_truth/.

    Example: frisson simulate --stimuli demo/stimuli --participants 40 --out demo/study
    """
    import dataclasses
    import shutil

    from frisson.errors import FrissonError
    from frisson.simulate import StudyParams, null_params, simulate_study

    base = StudyParams() if null_family is None else null_params(null_family)
    try:
        params = dataclasses.replace(
            base,
            n_participants=n_participants,
            effect_size=effect_size,
            physio_rate_hz=physio_rate_hz,
            eda_noise_us=eda_noise_us,
            ratings_rate_hz=None if no_ratings else 5.0,
        )
        if out_dir.exists() and any(out_dir.iterdir()):
            if not overwrite:
                abort(
                    f"{out_dir}: exists and is not empty; choose a new folder or pass "
                    "--overwrite to replace the study."
                )
            if not (out_dir / "dataset_description.json").is_file():
                abort(f"{out_dir}: not a study folder (no dataset_description.json); not replaced.")
            shutil.rmtree(out_dir)
        result = simulate_study(stimuli_dir, out_dir, params=params, seed=seed)
    except FrissonError as error:
        abort(str(error))
    n_scr = int(result.scr_onsets["evoked"].sum()) if len(result.scr_onsets) else 0
    click.echo(
        f"wrote {out_dir}/: {n_participants} participants x {len(result.drives)} stimuli, "
        f"{n_scr} boundary-locked SCRs (truth in {out_dir}/derivatives/ground_truth/)"
    )


@main.command("simulate-fmri", context_settings=CONTEXT)
@click.option(
    "--stimuli",
    "stimuli_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of stimulus audio files (one run per stimulus).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Study folder to create (an encode.toml is written beside it).",
)
@click.option("--participants", "n_participants", default=4, show_default=True)
@click.option(
    "--encoder",
    default=DEFAULT_ENCODER,
    show_default=True,
    help="Encoder whose layers drive the voxels (synthetic-layers: random layers, no audio model).",
)
@click.option(
    "--layers", default=None, help="Comma-separated layers that drive voxels [default: all]."
)
@click.option("--shape", default="8,8,5", show_default=True, help="Volume shape in voxels, i,j,k.")
@click.option("--snr", default=0.5, show_default=True, help="Signal to noise variance ratio.")
@click.option(
    "--responsive-fraction", default=0.5, show_default=True, help="Share of voxels that respond."
)
@click.option("--tr", "tr_s", default=1.0, show_default=True, help="Repetition time (s).")
@click.option("--seed", default=0, show_default=True, help="Seed of every random draw.")
def simulate_fmri(
    stimuli_dir: Path,
    out_dir: Path,
    n_participants: int,
    encoder: str,
    layers: str | None,
    shape: str,
    snr: float,
    responsive_fraction: float,
    tr_s: float,
    seed: int,
) -> None:
    """Simulate BOLD runs whose voxels follow known encoder layers (for tests and power).

    Each brain voxel is driven by one planted layer (a gradient along j)
    through the canonical HRF plus AR(1) noise; the truth goes to
    OUT/derivatives/ground_truth/. Also writes OUT.parent/encode.toml, ready
    for `frisson encode`, whose best layers can be checked against the truth.

    Example: frisson simulate-fmri --stimuli demo/stimuli --out fmri/study && frisson encode
    fmri/encode.toml
    """
    from frisson.errors import FrissonError
    from frisson.simulate import FmriParams, simulate_fmri_study

    try:
        volume_shape = tuple(int(n) for n in shape.split(","))
        if len(volume_shape) != 3:
            raise ValueError
    except ValueError:
        abort(f"--shape must be three integers like 8,8,5, got {shape!r}.")
    chosen = tuple(name.strip() for name in layers.split(",")) if layers else None
    params = FmriParams(
        n_participants=n_participants,
        volume_shape=volume_shape,
        tr_s=tr_s,
        snr=snr,
        responsive_fraction=responsive_fraction,
        layers=chosen,
    )
    try:
        result = simulate_fmri_study(
            stimuli_dir, out_dir, params=params, encoder=encoder, seed=seed
        )
    except FrissonError as error:
        abort(str(error))
    toml = out_dir.parent / "encode.toml"
    layer_list = ", ".join(f'"{name}"' for name in result.layers)
    toml.write_text(
        "[encode]\n"
        f'study = "{out_dir.name}"\n'
        f'output = "{out_dir.name}_encoding"\n'
        'target = "bold"\n'
        f'encoder = "{encoder}"\n'
        f"layers = [{layer_list}]\n"
        f'mask = "{out_dir.name}/derivatives/atlas/brain_mask.nii.gz"\n'
    )
    n_responsive = int(result.responsive.sum())
    click.echo(
        f"wrote {out_dir}/: {n_participants} participants, {int(result.mask.sum())} brain voxels "
        f"({n_responsive} responsive) driven by {len(result.layers)} layers of {encoder}; "
        f"run `frisson encode {toml}`"
    )


@main.command(context_settings=CONTEXT)
@click.argument(
    "config_path", metavar="STUDY_TOML", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a non-empty output folder that frisson did not create.",
)
@click.option(
    "--transitions",
    "transition_method",
    default=None,
    metavar="METHOD",
    help="Transitions the epochs lock to: tested_novelty (kernel change points that pass "
    "the song-wise test), pc1_variance (the poster's) or foote_novelty [default: the "
    "TOML's transition_method, else tested_novelty].",
)
@SCHEDULER_OPTION
def run(
    config_path: Path, overwrite: bool, transition_method: str | None, scheduler: str | None
) -> None:
    """Run the chills-study analyses configured in STUDY_TOML.

    Embedding -> latent trajectory -> physiology -> transition-locked epochs ->
    inter-subject correlation -> CNN -> evaluation -> report. Steps are cached
    in <output>/cache, so a rerun recomputes only what changed. A minimal
    file is a [run] table with study = "<BIDS folder>", output = "<folder>"
    and encoder = "musicnn-msd"; `frisson demo` writes a complete one.
    """
    from frisson.errors import FrissonError
    from frisson.pipelines.chills import RunConfig, run_study
    from frisson.report.study_report import write_study_report

    try:
        config = _with_options(
            RunConfig.from_toml(config_path),
            scheduler=scheduler,
            transition_method=transition_method,
        )
        results = run_study(config, overwrite=overwrite)
        results.files = write_study_report(results, config.output)
    except FrissonError as error:
        abort(str(error))
    except OSError as error:  # read-only folder, disk full: cached steps stay valid
        _abort_unwritable(config.output, error)
    click.echo(results.summary())
    click.echo(f"report: {config.output / 'report.html'}")


@main.command(context_settings=CONTEXT)
@click.argument(
    "config_path", metavar="STUDY_TOML", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr [default: when stderr is a terminal].",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a non-empty output folder that frisson did not create.",
)
@SCHEDULER_OPTION
def encode(
    config_path: Path, progress: bool | None, overwrite: bool, scheduler: str | None
) -> None:
    """Fit layer-wise encoding models configured in STUDY_TOML ([encode] table).

    Every encoder layer -> features on each run's timeline -> delayed ridge
    predicting BOLD voxels/ROIs, ratings or physiology, leave-one-run-out ->
    layer profiles (r, p, FDR q, best layer) as tables, figures and NIfTI maps.
    Steps are cached in <output>/cache. A minimal file is an [encode] table
    with study = "<BIDS folder>", output = "<folder>" and target = "bold".
    mode = "glm" fits the brain-emotion GLM (BOLD on the ratings' absolute
    derivatives, group sign-flip test); mode = "isc" gives leave-one-out
    inter-subject correlation of the target per voxel/ROI/channel.
    """
    from frisson.errors import FrissonError
    from frisson.pipelines.encoding import EncodeConfig, run_encoding
    from frisson.report.encoding_report import write_encoding_report

    try:
        config = _with_options(EncodeConfig.from_toml(config_path), scheduler=scheduler)
        if config.mode != "layers":
            _encode_mode(config, overwrite)
            return
        results = run_encoding(config, overwrite=overwrite, progress_bar=progress)
        results.files = write_encoding_report(results, config.output)
    except FrissonError as error:
        abort(str(error))
    except OSError as error:
        _abort_unwritable(config.output, error)
    click.echo(results.summary())


def _encode_mode(config, overwrite: bool) -> None:
    """``frisson encode`` in mode glm or isc: run, write the report, print the summary."""
    from frisson.pipelines import run_emotion_glm, run_study_isc
    from frisson.report.encoding_maps import write_glm_report, write_isc_report

    if config.mode == "glm":
        results = run_emotion_glm(config, overwrite=overwrite)
        results.files = write_glm_report(results, config.output)
    else:
        results = run_study_isc(config, overwrite=overwrite)
        results.files = write_isc_report(results, config.output)
    click.echo(results.summary())
    click.echo(f"report: {config.output / 'report.html'}")


@main.command(context_settings=CONTEXT)
@click.option(
    "--out",
    "out_dir",
    default=Path("demo_output"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for everything.",
)
@click.option(
    "--participants",
    "n_participants",
    default=40,
    show_default=True,
    help="Simulated participants (30 train / 10 test for the CNN at 40).",
)
@click.option("--encoder", default=DEFAULT_ENCODER, show_default=True, help="Encoder analysed.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random step.")
def demo(out_dir: Path, n_participants: int, encoder: str, seed: int) -> None:
    """The main job, offline: simulate the demo study and run every analysis on it.

    Writes 7 generated pieces (60-90 s) to OUT/stimuli, simulates a BIDS study
    of N participants whose physiology responds to each piece's own section
    boundaries, with realistic confounds (OUT/study, ground truth in
    OUT/study/derivatives), runs the chills-study analyses with the pretrained
    musicnn encoder and writes OUT/results/report.html.
    """
    from frisson.errors import FrissonError
    from frisson.pipelines.chills import RunConfig, run_study
    from frisson.report.study_report import write_study_report
    from frisson.simulate import StudyParams, simulate_study, write_demo_stimuli

    try:
        stimuli = out_dir / "stimuli"
        if not any(stimuli.glob("*.wav")):
            write_demo_stimuli(stimuli, seed=seed)
        study = out_dir / "study"
        if not (study / "participants.tsv").is_file():
            simulate_study(
                stimuli, study, params=StudyParams(n_participants=n_participants), seed=seed
            )
        config = RunConfig(
            study=study.resolve(),
            output=(out_dir / "results").resolve(),
            encoder=encoder,
            # cvxEDA would take ~15 minutes for 40 participants on 2 cores; the demo's budget is 10.
            decomposition="highpass",
            seed=seed,
        )
        (out_dir / "study.toml").write_text(_config_toml(config))
        results = run_study(config)
        results.files = write_study_report(results, config.output)
    except FrissonError as error:
        abort(str(error))
    click.echo(results.summary())
    click.echo(
        f"report: {config.output / 'report.html'}  (rerun: frisson run {out_dir / 'study.toml'})"
    )


def _with_options(config, **options: str | None):
    """The configuration with the command line's options (those given) in place of its TOML's."""
    import dataclasses

    given = {name: value for name, value in options.items() if value is not None}
    if not given:
        return config
    config = dataclasses.replace(config, **given)
    config.check()
    return config


def _abort_unwritable(output: Path, error: OSError) -> None:
    reason = error.strerror or str(error)
    abort(
        f"{output}: cannot write there ({reason}); free space or set another output folder "
        "(cached steps already written stay valid)."
    )


def _config_toml(config) -> str:
    lines = ["[run]"]
    for key, value in config.to_dict().items():
        if key in ("encoder_params", "cnn") or value is None:
            continue
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, list | tuple):
            items = ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in value)
            lines.append(f"{key} = [{items}]")
        else:
            lines.append(f"{key} = {value!r}")
    return "\n".join(lines) + "\n"


@main.group(context_settings=CONTEXT)
def study() -> None:
    """Work with BIDS-style listening studies."""


@study.command("validate", context_settings=CONTEXT)
@click.argument("root", type=click.Path(path_type=Path))
def study_validate(root: Path) -> None:
    """List every problem of the study in ROOT; exit 1 if any is an error.

    Example: frisson study validate demo/study
    """
    from frisson.errors import FrissonError
    from frisson.study import read_study

    try:
        problems = read_study(root).validate()
    except FrissonError as error:
        abort(str(error))
    for problem in problems:
        click.echo(str(problem))
    n_errors = sum(p.severity == "error" for p in problems)
    click.echo(f"{root}: {n_errors} error(s), {len(problems) - n_errors} warning(s)", err=True)
    if n_errors:
        sys.exit(1)


@study.command("init", context_settings=CONTEXT)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", default="my listening study", show_default=True, help="Dataset name.")
def study_init(folder: Path, name: str) -> None:
    """Write a documented template study in FOLDER (README, stimuli/, sourcedata/, manifest).

    Example: frisson study init my_study
    """
    from frisson.errors import FrissonError
    from frisson.study import init_study

    try:
        root = init_study(folder, name=name)
    except (FrissonError, OSError) as error:
        abort(str(error))
    click.echo(
        f"wrote {root}: put the audio in stimuli/, the recordings in sourcedata/, one row per "
        f"recording in code/import.tsv, then: frisson study import {root}/code/import.tsv "
        f"--out {root}"
    )


@study.command("import", context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Study folder to write (may be an init_study folder).",
)
@click.option(
    "--stimuli",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of the audio files, copied to stimuli/.",
)
@click.option("--name", default="frisson study", show_default=True, help="Dataset name.")
def study_import(manifest: Path, out_dir: Path, stimuli: Path | None, name: str) -> None:
    """Write a BIDS study from MANIFEST, a table with one row per raw recording.

    Lab formats (Empatica E4, OpenSignals/BITalino, XDF, EDF+, AcqKnowledge, WFDB,
    tables) are detected; see frisson.study.import_study for the columns.

    Example: frisson study import code/import.tsv --out my_study --stimuli audio/
    """
    from frisson.errors import FrissonError
    from frisson.study import import_study, read_study

    try:
        root = import_study(manifest, out_dir, stimuli=stimuli, name=name)
        problems = read_study(root).validate()
    except (FrissonError, OSError) as error:
        abort(str(error))
    n_errors = sum(p.severity == "error" for p in problems)
    click.echo(f"wrote {root}: {n_errors} error(s), {len(problems) - n_errors} warning(s)")
    if n_errors:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
