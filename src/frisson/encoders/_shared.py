"""What the encoder families share: one model cache, patch starts and torch threads.

Every family loads its network once per process into :data:`MODELS`, keyed by a
tuple that starts with the family (``("musicnn", checkpoint)``,
``("vggish", *file_stamps, device)``, ``("dac", *repo_key(repo_id), device)``,
``("hf", *repo_key(repo_id), device)``) and holds everything that decides the weights.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from frisson._check import check_int
from frisson.encoders._weights import hf_cache_dir, hf_cached_revision

__all__ = ["MODELS", "ModelCache", "patch_starts", "repo_key", "torch_threads"]

T = TypeVar("T")


class ModelCache:
    """Models loaded once per process, shared by every encoder instance and thread.

    Each key has its own lock while its model loads, so one slow load does not
    hold up a different model, and two threads asking for the same key load it once.
    A load that raises stores nothing (the next call tries again).

    Examples
    --------
    >>> cache = ModelCache()
    >>> calls = []
    >>> def load():
    ...     calls.append(1)
    ...     return "net"
    >>> cache.get(("demo", "a"), load), cache.get(("demo", "a"), load), len(calls)
    ('net', 'net', 1)
    >>> cache.keys(), cache.clear("demo"), len(cache)
    ([('demo', 'a')], 1, 0)

    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[Hashable, ...], Any] = {}
        self._loading: dict[tuple[Hashable, ...], threading.Lock] = {}

    def get(self, key: tuple[Hashable, ...], load: Callable[[], T]) -> T:
        """The model under ``key``, calling ``load()`` the first time it is asked for."""
        with self._lock:
            if key in self._items:
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # loaded by another thread while this one waited
                    return self._items[key]
            value = load()
            with self._lock:
                self._items[key] = value
                self._loading.pop(key, None)
            return value

    def keys(self) -> list[tuple[Hashable, ...]]:
        """The keys of the loaded models, in load order."""
        with self._lock:
            return list(self._items)

    def clear(self, family: str | None = None) -> int:
        """Forget the models of one family (its key's first item), or all; how many."""
        with self._lock:
            keys = [k for k in self._items if family is None or k[0] == family]
            for key in keys:
                del self._items[key]
            return len(keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items


#: The one process-wide model cache of every encoder family.
MODELS = ModelCache()


def repo_key(repo_id: str) -> tuple[Hashable, ...]:
    """What identifies a Hugging Face model's files, for :data:`MODELS` keys.

    A local folder: its resolved path and the name, size and modification time of
    each file in it (a model saved again into the same folder gives another key). A
    hub id: the cache folder, the id and the commit the cache resolves it to (a
    fetch of a newer commit, or another ``HF_HUB_CACHE``, gives another key).

    Examples
    --------
    >>> repo_key("frisson-test/not-a-real-repo")[1:]
    ('frisson-test/not-a-real-repo', None)

    """
    path = Path(repo_id).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        stamps = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        return str(path.resolve()), stamps
    return str(hf_cache_dir()), repo_id, hf_cached_revision(repo_id)


def patch_starts(n_frames: int, hop_frames: int, *, patch_frames: int) -> np.ndarray:
    """First frame of each whole patch: ``range(0, n_frames - patch_frames + 1, hop_frames)``.

    Parameters
    ----------
    n_frames : int
        Frames of the input (spectrogram rows).
    hop_frames : int
        Frames between patch starts (at least 1).
    patch_frames : int
        Frames per patch; a trailing partial patch is dropped.

    Returns
    -------
    ndarray of int64, shape (n_patches,)
        Empty when ``n_frames < patch_frames``.

    Examples
    --------
    >>> patch_starts(300, 48, patch_frames=96)
    array([  0,  48,  96, 144, 192])
    >>> patch_starts(95, 48, patch_frames=96).size
    0

    """
    hop_frames = check_int("hop_frames", hop_frames, minimum=1)
    patch_frames = check_int("patch_frames", patch_frames, minimum=1)
    return np.arange(0, max(0, int(n_frames) - patch_frames + 1), hop_frames, dtype=np.int64)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op thread count for a block (None: leave it) and restore it after.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True

    """
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
