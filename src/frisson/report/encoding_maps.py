"""Brain maps on MNI152 and fsaverage5, and the files of ``frisson encode`` modes glm and isc.

Every map is written four ways next to the tables: ``<name>.nii.gz`` (the
values on the BOLD grid), ``<name>.png`` (:func:`nilearn.plotting.plot_stat_map`
on the MNI152 template nilearn ships), ``<name>_surface.png``
(:func:`nilearn.plotting.plot_img_on_surf`: both hemispheres of fsaverage5,
lateral and medial) and ``<name>.html`` (:func:`nilearn.plotting.view_img`,
an interactive viewer that opens offline). The underlay is MNI152, so the
drawing is anatomically meaningful when the BOLD is in MNI space (fMRIPrep
``space = "MNI152NLin2009cAsym..."``); native-space maps are still written as
NIfTI and drawn, with that caveat in the report.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._io import atomic_write
from frisson._logging import logger
from frisson._optional import import_optional
from frisson.report._files import write_table
from frisson.report._html import Section, figure_html, page_html, table_html

if TYPE_CHECKING:
    from frisson.pipelines import EmotionGLMResults, StudyISCResults

__all__ = [
    "volume_image",
    "write_brain_maps",
    "write_glm_report",
    "write_isc_report",
    "write_significant_r_maps",
]


def volume_image(values: np.ndarray, units: list[str], space: dict[str, Any]):
    """A NIfTI image of per-voxel values (0 outside the voxels given).

    Parameters
    ----------
    values : ndarray, shape (n_units,)
        One value per voxel.
    units : list of str
        Voxel names (:func:`frisson.study.voxel_ijk` reads their indices).
    space : dict
        ``shape`` and ``affine`` of the BOLD grid.

    Returns
    -------
    nibabel.Nifti1Image

    Examples
    --------
    >>> image = volume_image(np.array([2.0]), ["v001_002_000"], {"shape": (3, 3, 1),
    ...     "affine": np.eye(4)})  # doctest: +SKIP

    """
    from frisson.study import voxel_ijk

    nib = import_optional("nibabel")
    volume = np.zeros(tuple(space["shape"]), dtype=np.float32)
    i, j, k = voxel_ijk(units).T
    volume[i, j, k] = np.nan_to_num(np.asarray(values, dtype=np.float32))
    return nib.Nifti1Image(volume, np.asarray(space["affine"], dtype=float))


def _write_nifti(path: Path, image) -> Path:
    import gzip

    data = gzip.compress(image.to_bytes(), compresslevel=4)
    return atomic_write(path, lambda p: Path(p).write_bytes(data))


def write_brain_maps(image, output: Path, name: str, *, threshold: float, title: str) -> list[Path]:
    """Write one map as NIfTI, an MNI152 stat map, a fsaverage5 surface view and HTML.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        The map (e.g. from :func:`volume_image`).
    output : Path
        The folder.
    name : str
        File stem (``<name>.nii.gz``, ``.png``, ``_surface.png``, ``.html``).
    threshold : float
        Values with ``|value| < threshold`` are not drawn (e.g. the FWE-corrected t).
    title : str
        Figure title.

    Returns
    -------
    list of Path
        The files written; the figures are skipped with a warning when
        nilearn cannot draw them (the NIfTI is always written).

    """
    import matplotlib.pyplot as plt

    output = Path(output)
    files = [_write_nifti(output / f"{name}.nii.gz", image)]
    plotting = import_optional("nilearn.plotting")
    template = import_optional("nilearn.datasets").load_mni152_template(resolution=2)
    shown = float(threshold) if np.isfinite(threshold) else 0.0
    try:
        display = plotting.plot_stat_map(
            image, bg_img=template, threshold=shown, title=title, display_mode="ortho"
        )
        figure = display.frame_axes.figure
        atomic_write(
            output / f"{name}.png",
            lambda p: figure.savefig(p, dpi=100, format="png", facecolor=figure.get_facecolor()),
        )
        display.close()
        files.append(output / f"{name}.png")
        figure, _ = plotting.plot_img_on_surf(
            image,
            surf_mesh="fsaverage5",
            views=["lateral", "medial"],
            hemispheres=["left", "right"],
            threshold=shown,
            colorbar=True,
            inflate=True,
            title=title,
        )
        atomic_write(
            output / f"{name}_surface.png", lambda p: figure.savefig(p, dpi=80, format="png")
        )
        plt.close(figure)
        files.append(output / f"{name}_surface.png")
        view = plotting.view_img(image, bg_img=template, threshold=shown, title=title)
        atomic_write(output / f"{name}.html", lambda p: view.save_as_html(p))
        files.append(output / f"{name}.html")
    except (ValueError, RuntimeError, OSError) as error:
        logger.warning("%s: map not drawn (%s); the NIfTI is written", name, error)
    return files


def write_significant_r_maps(
    r_map: np.ndarray, affine: np.ndarray, output: Path, prefix: str
) -> list[Path]:
    """The layer-wise encoding's best r of significant voxels on MNI152 and fsaverage5.

    Parameters
    ----------
    r_map : ndarray, shape (i, j, k)
        Best-layer r where the best layer passes q, else 0.
    affine : ndarray, shape (4, 4)
        The BOLD grid's affine.
    output : Path
        The folder.
    prefix : str
        ``group`` or the fit's label: files ``<prefix>_significant_r*``.

    Returns
    -------
    list of Path

    """
    nib = import_optional("nibabel")
    image = nib.Nifti1Image(np.asarray(r_map, dtype=np.float32), np.asarray(affine, dtype=float))
    shown = np.abs(r_map[r_map != 0])
    threshold = float(shown.min()) * 0.999 if shown.size else 1.0
    title = f"{prefix}: best-layer r of significant voxels"
    return write_brain_maps(
        image, output, f"{prefix}_significant_r", threshold=threshold, title=title
    )


_UNDERLAY_NOTE = (
    "Drawn on the MNI152 template (volume) and fsaverage5 (surface, sampled from the "
    "volume): anatomically meaningful for BOLD in MNI space."
)


def _map_sections(output: Path, names: list[tuple[str, str, str]]) -> str:
    """Figures of written maps: (stem, title, caption) each."""
    parts = []
    for stem, title, caption in names:
        for suffix, what in ((".png", "volume"), ("_surface.png", "surface")):
            path = output / f"{stem}{suffix}"
            if path.is_file():
                parts.append(
                    figure_html(
                        path,
                        f"{title} ({what})",
                        f"{caption} {_UNDERLAY_NOTE} Interactive: {stem}.html; "
                        f"values: {stem}.nii.gz.",
                    )
                )
    return "".join(parts)


def _write_page(
    output: Path, title: str, intro: str, sections: list[Section], maps: list[tuple[str, str, str]]
) -> Path:
    figures = _map_sections(output, maps)
    if figures:
        sections = [*sections, Section("Maps", figures)]
    page = page_html(title, sections, intro=intro)
    report = output / "report.html"
    atomic_write(report, lambda p: Path(p).write_text(page))
    return report


def _settings(config, output: Path) -> Path:
    path = output / "settings.json"
    record = json.dumps(config.to_dict(), indent=2, default=str)
    atomic_write(path, lambda p: Path(p).write_text(record))
    return path


def write_glm_report(results: EmotionGLMResults, output: str | os.PathLike) -> list[Path]:
    """Write the brain-emotion GLM's tables, maps and ``report.html``.

    Files: ``glm_first_level.tsv`` (participant, contrast, unit, effect,
    variance, t, p), ``glm_group.tsv`` (contrast, unit, mean effect, t, p,
    p_fwe, significant), ``settings.json``; for voxel grids per contrast
    ``group_<contrast>_t`` maps (t over participants drawn above the
    family-wise threshold) and ``sub-<id>_<contrast>_t.nii.gz``; ``report.html``.

    Parameters
    ----------
    results : EmotionGLMResults
        From :func:`frisson.pipelines.run_emotion_glm`.
    output : path
        The output folder.

    Returns
    -------
    list of Path

    """
    import pandas as pd

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    frames = []
    for label, fit in results.first_level.items():
        frame = fit.to_frame()
        frame.insert(0, "participant", label)
        frames.append(frame)
    files.append(write_table(output / "glm_first_level.tsv", pd.concat(frames)))
    group_rows = []
    maps = []
    null = "surrogate-ratings" if results.config.glm_null == "ratings" else "sign-flip"
    for name, test in results.group.items():
        frame = test.to_frame()
        frame.insert(0, "contrast", name)
        frame["significant"] = frame["p_fwe"] <= 0.05
        group_rows.append(frame)
        if results.space is not None:
            image = volume_image(test.t, test.units, results.space)
            title = f"{name}: group t ({test.n_participants} participants)"
            files += write_brain_maps(
                image, output, f"group_{name}_t", threshold=test.t_threshold, title=title
            )
            maps.append(
                (
                    f"group_{name}_t",
                    title,
                    f"One-sample t over participants of the {name} contrast; drawn where "
                    f"|t| > {test.t_threshold:.2f} ({null} max-|t|, p_fwe <= .05).",
                )
            )
    if group_rows:
        files.append(write_table(output / "glm_group.tsv", pd.concat(group_rows)))
    if results.space is not None:
        for label, fit in results.first_level.items():
            for index, name in enumerate(fit.contrasts):
                image = volume_image(fit.t[index], fit.units, results.space)
                files.append(_write_nifti(output / f"{label}_{name}_t.nii.gz", image))
    files.append(_settings(results.config, output))
    sections = [
        Section("Summary", f"<pre>{html.escape(results.summary())}</pre>"),
        Section(
            "Model",
            "<p>Regressors: each rating channel's absolute first derivative (Gaussian "
            f"smoothing SD {results.config.smooth_s:g} s) placed at the stimulus onsets and "
            "convolved with the SPM HRF; nuisance: the music block, cosine drifts "
            f"(high-pass {results.config.glm_high_pass_hz:.4g} Hz), a constant. OLS with "
            "AR(1) prewhitening (design-bias-corrected AR estimate) per run, fixed effects "
            "over runs; group: one-sample t over participants against "
            + (
                "refits on phase-randomised group ratings (songs the random factor)"
                if results.config.glm_null == "ratings"
                else "sign flips over participants (listeners the random factor)"
            )
            + ", family-wise error from the maximum |t| over units.</p>",
        ),
    ]
    if group_rows:
        group = pd.concat(group_rows)
        shown = group.sort_values("p_fwe").head(200)
        sections.append(Section("Group", table_html(shown, caption="glm_group.tsv (top 200)")))
    intro = (
        f"<p>Brain-emotion GLM (<code>frisson encode</code>, mode glm): "
        f"{len(results.first_level)} participants.</p>"
    )
    files.append(_write_page(output, "frisson brain-emotion GLM", intro, sections, maps))
    return files


def write_isc_report(results: StudyISCResults, output: str | os.PathLike) -> list[Path]:
    """Write the ISC table, the ISC map (voxel grids) and ``report.html``.

    Files: ``isc.tsv`` (per unit: isc pooled over stimuli, p, p_fwe, q,
    ``isc_<stimulus>``), ``isc_participants.tsv`` (stimulus, participants),
    ``settings.json``, the ``isc`` map (drawn where ``p_fwe <= .05``) and
    ``report.html``.

    Parameters
    ----------
    results : StudyISCResults
        From :func:`frisson.pipelines.run_study_isc`.
    output : path
        The output folder.

    Returns
    -------
    list of Path

    """
    import pandas as pd

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    result = results.isc
    frame = result.to_frame()
    files = [write_table(output / "isc.tsv", frame)]
    rows = [(k, len(v), " ".join(v)) for k, v in results.participants.items()]
    table = pd.DataFrame(rows, columns=["stimulus", "n_participants", "participants"])
    files.append(write_table(output / "isc_participants.tsv", table))
    maps = []
    if results.space is not None:
        passing = result.mean[result.p_fwe <= 0.05]
        threshold = float(passing.min()) if passing.size else float(np.max(result.mean) + 1)
        image = volume_image(result.mean, result.units, results.space)
        title = f"leave-one-out ISC ({result.n_participants} participants)"
        files += write_brain_maps(image, output, "isc", threshold=threshold, title=title)
        maps.append(("isc", title, "Mean leave-one-out ISC; drawn where p_fwe <= .05."))
    files.append(_settings(results.config, output))
    sections = [
        Section("Summary", f"<pre>{html.escape(results.summary())}</pre>"),
        Section(
            "Per unit",
            table_html(frame.sort_values("p").head(500), caption="isc.tsv (top 500 by p)"),
        ),
        Section("Participants", table_html(table, caption="isc_participants.tsv")),
    ]
    intro = (
        f"<p>Inter-subject correlation (<code>frisson encode</code>, mode isc) of target "
        f"<b>{html.escape(results.config.target)}</b>: each participant against the mean of "
        f"the others, {result.null} null (shared by a participant's units), family-wise "
        "p from the maximum over units, Benjamini-Hochberg q.</p>"
    )
    files.append(_write_page(output, "frisson inter-subject correlation", intro, sections, maps))
    return files
