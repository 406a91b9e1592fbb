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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from frisson.errors import DataError

__all__ = [
    "WeightsNotCachedError",
    "fetch_hf",
    "frisson_home",
    "hf_cache_dir",
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


def hf_is_cached(repo_id: str) -> bool:
    """Whether a hub repository (or a local model folder) can be loaded offline.

    Examples
    --------
    >>> hf_is_cached("frisson-test/not-a-real-repo")
    False

    """
    if is_local_model(repo_id):
        return (Path(repo_id).expanduser() / "config.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=hf_cache_dir())
    return isinstance(found, str)


def not_cached_message(what: str, fetch_name: str, cache: Path) -> str:
    """The one message every missing-weights error uses."""
    return (
        f"The weights of {what} are not cached and frisson never downloads while encoding. "
        f"With internet, run `frisson fetch {fetch_name}` once; they are cached in {cache} "
        "(set FRISSON_HOME or HF_HUB_CACHE to move the caches)."
    )


def load_hf(loader: Any, repo_id: str, *, fetch_name: str, **kwargs: Any) -> Any:
    """Call ``loader.from_pretrained(repo_id, local_files_only=True)`` with a clear error.

    Parameters
    ----------
    loader : class
        A transformers class with ``from_pretrained`` (a model or feature extractor).
    repo_id : str
        Hub id (``"descript/dac_44khz"``) or a local folder saved with ``save_pretrained``.
    fetch_name : str
        The name to pass to ``frisson fetch`` (the encoder's registry name).
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
        if not hf_is_cached(repo_id):
            raise WeightsNotCachedError(
                not_cached_message(f"{fetch_name!r} ({repo_id})", fetch_name, hf_cache_dir())
            )
        source, where = repo_id, {"cache_dir": hf_cache_dir()}
    try:
        return loader.from_pretrained(source, local_files_only=True, **where, **kwargs)
    except OSError as error:
        raise WeightsNotCachedError(
            not_cached_message(f"{fetch_name!r} ({repo_id})", fetch_name, hf_cache_dir())
            + f" Loading said: {error}"
        ) from None


def fetch_hf(repo_id: str, *, ignore_patterns: list[str] | None = None) -> Path:
    """Download a hub repository's files into the Hugging Face cache (needs internet).

    Parameters
    ----------
    repo_id : str
        Hub id, e.g. ``"descript/dac_44khz"``.
    ignore_patterns : list of str, optional
        Files not to download (e.g. ``["*.pt"]`` for a repository that also ships
        the original training checkpoint).

    Returns
    -------
    Path
        The local snapshot folder.

    """
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, cache_dir=hf_cache_dir(), ignore_patterns=ignore_patterns
        )
        return Path(folder)
    except Exception as error:  # network, auth, unknown repo: one clear message
        raise DataError(
            f"Could not download {repo_id!r} from the Hugging Face Hub ({error}). "
            "Check the id and your internet connection (or HF_TOKEN for gated models)."
        ) from None
