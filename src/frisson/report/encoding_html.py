"""The ``report.html`` of an encoding run (``frisson encode``), with the study report's layout.

Sidebar of contents, collapsible sections, sortable tables, the layer profiles,
best-layer counts and maps (on an anatomical underlay), the study's data-quality
problems and the run's provenance (``provenance.json``). Self-contained: figures
are embedded, nothing is fetched; paths are relative to the output folder.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from frisson._io import atomic_write
from frisson.report._html import Section, figure_html, page_html, table_html
from frisson.report._provenance import (
    collect_provenance,
    input_files,
    provenance_html,
    relative_path,
    study_problems,
)

if TYPE_CHECKING:
    from frisson.pipelines.encoding import EncodingResults

__all__ = ["write_encoding_html"]


def _figure(output: Path, name: str, title: str, caption: str) -> str:
    path = output / name
    return figure_html(path, title, caption) if path.is_file() else ""


def _table(output: Path, name: str, caption: str, *, max_rows: int = 500) -> str:
    import pandas as pd

    path = output / name
    if not path.is_file():
        return ""
    frame = pd.read_csv(path, sep="\t")
    return table_html(frame, caption=f"{caption} ({name})", max_rows=max_rows)


def _quality(results: EncodingResults, output: Path) -> str:
    import pandas as pd

    problems = study_problems(results)
    study = Path(results.config.study)
    frame = pd.DataFrame(
        [(p.severity, relative_path(study / p.path, output), p.message) for p in problems],
        columns=["severity", "file", "message"],
    )
    errors = int((frame["severity"] == "error").sum())
    fitted = ", ".join(html.escape(label) for label in results.profiles)
    return (
        f"<p>Fitted: {fitted}. Participants or runs that could not be fitted are named in "
        "the run's log (skipped with a warning).</p>"
        f"<p>The study check (<code>frisson study validate</code>) lists {errors} error(s) "
        f"(runs concerned skipped) and {len(frame) - errors} warning(s):</p>"
        + (table_html(frame) if len(frame) else "<p>None.</p>")
    )


def _maps(results: EncodingResults, output: Path) -> str:
    parts = []
    for label in [*results.profiles, "group"]:
        parts.append(
            _figure(
                output,
                f"{label}_best_layer.png",
                f"Best layer: {label}",
                f"Voxels whose best layer passes q < {results.config.fdr_q:g}, coloured by "
                f"that layer; NIfTI maps: {label}_best_layer.nii.gz (1-based layer index) and "
                f"{label}_max_r.nii.gz.",
            )
        )
        for suffix, view in ((".png", "MNI152"), ("_surface.png", "fsaverage5 surface")):
            parts.append(
                _figure(
                    output,
                    f"{label}_significant_r{suffix}",
                    f"Best-layer r of significant voxels: {label} ({view})",
                    "Drawn on the MNI152 template nilearn ships (the surface sampled from the "
                    "volume): anatomically meaningful when the BOLD is in MNI space. "
                    f"Interactive: {label}_significant_r.html.",
                )
            )
    return "".join(parts)


def write_encoding_html(
    results: EncodingResults, output: str | os.PathLike, files: list[Path], settings: dict
) -> list[Path]:
    """Write ``report.html`` and ``provenance.json`` for an encoding run.

    Parameters
    ----------
    results : EncodingResults
        From :func:`frisson.pipelines.run_encoding`.
    output : path
        The output folder, where the tables and figures already are.
    files : list of Path
        The files written so far (listed in the report).
    settings : dict
        Every setting used (``settings.json``).

    Returns
    -------
    list of Path
        ``provenance.json`` and ``report.html``.

    """
    output = Path(output)
    config = results.config
    extra = [Path(p) for p in (config.mask, config.atlas, config.atlas_labels) if p]
    provenance = collect_provenance(
        inputs=[*input_files(config.study, skip=("derivatives",)), *extra],
        output=output,
        settings=settings,
    )
    record = output / "provenance.json"
    atomic_write(record, lambda p: Path(p).write_text(json.dumps(provenance, indent=2)))
    summary = "\n".join(results.summary().splitlines()[1:-1])  # no absolute paths
    listed = "".join(f"<li>{html.escape(relative_path(p, output))}</li>" for p in [*files, record])
    q = config.fdr_q
    sections: list[Section] = [
        Section("Summary", f"<pre>{html.escape(summary)}</pre>"),
        Section(
            "Layer profiles",
            _figure(
                output,
                "layer_profiles.png",
                "Layer profiles",
                "Held-out Pearson r per layer (nested leave-one-run-out ridge with FIR "
                "delays), mean and 95 % CI over units, folds or participants.",
            )
            + _table(output, "layer_summary.tsv", "Per participant and layer"),
        ),
        Section(
            "Best layers",
            _figure(
                output,
                "best_layers.png",
                "Best layer per unit",
                f"Units per best layer; filled: best layer significant (BH q < {q:g}).",
            )
            + _table(output, "best_layers.tsv", "Per unit"),
        ),
    ]
    maps = _maps(results, output)
    if maps:
        sections.append(Section("Maps", maps))
    sections += [
        Section("Data quality", _quality(results, output), anchor="data-quality"),
        Section(
            "Provenance",
            provenance_html(provenance)
            + f"<details><summary><b>Files written</b></summary><ul>{listed}"
            "<li>report.html</li></ul></details>",
            open=False,
        ),
    ]
    intro = (
        f"<p>Study <code>{html.escape(relative_path(config.study, output))}</code>; encoder "
        f"<b>{html.escape(config.encoder)}</b>, {len(results.layers)} layers; target "
        f"<b>{html.escape(config.target)}</b>. Tables sort by a click on a header.</p>"
    )
    page = page_html(f"frisson encoding report: {Path(config.study).name}", sections, intro=intro)
    report = output / "report.html"
    atomic_write(report, lambda p: Path(p).write_text(page))
    return [record, report]
