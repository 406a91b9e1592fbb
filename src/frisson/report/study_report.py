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
    """Transition-locked vs pseudo-transition skin conductance over songs, and their difference.

    Left: mean over songs (each song first averaged over its listeners) of the
    transition-locked and the control-locked epoch, +- SE over songs. Right: the
    per-song differences (thin), their mean with a 95 % t band over songs, the
    summary window and the clusters with p < .05.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from scipy import stats

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    t = result.times_s
    n = result.n_songs
    for curves, label, color in (
        (result.song_events, "after latent transitions", "tab:red"),
        (result.song_control, "after pseudo-transitions (control)", "0.4"),
    ):
        mean = curves.mean(axis=0)
        se = curves.std(axis=0, ddof=1) / np.sqrt(n)
        left.plot(t, mean, color=color, label=label)
        left.fill_between(t, mean - se, mean + se, color=color, alpha=0.25, linewidth=0)
    left.set_ylabel("skin conductance (z, baseline t < 0)")
    left.set_title(
        f"mean +- SE over {n} songs ({result.n_participants} listeners)", loc="left", fontsize=9
    )
    left.legend(fontsize=8, loc="upper left")
    for curve in result.song_differences:
        right.plot(t, curve, color="tab:blue", alpha=0.25, linewidth=0.8)
    half = stats.t.ppf(0.975, max(n - 1, 1)) * result.se_difference
    right.plot(t, result.mean_difference, color="tab:blue", label="mean over songs")
    right.fill_between(
        t,
        result.mean_difference - half,
        result.mean_difference + half,
        color="tab:blue",
        alpha=0.2,
        linewidth=0,
        label="95 % CI over songs",
    )
    low, high = result.summary_window_s
    right.axvspan(low, high, color="0.85", alpha=0.5, zorder=0, label="summary window")
    for start, end, _, p in result.clusters:
        if p < 0.05:
            right.axvspan(start, end, color="gold", alpha=0.3, label=f"cluster p = {p:.3f}")
    right.axhline(0, color="black", linewidth=0.6)
    right.set_ylabel("transition - control (z)")
    right.set_title(
        f"effect {result.effect:+.3f} [{result.ci[0]:+.3f}, {result.ci[1]:+.3f}], "
        f"p = {result.p:.3g} over songs",
        loc="left",
        fontsize=9,
    )
    right.legend(fontsize=7, loc="upper left")
    for ax in (left, right):
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("time from event (s)")
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


def plot_predictions(predictions: dict, limit: int = 7) -> object:
    """Per song: the prediction against the held-out participants' mean (+- SD) phasic SC."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    by_song: dict[str, list] = {}
    for (_, stimulus), (predicted, true) in predictions.items():
        by_song.setdefault(stimulus, [predicted, []])[1].append(true)
    items = list(by_song.items())[:limit]
    n = max(1, len(items))
    figure, axes = plt.subplots(
        n, 1, figsize=(9, 1.7 * n + 0.6), layout="constrained", squeeze=False
    )
    for ax, (stimulus, (predicted, truths)) in zip(axes[:, 0], items, strict=False):
        grid = predicted.times_s
        values = np.array([np.interp(grid, t.times_s, t.values[:, 0]) for t in truths])
        mean, sd = values.mean(axis=0), values.std(axis=0)
        ax.fill_between(grid, mean - sd, mean + sd, color="0.8", linewidth=0, label="+- SD")
        ax.plot(grid, mean, color="0.3", linewidth=0.9, label=f"mean of {len(truths)} held out")
        ax.plot(grid, predicted.values[:, 0], color="tab:orange", linewidth=1.1, label="predicted")
        ax.set_title(stimulus, loc="left", fontsize=8)
        ax.set_ylabel("phasic SC (z)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right", ncols=3)
    axes[-1, 0].set_xlabel("time from stimulus onset (s)")
    return figure


def write_study_report(results: StudyResults, output: str | os.PathLike) -> list[Path]:
    """Write the run's tables, figures and ``report.html`` (self-contained, opens offline).

    Parameters
    ----------
    results : StudyResults
        From :func:`frisson.pipelines.run_study`.
    output : path
        The output folder (usually ``results.config.output``).

    Returns
    -------
    list of Path
        The files written.

    """
    import pandas as pd

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Path, str]] = []
    sections: list[str] = []
    written = _write_songs(results, out, figures)
    if results.epochs is not None:
        written += _write_epochs(results, out, figures, sections)
    if results.isc:
        written += _write_isc(results, out, figures, sections)
    if results.cnn is not None:
        written += _write_cnn(results, out, figures, sections)
    if results.left_out:
        left_out = pd.DataFrame(results.left_out)
        written.append(write_table(out / "left_out.tsv", left_out))
        sections.append(_html_table("Left out of the analyses", left_out))
    settings = out / "settings.json"
    record = {**results.config.to_dict(), "used": results.used}
    atomic_write(settings, lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)))
    written.append(settings)
    report = out / "report.html"
    atomic_write(report, lambda p: Path(p).write_text(_html(results, sections, figures)))
    written.append(report)
    return written


def _write_songs(results: StudyResults, out: Path, figures: list) -> list[Path]:
    """Each song's tables and latent figure, and the study's transitions table."""
    import pandas as pd

    from frisson.report.song import write_song_analysis
    from frisson.study import stimulus_stem

    written: list[Path] = []
    for name, song in results.songs.items():
        folder = out / "songs" / stimulus_stem(name)
        written += write_song_analysis(song, folder)
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
    columns = ["stimulus", "time_s", "strength", "method"]
    written.append(write_table(out / "transitions.tsv", transitions[columns]))
    return written


def _write_isc(results: StudyResults, out: Path, figures: list, sections: list) -> list[Path]:
    import pandas as pd

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
    path = write_figure(out / "isc.png", plot_isc(results.isc))
    figures.append(
        (
            "Inter-subject correlation over time",
            path,
            "Leave-one-out ISC of phasic skin conductance in sliding windows; "
            "p-values from independently circularly shifted participants.",
        )
    )
    sections.append(_html_table("Inter-subject correlation per stimulus", table))
    return [write_table(out / "isc.tsv", table), path]


def _write_cnn(results: StudyResults, out: Path, figures: list, sections: list) -> list[Path]:
    table = results.cnn.to_frame()
    summary = results.cnn.summary()
    written = [
        write_table(out / "cnn_evaluation.tsv", table),
        write_table(out / "cnn_summary.tsv", summary),
    ]
    sections.insert(
        0,
        _html_table("CNN evaluation: per model and scope", summary)
        + "<p>Median Pearson r over songs between the prediction and the mean of the "
        "held-out participants' phasic skin conductance; Fisher's combined p of one-sided "
        "per-song p-values (r &gt; 0) from phase-randomised surrogates. The headline row "
        "(<i>headline</i> = True) scores songs and participants that no model saw in "
        "training. <i>held-out participants, seen songs</i> is a memorisation ceiling: "
        "a model can score there by learning each song's mean response from any input "
        "that tells the moments of a song apart, so it says nothing about the music. "
        "<i>mismatched songs</i>: song A's prediction scored against the responses to "
        "song B.</p>" + _html_table("Per song", table),
    )
    if results.predictions:
        path = write_figure(out / "predictions.png", plot_predictions(results.predictions))
        written.append(path)
        figures.append(
            (
                "Predicted vs true phasic skin conductance (held-out participants and songs)",
                path,
                "The CNN sees 12.8 s of the embedding per window; each song predicted by "
                "models fitted without it.",
            )
        )
    return written


def _write_epochs(results: StudyResults, out: Path, figures: list, sections: list) -> list[Path]:
    import pandas as pd

    e = results.epochs
    n = e.n_songs
    course = pd.DataFrame(
        {
            "time_s": e.times_s,
            "events_mean": e.song_events.mean(axis=0),
            "events_se": e.song_events.std(axis=0, ddof=1) / np.sqrt(n),
            "control_mean": e.song_control.mean(axis=0),
            "control_se": e.song_control.std(axis=0, ddof=1) / np.sqrt(n),
            "difference": e.mean_difference,
            "difference_se": e.se_difference,
            "t": e.t_values,
        }
    )
    effect = pd.DataFrame(
        [
            {
                "effect": e.effect,
                "ci_low": e.ci[0],
                "ci_high": e.ci[1],
                "ci_level": e.ci_level,
                "p": e.p,
                "p_t": e.p_t,
                "window_start_s": e.summary_window_s[0],
                "window_end_s": e.summary_window_s[1],
                "n_songs": e.n_songs,
                "n_participants": e.n_participants,
                "n_trials": e.n_trials,
                "min_possible_p": e.min_possible_p,
                "exact": e.exact,
            }
        ]
    )
    written = [
        write_table(out / "epochs_timecourse.tsv", course),
        write_table(out / "epochs_effect.tsv", effect),
        write_table(out / "epochs_songs.tsv", e.songs_frame()),
        write_table(out / "epochs_clusters.tsv", e.to_frame()),
    ]
    path = write_figure(out / "epochs.png", plot_epochs(e))
    written.append(path)
    counts = results.epoch_counts
    figures.insert(
        0,
        (
            "Transition-locked skin conductance vs pseudo-transitions",
            path,
            f"{counts.get('events', 0)} transition epochs and {counts.get('controls', 0)} control "
            f"epochs ({counts.get('dropped_near_onset', 0)} transitions in the song-onset window "
            "or outside the detector's span left out, as are controls there).",
        ),
    )
    sections.append(
        _html_table("Transition effect (songs as the random factor)", effect)
        + f"<p>{html.escape(e.method)}</p>"
        + _html_table("Per song", e.songs_frame())
        + _html_table("Clusters over epoch time (transition - control)", e.to_frame())
    )
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
