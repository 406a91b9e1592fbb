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
  autocorrelation-preserving p-values, median over songs, Fisher's combined
  p, and the mismatched-song control, in one :class:`Evaluation` table;
  predictions for held-out songs (cross-fitting over song folds).
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

>>> from frisson.models import (ChillsCNN, DelayedRidge, build_pairs, evaluate_models,
...                             planted_study, predict_songs, split_participants)
>>> study = planted_study(n_participants=8, n_songs=3, duration_s=60.0, rate_hz=10.0)
>>> inputs, targets = study.inputs, study.targets
>>> split = split_participants(study.participants, n_test=3, n_validation=1, seed=0)
>>> train = build_pairs(inputs, targets, split.train)
>>> valid = build_pairs(inputs, targets, split.validation)
>>> cnn = ChillsCNN(n_filters=4, epochs=20, seed=0, progress_bar=False).fit(train, valid)
>>> ridge = DelayedRidge().fit(train, valid)
>>> truths = {song: [targets[p, song] for p in split.test] for song in inputs}
>>> result = evaluate_models(
...     {"cnn": predict_songs(cnn, inputs), "ridge": predict_songs(ridge, inputs)}, truths
... )
>>> result.models
('cnn', 'ridge', 'cnn | mismatched songs')
>>> table = result.to_frame()  # one row per model x song: r, p, r_participants, ...
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
    Evaluation,
    SongScore,
    evaluate_models,
    mismatched_song_control,
    predict_held_out_songs,
    predict_songs,
    score_predictions,
)
from frisson.models.split import (
    ParticipantSplit,
    SongFold,
    build_pairs,
    participant_folds,
    song_folds,
    split_participants,
)
from frisson.models.synthetic import PlantedStudy, planted_study, response_kernel

__all__ = [
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
    "evaluate_models",
    "fit_layer_profiles",
    "layer_design",
    "mismatched_song_control",
    "noise_ceiling",
    "participant_folds",
    "planted_study",
    "predict_held_out_songs",
    "predict_songs",
    "response_kernel",
    "score_predictions",
    "song_folds",
    "split_participants",
    "stitch_windows",
    "variance_partition",
    "window_layout",
]
