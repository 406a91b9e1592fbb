"""``frisson encode`` with ``mode = "isc"``: inter-subject correlation of a study's targets.

How similarly do listeners' brains, ratings or bodies follow the same music?
Per stimulus, each participant's response is cut to the stimulus (BOLD: the
frames acquired while it played, each voxel linearly detrended, as scanner
drift would otherwise correlate or anti-correlate listeners by its sign;
ratings and physiology: the stimulus plus ``post_s`` on the
``response_rate_hz`` grid, as the encoding targets), then
:func:`frisson.isc.isc_units` gives the leave-one-out ISC per unit (voxel, ROI
or channel) pooled over stimuli, with a circular-shift or phase-randomised
null (``isc_null``), max-statistic ``p_fwe`` and Benjamini-Hochberg ``q``.
Heart rate is the channel ``"hr"`` (derived from PPG or ECG).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frisson._logging import logger
from frisson.errors import DataError
from frisson.pipelines._config import check_output_folder, log_study_problems
from frisson.pipelines._emotion_glm import _shared_space
from frisson.pipelines.encoding import (
    EncodeConfig,
    _bold_targets,
    _presentations,
    _select_runs,
    _trial_channels,
)
from frisson.timeseries import TimeSeries

__all__ = ["StudyISCResults", "run_study_isc"]

_MIN_PARTICIPANTS = 3


@dataclass
class StudyISCResults:
    """What :func:`run_study_isc` computed.

    Attributes
    ----------
    config : EncodeConfig
    isc : frisson.isc.UnitISC
        Per unit: ISC (pooled over stimuli and per stimulus), p, p_fwe, q.
    participants : dict of str to list of str
        Per stimulus, the participants whose responses entered.
    space : dict or None
        BOLD voxel grid (``shape``, ``affine``) for maps.
    files : list of Path

    """

    config: EncodeConfig
    isc: Any = None
    participants: dict[str, list[str]] = field(default_factory=dict)
    space: dict[str, Any] | None = None
    files: list = field(default_factory=list)

    def summary(self) -> str:
        """Units, stimuli, and how many units pass ``p_fwe`` and ``q`` below .05."""
        result = self.isc
        q = self.config.fdr_q
        return "\n".join(
            [
                f"ISC of {self.config.target} on {self.config.study}: {len(result.units)} units, "
                f"{len(result.stimuli)} stimuli, {result.n_participants} participants "
                f"({result.null} null, {result.n_surrogates} surrogates)",
                f"  {int(np.sum(result.p_fwe <= 0.05))} units with p_fwe <= .05 (max over units), "
                f"{int(np.sum(result.q < q))} with q < {q:g}; median ISC "
                f"{np.median(result.mean):.3f}",
            ]
        )


def _bold_segments(study, config: EncodeConfig, runs: list):
    """Stimulus -> participant -> BOLD frames acquired while it played, linearly detrended."""
    from scipy.signal import detrend

    by_participant: dict[str, list] = {}
    for run in runs:
        by_participant.setdefault(run.participant, []).append(run)
    out: dict[str, dict[str, TimeSeries]] = {}
    spaces = []
    for participant, participant_runs in by_participant.items():
        try:
            bold_runs, _, space = _bold_targets(study, config, participant_runs)
        except DataError as error:
            logger.warning("ISC: sub-%s skipped: %s", participant, error)
            continue
        spaces.append(space)
        for run, bold in zip(participant_runs, bold_runs, strict=True):
            for onset, duration, name in _presentations(study, run):
                inside = (bold.times_s >= onset - 1e-9) & (bold.times_s < onset + duration)
                if inside.sum() < 3 or participant in out.get(name, {}):
                    continue
                values = detrend(np.asarray(bold.values[inside], dtype=np.float64), axis=0)
                series = TimeSeries(values, bold.rate_hz, names=list(bold.names))
                out.setdefault(name, {})[participant] = series
    return out, _shared_space(dict(enumerate(spaces)))


def _channel_segments(study, config: EncodeConfig, runs: list):
    """Stimulus -> participant -> ratings or physiology channels on stimulus time."""
    default = None if config.target == "ratings" else ("eda",)
    out: dict[str, dict[str, TimeSeries]] = {}
    for run in runs:
        for stimulus, _, values in _trial_channels(study, config, run, default):
            if not values or run.participant in out.get(stimulus, {}):
                continue
            names = sorted(values)
            data = np.column_stack([values[n] for n in names])
            missing = float(np.isnan(data).mean())
            if missing > 0.2:
                logger.warning(
                    "ISC: %s %s: %.0f %% missing; left out", run.label, stimulus, 100 * missing
                )
                continue
            series = TimeSeries(data, config.response_rate_hz, names=names)
            out.setdefault(stimulus, {})[run.participant] = series.interpolate_nan()
    return out


def _common_units(segments: dict[str, dict[str, TimeSeries]]) -> dict[str, list[TimeSeries]]:
    """Stimuli heard by >= 3 participants, their series on the units every one has."""
    kept = {k: v for k, v in segments.items() if len(v) >= _MIN_PARTICIPANTS}
    for name in sorted(set(segments) - set(kept)):
        logger.warning("ISC: %s heard by fewer than 3 participants; left out", name)
    if not kept:
        raise DataError(f"ISC needs stimuli heard by >= {_MIN_PARTICIPANTS} participants; none is.")
    all_series = [s for by in kept.values() for s in by.values()]
    units = [u for u in all_series[0].names if all(u in s.names for s in all_series)]
    if not units:
        raise DataError("ISC: the participants share no unit (set mask = ... or atlas).")
    return {k: [s.select(units) for s in by.values()] for k, by in sorted(kept.items())}


def run_study_isc(config: EncodeConfig, *, overwrite: bool = False) -> StudyISCResults:
    """Leave-one-out ISC per unit of a study's target (``frisson encode``, ``mode = "isc"``).

    Parameters
    ----------
    config : EncodeConfig
        ``mode = "isc"``; ``target`` (``bold``: voxels in ``mask`` or ROIs of
        ``atlas``; ``ratings``; ``physio`` with ``channels``, e.g. ``["eda",
        "hr"]``), ``isc_null``, ``n_permutations`` (surrogates; ``"auto"``:
        1000), ``seed``.

    overwrite : bool
        Write into a non-empty output folder frisson did not create.

    Returns
    -------
    StudyISCResults

    Examples
    --------
    >>> config = EncodeConfig(study="study", output="out", mode="isc")  # doctest: +SKIP
    >>> print(run_study_isc(config).summary())  # doctest: +SKIP

    """
    from frisson.isc import isc_units
    from frisson.study import read_study

    config.check()
    if config.mode != "isc":
        raise DataError(f"run_study_isc runs mode = 'isc', not {config.mode!r}.")
    study = read_study(config.study, task_stimuli=config.task_stimuli or None)
    log_study_problems(study)
    runs = _select_runs(study, config)
    check_output_folder(Path(config.output), overwrite=overwrite)
    space = None
    if config.target == "bold":
        segments, space = _bold_segments(study, config, runs)
    else:
        segments = _channel_segments(study, config, runs)
    responses = _common_units(segments)
    n_surrogates = 1000 if config.n_permutations == "auto" else int(config.n_permutations)
    result = isc_units(
        responses,
        null=config.isc_null,
        n_surrogates=max(1, n_surrogates),
        min_shift_s=min(5.0, min(s[0].duration_s for s in responses.values()) / 4),
        seed=config.seed,
    )
    participants = {k: sorted(v) for k, v in segments.items() if k in responses}
    return StudyISCResults(config, result, participants, space)
