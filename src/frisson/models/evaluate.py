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
- **p** = two-sided p-value of r against ``n_surrogates`` surrogates of
  ``f_s`` that keep its autocorrelation (phase randomisation by default, or
  circular shifts by at least a tenth of the series), via
  :func:`frisson.latent.lagged_correlation` at lag 0:
  ``(1 + #(|r_null| >= |r|)) / (1 + n_surrogates)``. The textbook Pearson
  p-value would assume independent samples, which smooth series are not;
- **r_participants** = per participant, Pearson r between ``f_s`` and
  ``y_is`` over their common finite frames, averaged over participants
  through Fisher's z (``tanh(mean(arctanh(r_i)))``);
- per model: **median r** over songs and **Fisher's combined p**
  (``scipy.stats.combine_pvalues(p, method="fisher")``; it assumes the songs'
  p-values are independent, which holds for distinct songs with separate
  surrogates).

Why phase randomisation by default
----------------------------------
Fisher's method sums ``-2 ln p``, so it needs p-values that are calibrated in
the far tail, not just at 0.05. On independent AR(1) pairs (1400 pairs each,
199 surrogates) circular shifts rejected 6.7 % at 0.05 and 2.9 % at 0.01 (400
samples, phi 0.9; 6.4 % and 2.6 % with 1500 samples, phi 0.97), and Fisher's
p over 7 such songs fell below 0.05 in 8-10 % of null sets; the null
distribution of shifts of one realisation is too narrow when the series
spans few autocorrelation times. Phase randomisation rejected 4.2-4.6 % at
0.05 and 0.4-0.5 % at 0.01, and Fisher over 7 songs 3.5-4 %. With circular
shifts the number of surrogates is also capped by the admissible shifts (0.8
n), which limits the smallest p.

The **mismatched-song control** scores the prediction for song ``A`` against
the true responses to another song ``B``: with songs in order, song ``k``'s
prediction against song ``(k + shift) mod n``'s participants, cropped to the
times both cover (stimulus time, t = 0 at each song's onset). A model that
predicts responses to the music must score far better on the real pairing.

Held-out participants or held-out songs
---------------------------------------
When the test participants heard the training songs (the chills study's
design: split by participant), a model can reach a high r by memorising each
song's mean response from *any* input that tells the moments of a song apart:
on planted data where only input dimension 0 drives the response, the CNN
fitted on dimensions 1-7 alone scored median r 0.58-0.82 on held-out
participants (``tests/test_models_evaluate.py``). The mismatched-song control
shows a prediction is song-specific, not that it comes from the music. For
that, predict every song with a model that never heard it
(:func:`predict_held_out_songs` over :func:`~frisson.models.song_folds`) and
score those predictions the same way: there the features-only CNN drops to
about 0 while the real relation survives. Report both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from frisson._check import check_int, check_option
from frisson._logging import logger
from frisson.errors import DataError, ParameterError
from frisson.latent import NullMethod, lagged_correlation
from frisson.models._pairs import on_grid
from frisson.models.split import ParticipantSplit, SongFold, build_pairs
from frisson.timeseries import TimeSeries

__all__ = [
    "Evaluation",
    "SongScore",
    "evaluate_models",
    "mismatched_song_control",
    "predict_held_out_songs",
    "predict_songs",
    "score_predictions",
]

#: Suffix of the mismatched-song control's model label.
MISMATCHED = "mismatched songs"
_MIN_SAMPLES = 10

Truths = Mapping[str, Sequence[TimeSeries] | Mapping[str, TimeSeries]]


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
    song : str
        The song whose input made the prediction.
    truth_song : str
        The song whose responses it was scored against (``song`` except in the
        mismatched-song control).
    r : float
        Pearson r between the prediction and the participants' mean series.
    p : float
        Surrogate p-value of ``r`` (see the module notes).
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
    song: str
    truth_song: str
    r: float
    p: float
    r_participants: float
    n_participants: int
    n_times: int
    duration_s: float


_COLUMNS = [
    "model",
    "song",
    "truth_song",
    "r",
    "p",
    "r_participants",
    "n_participants",
    "n_times",
    "duration_s",
]


@dataclass(frozen=True)
class Evaluation:
    """Per-song scores of one or more models (and controls), in one table.

    Attributes
    ----------
    scores : tuple of SongScore
        One per model x song.
    params : dict
        Null method, number of surrogates, seed, mismatch shift.

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=3, n_songs=3, duration_s=60.0, rate_hz=10.0)
    >>> truths = study.truths(study.participants)
    >>> result = evaluate_models({"truth": study.responses}, truths, n_surrogates=99)
    >>> result.summary()[["model", "n_songs"]].to_dict("list")
    {'model': ['truth', 'truth | mismatched songs'], 'n_songs': [3, 3]}
    >>> result.median_r("truth") > 0.8 > abs(result.median_r("truth | mismatched songs"))
    True

    """

    scores: tuple[SongScore, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> tuple[str, ...]:
        """Model labels in order of first appearance."""
        return tuple(dict.fromkeys(s.model for s in self.scores))

    def for_model(self, model: str) -> tuple[SongScore, ...]:
        """The scores of one model, in song order."""
        found = tuple(s for s in self.scores if s.model == model)
        if not found:
            raise ParameterError(
                f"No scores for model {model!r}; models: {', '.join(self.models)}."
            )
        return found

    def median_r(self, model: str) -> float:
        """Median over songs of ``r``."""
        return float(np.median([s.r for s in self.for_model(model)]))

    def fisher_p(self, model: str) -> float:
        """Fisher's combined p over songs (``scipy.stats.combine_pvalues``)."""
        from scipy.stats import combine_pvalues

        return float(combine_pvalues([s.p for s in self.for_model(model)], method="fisher")[1])

    def to_frame(self):
        """One row per model x song: the fields of :class:`SongScore`."""
        import pandas as pd

        return pd.DataFrame([s.__dict__ for s in self.scores], columns=_COLUMNS)

    def summary(self):
        """One row per model: its songs' median r, Fisher's p and significant count.

        Columns ``model``, ``n_songs``, ``median_r``, ``median_r_participants``,
        ``fisher_p``, ``n_significant`` (songs with p < 0.05).
        """
        import pandas as pd

        rows = []
        for model in self.models:
            scores = self.for_model(model)
            rows.append(
                {
                    "model": model,
                    "n_songs": len(scores),
                    "median_r": self.median_r(model),
                    "median_r_participants": float(np.median([s.r_participants for s in scores])),
                    "fisher_p": self.fisher_p(model),
                    "n_significant": sum(s.p < 0.05 for s in scores),
                }
            )
        return pd.DataFrame(rows)

    def __add__(self, other: Evaluation) -> Evaluation:
        if not isinstance(other, Evaluation):
            return NotImplemented
        clash = set(self.models) & set(other.models)
        if clash:
            raise ParameterError(
                f"Both evaluations score models {sorted(clash)}; give them distinct labels."
            )
        return Evaluation(self.scores + other.scores, {**self.params, **other.params})


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
    :func:`score_predictions` or :func:`evaluate_models`: neither the songs nor
    the participants scored were seen in training.

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
        Song folds; every song of ``inputs`` must be in some ``fold.test``.

    Returns
    -------
    dict of str to TimeSeries
        Per song, the prediction of the fold that held it out.

    """
    tested = [song for fold in folds for song in fold.test]
    missing = sorted(set(inputs) - set(tested))
    if missing or len(tested) != len(set(tested)):
        raise DataError(
            f"folds must hold out every song exactly once; not held out: {missing}, "
            f"held out: {tested}. Use song_folds(inputs)."
        )
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


def score_predictions(
    predictions: Mapping[str, TimeSeries],
    truths: Truths,
    *,
    model: str = "cnn",
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
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
    null : {'phase', 'circular'}
        Surrogates of the prediction for the p-values (default phase
        randomisation; see the module notes).
    n_surrogates : int
        Surrogates per song (default 1000; the smallest possible p is
        ``1 / (1 + n_surrogates)``).
    seed : int
        Seed; song ``k`` (in order) uses ``seed + k``.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=4, n_songs=2, duration_s=60.0, rate_hz=10.0)
    >>> result = score_predictions(study.responses, study.truths(study.participants),
    ...                            model="truth", n_surrogates=99)
    >>> [round(s.r, 2) for s in result.scores], [s.p for s in result.scores]
    ([0.74, 0.82], [0.01, 0.01])

    """
    songs = _check_songs(predictions, truths)
    return _score_pairs(
        predictions, truths, [(s, s) for s in songs], model, null, n_surrogates, seed
    )


def mismatched_song_control(
    predictions: Mapping[str, TimeSeries],
    truths: Truths,
    *,
    model: str = "cnn",
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Score each song's prediction against the responses to another song.

    With the predicted songs in order ``s_0 .. s_{n-1}``, the prediction for
    ``s_k`` is scored against the participants' responses to
    ``s_{(k + shift) mod n}``, over the times both cover. Labelled
    ``"<model> | mismatched songs"``.

    Parameters
    ----------
    predictions, truths, null, n_surrogates, seed
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
    result = _score_pairs(
        predictions, truths, pairs, f"{model} | {MISMATCHED}", null, n_surrogates, seed
    )
    return Evaluation(result.scores, {**result.params, "shift": shift})


def evaluate_models(
    predictions: Mapping[str, Mapping[str, TimeSeries]],
    truths: Truths,
    *,
    control: str | None = None,
    shift: int = 1,
    null: NullMethod = "phase",
    n_surrogates: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Score several models and the mismatched-song control in one table.

    Parameters
    ----------
    predictions : mapping of str to mapping of str to TimeSeries
        ``{model label: {song: prediction}}``, e.g. ``{"cnn": ..., "ridge": ...,
        "cnn (acoustic features)": ...}``.
    truths : mapping
        Per song, the held-out participants' series (as in :func:`score_predictions`).
    control : str, optional
        Model whose predictions the mismatched-song control uses (default: the
        first model); the control is skipped with fewer than two songs.
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
    result = None
    for label, per_song in predictions.items():
        scored = score_predictions(
            per_song, truths, model=label, null=null, n_surrogates=n_surrogates, seed=seed
        )
        result = scored if result is None else result + scored
    if len(predictions[control]) >= 2:
        result = result + mismatched_song_control(
            predictions[control],
            truths,
            model=control,
            shift=shift,
            null=null,
            n_surrogates=n_surrogates,
            seed=seed,
        )
    else:
        logger.warning("mismatched-song control skipped: fewer than 2 songs")
    for row in result.summary().itertuples():
        logger.info(
            "%s: median r %.3f over %d songs, Fisher p %.3g",
            row.model,
            row.median_r,
            row.n_songs,
            row.fisher_p,
        )
    return result


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
    null: NullMethod,
    n_surrogates: int,
    seed: int,
) -> Evaluation:
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
                song=song,
                truth_song=truth_song,
                null=null,
                n_surrogates=n_surrogates,
                seed=seed + k,
            )
        )
    params = {"null": null, "n_surrogates": n_surrogates, "seed": seed}
    return Evaluation(tuple(scores), params)


def _score_song(
    prediction: TimeSeries,
    participants: list[TimeSeries],
    *,
    model: str,
    song: str,
    truth_song: str,
    null: NullMethod,
    n_surrogates: int,
    seed: int,
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
    test = lagged_correlation(
        y, x, rate_hz=prediction.rate_hz, null=null, n_surrogates=n_surrogates, seed=seed
    )
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
        song=song,
        truth_song=truth_song,
        r=float(test.r),
        p=float(test.p),
        r_participants=r_participants,
        n_participants=len(participants),
        n_times=int(x.size),
        duration_s=float(x.size / prediction.rate_hz),
    )
