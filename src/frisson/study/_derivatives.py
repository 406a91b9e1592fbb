"""Preprocessed fMRI: fMRIPrep outputs (space, mask, confounds), cleaning, parcellated TSVs.

fMRIPrep writes, per run, one preprocessed BOLD per output space
(``sub-01_task-happy_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz``),
its brain mask (``..._desc-brain_mask.nii.gz``) and one confounds table
(``sub-01_task-happy_desc-confounds_timeseries.tsv``). XCP-D and similar
tools write parcellated time series (``..._seg-<atlas>_stat-mean_timeseries.tsv``,
one column per parcel, one row per volume). :func:`find_preprocessed` picks the
files of a run, never guessing a space: with several spaces and none chosen it
stops and lists them. :func:`clean_bold` removes confounds, polynomial trends and
slow drifts (a DCT high-pass, as SPM does) in one projection, with
:func:`nilearn.signal.clean`: the cleaning of nilearn's ``NiftiMasker``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frisson._bids import entities, inherited_metadata
from frisson._check import check_positive
from frisson._logging import logger
from frisson._optional import import_optional
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries


@dataclass(frozen=True)
class Preprocessed:
    """The preprocessed files of one run.

    Attributes
    ----------
    bold : Path
        The ``desc-<desc>_bold.nii[.gz]`` in the chosen space.
    space : str
        The chosen space, as ``<space>`` or ``<space>:res-<res>``.
    mask : Path or None
        The ``desc-brain_mask`` in the same space and resolution.
    confounds : Path or None
        The run's ``desc-confounds_timeseries.tsv``.

    """

    bold: Path
    space: str
    mask: Path | None
    confounds: Path | None


def _space_of(name: str) -> str:
    found = entities(name)
    space = found.get("space", "native")
    return f"{space}:res-{found['res']}" if "res" in found else space


def _matches(name: str, run: Mapping[str, str]) -> bool:
    found = entities(name)
    return all(found.get(k) == v for k, v in run.items())


def find_preprocessed(
    derivatives: str | os.PathLike,
    run: Mapping[str, str],
    *,
    space: str | None = None,
    desc: str = "preproc",
) -> Preprocessed:
    """The preprocessed BOLD, brain mask and confounds of one run in an fMRIPrep folder.

    Parameters
    ----------
    derivatives : path
        The fMRIPrep output folder (e.g. ``derivatives/fmriprep``).
    run : mapping of str to str
        The run's entities, e.g. ``{"sub": "01", "task": "happy"}`` (a
        :class:`~frisson.study.Run`'s ``entities`` plus ``sub``).
    space : str, optional
        ``"MNI152NLin2009cAsym"``, ``"MNI152NLin2009cAsym:res-2"`` or
        ``"T1w"``; required when the run has more than one.
    desc : str
        The BOLD's ``desc-`` label (fMRIPrep: ``preproc``).

    Returns
    -------
    Preprocessed

    Raises
    ------
    DataError
        No preprocessed BOLD for the run, or several spaces and none chosen
        (the message lists them), or the chosen space is not there.

    """
    derivatives = Path(derivatives)
    if not derivatives.is_dir():
        raise DataError(f"{derivatives}: no such derivatives folder.")
    pattern = f"sub-{run['sub']}/**/func/*_desc-{desc}_bold.nii*"
    candidates = sorted(p for p in derivatives.glob(pattern) if _matches(p.name, run))
    if not candidates:
        raise DataError(
            f"{derivatives}: no *_desc-{desc}_bold.nii[.gz] for {dict(run)}; is this the "
            "fMRIPrep output folder, and did fMRIPrep finish for this run?"
        )
    spaces = {_space_of(p.name): p for p in candidates}
    if space is None:
        if len(spaces) > 1:
            raise DataError(
                f"{derivatives}: run {dict(run)} has {len(spaces)} spaces: "
                f"{', '.join(sorted(spaces))}; choose one with space= ([encode] space = ...)."
            )
        space = next(iter(spaces))
    chosen = spaces.get(space)
    if chosen is None:
        bare = [s for s in spaces if s.split(":")[0] == space]
        if len(bare) == 1:
            chosen, space = spaces[bare[0]], bare[0]
        else:
            raise DataError(
                f"{derivatives}: space {space!r} not found for run {dict(run)}; available: "
                f"{', '.join(sorted(spaces))}."
            )
    stem = chosen.name.split(".", 1)[0].removesuffix(f"_desc-{desc}_bold")
    masks = sorted(chosen.parent.glob(f"{stem}_desc-brain_mask.nii*"))
    run_stem = "_".join(
        f"{k}-{v}" for k, v in entities(chosen.name).items() if k not in ("space", "res", "desc")
    )
    confounds = chosen.parent / f"{run_stem}_desc-confounds_timeseries.tsv"
    logger.info("%s: space %s, %s", chosen.name, space, "mask" if masks else "no mask")
    return Preprocessed(
        chosen, space, masks[0] if masks else None, confounds if confounds.is_file() else None
    )


def read_confounds(path: str | os.PathLike, columns: Sequence[str]) -> tuple[np.ndarray, list]:
    """Columns of an fMRIPrep confounds table (``fnmatch`` patterns such as ``"trans_*"``).

    Missing values (the first row of derivative columns) become the column mean.

    Returns
    -------
    values : ndarray, shape (n_volumes, n_columns)
    names : list of str

    Raises
    ------
    DataError
        A pattern that matches no column (the message lists some available).

    """
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: cannot be read as a confounds table ({error}).") from None
    names: list[str] = []
    for pattern in columns:
        found = [c for c in table.columns if fnmatch.fnmatchcase(c, pattern)]
        if not found:
            raise DataError(
                f"{path}: no confound column matches {pattern!r}; some available: "
                f"{', '.join(list(table.columns)[:12])}..."
            )
        names += [c for c in found if c not in names]
    values = table[names].to_numpy(dtype=np.float64)
    means = np.nanmean(values, axis=0)
    return np.where(np.isnan(values), means, values), names


def clean_bold(
    bold: TimeSeries,
    *,
    confounds: np.ndarray | None = None,
    detrend_order: int | None = 1,
    high_pass_hz: float | None = None,
    standardize: bool = False,
) -> TimeSeries:
    """Regress confounds, polynomial trends and slow cosine drifts out of every unit.

    The cleaning of nilearn's maskers (:func:`nilearn.signal.clean`: linear
    detrending, a cosine high-pass and confound regression in one projection,
    so no step reintroduces what another removed). Legendre polynomials of
    order 2 to ``detrend_order`` join the confounds; the mean is added back
    unless ``standardize``.

    Parameters
    ----------
    bold : TimeSeries
        ``(n_volumes, n_units)``, e.g. from :func:`load_bold`.
    confounds : ndarray, shape (n_volumes, n_confounds), optional
        E.g. from :func:`read_confounds`.
    detrend_order : int or None
        Highest polynomial order removed (1: linear; None or 0: none).
    high_pass_hz : float, optional
        Cut-off of the cosine (DCT) high-pass (e.g. 1/128 Hz as in SPM).
    standardize : bool
        Z-score every unit after cleaning.

    Returns
    -------
    TimeSeries

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.timeseries import TimeSeries
    >>> t = np.arange(100.0)
    >>> bold = TimeSeries(np.column_stack([100 + 0.5 * t + np.sin(t)]), 1.0)
    >>> cleaned = clean_bold(bold, detrend_order=1)
    >>> bool(np.corrcoef(cleaned.values[:, 0], np.sin(t))[0, 1] > 0.99)
    True

    """
    signal = import_optional("nilearn.signal")
    n = bold.n_times
    columns = []
    if detrend_order and detrend_order > 1:
        x = np.linspace(-1, 1, n)
        columns += [
            np.polynomial.legendre.Legendre.basis(k)(x) for k in range(2, detrend_order + 1)
        ]
    if high_pass_hz is not None:
        check_positive("high_pass_hz", high_pass_hz)
    if confounds is not None:
        confounds = np.asarray(confounds, dtype=np.float64)
        confounds = confounds.reshape(-1, 1) if confounds.ndim == 1 else confounds
        if confounds.shape[0] != n:
            raise DataError(
                f"confounds have {confounds.shape[0]} rows but the BOLD has {n} volumes; use "
                "the confounds table of the same run."
            )
        columns += list(confounds.T)
    values = bold.values.astype(np.float64)
    mean = values.mean(axis=0)
    cleaned = signal.clean(
        values,
        detrend=bool(detrend_order),
        standardize=None,
        confounds=np.column_stack(columns) if columns else None,
        filter="cosine" if high_pass_hz is not None else False,
        high_pass=high_pass_hz,
        t_r=1.0 / bold.rate_hz,
    )
    # nilearn centres every unit when it removes anything; the mean comes back.
    cleaned = cleaned - cleaned.mean(axis=0) + mean
    if standardize:
        sd = cleaned.std(axis=0)
        cleaned = (cleaned - cleaned.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return bold.replace(values=cleaned.astype(bold.values.dtype, copy=False))


def read_parcellated(path: str | os.PathLike, *, tr_s: float | None = None) -> TimeSeries:
    r"""A parcellated time series TSV (XCP-D style): one column per parcel, one row per volume.

    The TR comes from ``tr_s``, else the sidecars (``RepetitionTime``, or
    ``SamplingFrequency``) that apply to the file by BIDS inheritance.

    Raises
    ------
    DataError
        No TR anywhere, non-numeric cells, fewer than 2 volumes.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-01_task-x_seg-A_stat-mean_timeseries.tsv"
    >>> _ = path.write_text("V1\tA1\n1.0\t2.0\n1.5\tn/a\n2.0\t3.0\n")
    >>> series = read_parcellated(path, tr_s=2.0)
    >>> series.names, series.rate_hz, series.n_times
    (('V1', 'A1'), 0.5, 3)

    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    if tr_s is None:
        metadata = inherited_metadata(path)
        if "RepetitionTime" in metadata:
            tr_s = float(metadata["RepetitionTime"])
        elif "SamplingFrequency" in metadata:
            tr_s = 1.0 / float(metadata["SamplingFrequency"])
        else:
            raise DataError(
                f"{path}: no RepetitionTime in its sidecar; pass tr_s= (the BOLD's TR) or add "
                f"{path.name.split('.')[0]}.json with RepetitionTime."
            )
    tr_s = check_positive("tr_s", tr_s)
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"])
        values = table.to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(
            f"{path}: not a table of numbers with one parcel name per column ({error})."
        ) from None
    if values.shape[0] < 2:
        raise DataError(f"{path}: {values.shape[0]} row(s); one row per volume, at least 2.")
    return TimeSeries(values, 1.0 / tr_s, names=[str(c) for c in table.columns])


def find_parcellated(
    derivatives: str | os.PathLike, run: Mapping[str, str], *, seg: str | None = None
) -> Path:
    """The ``*_timeseries.tsv`` of a run (XCP-D); ``seg`` chooses the atlas when several.

    Raises
    ------
    DataError
        None found, or several atlases and no ``seg`` (the message lists them).
    ParameterError
        ``seg`` names an atlas the run does not have.

    """
    derivatives = Path(derivatives)
    pattern = f"sub-{run['sub']}/**/func/*_timeseries.tsv"
    found = [
        p
        for p in sorted(derivatives.glob(pattern))
        if _matches(p.name, run) and "desc-confounds" not in p.name
    ]
    if not found:
        raise DataError(f"{derivatives}: no parcellated *_timeseries.tsv for run {dict(run)}.")
    atlases = {entities(p.name).get("seg", entities(p.name).get("atlas", "?")): p for p in found}
    if seg is None and len(atlases) > 1:
        raise DataError(
            f"{derivatives}: run {dict(run)} has parcellations {', '.join(sorted(atlases))}; "
            "choose one with seg=."
        )
    if seg is not None and seg not in atlases:
        raise ParameterError(f"seg={seg!r}: run {dict(run)} has {', '.join(sorted(atlases))}.")
    return atlases[seg] if seg is not None else found[0]
