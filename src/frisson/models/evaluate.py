"""Per-song evaluation of predicted response series against held-out participants.

Definitions
-----------
For one model and one song ``s`` with prediction ``f_s(t)`` (one series per
song: the models see only the music) and held-out participants ``i = 1..m``
with true series ``y_is(t)``:

- every ``y_is`` is put on the prediction's grid (copied when the grids
  coincide, else :meth:`TimeSeries.align_to`: area average when the truth is
  faster, linear interpolation when slower)
  and the span kept is where the prediction is defined and at least one
  participant has a sample; NaN gaps inside it (all participants missing)
  are linearly interpolated;
- **r** = Pearson r between ``f_s`` and the participant mean
  ``ybar_s(t) = mean_i y_is(t)`` (the mean over the finite values at each
  frame) -- how well the model predicts the response the song evokes;
- **p** = one-sided p-value of r (alternative: r > 0, the prediction follows
  the response) against ``n_surrogates`` surrogates of ``f_s`` that keep its
  autocorrelation (phase randomisation by default, or circular shifts by at
  least a tenth of the series): ``(1 + #(r_null >= r)) / (1 + n_surrogates)``
  with ``r_null`` the signed Pearson r of each surrogate with ``ybar_s``. A
  prediction that runs against the response (r < 0) gets p near 1, never a
  small p. The textbook Pearson p-value would assume independent samples,
  which smooth series are not;
- **r_participants** = per participant, Pearson r between ``f_s`` and
  ``y_is`` over their common finite frames, averaged over participants
  through Fisher's z (``tanh(mean(arctanh(r_i)))``);
- **z** = r standardised by its surrogates, ``(r - mean(r_null)) / sd(r_null)``;
- per model and scope: **median r** over songs; the **song-level p**
  (:meth:`Evaluation.song_level_p`, the primary test and the ``p`` column
  of :meth:`Evaluation.summary`): songs are the random factor, each song's
  ``z`` one replicate, and the one-sample t of the ``z`` is referred to
  sign flips of whole songs (exact: every pattern up to 13 songs); and
  **Fisher's combined p** of the one-sided per-song p
  (``scipy.stats.combine_pvalues(p, method="fisher")``), a fixed-songs
  test of "at least one of these songs". Combining two-sided p would reward
  a model whose predictions are anti-correlated with the responses (negated
  predictions with median r -0.46 gave Fisher p 3e-5).

Why the song-level test is the primary one: Fisher's method needs the songs'
p-values to be independent and calibrated far into the tail. On null studies
whose songs evoke responses shared by their listeners (``shared_scrs``) the
per-song p fell below .05 for 6.1 % of 700 songs, but Fisher's p for 12 % of
100 studies: a null that is slightly too narrow for every song of a study
adds up over the songs (shuffling the p-values between studies gave 6.7 %).
The sign-flip test needs only that each song's ``z`` is symmetric about 0 and
independent of the other songs' under the null; a study-wide error of scale
leaves it exact. ``benchmarks/null_studies.py`` reports both.

A constant prediction scores r = 0 and p = 1.

Why phase randomisation by default
----------------------------------
Fisher's method sums ``-2 ln p``, so it needs p-values that are calibrated in
the far tail, not just at 0.05. On independent AR(1) pairs (400 samples, phi
0.9, 199 surrogates) the one-sided p from phase randomisation fell below 0.05
for 5.0 % and below 0.01 for 1.0 % of 600 pairs (uniform by KS); circular
shifts gave 8.6 % and 4.3 % over 210 pairs (two-sided, earlier: 6.7 % and
2.9 % over 1400, and Fisher's p over 7 songs below 0.05 in 8-10 % of null
sets): the null distribution of shifts of one realisation is too narrow when
the series spans few autocorrelation times. With circular shifts the number
of surrogates is also capped by the admissible shifts (0.8 n), which limits
the smallest p. ``benchmarks/heldout_nulls.py`` measures these rates and
Fisher's p on null studies in both scopes.

The **mismatched-song control** scores the prediction for song ``A`` against
the true responses to another song ``B``: with songs in order, song ``k``'s
prediction against song ``(k + shift) mod n``'s participants, cropped to the
times both cover (stimulus time, t = 0 at each song's onset). A model that
predicts responses to the music must score far better on the real pairing.

Scopes: held out on every axis, and the memorisation ceiling
------------------------------------------------------------
Every row of an :class:`Evaluation` says its **scope**:

- ``"held-out participants and songs"`` (:data:`HELD_OUT_SONGS`, the
  headline): each song is predicted by a model fitted without it
  (cross-fitting over :func:`~frisson.models.song_folds`: train on training
  participants x training songs, predict the fold's songs) and scored against
  participants who were not in training either;
- ``"held-out participants, seen songs"`` (:data:`SEEN_SONGS`): one model
  fitted on the training participants' trials of every song, scored on the
  test participants' trials of the same songs (the chills study's design). It
  is a **memorisation ceiling**, not evidence that the music predicts the
  response: a model can reach a high r by memorising each song's mean
  response from *any* input that tells the moments of a song apart. On null
  studies (input independent of the response, response shared across
  listeners) ridge scored median r .42 here and was "significant" in 96-97 %
  of studies, the CNN .54 in 20 of 20; on planted data where only input
  dimension 0 drives the response, the CNN fitted on dimensions 1-7 alone
  scored median r 0.58-0.82 (``tests/test_models_evaluate.py``).

:func:`evaluate_chills_models` fits and scores every model in both scopes
(plus the mismatched-song control of the main model);
:meth:`Evaluation.summary` flags the main model's held-out row as the
``headline``. A function that scores predictions it did not fit
(:func:`score_predictions`, :func:`evaluate_models`) labels them
``"held-out participants, seen songs"`` unless told ``scope=HELD_OUT_SONGS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from frisson._check import check_int, check_option
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.latent import NullMethod, make_surrogates
from frisson.models._pairs import on_grid
from frisson.models.split import ParticipantSplit, SongFold, build_pairs, held_out_truths
from frisson.timeseries import TimeSeries

__all__ = [
    "HELD_OUT_SONGS",
    "SCOPES",
    "SEEN_SONGS",
    "Evaluation",
    "SongScore",
    "evaluate_chills_models",
    "evaluate_models",
    "evaluate_scopes",
    "mismatched_song_control",
    "predict_held_out_songs",
    "predict_scopes",
    "predict_songs",
    "score_predictions",
]

#: Suffix of the mismatched-song control's model label.
MISMATCHED = "mismatched songs"
#: Scope of predictions for songs the model never saw, scored on participants it never saw.
HELD_OUT_SONGS = "held-out participants and songs"
#: Scope of predictions for training songs scored on other participants (memorisation ceiling).
SEEN_SONGS = "held-out participants, seen songs"
#: Both scopes, the headline first.
SCOPES = (HELD_OUT_SONGS, SEEN_SONGS)
_MIN_SAMPLES = 10

Truths = Mapping[str, Sequence[TimeSeries] | Mapping[str, TimeSeries]]
#: ``{model label: {scope: {song: prediction}}}``.
ScopedPredictions = Mapping[str, Mapping[str, Mapping[str, TimeSeries]]]


class _Predictor(Protocol):
    def predict(self, inputs: TimeSeries) -> TimeSeries: ...


class _Estimator(_Predictor, Protocol):
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def fit(self, train_pairs: Any, validation_pairs: Any = None) -> Any: ...


@dataclass(frozen=True)
class SongScore:
    """How well one model's prediction for one song matches held-out participants.

    Attributes
    ----------
    model : str
        Model label (``"cnn"``, ``"ridge"``, ``"cnn | mismatched songs"``...).
    scope : str
        What the model had not seen: :data:`HELD_OUT_SONGS` (neither these
        participants nor this song) or :data:`SEEN_SONGS` (not these
        participants, but this song: a memorisation ceiling).
    song : str
        The song whose input made the prediction.
    truth_song : str
        The song whose responses it was scored against (``song`` except in the
        mismatched-song control).
    r : float
        Pearson r between the prediction and the participants' mean series.
    p : float
        One-sided surrogate p-value of ``r`` (alternative r > 0; see the module notes).
    z : float
        ``r`` standardised by its surrogate null: ``(r - mean(r_null)) / sd(r_null)``
        (0 when the null has no spread). The unit of the test over songs.
    r_participants : float
        Fisher-z mean of the per-participant Pearson r (NaN if none computable).
    n_participants : int
        Participants scored.
    n_times : int
        Frames in the scored span.
    duration_s : float
        Length of the scored span in seconds.

    """

    model: str
    scope: str
    song: str
    truth_song: str
    r: float
    p: float
    z: float
    r_participants: float
    n_participants: int
    n_times: int
    duration_s: float


_COLUMNS = [
    "model",
    "scope",
    "song",
    "truth_song",
    "r",
    "p",
    "z",
    "r_participants",
    "n_participants",
    "n_times",
    "duration_s",
]


@dataclass(frozen=True)
class Evaluation:
    """Per-song scores of one or more models (and controls) in one or two scopes, in one table.

    Attributes
    ----------
    scores : tuple of SongScore
        One per model x scope x song.
    params : dict
        Null method, number of surrogates, seed, mismatch shift, the p-value's
        alternative (``"greater"``).
    main_model : str or None
        The model whose :data:`HELD_OUT_SONGS` row is the headline of
        :meth:`summary` (None: no headline).

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=3, n_songs=3, duration_s=60.0, rate_hz=10.0)
    >>> truths = study.truths(study.participants)
    >>> result = evaluate_models({"truth": study.responses}, truths, n_surrogates=99,
    ...                          scope=HELD_OUT_SONGS)
    >>> result.summary()[["model", "headline", "n_songs"]].to_dict("list")
    {'model': ['truth', 'truth | mismatched songs'], 'headline': [True, False], 'n_songs': [3, 3]}
    >>> result.median_r("truth") > 0.8 > abs(result.median_r("truth | mismatched songs"))
    True

    """

    scores: tuple[SongScore, ...]
    params: dict[str, Any] = field(default_factory=dict)
    main_model: str | None = None

    @property
    def models(self) -> tuple[str, ...]:
        """Model labels in order of first appearance."""
        return tuple(dict.fromkeys(s.model for s in self.scores))

    def scopes(self, model: str | None = None) -> tuple[str, ...]:
        """Scopes in order of first appearance (of one model, or of all)."""
        return tuple(
            dict.fromkeys(s.scope for s in self.scores if model is None or s.model == model)
        )

    def for_model(self, model: str, scope: str | None = None) -> tuple[SongScore, ...]:
        """The scores of one model in one scope, in song order.

        ``scope=None`` takes the model's only scope, or :data:`HELD_OUT_SONGS`
        when it was scored in both (the honest one).
        """
        scopes = self.scopes(model)
        if not scopes:
            raise ParameterError(
                f"No scores for model {model!r}; models: {', '.join(self.models)}."
            )
        if scope is None:
            if len(scopes) == 1:
                scope = scopes[0]
            elif HELD_OUT_SONGS in scopes:
                scope = HELD_OUT_SONGS
            else:
                raise ParameterError(
                    f"Model {model!r} is scored in scopes {list(scopes)}; pass scope=."
                )
        found = tuple(s for s in self.scores if s.model == model and s.scope == scope)
        if not found:
            raise ParameterError(
                f"No scores for model {model!r} in scope {scope!r}; its scopes: {list(scopes)}."
            )
        return found

    def median_r(self, model: str, scope: str | None = None) -> float:
        """Median over songs of ``r`` (``scope`` as in :meth:`for_model`)."""
        return float(np.median([s.r for s in self.for_model(model, scope)]))

    def fisher_p(self, model: str, scope: str | None = None) -> float:
        """Fisher's combined p of the songs' one-sided p (``scipy.stats.combine_pvalues``).

        Small only when the songs' r are positive: negated predictions give a
        combined p near 1.
        """
        from scipy.stats import combine_pvalues

        p = [s.p for s in self.for_model(model, scope)]
        return float(combine_pvalues(p, method="fisher")[1])

    def song_level_p(self, model: str, scope: str | None = None) -> float:
        """Songs as the random factor: sign-flip p of the mean standardised score.

        One-sided (mean ``z`` > 0) p of the one-sample t of the songs' ``z``
        over sign flips of whole songs (every pattern up to 13 songs). It asks
        whether the model predicts the responses to songs *like these*: each
        song is one replicate, and miscalibration shared by a study's songs
        (a null that is too narrow for all of them) does not accumulate as it
        does in Fisher's sum of ``-2 ln p``. NaN with fewer than 2 songs; with
        ``n`` songs the smallest p is ``2**-n``.
        """
        from frisson._signflip import signflip_p

        return signflip_p(np.array([s.z for s in self.for_model(model, scope)]))

    def to_frame(self):
        """One row per model x scope x song: the fields of :class:`SongScore`."""
        import pandas as pd

        return pd.DataFrame([s.__dict__ for s in self.scores], columns=_COLUMNS)

    def summary(self):
        """One row per model and scope: median r over songs, the tests over songs.

        Columns ``model``, ``scope``, ``headline`` (True exactly on the
        :data:`HELD_OUT_SONGS` row of ``main_model``), ``n_songs``,
        ``median_r``, ``median_r_participants``, ``p`` (:meth:`song_level_p`:
        songs as the random factor, the primary test), ``fisher_p`` (of the
        one-sided song p: "at least one of these songs", songs fixed) and
        ``n_significant`` (songs with p < 0.05).
        """
        import pandas as pd

        rows = []
        keys = dict.fromkeys((s.model, s.scope) for s in self.scores)
        for model, scope in keys:
            scores = self.for_model(model, scope)
            rows.append(
                {
                    "model": model,
                    "scope": scope,
                    "headline": model == self.main_model and scope == HELD_OUT_SONGS,
                    "n_songs": len(scores),
                    "median_r": self.median_r(model, scope),
                    "median_r_participants": float(np.median([s.r_participants for s in scores])),
                    "p": self.song_level_p(model, scope),
                    "fisher_p": self.fisher_p(model, scope),
                    "n_significant": sum(s.p < 0.05 for s in scores),
                }
            )
        return pd.DataFrame(rows)

    def __add__(self, other: Evaluation) -> Evaluation:
        if not isinstance(other, Evaluation):
            return NotImplemented
        ours = {(s.model, s.scope) for s in self.scores}
        clash = ours & {(s.model, s.scope) for s in other.scores}
        if clash:
            raise ParameterError(
                f"Both evaluations score (model, scope) {sorted(clash)}; give them distinct labels."
            )
        main = self.main_model if self.main_model is not None else other.main_model
        return Evaluation(self.scores + other.scores, {**self.params, **other.params}, main)


# --------------------------------------------------------------------------- scoring
def predict_songs(model: _Predictor, inputs: Mapping[str, TimeSeries]) -> dict[str, TimeSeries]:
    """``{song: model.predict(inputs[song])}`` for a fitted model and per-song inputs.

    Examples
    --------
    >>> class Echo:
    ...     def predict(self, inputs):
    ...         return inputs
    >>> predict_songs(Echo(), {"a": TimeSeries([1.0, 2.0], 1.0)})["a"].n_times
    2

    """
    return {song: model.predict(series) for song, series in inputs.items()}


def predict_held_out_songs(
    model: _Estimator,
    inputs: Mapping[str, TimeSeries],
    targets: Mapping[tuple[str, str], TimeSeries],
    split: ParticipantSplit,
    folds: Sequence[SongFold],
) -> dict[str, TimeSeries]:
    """Predict every song with a model fitted without it (cross-fitting over song folds).

    For each fold, a fresh copy of ``model`` (same parameters, unfitted) is
    fitted on ``split.train`` x ``fold.train`` (stopping early on
    ``split.validation`` x ``fold.train``) and predicts the songs of
    ``fold.test``. Score the result against ``split.test`` participants with
    ``scope=HELD_OUT_SONGS`` (:func:`score_predictions`,
    :func:`evaluate_models`), or let :func:`evaluate_chills_models` do it all:
    neither the songs nor the participants scored were seen in training.

    Parameters
    ----------
    model : ChillsCNN or DelayedRidge
        Any estimator with ``get_params``, ``fit(train_pairs, validation_pairs)``
        and ``predict``; it is not modified.
    inputs : mapping of str to TimeSeries
        Per song, the input series.
    targets : mapping of (str, str) to TimeSeries
        Per ``(participant, song)``, the target series.
    split : ParticipantSplit
        Whose trials train and stop early (``test`` is not used here).
    folds : sequence of SongFold
        Song folds; every song of ``inputs`` must be in exactly one ``fold.test``
        and in no ``fold.train`` of the same fold.

    Returns
    -------
    dict of str to TimeSeries
        Per song, the prediction of the fold that held it out.

    Examples
    --------
    >>> from frisson.models import DelayedRidge, planted_study, song_folds, split_participants
    >>> study = planted_study(n_participants=5, n_songs=3, duration_s=40.0, rate_hz=10.0)
    >>> split = split_participants(study.participants, n_test=2, n_validation=1)
    >>> held_out = predict_held_out_songs(DelayedRidge(n_components=4), study.inputs,
    ...                                   study.targets, split, song_folds(study.songs))
    >>> sorted(held_out)
    ['song-1', 'song-2', 'song-3']

    """
    _check_folds(inputs, folds)
    predictions: dict[str, TimeSeries] = {}
    for k, fold in enumerate(folds):
        fresh = type(model)(**model.get_params())
        train = build_pairs(inputs, targets, split.train, songs=fold.train)
        valid = (
            build_pairs(inputs, targets, split.validation, songs=fold.train)
            if split.validation
            else None
        )
        fresh.fit(train, valid)
        logger.info("song fold %d/%d: predicting %s", k + 1, len(folds), ", ".join(fold.test))
        predictions.update({song: fresh.predict(inputs[song]) for song in fold.test})
    return {song: predictions[song] for song in inputs}


def _check_folds(inputs: Mapping[str, TimeSeries], folds: Sequence[SongFold]) -> None:
    tested = [song for fold in folds for song in fold.test]
    missing = sorted(set(inputs) - set(tested))
    if missing or len(tested) != len(set(tested)):
        raise DataError(
            f"folds must hold out every song exactly once; not held out: {missing}, "
            f"held out: {tested}. Use song_folds(inputs)."
        )
    for k, fold in enumerate(folds):
        leaked = sorted(set(fold.train) & set(fold.test))
        if leaked:
            raise DataError(
                f"song fold {k} trains on the songs it predicts: {leaked}. Use song_folds(inputs)."
            )


def predict_scopes(
    models: Mapping[str, tuple[_Estimator, Mapping[str, TimeSeries]]],
    targets: Mapping[tuple[str, str], TimeSeries],
    split: ParticipantSplit,
    folds: Sequence[SongFold],
) -> dict[str, dict[str, dict[str, TimeSeries]]]:
    """Every model's predictions in both scopes: songs held out, and songs seen.

    For each ``label: (model, inputs)``: :data:`HELD_OUT_SONGS` = the
    cross-fitted predictions of :func:`predict_held_out_songs`;
    :data:`SEEN_SONGS` = one fresh copy fitted on ``split.train`` x every
    song (early stopping on ``split.validation``) predicting every song (the
    memorisation ceiling). The templates are not modified.

    Parameters
    ----------
    models : mapping of str to (estimator, mapping of str to TimeSeries)
        ``{label: (unfitted model, {song: input series})}``, e.g.
        ``{"cnn": (ChillsCNN(), embeddings), "ridge (same embedding)":
        (DelayedRidge(), embeddings), "cnn (acoustic features)": (ChillsCNN(),
        features)}``.
    targets, split, folds
        As in :func:`predict_held_out_songs`.

    Returns
    -------
    dict
        ``{label: {HELD_OUT_SONGS: {song: prediction}, SEEN_SONGS: {...}}}``,
        the form :func:`evaluate_scopes` takes.

    """
    if not models:
        raise DataError("models is empty; pass {label: (model, {song: inputs})}.")
    out: dict[str, dict[str, dict[str, TimeSeries]]] = {}
    for label, entry in models.items():
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise ParameterError(
                f"models[{label!r}] must be a pair (model, {{song: inputs}}), got "
                f"{type(entry).__name__}."
            )
        model, inputs = entry
        _check_folds(inputs, folds)
        logger.info("%s: fitting over %d song folds (%s)", label, len(folds), HELD_OUT_SONGS)
        held_out = predict_held_out_songs(model, inputs, targets, split, folds)
        logger.info("%s: fitting on every song (%s)", label, SEEN_SONGS)
        seen = type(model)(**model.get_params())
        seen.fit(
            build_pairs(inputs, targets, split.train),
            build_pairs(inputs, targets, split.validation) if split.validation else None,
        )
        out[label] = {HELD_OUT_SONGS: held_out, SEEN_SONGS: predict_songs(seen, inputs)}
    return out


def score_predictions(
    predictions: Mapping[str, TimeSeries],
    truths: Truths,
    *,
    model: str = "cnn",
    scope: str = SEEN_SONGS,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    detrend_order: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score one model's per-song predictions against held-out participants' responses.

    Parameters
    ----------
    predictions : mapping of str to TimeSeries
        Per song, the model's prediction (one channel, on stimulus time).
    truths : mapping of str to (sequence or mapping of TimeSeries)
        Per song, the held-out participants' true target series (one channel
        each, any rate, on stimulus time). Every predicted song needs truths.
    model : str
        Label of the model in the table.
    scope : {'held-out participants, seen songs', 'held-out participants and songs'}
        What the model had not seen (:data:`SEEN_SONGS` by default: say
        :data:`HELD_OUT_SONGS` only for predictions of songs the model was
        not fitted on, e.g. from :func:`predict_held_out_songs`).
    null : {'phase', 'circular'}
        Surrogates of the prediction for the p-values (default phase
        randomisation; see the module notes).
    n_surrogates : int
        Surrogates per song (default 1000; the smallest possible p is
        ``1 / (1 + n_surrogates)``).
    detrend_order : int, optional
        Before scoring, remove a polynomial of this order (over the scored
        span) from the prediction and from the participants' mean. Slow trends
        that every song shares (habituation of the response, the model learning
        where in a song it is) make both series non-stationary, and the
        phase-randomised null assumes stationarity: on null studies with tonic
        habituation the held-out-song score rejected 35-44 % without it. None
        (default here) scores the series as they are; the chills pipeline uses 3
        (a quadratic left 28 % rejections of a strong decay, a cubic 2.5 %).
    seed : int
        Seed; song ``k`` (in order) uses ``seed + k``.

    Returns
    -------
    Evaluation
        ``p`` one-sided: ``(1 + #(r_null >= r)) / (1 + n_surrogates)``.

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=4, n_songs=2, duration_s=60.0, rate_hz=10.0)
    >>> result = score_predictions(study.responses, study.truths(study.participants),
    ...                            model="truth", n_surrogates=99)
    >>> [round(s.r, 2) for s in result.scores], [s.p for s in result.scores]
    ([0.74, 0.82], [0.01, 0.01])
    >>> negated = {song: s.replace(-s.values) for song, s in study.responses.items()}
    >>> [s.p for s in score_predictions(negated, study.truths(study.participants),
    ...                                 n_surrogates=99).scores]
    [1.0, 1.0]

    """
    songs = _check_songs(predictions, truths)
    pairs = [(s, s) for s in songs]
    return _score_pairs(
        predictions, truths, pairs, model, scope, null, n_surrogates, seed, detrend_order
    )


def mismatched_song_control(
    predictions: Mapping[str, TimeSeries],
    truths: Truths,
    *,
    model: str = "cnn",
    scope: str = SEEN_SONGS,
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    detrend_order: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score each song's prediction against the responses to another song.

    With the predicted songs in order ``s_0 .. s_{n-1}``, the prediction for
    ``s_k`` is scored against the participants' responses to
    ``s_{(k + shift) mod n}``, over the times both cover. Labelled
    ``"<model> | mismatched songs"``, in the scope of the predictions.

    Parameters
    ----------
    predictions, truths, scope, null, n_surrogates, detrend_order, seed
        As in :func:`score_predictions`.
    model : str
        Label of the model whose predictions these are.
    shift : int
        Which other song (1 .. n_songs - 1; default the next one).

    Returns
    -------
    Evaluation

    Raises
    ------
    DataError
        With fewer than two songs.

    """
    songs = _check_songs(predictions, truths)
    if len(songs) < 2:
        raise DataError("The mismatched-song control needs at least 2 songs with predictions.")
    shift = check_int("shift", shift, minimum=1)
    if shift >= len(songs):
        raise ParameterError(f"shift={shift} must be between 1 and n_songs - 1 = {len(songs) - 1}.")
    pairs = [(song, songs[(k + shift) % len(songs)]) for k, song in enumerate(songs)]
    label = f"{model} | {MISMATCHED}"
    result = _score_pairs(
        predictions, truths, pairs, label, scope, null, n_surrogates, seed, detrend_order
    )
    return Evaluation(result.scores, {**result.params, "shift": shift})


def evaluate_models(
    predictions: Mapping[str, Mapping[str, TimeSeries]],
    truths: Truths,
    *,
    scope: str = SEEN_SONGS,
    control: str | None = None,
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Score several models of one scope and the mismatched-song control in one table.

    Parameters
    ----------
    predictions : mapping of str to mapping of str to TimeSeries
        ``{model label: {song: prediction}}``, e.g. ``{"cnn": ..., "ridge": ...,
        "cnn (acoustic features)": ...}``.
    truths : mapping
        Per song, the held-out participants' series (as in :func:`score_predictions`).
    scope : str
        The scope of every prediction (as in :func:`score_predictions`; default
        :data:`SEEN_SONGS`). For both scopes use :func:`evaluate_scopes`.
    control : str, optional
        Model whose predictions the mismatched-song control uses, and the
        table's ``main_model`` (default: the first model); the control is
        skipped with fewer than two songs.
    shift, null, n_surrogates, seed
        As in :func:`mismatched_song_control` and :func:`score_predictions`;
        every model uses the same surrogate seeds.

    Returns
    -------
    Evaluation
        Rows of every model, then the control.

    """
    if not predictions:
        raise DataError("predictions is empty; pass {model label: {song: prediction}}.")
    control = next(iter(predictions)) if control is None else control
    check_option("control", control, list(predictions))
    return evaluate_scopes(
        {label: {scope: per_song} for label, per_song in predictions.items()},
        truths,
        main=control,
        shift=shift,
        null=null,
        n_surrogates=n_surrogates,
        seed=seed,
    )


def evaluate_scopes(
    predictions: ScopedPredictions,
    truths: Truths,
    *,
    main: str | None = None,
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    detrend_order: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score every model in every scope it was predicted in, plus the main model's control.

    Parameters
    ----------
    predictions : mapping
        ``{label: {scope: {song: prediction}}}`` with scopes from
        :data:`SCOPES` (what :func:`predict_scopes` returns).
    truths : mapping
        Per song, the held-out participants' series (as in :func:`score_predictions`).
    main : str, optional
        The main model (default: the first): its :data:`HELD_OUT_SONGS` row is
        the summary's headline, and the mismatched-song control uses its
        predictions, in each of its scopes (skipped with fewer than two songs).
    shift, null, n_surrogates, detrend_order, seed
        As in :func:`mismatched_song_control` and :func:`score_predictions`;
        every model and scope uses the same surrogate seeds.

    Returns
    -------
    Evaluation
        Per model, its rows in each scope; then the control's.

    """
    if not predictions:
        raise DataError("predictions is empty; pass {model label: {scope: {song: prediction}}}.")
    main = next(iter(predictions)) if main is None else main
    check_option("main", main, list(predictions))
    options = {
        "null": null,
        "n_surrogates": n_surrogates,
        "seed": seed,
        "detrend_order": detrend_order,
    }
    result = Evaluation((), {}, main)
    for label, by_scope in predictions.items():
        if not by_scope:
            raise DataError(f"predictions[{label!r}] is empty; pass {{scope: {{song: series}}}}.")
        for scope, per_song in by_scope.items():
            result = result + score_predictions(
                per_song, truths, model=label, scope=scope, **options
            )
    for scope, per_song in predictions[main].items():
        if len(per_song) >= 2:
            result = result + mismatched_song_control(
                per_song, truths, model=main, scope=scope, shift=shift, **options
            )
        else:
            logger.warning("mismatched-song control skipped: fewer than 2 songs")
    for row in result.summary().itertuples():
        logger.info(
            "%s (%s): median r %.3f over %d songs, Fisher p %.3g",
            row.model,
            row.scope,
            row.median_r,
            row.n_songs,
            row.fisher_p,
        )
    return result


def evaluate_chills_models(
    models: Mapping[str, tuple[_Estimator, Mapping[str, TimeSeries]]],
    targets: Mapping[tuple[str, str], TimeSeries],
    split: ParticipantSplit,
    folds: Sequence[SongFold],
    *,
    main: str | None = None,
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Fit and score every model on held-out participants and songs, and on seen songs.

    :func:`predict_scopes` (cross-fitting over ``folds`` for
    :data:`HELD_OUT_SONGS`, one fit on every training song for
    :data:`SEEN_SONGS`), then :func:`evaluate_scopes` against the
    ``split.test`` participants' targets (:func:`~frisson.models.held_out_truths`).
    The headline is ``main``'s held-out row; the seen-songs rows are a
    memorisation ceiling.

    Parameters
    ----------
    models : mapping of str to (estimator, mapping of str to TimeSeries)
        ``{label: (unfitted model, {song: input series})}`` (see :func:`predict_scopes`).
    targets : mapping of (str, str) to TimeSeries
        Per ``(participant, song)``, the target series.
    split : ParticipantSplit
        Train, early-stopping and test participants.
    folds : sequence of SongFold
        Song folds (:func:`~frisson.models.song_folds`).
    main, shift, null, n_surrogates, seed
        As in :func:`evaluate_scopes`.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from frisson.models import (DelayedRidge, planted_study, song_folds,
    ...                             split_participants)
    >>> study = planted_study(n_participants=6, n_songs=4, duration_s=60.0, rate_hz=10.0,
    ...                       nonlinearity="linear")
    >>> split = split_participants(study.participants, n_test=2, n_validation=1)
    >>> result = evaluate_chills_models(
    ...     {"ridge": (DelayedRidge(), study.inputs)}, study.targets, split,
    ...     song_folds(study.songs), n_surrogates=99)
    >>> summary = result.summary()
    >>> summary.model.tolist()
    ['ridge', 'ridge', 'ridge | mismatched songs', 'ridge | mismatched songs']
    >>> summary.headline.tolist()
    [True, False, False, False]
    >>> summary.scope.tolist()[:2]
    ['held-out participants and songs', 'held-out participants, seen songs']
    >>> round(result.median_r("ridge"), 2)  # the held-out scope
    0.66

    """
    predictions = predict_scopes(models, targets, split, folds)
    songs = list(
        dict.fromkeys(s for by_scope in predictions.values() for s in by_scope[SEEN_SONGS])
    )
    truths = held_out_truths(targets, split.test, songs=songs)
    return evaluate_scopes(
        predictions,
        truths,
        main=main,
        shift=shift,
        null=null,
        n_surrogates=n_surrogates,
        seed=seed,
    )


def _check_songs(predictions: Mapping[str, TimeSeries], truths: Truths) -> list[str]:
    if not predictions:
        raise DataError("predictions is empty; pass {song: predicted TimeSeries}.")
    missing = [song for song in predictions if song not in truths]
    if missing:
        raise DataError(
            f"No held-out responses for predicted songs {missing}; truths has "
            f"{sorted(truths)}. Key both by the same song names."
        )
    return list(predictions)


def _score_pairs(
    predictions: Mapping[str, TimeSeries],
    truths: Truths,
    pairs: list[tuple[str, str]],
    model: str,
    scope: str,
    null: NullMethod,
    n_surrogates: int,
    seed: int,
    detrend_order: int | None = None,
) -> Evaluation:
    check_option("scope", scope, SCOPES)
    if detrend_order is not None:
        check_int("detrend_order", detrend_order, minimum=0)
    check_option("null", null, ["circular", "phase"])
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    check_int("seed", seed, minimum=0)
    scores = []
    for k, (song, truth_song) in enumerate(pairs):
        series = truths[truth_song]
        participants = list(series.values()) if isinstance(series, Mapping) else list(series)
        scores.append(
            _score_song(
                predictions[song],
                participants,
                model=model,
                scope=scope,
                song=song,
                truth_song=truth_song,
                null=null,
                n_surrogates=n_surrogates,
                seed=seed + k,
                detrend_order=detrend_order,
            )
        )
    params = {
        "null": null,
        "n_surrogates": n_surrogates,
        "seed": seed,
        "alternative": "greater",
        "detrend_order": detrend_order,
    }
    return Evaluation(tuple(scores), params)


def _pearson_rows(xs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every row of ``xs`` with ``y``; 0 where either is constant."""
    xs = xs - xs.mean(axis=1, keepdims=True)
    y = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xs @ y) / np.sqrt((xs**2).sum(axis=1) * (y**2).sum())
    return np.clip(np.nan_to_num(r), -1.0, 1.0)


def _one_sided_test(
    prediction: np.ndarray, truth: np.ndarray, *, null: NullMethod, n_surrogates: int, seed: int
) -> tuple[float, float, float]:
    """Pearson r, its one-sided surrogate p ``(1 + #(r_null >= r)) / (1 + n_null)``, and z.

    Surrogates of ``prediction`` (phase randomised, or circularly shifted by at
    least a tenth of the series); ties within 1e-12 count against the model.
    """
    n = prediction.size
    surrogates = make_surrogates(
        prediction, null=null, n_surrogates=n_surrogates, min_shift=max(1, n // 10), seed=seed
    )
    r_all = _pearson_rows(np.vstack([prediction[np.newaxis], surrogates]), truth)
    r, r_null = float(r_all[0]), r_all[1:]
    p = (1 + np.count_nonzero(r_null >= r - 1e-12)) / (1 + r_null.size)
    spread = float(r_null.std(ddof=1)) if r_null.size > 1 else 0.0
    z = (r - float(r_null.mean())) / spread if spread > 0 else 0.0
    return r, float(p), float(z)


def _detrended(values: np.ndarray, order: int) -> np.ndarray:
    """``values`` minus its least-squares polynomial of ``order`` over the frames."""
    t = np.linspace(-1.0, 1.0, values.size)
    return values - np.polynomial.polynomial.polyval(
        t, np.polynomial.polynomial.polyfit(t, values, order)
    )


def _score_song(
    prediction: TimeSeries,
    participants: list[TimeSeries],
    *,
    model: str,
    scope: str,
    song: str,
    truth_song: str,
    null: NullMethod,
    n_surrogates: int,
    seed: int,
    detrend_order: int | None = None,
) -> SongScore:
    where = f"{model}, song {song!r}"
    if not isinstance(prediction, TimeSeries) or prediction.n_channels != 1:
        raise DataError(f"{where}: the prediction must be a one-channel TimeSeries.")
    if not participants:
        raise DataError(f"{where}: no held-out participant series for song {truth_song!r}.")
    aligned = []
    for i, truth in enumerate(participants):
        if not isinstance(truth, TimeSeries) or truth.n_channels != 1:
            raise DataError(
                f"{where}: truth {i} of song {truth_song!r} must be a one-channel TimeSeries."
            )
        aligned.append(on_grid(truth, prediction))
    stack = np.stack(aligned)
    finite = np.isfinite(stack)
    count = finite.sum(axis=0)
    total = np.where(finite, stack, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.full(count.size, np.nan), where=count > 0)
    predicted = prediction.values[:, 0].astype(np.float64)
    valid = np.isfinite(predicted) & (count > 0)
    if valid.sum() < _MIN_SAMPLES:
        raise DataError(
            f"{where}: prediction ({prediction.start_s:.2f}-{prediction.end_s:.2f} s) and the "
            f"responses to {truth_song!r} share {int(valid.sum())} frames, fewer than "
            f"{_MIN_SAMPLES}; both must be on stimulus time and overlap."
        )
    idx = np.flatnonzero(valid)
    span = slice(idx[0], idx[-1] + 1)
    x, y, ok = predicted[span], mean[span], valid[span]
    if not ok.all():
        logger.warning(
            "%s: %d frames without a prediction or any response inside the scored span "
            "are interpolated",
            where,
            int((~ok).sum()),
        )
        positions = np.arange(ok.size)
        x = np.interp(positions, positions[ok], x[ok])
        y = np.interp(positions, positions[ok], y[ok])
    if detrend_order is not None:
        x, y = _detrended(x, detrend_order), _detrended(y, detrend_order)
    r, p, z = _one_sided_test(x, y, null=null, n_surrogates=n_surrogates, seed=seed)
    per_participant = []
    for row in stack[:, span]:
        both = np.isfinite(row) & np.isfinite(predicted[span])
        if both.sum() >= _MIN_SAMPLES and row[both].std() > 0 and predicted[span][both].std() > 0:
            per_participant.append(np.corrcoef(predicted[span][both], row[both])[0, 1])
    r_participants = (
        float(np.tanh(np.mean(np.arctanh(np.clip(per_participant, -0.999999, 0.999999)))))
        if per_participant
        else float("nan")
    )
    return SongScore(
        model=model,
        scope=scope,
        song=song,
        truth_song=truth_song,
        r=r,
        p=p,
        z=z,
        r_participants=r_participants,
        n_participants=len(participants),
        n_times=int(x.size),
        duration_s=float(x.size / prediction.rate_hz),
    )
