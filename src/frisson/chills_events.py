"""Chills as events: epochs around reported chills, chills predicted by transitions, listeners.

Three questions a reviewer of the chills study asks beyond the poster, with the
inference of :mod:`frisson.events` (sign flips over independent units):

- **Does the body respond at a chill?** :func:`chill_pseudo_events` draws, per
  trial (one listener hearing one song), control moments like that listener's
  chills in that song: as many per set, from the study's pooled chill
  positions, outside the song-onset window. :func:`frisson.events.locked_averages`
  (position-matched, ``position_degree=3``) turns the trial into a mean
  chill-locked and a mean control-locked epoch (effect, CI and time course:
  :func:`frisson.events.song_level_test`). The p ranks each trial's chill set
  among its control sets (:func:`chill_rank_score`: +1 above all, -1 below
  all) and :func:`chill_rank_p` flips the signs of the mean scores of
  **songs** (default) or **listeners**: a trial's chill mean averages one or
  two epochs, so the mean difference carries their skew, which sign flips
  over a few songs do not tolerate; the chill set's rank among sets drawn
  like it is symmetric whatever the epochs' distribution. Songs are the
  default unit: chills cluster at song moments every listener hears (a
  climax), and a song evokes responses shared
  by its listeners, so the trials of one song are not independent and only a
  test whose replicates are songs has the right error term. When every
  listener brings their own songs (one listener per song) the two units
  coincide. Listeners are the unit for a claim about listeners' bodies on
  fixed songs (say so when reporting it).
- **Do latent transitions predict chills?** :func:`chill_hit_rates`: per song,
  the share of listeners reporting a chill within ``hit_window_s`` after each
  transition, averaged over the transitions, against the same share after the
  song's pseudo-transitions (drawn as for the transition test, position
  matched by a polynomial fit like :func:`~frisson.events.locked_averages`);
  :func:`chill_hit_test` flips the signs of the songs' differences (songs as
  the random factor: transitions are song properties).
- **Do listeners differ by their scores?** :func:`listener_associations`
  correlates every numeric score (``participants.tsv`` columns) with each
  listener-level effect (transition response, chill rate, ...): Spearman's
  rho (Pearson r of ranks, pairwise complete), permutation p from shuffling
  listeners, corrected over the tested scores by the maximum |rho| per
  permutation (family-wise, per effect). A mixed model (statsmodels) was not
  used: statsmodels is not a dependency, and a listener's effect is already one
  number per listener, so an exact permutation test needs no distributional
  assumption about skewed effects such as chill counts.
- **Do the songs a listener rates higher move her more?**
  :func:`trial_associations` takes per-song scores (post-listening ratings,
  ``*_beh.tsv``) and per-trial effects (the trial's transition response, chills
  per minute, the CNN's held-out r): the slope of the effect on the score
  within listeners and within songs (listener and song indicators as the
  nuisance, the fixed-effects form of a crossed mixed model with listener and
  song intercepts), Freedman-Lane permutations of the nuisance model's
  residuals, max-|t| correction over the scores. On null studies with listener
  biases and song effects in both ratings and responses, 5-6 % of raw and 4-7 %
  of corrected p fall below .05 (400 studies of 12 listeners x 7 songs, shared
  or own songs, Gaussian or Poisson effects).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from frisson._check import check_int, check_range_s, rng_from_seed
from frisson._signflip import sign_patterns
from frisson.errors import DataError, ParameterError
from frisson.events import PseudoTransitions, pseudo_transitions
from frisson.timeseries import TimeSeries

__all__ = [
    "ChillHitTest",
    "ListenerAssociations",
    "TrialAssociations",
    "chill_hit_rates",
    "chill_hit_test",
    "chill_pseudo_events",
    "chill_rank_p",
    "chill_rank_score",
    "listener_associations",
    "trial_associations",
]


def chill_pseudo_events(
    chills_s: Sequence[float],
    *,
    duration_s: float,
    window_s: tuple[float, float] = (-2.0, 8.0),
    onset_exclude_s: float = 10.0,
    n_sets: int = 20,
    position_pool: Sequence[float] | None = None,
    seed: int | np.random.Generator = 0,
) -> PseudoTransitions:
    """One trial's chills inside the admissible span, and control sets drawn like them.

    A thin wrapper of :func:`frisson.events.pseudo_transitions` with the whole
    song as the search span (a chill report has no detector edge): chills and
    controls both lie in ``[max(onset_exclude_s, -tmin), duration_s - tmax]``.

    Parameters
    ----------
    chills_s : sequence of float
        The listener's chill reports in this song (s from song onset).
    duration_s : float
        Song length (s).
    window_s : (float, float)
        The epoch window.
    onset_exclude_s : float
        Song-onset window without chills or controls (default 10 s).
    n_sets : int
        Control sets (default 20).
    position_pool : sequence of float, optional
        The study's chills as fractions of their songs' spans
        (:func:`frisson.events.relative_positions`), so controls follow where
        chills fall in songs; default uniform.
    seed : int or Generator
        Seed of the draw (e.g. the study seed plus the trial's index).

    Returns
    -------
    PseudoTransitions
        ``events_s`` are the kept chills, ``controls_s`` (n_sets, n_chills).

    Examples
    --------
    >>> pt = chill_pseudo_events([5.0, 50.0], duration_s=100.0, seed=0)
    >>> pt.events_s, pt.dropped_s, pt.span_s, pt.controls_s.shape
    (array([50.]), array([5.]), (10.0, 92.0), (20, 1))

    """
    return pseudo_transitions(
        chills_s,
        duration_s=duration_s,
        span_s=(0.0, float(duration_s)),
        window_s=window_s,
        onset_exclude_s=onset_exclude_s,
        n_sets=n_sets,
        position_pool=position_pool,
        seed=seed,
    )


def chill_rank_score(
    response: TimeSeries,
    pseudo: PseudoTransitions,
    *,
    window_s: tuple[float, float] = (-2.0, 8.0),
    baseline_s: tuple[float | None, float | None] | None = (None, 0.0),
    summary_window_s: tuple[float, float] = (1.0, 5.0),
    position_degree: int | None = 3,
) -> float:
    """Where one trial's chills rank among its control sets: +1 above all, -1 below all.

    Each epoch (chill or control, :func:`frisson.events.epochs` with
    ``window_s`` and ``baseline_s``) is summarised by its mean in
    ``summary_window_s``; with ``position_degree`` a polynomial in the
    epoch's position in the span, fitted to the chill and control epochs
    together, is subtracted (habituation and drift cancel, and chills and
    controls are treated alike). The chill set's mean is compared with each
    control set's mean: the score is the share of control sets below it minus
    the share above it (ties count 0).

    Why a rank: a trial's chill-locked mean averages one or two epochs and its
    control mean hundreds, so under the null their difference has mean 0 but
    the skew of single epochs (an SCR rises in a second and decays over many,
    a motion artefact is a short step: a baseline that catches one falls by
    much, a summary window that catches one rises by little), and sign flips
    over 7 songs of skewed song means reject too often. When the chills are
    drawn like the control sets (the null of
    :func:`chill_pseudo_events`), the chill set is one of ``n_sets + 1``
    exchangeable sets, so its rank is uniform and the score symmetric about
    0 whatever the epochs' distribution.

    Parameters
    ----------
    response : TimeSeries
        One listener's response to one song (t = 0 at song onset).
    pseudo : PseudoTransitions
        The trial's :func:`chill_pseudo_events` (``controls_s`` has a row per set).
    window_s, baseline_s : tuple
        As in :func:`frisson.events.epochs`.
    summary_window_s : (float, float)
        Epoch times averaged into each epoch's value (inclusive).
    position_degree : int, optional
        Degree of the position trend removed (default 3, as the locked
        averages' position matching); None removes nothing.

    Returns
    -------
    float
        The score in [-1, 1]; NaN when no chill or no control epoch was kept.

    Examples
    --------
    A response that rises 1 s after each chill: the chills beat every control set.

    >>> from frisson.timeseries import TimeSeries
    >>> t = np.arange(0, 100, 0.1)
    >>> pt = chill_pseudo_events([40.0], duration_s=100.0, seed=0)
    >>> step = TimeSeries(((t >= 41) & (t <= 46)).astype(float), rate_hz=10.0)
    >>> chill_rank_score(step, pt)
    1.0

    """
    from frisson.events import epochs

    events, controls = pseudo.events_s, pseudo.controls_s
    n_sets, n_events = controls.shape
    times = np.r_[events, controls.ravel()]
    labels = np.r_[np.zeros(n_events, dtype=int), np.repeat(np.arange(1, n_sets + 1), n_events)]
    cut = epochs(response, times, window_s=window_s, baseline_s=baseline_s)
    kept = ~np.isin(times, cut.dropped_s)
    low, high = check_range_s("summary_window_s", summary_window_s)
    inside = (cut.times_s >= low - 1e-9) & (cut.times_s <= high + 1e-9)
    if not inside.any():
        raise ParameterError(f"summary_window_s={summary_window_s} holds no epoch time.")
    values, labels = cut.data[:, inside].mean(axis=1), labels[kept]
    if position_degree is not None and values.size > 2 * (position_degree + 1):
        degree = check_int("position_degree", position_degree, minimum=0)
        start, end = pseudo.span_s
        design = np.vander((times[kept] - start) / max(end - start, 1e-9), degree + 1)
        values = values - design @ np.linalg.lstsq(design, values, rcond=None)[0]
    counts = np.bincount(labels, minlength=n_sets + 1)
    sums = np.bincount(labels, weights=values, minlength=n_sets + 1)
    if counts[0] == 0 or not counts[1:].any():
        return float("nan")
    chill, control = sums[0] / counts[0], sums[1:][counts[1:] > 0] / counts[1:][counts[1:] > 0]
    scale = 1e-12 * max(1.0, float(np.abs(control).max()))
    above, below = np.sum(control > chill + scale), np.sum(control < chill - scale)
    return float((below - above) / control.size)


def chill_rank_p(
    scores: Sequence[float],
    units: Sequence[str],
    *,
    n_permutations: int = 10000,
    seed: int = 0,
) -> float:
    """One-sided sign-flip p over units (songs or listeners) of their mean rank scores.

    Each unit's value is the mean of its trials' :func:`chill_rank_score`
    (NaN scores left out); under the null every value is symmetric about 0,
    so flipping the signs of whole units gives the null distribution of their
    mean (exact up to ``log2(n_permutations)`` units).

    Examples
    --------
    >>> chill_rank_p([1.0, 0.9, 0.8, 1.0, 0.7], ["a", "b", "c", "d", "e"])
    0.03125

    """
    values = np.asarray(scores, dtype=float)
    labels = np.asarray(units).astype(str)
    if values.shape != labels.shape:
        raise DataError(f"scores has {values.size} values for {labels.size} unit labels.")
    finite = np.isfinite(values)
    names, index = np.unique(labels[finite], return_inverse=True)
    if names.size < 3:
        raise DataError(f"A sign-flip test needs at least 3 units with scores, got {names.size}.")
    means = np.bincount(index, weights=values[finite]) / np.bincount(index)
    return _signflip_mean_p(means, n_permutations, seed)[0]


# ------------------------------------------------------------------ transitions -> chills
def _hit_share(chills: Sequence[np.ndarray], times_s: np.ndarray, window: tuple[float, float]):
    """Per time, the share of listeners with a chill in ``[t + low, t + high]``."""
    low, high = window
    hits = np.zeros(times_s.shape)
    for reports in chills:
        reports = np.sort(np.asarray(reports, dtype=float))
        first = np.searchsorted(reports, times_s + low, side="left")
        last = np.searchsorted(reports, times_s + high, side="right")
        hits += last > first
    return hits / max(len(chills), 1)


def chill_hit_rates(
    chills_by_listener: Sequence[Sequence[float]],
    pseudo: PseudoTransitions,
    *,
    hit_window_s: tuple[float, float] = (0.0, 10.0),
    position_degree: int | None = 3,
) -> tuple[float, float]:
    """One song's chill hit rate after its transitions and after its pseudo-transitions.

    ``c(t)`` is the share of the song's listeners who reported a chill in
    ``[t + low, t + high]``; the events' rate is the mean of ``c`` over the kept
    transitions. The control rate is the mean of ``c`` over the control sets,
    or (``position_degree``) a polynomial in the position within the span fitted
    to the controls' ``c`` and evaluated at the transitions' positions, so that
    chills that are likelier late in songs do not favour either side.

    Parameters
    ----------
    chills_by_listener : sequence of sequences of float
        Per listener of the song, their chill reports (s from song onset;
        empty for a listener without chills).
    pseudo : PseudoTransitions
        The song's transitions and control sets (:func:`frisson.events.pseudo_transitions`).
    hit_window_s : (float, float)
        A chill counts for a moment ``t`` when it lies in ``[t + low, t + high]``
        (default 0-10 s after).
    position_degree : int or None
        Degree of the position fit (default 3, as the transition test); None
        uses the plain mean over controls.

    Returns
    -------
    (float, float)
        Hit rate after transitions and after controls (shares of listeners, 0-1).

    Examples
    --------
    >>> pt = pseudo_transitions([30.0, 60.0], duration_s=100.0, edge_s=5.0, seed=0)
    >>> events, control = chill_hit_rates([[33.0], [62.0, 90.0], []], pt, position_degree=None)
    >>> round(events, 3), bool(control < events)
    (0.333, True)

    """
    low, high = check_range_s("hit_window_s", hit_window_s)
    if high <= low:
        raise ParameterError(f"hit_window_s must have low < high, got {hit_window_s!r}.")
    if pseudo.events_s.size == 0:
        raise DataError("The song has no transition inside its admissible span; leave it out.")
    listeners = [np.asarray(c, dtype=float) for c in chills_by_listener]
    if not listeners:
        raise DataError("chills_by_listener is empty: give one (possibly empty) list per listener.")
    events = float(_hit_share(listeners, pseudo.events_s, (low, high)).mean())
    controls = pseudo.controls_s.ravel()
    share = _hit_share(listeners, controls, (low, high))
    if position_degree is None:
        return events, float(share.mean())
    degree = check_int("position_degree", position_degree, minimum=0)
    if controls.size < 2 * (degree + 1):
        raise DataError(
            f"{controls.size} controls cannot fit a degree-{degree} position trend; "
            "draw more control sets or lower position_degree."
        )
    start, end = pseudo.span_s
    scale = max(end - start, 1e-9)
    design = np.vander((controls - start) / scale, degree + 1)
    coefficients, *_ = np.linalg.lstsq(design, share, rcond=None)
    at_events = np.vander((pseudo.events_s - start) / scale, degree + 1)
    return events, float(at_events.mean(axis=0) @ coefficients)


@dataclass(frozen=True)
class ChillHitTest:
    """Chill hit rates after transitions vs pseudo-transitions, songs as the random factor.

    Attributes
    ----------
    songs : tuple of str
    hit_events, hit_control : ndarray, shape (n_songs,)
        Per song, the share of listeners with a chill within the hit window
        after a transition, and after a control (position matched).
    n_listeners, n_transitions : ndarray of int, shape (n_songs,)
    effect : float
        Mean over songs of ``hit_events - hit_control`` (a share of listeners).
    ci : (float, float)
        t confidence interval over songs (``n_songs - 1`` df).
    p : float
        One-sided sign-flip p over songs (H1: more chills after transitions).
    n_permutations : int
    exact : bool
    min_possible_p : float
    hit_window_s : (float, float)
    method : str
        A paragraph for the report.

    """

    songs: tuple[str, ...]
    hit_events: np.ndarray = field(repr=False)
    hit_control: np.ndarray = field(repr=False)
    n_listeners: np.ndarray = field(repr=False)
    n_transitions: np.ndarray = field(repr=False)
    effect: float
    ci: tuple[float, float]
    p: float
    n_permutations: int
    exact: bool
    min_possible_p: float
    hit_window_s: tuple[float, float]
    method: str = field(repr=False)

    @property
    def n_songs(self) -> int:
        """Songs tested."""
        return len(self.songs)

    def to_frame(self):
        """Per song: song, n_listeners, n_transitions, hit_events, hit_control, difference."""
        import pandas as pd

        return pd.DataFrame(
            {
                "song": self.songs,
                "n_listeners": self.n_listeners,
                "n_transitions": self.n_transitions,
                "hit_events": self.hit_events,
                "hit_control": self.hit_control,
                "difference": self.hit_events - self.hit_control,
            }
        )


def _signflip_mean_p(values: np.ndarray, n_permutations: int, seed: int) -> tuple[float, int, bool]:
    """One-sided sign-flip p of the mean (the observed pattern counted), patterns, exact."""
    signs, exact = sign_patterns(values.size, n_permutations, seed)
    means = signs @ values / values.size
    scale = 1e-12 * max(1.0, float(np.abs(values).max(initial=0.0)))
    return float(np.mean(means >= means[0] - scale)), int(signs.shape[0]), exact


def chill_hit_test(
    rates: Mapping[str, tuple[float, float]],
    *,
    n_listeners: Mapping[str, int] | None = None,
    n_transitions: Mapping[str, int] | None = None,
    hit_window_s: tuple[float, float] = (0.0, 10.0),
    n_permutations: int = 10000,
    ci_level: float = 0.95,
    seed: int = 0,
) -> ChillHitTest:
    """Sign-flip test over songs of (hit rate after transitions - after controls).

    Under the null (chills unrelated to the transitions, controls drawn like the
    transitions) each song's difference is centred on 0; flipping the signs of
    whole songs gives its null distribution (exact up to ``log2(n_permutations)``
    songs). A rare-chill study gives right-skewed differences, for which the
    one-sided test is conservative rather than liberal.

    Parameters
    ----------
    rates : mapping of str to (float, float)
        Per song, :func:`chill_hit_rates`.
    n_listeners, n_transitions : mapping of str to int, optional
        Per song, for the table.
    hit_window_s : (float, float)
        The window used (recorded).
    n_permutations : int
        Sign patterns (all ``2**n_songs`` when not more).
    ci_level : float
        Level of the t interval of the effect.
    seed : int
        Seed of random sign patterns.

    Returns
    -------
    ChillHitTest

    Examples
    --------
    >>> rates = {f"s{i}": (0.3 + 0.01 * i, 0.1) for i in range(6)}
    >>> result = chill_hit_test(rates)
    >>> result.p, result.min_possible_p, round(result.effect, 3)
    (0.015625, 0.015625, 0.225)

    """
    from scipy import stats

    names = sorted(rates)
    if len(names) < 3:
        raise DataError(
            f"A test over songs needs at least 3 songs with transitions and listeners, got "
            f"{len(names)}."
        )
    if not 0 < ci_level < 1:
        raise ParameterError(f"ci_level must be between 0 and 1, got {ci_level!r}.")
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    events = np.array([rates[n][0] for n in names], dtype=float)
    control = np.array([rates[n][1] for n in names], dtype=float)
    if not (np.isfinite(events).all() and np.isfinite(control).all()):
        raise DataError("rates hold NaN; leave out songs without transitions or listeners.")
    difference = events - control
    p, n_patterns, exact = _signflip_mean_p(difference, n_permutations, seed)
    effect = float(difference.mean())
    half = float(
        stats.t.ppf(0.5 + ci_level / 2, difference.size - 1)
        * difference.std(ddof=1)
        / np.sqrt(difference.size)
    )
    min_p = 2.0 ** (-difference.size) if exact else 1.0 / n_patterns
    low, high = (float(v) for v in hit_window_s)
    method = (
        f"Per song, the share of its listeners reporting a chill {low:g} to {high:g} s after "
        f"each latent transition, averaged over its transitions, minus the same share after "
        f"its pseudo-transitions (drawn as for the transition test; position matched). "
        f"Songs as the unit of inference ({difference.size} songs): mean difference "
        f"{effect:.3g} ({100 * ci_level:g} % CI {effect - half:.3g} to {effect + half:.3g}), "
        f"one-sided sign-flip p = {p:.4g} over {n_patterns} sign patterns (smallest possible "
        f"{min_p:.3g})."
    )
    counts = [n_listeners or {}, n_transitions or {}]
    return ChillHitTest(
        songs=tuple(names),
        hit_events=events,
        hit_control=control,
        n_listeners=np.array([counts[0].get(n, 0) for n in names], dtype=int),
        n_transitions=np.array([counts[1].get(n, 0) for n in names], dtype=int),
        effect=effect,
        ci=(effect - half, effect + half),
        p=p,
        n_permutations=n_patterns,
        exact=exact,
        min_possible_p=min_p,
        hit_window_s=(low, high),
        method=method,
    )


# ------------------------------------------------------------------ listeners' scores
@dataclass(frozen=True)
class ListenerAssociations:
    """Spearman correlations of listeners' scores with their effects, max-stat corrected.

    Attributes
    ----------
    rows : list of dict
        One per (effect, score): ``effect``, ``score``, ``n`` (listeners with
        both), ``rho``, ``p`` (two-sided permutation p, uncorrected),
        ``p_corrected`` (max-|rho| over the effect's scores).
    n_permutations : int
    method : str

    """

    rows: list[dict] = field(repr=False)
    n_permutations: int
    method: str = field(repr=False)

    def to_frame(self):
        """The rows as a table."""
        import pandas as pd

        columns = ["effect", "score", "n", "rho", "p", "p_corrected"]
        return pd.DataFrame(self.rows, columns=columns)

    def significant(self, alpha: float = 0.05) -> list[dict]:
        """Rows with ``p_corrected < alpha``."""
        return [r for r in self.rows if r["p_corrected"] < alpha]


def _ranks(x: np.ndarray, axis: int = -1) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=axis)


def _permuted_rho(scores: np.ndarray, effect: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Per score column, rho of the score's ranks with the permuted effect's ranks (pairwise)."""
    out = np.full((orders.shape[0], scores.shape[1]), np.nan)
    permuted = effect[orders]  # (n_perm, n)
    for j in range(scores.shape[1]):
        keep = np.isfinite(scores[:, j])
        if keep.sum() < 4 or np.ptp(scores[keep, j]) == 0:
            continue
        x = _ranks(scores[keep, j])
        x = (x - x.mean()) / np.linalg.norm(x - x.mean())
        y = _ranks(permuted[:, keep], axis=1)
        y = y - y.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(y, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = (y @ x) / norm
    return out


def listener_associations(
    scores: Mapping[str, Mapping[str, float]],
    effects: Mapping[str, Mapping[str, float]],
    *,
    n_permutations: int = 5000,
    seed: int = 0,
) -> ListenerAssociations:
    """Every numeric score against every listener effect: rho, permutation p, max-stat correction.

    Per effect, listeners without a finite effect are left out; each score uses
    the listeners that have it (pairwise complete). The same random orders of
    the listeners are applied to every score of an effect, so the maximum
    |rho| over scores per order gives a family-wise corrected p (Westfall &
    Young single-step max-T, two-sided) over the tested scores.

    Parameters
    ----------
    scores : mapping of str to mapping of str to float
        Per score name (e.g. ``absorption``), per listener, the value (NaN missing).
    effects : mapping of str to mapping of str to float
        Per effect name (e.g. ``transition_sc``), per listener, the value.
    n_permutations : int
        Random orders of the listeners (the observed order counted among them).
    seed : int
        Seed of the orders.

    Returns
    -------
    ListenerAssociations

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> trait = rng.standard_normal(30)
    >>> people = [f"p{i}" for i in range(30)]
    >>> scores = {"trait": dict(zip(people, trait)), "noise": dict(zip(people, rng.random(30)))}
    >>> effects = {"response": dict(zip(people, trait + 0.5 * rng.standard_normal(30)))}
    >>> table = listener_associations(scores, effects, n_permutations=999).to_frame()
    >>> table.loc[table.score == "trait", "p_corrected"].item() < 0.01
    True

    """
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    score_names = sorted(scores)
    if not score_names or not effects:
        raise DataError("listener_associations needs at least one score and one effect.")
    rng = rng_from_seed(seed)
    rows = []
    for effect_name in sorted(effects):
        values = effects[effect_name]
        people = sorted(p for p, v in values.items() if np.isfinite(v))
        if len(people) < 4:
            continue
        effect = np.array([values[p] for p in people], dtype=float)
        matrix = np.array(
            [[float(scores[s].get(p, np.nan)) for s in score_names] for p in people], dtype=float
        )
        orders = np.vstack(
            [np.arange(len(people))]
            + [rng.permutation(len(people)) for _ in range(n_permutations - 1)]
        )
        rho = _permuted_rho(matrix, effect, orders)
        observed = rho[0]
        strongest = np.nanmax(np.abs(rho), axis=1, initial=0.0)
        for j, name in enumerate(score_names):
            if not np.isfinite(observed[j]):
                continue
            tolerance = 1e-12
            rows.append(
                {
                    "effect": effect_name,
                    "score": name,
                    "n": int(np.isfinite(matrix[:, j]).sum()),
                    "rho": float(observed[j]),
                    "p": float(np.mean(np.abs(rho[:, j]) >= abs(observed[j]) - tolerance)),
                    "p_corrected": float(np.mean(strongest >= abs(observed[j]) - tolerance)),
                }
            )
    method = (
        f"Spearman's rho (Pearson r of ranks, listeners with both values) of every numeric "
        f"score with each listener effect; two-sided permutation p from {n_permutations} "
        f"orders of the listeners (the observed one counted); p_corrected from the maximum "
        f"|rho| over the {len(score_names)} scores per order (family-wise over the scores, "
        f"per effect)."
    )
    return ListenerAssociations(rows, n_permutations, method)


# ------------------------------------------------------------------ songs' ratings (trials)
@dataclass(frozen=True)
class TrialAssociations:
    """Per-song ratings against per-trial effects, listeners and songs as nuisance factors.

    Attributes
    ----------
    rows : list of dict
        One per (effect, score): ``effect``, ``score``, ``n_trials``,
        ``n_participants``, ``n_songs``, ``song_factor`` (whether the songs
        heard by 2 or more listeners entered as a factor), ``df`` (residual
        degrees of freedom), ``r`` (partial correlation), ``t``, ``p``
        (two-sided Freedman-Lane permutation p, uncorrected) and
        ``p_corrected`` (max-|t| over the effect's scores).
    residuals : dict of (str, str) to (ndarray, ndarray)
        Per (effect, score), the score and the effect with the listeners' and
        songs' means removed (the partial-regression plot).
    n_permutations : int
    method : str

    """

    rows: list[dict] = field(repr=False)
    residuals: dict = field(repr=False)
    n_permutations: int
    method: str = field(repr=False)

    def to_frame(self):
        """The rows as a table."""
        import pandas as pd

        columns = ["effect", "score", "n_trials", "n_participants", "n_songs", "song_factor"]
        return pd.DataFrame(self.rows, columns=[*columns, "df", "r", "t", "p", "p_corrected"])

    def significant(self, alpha: float = 0.05) -> list[dict]:
        """Rows with ``p_corrected < alpha``."""
        return [r for r in self.rows if r["p_corrected"] < alpha]


def _nuisance_basis(participants: list[str], songs: list[str]) -> tuple[np.ndarray, bool]:
    """Orthonormal basis of intercept + listener dummies (+ songs heard by >= 2 listeners)."""
    people = sorted(set(participants))
    columns = [np.ones(len(participants))]
    columns += [np.array([p == q for p in participants], float) for q in people]
    shared = [
        s
        for s in sorted(set(songs))
        if len({p for p, t in zip(participants, songs, strict=True) if t == s}) >= 2
    ]
    columns += [np.array([t == s for t in songs], float) for s in shared]
    u, sv, _ = np.linalg.svd(np.column_stack(columns), full_matrices=False)
    return u[:, sv > 1e-9 * sv[0]], bool(shared)


def trial_associations(
    scores: Mapping[str, Mapping[tuple[str, str], float]],
    effects: Mapping[str, Mapping[tuple[str, str], float]],
    *,
    n_permutations: int = 5000,
    min_df: int = 3,
    seed: int = 0,
) -> TrialAssociations:
    """Every per-song score (a rating) against every per-trial effect, within listeners and songs.

    Per effect, the trials (listener x song) with the effect and every score
    are regressed on listener indicators and on indicators of the songs heard
    by two or more listeners (the nuisance: a listener who rates high, a song
    everybody likes, a listener or a song with large responses); the score's
    slope is tested by its t with Freedman & Lane's permutation of the
    nuisance model's residuals (two-sided; exact under exchangeable errors,
    robust to skewed effects such as chill counts), and corrected over the
    scores by the maximum |t| per permutation. This is the fixed-effects form
    of a crossed mixed model's within-listener, within-song slope; the
    between-listener part (a listener's mean rating) goes to
    :func:`listener_associations`. With own songs (one listener per song) the
    songs drop out and the slope is within listeners.

    Parameters
    ----------
    scores : mapping of str to mapping of (str, str) to float
        Per score name (e.g. ``pleasure``), per (participant, song), the value.
    effects : mapping of str to mapping of (str, str) to float
        Per effect name (e.g. ``transition_sc``), per (participant, song).
    n_permutations : int
        Permutations (the identity counted).
    min_df : int
        Fewest residual degrees of freedom for a test (default 3).
    seed : int

    Returns
    -------
    TrialAssociations

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> keys = [(f"p{i}", f"s{j}") for i in range(8) for j in range(6)]
    >>> z = dict(zip(keys, rng.standard_normal(len(keys))))
    >>> scores = {"pleasure": {k: 50 + 10 * z[k] + 5 * int(k[0][1:]) for k in keys}}
    >>> effects = {"response": {k: z[k] + rng.standard_normal() for k in keys}}
    >>> row = trial_associations(scores, effects, n_permutations=999).rows[0]
    >>> row["n_trials"], row["song_factor"], row["df"], row["p_corrected"] < 0.01
    (48, True, 34, True)

    """
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    names = sorted(scores)
    if not names or not effects:
        raise DataError("trial_associations needs at least one score and one effect.")
    rng = rng_from_seed(seed)
    rows, residuals = [], {}
    for effect_name in sorted(effects):
        values = effects[effect_name]
        keys = sorted(
            k
            for k, v in values.items()
            if np.isfinite(v) and all(np.isfinite(scores[s].get(k, np.nan)) for s in names)
        )
        if len(keys) < 4:
            continue
        basis, song_factor = _nuisance_basis([k[0] for k in keys], [k[1] for k in keys])
        df = len(keys) - basis.shape[1] - 1
        if df < min_df:
            continue
        y = np.array([values[k] for k in keys], dtype=float)
        x = np.array([[scores[s][k] for s in names] for k in keys], dtype=float)
        x_res = x - basis @ (basis.T @ x)
        y_res = y - basis @ (basis.T @ y)
        usable = np.linalg.norm(x_res, axis=0) > 1e-9 * (1 + np.abs(x).max(axis=0))
        if not usable.any() or np.linalg.norm(y_res) < 1e-12 * (1 + np.abs(y).max()):
            continue
        x_unit = np.where(usable, x_res / np.maximum(np.linalg.norm(x_res, axis=0), 1e-300), 0)
        orders = np.vstack(
            [np.arange(len(keys))] + [rng.permutation(len(keys)) for _ in range(n_permutations - 1)]
        )
        permuted = y_res[orders]
        permuted -= (permuted @ basis) @ basis.T
        r = (permuted @ x_unit) / np.linalg.norm(permuted, axis=1, keepdims=True)
        t = r * np.sqrt(df) / np.sqrt(np.maximum(1 - r**2, 1e-15))
        strongest = np.abs(t[:, usable]).max(axis=1)
        for j, name in enumerate(names):
            if not usable[j]:
                continue
            observed = abs(t[0, j]) * (1 - 1e-12)
            rows.append(
                {
                    "effect": effect_name,
                    "score": name,
                    "n_trials": len(keys),
                    "n_participants": len({k[0] for k in keys}),
                    "n_songs": len({k[1] for k in keys}),
                    "song_factor": song_factor,
                    "df": df,
                    "r": float(r[0, j]),
                    "t": float(t[0, j]),
                    "p": float(np.mean(np.abs(t[:, j]) >= observed)),
                    "p_corrected": float(np.mean(strongest >= observed)),
                }
            )
            residuals[effect_name, name] = (x_res[:, j].copy(), y_res.copy())
    method = (
        f"Per effect, trials (listener x song) regressed on listener indicators and on "
        f"indicators of the songs heard by 2 or more listeners; each score's slope tested by "
        f"its t with {n_permutations} Freedman-Lane permutations of the nuisance model's "
        f"residuals (the identity counted; two-sided), p_corrected from the maximum |t| over "
        f"the {len(names)} scores per permutation (family-wise over the scores, per effect)."
    )
    return TrialAssociations(rows, residuals, n_permutations, method)
