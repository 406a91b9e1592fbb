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

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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
    "--encoder", default="mel", show_default=True, help="Encoder name (see `frisson encoders`)."
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
    "--window-frames", default=100, show_default=True, help="Sliding-mean window (frames)."
)
@click.option("--hop-frames", default=4, show_default=True, help="Sliding-mean hop (frames).")
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
@click.option("--seed", default=0, show_default=True, help="Seed of clustering and surrogates.")
def analyze(
    song: Path,
    encoder: str,
    layer: str | None,
    out_dir: Path | None,
    reference: Path | None,
    window_frames: int,
    hop_frames: int,
    n_components: int,
    variance_window_s: float,
    min_distance_s: float,
    edge_s: float,
    max_lag_s: float,
    n_surrogates: int,
    seed: int,
) -> None:
    """Latent-trajectory analysis of one SONG.

    Writes pcs.tsv (time, PC1..k, cluster), transitions.tsv (time, strength,
    method), feature_correlations.tsv (pc, feature, lag_s, r, p) and latent.png
    to the output folder, and prints a summary.

    Example: frisson analyze song.ogg --encoder mel --out results/song
    """
    from frisson.errors import FrissonError
    from frisson.pipeline import analyze_song, read_boundaries, write_song_analysis

    out_dir = out_dir or song.with_name(f"{song.stem}_frisson")
    try:
        boundaries = None if reference is None else read_boundaries(reference)
        result = analyze_song(
            song,
            encoder=encoder,
            layer=layer,
            window_frames=window_frames,
            hop_frames=hop_frames,
            n_components=n_components,
            variance_window_s=variance_window_s,
            min_distance_s=min_distance_s,
            edge_s=edge_s,
            lag_range_s=(-max_lag_s, max_lag_s),
            n_surrogates=n_surrogates,
            reference_boundaries_s=boundaries,
            seed=seed,
        )
        written = write_song_analysis(result, out_dir)
    except FrissonError as error:
        abort(str(error))
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
def encoders() -> None:
    """List the available encoders."""
    from frisson.encoders import list_encoders

    for name, description in list_encoders().items():
        click.echo(f"{name:<16} {description}")


@main.command(context_settings=CONTEXT)
def features() -> None:
    """List the acoustic features computed by `frisson analyze`."""
    from frisson.features import list_features

    for name in list_features():
        click.echo(name)


if __name__ == "__main__":  # pragma: no cover
    main()
