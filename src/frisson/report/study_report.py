"""Tables, figures and the self-contained ``report.html`` of a study run."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frisson._io import atomic_write
from frisson.report._files import write_figure, write_table

if TYPE_CHECKING:
    from frisson.pipelines.chills import StudyResults

__all__ = ["write_study_report"]


def plot_epochs(result) -> object:
    """Poster-style figure: transition-locked vs control skin conductance, mean +- SE."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    t = result.times_s
    for mean, se, label, color in (
        (result.events_mean, result.events_se, "after latent transitions", "tab:red"),
        (result.control_mean, result.control_se, "after random moments (control)", "0.4"),
    ):
        ax.plot(t, mean, color=color, label=label)
        ax.fill_between(t, mean - se, mean + se, color=color, alpha=0.25, linewidth=0)
    for start, end, _, p in result.clusters:
        if p < 0.05:
            ax.axvspan(start, end, color="gold", alpha=0.3, label=f"cluster p = {p:.3f}")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("time from event (s)")
    ax.set_ylabel("skin conductance (z, baseline t < 0)")
    ax.set_title(f"n = {result.n_participants} participants", loc="left", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    return figure


def plot_isc(isc_results: dict) -> object:
    """Sliding ISC per stimulus with its transitions."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = max(1, len(isc_results))
    figure, axes = plt.subplots(
        n, 1, figsize=(9, 1.8 * n + 0.6), layout="constrained", squeeze=False
    )
    for ax, (name, entry) in zip(axes[:, 0], isc_results.items(), strict=False):
        series = entry["sliding"].isc
        ax.plot(series.times_s, series.values[:, 0], color="tab:blue", linewidth=1)
        significant = entry["sliding"].p_fwe < 0.05
        ax.scatter(
            series.times_s[significant], series.values[significant, 0], s=8, color="tab:blue"
        )
        for t in entry.get("transitions", []):
            ax.axvline(t, color="tab:red", linewidth=0.8, linestyle=":")
        ax.set_ylabel("ISC")
        ax.set_title(
            f"{name}: mean ISC {entry['isc'].mean:.2f} (p = {entry['isc'].p:.3f}); "
            "dots: windows with FWE p < 0.05; dotted: transitions",
            loc="left",
            fontsize=8,
        )
    axes[-1, 0].set_xlabel("time from stimulus onset (s)")
    return figure


def plot_predictions(predictions: dict, limit: int = 6) -> object:
    """Predicted vs true phasic skin conductance for held-out participants."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    items = list(predictions.items())[:limit]
    n = max(1, len(items))
    figure, axes = plt.subplots(
        n, 1, figsize=(9, 1.7 * n + 0.6), layout="constrained", squeeze=False
    )
    for ax, ((participant, stimulus), (predicted, true)) in zip(axes[:, 0], items, strict=False):
        ax.plot(true.times_s, true.values[:, 0], color="0.3", linewidth=0.9, label="true")
        ax.plot(
            predicted.times_s,
            predicted.values[:, 0],
            color="tab:orange",
            linewidth=1.1,
            label="predicted",
        )
        ax.set_title(f"sub-{participant}, {stimulus}", loc="left", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time from stimulus onset (s)")
    return figure


def write_study_report(results: StudyResults, output: str | os.PathLike) -> list[Path]:
    """Write the run's tables, figures and ``report.html`` (self-contained, opens offline).

    Returns
    -------
    list of Path
        The files written.

    """
    import pandas as pd

    from frisson.report.song import write_song_analysis

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    figures: list[tuple[str, Path, str]] = []
    for name, song in results.songs.items():
        folder = out / "songs" / Path(name).stem
        song_files = write_song_analysis(song, folder)
        written += song_files
        figures.append(
            (
                f"Latent trajectory: {name}",
                folder / "latent.png",
                "Spectrogram, PC1/PC2 with transitions and clusters, PC1 sliding variance, "
                "PC1-PC2 plane.",
            )
        )
    transitions = pd.concat(
        [
            s.transitions["pc1_variance"].to_frame().assign(stimulus=n)
            for n, s in results.songs.items()
        ],
        ignore_index=True,
    )
    written.append(
        write_table(
            out / "transitions.tsv", transitions[["stimulus", "time_s", "strength", "method"]]
        )
    )
    sections: list[str] = []
    if results.epochs is not None:
        e = results.epochs
        course = pd.DataFrame(
            {
                "time_s": e.times_s,
                "events_mean": e.events_mean,
                "events_se": e.events_se,
                "control_mean": e.control_mean,
                "control_se": e.control_se,
                "t": e.t_values,
                "cohens_dz": e.cohens_dz,
            }
        )
        written.append(write_table(out / "epochs_timecourse.tsv", course))
        written.append(write_table(out / "epochs_clusters.tsv", e.to_frame()))
        path = write_figure(out / "epochs.png", plot_epochs(e))
        written.append(path)
        figures.insert(
            0,
            (
                "Transition-locked skin conductance vs control",
                path,
                f"{results.epoch_counts.get('events', 0)} transition epochs and "
                f"{results.epoch_counts.get('controls', 0)} control epochs; paired cluster "
                f"permutation test ({e.n_permutations} sign flips).",
            ),
        )
        sections.append(_html_table("Clusters (events - control)", e.to_frame()))
    if results.isc:
        rows = []
        for name, entry in results.isc.items():
            near = entry.get("near")
            rows.append(
                {
                    "stimulus": name,
                    "isc": entry["isc"].mean,
                    "p": entry["isc"].p,
                    "isc_near_transitions": near.near_mean if near else np.nan,
                    "isc_elsewhere": near.far_mean if near else np.nan,
                    "p_near": near.p if near else np.nan,
                }
            )
            entry["transitions"] = results.songs[name].transitions["pc1_variance"].times_s
        table = pd.DataFrame(rows)
        written.append(write_table(out / "isc.tsv", table))
        path = write_figure(out / "isc.png", plot_isc(results.isc))
        written.append(path)
        figures.append(
            (
                "Inter-subject correlation over time",
                path,
                "Leave-one-out ISC of phasic skin conductance in sliding windows; "
                "p-values from independently circularly shifted participants.",
            )
        )
        sections.append(_html_table("Inter-subject correlation per stimulus", table))
    if results.cnn is not None:
        table = results.cnn.to_frame()
        written.append(write_table(out / "cnn_evaluation.tsv", table))
        summary = results.cnn.summary()
        written.append(write_table(out / "cnn_summary.tsv", summary))
        sections.insert(
            0,
            _html_table("CNN evaluation on held-out participants: per model", summary)
            + "<p>Median Pearson r over songs between the prediction and the mean of the "
            "held-out participants' phasic skin conductance; Fisher's combined p of per-song "
            "p-values from phase-randomised surrogates. <i>mismatched songs</i>: song A's "
            "prediction scored against the responses to song B. <i>held-out songs</i>: "
            "predicted by models that never heard the song.</p>" + _html_table("Per song", table),
        )
        if results.predictions:
            path = write_figure(out / "predictions.png", plot_predictions(results.predictions))
            written.append(path)
            figures.append(
                (
                    "Predicted vs true phasic skin conductance (held-out participants)",
                    path,
                    "The CNN sees 12.8 s of the embedding per window.",
                )
            )
    settings = out / "settings.json"
    settings.write_text(json.dumps(results.config.to_dict(), indent=2, default=str))
    written.append(settings)
    report = out / "report.html"
    atomic_write(report, lambda p: Path(p).write_text(_html(results, sections, figures)))
    written.append(report)
    return written


def _html_table(title: str, frame) -> str:
    body = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t")
    return f"<h2>{html.escape(title)}</h2>\n{body}"


def _html(results: StudyResults, sections: list[str], figures: list[tuple[str, Path, str]]) -> str:
    from frisson import __version__

    images = []
    for title, path, caption in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        images.append(
            f"<figure><h3>{html.escape(title)}</h3><img src='data:image/png;base64,{data}' "
            f"alt='{html.escape(title)}'><figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    config = results.config
    layer = next((song.layer for song in results.songs.values()), config.layer or "default")
    summary = html.escape(results.summary())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>frisson report: {html.escape(config.study.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 1.6em; }}
table.t {{ border-collapse: collapse; font-size: 0.9em; }}
table.t td, table.t th {{ padding: 0.2em 0.7em; border-bottom: 1px solid #eee;
  text-align: right; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>frisson report: {html.escape(str(config.study))}</h1>
<p>Encoder <b>{html.escape(config.encoder)}</b>
(layer {html.escape(str(layer))}),
frisson {html.escape(__version__)}, seed {config.seed}.</p>
<h2>Summary</h2><pre>{summary}</pre>
{"".join(sections)}
<h2>Figures</h2>
{"".join(images)}
<h2>Settings</h2><pre>{html.escape(json.dumps(config.to_dict(), indent=2, default=str))}</pre>
</body></html>
"""
