"""Step results cached on disk, keyed by a hash of their inputs (`frisson run`, `frisson encode`).

A step's key hashes everything it depends on (input files' content, settings);
a rerun with the same key reads the pickle back instead of recomputing, and a
changed input or setting gives a new key. Writes are atomic (temporary file,
then rename), so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from frisson._logging import logger

__all__ = ["StepCache", "file_key"]

T = TypeVar("T")


class StepCache:
    """Pickled step results keyed by a hash of their inputs; atomic writes."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts: Any) -> str:
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:20]

    def get(self, step: str, key: str, compute: Callable[[], T]) -> T:
        path = self.folder / f"{step}-{key}.pkl"
        if path.exists():
            try:
                with open(path, "rb") as handle:
                    logger.debug("cache hit %s", path.name)
                    return pickle.load(handle)
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
                logger.warning("cache entry %s unreadable; recomputing", path.name)
        value = compute()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return value


def file_key(path: Path) -> str:
    """A file's cache key: the SHA-256 of its content."""
    from frisson.audio import file_sha256

    return file_sha256(path)
