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

Models take :class:`~frisson.timeseries.TimeSeries` (values with their time
base), never file paths. torch is imported only when a network is built.
"""

from frisson.models.baselines import DelayedRidge
from frisson.models.cnn import ChillsCNN, WindowLayout, stitch_windows, window_layout
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
    "ParticipantSplit",
    "PlantedStudy",
    "SongFold",
    "SongScore",
    "WindowLayout",
    "build_pairs",
    "evaluate_models",
    "mismatched_song_control",
    "participant_folds",
    "planted_study",
    "predict_held_out_songs",
    "predict_songs",
    "response_kernel",
    "score_predictions",
    "song_folds",
    "split_participants",
    "stitch_windows",
    "window_layout",
]
