"""Figures of a chills-study run: epochs, inter-subject correlation, model predictions.

Each function takes a result of :func:`frisson.pipelines.run_study` and returns a
matplotlib ``Figure`` (not shown; save it with ``savefig``). Every axis is
labelled with its unit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_epochs", "plot_isc", "plot_predictions"]


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
        ax.set_ylabel("ISC (mean r)")
        ax.set_title(
            f"{name}: mean ISC {entry['isc'].mean:.2f} (p = {entry['isc'].p:.3f}); "
            "dots: windows with FWE p < 0.05; dotted: transitions",
            loc="left",
            fontsize=8,
        )
    axes[-1, 0].set_xlabel("time from stimulus onset (s)")
    return figure


def plot_predictions(predictions: dict, scores: dict | None = None) -> object:
    """Per song: the prediction against every held-out listener, their mean and its 95 % CI.

    Parameters
    ----------
    predictions : dict
        ``(participant, stimulus) -> (predicted, true)`` TimeSeries
        (:attr:`StudyResults.predictions`: the headline model on held-out songs).
    scores : dict of str to str, optional
        Per stimulus, a score to show in the panel's title (e.g. ``"r = 0.41, p = 0.02"``).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per song: thin grey lines are the held-out listeners, the dark
        line their mean with a 95 % t band over listeners, orange the prediction.

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from scipy import stats

    by_song: dict[str, list] = {}
    for (_, stimulus), (predicted, true) in sorted(predictions.items()):
        by_song.setdefault(stimulus, [predicted, []])[1].append(true)
    n = max(1, len(by_song))
    figure, axes = plt.subplots(
        n, 1, figsize=(9, 1.9 * n + 0.6), layout="constrained", squeeze=False
    )
    for ax, (stimulus, (predicted, truths)) in zip(axes[:, 0], by_song.items(), strict=False):
        grid = predicted.times_s
        values = np.array(
            [np.interp(grid, t.times_s, t.values[:, 0], left=np.nan, right=np.nan) for t in truths]
        )
        for row in values:
            ax.plot(grid, row, color="0.75", linewidth=0.5)
        mean = np.nanmean(values, axis=0)
        k = values.shape[0]
        if k > 1:
            half = stats.t.ppf(0.975, k - 1) * np.nanstd(values, axis=0, ddof=1) / np.sqrt(k)
            ax.fill_between(grid, mean - half, mean + half, color="0.55", alpha=0.35, linewidth=0)
        ax.plot(grid, mean, color="0.15", linewidth=1.0, label=f"mean of {k} held-out listeners")
        ax.plot(grid, predicted.values[:, 0], color="tab:orange", linewidth=1.2, label="predicted")
        score = f"  ({scores[stimulus]})" if scores and stimulus in scores else ""
        ax.set_title(f"{stimulus}{score}", loc="left", fontsize=8)
        ax.set_ylabel("phasic SC (z)", fontsize=8)
        ax.set_xlabel("time from stimulus onset (s)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right", ncols=2)
    return figure
