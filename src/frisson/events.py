"""Event-related epochs of responses, random within-song controls and group statistics.

The chills study asked whether skin conductance rises after latent
transitions more than after random moments of the same songs. The pieces:

- :func:`epochs` cuts a response around event times (window e.g. -2 to +8 s),
  subtracting the mean over a baseline (default t < 0).
- :func:`control_times` draws random within-song times, the same number as
  the events, at least one window away from every event (seeded).
- :func:`compare_epochs` tests, over time, whether per-participant averages
  of event epochs exceed those of control epochs: a paired cluster-based
  permutation test (MNE's ``permutation_cluster_1samp_test`` on the
  participant-wise differences; sign flips are exchangeable because
  participants are independent), with Cohen's d_z per time point.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from frisson._check import check_int, check_positive, check_range_s, rng_from_seed
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["ClusterTest", "Epochs", "compare_epochs", "control_times", "epochs"]


@dataclass(frozen=True)
class Epochs:
    """Epochs of one response channel around events.

    Attributes
    ----------
    data : ndarray, shape (n_epochs, n_times)
        Baseline-corrected response around each kept event.
    times_s : ndarray, shape (n_times,)
        Time of each column relative to the event (s).
    event_times_s : ndarray, shape (n_epochs,)
        The kept events, in the response's time base.
    dropped_s : ndarray
        Events dropped because their window left the recording or held NaN.
    window_s, baseline_s : tuple
        The resolved window and baseline (None = no baseline correction).

    """

    data: np.ndarray = field(repr=False)
    times_s: np.ndarray = field(repr=False)
    event_times_s: np.ndarray
    dropped_s: np.ndarray
    window_s: tuple[float, float]
    baseline_s: tuple[float, float] | None

    def average(self) -> np.ndarray:
        """Mean over epochs, shape (n_times,) (NaN when there is no epoch)."""
        if self.data.shape[0] == 0:
            return np.full(self.times_s.size, np.nan)
        return self.data.mean(axis=0)


def epochs(
    response: TimeSeries,
    event_times_s: Sequence[float],
    *,
    window_s: tuple[float, float] = (-2.0, 8.0),
    baseline_s: tuple[float | None, float | None] | None = (None, 0.0),
    channel: str | None = None,
) -> Epochs:
    """Cut a response around event times and subtract a baseline.

    Parameters
    ----------
    response : TimeSeries
        The response (e.g. phasic skin conductance of one trial, t = 0 at stimulus onset).
    event_times_s : sequence of float
        Event times in the response's time base.
    window_s : (float, float)
        Epoch window relative to each event, endpoints inclusive (default -2 to 8 s).
    baseline_s : (float or None, float or None) or None
        Interval ``[start, end)`` whose mean is subtracted from each epoch; None
        as an end means the window's edge (default ``(None, 0)``: all of t < 0,
        as in the chills study). ``None`` skips baseline correction.
    channel : str, optional
        Which channel of a multi-channel response (default: the only one).

    Returns
    -------
    Epochs
        Events whose window does not fit in the recording or contains NaN are
        dropped (listed in ``dropped_s`` and logged).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 60, 0.1)
    >>> response = TimeSeries(np.where(t >= 20, 1.0, 0.0), rate_hz=10.0)
    >>> ep = epochs(response, [20.0, 59.0], window_s=(-2, 4))
    >>> ep.data.shape, ep.dropped_s, float(ep.data[0, -1])
    ((1, 61), array([59.]), 1.0)

    """
    tmin, tmax = check_range_s("window_s", window_s)
    if channel is None:
        if response.n_channels != 1:
            raise ParameterError(
                f"The response has {response.n_channels} channels {response.names}; "
                "name one with channel=."
            )
        values = response.values[:, 0]
    else:
        values = response.channel(channel)
    values = np.asarray(values, dtype=float)
    first = int(np.round(tmin * response.rate_hz))
    last = int(np.round(tmax * response.rate_hz))
    offsets = np.arange(first, last + 1)
    times = offsets / response.rate_hz
    mask = _baseline_mask(times, baseline_s, tmin, tmax)
    kept, dropped, rows = [], [], []
    for event in np.asarray(event_times_s, dtype=float):
        centre = int(response.index_at(event))
        index = centre + offsets
        if index[0] < 0 or index[-1] >= values.size:
            dropped.append(event)
            continue
        segment = values[index]
        if not np.isfinite(segment).all():
            dropped.append(event)
            continue
        if mask is not None:
            segment = segment - segment[mask].mean()
        rows.append(segment)
        kept.append(event)
    if dropped:
        logger.info(
            "epochs: dropped %d of %d events (outside or NaN)",
            len(dropped),
            len(kept) + len(dropped),
        )
    data = np.array(rows) if rows else np.empty((0, offsets.size))
    resolved = None if mask is None else (float(times[mask][0]), float(times[mask][-1]))
    return Epochs(data, times, np.array(kept), np.array(dropped), (tmin, tmax), resolved)


def _baseline_mask(times, baseline_s, tmin, tmax) -> np.ndarray | None:
    if baseline_s is None:
        return None
    low, high = baseline_s
    low = tmin if low is None else float(low)
    high = tmax if high is None else float(high)
    # Start inclusive, end exclusive (unless it is the window's edge): (None, 0) is t < 0.
    mask = (times >= low - 1e-9) & ((times < high - 1e-9) | (high >= tmax))
    if not mask.any():
        raise ParameterError(
            f"baseline_s={baseline_s} contains no sample of the window {(tmin, tmax)}."
        )
    return mask


def control_times(
    event_times_s: Sequence[float],
    *,
    duration_s: float,
    window_s: tuple[float, float] = (-2.0, 8.0),
    n: int | None = None,
    min_distance_s: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Random within-song control times, kept out of every event's window.

    Parameters
    ----------
    event_times_s : sequence of float
        The events (s from song onset).
    duration_s : float
        Song length; controls keep their whole window inside ``[0, duration_s]``.
    window_s : (float, float)
        The epoch window ``(tmin, tmax)``, as in :func:`epochs`.
    n : int, optional
        Number of controls (default: as many as events).
    min_distance_s : float, optional
        By default (None) a control time never falls inside an event's window
        ``[t + tmin, t + tmax]`` ("one window away"). A number instead
        requires at least that distance from every event on both sides
        (e.g. the window length, so that no control epoch overlaps an event
        epoch at all; often impossible in songs with frequent transitions).
    seed : int
        Seed of the draw.

    Returns
    -------
    ndarray
        ``n`` sorted control times drawn uniformly from the admissible time
        (they may lie close to each other); empty, with a warning, when the
        song leaves no admissible time.

    Notes
    -----
    Under the null hypothesis (no event-locked response) event and control
    epochs are exchangeable wherever the controls lie, so the test stays
    valid. Under an effect, a control window may still catch part of an
    evoked response, which shrinks the estimated difference (conservative).

    Examples
    --------
    >>> times = control_times([30.0, 60.0], duration_s=90.0, seed=1)
    >>> inside = [(times > t - 2) & (times < t + 8) for t in (30.0, 60.0)]
    >>> times.size, bool(np.any(inside))
    (2, False)

    """
    tmin, tmax = check_range_s("window_s", window_s)
    duration_s = check_positive("duration_s", duration_s)
    events = np.asarray(event_times_s, dtype=float)
    n = events.size if n is None else check_int("n", n, minimum=0)
    if min_distance_s is None:
        excluded = np.column_stack([events + tmin, events + tmax])
    else:
        distance = check_positive("min_distance_s", min_distance_s)
        excluded = np.column_stack([events - distance, events + distance])
    low, high = -tmin, duration_s - tmax
    if high <= low:
        raise DataError(
            f"A song of {duration_s:.1f} s has no room for a {tmax - tmin:.1f}-s window."
        )
    free = _subtract_intervals((low, high), excluded)
    lengths = np.array([b - a for a, b in free])
    if n == 0:
        return np.array([])
    if lengths.sum() <= 0:
        logger.warning(
            "control_times: no admissible time in a %.1f-s song with %d events",
            duration_s,
            events.size,
        )
        return np.array([])
    rng = rng_from_seed(seed)
    which = rng.choice(len(free), size=n, p=lengths / lengths.sum())
    starts = np.array([free[i][0] for i in which])
    return np.sort(starts + rng.uniform(0, 1, n) * lengths[which])


def _subtract_intervals(
    span: tuple[float, float], excluded: np.ndarray
) -> list[tuple[float, float]]:
    """The parts of ``span`` outside every open interval of ``excluded``."""
    free = [span]
    for a, b in excluded:
        kept = []
        for lo, hi in free:
            if b <= lo or a >= hi:
                kept.append((lo, hi))
                continue
            if a > lo:
                kept.append((lo, a))
            if b < hi:
                kept.append((b, hi))
        free = kept
    return [(lo, hi) for lo, hi in free if hi > lo]


@dataclass(frozen=True)
class ClusterTest:
    """Paired cluster-based permutation test of events vs controls over epoch time.

    Attributes
    ----------
    times_s : ndarray, shape (n_times,)
        Epoch time.
    events_mean, control_mean : ndarray, shape (n_times,)
        Grand means over participants.
    events_se, control_se : ndarray, shape (n_times,)
        Standard errors over participants.
    t_values : ndarray, shape (n_times,)
        Paired t per time point (events - control).
    cohens_dz : ndarray, shape (n_times,)
        Mean difference / SD of differences per time point.
    clusters : list of (float, float, float, float)
        ``(start_s, end_s, cluster_mass, p)`` of every cluster.
    n_participants : int
    n_permutations : int

    """

    times_s: np.ndarray = field(repr=False)
    events_mean: np.ndarray = field(repr=False)
    control_mean: np.ndarray = field(repr=False)
    events_se: np.ndarray = field(repr=False)
    control_se: np.ndarray = field(repr=False)
    t_values: np.ndarray = field(repr=False)
    cohens_dz: np.ndarray = field(repr=False)
    clusters: list[tuple[float, float, float, float]]
    n_participants: int
    n_permutations: int

    @property
    def min_p(self) -> float:
        """Smallest cluster p-value (1.0 when no cluster formed)."""
        return min((c[3] for c in self.clusters), default=1.0)

    def to_frame(self):
        """The clusters as a table: start_s, end_s, mass, p, peak_dz."""
        import pandas as pd

        rows = []
        for start, end, mass, p in self.clusters:
            inside = (self.times_s >= start) & (self.times_s <= end)
            rows.append(
                {
                    "start_s": start,
                    "end_s": end,
                    "mass": mass,
                    "p": p,
                    "peak_dz": float(np.max(np.abs(self.cohens_dz[inside]))),
                }
            )
        return pd.DataFrame(rows, columns=["start_s", "end_s", "mass", "p", "peak_dz"])


def compare_epochs(
    events: np.ndarray,
    control: np.ndarray,
    times_s: np.ndarray,
    *,
    tail: int = 1,
    threshold: float | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
) -> ClusterTest:
    """Paired cluster-based permutation test of per-participant event vs control averages.

    Parameters
    ----------
    events, control : ndarray, shape (n_participants, n_times)
        Each participant's average event epoch and average control epoch.
    times_s : ndarray, shape (n_times,)
        Epoch time.
    tail : {1, 0, -1}
        1 tests events > control (default), 0 two-sided, -1 events < control.
    threshold : float, optional
        Cluster-forming t threshold; default the t quantile of p = 0.05
        (one-sided for ``tail != 0``) with n_participants - 1 df.
    n_permutations : int
        Sign-flip permutations (all of them when there are fewer; MNE's rule).
    seed : int
        Seed of the permutations.

    Returns
    -------
    ClusterTest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> times = np.linspace(-2, 8, 101)
    >>> bump = np.where((times > 2) & (times < 5), 1.0, 0.0)
    >>> events = bump + 0.5 * rng.standard_normal((20, 101))
    >>> control = 0.5 * rng.standard_normal((20, 101))
    >>> result = compare_epochs(events, control, times, n_permutations=200)
    >>> result.min_p < 0.05
    True

    """
    from mne.stats import permutation_cluster_1samp_test
    from scipy import stats

    events = np.asarray(events, dtype=float)
    control = np.asarray(control, dtype=float)
    times_s = np.asarray(times_s, dtype=float)
    if events.shape != control.shape or events.ndim != 2 or events.shape[1] != times_s.size:
        raise DataError(
            f"events {events.shape} and control {control.shape} must both be "
            f"(n_participants, {times_s.size})."
        )
    n = events.shape[0]
    if n < 3:
        raise DataError(f"A group test needs at least 3 participants, got {n}.")
    if not (np.isfinite(events).all() and np.isfinite(control).all()):
        raise DataError("events and control contain NaN; drop participants without epochs first.")
    if tail not in (-1, 0, 1):
        raise ParameterError(f"tail must be -1, 0 or 1, got {tail!r}.")
    difference = events - control
    if threshold is None:
        q = 0.975 if tail == 0 else 0.95
        threshold = float(stats.t.ppf(q, n - 1)) * (-1 if tail == -1 else 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No clusters found")  # a valid outcome
        t_values, clusters, p_values, _ = permutation_cluster_1samp_test(
            difference,
            threshold=threshold,
            n_permutations=n_permutations,
            tail=tail,
            rng=np.random.default_rng(seed),
            out_type="mask",
            verbose=False,
        )
    found = []
    for cluster, p in zip(clusters, p_values, strict=True):
        mask = np.zeros(times_s.size, dtype=bool)
        mask[cluster] = True  # MNE gives a boolean mask or, for 1-D data, slices
        found.append(
            (
                float(times_s[mask][0]),
                float(times_s[mask][-1]),
                float(t_values[mask].sum()),
                float(p),
            )
        )
    sd = difference.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dz = np.where(sd > 0, difference.mean(axis=0) / sd, 0.0)
    return ClusterTest(
        times_s=times_s,
        events_mean=events.mean(axis=0),
        control_mean=control.mean(axis=0),
        events_se=events.std(axis=0, ddof=1) / np.sqrt(n),
        control_se=control.std(axis=0, ddof=1) / np.sqrt(n),
        t_values=np.asarray(t_values),
        cohens_dz=dz,
        clusters=found,
        n_participants=n,
        n_permutations=n_permutations,
    )
