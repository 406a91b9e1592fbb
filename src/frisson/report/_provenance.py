"""What produced a report: versions, command line, date, input file hashes, settings.

One record per run, written to ``provenance.json`` beside the report and shown
in its *Provenance* section, so that a colleague can tell whether two reports
came from the same inputs, the same code and the same settings.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "collect_provenance",
    "input_files",
    "provenance_html",
    "relative_path",
    "study_problems",
]

#: Packages whose versions decide numbers, listed even if frisson's metadata is missing.
_CORE = ("numpy", "scipy", "scikit-learn", "pandas", "librosa", "torch", "matplotlib")


def study_problems(results) -> list:
    """What ``frisson study validate`` lists for a run's study: carried by the run, or read again.

    ``results`` is a pipeline's results (``config.study`` the study folder); its
    ``problems`` are those the run found, so the study is validated once. A
    study that cannot be read any more gives ``[]`` and a warning.
    """
    from frisson._logging import logger
    from frisson.errors import FrissonError
    from frisson.study import read_study

    problems = getattr(results, "problems", None)
    if problems is not None:
        return list(problems)
    try:
        return read_study(results.config.study).validate()
    except FrissonError as error:
        logger.warning("report: the study's problems could not be listed: %s", error)
        return []


def relative_path(path: str | os.PathLike, start: str | os.PathLike) -> str:
    """``path`` relative to ``start`` (POSIX separators), e.g. ``../study/stimuli/a.wav``.

    Examples
    --------
    >>> relative_path("/data/study/stimuli/a.wav", "/data/results")
    '../study/stimuli/a.wav'

    """
    return Path(os.path.relpath(Path(path).absolute(), Path(start).absolute())).as_posix()


def _dependency_versions() -> dict[str, str]:
    """Installed versions of frisson's declared dependencies (and the core ones)."""
    try:
        required = metadata.requires("frisson") or []
    except metadata.PackageNotFoundError:
        required = []
    names = [
        re.split(r"[\s;<>=!~\[(]", line, maxsplit=1)[0] for line in required if "extra" not in line
    ]
    versions = {}
    for name in sorted({*names, *_CORE}, key=str.lower):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_files(root: str | os.PathLike, *, skip: tuple[str, ...] = ()) -> list[Path]:
    r"""Every file of a study folder (sorted), except folders named in ``skip``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "participants.tsv").write_text("participant_id\\n")
    >>> [p.name for p in input_files(root)]
    ['participants.tsv']

    """
    root = Path(root)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part in skip for part in p.relative_to(root).parts)
    )


def collect_provenance(
    *,
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike,
    settings: dict[str, Any],
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """The provenance record of one run.

    Parameters
    ----------
    inputs : iterable of path
        The input files; each is listed with its size and SHA-256.
    output : path
        The output folder; every path in the record is relative to it.
    settings : dict
        Every setting actually used (JSON-ready).
    argv : list of str, optional
        The command line (default ``sys.argv``; the program is shown by name).

    Returns
    -------
    dict
        ``frisson``, ``python``, ``platform``, ``date_utc``, ``command``,
        ``dependencies`` (name to version), ``inputs`` (``file``, ``bytes``,
        ``sha256``) and ``settings``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("abc")
    >>> record = collect_provenance(inputs=[root / "a.txt"], output=root / "out",
    ...                             settings={"seed": 0}, argv=["/usr/bin/frisson", "run"])
    >>> record["command"], record["inputs"][0]["file"], record["inputs"][0]["sha256"][:8]
    ('frisson run', '../a.txt', 'ba7816bf')

    """
    from frisson import __version__
    from frisson.audio import file_sha256

    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name
    files = []
    for path in inputs:
        path = Path(path)
        files.append(
            {
                "file": relative_path(path, output),
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
            }
        )
    return {
        "frisson": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(argv),
        "dependencies": _dependency_versions(),
        "inputs": files,
        "settings": settings,
    }


def provenance_html(record: dict[str, Any]) -> str:
    """The *Provenance* section's body: versions, command, date, settings, input hashes."""
    import pandas as pd

    from frisson.report._html import table_html

    deps = ", ".join(
        f"{html.escape(k)} {html.escape(v)}" for k, v in record["dependencies"].items()
    )
    inputs = pd.DataFrame(record["inputs"], columns=["file", "bytes", "sha256"])
    settings = html.escape(json.dumps(record["settings"], indent=2, default=str))
    return (
        f"<p>frisson <b>{html.escape(record['frisson'])}</b>, Python "
        f"{html.escape(record['python'])} on {html.escape(record['platform'])}; written "
        f"{html.escape(record['date_utc'])}.</p>"
        f"<p>Command: <code>{html.escape(record['command'])}</code></p>"
        f"<p class='note'>Dependencies: {deps}.</p>"
        f"<details><summary><b>Every setting used</b> (also in settings.json)</summary>"
        f"<pre>{settings}</pre></details>"
        f"<details><summary><b>Input files</b> ({len(inputs)}, SHA-256; paths relative to "
        f"this folder)</summary>{table_html(inputs)}</details>"
        "<p class='note'>The same record is in provenance.json.</p>"
    )
