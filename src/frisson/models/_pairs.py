"""Checks and grouping of (input series, target series) pairs shared by the models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

#: One training example: an input series (an embedding or acoustic features of one song)
#: and one participant's target series for that song.
Pair = tuple[TimeSeries, TimeSeries]


@dataclass
class InputGroup:
    """The pairs that share one input series (one song), targets on the input's grid.

    Attributes
    ----------
    inputs : TimeSeries, shape (n_frames, n_dims)
        The shared input.
    targets : list of ndarray, shape (n_frames,)
        Each pair's target put on the input grid (:func:`on_grid`); NaN where the
        target has no sample.
    indices : list of int
        Positions of the pairs in the list passed in.

    """

    inputs: TimeSeries
    targets: list[np.ndarray] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)

    def target_sum_count(self) -> tuple[np.ndarray, np.ndarray]:
        """Per frame, the sum of the finite targets and their number."""
        stacked = np.stack(self.targets)
        finite = np.isfinite(stacked)
        return np.where(finite, stacked, 0.0).sum(axis=0), finite.sum(axis=0).astype(float)


def check_input(series: object, what: str) -> TimeSeries:
    """Return ``series`` if it is a finite 2-D TimeSeries, else raise naming ``what``."""
    if not isinstance(series, TimeSeries):
        raise ParameterError(
            f"{what} must be a frisson TimeSeries, got {type(series).__name__}; wrap arrays "
            "with TimeSeries(values, rate_hz, start_s=...)."
        )
    values = series.values
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=float)).all(axis=1))
        first = f" (first at {series.times_s[bad[0]]:.2f} s)" if bad.size else ""
        raise DataError(
            f"{what} has {bad.size} frames with NaN or inf{first}; interpolate them first "
            "(TimeSeries.interpolate_nan)."
        )
    return series


def check_fitted_input(series: object, *, rate_hz: float, n_inputs: int) -> TimeSeries:
    """Check inputs to ``predict`` against the rate and width a model was fitted on."""
    series = check_input(series, "inputs")
    if not np.isclose(series.rate_hz, rate_hz, rtol=1e-9, atol=0):
        raise DataError(
            f"inputs are at {series.rate_hz:g} Hz but the model was fitted at "
            f"{rate_hz:g} Hz; resample them (TimeSeries.resample) or refit."
        )
    if series.n_channels != n_inputs:
        raise DataError(
            f"inputs have {series.n_channels} dimensions but the model was fitted on "
            f"{n_inputs}; use the same encoder layer (or features) as in fitting."
        )
    return series


def check_pairs(
    pairs: Sequence[Pair], what: str, *, rate_hz: float | None = None, n_dims: int | None = None
) -> list[InputGroup]:
    """Validate pairs, put each target on its input's grid and group pairs by input.

    Pairs whose inputs hold the same values on the same time base form one
    group, whatever object holds them (identity is checked first, then a hash).

    Parameters
    ----------
    pairs : sequence of (TimeSeries, TimeSeries)
        ``(inputs, target)``; the target has one channel, any rate.
    what : str
        Name of the argument, for error messages (``"train_pairs"``).
    rate_hz, n_dims : optional
        Required input rate and number of dimensions (e.g. those of the training pairs).

    Returns
    -------
    list of InputGroup
        In order of first appearance.

    """
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], TimeSeries):
        raise ParameterError(f"{what} must be a list of (inputs, target) pairs, not one pair.")
    try:
        pairs = list(pairs)
    except TypeError:
        raise ParameterError(
            f"{what} must be a list of (inputs, target) pairs, got {type(pairs).__name__}."
        ) from None
    if not pairs:
        raise DataError(f"{what} is empty; pass at least one (inputs, target) pair.")
    groups: dict[object, InputGroup] = {}
    keys_by_id: dict[int, object] = {}
    rates: list[float] = []
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise ParameterError(
                f"{what}[{index}] must be an (inputs, target) pair, got {type(pair).__name__}."
            )
        inputs = check_input(pair[0], f"{what}[{index}] inputs")
        target = pair[1]
        if not isinstance(target, TimeSeries):
            raise ParameterError(
                f"{what}[{index}] target must be a frisson TimeSeries, got {type(target).__name__}."
            )
        if target.n_channels != 1:
            raise DataError(
                f"{what}[{index}] target has {target.n_channels} channels "
                f"({', '.join(target.names)}); select one with target.select([name])."
            )
        rates.append(inputs.rate_hz)
        reference_rate = rate_hz if rate_hz is not None else rates[0]
        if not np.isclose(inputs.rate_hz, reference_rate, rtol=1e-9, atol=0):
            raise DataError(
                f"{what}[{index}] inputs are at {inputs.rate_hz:g} Hz but "
                f"{'the fitted model expects' if rate_hz is not None else 'the first pair has'} "
                f"{reference_rate:g} Hz; resample every input to one rate "
                "(TimeSeries.resample)."
            )
        expected_dims = n_dims if n_dims is not None else None
        if expected_dims is None and groups:
            expected_dims = next(iter(groups.values())).inputs.n_channels
        if expected_dims is not None and inputs.n_channels != expected_dims:
            raise DataError(
                f"{what}[{index}] inputs have {inputs.n_channels} dimensions, expected "
                f"{expected_dims}; use the same encoder layer (or features) for every song."
            )
        aligned = on_grid(target, inputs)
        if not np.isfinite(aligned).any():
            raise DataError(
                f"{what}[{index}] target ({target.start_s:.2f}-{target.end_s:.2f} s) does not "
                f"overlap its inputs ({inputs.start_s:.2f}-{inputs.end_s:.2f} s); both must be "
                "on stimulus time (t = 0 at stimulus onset)."
            )
        key = keys_by_id.get(id(inputs.values))
        if key is None:
            key = inputs.fingerprint()
            keys_by_id[id(inputs.values)] = key
        group = groups.setdefault(key, InputGroup(inputs))
        group.targets.append(aligned)
        group.indices.append(index)
    return list(groups.values())


def on_grid(series: TimeSeries, grid: TimeSeries) -> np.ndarray:
    """The first channel of ``series`` on ``grid``'s frames, NaN where it has no sample.

    When both share the rate and ``series`` starts on one of ``grid``'s frames,
    samples are copied as they are (a NaN stays one NaN); otherwise
    :meth:`TimeSeries.align_to` resamples (area average down, linear up).
    """
    offset = (series.start_s - grid.start_s) * grid.rate_hz
    same_rate = np.isclose(series.rate_hz, grid.rate_hz, rtol=1e-9, atol=0)
    if not (same_rate and abs(offset - round(offset)) < 1e-6):
        return series.align_to(grid).values[:, 0].astype(np.float64)
    out = np.full(grid.n_times, np.nan)
    first = round(offset)  # grid frame of the series' first sample
    lo, hi = max(0, first), min(grid.n_times, first + series.n_times)
    if hi > lo:
        out[lo:hi] = series.values[lo - first : hi - first, 0]
    return out


def frames(name: str, seconds: float, rate_hz: float) -> int:
    """``round(seconds * rate_hz)`` frames, at least one, else a ParameterError."""
    count = round(seconds * rate_hz)
    if count < 1:
        raise ParameterError(
            f"{name}={seconds:g} s is shorter than one frame at {rate_hz:g} Hz; lengthen it."
        )
    return count
