"""Inter-subject correlation (ISC) of responses to the same stimulus.

How similarly do listeners' bodies (or ratings) follow the same music?
:func:`isc` computes leave-one-out ISC (each participant against the mean of
the others) or pairwise ISC (every pair), with a p-value from circularly
shifted surrogates: each participant's series is shifted by its own random
offset, which keeps every series' autocorrelation but breaks the
stimulus-locked alignment (Nastase et al. 2019). :func:`sliding_isc` gives
ISC over time in sliding windows, with per-window p-values against the same
surrogates (and family-wise corrected ones from the maximum over windows).
:func:`isc_near_events` asks whether ISC is higher near events (e.g. latent
transitions) than elsewhere, against the ISC series circularly shifted past
the fixed events (every shift).

Calibration on null listeners (independent AR(1) noise, phi 0.9-0.99 each,
60-180 s at 10 Hz, 5-14 listeners; ``benchmarks/latent_nulls.py``), at alpha .05:
:func:`isc` 4.5 % (200 sets; 2.3 % pooled over 800 sets from four runs, so
conservative rather than liberal); :func:`sliding_isc` 5.9 % of windows and
10 % of songs with any ``p_fwe <= .05`` (60 songs; 4.6 % and 3.3 % in a second
run of 120); :func:`isc_near_events` 5.0 % (200 songs; the former event-shift
null 9.0 %).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive, rng_from_seed
from frisson.errors import DataError
from frisson.timeseries import TimeSeries

__all__ = [
    "EventISC",
    "ISCResult",
    "SlidingISC",
    "UnitISC",
    "common_grid",
    "isc",
    "isc_near_events",
    "isc_units",
    "sliding_isc",
]

ISCMethod = Literal["loo", "pairwise"]
ISCNull = Literal["shift", "phase"]


def common_grid(responses: Sequence[TimeSeries], *, rate_hz: float | None = None) -> TimeSeries:
    """Stack single-channel responses of several participants on one time grid.

    Every response is put on the grid of the first (or resampled to
    ``rate_hz``) with :meth:`TimeSeries.align_to`; the result is cropped to
    the span where all are finite.

    Parameters
    ----------
    responses : sequence of TimeSeries
        One single-channel series per participant, on the same time base
        (e.g. t = 0 at stimulus onset).
    rate_hz : float, optional
        Rate of the common grid (default: the first response's).

    Returns
    -------
    TimeSeries, shape (n_times, n_participants)

    """
    if len(responses) < 2:
        raise DataError(f"ISC needs at least 2 participants, got {len(responses)}.")
    grid = responses[0] if rate_hz is None else responses[0].resample(rate_hz)
    columns = [r.align_to(grid).values[:, 0] for r in responses]
    values = np.column_stack(columns)
    finite = np.flatnonzero(np.isfinite(values).all(axis=1))
    if finite.size < 3:
        raise DataError("The responses share fewer than 3 finite samples; check their times.")
    span = slice(finite[0], finite[-1] + 1)
    if not np.isfinite(values[span]).all():
        raise DataError(
            "Responses have NaN inside their common span; interpolate them first "
            "(TimeSeries.interpolate_nan)."
        )
    return TimeSeries(
        values[span],
        grid.rate_hz,
        start_s=grid.times_s[finite[0]],
        names=[f"p{i}" for i in range(len(responses))],
    )


@dataclass(frozen=True)
class ISCResult:
    """ISC of one stimulus with a circular-shift p-value.

    Attributes
    ----------
    method : str
        ``"loo"`` or ``"pairwise"``.
    values : ndarray
        Per participant (leave-one-out) or per pair (pairwise, ``i < j`` order).
    mean : float
        Mean ISC (Fisher-z averaged, then back-transformed).
    p : float
        One-sided p of ``mean`` against surrogates with independently circularly
        shifted participants: ``(1 + #(null >= observed)) / (1 + n_surrogates)``.
    null : ndarray
        The surrogate distribution of ``mean``.

    """

    method: str
    values: np.ndarray
    mean: float
    p: float
    null: np.ndarray = field(repr=False)


def _zscore(x: np.ndarray) -> np.ndarray:
    """Z-score along the time axis (-2) of ``(..., n_times, n_participants)``."""
    x = x - x.mean(axis=-2, keepdims=True)
    sd = x.std(axis=-2, keepdims=True)
    return x / np.where(sd > 0, sd, 1.0)


def _isc_values(data: np.ndarray, method: str) -> np.ndarray:
    """ISC of ``(..., n_times, n_participants)``: ``(..., n)`` (loo) or ``(..., n_pairs)``."""
    z = _zscore(data)
    n_times, n = z.shape[-2:]
    if method == "pairwise":
        corr = np.swapaxes(z, -1, -2) @ z / n_times
        upper = np.triu_indices(n, k=1)
        return corr[..., upper[0], upper[1]]
    others = _zscore(z.sum(axis=-1, keepdims=True) - z)  # the mean of the others, rescaled
    return (z * others).sum(axis=-2) / n_times


def _fisher_mean(values: np.ndarray) -> np.ndarray:
    """Fisher-z average over the last axis, back-transformed."""
    return np.tanh(np.mean(np.arctanh(np.clip(values, -0.999999, 0.999999)), axis=-1))


def _shifted(
    data: np.ndarray, rng: np.random.Generator, min_shift: int, n_surrogates: int
) -> np.ndarray:
    """``n_surrogates`` copies of ``data`` with each participant circularly shifted on its own."""
    n_times, n = data.shape
    shifts = rng.integers(min_shift, n_times - min_shift + 1, size=(n_surrogates, 1, n))
    index = (np.arange(n_times)[np.newaxis, :, np.newaxis] - shifts) % n_times
    return data[index, np.arange(n)]


def _null_means(
    data: np.ndarray, method: str, rng: np.random.Generator, min_shift: int, n_surrogates: int
) -> np.ndarray:
    """Mean ISC of circular-shift surrogates, computed in batches that bound memory."""
    batch = max(1, int(4e6 // data.size))
    out = []
    for start in range(0, n_surrogates, batch):
        count = min(batch, n_surrogates - start)
        out.append(_fisher_mean(_isc_values(_shifted(data, rng, min_shift, count), method)))
    return np.concatenate(out)


def isc(
    responses: TimeSeries | Sequence[TimeSeries],
    *,
    method: ISCMethod = "loo",
    n_surrogates: int = 1000,
    min_shift_s: float = 5.0,
    seed: int = 0,
) -> ISCResult:
    """Inter-subject correlation of responses to one stimulus.

    Parameters
    ----------
    responses : TimeSeries or sequence of TimeSeries
        ``(n_times, n_participants)`` on one grid, or one series per participant
        (stacked with :func:`common_grid`).
    method : {'loo', 'pairwise'}
        Leave-one-out (each participant vs the mean of the others) or every pair.
    n_surrogates : int
        Circular-shift surrogates for the p-value.
    min_shift_s : float
        Smallest circular shift of a participant (default 5 s).
    seed : int
        Seed of the shifts.

    Returns
    -------
    ISCResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = np.convolve(rng.standard_normal(1200), np.ones(20) / 20, mode="same")
    >>> data = shared[:, None] + 0.05 * rng.standard_normal((1200, 6))
    >>> result = isc(TimeSeries(data, 10.0), n_surrogates=200)
    >>> result.mean > 0.5, result.p < 0.01
    (True, True)

    """
    check_option("method", method, ["loo", "pairwise"])
    grid = responses if isinstance(responses, TimeSeries) else common_grid(responses)
    data = np.asarray(grid.values, dtype=float)
    if data.shape[1] < 2:
        raise DataError(f"ISC needs at least 2 participants, got {data.shape[1]}.")
    min_shift = round(check_positive("min_shift_s", min_shift_s) * grid.rate_hz)
    if 2 * min_shift >= data.shape[0]:
        raise DataError(
            f"min_shift_s={min_shift_s} leaves no circular shift for {grid.duration_s:.1f} s "
            "of response; use a smaller min_shift_s."
        )
    values = _isc_values(data, method)
    mean = float(_fisher_mean(values))
    rng = rng_from_seed(seed)
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    null = _null_means(data, method, rng, min_shift, n_surrogates)
    p = (1 + np.count_nonzero(null >= mean)) / (1 + null.size)
    return ISCResult(method, values, mean, float(p), null)


@dataclass(frozen=True)
class SlidingISC:
    """ISC over time in sliding windows.

    Attributes
    ----------
    isc : TimeSeries
        Mean leave-one-out ISC per window, at the window centres (channel ``isc``).
    p : ndarray
        Per-window one-sided p against circular-shift surrogates.
    p_fwe : ndarray
        Family-wise corrected p: against the surrogates' maximum over windows.
    window_s, hop_s : float

    """

    isc: TimeSeries
    p: np.ndarray = field(repr=False)
    p_fwe: np.ndarray = field(repr=False)
    window_s: float
    hop_s: float


def _windowed_isc(data: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Mean LOO ISC per window of ``(..., n_times, n)``: shape ``(..., n_windows)``."""
    starts = np.arange(0, data.shape[-2] - window + 1, hop)
    windows = np.stack([data[..., s : s + window, :] for s in starts], axis=-3)
    return _fisher_mean(_isc_values(windows, "loo"))


def sliding_isc(
    responses: TimeSeries | Sequence[TimeSeries],
    *,
    window_s: float = 10.0,
    hop_s: float = 1.0,
    n_surrogates: int = 500,
    min_shift_s: float = 5.0,
    seed: int = 0,
) -> SlidingISC:
    """Time-resolved leave-one-out ISC in sliding windows, with circular-shift nulls.

    Parameters
    ----------
    responses : TimeSeries or sequence of TimeSeries
        As in :func:`isc`.
    window_s, hop_s : float
        Window length and hop in seconds (default 10 s and 1 s).
    n_surrogates : int
        Surrogates (each participant circularly shifted independently, then
        windowed exactly like the data).
    min_shift_s : float
        Smallest circular shift.
    seed : int
        Seed of the shifts.

    Returns
    -------
    SlidingISC

    """
    grid = responses if isinstance(responses, TimeSeries) else common_grid(responses)
    data = np.asarray(grid.values, dtype=float)
    window = round(check_positive("window_s", window_s) * grid.rate_hz)
    hop = max(1, round(check_positive("hop_s", hop_s) * grid.rate_hz))
    if window < 3 or window > data.shape[0]:
        raise DataError(
            f"window_s={window_s} gives {window} samples for a response of {data.shape[0]}; "
            "choose 3 samples <= window <= the response."
        )
    min_shift = round(check_positive("min_shift_s", min_shift_s) * grid.rate_hz)
    if 2 * min_shift >= data.shape[0]:
        raise DataError(f"min_shift_s={min_shift_s} leaves no circular shift; make it smaller.")
    observed = _windowed_isc(data, window, hop)
    rng = rng_from_seed(seed)
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    batch = max(1, int(4e6 // (data.size * max(1, window // hop))))
    null = np.concatenate(
        [
            _windowed_isc(
                _shifted(data, rng, min_shift, min(batch, n_surrogates - start)), window, hop
            )
            for start in range(0, n_surrogates, batch)
        ]
    )
    p = (1 + (null >= observed[np.newaxis]).sum(axis=0)) / (1 + null.shape[0])
    max_null = null.max(axis=1)
    p_fwe = (1 + (max_null[:, np.newaxis] >= observed[np.newaxis]).sum(axis=0)) / (
        1 + null.shape[0]
    )
    start = grid.start_s + (window - 1) / 2 / grid.rate_hz
    series = TimeSeries(observed, grid.rate_hz / hop, start_s=start, names=["isc"])
    return SlidingISC(series, p, p_fwe, window / grid.rate_hz, hop / grid.rate_hz)


@dataclass(frozen=True)
class EventISC:
    """Mean windowed ISC near events vs elsewhere.

    Attributes
    ----------
    near_mean : float
        Mean ISC of windows whose centre lies within ``radius_s`` of an event.
    far_mean : float
        Mean ISC of the other windows.
    p : float
        One-sided p of ``near_mean - far_mean`` against the same contrast for
        the ISC series circularly shifted past the fixed events (every shift,
        the observed one included): ``#(null >= observed) / n_shifts``.
    null : ndarray, shape (n_shifts,)
        The contrast at every shift (the first is the observed one, shift 0).

    """

    near_mean: float
    far_mean: float
    p: float
    null: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def isc_near_events(
    sliding: SlidingISC,
    event_times_s: Sequence[float],
    *,
    radius_s: float = 5.0,
    n_surrogates: int | None = None,
    seed: int = 0,
) -> EventISC:
    """Test whether ISC is higher near events (e.g. latent transitions) than elsewhere.

    The statistic is ``mean(ISC near) - mean(ISC far)``, with "near" the windows
    centred within ``radius_s`` of an event. The null keeps the events where
    they are and circularly shifts the ISC series past them, by every shift
    ``0 .. n_windows - 1`` (shift 0 is the observed contrast itself), so the
    near and far sets keep their sizes and the ISC series its
    autocorrelation; ``p = #(null >= observed) / n_shifts`` is exact when the
    ISC series is stationary around the circle, and never below
    ``1 / n_windows``.

    The earlier null (event times shifted by random offsets at least
    ``2 * radius_s`` from zero, wrapped into the series) rejected 8-9 % of
    stationary null series at alpha .05: leaving out the shifts near zero
    removes exactly the contrasts that resemble the observed one (the
    contrast is smooth in the shift), so the observed value looks more
    extreme than it is; events wrapped near the edges also changed the size
    of the near set. Every shift, zero included, gives 5.0 % on 200 null
    series (``benchmarks/latent_nulls.py``).

    Parameters
    ----------
    sliding : SlidingISC
        From :func:`sliding_isc`.
    event_times_s : sequence of float
        Event times on the same time base; at least one must fall within
        ``radius_s`` of a window centre, and not all windows may be near.
    radius_s : float
        Windows centred within this distance of an event count as near.
    n_surrogates : int, optional
        Default (None): every shift. An integer below the number of windows
        draws that many distinct non-zero shifts at random (then
        ``p = (1 + #(null >= observed)) / (1 + n_surrogates)``).
    seed : int
        Seed of the shift draw (only used with ``n_surrogates``).

    Returns
    -------
    EventISC

    Examples
    --------
    >>> times = np.arange(200.0)
    >>> bumps = np.exp(-0.5 * ((times[:, None] - [40.0, 90.0, 165.0]) / 3) ** 2).sum(axis=1)
    >>> isc_series = TimeSeries(0.1 + 0.5 * bumps, 1.0)
    >>> sliding = SlidingISC(isc_series, np.ones(200), np.ones(200), 10.0, 1.0)
    >>> result = isc_near_events(sliding, [40.0, 90.0, 165.0])
    >>> round(result.near_mean, 2), round(result.far_mean, 2), result.p
    (0.42, 0.1, 0.005)

    """
    series = sliding.isc
    times = series.times_s
    values = np.asarray(series.values[:, 0], dtype=float)
    events = np.asarray(event_times_s, dtype=float)
    if events.size == 0:
        raise DataError("No events given; nothing to compare.")
    radius_s = check_positive("radius_s", radius_s)
    near = (np.abs(times[:, np.newaxis] - events[np.newaxis]) <= radius_s).any(axis=1)
    if not near.any() or near.all():
        which = "no window" if not near.any() else "every window"
        raise DataError(
            f"With radius_s={radius_s}, {which} of the ISC series "
            f"({times[0]:.1f}-{times[-1]:.1f} s) is near an event; "
            "check the event times or choose another radius_s."
        )
    n = values.size
    if n_surrogates is None:
        shifts = np.arange(n)
    else:
        n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
        if n_surrogates >= n - 1:
            shifts = np.arange(n)
            n_surrogates = None
        else:
            drawn = rng_from_seed(seed).choice(np.arange(1, n), size=n_surrogates, replace=False)
            shifts = np.r_[0, np.sort(drawn)]
    weights = np.where(near, 1.0 / near.sum(), -1.0 / (~near).sum())
    # contrast at shift k: sum_t weights[t] * values[t - k]
    index = (np.arange(n)[np.newaxis, :] - shifts[:, np.newaxis]) % n
    null = values[index] @ weights
    observed = null[0]
    exceed = np.count_nonzero(null >= observed - 1e-12)
    if n_surrogates is None:
        p = exceed / null.size
    else:
        p = exceed / (1 + n_surrogates)  # the observed (shift 0) counts once, as the "+1"
    return EventISC(float(values[near].mean()), float(values[~near].mean()), float(p), null)


# ----------------------------------------------------------------- many units (voxels)
@dataclass(frozen=True)
class UnitISC:
    """Leave-one-out ISC of many units (voxels, ROIs, rating channels) over stimuli.

    Attributes
    ----------
    units : list of str
        Unit names (the responses' channels).
    stimuli : list of str
        Stimuli pooled.
    values : ndarray, shape (n_stimuli, n_units)
        Per stimulus, the leave-one-out ISC averaged over participants
        (Fisher z, back-transformed).
    mean : ndarray, shape (n_units,)
        The Fisher-z mean of ``values`` over stimuli, back-transformed.
    p : ndarray, shape (n_units,)
        One-sided (ISC > 0) p per unit against the surrogates:
        ``(1 + #(null >= mean)) / (1 + n_surrogates)``.
    p_fwe : ndarray, shape (n_units,)
        Family-wise corrected p: against the surrogates' maximum over units.
    q : ndarray, shape (n_units,)
        Benjamini-Hochberg q of ``p`` over units.
    null : str
        ``"shift"`` or ``"phase"``.
    n_participants, n_surrogates : int

    """

    units: list[str]
    stimuli: list[str]
    values: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    p_fwe: np.ndarray = field(repr=False)
    q: np.ndarray = field(repr=False)
    null: str = "shift"
    n_participants: int = 0
    n_surrogates: int = 0

    def to_frame(self):
        """Per unit: isc (mean over stimuli), p, p_fwe, q, and ``isc_<stimulus>`` columns."""
        import pandas as pd

        frame = pd.DataFrame(
            {"unit": self.units, "isc": self.mean, "p": self.p, "p_fwe": self.p_fwe, "q": self.q}
        )
        for index, stimulus in enumerate(self.stimuli):
            frame[f"isc_{stimulus}"] = self.values[index]
        return frame


def _stack_participants(name: str, series: Sequence[TimeSeries]) -> tuple[np.ndarray, float]:
    """``(n_times, n_participants, n_units)`` z-scored, cut to the shortest series."""
    if len(series) < 3:
        raise DataError(
            f"stimulus {name!r}: leave-one-out ISC over units needs >= 3 participants, "
            f"got {len(series)}."
        )
    names = list(series[0].names)
    rates = {round(s.rate_hz, 9) for s in series}
    if len(rates) > 1 or any(list(s.names) != names for s in series):
        raise DataError(
            f"stimulus {name!r}: the participants' responses differ in rate or units; "
            "put them on one grid with the same channels first."
        )
    n_times = min(s.n_times for s in series)
    data = np.stack([np.asarray(s.values[:n_times], dtype=np.float64) for s in series], axis=1)
    if not np.isfinite(data).all():
        raise DataError(f"stimulus {name!r}: responses have NaN; interpolate or drop them first.")
    return _zscore(data.transpose(2, 0, 1)).transpose(1, 2, 0), series[0].rate_hz


def _loo_fisher(z: np.ndarray) -> np.ndarray:
    """Mean Fisher-z LOO ISC per unit of z-scored ``(..., n_times, n_participants, n_units)``."""
    n_times = z.shape[-3]
    others = z.sum(axis=-2, keepdims=True) - z
    others = others - others.mean(axis=-3, keepdims=True)
    sd = others.std(axis=-3, keepdims=True)
    r = (z * others).sum(axis=-3) / n_times / np.where(sd[..., 0, :, :] > 0, sd[..., 0, :, :], 1.0)
    return np.arctanh(np.clip(r, -0.999999, 0.999999)).mean(axis=-2)


def _surrogate(z: np.ndarray, null: str, rng: np.random.Generator, min_shift: int) -> np.ndarray:
    """One surrogate of ``(n_times, n_participants, n_units)``.

    The same shift or phases for every unit of a participant (so the units' mutual
    correlation, and the maximum over them, keeps its null distribution), independent
    across participants.
    """
    n_times, n = z.shape[:2]
    if null == "shift":
        shifts = rng.integers(min_shift, n_times - min_shift + 1, size=n)
        index = (np.arange(n_times)[:, None] - shifts[None, :]) % n_times
        return z[index, np.arange(n)]
    spectrum = np.fft.rfft(z, axis=0)
    phases = rng.uniform(0, 2 * np.pi, size=(spectrum.shape[0], n, 1))
    phases[0] = 0.0
    if n_times % 2 == 0:
        phases[-1] = 0.0  # the Nyquist term stays real
    return np.fft.irfft(spectrum * np.exp(1j * phases), n=n_times, axis=0)


def isc_units(
    responses: Mapping[str, Sequence[TimeSeries]],
    *,
    null: ISCNull = "shift",
    n_surrogates: int = 1000,
    min_shift_s: float = 5.0,
    seed: int = 0,
) -> UnitISC:
    """Leave-one-out ISC per unit (voxel, ROI, channel), pooled over stimuli, with FWE and FDR.

    Each participant's response to a stimulus is correlated with the mean of
    the other participants', per unit; participants are Fisher-z averaged,
    then stimuli. The null redraws the whole statistic from surrogates in
    which every participant's response to every stimulus is, independently,
    circularly shifted (``"shift"``, by ``min_shift_s`` or more) or
    phase-randomised (``"phase"``, keeping its power spectrum); a
    participant's units share the shift or phases, so the surrogates keep the
    correlation between units and the maximum over units is a valid
    family-wise null. Calibrated in ``tests/test_encode_isc.py`` (independent
    AR(1) noise per participant, phi 0.5-0.9).

    Parameters
    ----------
    responses : mapping of str to sequence of TimeSeries
        Stimulus -> one series per participant (>= 3), on stimulus time,
        sharing rate and channels (the units); cut to the shortest per stimulus.
    null : {'shift', 'phase'}
        Circular shifts or phase randomisation.
    n_surrogates : int
        Surrogates (the smallest p is ``1 / (1 + n_surrogates)``).
    min_shift_s : float
        Smallest circular shift (``"shift"`` only).
    seed : int
        Seed of the surrogates.

    Returns
    -------
    UnitISC

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = np.convolve(rng.standard_normal(300), np.ones(5) / 5, mode="same")
    >>> def listener():
    ...     noise = rng.standard_normal((300, 3))
    ...     noise[:, 0] += 2 * shared  # unit a follows the music, b and c do not
    ...     return TimeSeries(noise, 1.0, names=["a", "b", "c"])
    >>> result = isc_units({"song": [listener() for _ in range(6)]}, n_surrogates=200)
    >>> bool(result.p_fwe[0] < 0.01), bool((result.p_fwe[1:] > 0.05).all())
    (True, True)

    """
    from scipy.stats import false_discovery_control

    check_option("null", null, ["shift", "phase"])
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    check_positive("min_shift_s", min_shift_s)
    if not responses:
        raise DataError("isc_units: no stimulus given.")
    stimuli = list(responses)
    stacked, shifts = [], []
    for name in stimuli:
        z, rate_hz = _stack_participants(name, responses[name])
        min_shift = round(min_shift_s * rate_hz)
        if null == "shift" and 2 * min_shift >= z.shape[0]:
            raise DataError(
                f"stimulus {name!r}: min_shift_s={min_shift_s} leaves no circular shift for "
                f"{z.shape[0]} samples; use a smaller min_shift_s or null = 'phase'."
            )
        stacked.append(z)
        shifts.append(min_shift)
    units = list(responses[stimuli[0]][0].names)
    n_participants = {z.shape[1] for z in stacked}
    if any(z.shape[2] != len(units) for z in stacked):
        raise DataError("isc_units: the stimuli's responses have different units.")
    per_stimulus = np.array([_loo_fisher(z) for z in stacked])  # (n_stimuli, n_units) in z
    observed = per_stimulus.mean(axis=0)
    rng = rng_from_seed(seed)
    null_means = np.empty((n_surrogates, len(units)))
    for k in range(n_surrogates):
        null_means[k] = np.mean(
            [
                _loo_fisher(_surrogate(z, null, rng, m))
                for z, m in zip(stacked, shifts, strict=True)
            ],
            axis=0,
        )
    p = (1 + (null_means >= observed[None, :] - 1e-12).sum(axis=0)) / (1 + n_surrogates)
    maximum = null_means.max(axis=1)
    p_fwe = (1 + (maximum[:, None] >= observed[None, :] - 1e-12).sum(axis=0)) / (1 + n_surrogates)
    return UnitISC(
        units,
        stimuli,
        np.tanh(per_stimulus),
        np.tanh(observed),
        p,
        p_fwe,
        false_discovery_control(p, method="bh"),
        null,
        max(n_participants),
        n_surrogates,
    )
