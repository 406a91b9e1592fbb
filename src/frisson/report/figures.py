"""Figures of one song's latent-trajectory analysis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from frisson.pipelines.song import SongAnalysis

__all__ = ["plot_latent"]

_METHOD_STYLE = {
    "pc1_variance": {"color": "tab:red", "linestyle": "-", "label": "transition (PC1 variance)"},
    "foote_novelty": {
        "color": "tab:purple",
        "linestyle": ":",
        "label": "transition (Foote novelty)",
    },
}


def plot_latent(result: SongAnalysis) -> Figure:
    """The latent trajectory of one song in five panels.

    1. log-mel spectrogram with reference boundaries (if known);
    2. PC1 and PC2 over time, with detected transitions and clusters as a colour band;
    3. the sliding variance of PC1 (and the Foote novelty) with their peaks;
    4. the PC1-PC2 plane coloured by time;
    5. the PC1-PC2 plane coloured by cluster.

    Parameters
    ----------
    result : SongAnalysis
        Output of :func:`frisson.pipelines.analyze_song`.

    Returns
    -------
    matplotlib.figure.Figure
        Not shown; save it with ``savefig``.

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(12, 12), layout="constrained")
    grid = figure.add_gridspec(4, 2, height_ratios=[1.1, 1.0, 0.8, 1.6])
    ax_spec = figure.add_subplot(grid[0, :])
    ax_pcs = figure.add_subplot(grid[1, :], sharex=ax_spec)
    ax_var = figure.add_subplot(grid[2, :], sharex=ax_spec)
    ax_time = figure.add_subplot(grid[3, 0])
    ax_cluster = figure.add_subplot(grid[3, 1], sharex=ax_time, sharey=ax_time)

    spec = result.spectrogram
    extent = (spec.start_s, spec.end_s, 0, spec.n_channels)
    ax_spec.imshow(
        spec.values.T,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap="magma",
        vmin=np.percentile(spec.values, 5),
        vmax=spec.values.max(),
    )
    ax_spec.set_ylabel("mel band (low to high)")
    ax_spec.set_title(
        f"{Path(str(result.source)).name}  ({result.encoder}: {result.layer})", loc="left"
    )
    if result.reference_boundaries_s is not None:
        for t in result.reference_boundaries_s:
            ax_spec.axvline(t, color="white", linestyle="--", linewidth=1.2)
        ax_spec.plot([], [], color="white", linestyle="--", label="reference boundary")
        ax_spec.legend(loc="upper right", fontsize=8, facecolor="0.3", labelcolor="white")

    pcs = result.pca.pcs
    times = pcs.times_s
    evr = result.pca.explained_variance_ratio
    for index, color in ((0, "black"), (1, "tab:blue")):
        if index < pcs.n_channels:
            ax_pcs.plot(
                times,
                pcs.values[:, index],
                color=color,
                linewidth=1,
                label=f"PC{index + 1} ({100 * evr[index]:.0f} %)",
            )
    labels = result.clusters.labels.values[:, 0]
    cmap = plt.get_cmap("tab10")
    low, high = ax_pcs.get_ylim()
    ax_pcs.scatter(times, np.full(times.size, low), c=cmap(labels % 10), marker="|", s=60)
    ax_pcs.set_ylim(low - 0.05 * (high - low), high)
    for method, found in result.transitions.items():
        style = _METHOD_STYLE.get(method, {"color": "gray", "linestyle": "-", "label": method})
        for i, t in enumerate(found.times_s):
            ax_pcs.axvline(
                t,
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=1.2,
                label=style["label"] if i == 0 else None,
            )
    ax_pcs.set_ylabel("PC score (embedding units)")
    ax_pcs.legend(loc="upper right", fontsize=8, ncols=2)

    variance = result.transitions["pc1_variance"]
    ax_var.plot(variance.curve.times_s, variance.curve.values[:, 0], color="tab:red", linewidth=1)
    peaks = variance.curve.index_at(variance.times_s)
    ax_var.plot(variance.times_s, variance.curve.values[peaks, 0], "v", color="tab:red")
    ax_var.set_ylabel("PC1 variance (PC units²)", color="tab:red")
    window = variance.params["window_s"]
    ax_var.set_title(f"sliding variance of PC1 ({window:.1f}-s window)", loc="left", fontsize=9)
    if "foote_novelty" in result.transitions:
        novelty = result.transitions["foote_novelty"].curve
        ax_nov = ax_var.twinx()
        ax_nov.plot(
            novelty.times_s, novelty.values[:, 0], color="tab:purple", linewidth=0.8, alpha=0.7
        )
        ax_nov.set_ylabel("Foote novelty", color="tab:purple")
    ax_var.set_xlabel("time (s)")
    ax_var.set_xlim(0, result.duration_s)

    pc1, pc2 = pcs.values[:, 0], pcs.values[:, 1] if pcs.n_channels > 1 else np.zeros(pcs.n_times)
    ax_time.plot(pc1, pc2, color="0.85", linewidth=0.5, zorder=0)
    points = ax_time.scatter(pc1, pc2, c=times, cmap="viridis", s=6)
    figure.colorbar(points, ax=ax_time, label="time (s)")
    ax_time.set_xlabel("PC1")
    ax_time.set_ylabel("PC2")
    ax_time.set_title("trajectory in the PC1-PC2 plane", loc="left", fontsize=9)
    ax_cluster.scatter(pc1, pc2, c=cmap(labels % 10), s=6)
    for k, centre in enumerate(result.clusters.centers):
        ax_cluster.annotate(str(k), centre[:2], fontsize=11, weight="bold", ha="center")
    ax_cluster.set_xlabel("PC1")
    ax_cluster.set_title(_cluster_title(result.clusters), loc="left", fontsize=9)
    return figure


def _cluster_title(clusters) -> str:
    """How k was chosen: the gap statistic against surrogates (with its p) or the silhouette."""
    k = clusters.n_clusters
    if hasattr(clusters, "gap_by_k"):
        verdict = "beats" if clusters.beats_null else "does not beat"
        return f"k-means clusters (k = {k} by gap; {verdict} the null, p = {clusters.p:.2g})"
    return f"k-means clusters (k = {k}, by silhouette)"
