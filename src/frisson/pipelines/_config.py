"""The one reader of run configurations (TOML files of ``frisson run`` and ``frisson encode``).

A configuration is a dataclass of settings; its TOML file has one main table
(``[run]``, ``[encode]``) whose keys are the dataclass' fields, plus optional
sub-tables that fill dict-valued fields (``[encoder_params]``, ``[cnn]``).
:func:`read_config` checks every key before any work starts (a typo in the last
table must not surface after an hour of encoding), makes paths relative to the
file, and turns every problem into one :class:`~frisson.errors.DataError` line
naming the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from frisson._logging import logger
from frisson.errors import DataError, ParameterError

__all__ = ["check_output_folder", "log_study_problems", "read_config"]

C = TypeVar("C")

#: The file frisson writes into every output folder it owns.
OUTPUT_MARKER = ".frisson-output"


def read_config(
    path: str | os.PathLike,
    cls: type[C],
    *,
    table: str,
    sub_tables: dict[str, dict[str, Any] | None] | None = None,
    path_keys: tuple[str, ...] = ("study", "output"),
    required: tuple[str, ...] = ("study", "output"),
) -> C:
    r"""Read ``[table]`` of a TOML file into the dataclass ``cls`` and call its ``check()``.

    Parameters
    ----------
    path : path
        The TOML file.
    cls : dataclass type
        The settings class; every key of ``[table]`` must be one of its fields.
    table : str
        The main table's name.
    sub_tables : dict of str to (dict or None), optional
        Optional tables that fill the dict-valued field of the same name; the
        value lists the keys the table may hold (None: any key, checked later by
        whoever uses them).
    path_keys : tuple of str
        Keys whose values are paths relative to the TOML file.
    required : tuple of str
        Keys that must be present.

    Returns
    -------
    An instance of ``cls``.

    Raises
    ------
    DataError
        If the file is missing, binary, not TOML, has unknown tables or keys,
        values of the wrong type, or settings that ``cls.check()`` refuses.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Settings:
    ...     study: pathlib.Path
    ...     output: pathlib.Path
    ...     seed: int = 0
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.toml").write_text('[run]\nstudy = "data"\noutput = "out"\nseed = 3\n')
    >>> read_config(folder / "a.toml", Settings, table="run").seed
    3

    """
    path = Path(path)
    sub_tables = dict(sub_tables or {})
    raw = _read_toml(path)
    allowed = {table, *sub_tables}
    if table not in raw or set(raw) - allowed:
        extra = ", ".join(f"[{name}]" for name in sub_tables)
        raise DataError(
            f"{path}: expected a [{table}] table{f' (and optionally {extra})' if extra else ''}; "
            f"found {sorted(raw)}."
        )
    settings = dict(raw[table])
    hints = {f.name: _type_text(f.type) for f in dataclasses.fields(cls)}
    valid = {f.name for f in dataclasses.fields(cls)} - set(sub_tables)
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise DataError(f"{path}: unknown key(s) {unknown} in [{table}]; valid: {sorted(valid)}.")
    for key in required:
        if key not in settings:
            raise DataError(f'{path}: [{table}] needs {key} = "<folder>".')
    for key in path_keys:
        if key in settings:
            if not isinstance(settings[key], str):
                raise DataError(f"{path}: [{table}] {key} must be a path in quotes.")
            settings[key] = (path.parent / settings[key]).resolve()
    for key, value in list(settings.items()):
        settings[key] = _coerce(path, table, key, value, hints.get(key))
    for name, keys in sub_tables.items():
        content = raw.get(name, {})
        if not isinstance(content, dict):
            raise DataError(f"{path}: [{name}] must be a table.")
        if keys is not None:
            bad = sorted(set(content) - set(keys))
            if bad:
                raise DataError(f"{path}: unknown key(s) {bad} in [{name}]; valid: {sorted(keys)}.")
        settings[name] = content
    try:
        config = cls(**settings)
        check = getattr(config, "check", None)
        if check is not None:
            check()
    except (ParameterError, TypeError) as error:
        raise DataError(f"{path}: {error}") from None
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DataError(f"{path}: configuration file not found.")
    if not path.is_file():
        raise DataError(f"{path}: not a file; give the path of a .toml configuration.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (binary bytes); give a TOML file.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: not valid TOML ({error}).") from None


def _type_text(annotation: Any) -> str:
    """A field's annotation as text (``"int"``, ``"tuple[float, float]"``), resolved or not."""
    if isinstance(annotation, str):
        return annotation
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _coerce(path: Path, table: str, key: str, value: Any, text: str | None) -> Any:
    """TOML arrays become tuples where the field is a tuple; plain type mismatches are refused."""
    text = text or ""
    tuple_field = "tuple" in text
    if isinstance(value, list):
        if not tuple_field:
            raise DataError(f"{path}: [{table}] {key} = {value!r} must be a single value.")
        return tuple(value)
    if tuple_field and text.startswith("tuple") and "| str" not in text:
        if isinstance(value, str) and "str" in text:
            return (value,)  # analyses = "cnn" means ["cnn"]
        raise DataError(f"{path}: [{table}] {key} = {value!r} must be a list, e.g. [-2.0, 8.0].")
    if text == "bool" and not isinstance(value, bool):
        raise DataError(f"{path}: [{table}] {key} = {value!r} must be true or false.")
    if text == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise DataError(f"{path}: [{table}] {key} = {value!r} must be a whole number.")
    if text == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise DataError(f"{path}: [{table}] {key} = {value!r} must be a number.")
    return value


def check_output_folder(output: Path, *, overwrite: bool = False) -> None:
    """Refuse an output folder frisson did not write, then mark it as frisson's.

    An existing folder that is not empty and has no :data:`OUTPUT_MARKER` was
    written by someone else (a study, a home folder): writing tables, figures and
    a cache into it could overwrite their files. ``overwrite=True`` allows it.

    Parameters
    ----------
    output : Path
        The output folder.
    overwrite : bool
        Write into a non-empty folder that frisson did not create.

    Raises
    ------
    DataError
        If ``output`` is a file, the file-system root, or a foreign non-empty folder.

    """
    output = Path(output)
    resolved = output.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise DataError(f"output = {output}: refusing to write results there; name a folder.")
    if output.exists() and not output.is_dir():
        raise DataError(f"output = {output}: is a file; name a folder for the results.")
    marker = output / OUTPUT_MARKER
    if output.is_dir() and not marker.exists() and any(output.iterdir()) and not overwrite:
        raise DataError(
            f"output = {output}: the folder is not empty and was not written by frisson; "
            "choose a new folder or pass --overwrite."
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as error:
        raise DataError(f"output = {output}: cannot write there ({error.strerror}).") from None


def log_study_problems(study) -> list:
    """Log every problem ``study.validate()`` finds (info) and a one-line count (warning).

    The same for every pipeline: runs with errors are skipped by the readers;
    ``frisson study validate`` lists the problems. Returns them, for the
    report (so the study is validated once per run).
    """
    problems = study.validate()
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        logger.info("study %s: %s: %s", problem.severity, problem.path, problem.message)
    if problems:
        logger.warning(
            "%s: %d error(s) (affected runs are skipped), %d warning(s); "
            "`frisson study validate` lists them",
            study.root,
            len(errors),
            len(problems) - len(errors),
        )
    return problems
