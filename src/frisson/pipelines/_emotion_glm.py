"""``frisson encode`` with ``mode = "glm"``: the brain-emotion model on a study folder.

BOLD of every participant is regressed on the absolute derivatives of the
continuous ratings (``|Emotionality'| + |Enjoyment'|``: every rating channel),
smoothed, placed at each stimulus' onset and convolved with the SPM HRF, with
the music block, cosine drifts and a constant as nuisance regressors
(:func:`frisson.glm.run_design`); AR(1)-prewhitened OLS per run, fixed effects
over a participant's runs (:func:`frisson.glm.first_level`); then a one-sample
t over participants per voxel/ROI with a sign-flip max-|t| null
(:func:`frisson.glm.group_signflip`). Contrasts: ``emotion`` (the sum of every
channel's regressor) and one per channel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frisson._logging import logger
from frisson.errors import DataError
from frisson.pipelines._config import check_output_folder, log_study_problems
from frisson.pipelines.encoding import (
    _PHYSIO_KINDS,
    EncodeConfig,
    _bold_targets,
    _presentations,
    _ratings_targets,
    _select_runs,
)
from frisson.timeseries import TimeSeries

__all__ = ["EmotionGLMResults", "run_emotion_glm"]


@dataclass
class EmotionGLMResults:
    """What :func:`run_emotion_glm` computed.

    Attributes
    ----------
    config : EncodeConfig
    channels : tuple of str
        The rating channels whose absolute derivatives are regressors.
    contrasts : dict of str to dict of str to float
        Contrast name -> design column weights.
    first_level : dict of str to frisson.glm.FirstLevel
        Per participant (``sub-<id>``).
    group : dict of str to frisson.glm.GroupTest
        Per contrast, over participants (empty with fewer than 3).
    space : dict or None
        The voxel grid (``shape``, ``affine``) shared by the participants, for maps.
    n_permutations : int
        Sign patterns of the group test asked for.
    files : list of Path
        Everything written (filled by the report).

    """

    config: EncodeConfig
    channels: tuple[str, ...] = ()
    contrasts: dict[str, dict[str, float]] = field(default_factory=dict)
    first_level: dict[str, Any] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] | None = None
    n_permutations: int = 10000
    files: list = field(default_factory=list)

    def summary(self) -> str:
        """Participants, units, and per contrast the units with ``p_fwe <= .05``."""
        lines = [
            f"brain-emotion GLM on {self.config.study}: {len(self.first_level)} participants, "
            f"regressors |d/dt| of {', '.join(self.channels)} (smoothed {self.config.smooth_s:g} s)"
        ]
        null = (
            "surrogate ratings, max-|t|"
            if self.config.glm_null == "ratings"
            else "sign-flip max-|t| over participants"
        )
        for name, test in self.group.items():
            lines.append(
                f"  {name}: {int(np.sum(test.p_fwe <= 0.05))} of {len(test.units)} units with "
                f"p_fwe <= .05 ({null}, {test.n_patterns} draws, |t| > {test.t_threshold:.2f})"
            )
        if not self.group:
            lines.append("  no group test (needs >= 3 participants sharing units)")
        return "\n".join(lines)


def _rating_runs(study) -> list:
    """Runs with a ratings channel (any task or participant; also sessions without BOLD)."""
    out = []
    for run in study.runs:
        if not run.physio and run.beh is None:
            continue
        try:
            channels = study.read_responses(run)
        except DataError as error:
            logger.warning("ratings of %s unreadable, skipped: %s", run.label, error)
            continue
        if any(name not in _PHYSIO_KINDS for name in channels):
            out.append(run)
    return out


def _group_drives(study, config: EncodeConfig):
    """Per stimulus, the group-mean ratings' absolute derivatives on stimulus time.

    Returns the drives, the channels and the group-mean ratings (for surrogates).
    """
    from frisson.glm import absolute_derivative

    runs = _rating_runs(study)
    if not runs:
        raise DataError(
            f"{study.root}: no run has ratings (a *_beh.tsv or a ratings physio file); "
            "mode = 'glm' regresses BOLD on their derivatives."
        )
    ratings_config = dataclasses.replace(config, target="ratings", mode="layers", post_s=0.0)
    segments, placements = _ratings_targets(study, ratings_config, runs)
    drives, ratings = {}, {}
    channels: tuple[str, ...] = ()
    for segment, placed in zip(segments, placements, strict=True):
        channels = tuple(n for n in segment.names if not n.endswith("_absderiv"))
        ratings[placed[0][1]] = segment.select(list(channels))
        drives[placed[0][1]] = absolute_derivative(ratings[placed[0][1]], smooth_s=config.smooth_s)
    return drives, channels, ratings


def _own_drives(study, config: EncodeConfig, run) -> list[tuple[float, TimeSeries]]:
    """The run's own ratings' absolute derivatives per presentation, in run time."""
    from frisson.glm import absolute_derivative

    responses = study.read_responses(run)
    names = list(config.channels or [k for k in responses if k not in _PHYSIO_KINDS])
    missing = [n for n in names if n not in responses]
    if not names or missing:
        raise DataError(
            f"{run.main_file}: ratings_source = 'own' needs the run's ratings {missing or names}; "
            f"recorded: {sorted(responses)}. Use ratings_source = 'group' or set channels."
        )
    out = []
    for onset, duration, _ in _presentations(study, run):
        columns = []
        for name in names:
            try:
                columns.append(responses[name].crop(onset, onset + duration).interpolate_nan())
            except DataError:
                columns = []
                break
        if columns and all(np.isfinite(c.values).all() for c in columns):
            n = min(c.n_times for c in columns)
            values = np.column_stack([c.values[:n, 0] for c in columns])
            series = TimeSeries(values, columns[0].rate_hz, start_s=columns[0].start_s, names=names)
            out.append((0.0, absolute_derivative(series, smooth_s=config.smooth_s)))
    return out


def _participant_fit(study, config: EncodeConfig, runs: list, drives, contrasts):
    """One participant's first level, the voxel grid, and the fit's inputs.

    The inputs (``bold``, ``designs``, ``onsets``: per run the BOLD, the design and
    the ``(onset_s, stimulus)`` of rated stimuli) let surrogate ratings refit it.
    """
    from frisson.glm import first_level, run_design

    bold_runs, _, space = _bold_targets(study, config, runs)
    kept, designs, onsets = [], [], []
    for run, bold in zip(runs, bold_runs, strict=True):
        shown = _presentations(study, run)
        if config.ratings_source == "own":
            placed = _own_drives(study, config, run)
        else:
            placed = [(onset, drives[name]) for onset, _, name in shown if name in drives]
        if not placed:
            logger.warning("%s: no stimulus with ratings; run left out of the GLM", run.label)
            continue
        frames = bold.times_s
        design = run_design(
            frames,
            placed,
            [(onset, duration) for onset, duration, _ in shown],
            high_pass_hz=config.glm_high_pass_hz,
        )
        kept.append(bold)
        designs.append(design)
        onsets.append([(onset, name) for onset, _, name in shown if name in drives])
    if not kept:
        raise DataError(f"sub-{runs[0].participant}: no BOLD run with rated stimuli.")
    inputs = {"bold": kept, "designs": designs, "onsets": onsets}
    return first_level(kept, designs, contrasts), space, inputs


def run_emotion_glm(config: EncodeConfig, *, overwrite: bool = False) -> EmotionGLMResults:
    """The brain-emotion GLM of a study (``frisson encode`` with ``mode = "glm"``).

    Parameters
    ----------
    config : EncodeConfig
        ``mode = "glm"``, ``target = "bold"``; ``ratings_source``, ``smooth_s``,
        ``glm_high_pass_hz``, ``channels`` (default every ratings channel),
        ``glm_null`` (``"signflip"``: over participants; ``"ratings"``: refits
        on phase-randomised group ratings, songs as the random factor),
        ``n_permutations`` (sign patterns, ``"auto"``: 10 000 or all ``2**n``
        when fewer; or surrogates, ``"auto"``: 199) and the BOLD settings
        (``mask``, ``atlas``, ``derivatives`` ...) apply.

    overwrite : bool
        Write into a non-empty output folder frisson did not create.

    Returns
    -------
    EmotionGLMResults

    Examples
    --------
    >>> config = EncodeConfig(study="study", output="out", mode="glm")  # doctest: +SKIP
    >>> print(run_emotion_glm(config).summary())  # doctest: +SKIP

    """
    from frisson.study import read_study

    config.check()
    if config.mode != "glm":
        raise DataError(f"run_emotion_glm runs mode = 'glm', not {config.mode!r}.")
    study = read_study(config.study, task_stimuli=config.task_stimuli or None)
    log_study_problems(study)
    runs = _select_runs(study, config)
    check_output_folder(Path(config.output), overwrite=overwrite)
    drives, channels, ratings = (
        _group_drives(study, config) if config.ratings_source == "group" else ({}, (), {})
    )
    if config.ratings_source == "own":
        channels = tuple(config.channels or ())
    results = EmotionGLMResults(config)
    by_participant: dict[str, list] = {}
    for run in runs:
        by_participant.setdefault(f"sub-{run.participant}", []).append(run)
    spaces, inputs = {}, {}
    for label, participant_runs in by_participant.items():
        names = channels or _own_channels(study, config, participant_runs[0])
        contrasts = {"emotion": {f"{c}_absderiv": 1.0 for c in names}}
        contrasts.update({c: {f"{c}_absderiv": 1.0} for c in names})
        try:
            fit, space, inputs[label] = _participant_fit(
                study, config, participant_runs, drives, contrasts
            )
        except DataError as error:
            if len(by_participant) == 1:
                raise
            logger.warning("skipping %s: %s", label, error)
            continue
        results.first_level[label] = fit
        results.contrasts = contrasts
        results.channels = tuple(names)
        spaces[label] = space
    if not results.first_level:
        raise DataError(f"{study.root}: no participant could be fitted (see the warnings).")
    results.space = _shared_space(spaces)
    _group_level(results, config, inputs, ratings)
    return results


def _group_level(results: EmotionGLMResults, config: EncodeConfig, inputs, ratings) -> None:
    """Sign flips over participants, or refits on surrogate ratings (``glm_null``)."""
    from frisson.glm import first_level, group_signflip, surrogate_group_test

    fits = list(results.first_level.values())
    shared = sorted(set.intersection(*(set(f.units) for f in fits)), key=fits[0].units.index)
    if len(fits) < 3 or not shared:
        return
    if config.glm_null == "ratings":
        n = 199 if config.n_permutations == "auto" else int(config.n_permutations)
        results.n_permutations = n
        bold = [[b.select(shared) for b in inputs[label]["bold"]] for label in results.first_level]
        designs = [inputs[label]["designs"] for label in results.first_level]
        onsets = [inputs[label]["onsets"] for label in results.first_level]
        observed = [
            first_level(runs, d, results.contrasts) for runs, d in zip(bold, designs, strict=True)
        ]
        surrogates = _surrogate_designs(designs, onsets, ratings, config, n)
        results.group = surrogate_group_test(bold, observed, surrogates, results.contrasts)
        return
    n = 10000 if config.n_permutations == "auto" else int(config.n_permutations)
    results.n_permutations = n
    for index, name in enumerate(fits[0].contrasts):
        effects = np.array([f.effect[index][[f.units.index(u) for u in shared]] for f in fits])
        results.group[name] = group_signflip(
            effects, units=shared, n_permutations=n, seed=config.seed
        )


def _surrogate_designs(designs, onsets, ratings, config: EncodeConfig, n_surrogates: int):
    """Per surrogate, per participant, per run: the design on phase-randomised group ratings.

    One surrogate of each stimulus' group ratings per draw, shared by every
    participant (the ratings are the group's), through the same smoothing and
    derivative as the observed regressors.
    """
    from frisson._check import rng_from_seed
    from frisson.glm import absolute_derivative, phase_randomise, with_drives

    rng = rng_from_seed(config.seed)
    for _ in range(n_surrogates):
        drives = {
            name: absolute_derivative(phase_randomise(series, rng), smooth_s=config.smooth_s)
            for name, series in ratings.items()
        }
        yield [
            [
                with_drives(design, [(onset, drives[name]) for onset, name in placed])
                for design, placed in zip(participant, participant_onsets, strict=True)
            ]
            for participant, participant_onsets in zip(designs, onsets, strict=True)
        ]


def _own_channels(study, config: EncodeConfig, run) -> tuple[str, ...]:
    responses = study.read_responses(run)
    return tuple(config.channels or [k for k in responses if k not in _PHYSIO_KINDS])


def _shared_space(spaces: dict[str, Any]) -> dict[str, Any] | None:
    """The participants' common voxel grid, or None (ROIs, or grids that differ)."""
    values = list(spaces.values())
    if not values or values[0] is None:
        return None
    first = values[0]
    for other in values[1:]:
        if (
            other is None
            or tuple(other["shape"]) != tuple(first["shape"])
            or not np.allclose(other["affine"], first["affine"])
        ):
            return None
    return first
