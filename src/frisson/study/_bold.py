"""BOLD runs as voxels in a mask or ROI means of an atlas (NIfTI via nibabel)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from frisson._check import check_positive
from frisson._logging import logger
from frisson._optional import import_optional
from frisson.errors import DataError
from frisson.timeseries import TimeSeries


# ---------------------------------------------------------------------------- BOLD
def voxel_ijk(names: Sequence[str]) -> np.ndarray:
    """Voxel indices ``(n, 3)`` from :func:`load_bold` channel names ``"i_j_k"``.

    Examples
    --------
    >>> voxel_ijk(["3_0_12", "4_1_2"]).tolist()
    [[3, 0, 12], [4, 1, 2]]

    """
    try:
        return np.array([[int(v) for v in name.split("_")] for name in names], dtype=int).reshape(
            -1, 3
        )
    except ValueError:
        raise DataError(
            f"channel names {list(names)[:3]}... are not voxel names 'i_j_k' (ROI means have none)."
        ) from None


def _header_tr_s(image, path: Path) -> float:
    """The repetition time in seconds from a NIfTI header (pixdim[4] and its time unit)."""
    zooms = image.header.get_zooms()
    tr = float(zooms[3]) if len(zooms) > 3 else 0.0
    unit = image.header.get_xyzt_units()[1] if hasattr(image.header, "get_xyzt_units") else "sec"
    tr *= {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0)
    if not np.isfinite(tr) or tr <= 0:
        raise DataError(
            f"{path}: the NIfTI header gives no repetition time (pixdim[4] = {tr:g}); pass "
            "tr_s= (the RepetitionTime of the run's _bold.json sidecar) or fix the header."
        )
    return tr


def sidecar_tr_s(path: str | os.PathLike) -> tuple[float, Path] | None:
    """``RepetitionTime`` (s) of a BOLD file's BIDS sidecars (inherited ones too) and its source.

    Returns None when no applicable sidecar gives one.

    Raises
    ------
    DataError
        If the value is not a positive number of seconds.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sub-01_task-x_bold.json").write_text(json.dumps({"RepetitionTime": 2}))
    >>> sidecar_tr_s(folder / "sub-01_task-x_bold.nii.gz")[0]
    2.0

    """
    from frisson._bids import inherited_metadata, metadata_source

    path = Path(path)
    metadata = inherited_metadata(path)
    source = metadata_source(path, "RepetitionTime")
    if source is None:
        return None
    value = metadata["RepetitionTime"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise DataError(
            f"{source}: RepetitionTime must be a positive number of seconds, got {value!r}."
        )
    if value > 100:
        raise DataError(
            f"{source}: RepetitionTime {value!r} looks like milliseconds; BIDS gives it in "
            "seconds (e.g. 2.0)."
        )
    return float(value), source


def _repetition_time_s(image, path: Path, tr_s: float | None) -> float:
    """The TR to use: ``tr_s``, else the sidecar's, else the header's; disagreements logged."""
    try:
        header_tr: float | None = _header_tr_s(image, path)
    except DataError:
        header_tr = None
    if tr_s is not None:
        tr_s = check_positive("tr_s", tr_s)
        if header_tr is not None and abs(header_tr - tr_s) > 1e-3 * tr_s:
            logger.warning("%s: header TR %g s, using tr_s=%g s", path.name, header_tr, tr_s)
        return tr_s
    from_sidecar = sidecar_tr_s(path)
    if from_sidecar is None:
        if header_tr is None:
            _header_tr_s(image, path)  # raises the error that says what to do
        return header_tr
    sidecar_tr, source = from_sidecar
    if header_tr is not None and abs(header_tr - sidecar_tr) > 1e-3 * sidecar_tr:
        logger.warning(
            "%s: the NIfTI header gives TR %g s but RepetitionTime in %s is %g s; using the "
            "sidecar's %g s (BIDS). Fix the header or the sidecar if that is wrong.",
            path.name,
            header_tr,
            source.name,
            sidecar_tr,
            sidecar_tr,
        )
    return sidecar_tr


def _volume_array(volume, what: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """A 3-D mask or label image (file or array), checked against the BOLD's spatial shape."""
    nib = import_optional("nibabel")

    if isinstance(volume, str | os.PathLike):
        try:
            volume_path = Path(volume)
            array = np.asanyarray(nib.load(volume_path).dataobj)
        except FileNotFoundError:
            raise DataError(f"{volume}: {what} file not found.") from None
        source = str(volume)
    else:
        array, source = np.asarray(volume), f"the {what} array"
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.shape != shape:
        raise DataError(
            f"{source}: {what} has shape {array.shape} but {path} has volumes of shape {shape}; "
            f"use a {what} in the BOLD's space (same grid)."
        )
    return array


def _atlas_labels(atlas, atlas_labels) -> dict[int, str]:
    """ROI names: a mapping, a TSV (columns index, name), or the ``.tsv`` beside the atlas."""
    import pandas as pd

    if isinstance(atlas_labels, Mapping):
        return {int(k): str(v) for k, v in atlas_labels.items()}
    table_path = None
    if atlas_labels is not None:
        table_path = Path(atlas_labels)
    elif isinstance(atlas, str | os.PathLike):
        name = Path(atlas).name
        stem = name.removesuffix(".gz").removesuffix(".nii")
        beside = Path(atlas).with_name(stem + ".tsv")
        table_path = beside if beside.is_file() else None
    if table_path is None:
        return {}
    try:
        table = pd.read_csv(table_path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{table_path}: cannot read the atlas labels ({error}).") from None
    if not {"index", "name"} <= set(table.columns):
        raise DataError(
            f"{table_path}: atlas labels need columns 'index' and 'name' (BIDS dseg.tsv); "
            f"found {list(table.columns)}."
        )
    return {int(i): str(n) for i, n in zip(table["index"], table["name"], strict=True)}


def load_bold(
    path: str | os.PathLike,
    *,
    mask: str | os.PathLike | np.ndarray | None = None,
    atlas: str | os.PathLike | np.ndarray | None = None,
    atlas_labels: str | os.PathLike | Mapping[int, str] | None = None,
    tr_s: float | None = None,
) -> TimeSeries:
    """Read a 4-D BOLD run (NIfTI) as a time series of voxels or ROI means.

    Volume ``k`` is stamped at ``k * TR`` seconds of run time (the events'
    time zero; slice timing is not modelled), so ``rate_hz = 1 / TR``.

    Parameters
    ----------
    path : path
        A ``*_bold.nii[.gz]`` file, 4-D (x, y, z, time).
    mask : path or ndarray, optional
        A 3-D image on the same grid; voxels where it is non-zero are kept
        (default: every voxel).
    atlas : path or ndarray, optional
        A 3-D label image on the same grid: the result then holds one channel
        per label > 0, the mean over its voxels (within ``mask`` if given).
    atlas_labels : path or mapping, optional
        ROI names: a TSV with columns ``index`` and ``name`` (default: the
        ``.tsv`` beside an atlas file with the same stem, as BIDS ``_dseg``
        files have), or a mapping label -> name. Unnamed ROIs are ``roi-<label>``.
    tr_s : float, optional
        Repetition time in seconds; overrides the sidecar and the header
        (with a warning when it differs from them). By default the
        ``RepetitionTime`` of the BIDS sidecars that apply to the file (its
        own ``*_bold.json`` or one it inherits, e.g. ``task-<t>_bold.json`` at
        the dataset root) is used, and the header's pixdim[4] only when no
        sidecar gives one; a header that disagrees with the sidecar is logged
        as a warning (BIDS: the sidecar wins).

    Returns
    -------
    TimeSeries
        ``(n_volumes, n_units)`` float32 at ``1 / TR`` Hz from 0 s; channels
        named ``"i_j_k"`` by voxel index (C order; :func:`voxel_ijk` parses
        them) or by ROI.

    Raises
    ------
    DataError
        If the file is not 4-D, has no repetition time and ``tr_s`` is not
        given, or the mask or atlas has another spatial shape.

    Examples
    --------
    >>> import nibabel as nib, numpy as np, tempfile, pathlib
    >>> data = np.arange(2 * 1 * 1 * 3, dtype=np.float32).reshape(2, 1, 1, 3)
    >>> image = nib.Nifti1Image(data, np.eye(4))
    >>> image.header.set_zooms((1.0, 1.0, 1.0, 2.0))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-01_task-x_bold.nii.gz"
    >>> nib.save(image, path)
    >>> bold = load_bold(path)
    >>> bold.rate_hz, bold.names, bold.values[:, 1].tolist()
    (0.5, ('0_0_0', '1_0_0'), [3.0, 4.0, 5.0])

    """
    nib = import_optional("nibabel")

    path = Path(path)
    try:
        image = nib.load(path)
    except FileNotFoundError:
        raise DataError(f"{path}: BOLD file not found.") from None
    except Exception as error:  # nibabel raises many types for broken files
        raise DataError(f"{path}: cannot be read as NIfTI ({error}).") from None
    if len(image.shape) != 4:
        raise DataError(f"{path}: has shape {image.shape}; a BOLD run is 4-D (x, y, z, time).")
    tr_s = _repetition_time_s(image, path, tr_s)
    shape = tuple(image.shape[:3])
    keep = (
        np.ones(shape, dtype=bool)
        if mask is None
        else _volume_array(mask, "mask", shape, path) != 0
    )
    data = image.get_fdata(dtype=np.float32)
    if atlas is None:
        ijk = np.argwhere(keep)
        if ijk.size == 0:
            raise DataError(f"{path}: the mask keeps no voxel.")
        values = data[keep].T
        names = [f"{i}_{j}_{k}" for i, j, k in ijk]
    else:
        labels = np.rint(_volume_array(atlas, "atlas", shape, path)).astype(int)
        label_names = _atlas_labels(atlas, atlas_labels)
        present = [int(v) for v in np.unique(labels[keep]) if v > 0]
        if not present:
            raise DataError(f"{path}: the atlas has no label > 0 inside the mask.")
        values = np.column_stack([data[(labels == v) & keep].mean(axis=0) for v in present])
        names = [label_names.get(v, f"roi-{v}") for v in present]
    return TimeSeries(values.astype(np.float32, copy=False), 1.0 / tr_s, names=names)
