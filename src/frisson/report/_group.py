"""The group's responses to each song, for the listening view: mean and CI over listeners.

Skin conductance is the study's (each trial normalised and linearly detrended,
:func:`frisson.physio.eda.normalize_trial`), heart rate the study's (10-s
weighted inter-beat-interval average of PPG or ECG beats), both on stimulus
time; chills are the listeners' reported ``chill`` events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from frisson._logging import logger
from frisson.errors import FrissonError

__all__ = ["GroupCurve", "GroupResponses", "group_responses"]


@dataclass(frozen=True)
class GroupCurve:
    """Mean over listeners of one response, with its t confidence interval.

    Attributes
    ----------
    times_s : ndarray, shape (n_times,)
        Seconds from stimulus onset.
    mean, ci_low, ci_high : ndarray, shape (n_times,)
        Mean and CI over listeners (NaN where fewer than 2 listeners have a value).
    n_listeners : int
        Listeners averaged.
    unit : str
        E.g. ``z`` or ``bpm``.
    ci_level : float
        The CI's level.

    """

    times_s: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_listeners: int
    unit: str
    ci_level: float = 0.95


@dataclass(frozen=True)
class GroupResponses:
    """One song's group responses.

    Attributes
    ----------
    curves : dict of str to GroupCurve
        ``"skin conductance"`` and, where PPG or ECG was recorded, ``"heart rate"``.
    chills_s : ndarray
        Every reported chill (seconds from onset), pooled over listeners.
    n_chill_listeners : int
        Listeners who reported at least one chill in this song.

    """

    curves: dict[str, GroupCurve] = field(default_factory=dict)
    chills_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_chill_listeners: int = 0


def _mean_ci(rows: list[np.ndarray], level: float) -> tuple[np.ndarray, ...]:
    from scipy import stats

    data = np.vstack(rows)
    n = np.sum(np.isfinite(data), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        mean = np.nanmean(data, axis=0)
        sd = np.nanstd(data, axis=0, ddof=1)
    half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half


class _quiet:
    """Silence numpy's all-NaN-slice warnings (those samples are NaN on purpose)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def _trial_heart_rate(trial, rate_hz: float):
    from frisson.physio.cardiac import find_beats, heart_rate

    for kind in ("ppg", "ecg"):
        if kind in trial.responses:
            signal = trial.responses[kind].interpolate_nan()
            beats = find_beats(signal, kind=kind)
            return heart_rate(beats, rate_hz=rate_hz)
    return None


def group_responses(
    study,
    stimuli: list[str] | None = None,
    *,
    rate_hz: float = 10.0,
    heart: bool = True,
    ci_level: float = 0.95,
) -> dict[str, GroupResponses]:
    """Per song, the group's skin conductance and heart rate (mean and CI) and its chills.

    Parameters
    ----------
    study : Study or path
        A study (:func:`frisson.study.read_study`) or its folder.
    stimuli : list of str, optional
        The songs (default: every stimulus with a trial).
    rate_hz : float
        Grid of the curves.
    heart : bool
        Also detect beats and compute heart rate (slower).
    ci_level : float
        Level of the t interval over listeners.

    Returns
    -------
    dict of str to GroupResponses
        Songs without a usable trial are left out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from frisson.simulate import StudyParams, simulate_study, synth_piece
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "stim").mkdir()
    >>> _ = synth_piece(n_sections=2, section_s=(8.0, 9.0), rate_hz=8000, seed=0).write(
    ...     root / "stim" / "a.wav")
    >>> _ = simulate_study(root / "stim", root / "study", params=StudyParams(
    ...     n_participants=3, ratings_rate_hz=None, physio_rate_hz=20.0), seed=0)
    >>> group = group_responses(root / "study", heart=False)["a.wav"]
    >>> group.curves["skin conductance"].n_listeners
    3

    """
    from frisson.physio.eda import normalize_trial
    from frisson.study import read_study

    if isinstance(study, str | os.PathLike):
        study = read_study(study)
    collected: dict[str, dict[str, list]] = {}
    for trial in study.trials(on_error="skip"):
        if stimuli is not None and trial.stimulus not in stimuli:
            continue
        entry = collected.setdefault(trial.stimulus, {"eda": [], "hr": [], "chills": []})
        chills = trial.event_times_s("chill")
        entry["chills"].append(chills[(chills >= 0) & (chills <= trial.duration_s)])
        grid = np.arange(0.0, trial.duration_s, 1.0 / rate_hz)
        try:
            if "eda" in trial.responses:
                eda = normalize_trial(trial.responses["eda"].interpolate_nan())
                entry["eda"].append(np.interp(grid, eda.times_s, eda.values[:, 0]))
            if heart:
                hr = _trial_heart_rate(trial, rate_hz)
                if hr is not None:
                    values = np.interp(grid, hr.times_s, hr.values[:, 0], left=np.nan, right=np.nan)
                    if np.isfinite(values).any():  # no beats found: not a listener's heart rate
                        entry["hr"].append(values)
        except FrissonError as error:
            logger.info(
                "%s %s left out of the group curves: %s", trial.participant, trial.stimulus, error
            )
    out = {}
    for name, entry in collected.items():
        curves = {}
        for key, label, unit in (("eda", "skin conductance", "z"), ("hr", "heart rate", "bpm")):
            rows = entry[key]
            if not rows:
                continue
            length = min(r.size for r in rows)
            mean, low, high = _mean_ci([r[:length] for r in rows], ci_level)
            times = np.arange(length) / rate_hz
            curves[label] = GroupCurve(times, mean, low, high, len(rows), unit, ci_level)
        chills = entry["chills"]
        out[name] = GroupResponses(
            curves,
            np.sort(np.concatenate(chills)) if chills else np.zeros(0),
            int(sum(c.size > 0 for c in chills)),
        )
    return out
