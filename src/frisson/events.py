"""Event-related epochs of responses, matched controls and group statistics.

The chills study asked whether skin conductance rises after latent
transitions more than after other moments of the same songs. A claim about
*music* must generalise over songs, so the songs are the unit of inference:

- :func:`epochs` cuts a response around event times (window e.g. -2 to +8 s),
  subtracting the mean over a baseline (default t < 0).
- :func:`pseudo_transitions` draws, once per song (seeded) and shared by every
  listener of the song, ``n_sets`` sets of control times with the same number
  and the same position distribution as the song's transitions, inside the same
  admissible span (the detector's edge, the epoch window, and a song-onset
  exclusion window); transitions outside that span are dropped by the same rule.
  :func:`locked_averages` turns one trial's response into its mean
  transition-locked and mean control-locked epoch.
- :func:`song_level_test` is the group test: per song, the mean over listeners
  of (transition-locked - control-locked epoch); a sign-flip permutation over
  songs (exact when ``2**n_songs`` is small), cluster-mass corrected over
  epoch time, plus a pre-specified summary effect (mean difference over a
  post-event window, default 1-5 s) with a t-based CI over songs and its
  sign-flip p. This is the test to report.
- :func:`compare_epochs` is the participant-level test (participants'
  averages, sign flips over participants). It treats the songs as **fixed**:
  it answers "for these songs", not "for music", and is liberal for a claim
  about music whenever songs evoke responses shared by their listeners.
- :func:`control_times` is the earlier per-trial uniform draw, kept for
  callers that need it; do not use it with a group test (see below).

Why the controls and the test changed (issue 13)
------------------------------------------------
Two things made the earlier design reject a true null far too often:

1. Song-shared responses. Every listener of a song hears the same music, so
   the song evokes skin-conductance responses (SCRs) at the same moments in
   all of them. Transitions are the same times for every listener of a song,
   so a song's transition-locked average carries that song's shared response
   at those moments, a value that is the same for all listeners. Averaged
   over listeners it does not shrink; it varies from song to song. A test
   over participants sees it as a consistent effect (all participants heard
   the same few songs), so it rejected 51-58 % of null datasets at .05. Only
   a test whose replicates are songs has the right error term. Controls drawn
   per listener also make the control average lose the song-shared part that
   the event average keeps; :func:`pseudo_transitions` draws one set per song,
   shared by its listeners, so events and controls are affected alike.
2. Positions. Controls were uniform on ``[2, dur - 8]`` s, transitions on
   ``[5, dur - 5]`` s: 21.8 % of controls but 8 % of transitions fell in the
   first 10 s, where the orienting response to the song onset decays and
   tonic habituation is steepest; after baseline correction those epochs
   slope downward, so controls looked lower than events (93 % rejections).
   Controls now come from the transitions' own position distribution and both
   lose the first ``onset_exclude_s`` (default 10 s).

Method choices
--------------
- Control sets: under the null a song's difference is
  ``event - mean(control sets)``; its variance is ``v_e + v_c / n_sets``. One
  set doubles the control noise; 20 sets (default) add 5 %, more buy little.
- Position distribution: ``"uniform"`` on the admissible span (the
  detector's own prior: it looks for peaks anywhere inside its edge), or the
  study's pooled transition positions (relative positions in each song's
  span, smoothed bootstrap) when transitions cluster (e.g. near the middle).
- Sign flips over songs are exact under the null when each song's
  difference is symmetric about 0, which holds when events and controls are
  exchangeable (same position distribution, independent of the response).
  With few songs the smallest p is a hard limit: 7 songs give 128 sign
  patterns, so the smallest one-sided p is 1/128 and the smallest two-sided
  p is 1/64. The result states it (``min_possible_p``); no number of
  listeners removes it, because a claim about music rests on the songs.
- The summary effect (mean difference in a pre-specified window) is the
  primary number: an effect with a 95 % CI over songs (t with n_songs - 1 df)
  and the sign-flip p. The cluster test says *when* the difference lies.
- A crossed participant x song mixed model (statsmodels MixedLM with
  variance components) was considered and not used: statsmodels is not a
  dependency, its Wald z-test ignores that 7 songs give only ~6 df for the
  song variance (expected liberal), and an iterative REML fit per dataset
  (not measured here) is far slower than the ~10 ms sign-flip test for a
  benchmark that runs it hundreds of times. The song-level test
  conditions on the listeners sampled (their mean response enters every
  song); with 20 or more listeners that term is small next to the song term.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from frisson._check import check_int, check_positive, check_range_s, rng_from_seed
from frisson._logging import logger
from frisson._signflip import sign_patterns, signflip_t
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "ClusterTest",
    "Epochs",
    "LockedAverages",
    "PseudoTransitions",
    "SongLevelTest",
    "admissible_span",
    "compare_epochs",
    "control_times",
    "epochs",
    "locked_averages",
    "pseudo_transitions",
    "relative_positions",
    "song_level_test",
]


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

    **Conditional on the songs**: participants are the replicates and the
    songs are fixed, so the result holds for these songs only. When songs
    evoke responses shared by their listeners (they do) it is liberal for a
    claim about music (about half of null datasets rejected at .05 in
    ``tests/test_events.py``); use :func:`song_level_test` for that claim.

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


# --------------------------------------------------------------------------------------
# Pseudo-transitions: controls drawn like the transitions, once per song
# --------------------------------------------------------------------------------------

PositionDistribution = Literal["uniform", "pooled"]


def admissible_span(
    duration_s: float,
    *,
    edge_s: float | None = None,
    span_s: tuple[float, float] | None = None,
    window_s: tuple[float, float] = (-2.0, 8.0),
    onset_exclude_s: float = 10.0,
) -> tuple[float, float]:
    """The span of a song where transitions and controls are both admissible.

    Parameters
    ----------
    duration_s : float
        Song length (s).
    edge_s : float, optional
        The transition detector's edge: it searched ``[edge_s, duration_s - edge_s]``
        (e.g. ``Transitions.params["edge_s"]``). Give this or ``span_s``.
    span_s : (float, float), optional
        The detector's search span (s from song onset) instead of ``edge_s``.
    window_s : (float, float)
        The epoch window: the whole window must lie inside the song.
    onset_exclude_s : float
        Nothing in the first ``onset_exclude_s`` seconds (default 10 s): the
        orienting response to the song onset and the steepest habituation.

    Returns
    -------
    (float, float)
        ``(max(span_low, onset_exclude_s, -tmin), min(span_high, duration_s - tmax))``.

    Examples
    --------
    >>> admissible_span(120.0, edge_s=5.0)
    (10.0, 112.0)

    """
    duration_s = check_positive("duration_s", duration_s)
    tmin, tmax = check_range_s("window_s", window_s)
    onset_exclude_s = check_positive("onset_exclude_s", onset_exclude_s, allow_zero=True)
    if (edge_s is None) == (span_s is None):
        raise ParameterError(
            f"Give exactly one of edge_s and span_s (got edge_s={edge_s!r}, span_s={span_s!r}): "
            "the transition detector's edge (e.g. Transitions.params['edge_s']) or its span."
        )
    if edge_s is not None:
        edge_s = check_positive("edge_s", edge_s, allow_zero=True)
        low, high = edge_s, duration_s - edge_s
    else:
        low, high = check_range_s("span_s", span_s)
    low = max(low, onset_exclude_s, -tmin, 0.0)
    high = min(high, duration_s - tmax)
    if high <= low:
        raise DataError(
            f"A song of {duration_s:.1f} s leaves no admissible time for events and controls "
            f"(span {low:.1f}-{high:.1f} s after onset_exclude_s={onset_exclude_s}, the detector's "
            f"edge/span and the window {window_s}); use a smaller onset_exclude_s or window_s."
        )
    return float(low), float(high)


def relative_positions(event_times_s: Sequence[float], span_s: tuple[float, float]) -> np.ndarray:
    """Positions of events inside a span as fractions in [0, 1] (events outside dropped).

    Pool these over the study's songs to give :func:`pseudo_transitions` the
    study's transition position distribution (``position_pool=``).

    Examples
    --------
    >>> relative_positions([5.0, 20.0, 60.0, 130.0], (10.0, 110.0))
    array([0.1, 0.5])

    """
    low, high = check_range_s("span_s", span_s)
    if high <= low:
        raise ParameterError(f"span_s must have low < high, got {span_s!r}.")
    times = np.asarray(event_times_s, dtype=float)
    inside = times[(times >= low) & (times <= high)]
    return (inside - low) / (high - low)


@dataclass(frozen=True)
class PseudoTransitions:
    """Transitions of one song kept inside the admissible span, and its control sets.

    Attributes
    ----------
    events_s : ndarray, shape (n_events,)
        The song's transitions inside ``span_s`` (s from song onset).
    dropped_s : ndarray
        Transitions outside ``span_s`` (same rule as the controls).
    controls_s : ndarray, shape (n_sets, n_events)
        Each row one control set: as many times as ``events_s``, sorted.
    span_s : (float, float)
        The admissible span (see :func:`admissible_span`).
    position : str
        ``"uniform"`` or ``"pooled"``.
    seed : int
        Seed of the draw.

    """

    events_s: np.ndarray
    dropped_s: np.ndarray
    controls_s: np.ndarray = field(repr=False)
    span_s: tuple[float, float]
    position: str
    seed: int | None

    @property
    def n_sets(self) -> int:
        """Number of control sets."""
        return int(self.controls_s.shape[0])


def pseudo_transitions(
    event_times_s: Sequence[float],
    *,
    duration_s: float,
    edge_s: float | None = None,
    span_s: tuple[float, float] | None = None,
    window_s: tuple[float, float] = (-2.0, 8.0),
    onset_exclude_s: float = 10.0,
    n_sets: int = 20,
    position_pool: Sequence[float] | None = None,
    seed: int | np.random.Generator = 0,
) -> PseudoTransitions:
    """Control times drawn like a song's transitions, for all listeners of the song.

    Call this once per song (not per trial) and use the same result for every
    listener of the song, so that song-evoked responses shared by listeners
    enter events and controls alike.

    Parameters
    ----------
    event_times_s : sequence of float
        The song's transitions (s from song onset).
    duration_s : float
        Song length (s).
    edge_s, span_s : float or (float, float)
        The transition detector's edge or search span; give one
        (see :func:`admissible_span`).
    window_s : (float, float)
        The epoch window, as in :func:`epochs` (both kinds of epoch must fit).
    onset_exclude_s : float
        Song-onset window without events or controls (default 10 s).
    n_sets : int
        Control sets (default 20): the control noise in a song's difference
        has variance ``1 / n_sets`` of one set's.
    position_pool : sequence of float, optional
        Relative positions in [0, 1] of the study's transitions within their
        songs' spans (:func:`relative_positions`, pooled over songs). Controls
        are then drawn from that distribution (a smoothed bootstrap with
        Silverman's bandwidth, reflected at 0 and 1) mapped onto this song's
        span. Default (None): uniform on the span.
    seed : int or Generator
        Seed of the draw (e.g. the study seed plus the song's index).

    Returns
    -------
    PseudoTransitions
        ``controls_s`` has shape ``(n_sets, n_events)``; every control lies in
        ``span_s``. Controls are not kept out of event windows: that would
        make their positions depend on the events and break the exchangeability
        that makes the song-level test exact.

    Examples
    --------
    >>> pt = pseudo_transitions([4.0, 30.0, 60.0, 100.0], duration_s=120.0, edge_s=3.0, seed=1)
    >>> pt.events_s, pt.dropped_s, pt.span_s, pt.controls_s.shape
    (array([ 30.,  60., 100.]), array([4.]), (10.0, 112.0), (20, 3))
    >>> bool(np.all((pt.controls_s >= 10.0) & (pt.controls_s <= 112.0)))
    True

    """
    low, high = admissible_span(
        duration_s, edge_s=edge_s, span_s=span_s, window_s=window_s, onset_exclude_s=onset_exclude_s
    )
    n_sets = check_int("n_sets", n_sets, minimum=1)
    times = np.sort(np.asarray(event_times_s, dtype=float))
    if times.ndim != 1 or not np.isfinite(times).all():
        raise DataError(f"event_times_s must be a 1-D list of finite times, got {times!r}.")
    inside = (times >= low) & (times <= high)
    events, dropped = times[inside], times[~inside]
    if dropped.size:
        logger.info(
            "pseudo_transitions: dropped %d of %d transitions outside %.1f-%.1f s",
            dropped.size,
            times.size,
            low,
            high,
        )
    rng = rng_from_seed(seed)
    shape = (n_sets, events.size)
    if position_pool is None:
        position = "uniform"
        fraction = rng.uniform(0.0, 1.0, shape)
    else:
        position = "pooled"
        fraction = _smoothed_bootstrap(np.asarray(position_pool, dtype=float), shape, rng)
    controls = np.sort(low + fraction * (high - low), axis=1)
    return PseudoTransitions(
        events, dropped, controls, (low, high), position, seed if isinstance(seed, int) else None
    )


def _smoothed_bootstrap(pool: np.ndarray, shape: tuple[int, int], rng) -> np.ndarray:
    """Draws from a Gaussian kernel density of ``pool`` on [0, 1], reflected at the ends."""
    if pool.ndim != 1 or pool.size < 2 or not np.all((pool >= 0) & (pool <= 1)):
        raise ParameterError(
            "position_pool must hold at least 2 relative positions in [0, 1] "
            f"(from relative_positions), got {pool.size} values in "
            f"[{np.min(pool, initial=np.nan):.3g}, {np.max(pool, initial=np.nan):.3g}]."
        )
    spread = min(pool.std(ddof=1), np.subtract(*np.percentile(pool, [75, 25])) / 1.34)
    if spread <= 0:
        spread = pool.std(ddof=1)
    bandwidth = 0.9 * spread * pool.size ** (-0.2)
    draws = rng.choice(pool, size=shape) + bandwidth * rng.standard_normal(shape)
    # Reflect into [0, 1] (a fold keeps the density's mass inside the span).
    draws = np.abs(draws) % 2.0
    return np.where(draws > 1.0, 2.0 - draws, draws)


@dataclass(frozen=True)
class LockedAverages:
    """One trial's mean transition-locked and mean control-locked epoch.

    Attributes
    ----------
    times_s : ndarray, shape (n_times,)
        Epoch time (s).
    events, control : ndarray, shape (n_times,)
        Mean over the kept event epochs and over all kept control epochs (NaN
        when none was kept).
    n_events, n_controls : int
        Epochs averaged.

    """

    times_s: np.ndarray = field(repr=False)
    events: np.ndarray = field(repr=False)
    control: np.ndarray = field(repr=False)
    n_events: int
    n_controls: int


def locked_averages(
    response: TimeSeries,
    pseudo: PseudoTransitions,
    *,
    window_s: tuple[float, float] = (-2.0, 8.0),
    baseline_s: tuple[float | None, float | None] | None = (None, 0.0),
    channel: str | None = None,
    position_degree: int | None = None,
) -> LockedAverages:
    """Average one trial's response around a song's kept transitions and its control sets.

    Parameters
    ----------
    response : TimeSeries
        One listener's response to the song (t = 0 at song onset).
    pseudo : PseudoTransitions
        The song's :func:`pseudo_transitions` (the same for every listener).
    window_s, baseline_s, channel
        As in :func:`epochs`.
    position_degree : int, optional
        Position-matched control: the control epochs are regressed, at every
        epoch time, on their position in the song's span (a polynomial of
        this degree in the fraction of the span), and ``control`` is that fit
        evaluated at the transitions' positions and averaged like them. A
        response that changes with the position in the song (habituation
        after its onset, drift) then cancels within the song. Default (None):
        the plain mean of the control epochs. The fit is linear in the data
        and its design depends only on the song's draw, so it is the same for
        every listener and averaging over listeners commutes with it.

    Returns
    -------
    LockedAverages

    Examples
    --------
    >>> t = np.arange(0, 120, 0.1)
    >>> pt = pseudo_transitions([40.0, 80.0], duration_s=120.0, edge_s=5.0, seed=0)
    >>> step = TimeSeries(np.sin(t / 5.0), rate_hz=10.0)
    >>> avg = locked_averages(step, pt)
    >>> avg.n_events, avg.n_controls, avg.events.shape
    (2, 40, (101,))

    Habituation (an exponential decay, time constant 30 s) and no response at
    the transitions: the transitions' epochs fall by a different amount than
    the average control's, because the decay is faster early in the song. The
    position-matched control follows the transitions' positions:

    >>> decay = TimeSeries(np.exp(-t / 30.0), rate_hz=10.0)
    >>> plain = locked_averages(decay, pt)
    >>> matched = locked_averages(decay, pt, position_degree=3)
    >>> at_5s = plain.times_s == 5.0
    >>> bias_plain = (plain.events - plain.control)[at_5s][0]
    >>> bias_matched = (matched.events - matched.control)[at_5s][0]
    >>> bool(abs(bias_matched) < 0.1 * abs(bias_plain))
    True

    """
    event_epochs = epochs(
        response, pseudo.events_s, window_s=window_s, baseline_s=baseline_s, channel=channel
    )
    control_epochs = epochs(
        response,
        pseudo.controls_s.ravel(),
        window_s=window_s,
        baseline_s=baseline_s,
        channel=channel,
    )
    n_events, n_controls = event_epochs.data.shape[0], control_epochs.data.shape[0]
    if position_degree is None or n_events == 0 or n_controls == 0:
        control = control_epochs.average()
    else:
        degree = check_int("position_degree", position_degree, minimum=0)
        if n_controls < 2 * (degree + 1):
            raise DataError(
                f"{n_controls} control epochs cannot fit a degree-{degree} position trend; "
                "draw more control sets (n_sets) or lower position_degree."
            )
        low, high = pseudo.span_s
        scale = max(high - low, 1e-9)
        design = np.vander((control_epochs.event_times_s - low) / scale, degree + 1)
        at_events = np.vander((event_epochs.event_times_s - low) / scale, degree + 1)
        coefficients, *_ = np.linalg.lstsq(design, control_epochs.data, rcond=None)
        control = at_events.mean(axis=0) @ coefficients
    return LockedAverages(
        event_epochs.times_s,
        event_epochs.average(),
        control,
        int(n_events),
        int(n_controls),
    )


# --------------------------------------------------------------------------------------
# Songs as a random factor: sign flips over songs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SongLevelTest:
    """Transition-locked vs control responses with songs as the unit of inference.

    Attributes
    ----------
    times_s : ndarray, shape (n_times,)
        Epoch time (s).
    songs : tuple of str
        Song names, in the order of the per-song arrays.
    song_events, song_control, song_differences : ndarray, shape (n_songs, n_times)
        Per song, the mean over its listeners of the event epoch, the control
        epoch and their difference.
    n_listeners : ndarray of int, shape (n_songs,)
        Listeners averaged per song.
    mean_difference, se_difference : ndarray, shape (n_times,)
        Mean over songs of ``song_differences`` and its SE (SD / sqrt(n_songs)).
    t_values : ndarray, shape (n_times,)
        One-sample t over songs per time point.
    clusters : list of (float, float, float, float)
        ``(start_s, end_s, cluster_mass, p)``: supra-threshold runs of
        ``t_values`` and their max-mass sign-flip p (corrected over time).
    summary_window_s : (float, float)
        The post-event window of the summary effect (inclusive).
    song_effects : ndarray, shape (n_songs,)
        Per song, the mean of ``song_differences`` over the summary window.
    effect : float
        Mean of ``song_effects`` (response units, e.g. z of the normalised SC).
    ci : (float, float)
        Two-sided ``ci_level`` CI of ``effect`` over songs (t, n_songs - 1 df).
    ci_level : float
    p : float
        Sign-flip p of ``effect`` over songs (the primary test; ``tail``).
    p_t : float
        One-sample t-test p of ``song_effects`` (a parametric cross-check).
    tail : int
        1: events > controls (the study's hypothesis), 0 two-sided, -1 below.
    threshold : float
        Cluster-forming t threshold.
    n_songs, n_participants, n_trials : int
    n_permutations : int
        Sign patterns used (including the observed one).
    exact : bool
        Whether all ``2**n_songs`` sign patterns were enumerated.
    min_possible_p : float
        The smallest p this many songs allow (exact: ``2**-n_songs`` one-sided,
        ``2**(1 - n_songs)`` two-sided; otherwise ``1 / n_permutations``).
    method : str
        A paragraph for the report saying what was tested and how.

    """

    times_s: np.ndarray = field(repr=False)
    songs: tuple[str, ...]
    song_events: np.ndarray = field(repr=False)
    song_control: np.ndarray = field(repr=False)
    song_differences: np.ndarray = field(repr=False)
    n_listeners: np.ndarray = field(repr=False)
    mean_difference: np.ndarray = field(repr=False)
    se_difference: np.ndarray = field(repr=False)
    t_values: np.ndarray = field(repr=False)
    clusters: list[tuple[float, float, float, float]]
    summary_window_s: tuple[float, float]
    song_effects: np.ndarray = field(repr=False)
    effect: float
    ci: tuple[float, float]
    ci_level: float
    p: float
    p_t: float
    tail: int
    threshold: float
    n_songs: int
    n_participants: int
    n_trials: int
    n_permutations: int
    exact: bool
    min_possible_p: float
    method: str = field(repr=False)

    @property
    def min_p(self) -> float:
        """Smallest cluster p-value (1.0 when no cluster formed)."""
        return min((c[3] for c in self.clusters), default=1.0)

    def to_frame(self):
        """The clusters as a table: start_s, end_s, mass, p."""
        import pandas as pd

        return pd.DataFrame(self.clusters, columns=["start_s", "end_s", "mass", "p"])

    def songs_frame(self):
        """One row per song: song, n_listeners, effect (mean difference in the summary window)."""
        import pandas as pd

        return pd.DataFrame(
            {"song": self.songs, "n_listeners": self.n_listeners, "effect": self.song_effects}
        )


def song_level_test(
    events: np.ndarray,
    control: np.ndarray,
    times_s: np.ndarray,
    *,
    songs: Sequence[str],
    participants: Sequence[str] | None = None,
    tail: int = 1,
    summary_window_s: tuple[float, float] = (1.0, 5.0),
    threshold: float | None = None,
    n_permutations: int = 10000,
    ci_level: float = 0.95,
    seed: int = 0,
) -> SongLevelTest:
    """Sign-flip permutation test over songs of transition-locked minus control epochs.

    Per song, the mean over its listeners of ``events - control`` is one
    replicate. Under the null (no transition-locked response, controls drawn
    like the transitions by :func:`pseudo_transitions`) each song's
    difference is symmetric about 0 whatever the song evokes in its
    listeners, so flipping the signs of whole songs gives the null
    distribution. Two tests use the same sign patterns:

    - the summary effect: the mean over songs of each song's mean difference in
      ``summary_window_s`` (primary: effect, CI and p);
    - the time-resolved test: one-sample t over songs per time point,
      clusters of ``t > threshold`` (``tail=1``), cluster mass = sum of t,
      p from the maximum cluster mass per sign pattern (corrected over time).

    Parameters
    ----------
    events, control : ndarray, shape (n_trials, n_times)
        Per trial (one listener hearing one song) the mean transition-locked
        and the mean control-locked epoch (:func:`locked_averages`).
    times_s : ndarray, shape (n_times,)
        Epoch time (s).
    songs : sequence of str, length n_trials
        The song of each trial.
    participants : sequence of str, optional
        The listener of each trial (counted for the report; a listener heard
        each song at most once).
    tail : {1, 0, -1}
        1 tests events > control (default: the study's hypothesis), 0 two-sided.
    summary_window_s : (float, float)
        Window of the summary effect, inclusive (default 1-5 s after the event,
        where an SCR to the event peaks).
    threshold : float, optional
        Cluster-forming t; default the t quantile of p = .05 (one-sided unless
        ``tail=0``) with n_songs - 1 df.
    n_permutations : int
        Sign patterns; all ``2**n_songs`` of them when that is not more
        (default 10000: exact up to 13 songs). Otherwise random patterns, the
        observed one included.
    ci_level : float
        Level of the two-sided CI of the summary effect (default 0.95).
    seed : int
        Seed of the random sign patterns (unused when exact).

    Returns
    -------
    SongLevelTest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> times = np.arange(-20, 81) / 10
    >>> bump = np.where((times >= 0.5) & (times <= 5.5), 1.0, 0.0)
    >>> songs = np.repeat([f"s{i}" for i in range(8)], 10)
    >>> song_noise = np.repeat(0.3 * rng.standard_normal((8, 101)), 10, axis=0)
    >>> events = bump + song_noise + 0.5 * rng.standard_normal((80, 101))
    >>> control = 0.5 * rng.standard_normal((80, 101))
    >>> result = song_level_test(events, control, times, songs=songs)
    >>> result.n_songs, result.exact, result.min_possible_p, result.p
    (8, True, 0.00390625, 0.00390625)
    >>> bool(result.ci[0] < 1.0 < result.ci[1])
    True

    """
    from scipy import stats

    events, control, times_s, labels, in_window = _check_song_inputs(
        events, control, times_s, songs, tail, ci_level, summary_window_s
    )
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    low, high = (float(v) for v in summary_window_s)
    names, index = np.unique(labels, return_inverse=True)
    n_songs = names.size
    if n_songs < 3:
        raise DataError(
            f"A test over songs needs at least 3 songs, got {n_songs}; with fewer, "
            "no claim about music can be tested (use compare_epochs for these songs only)."
        )
    counts = np.bincount(index, minlength=n_songs)
    song_events, song_control = _song_means(events, control, index, counts)
    differences = song_events - song_control
    song_effects = differences[:, in_window].mean(axis=1)

    signs, exact = sign_patterns(n_songs, n_permutations, seed)
    df = n_songs - 1
    if threshold is None:
        threshold = float(stats.t.ppf(0.975 if tail == 0 else 0.95, df))
    threshold = abs(float(threshold))
    t_all = signflip_t(signs, differences)  # (n_patterns, n_times); row 0 = observed
    clusters = _cluster_p_values(t_all, times_s, threshold, tail)
    p = _summary_p(signs @ song_effects / n_songs, song_effects, tail)
    effect, half, p_t = _summary_ci(song_effects, ci_level, tail)
    n_patterns = signs.shape[0]
    if exact:
        min_p = 2.0 ** (-n_songs) if tail != 0 else 2.0 ** (1 - n_songs)
    else:
        min_p = 1.0 / n_patterns
    if participants is not None and len(participants) != events.shape[0]:
        raise DataError(
            f"participants has {len(participants)} labels for {events.shape[0]} trials."
        )
    n_participants = (
        int(np.unique(np.asarray(participants).astype(str)).size)
        if participants is not None
        else int(counts.max())
    )
    method = _method_text(
        n_songs=n_songs,
        n_participants=n_participants,
        n_trials=events.shape[0],
        window=(low, high),
        effect=effect,
        half=half,
        ci_level=ci_level,
        p=p,
        tail=tail,
        n_patterns=n_patterns,
        exact=exact,
        min_p=min_p,
        threshold=threshold,
    )
    sd_t = differences.std(axis=0, ddof=1)
    return SongLevelTest(
        times_s=times_s,
        songs=tuple(str(n) for n in names),
        song_events=song_events,
        song_control=song_control,
        song_differences=differences,
        n_listeners=counts,
        mean_difference=differences.mean(axis=0),
        se_difference=sd_t / np.sqrt(n_songs),
        t_values=t_all[0],
        clusters=clusters,
        summary_window_s=(low, high),
        song_effects=song_effects,
        effect=effect,
        ci=(float(effect - half), float(effect + half)),
        ci_level=ci_level,
        p=p,
        p_t=p_t,
        tail=tail,
        threshold=threshold,
        n_songs=n_songs,
        n_participants=n_participants,
        n_trials=int(events.shape[0]),
        n_permutations=n_patterns,
        exact=exact,
        min_possible_p=min_p,
        method=method,
    )


def _check_song_inputs(events, control, times_s, songs, tail, ci_level, summary_window_s):
    """Arrays of :func:`song_level_test` checked; the mask of the summary window."""
    events = np.asarray(events, dtype=float)
    control = np.asarray(control, dtype=float)
    times_s = np.asarray(times_s, dtype=float)
    if events.shape != control.shape or events.ndim != 2 or events.shape[1] != times_s.size:
        raise DataError(
            f"events {events.shape} and control {control.shape} must both be "
            f"(n_trials, {times_s.size})."
        )
    labels = np.asarray(songs).astype(str)
    if labels.shape != (events.shape[0],):
        raise DataError(
            f"songs has {labels.size} labels for {events.shape[0]} trials; give one per trial."
        )
    if not (np.isfinite(events).all() and np.isfinite(control).all()):
        raise DataError(
            "events and control contain NaN; leave out trials without epochs "
            "(LockedAverages.n_events or n_controls == 0) first."
        )
    if tail not in (-1, 0, 1):
        raise ParameterError(f"tail must be -1, 0 or 1, got {tail!r}.")
    if not 0 < ci_level < 1:
        raise ParameterError(f"ci_level must be between 0 and 1, got {ci_level!r}.")
    low, high = check_range_s("summary_window_s", summary_window_s)
    in_window = (times_s >= low - 1e-9) & (times_s <= high + 1e-9)
    if not in_window.any():
        raise ParameterError(
            f"summary_window_s={summary_window_s} holds no epoch time "
            f"({times_s[0]:.2f} to {times_s[-1]:.2f} s)."
        )
    return events, control, times_s, labels, in_window


def _song_means(
    events: np.ndarray, control: np.ndarray, index: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per song (rows of ``index``), the mean over its trials of events and of control."""
    song_events = np.zeros((counts.size, events.shape[1]))
    song_control = np.zeros((counts.size, events.shape[1]))
    np.add.at(song_events, index, events)
    np.add.at(song_control, index, control)
    return song_events / counts[:, None], song_control / counts[:, None]


def _cluster_p_values(
    t_all: np.ndarray, times_s: np.ndarray, threshold: float, tail: int
) -> list[tuple[float, float, float, float]]:
    """Clusters of the observed t (row 0) with p from the max cluster mass over sign patterns."""
    masses_obs, spans = _clusters(t_all[0], threshold, tail)
    null_max = _max_cluster_mass(t_all, threshold, tail)
    clusters = []
    for (first, last), mass in zip(spans, masses_obs, strict=True):
        p_cluster = float(np.mean(null_max >= abs(mass) * (1 - 1e-12)))
        clusters.append((float(times_s[first]), float(times_s[last]), float(mass), p_cluster))
    return clusters


def _summary_p(means: np.ndarray, song_effects: np.ndarray, tail: int) -> float:
    """Sign-flip p of the observed mean (``means[0]``) among every pattern's mean."""
    observed = means[0]
    scale = 1e-12 * max(1.0, float(np.abs(song_effects).max()))
    if tail == 1:
        return float(np.mean(means >= observed - scale))
    if tail == -1:
        return float(np.mean(means <= observed + scale))
    return float(np.mean(np.abs(means) >= abs(observed) - scale))


def _summary_ci(song_effects: np.ndarray, ci_level: float, tail: int) -> tuple[float, float, float]:
    """Mean over songs, the half-width of its t CI, and the one-sample t-test p."""
    from scipy import stats

    n_songs = song_effects.size
    sd = song_effects.std(ddof=1)
    half = float(stats.t.ppf(0.5 + ci_level / 2, n_songs - 1)) * sd / np.sqrt(n_songs)
    effect = float(song_effects.mean())
    alternative = {1: "greater", 0: "two-sided", -1: "less"}[tail]
    p_t = float(stats.ttest_1samp(song_effects, 0.0, alternative=alternative).pvalue)
    if sd == 0:
        p_t = 1.0 if effect == 0 else 0.0
    return effect, half, p_t


def _method_text(
    *,
    n_songs: int,
    n_participants: int,
    n_trials: int,
    window: tuple[float, float],
    effect: float,
    half: float,
    ci_level: float,
    p: float,
    tail: int,
    n_patterns: int,
    exact: bool,
    min_p: float,
    threshold: float,
) -> str:
    """The report's paragraph on what was tested and how."""
    direction = {1: "greater than", 0: "different from", -1: "less than"}[tail]
    patterns = f"all {n_patterns}" if exact else f"{n_patterns} random"
    return (
        f"Songs as the unit of inference: per song, the mean over its listeners of the "
        f"transition-locked minus the control-locked epoch ({n_songs} songs, "
        f"{n_participants} listeners, {n_trials} trials). Summary effect: mean over "
        f"songs of the mean difference {window[0]:g} to {window[1]:g} s after the event, "
        f"{effect:.3g} ({100 * ci_level:g} % CI {effect - half:.3g} to {effect + half:.3g}, "
        f"t over songs with {n_songs - 1} df); sign-flip permutation over songs "
        f"({patterns} sign patterns), H1: events {direction} controls, p = {p:.4g} (the "
        f"smallest p possible with {n_songs} songs is {min_p:.3g}). Over epoch time: "
        f"one-sample t over songs, clusters of |t| > {threshold:.3f}, cluster mass = sum of "
        f"t, corrected by the maximum cluster mass over the same sign patterns."
    )


def _clusters(t: np.ndarray, threshold: float, tail: int):
    """Masses and (first, last) indices of supra-threshold runs of one t curve."""
    found_masses, found_spans = [], []
    for sign in (1, -1) if tail == 0 else (tail,):
        above = np.r_[False, sign * t > threshold, False]
        edges = np.flatnonzero(np.diff(above.astype(int)))
        for first, stop in zip(edges[::2], edges[1::2], strict=True):
            found_masses.append(float(t[first:stop].sum()))
            found_spans.append((int(first), int(stop - 1)))
    return found_masses, found_spans


def _max_cluster_mass(t_all: np.ndarray, threshold: float, tail: int) -> np.ndarray:
    """Per row, the largest |cluster mass| (0 without a cluster), vectorised over rows."""
    rows, n_times = t_all.shape
    best = np.zeros(rows)
    for sign in (1, -1) if tail == 0 else (tail,):
        above = sign * t_all > threshold
        starts = above & ~np.c_[np.zeros((rows, 1), bool), above[:, :-1]]
        label = np.cumsum(starts.ravel()) * above.ravel()
        if not label.any():
            continue
        mass = np.bincount(label, weights=(sign * t_all).ravel())[1:]
        row_of = np.flatnonzero(starts.ravel()) // n_times
        np.maximum.at(best, row_of, mass)
    return best
