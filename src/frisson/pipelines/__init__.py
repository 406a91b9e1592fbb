"""Pipelines: whole analyses from a configuration to typed results (they write no report).

- :mod:`~frisson.pipelines.song`: one song's latent trajectory (``frisson analyze``);
- :mod:`~frisson.pipelines.chills`: the chills study (``frisson run``);
- :mod:`~frisson.pipelines.encoding`: the layer-wise encoding study (``frisson encode``),
  with its modes ``glm`` (:func:`run_emotion_glm`, the brain-emotion model) and ``isc``
  (:func:`run_study_isc`, inter-subject correlation of BOLD, ratings or physiology).

They share one configuration reader (:mod:`~frisson.pipelines._config`), one step
cache in a format that cannot run code (:mod:`~frisson.pipelines._cache`) and the
one embedding store (:class:`frisson.store.EmbeddingStore`). The report layer
(:mod:`frisson.report`) sits above them: ``write_study_report(run_study(config))``.
"""

from frisson.pipelines._emotion_glm import EmotionGLMResults, run_emotion_glm
from frisson.pipelines._study_isc import StudyISCResults, run_study_isc
from frisson.pipelines.chills import RunConfig, StudyResults, run_study
from frisson.pipelines.encoding import EncodeConfig, EncodingResults, run_encoding
from frisson.pipelines.song import SongAnalysis, analyze_song, read_boundaries

__all__ = [
    "EmotionGLMResults",
    "EncodeConfig",
    "EncodingResults",
    "RunConfig",
    "SongAnalysis",
    "StudyISCResults",
    "StudyResults",
    "analyze_song",
    "read_boundaries",
    "run_emotion_glm",
    "run_encoding",
    "run_study",
    "run_study_isc",
]
