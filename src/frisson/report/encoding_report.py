"""The files of an encoding run (``frisson encode``): tables, figures and NIfTI maps."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._io import atomic_write
from frisson._logging import logger
from frisson._optional import import_optional
from frisson.errors import FrissonError
from frisson.report._files import write_figure, write_table
from frisson.report._provenance import relative_path
from frisson.report.encoding_html import write_encoding_html
from frisson.report.encoding_maps import write_significant_r_maps

if TYPE_CHECKING:
    from frisson.pipelines.encoding import EncodingResults

__all__ = ["write_encoding_report"]


def _gzip_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    nib = import_optional("nibabel")

    image = nib.Nifti1Image(array, affine)
    data = gzip.compress(image.to_bytes(), compresslevel=4)
    return atomic_write(path, lambda p: Path(p).write_bytes(data))


def _best_r(profile) -> np.ndarray:
    units = np.arange(len(profile.units))
    best = np.where(
        profile.best_layer >= 0, profile.r[np.maximum(profile.best_layer, 0), units], np.nan
    )
    return best


def write_encoding_report(results: EncodingResults, output: str | os.PathLike) -> list[Path]:
    """Write an encoding run's tables, figures, NIfTI maps and ``settings.json``.

    Files: ``profiles.tsv`` (r, p, q per unit and layer), ``best_layers.tsv``,
    ``layer_summary.tsv``, ``layer_profiles.png``, ``best_layers.png`` and, for
    BOLD targets, ``<fit>_best_layer.nii.gz``, ``<fit>_max_r.nii.gz`` and mosaics
    on an anatomical underlay (the participant's T1w resampled to the BOLD grid,
    else the mean EPI of a run); ``settings.json``, ``provenance.json``, and
    ``report.html`` (self-contained: contents, sortable tables, figures, data
    quality, provenance; :func:`frisson.report.encoding_html.write_encoding_html`).

    Parameters
    ----------
    results : EncodingResults
        From :func:`frisson.pipelines.run_encoding`.
    output : path
        The output folder.

    Returns
    -------
    list of Path
        The files written.

    """
    output = Path(output)
    spaces = results.spaces
    import json

    import pandas as pd

    from frisson.report.encoding_figures import (
        mean_ci,
        plot_best_layers,
        plot_layer_profiles,
        plot_slice_mosaic,
    )

    config, layers = results.config, list(results.layers)
    q = config.fdr_q
    files: list[Path] = []
    long, best_rows, summary_rows = [], [], []
    for label, profile in results.profiles.items():
        frame = profile.to_frame()
        frame.insert(0, "participant", label)
        long.append(frame)
        best_rows.append(
            pd.DataFrame(
                {
                    "participant": label,
                    "unit": profile.units,
                    "best_layer": profile.best_layer_names(),
                    "best_layer_index": profile.best_layer,
                    "r": _best_r(profile),
                    "p": profile.p_best,
                    "q": profile.q_best,
                    "significant": profile.q_best < q,
                }
            )
        )
        mean, half = mean_ci(profile.r)
        for index, layer in enumerate(layers):
            summary_rows.append(
                {
                    "participant": label,
                    "layer": layer,
                    "mean_r": mean[index],
                    "ci95_halfwidth": half[index],
                    "units_q_below": int(np.sum(profile.q[index] < q)),
                    "units_best": int(np.sum(profile.best_layer == index)),
                    "units_best_significant": int(
                        np.sum((profile.best_layer == index) & (profile.q_best < q))
                    ),
                }
            )
    files.append(write_table(output / "profiles.tsv", pd.concat(long, ignore_index=True)))
    files.append(write_table(output / "best_layers.tsv", pd.concat(best_rows, ignore_index=True)))
    files.append(write_table(output / "layer_summary.tsv", pd.DataFrame(summary_rows)))

    # Layer profiles: CIs across units (many units), across folds (few units), and
    # across participants (several fits).
    curves: dict[str, np.ndarray] = {}
    for label, profile in list(results.profiles.items())[:8]:
        if len(profile.units) <= 4:
            for u, unit in enumerate(profile.units):
                curves[f"{label} {unit} (folds)"] = profile.fold_r[:, :, u]
        else:
            significant = profile.q_best < q
            chosen = significant if significant.sum() >= 2 else np.ones_like(significant)
            what = f"q < {q:g}" if significant.sum() >= 2 else "all units"
            curves[f"{label} ({what})"] = profile.r[:, chosen]
    if len(results.profiles) > 1:
        per_fit = np.column_stack([np.nanmean(p.r, axis=1) for p in results.profiles.values()])
        curves["participants (mean over units)"] = per_fit
    files.append(
        write_figure(
            output / "layer_profiles.png",
            plot_layer_profiles(curves, layers, title=f"{config.encoder}: layer profiles"),
        )
    )
    best = np.concatenate([p.best_layer for p in results.profiles.values()])
    significant = np.concatenate([p.q_best < q for p in results.profiles.values()])
    files.append(
        write_figure(
            output / "best_layers.png",
            plot_best_layers(
                best, layers, significant=significant, title=f"best layer (q < {q:g})"
            ),
        )
    )
    files += _write_maps(results, spaces, output, plot_slice_mosaic)
    settings = output / "settings.json"
    record = {**config.to_dict(), "layers": layers}
    for key in ("study", "output", "mask", "atlas", "atlas_labels"):
        if record.get(key):
            record[key] = relative_path(record[key], output)
    atomic_write(settings, lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)))
    files.append(settings)
    files += write_encoding_html(results, output, files, record)
    return files


def _write_maps(results: EncodingResults, spaces: dict[str, Any], output: Path, mosaic):
    """Best-layer and max-r NIfTIs and mosaics per participant, and for the group."""
    from frisson.study import voxel_ijk

    layers = list(results.layers)
    q = results.config.fdr_q
    files: list[Path] = []
    voxel_fits = {k: v for k, v in results.profiles.items() if spaces.get(k) is not None}
    if not voxel_fits:
        return files

    underlays = _Underlays(results)

    def write(prefix: str, shape, affine, ijk, best_index, best_r, significant) -> None:
        best_map = np.zeros(shape, dtype=np.int16)
        r_map = np.zeros(shape, dtype=np.float32)
        shown = -np.ones(shape, dtype=int)
        i, j, k = ijk.T
        best_map[i, j, k] = best_index + 1
        r_map[i, j, k] = np.nan_to_num(best_r)
        shown[i, j, k] = np.where(significant, best_index, -1)
        files.append(_gzip_nifti(output / f"{prefix}_best_layer.nii.gz", best_map, affine))
        files.append(_gzip_nifti(output / f"{prefix}_max_r.nii.gz", r_map, affine))
        title = f"{prefix}: best layer of voxels with q < {q:g} ({int(significant.sum())})"
        underlay, kind = underlays.get(prefix, shape, affine)
        if kind:
            title += f" on the {kind}"
        figure = mosaic(shown, layers=layers, title=title, underlay=underlay)
        files.append(write_figure(output / f"{prefix}_best_layer.png", figure))
        if prefix == "group" or len(voxel_fits) == 1:  # MNI152 + fsaverage5 views
            files.extend(
                write_significant_r_maps(np.where(shown >= 0, r_map, 0), affine, output, prefix)
            )

    for label, profile in voxel_fits.items():
        space = spaces[label]
        write(
            label,
            space["shape"],
            space["affine"],
            voxel_ijk(profile.units),
            profile.best_layer,
            _best_r(profile),
            profile.q_best < q,
        )
    first = next(iter(voxel_fits))
    same_grid = all(
        spaces[k]["shape"] == spaces[first]["shape"]
        and np.allclose(spaces[k]["affine"], spaces[first]["affine"])
        for k in voxel_fits
    )
    if len(voxel_fits) > 1 and same_grid:
        common = sorted(set.intersection(*(set(p.units) for p in voxel_fits.values())))
        if common:
            z = np.mean(
                [
                    np.arctanh(np.clip(p.r[:, [p.units.index(u) for u in common]], -0.999, 0.999))
                    for p in voxel_fits.values()
                ],
                axis=0,
            )
            group_r = np.tanh(z)
            finite = np.isfinite(group_r)
            best_index = np.where(
                finite.any(axis=0), np.argmax(np.where(finite, group_r, -np.inf), axis=0), -1
            )
            best_r = group_r[np.maximum(best_index, 0), np.arange(len(common))]
            # A voxel counts in the group map when its best layer is significant in most fits.
            votes = np.mean(
                [(p.q_best < q)[[p.units.index(u) for u in common]] for p in voxel_fits.values()],
                axis=0,
            )
            write(
                "group",
                spaces[first]["shape"],
                spaces[first]["affine"],
                voxel_ijk(common),
                best_index,
                best_r,
                votes > 0.5,
            )
    return files


class _Underlays:
    """Per fit, a grey anatomical image on its BOLD grid: the T1w if any, else the mean EPI."""

    def __init__(self, results: EncodingResults) -> None:
        self.root = Path(results.config.study)
        self.found: dict[str, tuple[np.ndarray | None, str]] = {}

    def get(self, label: str, shape, affine) -> tuple[np.ndarray | None, str]:
        if label not in self.found:
            try:
                self.found[label] = _underlay(self.root, label, tuple(shape), affine)
            except (OSError, ValueError, FrissonError) as error:
                logger.warning("%s: maps without an anatomical underlay (%s)", label, error)
                self.found[label] = (None, "")
        return self.found[label]


def _underlay(root: Path, label: str, shape, affine) -> tuple[np.ndarray | None, str]:
    nib = import_optional("nibabel")

    pattern = "sub-*" if label == "group" else label
    for t1 in sorted(root.glob(f"{pattern}/**/anat/*_T1w.nii*")):
        from nibabel.processing import resample_from_to

        image = resample_from_to(nib.load(t1), (shape, affine), order=1)
        return np.asarray(image.dataobj, dtype=float), "T1w"
    for bold in sorted(root.glob(f"{pattern}/**/func/*_bold.nii*")):
        image = nib.load(bold)
        if tuple(image.shape[:3]) != tuple(shape):
            continue
        if image.ndim == 3:
            return np.asarray(image.dataobj, dtype=float), "mean EPI"
        n = image.shape[3]
        total = np.zeros(shape)
        for start in range(0, n, 50):  # 50 volumes at a time: a long run never loads whole
            total += np.asarray(image.dataobj[..., start : start + 50], dtype=float).sum(axis=-1)
        return total / n, "mean EPI"
    return None, ""
