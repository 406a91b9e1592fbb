"""``frisson run`` analyses beyond the poster: chills, heart rate and the listener (opt-in).

Three analyses, each named in ``[run] analyses`` (none runs by default, so the
default run and its null benchmark are unchanged):

``chills``
    Skin conductance (and, where PPG or ECG was recorded, heart rate) epoched
    around each listener's reported chills vs control moments drawn for that
    trial like its chills (same number per set, the study's pooled chill
    positions, outside the song-onset window; position matched with the
    transition test's polynomial), songs as the random factor
    (:func:`frisson.events.song_level_test` for the effect, CI and time course;
    the p flips the signs of the songs' mean rank of each trial's chills among
    its control sets, :func:`frisson.chills_events.chill_rank_score`;
    ``chill_unit="participant"`` flips listeners instead). And whether latent
    transitions predict chills: per song, the share of listeners reporting a
    chill within ``hit_window_s`` after a transition vs after the transition
    test's own pseudo-transitions (:func:`frisson.chills_events.chill_hit_test`,
    sign flips over songs).
``heart``
    Heart rate (the poster's definition: the 10-s weighted average of
    inter-beat intervals, :func:`frisson.physio.cardiac.heart_rate`) and RMSSD
    (10-s windows every 0.5 s, :func:`frisson.physio.cardiac.hrv`) around
    latent transitions vs the transition test's pseudo-transitions (the very
    draws of the ``epochs`` step: same seeds), and around chills, with the
    skin-conductance inference. Beat-quality gaps are respected: an
    inter-beat interval over ``max_ibi_s`` makes every heart-rate window that
    touches it NaN, so does a lost (NaN) pulse sample, and an epoch with a NaN
    is left out.
``individual``
    Every numeric ``participants.tsv`` column, and each listener's mean of
    every post-listening rating (``*_beh.tsv``, :meth:`frisson.study.Study.song_ratings`),
    against each listener's effects (transition-locked SC and HR, chill rate,
    chill-locked SC, the CNN's r on held-out songs):
    :func:`frisson.chills_events.listener_associations` (Spearman, listener
    permutations, max-|rho| correction over the scores per effect). And the
    ratings per song against the same effects per trial, within listeners and
    songs: :func:`frisson.chills_events.trial_associations` (listener and song
    indicators as nuisance, Freedman-Lane permutations, max-|t| correction over
    the ratings per effect). The CNN's r is read from the ``cnn`` analysis's
    held-out predictions (participants and songs held out; no refit): per test
    listener and song, Pearson r of the prediction with that listener's target
    after the run's ``score_detrend_order`` detrending.

Studies where every listener brings their own songs (one listener per song)
run through all three: songs stay the random factor of the locked tests (a
song's one listener is its replicate), the listener factor carries the
individual analyses and the song indicators drop out of
:func:`~frisson.chills_events.trial_associations`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._logging import logger
from frisson.errors import DataError, FrissonError
from frisson.pipelines._draws import SongEvents, song_events, transition_draws

if TYPE_CHECKING:
    from frisson.chills_events import ChillHitTest, ListenerAssociations, TrialAssociations
    from frisson.events import SongLevelTest
    from frisson.timeseries import TimeSeries

__all__ = [
    "BEYOND_ANALYSES",
    "BeyondResults",
    "BeyondSettings",
    "SongEvents",
    "beyond_analyses",
    "run_beyond",
    "song_events",
    "transition_draws",
]

#: The opt-in analyses of this module (names in ``RunConfig.analyses``).
BEYOND_ANALYSES = ("chills", "heart", "individual")


@dataclass(frozen=True)
class BeyondSettings:
    """Settings of the ``chills``, ``heart`` and ``individual`` analyses.

    Attributes
    ----------
    hit_window_s : (float, float)
        A chill counts as following a moment when it lies this far after it
        (default 0-5 s: a chill follows its musical cause within seconds, and a
        longer window covers most of a song whose sections last 10-20 s, so
        controls would score as often as transitions).
    chill_unit : {'song', 'participant'}
        Random factor of the chill-locked tests (default songs: chills cluster
        at song moments every listener hears; see :mod:`frisson.chills_events`).
    hr_window_s : float
        Heart-rate window (default 10 s, the poster's).
    max_ibi_s : float
        Longest inter-beat interval taken as a heartbeat (default 2 s).
    rmssd_window_s, rmssd_hop_s : float
        RMSSD windows (default 10 s every 0.5 s) and ``rmssd_min_beats``.
    rmssd_min_beats : int
    cardiac_epoch_window_s, cardiac_baseline_s, cardiac_summary_window_s : (float, float)
        Epoch window, baseline and summary window of heart rate and RMSSD
        (default -10 to 12 s, baseline -10 to -5 s, summary 0 to 8 s). A
        centred 10-s window lets a heart-rate change enter the series 5 s
        before it happens, so the skin-conductance baseline (t < 0) would
        absorb it: the cardiac baseline ends 5 s before the event.
    n_association_permutations : int
        Listener permutations of the ``individual`` analysis.

    """

    hit_window_s: tuple[float, float] = (0.0, 5.0)
    chill_unit: str = "song"
    hr_window_s: float = 10.0
    max_ibi_s: float = 2.0
    rmssd_window_s: float = 10.0
    rmssd_hop_s: float = 0.5
    rmssd_min_beats: int = 6
    cardiac_epoch_window_s: tuple[float, float] = (-10.0, 12.0)
    cardiac_baseline_s: tuple[float, float] = (-10.0, -5.0)
    cardiac_summary_window_s: tuple[float, float] = (0.0, 8.0)
    n_association_permutations: int = 5000


@dataclass
class BeyondResults:
    """What the opt-in analyses computed.

    Attributes
    ----------
    settings : BeyondSettings
    locked : dict of str to SongLevelTest
        Keyed ``"<response> @ <events>"``: ``skin conductance @ chills``,
        ``heart rate @ chills``, ``heart rate @ transitions``,
        ``rmssd @ transitions``, ``rmssd @ chills`` (those that could be tested).
    units : dict of str to str
        Per ``locked`` key, the random factor (``song`` or ``participant``).
    chill_hits : ChillHitTest or None
    listener_effects : pandas.DataFrame or None
        One row per listener: ``participant`` and each effect.
    individual : ListenerAssociations or None
    listener_scores : pandas.DataFrame or None
        One row per listener: ``participant`` and every score tested
        (``participants.tsv`` columns, ``<rating> (listener mean)``).
    trial_effects : pandas.DataFrame or None
        One row per trial: ``participant``, ``stimulus`` and each per-trial effect.
    song_scores : TrialAssociations or None
        Post-listening ratings per song against the per-trial effects.
    counts : dict
        Trials read, trials with chills, chills, HR trials, trials left out.
    notes : list of str
        Why an analysis was skipped.

    """

    settings: BeyondSettings
    locked: dict[str, SongLevelTest] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    chill_hits: ChillHitTest | None = None
    listener_effects: Any = None
    individual: ListenerAssociations | None = None
    listener_scores: Any = None
    trial_effects: Any = None
    song_scores: TrialAssociations | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary_rows(self) -> list[dict]:
        """One row per test: what, effect, CI, p and the smallest p possible."""
        rows = []
        for key, test in self.locked.items():
            rows.append(
                {
                    "test": key,
                    "unit": self.units.get(key, "song"),
                    "n_units": test.n_songs,
                    "n_participants": test.n_participants,
                    "effect": test.effect,
                    "ci_low": test.ci[0],
                    "ci_high": test.ci[1],
                    "p": test.p,
                    "min_possible_p": test.min_possible_p,
                }
            )
        if self.chill_hits is not None:
            h = self.chill_hits
            rows.append(
                {
                    "test": "chill hit rate after transitions",
                    "unit": "song",
                    "n_units": h.n_songs,
                    "n_participants": int(h.n_listeners.max(initial=0)),
                    "effect": h.effect,
                    "ci_low": h.ci[0],
                    "ci_high": h.ci[1],
                    "p": h.p,
                    "min_possible_p": h.min_possible_p,
                }
            )
        return rows


@dataclass(frozen=True)
class _Listening:
    """One trial's chills and cardiac series (t = 0 at song onset)."""

    participant: str
    stimulus: str
    duration_s: float
    chills_s: np.ndarray
    hr: TimeSeries | None = None
    rmssd: TimeSeries | None = None
    problem: str = ""


def run_beyond(
    cache, config, study, songs: dict, trials: list, show: bool, predictions: dict | None = None
) -> BeyondResults:
    """The opt-in analyses of ``config.analyses`` (called by ``run_study``)."""
    return beyond_analyses(
        config,
        study,
        song_events(songs, config.transition_method),
        trials,
        cache=cache,
        show=show,
        predictions=predictions,
    )


def beyond_analyses(
    config,
    study,
    events: dict[str, SongEvents],
    trials: list,
    *,
    settings: BeyondSettings | None = None,
    cache=None,
    show: bool = False,
    predictions: dict | None = None,
) -> BeyondResults:
    """Run ``chills``, ``heart`` and ``individual`` (those in ``config.analyses``).

    Parameters
    ----------
    config : RunConfig
        The run's settings (epoch window, control sets, seeds, ...).
    study : Study
        The study (chill events, PPG/ECG, ``participants.tsv``).
    events : dict of str to SongEvents
        Per song, its latent transitions (:func:`song_events`), or planted ones.
    trials : list
        The physiology step's trials (``participant``, ``stimulus``, ``eda``:
        normalised, detrended skin conductance on song time).
    settings : BeyondSettings, optional
    cache : StepCache, optional
        Caches the cardiac series (beat detection is the slow part).
    show : bool
        Progress bars.
    predictions : dict, optional
        The ``cnn`` analysis's held-out predictions (``StudyResults.predictions``:
        per (test participant, song), the prediction of a model that never
        heard the song and the participant's target); gives the listener
        effect ``cnn_r_held_out`` and the per-trial ``cnn_r``.

    Returns
    -------
    BeyondResults

    """
    settings = settings or BeyondSettings()
    wanted = set(config.analyses)
    results = BeyondResults(settings)
    listening = _listening(config, study, settings, "heart" in wanted, cache, show)
    results.counts = {
        "trials": len(listening),
        "trials_with_chills": sum(t.chills_s.size > 0 for t in listening),
        "chills": int(sum(t.chills_s.size for t in listening)),
        "trials_with_heart_rate": sum(t.hr is not None for t in listening),
        "cardiac_left_out": sum(bool(t.problem) for t in listening),
    }
    draws = transition_draws(config, events)
    chill_draws = _chill_draws(config, listening)
    unit = settings.chill_unit
    per_trial: dict[str, dict[tuple[str, str], float]] = {}
    eda = {(t.participant, t.stimulus): t.eda for t in trials}
    if "individual" in wanted:
        per_trial["transition_sc"] = _locked(config, _items(eda, draws))[1]
    if "chills" in wanted or "individual" in wanted:
        test, per_trial["chill_sc"] = _locked(config, _items(eda, chill_draws), unit, chills=True)
        _keep(results, "skin conductance @ chills", test, unit)
        results.chill_hits = _hits(config, settings, listening, draws, results.notes)
    if "heart" in wanted:
        _heart(config, results, listening, draws, chill_draws, per_trial)
    per_trial["chills_per_min"] = {
        (t.participant, t.stimulus): 60.0 * t.chills_s.size / t.duration_s
        for t in listening
        if t.duration_s > 0
    }
    if predictions:
        per_trial["cnn_r"] = _held_out_r(predictions, config.score_detrend_order)
    effects = {name: _per_listener(values) for name, values in per_trial.items()}
    effects.pop("chills_per_min")
    effects["chill_rate_per_min"] = _chill_rates(listening)
    if "cnn_r" in effects:
        effects["cnn_r_held_out"] = _fisher_mean(per_trial["cnn_r"])
        effects.pop("cnn_r")
    results.listener_effects = _effects_frame(effects)
    results.trial_effects = _trial_frame(per_trial)
    if "individual" in wanted:
        ratings = _song_ratings(study, results.notes)
        results.individual, results.listener_scores = _individual(
            study, effects, settings, config.seed, results.notes, ratings
        )
        results.song_scores = _song_scores(ratings, per_trial, settings, config.seed, results.notes)
    return results


def _heart(config, results: BeyondResults, listening, draws, chill_draws, per_trial) -> None:
    """Heart rate and RMSSD around transitions (songs) and chills (``chill_unit``)."""
    hr = {(t.participant, t.stimulus): t.hr for t in listening if t.hr is not None}
    rmssd = {(t.participant, t.stimulus): t.rmssd for t in listening if t.rmssd is not None}
    if not hr:
        results.notes.append("heart: no trial with usable PPG or ECG beats")
        return
    settings = results.settings
    unit = settings.chill_unit
    test, per_trial["transition_hr"] = _locked(config, _items(hr, draws), cardiac=settings)
    _keep(results, "heart rate @ transitions", test, "song")
    test = _locked(config, _items(rmssd, draws), cardiac=settings)[0]
    _keep(results, "rmssd @ transitions", test, "song")
    test = _locked(config, _items(hr, chill_draws), unit, cardiac=settings, chills=True)[0]
    _keep(results, "heart rate @ chills", test, unit)
    test = _locked(config, _items(rmssd, chill_draws), unit, cardiac=settings, chills=True)[0]
    _keep(results, "rmssd @ chills", test, unit)


def _keep(results: BeyondResults, key: str, test, unit: str) -> None:
    if test is None:
        results.notes.append(f"{key}: too few songs/listeners with epochs for a test")
        return
    results.locked[key] = test
    results.units[key] = unit


def _items(series: dict, draws: dict) -> list[tuple[str, str, Any, Any]]:
    """(participant, stimulus, series, draw) for every trial with both; draws by song or trial."""
    out = []
    for (participant, stimulus), values in sorted(series.items()):
        draw = draws.get((participant, stimulus), draws.get(stimulus))
        if draw is not None and values is not None and draw.events_s.size:
            out.append((participant, stimulus, values, draw))
    return out


def _locked(
    config,
    items: list,
    unit: str = "song",
    cardiac: BeyondSettings | None = None,
    chills: bool = False,
):
    """Event- vs control-locked averages per trial, tested over songs (or listeners).

    Skin conductance uses the run's epoch, baseline (t < 0) and summary
    windows; ``cardiac`` settings give heart rate's and RMSSD's. With
    ``chills`` (per-trial chill draws) the p is that of the chills' rank among
    their trial's control sets (:func:`frisson.chills_events.chill_rank_score`,
    :func:`~frisson.chills_events.chill_rank_p`): one or two chill epochs per
    trial make the mean difference skewed, and sign flips over a few songs of
    skewed means reject too often; effect, CI and curves stay the mean difference.
    """
    from frisson.chills_events import chill_rank_p, chill_rank_score
    from frisson.events import locked_averages, song_level_test

    window, baseline, summary = config.epoch_window_s, (None, 0.0), config.summary_window_s
    if cardiac is not None:
        window = cardiac.cardiac_epoch_window_s
        baseline = cardiac.cardiac_baseline_s
        summary = cardiac.cardiac_summary_window_s
    events, control, songs, listeners, per_trial, scores = [], [], [], [], {}, []
    low, high = summary
    for participant, stimulus, series, draw in items:
        try:
            averages = locked_averages(
                series,
                draw,
                window_s=window,
                baseline_s=baseline,
                position_degree=config.control_position_degree,
            )
        except DataError as error:
            logger.info("beyond: %s %s left out: %s", participant, stimulus, error)
            continue
        if averages.n_events == 0 or not np.isfinite(averages.control).all():
            continue
        if chills:
            scores.append(
                chill_rank_score(
                    series,
                    draw,
                    window_s=window,
                    baseline_s=baseline,
                    summary_window_s=summary,
                    position_degree=config.control_position_degree,
                )
            )
        events.append(averages.events)
        control.append(averages.control)
        songs.append(stimulus)
        listeners.append(participant)
        inside = (averages.times_s >= low - 1e-9) & (averages.times_s <= high + 1e-9)
        per_trial[(participant, stimulus)] = float(
            (averages.events - averages.control)[inside].mean()
        )
    labels = songs if unit == "song" else listeners
    if len(set(labels)) < 3:
        return None, per_trial
    result = song_level_test(
        np.array(events),
        np.array(control),
        averages.times_s,
        songs=labels,
        participants=listeners,
        summary_window_s=summary,
        n_permutations=config.n_permutations,
        seed=config.seed,
    )
    if chills:
        p = chill_rank_p(scores, labels, n_permutations=config.n_permutations, seed=config.seed)
        text = result.method.replace(
            f"p = {result.p:.4g} (the",
            f"p = {p:.4g} from each trial's rank of its chills among its control sets "
            "(the share of control sets below minus above), averaged per song (the",
        )
        result = dataclasses.replace(result, p=p, method=text)
    if unit != "song":
        text = result.method.replace("Songs as the unit", "Listeners as the unit")
        text = text.replace("per song, the mean over its listeners", "per listener, the mean")
        result = dataclasses.replace(result, method=text)
    return result, per_trial


def _chill_draws(config, listening: list[_Listening]) -> dict:
    """Per trial with chills, its chills and control sets drawn like them."""
    from frisson.chills_events import chill_pseudo_events
    from frisson.events import admissible_span, relative_positions

    spans, pool = {}, []
    for t in listening:
        try:
            spans[t.participant, t.stimulus] = span = admissible_span(
                t.duration_s,
                span_s=(0.0, t.duration_s),
                window_s=config.epoch_window_s,
                onset_exclude_s=config.onset_exclude_s,
            )
        except DataError:
            continue
        pool.append(relative_positions(t.chills_s, span))
    pool = np.concatenate(pool or [np.array([])])
    position_pool = pool if pool.size >= 5 and config.control_positions != "uniform" else None
    draws = {}
    for index, t in enumerate(listening):
        if t.chills_s.size == 0 or (t.participant, t.stimulus) not in spans:
            continue
        draws[t.participant, t.stimulus] = chill_pseudo_events(
            t.chills_s,
            duration_s=t.duration_s,
            window_s=config.epoch_window_s,
            onset_exclude_s=config.onset_exclude_s,
            n_sets=config.n_control_sets,
            position_pool=position_pool,
            seed=config.seed + 10_000 + index,
        )
    return draws


def _hits(config, settings: BeyondSettings, listening, draws, notes: list[str]):
    """Chill hit rates after transitions vs pseudo-transitions per song; the test over songs."""
    from frisson.chills_events import chill_hit_rates, chill_hit_test

    if not any(t.chills_s.size for t in listening):
        notes.append("chill hit rate: no chill reported in the study")
        return None
    rates, listeners, transitions = {}, {}, {}
    for name, draw in draws.items():
        chills = [t.chills_s for t in listening if t.stimulus == name]
        if not chills or draw.events_s.size == 0:
            continue
        try:
            rates[name] = chill_hit_rates(
                chills,
                draw,
                hit_window_s=settings.hit_window_s,
                position_degree=config.control_position_degree,
            )
        except DataError as error:
            logger.info("beyond: chill hits of %s left out: %s", name, error)
            continue
        listeners[name], transitions[name] = len(chills), int(draw.events_s.size)
    if len(rates) < 3:
        notes.append(f"chill hit rate: {len(rates)} song(s) with transitions; a test needs 3")
        return None
    return chill_hit_test(
        rates,
        n_listeners=listeners,
        n_transitions=transitions,
        hit_window_s=settings.hit_window_s,
        n_permutations=config.n_permutations,
        seed=config.seed,
    )


def _per_listener(per_trial: dict) -> dict[str, float]:
    """Mean over a listener's trials of a per-trial effect."""
    grouped: dict[str, list[float]] = {}
    for (participant, _), value in per_trial.items():
        grouped.setdefault(participant, []).append(value)
    return {p: float(np.mean(v)) for p, v in grouped.items()}


def _chill_rates(listening: list[_Listening]) -> dict[str, float]:
    """Chills per minute of music, per listener."""
    counts: dict[str, list[float]] = {}
    for t in listening:
        entry = counts.setdefault(t.participant, [0.0, 0.0])
        entry[0] += t.chills_s.size
        entry[1] += t.duration_s / 60.0
    return {p: n / minutes for p, (n, minutes) in counts.items() if minutes > 0}


def _effects_frame(effects: dict[str, dict[str, float]]):
    import pandas as pd

    people = sorted(set().union(*(set(v) for v in effects.values())))
    columns = {"participant": people}
    for name in sorted(effects):
        columns[name] = [effects[name].get(p, np.nan) for p in people]
    return pd.DataFrame(columns)


def _individual(study, effects, settings: BeyondSettings, seed: int, notes: list[str], ratings):
    """Numeric ``participants.tsv`` columns and listeners' mean ratings vs the listener effects."""
    import pandas as pd

    from frisson.chills_events import listener_associations

    table = study.participants
    scores = {}
    if ratings is not None:
        means = ratings.drop(columns="stimulus").groupby("participant").mean()
        for column in means.columns:
            values = means[column].dropna()
            if values.size >= 4 and values.nunique() > 1:
                scores[f"{column} (listener mean)"] = values.to_dict()
    for column in table.columns:
        if column in ("participant_id", "participant"):
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().sum() >= 4 and values.nunique() > 1:
            scores[column] = dict(zip(table["participant"].astype(str), values, strict=True))
    usable = {k: v for k, v in effects.items() if sum(np.isfinite(list(v.values()))) >= 4}
    if not scores or not usable:
        notes.append(
            "individual: no numeric participants.tsv column with 4 or more listeners"
            if not scores
            else "individual: no listener effect with 4 or more listeners"
        )
        return None, None
    result = listener_associations(
        scores, usable, n_permutations=settings.n_association_permutations, seed=seed
    )
    return result, _effects_frame(scores)


def _song_ratings(study, notes: list[str]):
    """The study's post-listening ratings per song (None, with a note, when it has none)."""
    try:
        ratings = study.song_ratings()
    except DataError as error:
        notes.append(f"individual: post-listening ratings not read: {error}")
        return None
    columns = [c for c in ratings.columns if c not in ("participant", "stimulus")]
    if ratings.empty or not columns:
        notes.append(
            "individual: no post-listening ratings per song (a *_beh.tsv with stim_file and "
            "rating columns) in the study"
        )
        return None
    return ratings


def _song_scores(ratings, per_trial: dict, settings: BeyondSettings, seed: int, notes: list[str]):
    """Ratings per song vs per-trial effects, within listeners and songs."""
    from frisson.chills_events import trial_associations

    if ratings is None:
        return None
    scores = {}
    for column in ratings.columns:
        if column in ("participant", "stimulus"):
            continue
        values = dict(
            zip(
                zip(ratings["participant"].astype(str), ratings["stimulus"], strict=True),
                ratings[column].astype(float),
                strict=True,
            )
        )
        if sum(np.isfinite(list(values.values()))) >= 4:
            scores[column] = values
    effects = {k: v for k, v in per_trial.items() if v}
    result = (
        trial_associations(
            scores, effects, n_permutations=settings.n_association_permutations, seed=seed
        )
        if scores and effects
        else None
    )
    if result is None or not result.rows:
        notes.append("individual: too few rated trials with effects for the per-song test")
        return None
    return result


def _held_out_r(predictions: dict, detrend_order: int | None) -> dict[tuple[str, str], float]:
    """Per (test listener, song): Pearson r of the held-out prediction with the listener's target.

    The target is read at the prediction's times (linear interpolation);
    both are detrended by a polynomial of ``detrend_order`` over the shared
    span, as the ``cnn`` analysis scores songs.
    """
    out = {}
    for key, (predicted, truth) in predictions.items():
        times = predicted.times_s
        target = np.interp(
            times, truth.times_s, truth.values[:, 0].astype(float), left=np.nan, right=np.nan
        )
        x = predicted.values[:, 0].astype(float)
        keep = np.isfinite(x) & np.isfinite(target)
        if keep.sum() < 20:
            continue
        x, y, t = x[keep], target[keep], times[keep]
        if detrend_order is not None:
            u = (t - t.mean()) / max(np.ptp(t), 1e-9)
            design = np.vander(u, detrend_order + 1)
            x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
            y = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        if x.std() > 0 and y.std() > 0:
            out[key] = float(np.corrcoef(x, y)[0, 1])
    return out


def _fisher_mean(per_trial: dict) -> dict[str, float]:
    """Per listener, the Fisher-z mean of their per-song r."""
    grouped: dict[str, list[float]] = {}
    for (participant, _), value in per_trial.items():
        grouped.setdefault(participant, []).append(value)
    return {
        p: float(np.tanh(np.mean(np.arctanh(np.clip(v, -0.999999, 0.999999)))))
        for p, v in grouped.items()
    }


def _trial_frame(per_trial: dict):
    import pandas as pd

    keys = sorted(set().union(*(set(v) for v in per_trial.values())))
    columns = {"participant": [k[0] for k in keys], "stimulus": [k[1] for k in keys]}
    for name in sorted(per_trial):
        columns[name] = [per_trial[name].get(k, np.nan) for k in keys]
    return pd.DataFrame(columns)


# ------------------------------------------------------------------------- reading
def _listening(config, study, settings: BeyondSettings, heart: bool, cache, show: bool):
    """Every trial's chills and (``heart``) heart rate and RMSSD, cached per study content."""
    from frisson.pipelines._cache import file_key

    def compute():
        return _read_listening(config, study, settings, heart, show)

    if cache is None:
        return compute()
    files = [file_key(p) for run in study.runs for p in [*run.physio, run.events] if p]
    key = cache.key(
        "beyond_listening",
        files,
        dataclasses.asdict(settings),
        heart,
        config.response_rate_hz,
    )
    return cache.get("beyond_listening", key, compute)


def _read_listening(config, study, settings: BeyondSettings, heart: bool, show: bool):
    from tqdm.auto import tqdm

    out = []
    for trial in tqdm(study.trials(on_error="skip"), desc="chills/heart", disable=not show):
        chills = trial.event_times_s("chill")
        chills = np.sort(chills[(chills >= 0) & (chills <= trial.duration_s)])
        hr = rmssd = None
        problem = ""
        if heart:
            try:
                hr, rmssd = _cardiac(trial, config.response_rate_hz, settings)
            except FrissonError as error:
                problem = str(error)
                logger.info("%s %s: no heart rate: %s", trial.participant, trial.stimulus, error)
        out.append(
            _Listening(
                trial.participant, trial.stimulus, trial.duration_s, chills, hr, rmssd, problem
            )
        )
    return out


def _cardiac(trial, rate_hz: float, settings: BeyondSettings):
    """Heart rate and RMSSD on song time; NaN wherever a window touches lost signal."""
    from frisson.physio.cardiac import find_beats, heart_rate, hrv

    kind = next((k for k in ("ppg", "ecg") if k in trial.responses), None)
    if kind is None:
        return None, None
    signal = trial.responses[kind]
    lost = signal.times_s[~np.isfinite(signal.values[:, 0])]
    beats = find_beats(signal.interpolate_nan(), kind=kind)
    hr = heart_rate(
        beats,
        rate_hz=rate_hz,
        window_s=settings.hr_window_s,
        max_ibi_s=settings.max_ibi_s,
        start_s=0.0,
        end_s=trial.duration_s,
    )
    rmssd = hrv(
        beats,
        window_s=settings.rmssd_window_s,
        hop_s=settings.rmssd_hop_s,
        min_beats=settings.rmssd_min_beats,
        max_ibi_s=settings.max_ibi_s,
    ).select(["rmssd_ms"])
    return (
        _blank_near(hr, lost, settings.hr_window_s / 2),
        _blank_near(rmssd, lost, settings.rmssd_window_s / 2),
    )


def _blank_near(series: TimeSeries, lost_s: np.ndarray, half_width_s: float) -> TimeSeries:
    """NaN at every sample within ``half_width_s`` of a lost-signal time."""
    if lost_s.size == 0:
        return series
    times = series.times_s
    index = np.clip(np.searchsorted(lost_s, times), 1, lost_s.size - 1) if lost_s.size > 1 else 0
    nearest = np.minimum(
        np.abs(times - lost_s[np.maximum(index - 1, 0)]), np.abs(times - lost_s[index])
    )
    values = series.values.copy()
    values[nearest <= half_width_s, :] = np.nan
    return series.replace(values=values)
