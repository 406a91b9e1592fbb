"""Synthetic material with known ground truth: music, listening studies and fMRI studies.

- :mod:`~frisson.simulate._music`: multi-section pieces with known boundaries
  (:func:`synth_piece`) and the demo stimuli (:func:`write_demo_stimuli`);
- :mod:`~frisson.simulate._chills`: chills listening studies whose physiology is
  planted at the stimuli's own section boundaries, with realistic confounds
  (:func:`simulate_study`, :class:`StudyParams`, :data:`NULL_FAMILIES`);
- :mod:`~frisson.simulate._fmri`: BOLD studies whose voxels follow known encoder
  layers (:func:`simulate_fmri_study`);
- :mod:`~frisson.simulate._synthetic_encoder`: a test encoder with known layer
  structure (:class:`SyntheticLayersEncoder`).

A simulator plants what it composed, never what an analysis detector finds.
"""

from frisson.simulate._chills import (
    NULL_FAMILIES,
    SCR_TAU_S,
    SimulatedStudy,
    StimulusTruth,
    StudyParams,
    null_params,
    simulate_study,
)
from frisson.simulate._fmri import (
    FmriParams,
    SimulatedFmri,
    simulate_fmri_study,
    stimulus_features_on_grid,
    voxel_name,
)
from frisson.simulate._music import (
    Section,
    SynthPiece,
    boundaries_path,
    read_stimulus_boundaries,
    synth_piece,
    write_demo_stimuli,
)
from frisson.simulate._synthetic_encoder import SyntheticLayersEncoder

__all__ = [
    "NULL_FAMILIES",
    "SCR_TAU_S",
    "FmriParams",
    "Section",
    "SimulatedFmri",
    "SimulatedStudy",
    "StimulusTruth",
    "StudyParams",
    "SynthPiece",
    "SyntheticLayersEncoder",
    "boundaries_path",
    "null_params",
    "read_stimulus_boundaries",
    "simulate_fmri_study",
    "simulate_study",
    "stimulus_features_on_grid",
    "synth_piece",
    "voxel_name",
    "write_demo_stimuli",
]
