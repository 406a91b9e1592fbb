"""Models from music to responses, and their honest evaluation.

- :class:`ChillsCNN` (``cnn``): the chills study's 2-layer 1-D CNN from an
  embedding series to filtered, normalised phasic skin conductance, on
  windows of 12.8 s observed / 3.2 s predicted every 4 s, stitched back into
  one series per song.
- :class:`DelayedRidge` (``baselines``): ridge regression on time-delayed
  inputs (an FIR model), the linear baseline on the same inputs.
- ``split``: participant splits (train / validation / test, or folds), song
  folds and training pairs.
- ``evaluate``: per-song Pearson r against held-out participants with
  one-sided autocorrelation-preserving p-values (r > 0), median over songs,
  Fisher's combined p, and the mismatched-song control, in one
  :class:`Evaluation` table whose rows say their scope: the headline holds
  out participants *and* songs (cross-fitting over song folds,
  :func:`evaluate_chills_models`); held-out participants on seen songs is
  a memorisation ceiling.
- ``synthetic``: planted data with a known answer.
- ``encoding``: layer-wise encoding models (the emotion-encoding study):
  :func:`fit_layer_profiles` (delays per run, PCA per layer, nested
  leave-one-run-out ridge, phase-randomised null, FDR) into
  :class:`LayerProfiles`; :func:`noise_ceiling`; :func:`variance_partition`
  (banded ridge).

Models take :class:`~frisson.timeseries.TimeSeries` (values with their time
base), never file paths. torch is imported only when a network is built.

Typical use, with ``inputs = {song: embedding}`` (e.g. a smoothed encoder layer
on stimulus time) and ``targets = {(participant, song): phasic target}``; here
a small planted study stands in for both:

>>> from frisson.models import (ChillsCNN, DelayedRidge, evaluate_chills_models,
...                             planted_study, song_folds, split_participants)
>>> study = planted_study(n_participants=8, n_songs=3, duration_s=60.0, rate_hz=10.0)
>>> inputs, targets = study.inputs, study.targets
>>> split = split_participants(study.participants, n_test=3, n_validation=1, seed=0)
>>> folds = song_folds(study.songs)  # each song predicted by a model that never heard it
>>> result = evaluate_chills_models(
...     {"cnn": (ChillsCNN(n_filters=4, epochs=20, seed=0, progress_bar=False), inputs),
...      "ridge": (DelayedRidge(), inputs)},
...     targets, split, folds, n_surrogates=99)
>>> result.models
('cnn', 'ridge', 'cnn | mismatched songs')
>>> result.scopes()
('held-out participants and songs', 'held-out participants, seen songs')
>>> table = result.summary()  # per model and scope: median r, p over songs, Fisher p
>>> frame = result.to_frame()  # one row per model x scope x song: r, p, r_participants, ...
"""

from frisson.models.baselines import DelayedRidge
from frisson.models.cnn import ChillsCNN, WindowLayout, stitch_windows, window_layout
from frisson.models.encoding import (
    LayerProfiles,
    delay_features,
    fit_layer_profiles,
    layer_design,
    noise_ceiling,
    variance_partition,
)
from frisson.models.evaluate import (
    HELD_OUT_SONGS,
    SCOPES,
    SEEN_SONGS,
    Evaluation,
    SongScore,
    evaluate_chills_models,
    evaluate_models,
    evaluate_scopes,
    mismatched_song_control,
    predict_held_out_songs,
    predict_scopes,
    predict_songs,
    score_predictions,
)
from frisson.models.split import (
    ParticipantSplit,
    SongFold,
    build_pairs,
    held_out_truths,
    participant_folds,
    song_folds,
    split_participants,
)
from frisson.models.synthetic import PlantedStudy, planted_study, response_kernel

__all__ = [
    "HELD_OUT_SONGS",
    "SCOPES",
    "SEEN_SONGS",
    "ChillsCNN",
    "DelayedRidge",
    "Evaluation",
    "LayerProfiles",
    "ParticipantSplit",
    "PlantedStudy",
    "SongFold",
    "SongScore",
    "WindowLayout",
    "build_pairs",
    "delay_features",
    "evaluate_chills_models",
    "evaluate_models",
    "evaluate_scopes",
    "fit_layer_profiles",
    "held_out_truths",
    "layer_design",
    "mismatched_song_control",
    "noise_ceiling",
    "participant_folds",
    "planted_study",
    "predict_held_out_songs",
    "predict_scopes",
    "predict_songs",
    "response_kernel",
    "score_predictions",
    "song_folds",
    "split_participants",
    "stitch_windows",
    "variance_partition",
    "window_layout",
]
