"""Where downloaded weights live, and loading them without ever touching the network.

Encoders never download on use: ``frisson fetch NAME``
downloads once, and every later load reads the cache only. With no cache, using an
encoder fails at once with :class:`WeightsNotCachedError`, which names the command to
run and the cache folder.

Two caches:

* frisson's own (``$FRISSON_HOME``, default ``~/.cache/frisson``) for weights that are
  not on the Hugging Face Hub (VGGish's PyTorch port, through ``torch.hub``);
* the Hugging Face cache (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``) for
  transformers models (DAC, EnCodec, ``hf:<repo>``).

A repository id that is an existing local folder (a model saved with
``save_pretrained``) is loaded from that folder, which is how the tests run offline.

Hub downloads and loads take a ``revision`` (a 40-hex commit hash pins the exact
files; a branch such as ``"main"`` follows it). :func:`hf_cached_revision` gives
the commit a cached repository resolves to, for recording in an encoder's
configuration (and so in the embedding store's key).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from frisson.errors import DataError

__all__ = [
    "WeightsNotCachedError",
    "fetch_hf",
    "frisson_home",
    "hf_cache_dir",
    "hf_cached_revision",
    "hf_is_cached",
    "is_local_model",
    "load_hf",
]


class WeightsNotCachedError(DataError):
    """An encoder's weights are neither cached nor a local folder; ``frisson fetch`` them."""


def frisson_home() -> Path:
    """The frisson cache folder: ``$FRISSON_HOME`` or ``~/.cache/frisson``.

    Examples
    --------
    >>> isinstance(frisson_home(), Path)
    True

    """
    env = os.environ.get("FRISSON_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "frisson"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder (``$HF_HUB_CACHE`` or its default), read at call time.

    Examples
    --------
    >>> hf_cache_dir().name
    'hub'

    """
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_local_model(repo_id: str | os.PathLike) -> bool:
    """Whether ``repo_id`` is an existing local folder (a model saved by ``save_pretrained``)."""
    return Path(repo_id).expanduser().is_dir()


_COMMIT = re.compile(r"[0-9a-f]{40}")


def hf_is_cached(repo_id: str, *, revision: str | None = None) -> bool:
    """Whether a hub repository (or a local model folder) can be loaded offline.

    Parameters
    ----------
    repo_id : str
        Hub id or local folder.
    revision : str, optional
        A commit hash or branch (default the hub's default branch).

    Examples
    --------
    >>> hf_is_cached("frisson-test/not-a-real-repo")
    False

    """
    if is_local_model(repo_id):
        return (Path(repo_id).expanduser() / "config.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo_id, "config.json", cache_dir=hf_cache_dir(), revision=revision
    )
    return isinstance(found, str)


def hf_cached_revision(repo_id: str, *, revision: str | None = None) -> str | None:
    """The commit hash a cached hub repository resolves to, or None (not cached, or a folder).

    Parameters
    ----------
    repo_id : str
        Hub id (``"descript/dac_44khz"``).
    revision : str, optional
        A commit hash (returned if that snapshot is cached) or a branch
        (default ``"main"``, read from the cache's ``refs/``).

    Examples
    --------
    >>> hf_cached_revision("frisson-test/not-a-real-repo") is None
    True

    """
    if is_local_model(repo_id):
        return None
    folder = hf_cache_dir() / ("models--" + str(repo_id).replace("/", "--"))
    revision = revision or "main"
    if _COMMIT.fullmatch(revision):
        return revision if (folder / "snapshots" / revision).is_dir() else None
    ref = folder / "refs" / revision
    try:
        commit = ref.read_text().strip()
    except OSError:
        return None
    return commit if _COMMIT.fullmatch(commit) else None


def not_cached_message(what: str, fetch_name: str, cache: Path) -> str:
    """The one message every missing-weights error uses."""
    return (
        f"The weights of {what} are not cached and frisson never downloads while encoding. "
        f"With internet, run `frisson fetch {fetch_name}` once; they are cached in {cache} "
        "(set FRISSON_HOME or HF_HUB_CACHE to move the caches)."
    )


def load_hf(
    loader: Any, repo_id: str, *, fetch_name: str, revision: str | None = None, **kwargs: Any
) -> Any:
    """Call ``loader.from_pretrained(repo_id, local_files_only=True)`` with a clear error.

    Parameters
    ----------
    loader : class
        A transformers class with ``from_pretrained`` (a model or feature extractor).
    repo_id : str
        Hub id (``"descript/dac_44khz"``) or a local folder saved with ``save_pretrained``.
    fetch_name : str
        The name to pass to ``frisson fetch`` (the encoder's registry name).
    revision : str, optional
        Hub commit hash (or branch) to load; ignored for a local folder.
    **kwargs
        Passed on to ``from_pretrained``.

    Raises
    ------
    WeightsNotCachedError
        If the repository is not in the Hugging Face cache and is not a local folder.

    """
    if is_local_model(repo_id):
        source, where = str(Path(repo_id).expanduser()), {}
    else:
        what = repo_id if revision is None else f"{repo_id} at revision {revision}"
        if not hf_is_cached(repo_id, revision=revision):
            raise WeightsNotCachedError(
                not_cached_message(f"{fetch_name!r} ({what})", fetch_name, hf_cache_dir())
            )
        source, where = repo_id, {"cache_dir": hf_cache_dir()}
        if revision is not None:
            where["revision"] = revision
    try:
        return loader.from_pretrained(source, local_files_only=True, **where, **kwargs)
    except OSError as error:
        raise WeightsNotCachedError(
            not_cached_message(f"{fetch_name!r} ({repo_id})", fetch_name, hf_cache_dir())
            + f" Loading said: {error}"
        ) from None


def fetch_hf(
    repo_id: str, *, ignore_patterns: list[str] | None = None, revision: str | None = None
) -> Path:
    """Download a hub repository's files into the Hugging Face cache (needs internet).

    Parameters
    ----------
    repo_id : str
        Hub id, e.g. ``"descript/dac_44khz"``.
    ignore_patterns : list of str, optional
        Files not to download (e.g. ``["*.pt"]`` for a repository that also ships
        the original training checkpoint).
    revision : str, optional
        Commit hash (pins the exact files) or branch; default the hub's default branch.

    Returns
    -------
    Path
        The local snapshot folder.

    """
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, cache_dir=hf_cache_dir(), ignore_patterns=ignore_patterns, revision=revision
        )
        return Path(folder)
    except Exception as error:  # network, auth, unknown repo: one clear message
        raise DataError(
            f"Could not download {repo_id!r} from the Hugging Face Hub ({error}). "
            "Check the id and your internet connection (or HF_TOKEN for gated models)."
        ) from None
