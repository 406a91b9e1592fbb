"""Atomic file writes: a killed or failed run never leaves a half-written file.

:func:`atomic_write` writes to a temporary file in the target's folder (same
file system, so the final rename is atomic) and renames it onto the target.
The temporary name is unique per call (process id plus a random suffix,
created with ``O_EXCL``), so several processes finishing the same step at once
each rename a complete file of their own and the last one wins; none crashes
on another's temporary file. The temporary file is created with mode
``0o666`` filtered by the process umask, so the final file has the permissions
any other file written by the process would have. When the writer raises
(a full disk, a bug, Ctrl-C), the temporary file is removed and the target is
left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]

#: Suffix of the temporary files (``.<name>.<pid>.<random>.tmp`` beside the target).
TMP_SUFFIX = ".tmp"


def _create_unique_tmp(path: Path) -> Path:
    """Create an empty, new temporary file beside ``path`` (mode 0o666 & ~umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}{TMP_SUFFIX}")
        try:
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return tmp
    raise FileExistsError(f"{path.parent}: cannot create a unique temporary file for {path.name}.")


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    Parameters
    ----------
    path : str or path-like
        The target file; its folder must exist.
    write : callable
        Called with the temporary file's path (a str, the file exists and is
        empty); must write the whole content to exactly that path.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Concurrent writers of the same target never collide (each has its own
    temporary file; the last rename wins). The final file's mode is
    ``0o666 & ~umask``. If ``write`` raises, the exception propagates, the
    temporary file is removed and ``path`` keeps its previous content.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, lambda p: pathlib.Path(p).write_text("done")).read_text()
    'done'

    """
    path = Path(path)
    tmp = _create_unique_tmp(path)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write_bytes(target, b"abc").read_bytes()
    b'abc'

    """
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_text(target, "abc").read_text()
    'abc'

    """
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding=encoding))
