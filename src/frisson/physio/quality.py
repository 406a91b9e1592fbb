"""Quality flags for physiological recordings: flat lines, clipping, dropouts, implausible HR.

Flags are reported, never acted on: nothing is dropped or changed here, so an
analysis can decide (and a report can show) what to exclude.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from frisson._check import check_int, check_positive, check_range_s
from frisson._logging import logger
from frisson.errors import ParameterError
from frisson.physio.cardiac import Beats
from frisson.timeseries import TimeSeries

__all__ = ["QualityFlag", "QualityReport", "check_beats", "check_signal"]


@dataclass(frozen=True)
class QualityFlag:
    """One problem found in a recording.

    Attributes
    ----------
    kind : str
        ``"flat"``, ``"clipping"``, ``"dropout"`` or ``"implausible_hr"``.
    channel : str
        The channel (or ``"beats"``).
    start_s, end_s : float
        Where the problem is, in seconds on the recording's time axis.
    detail : str
        What was seen, in words.

    """

    kind: str
    channel: str
    start_s: float
    end_s: float
    detail: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_s", float(self.start_s))
        object.__setattr__(self, "end_s", float(self.end_s))


@dataclass(frozen=True)
class QualityReport:
    """Every flag raised for one recording, with the settings used.

    Attributes
    ----------
    flags : list of QualityFlag
    duration_s : float
        Length of the checked recording.
    params : dict
        The thresholds used, for reports.

    """

    flags: list[QualityFlag]
    duration_s: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was flagged."""
        return not self.flags

    def fraction(self, kind: str) -> float:
        """Fraction of the recording covered by flags of one kind (overlaps merged)."""
        spans = sorted((f.start_s, f.end_s) for f in self.flags if f.kind == kind)
        total, current_end = 0.0, -np.inf
        for start, end in spans:
            start = max(start, current_end)
            if end > start:
                total += end - start
            current_end = max(current_end, end)
        return total / self.duration_s if self.duration_s > 0 else 0.0

    def to_frame(self):
        """One row per flag: ``kind``, ``channel``, ``start_s``, ``end_s``, ``detail``."""
        import pandas as pd

        return pd.DataFrame(
            [vars(f) for f in self.flags],
            columns=["kind", "channel", "start_s", "end_s", "detail"],
        )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array (stop exclusive)."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


def check_signal(
    series: TimeSeries,
    *,
    flat_min_s: float = 2.0,
    flat_tolerance: float = 0.0,
    clip_min_samples: int = 3,
    dropout_min_s: float = 0.0,
) -> QualityReport:
    """Flag flat lines, clipping and dropouts in every channel of a recording.

    Parameters
    ----------
    series : TimeSeries
        Raw signal(s) at the recording's rate.
    flat_min_s : float
        A stretch of at least this long whose samples differ from their
        neighbours by at most ``flat_tolerance`` is a flat line (default 2 s:
        a detached sensor).
    flat_tolerance : float
        Largest sample-to-sample change still counted as flat, in the signal's
        unit (default 0: exactly repeated values).
    clip_min_samples : int
        Runs of at least this many samples at the channel's maximum or minimum
        value are clipping at an amplifier or ADC limit (default 3).
    dropout_min_s : float
        NaN runs at least this long are dropouts (default 0: any NaN sample).

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(np.arange(1000) / 10.0)
    >>> x[300:600] = 0.25          # 3 s flat
    >>> x[700:710] = np.nan        # 0.1 s dropout
    >>> report = check_signal(TimeSeries(x, 100.0, names=["ppg"]))
    >>> [(f.kind, f.start_s, f.end_s) for f in report.flags]
    [('flat', 3.0, 6.0), ('dropout', 7.0, 7.1)]

    """
    check_positive("flat_min_s", flat_min_s)
    check_positive("flat_tolerance", flat_tolerance, allow_zero=True)
    clip_min_samples = check_int("clip_min_samples", clip_min_samples, minimum=2)
    check_positive("dropout_min_s", dropout_min_s, allow_zero=True)
    rate, start = series.rate_hz, series.start_s
    flags: list[QualityFlag] = []
    for c, name in enumerate(series.names):
        x = series.values[:, c].astype(np.float64)
        missing = np.isnan(x)
        channel_flags = []
        # flat: consecutive differences within tolerance (NaN breaks a run)
        same = np.abs(np.diff(x)) <= flat_tolerance
        for a, b in _runs(same):
            if (b - a) / rate >= flat_min_s:
                channel_flags.append(
                    QualityFlag(
                        "flat",
                        name,
                        start + a / rate,
                        start + (b + 1) / rate,
                        f"{(b - a + 1) / rate:.2f} s within {flat_tolerance:g} of {x[a]:.4g}",
                    )
                )
        finite = x[~missing]
        if finite.size:
            for level, label in ((finite.max(), "maximum"), (finite.min(), "minimum")):
                at = x == level
                for a, b in _runs(at):
                    if b - a >= clip_min_samples and not _inside_flat(
                        channel_flags, a, b, rate, start
                    ):
                        channel_flags.append(
                            QualityFlag(
                                "clipping",
                                name,
                                start + a / rate,
                                start + b / rate,
                                f"{b - a} samples at the channel's {label} {level:.4g}",
                            )
                        )
        for a, b in _runs(missing):
            if (b - a) / rate >= dropout_min_s:
                channel_flags.append(
                    QualityFlag(
                        "dropout",
                        name,
                        start + a / rate,
                        start + b / rate,
                        f"{b - a} missing samples",
                    )
                )
        flags.extend(sorted(channel_flags, key=lambda f: f.start_s))
    params = {
        "flat_min_s": flat_min_s,
        "flat_tolerance": flat_tolerance,
        "clip_min_samples": clip_min_samples,
        "dropout_min_s": dropout_min_s,
    }
    for f in flags:
        logger.warning(
            "quality: %s in %s at %.2f-%.2f s (%s)", f.kind, f.channel, f.start_s, f.end_s, f.detail
        )
    return QualityReport(flags, series.duration_s, params)


def _inside_flat(flags: list[QualityFlag], a: int, b: int, rate: float, start: float) -> bool:
    t0, t1 = start + a / rate, start + b / rate
    return any(f.kind == "flat" and f.start_s <= t0 and t1 <= f.end_s + 1e-9 for f in flags)


def check_beats(beats: Beats, *, bpm_range: tuple[float, float] = (30.0, 200.0)) -> QualityReport:
    """Flag inter-beat intervals whose rate lies outside a plausible range.

    Parameters
    ----------
    beats : Beats
        From :func:`~frisson.physio.cardiac.find_beats`.
    bpm_range : (float, float)
        Plausible heart rates in beats per minute (default 30-200).

    Returns
    -------
    QualityReport
        One ``implausible_hr`` flag per run of consecutive implausible intervals.

    Examples
    --------
    >>> beats = Beats(np.r_[0.0, 1.0, 2.0, 5.0, 6.0], "ppg", "-", 0, (0.0, 6.0))
    >>> [(f.start_s, f.end_s) for f in check_beats(beats).flags]
    [(2.0, 5.0)]

    """
    low, high = check_range_s("bpm_range", bpm_range)
    if low <= 0:
        raise ParameterError(f"bpm_range must be positive, got {bpm_range!r}.")
    rate = 60.0 / beats.ibi_s
    bad = (rate < low) | (rate > high)
    flags = []
    for a, b in _runs(bad):
        seen = rate[a:b]
        flags.append(
            QualityFlag(
                "implausible_hr",
                "beats",
                float(beats.times_s[a]),
                float(beats.times_s[b]),
                f"{b - a} interval(s) at {seen.min():.0f}-{seen.max():.0f} bpm, outside "
                f"{low:g}-{high:g} bpm",
            )
        )
    for f in flags:
        logger.warning(
            "quality: implausible heart rate at %.2f-%.2f s (%s)", f.start_s, f.end_s, f.detail
        )
    return QualityReport(flags, beats.span_s[1] - beats.span_s[0], {"bpm_range": (low, high)})
