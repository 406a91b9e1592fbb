"""Tables, figures and the self-contained ``report.html`` of a study run (``frisson run``).

The report is one HTML file that opens offline: a sidebar of contents,
collapsible sections, tables that sort by a click on a header, embedded
figures, a data-quality section (what was left out or flagged, and why) and
the provenance of the run (versions, command, date, input hashes, every
setting used). Each song also gets an interactive listening view,
``songs/<song>/listen.html``, linked from the report; its audio is a small
Ogg Vorbis copy beside it, so nothing is duplicated in the report. Every path
shown is relative to the output folder.
"""

from __future__ import annotations

import html
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._io import atomic_write
from frisson._logging import logger
from frisson.errors import FrissonError
from frisson.report._files import write_figure, write_table
from frisson.report._html import Section, figure_html, page_html, table_html
from frisson.report._provenance import (
    collect_provenance,
    input_files,
    provenance_html,
    relative_path,
    study_problems,
)
from frisson.report.beyond_report import write_beyond_report
from frisson.report.listening import shown_transitions
from frisson.report.study_figures import plot_epochs, plot_isc, plot_predictions

if TYPE_CHECKING:
    from frisson.pipelines.chills import StudyResults

__all__ = ["write_study_report"]

#: Width (pixels) of the song figures embedded in the report; full size beside it.
THUMBNAIL_PX = 900

_CNN_TEXT = (
    "<p class='note'>Median Pearson r over songs between the prediction and the mean of the "
    "held-out participants' phasic skin conductance; Fisher's combined p of one-sided "
    "per-song p-values (r &gt; 0) from phase-randomised surrogates. The headline row "
    "(<i>headline</i> = True) scores songs and participants that no model saw in "
    "training. <i>held-out participants, seen songs</i> is a memorisation ceiling: "
    "a model can score there by learning each song's mean response from any input "
    "that tells the moments of a song apart, so it says nothing about the music. "
    "<i>mismatched songs</i>: song A's prediction scored against the responses to "
    "song B.</p>"
)


def write_study_report(
    results: StudyResults,
    output: str | os.PathLike,
    *,
    listening: bool = True,
    heart_rate: bool = True,
) -> list[Path]:
    """Write the run's tables, figures, listening views and ``report.html``.

    Parameters
    ----------
    results : StudyResults
        From :func:`frisson.pipelines.run_study`.
    output : path
        The output folder (usually ``results.config.output``).
    listening : bool
        Write each song's interactive listening view (``songs/<song>/listen.html``
        with a compressed copy of the audio), with the group's responses read
        again from the study folder.
    heart_rate : bool
        Include the group's heart rate (from PPG or ECG beats) in the listening views.

    Returns
    -------
    list of Path
        The files written: per song ``pcs.tsv``, ``transitions.tsv``,
        ``feature_correlations.tsv``, ``latent.png``, ``listen.html``, ``audio.ogg``;
        ``transitions.tsv``, ``epochs_*.tsv``, ``epochs.png``, ``isc.tsv``,
        ``isc.png``, ``cnn_evaluation.tsv``, ``cnn_summary.tsv``,
        ``predictions.png``, ``left_out.tsv``, ``study_problems.tsv``,
        ``settings.json``, ``provenance.json`` and ``report.html``.

    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    problems = study_problems(results)
    sections: dict[str, Section] = {}
    written: list[Path] = []
    if results.epochs is not None:
        written += _write_epochs(results, out, sections)
    if results.cnn is not None:
        written += _write_cnn(results, out, sections)
    if results.isc or results.used.get("isc_left_out"):
        written += _write_isc(results, out, sections)
    written += write_beyond_report(results, out, sections)  # opt-in chills/heart/individual
    written += _write_songs(results, out, sections, listening=listening, heart_rate=heart_rate)
    written += _write_quality(results, out, problems, sections)
    settings = out / "settings.json"
    record = {**results.config.to_dict(), "used": results.used}
    record["study"] = relative_path(results.config.study, out)
    record["output"] = "."
    atomic_write(settings, lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)))
    written.append(settings)
    record["songs"] = {name: song.params for name, song in results.songs.items()}
    provenance = collect_provenance(
        inputs=input_files(results.config.study, skip=("derivatives",)),
        output=out,
        settings=record,
    )
    path = out / "provenance.json"
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(provenance, indent=2, default=str)))
    written.append(path)
    files = "".join(f"<li>{html.escape(relative_path(p, out))}</li>" for p in [*written])
    sections["provenance"] = Section(
        "Provenance",
        provenance_html(provenance)
        + f"<details><summary><b>Files written</b> ({len(written) + 1})</summary><ul>{files}"
        "<li>report.html</li></ul></details>",
        open=False,
    )
    report = out / "report.html"
    page = _page(results, out, sections, problems)
    atomic_write(report, lambda p: Path(p).write_text(page))
    written.append(report)
    return written


def _page(results: StudyResults, out: Path, sections: dict[str, Section], problems) -> str:
    from frisson import __version__

    config = results.config
    layer = next((song.layer for song in results.songs.values()), config.layer or "default")
    order = ["summary", "epochs", "cnn", "isc", "beyond", "songs", "quality", "provenance"]
    sections["summary"] = Section("Summary", _summary_html(results, problems))
    name = Path(config.study).name
    intro = (
        f"<p>Study <code>{html.escape(relative_path(config.study, out))}</code>: "
        f"{len(results.songs)} songs; encoder <b>{html.escape(config.encoder)}</b> (layer "
        f"{html.escape(str(layer))}); frisson {html.escape(__version__)}, seed {config.seed}. "
        "Tables sort by a click on a header; sections fold.</p>"
    )
    return page_html(
        f"frisson report: {name}", [sections[k] for k in order if k in sections], intro=intro
    )


def _summary_html(results: StudyResults, problems) -> str:
    parts = []
    e = results.epochs
    if e is not None:
        parts.append(
            f"<p><b>Transitions</b>: skin conductance {e.summary_window_s[0]:g}-"
            f"{e.summary_window_s[1]:g} s after latent transitions minus pseudo-transitions: "
            f"<b>{e.effect:+.3f} z</b> [{e.ci[0]:+.3f}, {e.ci[1]:+.3f}] over {e.n_songs} songs "
            f"x {e.n_participants} listeners, p = {e.p:.4g} (smallest possible "
            f"{e.min_possible_p:.4g}). {html.escape(_transition_songs(results))}</p>"
        )
    elif results.epoch_counts:
        parts.append(
            "<p><b>Transitions</b>: no transition test (it needs at least 3 songs with "
            f"transitions and epochs). {html.escape(_transition_songs(results))}</p>"
        )
    if results.cnn is not None:
        summary = results.cnn.summary()
        if "headline" in summary:
            row = summary[summary["headline"].astype(bool)]
            if len(row):
                cells = ", ".join(
                    f"{html.escape(str(k))} = {_short(v)}"
                    for k, v in row.iloc[0].items()
                    if k != "headline"
                )
                parts.append(f"<p><b>Headline model score</b>: {cells}.</p>")
    if results.isc:
        values = [entry["isc"].mean for entry in results.isc.values()]
        parts.append(f"<p><b>ISC</b>: median over {len(values)} songs {np.median(values):.3f}.</p>")
    errors = sum(1 for p in problems if p.severity == "error")
    parts.append(
        f"<p><b>Data quality</b>: {len(results.left_out)} trial(s) or run(s) left out; the study "
        f"check lists {errors} error(s) and {len(problems) - errors} warning(s) "
        "(<a href='#data-quality'>details</a>).</p>"
    )
    text = "\n".join(results.summary().splitlines()[1:])  # the first line has absolute paths
    return (
        f"<div class='headline'>{''.join(parts)}</div>"
        f"<details><summary><b>The run's summary as printed</b></summary>"
        f"<pre>{html.escape(text)}</pre></details>"
    )


def _short(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return html.escape(str(value))


def _thumbnail(path: Path, width_px: int = THUMBNAIL_PX) -> bytes:
    """A smaller copy of a PNG for embedding (the full-size file stays beside the report)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.width > width_px:
            height = round(image.height * width_px / image.width)
            image = image.resize((width_px, height), Image.Resampling.LANCZOS)
        image = image.convert("RGB").quantize(colors=128)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _song_stats(results: StudyResults) -> dict[str, dict[str, Any]]:
    """Per song, its part in the study's tests (for the songs table and listening views)."""
    stats: dict[str, dict[str, Any]] = {name: {"song": name} for name in results.songs}
    if results.epochs is not None:
        for row in results.epochs.songs_frame().to_dict("records"):
            entry = stats.setdefault(row.pop("song"), {})
            entry.update({f"epochs_{k}": v for k, v in row.items()})
    for name, entry in results.isc.items():
        stats.setdefault(name, {})["isc"] = entry["isc"].mean
        stats[name]["isc_p"] = entry["isc"].p
        near = entry.get("near")
        if near is not None:
            stats[name]["isc_near_transitions_p"] = near.p
    if results.cnn is not None:
        frame = results.cnn.to_frame()
        summary = results.cnn.summary()
        headline = summary[summary["headline"].astype(bool)] if "headline" in summary else None
        if headline is not None and len(headline) and {"model", "scope", "song"} <= set(frame):
            model, scope = headline.iloc[0]["model"], headline.iloc[0]["scope"]
            rows = frame[(frame["model"] == model) & (frame["scope"] == scope)]
            for row in rows.to_dict("records"):
                entry = stats.setdefault(row["song"], {})
                for key in ("r", "p"):
                    if key in row:
                        entry[f"headline_{key}"] = row[key]
    return stats


def used_transitions(results: StudyResults, song):
    """A song's transitions the run locked to (``config.transition_method``).

    Analyses from before the setting fall back to :func:`shown_transitions`.
    """
    try:
        return song.transitions[results.config.transition_method]
    except (AttributeError, KeyError):
        return shown_transitions(song)


def _transitions_frame(results: StudyResults, song):
    """Every candidate of the run's detector: ``p`` and ``default`` (used downstream).

    A tested detector's candidates carry their p and ``default = p <= alpha``;
    an untested detector's (the poster's ``pc1_variance``) have an empty ``p``
    and are all used downstream.
    """
    frame = used_transitions(results, song).to_frame()
    if "p" not in frame:
        frame["p"] = np.nan
        frame["default"] = True
    return frame


def _transition_songs(results: StudyResults) -> str:
    """How many songs had transitions of the run's detector, as a sentence."""
    counts = results.epoch_counts
    if "songs" not in counts:
        return ""
    return (
        f"{counts['songs_with_transitions']} of {counts['songs']} songs had "
        f"{results.config.transition_method} transitions ({counts.get('songs_tested', 0)} with "
        "epochs in the test; a song without transitions gives no epochs and no controls)."
    )


def _write_songs(
    results: StudyResults, out: Path, sections: dict, *, listening: bool, heart_rate: bool
) -> list[Path]:
    """Each song's tables, latent figure and listening view; the study's transitions table."""
    import pandas as pd

    from frisson.report.song import write_song_analysis
    from frisson.study import stimulus_stem

    group = _group(results, heart_rate) if listening else {}
    stats = _song_stats(results)
    written: list[Path] = []
    children, rows = [], []
    for name, song in results.songs.items():
        folder = out / "songs" / stimulus_stem(name)
        written += write_song_analysis(song, folder)
        links = f"<a href='{html.escape(relative_path(folder / 'latent.png', out))}'>latent.png</a>"
        if listening:
            written += _listening(song, folder, group.get(name), stats.get(name), name)
            view = relative_path(folder / "listen.html", out)
            links = f"<a href='{html.escape(view)}'><b>listen</b></a> &middot; {links}"
        found = used_transitions(results, song)
        evr = song.pca.explained_variance_ratio
        rows.append(
            {
                **stats.get(name, {"song": name}),
                "duration_s": song.duration_s,
                "transitions": int(found.times_s.size),
                "clusters": song.clusters.n_clusters,
                "pc1_explained_pct": 100 * evr[0],
            }
        )
        image = _thumbnail(folder / "latent.png")
        children.append(
            Section(
                f"Song {name}",
                f"<p>{links}</p>"
                + figure_html(
                    image,
                    f"Latent trajectory: {name}",
                    "Spectrogram; PC1/PC2 with transitions (lines) and clusters (band); "
                    "sliding variance of PC1 with its peaks; the PC1-PC2 plane by time and "
                    "by cluster. Click for full size.",
                    link=relative_path(folder / "latent.png", out),
                ),
                anchor=f"song-{stimulus_stem(name)}",
                open=False,
            )
        )
    transitions = pd.concat(
        [_transitions_frame(results, s).assign(stimulus=n) for n, s in results.songs.items()],
        ignore_index=True,
    )
    columns = ["stimulus", *(c for c in transitions.columns if c != "stimulus")]
    written.append(write_table(out / "transitions.tsv", transitions[columns]))
    link_note = (
        "<p>Each song's <b>listening view</b> plays the song with a cursor over its "
        "spectrogram, latent trajectory and the group's responses; click a plot to seek.</p>"
        if listening
        else ""
    )
    sections["songs"] = Section(
        "Songs",
        link_note
        + table_html(
            pd.DataFrame(rows),
            caption="Per song (epochs_effect: transition - "
            "control skin conductance, z; headline_r: the headline model's r)",
        )
        + "<details><summary><b>Every transition</b> (transitions.tsv)</summary>"
        + table_html(transitions[columns])
        + "</details>",
        children=children,
    )
    return written


def _group(results: StudyResults, heart_rate: bool) -> dict:
    from frisson.report._group import group_responses

    try:
        return group_responses(
            results.config.study,
            list(results.songs),
            rate_hz=results.config.response_rate_hz,
            heart=heart_rate,
        )
    except FrissonError as error:
        logger.warning("report: no group responses in the listening views: %s", error)
        return {}


def _listening(song, folder: Path, group, stats: dict | None, name: str) -> list[Path]:
    from frisson.report.listening import write_listening_view

    shown = {k: v for k, v in (stats or {}).items() if k != "song"}
    return write_listening_view(song, folder, group=group, stats=shown or None, title=name)


def _write_quality(results: StudyResults, out: Path, problems, sections: dict) -> list[Path]:
    """What was left out or flagged, and why (``left_out.tsv``, ``study_problems.tsv``)."""
    import pandas as pd

    written = []
    study = Path(results.config.study)
    left = pd.DataFrame(results.left_out, columns=["participant", "stimulus", "file", "reason"])
    left["file"] = [relative_path(f, out) if f else "" for f in left["file"]]
    written.append(write_table(out / "left_out.tsv", left))
    flagged = pd.DataFrame(
        [(p.severity, relative_path(study / p.path, out), p.message) for p in problems],
        columns=["severity", "file", "message"],
    )
    written.append(write_table(out / "study_problems.tsv", flagged))
    counts = results.epoch_counts
    parts = [
        f"<p>{len(left)} trial(s) or run(s) were left out of every analysis "
        "(left_out.tsv):</p>" + (table_html(left) if len(left) else "<p>None.</p>"),
    ]
    if counts:
        parts.append(
            f"<p>Epochs: {counts.get('events', 0)} transition and {counts.get('controls', 0)} "
            f"control epochs used; {counts.get('dropped_near_onset', 0)} transition(s) in the "
            f"first {results.config.onset_exclude_s:g} s of a song or outside the detector's "
            f"span left out (as are controls there). {html.escape(_transition_songs(results))}</p>"
        )
    errors = int((flagged["severity"] == "error").sum())
    parts.append(
        f"<p>The study check (<code>frisson study validate</code>) lists {errors} error(s) "
        f"(the runs concerned are skipped) and {len(flagged) - errors} warning(s) "
        "(study_problems.tsv):</p>" + (table_html(flagged) if len(flagged) else "<p>None.</p>")
    )
    if results.used:
        parts.append(
            "<p>Settings the run adapted to the data (also in settings.json, "
            "<i>used</i>):</p><pre>"
            + html.escape(json.dumps(results.used, indent=1, default=str))
            + "</pre>"
        )
    sections["quality"] = Section("Data quality", "".join(parts), anchor="data-quality")
    return written


def _write_isc(results: StudyResults, out: Path, sections: dict) -> list[Path]:
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
        if name in results.songs:
            entry["transitions"] = used_transitions(results, results.songs[name]).times_s
    left_out = results.used.get("isc_left_out", {})
    rows += [{"stimulus": name, "note": f"no ISC: {why}"} for name, why in left_out.items()]
    table = pd.DataFrame(rows)
    note = (
        f"<p>{len(left_out)} stimulus/stimuli without ISC: too few listeners heard them "
        "(listeners who bring their own songs share none).</p>"
        if left_out
        else ""
    )
    if not results.isc:
        sections["isc"] = Section("Inter-subject correlation", note + table_html(table))
        return [write_table(out / "isc.tsv", table)]
    path = write_figure(out / "isc.png", plot_isc(results.isc))
    sections["isc"] = Section(
        "Inter-subject correlation",
        note
        + table_html(table, caption="ISC per stimulus")
        + figure_html(
            path,
            "Inter-subject correlation over time",
            "Leave-one-out ISC of phasic skin conductance in sliding windows; "
            "p-values from independently circularly shifted participants.",
        ),
    )
    return [write_table(out / "isc.tsv", table), path]


def _write_cnn(results: StudyResults, out: Path, sections: dict) -> list[Path]:
    table = results.cnn.to_frame()
    summary = results.cnn.summary()
    written = [
        write_table(out / "cnn_evaluation.tsv", table),
        write_table(out / "cnn_summary.tsv", summary),
    ]
    body = table_html(summary, caption="CNN evaluation: per model and scope") + _CNN_TEXT
    if results.predictions:
        stats = _song_stats(results)
        scores = {
            name: f"headline r = {s['headline_r']:.2f}, p = {s['headline_p']:.3g}"
            for name, s in stats.items()
            if "headline_r" in s and "headline_p" in s
        }
        path = write_figure(out / "predictions.png", plot_predictions(results.predictions, scores))
        written.append(path)
        n = len({p for p, _ in results.predictions})
        body += figure_html(
            path,
            "Predicted vs true phasic skin conductance (held-out participants and songs)",
            f"Every one of the {n} held-out listeners (grey), their mean with its 95 % CI, and "
            "the headline model's prediction (orange); each song predicted by models fitted "
            "without it.",
        )
    child = Section("Per song and scope", table_html(table), anchor="cnn-per-song", open=False)
    sections["cnn"] = Section(
        "Model predictions", body, anchor="model-predictions", children=[child]
    )
    return written


def _write_epochs(results: StudyResults, out: Path, sections: dict) -> list[Path]:
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
                "transition_method": results.config.transition_method,
                "songs_with_transitions": results.epoch_counts.get("songs_with_transitions"),
                "songs_analysed": results.epoch_counts.get("songs"),
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
    caption = (
        f"{counts.get('events', 0)} transition epochs and {counts.get('controls', 0)} control "
        f"epochs ({counts.get('dropped_near_onset', 0)} transitions in the song-onset window "
        "or outside the detector's span left out, as are controls there). "
        + _transition_songs(results)
    )
    sections["epochs"] = Section(
        "Transition-locked skin conductance",
        table_html(effect, caption="Transition effect (songs as the random factor)")
        + f"<p class='note'>{html.escape(e.method)}</p>"
        + figure_html(path, "Transition-locked skin conductance vs pseudo-transitions", caption)
        + table_html(e.songs_frame(), caption="Per song")
        + table_html(e.to_frame(), caption="Clusters over epoch time (transition - control)"),
        anchor="transition-locked",
    )
    return written
