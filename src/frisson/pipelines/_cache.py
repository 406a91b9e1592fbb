"""Step results cached on disk in a format that cannot run code (`frisson run`, `frisson encode`).

A step's key hashes everything it depends on (input files' content, settings,
the frisson version); a rerun with the same key reads the entry back instead of
recomputing, and a changed input or setting gives a new key.

An entry is one ``.npz`` file (numpy's zip of ``.npy`` arrays, read with
``allow_pickle=False``) holding the result's arrays plus a JSON description of
the structure around them. Nothing is unpickled: the only types a cache entry
can rebuild are plain JSON values, numpy arrays and scalars, paths, tuples,
:class:`~frisson.timeseries.TimeSeries`, pandas DataFrames of plain columns, and
dataclasses defined in frisson's own modules (rebuilt field by field, without
calling their ``__init__``). A crafted file therefore cannot execute anything;
an entry that fails to read (damaged, foreign, from an older layout) is
recomputed with a warning. Writes are atomic (:mod:`frisson._io`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from frisson._io import atomic_write_bytes
from frisson._logging import logger

__all__ = ["CacheFormatError", "StepCache", "dump_result", "file_key", "load_result"]

T = TypeVar("T")

#: Layout version of an entry; a new layout invalidates old entries.
FORMAT_VERSION = 1
_TREE = "__tree__"


class CacheFormatError(ValueError):
    """A cache entry holds something this format does not rebuild."""


def _version() -> str:
    from frisson import __version__

    return __version__


class StepCache:
    """Step results keyed by a hash of their inputs, stored as ``<step>-<key>.npz``.

    Parameters
    ----------
    folder : Path
        Where entries go (created).

    Examples
    --------
    >>> import tempfile
    >>> cache = StepCache(Path(tempfile.mkdtemp()))
    >>> key = cache.key("square", 3)
    >>> cache.get("square", key, lambda: {"x": np.arange(3) ** 2})["x"].tolist()
    [0, 1, 4]

    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts: Any) -> str:
        """A 20-hex-digit key from JSON-able parts (plus the frisson version and format)."""
        payload = json.dumps([FORMAT_VERSION, _version(), *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def get(self, step: str, key: str, compute: Callable[[], T]) -> T:
        """Read the entry ``<step>-<key>`` back, or compute, store and return it."""
        path = self.folder / f"{step}-{key}.npz"
        if path.exists():
            try:
                value = load_result(path)
                logger.debug("cache hit %s", path.name)
                return value
            except (CacheFormatError, OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                logger.warning("cache entry %s unreadable (%s); recomputing", path, error)
        value = compute()
        atomic_write_bytes(path, dump_result(value))
        return value


def file_key(path: Path) -> str:
    """A file's cache key: the SHA-256 of its content."""
    from frisson.audio import file_sha256

    return file_sha256(path)


# ---------------------------------------------------------------------------- encoding
def dump_result(value: Any) -> bytes:
    """Serialise a result tree to the bytes of an ``.npz`` entry (no pickle).

    Examples
    --------
    >>> load_result(io.BytesIO(dump_result({"r": (1.5, np.ones(2))})))["r"][1].tolist()
    [1.0, 1.0]

    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(value, arrays)
    arrays[_TREE] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_result(source: str | Path | io.BytesIO) -> Any:
    """Rebuild a result tree written by :func:`dump_result`; never unpickles."""
    with np.load(source, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    if _TREE not in arrays:
        raise CacheFormatError("no structure record")
    tree = json.loads(arrays.pop(_TREE).tobytes().decode())
    return _decode(tree, arrays)


def _store(array: np.ndarray, arrays: dict[str, np.ndarray]) -> str:
    if array.dtype.hasobject:
        raise CacheFormatError(f"object arrays are not cached (dtype {array.dtype})")
    name = f"a{len(arrays)}"
    arrays[name] = array
    return name


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    from frisson.timeseries import TimeSeries

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) and not isinstance(value, np.generic):
        return value if not isinstance(value, float) or np.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, np.generic):
        return {"$s": _store(np.asarray(value), arrays)}
    if isinstance(value, np.ndarray):
        return {"$a": _store(value, arrays)}
    if isinstance(value, Path):
        return {"$p": str(value)}
    if isinstance(value, tuple):
        return {"$t": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"$d": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, TimeSeries):
        return {
            "$ts": {
                "values": _store(value.values, arrays),
                "rate_hz": value.rate_hz,
                "start_s": value.start_s,
                "names": list(value.names),
                "units": None if value.units is None else list(value.units),
            }
        }
    if _is_frame(value):
        return {"$df": _encode_frame(value, arrays)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("frisson."):
            raise CacheFormatError(f"{cls.__module__}.{cls.__qualname__} is not a frisson type")
        state = {f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)}
        return {"$dc": f"{cls.__module__}:{cls.__qualname__}", "fields": state}
    raise CacheFormatError(f"cannot cache a {type(value).__name__}")


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def _encode_frame(frame, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    columns = []
    for name in frame.columns:
        column = frame[name].to_numpy()
        if column.dtype.hasobject:  # strings, None, mixed: as JSON values
            columns.append([str(name), {"$l": [_encode(_plain(v), arrays) for v in column]}])
        else:
            columns.append([str(name), {"$a": _store(column, arrays)}])
    return {"columns": columns, "n_rows": len(frame)}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise CacheFormatError("unexpected structure record")
    tag = next(iter(node))
    body = node[tag]
    if tag == "$f":
        return float(body)
    if tag == "$s":
        return arrays[body][()]
    if tag == "$a":
        return arrays[body]
    if tag == "$p":
        return Path(body)
    if tag == "$t":
        return tuple(_decode(v, arrays) for v in body)
    if tag == "$d":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in body}
    if tag == "$ts":
        from frisson.timeseries import TimeSeries

        return TimeSeries(
            arrays[body["values"]],
            body["rate_hz"],
            start_s=body["start_s"],
            names=body["names"],
            units=body["units"],
        )
    if tag == "$df":
        import pandas as pd

        data = {name: _decode(column, arrays) for name, column in body["columns"]}
        return pd.DataFrame(data, index=range(body["n_rows"]))
    if tag == "$l":
        return [_decode(v, arrays) for v in body]
    if tag == "$dc":
        return _rebuild_dataclass(body, node.get("fields", {}), arrays)
    raise CacheFormatError(f"unknown tag {tag!r}")


def _rebuild_dataclass(name: str, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("frisson."):
        raise CacheFormatError(f"{name} is not a frisson type")
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise CacheFormatError(f"{name} is not a dataclass")
    expected = {f.name for f in dataclasses.fields(cls)}
    if set(state) != expected:
        raise CacheFormatError(f"{name} has changed fields since the entry was written")
    instance = object.__new__(cls)
    for key, value in state.items():
        object.__setattr__(instance, key, _decode(value, arrays))
    return instance
