"""Listening studies kept as BIDS folders: read, validate, iterate trials, import and write.

Layout (what :mod:`frisson.simulate` and :func:`import_study` write and
:func:`read_study` reads; docs/study-layout.md has the full description)::

    study/
      dataset_description.json, README.md
      participants.tsv (+ .json)       participant_id + questionnaire columns
      task-<t>_events.json             sidecars every run of the task inherits
      stimuli/<name>.wav               the music (any format frisson.audio reads)
      sub-<id>/[ses-<id>/]<beh|func>/
        sub-<id>_task-<t>[_run-<n>]_events.tsv        onset, duration, trial_type, stim_file
        sub-<id>_task-<t>[_run-<n>]_recording-<r>_physio.tsv.gz   + .json (SamplingFrequency,
                                                        StartTime, Columns); one per rate
        sub-<id>_task-<t>[_run-<n>]_beh.tsv           ratings as a table with onset or time_s
        sub-<id>_task-<t>[_run-<n>]_bold.nii.gz       BOLD (:func:`load_bold`)

``stim_file`` is relative to ``stimuli/`` (BIDS). In ``*_events.tsv``, rows
with a ``stim_file`` are stimulus presentations (trials); other rows (e.g.
``trial_type == "chill"``) are events that fall into the trial whose time span
contains them. Times are seconds from the run's start, the time zero of
``StartTime`` in the physiology sidecars. Sidecars follow BIDS inheritance
(:mod:`frisson._bids`); ``RepetitionTime`` from them wins over the NIfTI
header. A BOLD run without events is a run whose task is one piece
(``read_study(task_stimuli=...)``, the OpenNeuro ds003085 layout).

:meth:`Study.trials` yields each presentation with its responses cropped and
re-timed so that ``t = 0`` is stimulus onset. :meth:`Study.validate` lists
every problem it finds without stopping at the first.

Modules: ``_read`` (:func:`read_study`, :class:`Study`, :class:`Trial`),
``_files`` (runs, problems, BIDS entities, events and ratings tables),
``_validate`` (:meth:`Study.validate`), ``_bold`` (:func:`load_bold`),
``_derivatives`` (fMRIPrep: :func:`find_preprocessed` with an explicit space,
:func:`read_confounds`, :func:`clean_bold`; XCP-D: :func:`read_parcellated`),
``_write`` (:func:`write_events`, :func:`write_physio`, :func:`write_dataset_files`),
``_import`` (:func:`init_study`, :func:`import_study`, :func:`import_recording`,
:func:`write_recordings`: raw lab recordings in, one physio file per rate).
"""

from frisson.study._bold import load_bold, voxel_ijk
from frisson.study._derivatives import (
    Preprocessed,
    clean_bold,
    find_parcellated,
    find_preprocessed,
    read_confounds,
    read_parcellated,
)
from frisson.study._files import EVENT_COLUMNS, Problem, Run, stimulus_stem
from frisson.study._import import (
    import_recording,
    import_study,
    init_study,
    read_manifest,
    write_recordings,
)
from frisson.study._read import Study, Trial, read_study
from frisson.study._write import write_dataset_files, write_events, write_physio

__all__ = [
    "EVENT_COLUMNS",
    "Preprocessed",
    "Problem",
    "Run",
    "Study",
    "Trial",
    "clean_bold",
    "find_parcellated",
    "find_preprocessed",
    "import_recording",
    "import_study",
    "init_study",
    "load_bold",
    "read_confounds",
    "read_manifest",
    "read_parcellated",
    "read_study",
    "stimulus_stem",
    "voxel_ijk",
    "write_dataset_files",
    "write_events",
    "write_physio",
    "write_recordings",
]
