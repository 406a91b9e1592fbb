"""The files of one song's analysis: tables and the latent figure (``frisson analyze``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from frisson._io import atomic_write

if TYPE_CHECKING:
    from frisson.pipelines.song import SongAnalysis

__all__ = ["write_song_analysis"]


def write_song_analysis(result: SongAnalysis, out_dir: str | os.PathLike) -> list[Path]:
    """Write the tables and the figure of one song's analysis.

    Files: ``pcs.tsv`` (time_s, PC1..PCk, cluster), ``transitions.tsv``
    (time_s, strength, method, p, default: every method's transitions; ``p`` is
    the song-wise max-statistic p of the default detector's candidates, empty
    for untested methods; ``default`` is true for the transitions reported and
    used downstream), ``clusters.tsv`` (k, gap, gap_sd, silhouette, chosen),
    ``feature_correlations.tsv`` (pc, feature,
    lag_s, r, p corrected over the song's tests, p_uncorrected), ``latent.png``,
    and ``boundary_scores.tsv`` when reference boundaries were given. Each file
    is written to a temporary name and renamed, so an interrupted run never
    leaves a half-written file.

    Parameters
    ----------
    result : SongAnalysis
        From :func:`frisson.pipelines.analyze_song`.
    out_dir : path
        The folder (created).

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import tempfile
    >>> from frisson.pipelines import analyze_song
    >>> from frisson.simulate import synth_piece
    >>> song = analyze_song(synth_piece(n_sections=3, seed=0).audio, encoder="mel",
    ...                     n_surrogates=19)
    >>> sorted(p.name for p in write_song_analysis(song, tempfile.mkdtemp()))[:3]
    ['clusters.tsv', 'feature_correlations.tsv', 'latent.png']

    """
    import pandas as pd

    from frisson.report.figures import plot_latent

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pcs = result.pca.pcs.to_frame()
    pcs["cluster"] = result.clusters.labels.values[:, 0]
    tables = {
        "pcs.tsv": pcs,
        "transitions.tsv": _transitions_table(result),
        "clusters.tsv": _clusters_table(result),
        "feature_correlations.tsv": result.correlations.to_frame(),
    }
    if result.boundary_scores:
        tables["boundary_scores.tsv"] = pd.DataFrame(
            [
                {
                    "method": method,
                    "window_s": s.window_s,
                    "precision": s.precision,
                    "recall": s.recall,
                    "f_measure": s.f_measure,
                }
                for method, scores in result.boundary_scores.items()
                for s in scores
            ]
        )
    written = []
    for name, table in tables.items():
        written.append(
            atomic_write(
                out / name,
                lambda p, t=table: t.to_csv(p, sep="\t", index=False, float_format="%.10g"),
            )
        )
    figure = plot_latent(result)
    written.append(
        atomic_write(out / "latent.png", lambda p: figure.savefig(p, dpi=110, format="png"))
    )
    import matplotlib.pyplot as plt

    plt.close(figure)
    return written


def _transitions_table(result: SongAnalysis):
    """Rows of every method; ``p`` empty and ``default`` false for untested methods."""
    import numpy as np
    import pandas as pd

    frames = []
    for found in result.transitions.values():
        frame = found.to_frame()
        if "p" not in frame:
            frame["p"] = np.nan
            frame["default"] = False
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    return table[["time_s", "strength", "method", "p", "default"]]


def _clusters_table(result: SongAnalysis):
    import pandas as pd

    clusters = result.clusters
    gap = getattr(clusters, "gap_by_k", {})
    sd = getattr(clusters, "gap_sd_by_k", {})
    ks = sorted(set(gap) | set(clusters.silhouette_by_k))
    return pd.DataFrame(
        {
            "k": ks,
            "gap": [gap.get(k) for k in ks],
            "gap_sd": [sd.get(k) for k in ks],
            "silhouette": [clusters.silhouette_by_k.get(k) for k in ks],
            "chosen": [k == clusters.n_clusters for k in ks],
        }
    )
