"""Tables, figures and report sections of the opt-in chills, heart and individual analyses.

Written into the run's output folder (``beyond/``) by :func:`write_beyond_report`:

- ``beyond/settings.json``: the analyses' settings, counts and notes;
- ``beyond/summary.tsv``: one row per test (what was locked to what, the random
  factor, effect, CI, p, smallest possible p);
- ``beyond/<test>_timecourse.tsv`` and ``<test>.png`` for every epoch test
  (event- and control-locked means over units, their difference with a 95 % t band);
- ``beyond/chill_hits.tsv`` (per song);
- ``beyond/listener_effects.tsv``, ``beyond/listener_scores.tsv``,
  ``beyond/associations.tsv`` and one scatter figure per relation with
  ``p_corrected < .05``;
- ``beyond/trial_effects.tsv``, ``beyond/rating_associations.tsv`` (ratings per
  song vs per-trial effects, within listeners and songs) and one
  partial-regression figure per relation with ``p_corrected < .05``.
"""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frisson._io import atomic_write
from frisson.report._files import write_figure, write_table
from frisson.report._html import Section, figure_html, slug, table_html

if TYPE_CHECKING:
    from frisson.pipelines.chills import StudyResults

__all__ = ["plot_association", "plot_locked", "plot_partial", "write_beyond_report"]

_UNITS = {"skin conductance": "SC (z)", "heart rate": "HR (bpm)", "rmssd": "RMSSD (ms)"}


def plot_locked(test, title: str) -> object:
    """Event- vs control-locked means over units (+- SE) and their difference (95 % t band).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.events import song_level_test
    >>> t = np.arange(-20, 81) / 10
    >>> rng = np.random.default_rng(0)
    >>> result = song_level_test(rng.standard_normal((6, 101)), rng.standard_normal((6, 101)),
    ...                          t, songs=[f"s{i}" for i in range(6)])
    >>> figure = plot_locked(result, "heart rate @ chills")
    >>> len(figure.axes)
    2

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from scipy import stats

    response = title.split(" @ ")[0]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    t, n = test.times_s, test.n_songs
    for curves, label, color in (
        (test.song_events, "event-locked", "tab:red"),
        (test.song_control, "control-locked", "0.4"),
    ):
        mean, se = curves.mean(axis=0), curves.std(axis=0, ddof=1) / np.sqrt(n)
        left.plot(t, mean, color=color, label=label)
        left.fill_between(t, mean - se, mean + se, color=color, alpha=0.25, linewidth=0)
    left.set_ylabel(_UNITS.get(response, response) + ", baseline removed")
    left.set_xlabel("time from event (s)")
    left.legend(fontsize=8)
    left.set_title(f"{title}: mean +- SE over {n} units", loc="left", fontsize=9)
    half = stats.t.ppf(0.975, n - 1) * test.se_difference
    right.plot(t, test.mean_difference, color="k")
    right.fill_between(
        t, test.mean_difference - half, test.mean_difference + half, color="k", alpha=0.2
    )
    right.axhline(0, color="0.6", linewidth=0.8)
    right.axvspan(*test.summary_window_s, color="tab:orange", alpha=0.12, label="summary window")
    right.set_xlabel("time from event (s)")
    right.set_title(
        f"difference: {test.effect:+.3g} [{test.ci[0]:+.3g}, {test.ci[1]:+.3g}], p = {test.p:.3g}",
        loc="left",
        fontsize=9,
    )
    right.legend(fontsize=8)
    return figure


def plot_association(frame, score: str, effect: str, row: dict) -> object:
    """Scatter of one listener score against one listener effect, with the test's numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"trait": [1, 2, 3, 4], "chill_rate_per_min": [0.1, 0.3, 0.2, 0.5]})
    >>> row = {"rho": 0.8, "p": 0.08, "p_corrected": 0.1, "n": 4}
    >>> len(plot_association(frame, "trait", "chill_rate_per_min", row).axes)
    1

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 3.8), layout="constrained")
    axis.scatter(frame[score], frame[effect], color="tab:blue", s=18)
    axis.set_xlabel(score)
    axis.set_ylabel(effect)
    axis.set_title(
        f"rho = {row['rho']:.2f}, p = {row['p']:.3g} (corrected {row['p_corrected']:.3g}), "
        f"n = {row['n']}",
        fontsize=9,
    )
    return figure


def plot_partial(score_residual, effect_residual, score: str, effect: str, row: dict) -> object:
    """Partial-regression scatter: a rating and an effect, listeners' and songs' means removed.

    Examples
    --------
    >>> import numpy as np
    >>> row = {"r": 0.5, "t": 2.1, "p": 0.04, "p_corrected": 0.09, "n_trials": 5, "df": 3}
    >>> x = np.array([-2.0, -1, 0, 1, 2])
    >>> len(plot_partial(x, x + 0.5, "pleasure", "transition_sc", row).axes)
    1

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 3.8), layout="constrained")
    x, y = np.asarray(score_residual, float), np.asarray(effect_residual, float)
    axis.scatter(x, y, color="tab:purple", s=14)
    if np.ptp(x) > 0:
        slope = float(x @ y / (x @ x))
        line = np.array([x.min(), x.max()])
        axis.plot(line, slope * line, color="k", linewidth=1)
    axis.set_xlabel(f"{score} (listener and song means removed)")
    axis.set_ylabel(f"{effect} (same)")
    axis.set_title(
        f"r = {row['r']:.2f}, t({row['df']}) = {row['t']:.2f}, p = {row['p']:.3g} "
        f"(corrected {row['p_corrected']:.3g}), {row['n_trials']} trials",
        fontsize=8,
    )
    return figure


def write_beyond_report(results: StudyResults, out: Path, sections: dict) -> list[Path]:
    """Write the opt-in analyses' tables and figures; add their report section.

    Does nothing (returns ``[]``) when the run had none of them.
    """
    import pandas as pd

    beyond = getattr(results, "beyond", None)
    if beyond is None:
        return []
    folder = Path(out) / "beyond"
    folder.mkdir(parents=True, exist_ok=True)
    written, children = [], []
    summary = pd.DataFrame(beyond.summary_rows())
    written.append(write_table(folder / "summary.tsv", summary))
    settings = folder / "settings.json"
    record = {**dataclasses.asdict(beyond.settings), "counts": beyond.counts, "notes": beyond.notes}
    atomic_write(settings, lambda p: Path(p).write_text(json.dumps(record, indent=2)))
    written.append(settings)
    for key, test in beyond.locked.items():
        written += _write_locked(folder, key, test, beyond.units.get(key, "song"), children)
    if beyond.chill_hits is not None:
        hits = beyond.chill_hits
        written.append(write_table(folder / "chill_hits.tsv", hits.to_frame()))
        children.append(
            Section(
                "Chills after transitions",
                f"<p class='note'>{html.escape(hits.method)}</p>"
                + table_html(hits.to_frame(), caption="Per song"),
            )
        )
    if beyond.listener_effects is not None:
        written.append(write_table(folder / "listener_effects.tsv", beyond.listener_effects))
    if beyond.individual is not None:
        written += _write_individual(results, folder, beyond, children)
    if getattr(beyond, "trial_effects", None) is not None:
        written.append(write_table(folder / "trial_effects.tsv", beyond.trial_effects))
    if getattr(beyond, "song_scores", None) is not None:
        written += _write_song_scores(folder, beyond.song_scores, children)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in beyond.notes)
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in beyond.counts.items())
    sections["beyond"] = Section(
        "Chills, heart rate and the listener",
        table_html(summary, caption="Every test (one row each; songs or listeners as units)")
        + f"<p class='note'>{html.escape(counts)}</p>"
        + (f"<ul>{notes}</ul>" if notes else ""),
        anchor="beyond",
        children=children,
    )
    return written


def _write_locked(folder: Path, key: str, test, unit: str, children: list) -> list[Path]:
    import pandas as pd

    name = slug(key.replace("@", "at"))
    n = test.n_songs
    course = pd.DataFrame(
        {
            "time_s": test.times_s,
            "events_mean": test.song_events.mean(axis=0),
            "control_mean": test.song_control.mean(axis=0),
            "difference": test.mean_difference,
            "difference_se": test.se_difference,
            "t": test.t_values,
        }
    )
    units = pd.DataFrame({unit: test.songs, "effect": test.song_effects})
    paths = [
        write_table(folder / f"{name}_timecourse.tsv", course),
        write_table(folder / f"{name}_{unit}s.tsv", units),
    ]
    figure = write_figure(folder / f"{name}.png", plot_locked(test, key))
    paths.append(figure)
    caption = f"{n} {unit}s as units; {test.n_participants} listeners, {test.n_trials} trials."
    children.append(
        Section(
            key,
            f"<p class='note'>{html.escape(test.method)}</p>" + figure_html(figure, key, caption),
        )
    )
    return paths


def _write_individual(results, folder: Path, beyond, children: list) -> list[Path]:
    import pandas as pd

    from frisson.study import read_study

    table = beyond.individual.to_frame()
    paths = [write_table(folder / "associations.tsv", table)]
    body = f"<p class='note'>{html.escape(beyond.individual.method)}</p>" + table_html(table)
    significant = beyond.individual.significant()
    scores = getattr(beyond, "listener_scores", None)
    if scores is not None:
        paths.append(write_table(folder / "listener_scores.tsv", scores))
    if significant:
        if scores is None:
            scores = read_study(results.config.study).participants.copy()
        scores = scores.copy()
        scores["participant"] = scores["participant"].astype(str)
        merged = beyond.listener_effects.merge(scores, on="participant", how="left")
        for row in significant:
            frame = merged[[row["score"], row["effect"]]].apply(pd.to_numeric, errors="coerce")
            path = folder / f"association_{slug(row['score'])}_{slug(row['effect'])}.png"
            paths.append(
                write_figure(path, plot_association(frame, row["score"], row["effect"], row))
            )
            body += figure_html(path, f"{row['score']} vs {row['effect']}", "One dot per listener.")
    children.append(Section("Listeners' scores and their effects", body))
    return paths


def _write_song_scores(folder: Path, song_scores, children: list) -> list[Path]:
    """Ratings per song vs per-trial effects: the table and a figure per significant relation."""
    table = song_scores.to_frame()
    paths = [write_table(folder / "rating_associations.tsv", table)]
    body = f"<p class='note'>{html.escape(song_scores.method)}</p>" + table_html(table)
    for row in song_scores.significant():
        x, y = song_scores.residuals[row["effect"], row["score"]]
        path = folder / f"rating_{slug(row['score'])}_{slug(row['effect'])}.png"
        paths.append(write_figure(path, plot_partial(x, y, row["score"], row["effect"], row)))
        body += figure_html(
            path,
            f"{row['score']} vs {row['effect']}",
            "One dot per trial (listener x song), listeners' and songs' means removed.",
        )
    children.append(Section("Ratings per song and the trial's effects", body))
    return paths
