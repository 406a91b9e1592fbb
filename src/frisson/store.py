"""The embedding store: encoder outputs cached in Zarr, keyed by what determines them.

An embedding is stored under the key (audio SHA-256, encoder name, encoder
configuration, frisson version): the same bytes encoded with the same settings
by the same frisson are computed once, whatever the file is called or where it
lies. The store is a Zarr (v3) hierarchy that any Zarr reader can open::

    STORE/zarr.json                                    root group, attrs {"frisson_store": ...}
    STORE/<encoder>/<config hash>/<version>/<sha256>/  one group per embedding (attrs: config,
                                                       source, duration, ...)
    STORE/<...>/<sha256>/<layer>/                      one float32 array per layer (attrs:
                                                       rate_hz, start_s, names, units)

Writes are atomic. A new embedding is written to a private folder under
``STORE/.tmp/`` and renamed into place in one step; a layer added to an existing
embedding is renamed in the same way. A run that is killed leaves either a
complete entry or none, never half an array (its leftovers in ``.tmp`` are
removed the next time the store is opened on the same machine). Readers see an
entry only once it is complete.

Every layer carries the SHA-256 of its array (little-endian float32 bytes, C
order) in its attributes (``sha256``), written with the array and checked on
every read: a chunk file that was deleted or changed on disk (a bad copy, a
full disk, a sync tool) is detected, :meth:`EmbeddingStore.get` raises a
:class:`~frisson.errors.DataError` naming the layer and the fix, and
:func:`embed` recomputes the damaged layer instead of counting it as stored
(:meth:`EmbeddingStore.damaged_layers` lists them).

:func:`embed` walks files and folders, skips what is stored, keeps going past a
bad file and reports every failure at the end; ``frisson embed`` is its
command line.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from frisson._docs import fill_doc
from frisson._logging import logger, progress_enabled
from frisson.audio import AUDIO_SUFFIXES  # re-exported: the suffixes embed walks folders for
from frisson.distributed import map_tasks
from frisson.encoders._base import Embedding, Encoder, resolve_layers
from frisson.errors import DataError, FrissonError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "AUDIO_SUFFIXES",
    "EmbedFailure",
    "EmbedReport",
    "EmbeddingStore",
    "StoreEntry",
    "config_hash",
    "embed",
    "find_audio_files",
]

#: Version of the store's layout (stored in the root group's attributes).
STORE_FORMAT = 1
_TMP = ".tmp"


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of an encoder configuration (sorted-key JSON, SHA-256, 16 hex).

    Examples
    --------
    >>> config_hash({"b": 1, "a": 2.0}) == config_hash({"a": 2.0, "b": 1})
    True
    >>> len(config_hash({}))
    16

    """
    try:
        text = json.dumps(dict(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ParameterError(
            f"An encoder config must be JSON-serialisable to key the store ({error}): {config!r}"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _frisson_version() -> str:
    from frisson import __version__

    return __version__


@dataclass(frozen=True)
class StoreEntry:
    """One stored embedding.

    Attributes
    ----------
    path : Path
        Its folder (a Zarr group).
    sha256, encoder, config_hash, frisson_version : str
        The key.
    config : dict
        The encoder configuration.
    source : str
        The file it was first computed from.
    duration_s : float
        Length of the audio.
    layers : tuple of str
        Stored layers.

    """

    path: Path
    sha256: str
    encoder: str
    config_hash: str
    frisson_version: str
    config: dict
    source: str
    duration_s: float
    layers: tuple[str, ...]


class EmbeddingStore:
    """A folder of cached embeddings (see the module notes for layout and atomicity).

    Parameters
    ----------
    root : str or path-like
        The store folder; created if missing. An existing folder must be empty
        or a frisson store.
    version : str, optional
        The frisson version in the keys (default: the running version; older
        versions' entries stay readable by passing theirs).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from frisson.audio import audio_from_array
    >>> from frisson.encoders import get_encoder
    >>> store = EmbeddingStore(tempfile.mkdtemp())
    >>> encoder = get_encoder("mel", n_mels=8)
    >>> audio = audio_from_array(np.random.default_rng(0).standard_normal(22050) * 0.1, 22050)
    >>> store.has(audio.sha256, encoder)
    False
    >>> _ = store.put(encoder.encode(audio), source="noise")
    >>> store.get(audio.sha256, encoder)["logmel"].values.shape
    (87, 8)

    """

    def __init__(self, root: str | os.PathLike, *, version: str | None = None) -> None:
        self.root = Path(root)
        self.version = version or _frisson_version()
        self._open_root()
        self._remove_own_stale_tmp()

    # ------------------------------------------------------------------- layout
    def _open_root(self) -> None:
        import zarr

        marker = self.root / "zarr.json"
        if self.root.exists() and not self.root.is_dir():
            raise DataError(f"{self.root}: is a file, not a store folder; choose a folder.")
        if marker.is_file():
            try:
                attrs = json.loads(marker.read_text())["attributes"]
                attrs["frisson_store"]
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{self.root}: holds a Zarr hierarchy that is not a frisson embedding store "
                    "(no 'frisson_store' attribute); choose another folder."
                ) from None
            return
        if self.root.is_dir() and any(p.name != _TMP for p in self.root.iterdir()):
            raise DataError(
                f"{self.root}: the folder is not empty and not a frisson embedding store; "
                "choose a new or empty folder."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._atomic_group(self.root, {"frisson_store": {"format": STORE_FORMAT}})
        zarr.open_group(self.root, mode="r")  # check it opens

    def _tmp_dir(self) -> Path:
        """A private folder under ``.tmp`` (same file system as the entries: renames are atomic)."""
        base = self.root / _TMP
        path = base / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        for _ in range(10):  # another writer may remove the empty .tmp in between
            base.mkdir(exist_ok=True)
            try:
                path.mkdir()
                return path
            except FileNotFoundError:
                continue
        raise DataError(f"{base}: cannot create a temporary folder; is the store writable?")

    def _done_with(self, tmp: Path) -> None:
        """Remove a private temporary folder, and ``.tmp`` once empty (keeps Zarr tools quiet)."""
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            tmp.parent.rmdir()

    def _remove_own_stale_tmp(self) -> None:
        """Delete leftovers of killed writers on this machine (their process is gone)."""
        base = self.root / _TMP
        if not base.is_dir():
            return
        host = socket.gethostname()
        for path in base.iterdir():
            owner, _, rest = path.name.rpartition("-")[0].rpartition("-")
            if owner != host or not rest.isdigit() or _alive(int(rest)):
                continue
            logger.debug("removing %s, left by a writer that stopped (pid %s)", path, rest)
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()

    def _atomic_group(self, folder: Path, attributes: dict[str, Any]) -> None:
        """Give ``folder`` a Zarr group ``zarr.json`` (written elsewhere, renamed in) if missing."""
        import zarr

        if (folder / "zarr.json").is_file():
            return
        tmp = self._tmp_dir()
        try:
            zarr.open_group(tmp, mode="w", attributes=attributes)
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / "zarr.json").exists():
                os.replace(tmp / "zarr.json", folder / "zarr.json")
        finally:
            self._done_with(tmp)

    def entry_path(self, sha256: str, encoder: str, config: Mapping[str, Any]) -> Path:
        """Folder of the entry for a key (whether or not it exists)."""
        if not (len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
            raise ParameterError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}.")
        if not encoder or "/" in encoder or encoder.startswith("."):
            raise ParameterError(f"Encoder name {encoder!r} cannot name a store folder.")
        return self.root / encoder / config_hash(config) / self.version / sha256

    def _resolve(
        self, encoder: Encoder | str, config: Mapping[str, Any] | None
    ) -> tuple[str, Mapping[str, Any]]:
        if isinstance(encoder, str):
            if config is None:
                raise ParameterError(
                    "Pass the encoder's config with its name, or pass the encoder itself."
                )
            return encoder, config
        if config is not None:
            raise ParameterError("config is taken from the encoder; do not pass both.")
        return encoder.name, encoder.config()

    # ------------------------------------------------------------------ reading
    def stored_layers(
        self, sha256: str, encoder: Encoder | str, config: Mapping[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Layers stored for a key, in storage order (empty if there is no entry)."""
        name, config = self._resolve(encoder, config)
        path = self.entry_path(sha256, name, config)
        if not (path / "zarr.json").is_file():
            return ()
        return tuple(
            sorted(
                p.name
                for p in path.iterdir()
                if p.is_dir() and (p / "zarr.json").is_file() and not p.name.startswith(".")
            )
        )

    def has(
        self,
        sha256: str,
        encoder: Encoder | str,
        config: Mapping[str, Any] | None = None,
        *,
        layers: Sequence[str] | None = None,
    ) -> bool:
        """Whether the key is stored with all ``layers`` (default: the encoder's layers).

        With an encoder name and config (no encoder object) and no ``layers``,
        any stored layer counts.
        """
        stored = set(self.stored_layers(sha256, encoder, config))
        if not stored:
            return False
        if layers is None:
            if isinstance(encoder, str):
                return True
            layers = encoder.layers
        return set(layers) <= stored

    def get(
        self,
        sha256: str,
        encoder: Encoder | str,
        config: Mapping[str, Any] | None = None,
        *,
        layers: Sequence[str] | None = None,
    ) -> Embedding:
        """Read a stored embedding.

        Parameters
        ----------
        sha256 : str
            SHA-256 of the audio (``Audio.sha256`` or :func:`frisson.audio.file_sha256`).
        encoder : Encoder or str
            The encoder, or its registry name together with ``config``.
        config : dict, optional
            The encoder configuration, when ``encoder`` is a name.
        layers : sequence of str, optional
            Layers to read (default all stored).

        Raises
        ------
        DataError
            If the key is not stored, lacks a requested layer, or a layer is
            damaged (unreadable, or its checksum does not match: a chunk file
            was deleted or changed); the message names the layer's folder and
            the command that recomputes it.

        """
        name, config = self._resolve(encoder, config)
        path = self.entry_path(sha256, name, config)
        stored = self.stored_layers(sha256, name, config)
        if not stored:
            raise DataError(
                f"{self.root}: no {name} embedding of audio {sha256[:12]}... with this config "
                f"(hash {config_hash(config)}) and frisson {self.version}; compute it with "
                f"`frisson embed FILE --encoder {name} --store {self.root}`."
            )
        wanted = stored if layers is None else tuple(layers)
        missing = [layer for layer in wanted if layer not in stored]
        if missing:
            raise DataError(
                f"{path}: layer(s) {', '.join(missing)} not stored (stored: {', '.join(stored)}); "
                f"add them with `frisson embed FILE --encoder {name} --layers "
                f"{','.join(missing)} --store {self.root}`."
            )
        group_attrs = self._group_attrs(path, name)
        series = {layer: self._read_layer(path, layer, name) for layer in wanted}
        return Embedding(name, group_attrs["config"], sha256, series)

    def _fix_hint(self, encoder: str) -> str:
        return (
            f"recompute it with `frisson embed FILE --encoder {encoder} --store {self.root}` "
            "(damaged layers are replaced)"
        )

    def _group_attrs(self, path: Path, encoder: str) -> dict[str, Any]:
        """The entry group's attributes, or a DataError when its ``zarr.json`` is damaged."""
        try:
            attrs = json.loads((path / "zarr.json").read_text())["attributes"]
            attrs["config"]
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise DataError(
                f"{path / 'zarr.json'}: the entry's metadata is damaged ({type(error).__name__}: "
                f"{error}); {self._fix_hint(encoder)}."
            ) from None
        return attrs

    def _read_layer(self, path: Path, layer: str, encoder: str) -> TimeSeries:
        """One stored layer, its checksum verified; DataError naming the layer when damaged."""
        import zarr

        where = path / layer
        try:
            array = zarr.open_array(where, mode="r")
            attrs = array.attrs.asdict()
            values = np.asarray(array[...])
            rate_hz, start_s, names = attrs["rate_hz"], attrs["start_s"], attrs["names"]
        except Exception as error:  # zarr/numcodecs raise many types for damaged files
            raise DataError(
                f"{where}: stored layer {layer!r} cannot be read ({type(error).__name__}: "
                f"{error}); {self._fix_hint(encoder)}."
            ) from None
        expected = attrs.get("sha256")
        if expected is None:
            logger.debug("%s: no checksum (written by an older frisson); not verified", where)
        elif _array_sha256(values) != expected:
            raise DataError(
                f"{where}: stored layer {layer!r} is damaged (its SHA-256 does not match the one "
                f"written with it: a chunk file was deleted or changed); {self._fix_hint(encoder)}."
            )
        return TimeSeries(values, rate_hz, start_s=start_s, names=names, units=attrs.get("units"))

    def damaged_layers(
        self,
        sha256: str,
        encoder: Encoder | str,
        config: Mapping[str, Any] | None = None,
        *,
        layers: Sequence[str] | None = None,
    ) -> dict[str, str]:
        """Stored layers that fail their checks, with the reason (empty when all are sound).

        Every requested layer that is stored is read and its checksum compared
        (a deleted or changed chunk file is found); layers that are not stored
        are not listed. When the entry's own metadata is damaged, every stored
        layer is listed.

        Parameters
        ----------
        sha256, encoder, config
            The key, as for :meth:`get`.
        layers : sequence of str, optional
            Layers to check (default all stored).

        Returns
        -------
        dict of str to str
            Layer -> the error :meth:`get` would raise.

        Examples
        --------
        >>> import numpy as np, tempfile
        >>> from frisson.audio import audio_from_array
        >>> from frisson.encoders import get_encoder
        >>> store = EmbeddingStore(tempfile.mkdtemp())
        >>> encoder = get_encoder("mel", n_mels=8)
        >>> audio = audio_from_array(np.random.default_rng(0).standard_normal(22050) * 0.1, 22050)
        >>> _ = store.put(encoder.encode(audio))
        >>> store.damaged_layers(audio.sha256, encoder)
        {}

        """
        name, config = self._resolve(encoder, config)
        path = self.entry_path(sha256, name, config)
        stored = self.stored_layers(sha256, name, config)
        wanted = [layer for layer in (stored if layers is None else layers) if layer in stored]
        try:
            self._group_attrs(path, name)
        except DataError as error:
            return {layer: str(error) for layer in stored}
        damaged = {}
        for layer in wanted:
            try:
                self._read_layer(path, layer, name)
            except DataError as error:
                damaged[layer] = str(error)
        return damaged

    def discard(
        self,
        sha256: str,
        encoder: Encoder | str,
        config: Mapping[str, Any] | None = None,
        *,
        layers: Sequence[str] | None = None,
    ) -> None:
        """Remove stored layers (default: the whole entry), e.g. damaged ones before recomputing.

        Each layer (or the entry) is first renamed into a private temporary
        folder, so readers never see half a removal.
        """
        name, config = self._resolve(encoder, config)
        path = self.entry_path(sha256, name, config)
        targets = [path] if layers is None else [path / layer for layer in layers]
        for target in targets:
            if not target.exists():
                continue
            tmp = self._tmp_dir()
            try:
                target.rename(tmp / "gone")
                logger.info("removed %s from the store", target)
            except FileNotFoundError:
                pass  # another process removed it meanwhile
            finally:
                self._done_with(tmp)

    def entries(self) -> list[StoreEntry]:
        """Every stored embedding (of every version), sorted by path."""
        out = []
        for marker in sorted(self.root.glob("*/*/*/*/zarr.json")):
            path = marker.parent
            if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                continue
            try:
                attrs = json.loads(marker.read_text()).get("attributes", {})
            except (OSError, ValueError, AttributeError) as error:
                logger.warning("%s: damaged entry metadata (%s); listed without it", marker, error)
                attrs = {}
            layers = tuple(sorted(p.name for p in path.iterdir() if (p / "zarr.json").is_file()))
            out.append(
                StoreEntry(
                    path=path,
                    sha256=path.name,
                    encoder=attrs.get("encoder", path.parents[2].name),
                    config_hash=path.parents[1].name,
                    frisson_version=path.parent.name,
                    config=attrs.get("config", {}),
                    source=attrs.get("source", ""),
                    duration_s=float(attrs.get("duration_s") or float("nan")),
                    layers=layers,
                )
            )
        return out

    # ------------------------------------------------------------------ writing
    def put(
        self, embedding: Embedding, *, source: str = "", duration_s: float | None = None
    ) -> Path:
        """Store an embedding's layers (those already stored are left as they are).

        Parameters
        ----------
        embedding : Embedding
            What an encoder returned.
        source : str
            The file it came from (recorded, not part of the key).
        duration_s : float, optional
            Length of the audio (recorded).

        Returns
        -------
        Path
            The entry's folder.

        """
        import zarr

        path = self.entry_path(embedding.source_sha256, embedding.encoder, embedding.config)
        if not (path / "zarr.json").is_file():
            self._ensure_parents(embedding.encoder, embedding.config)
            tmp = self._tmp_dir()
            try:
                group = zarr.open_group(
                    tmp,
                    mode="w",
                    attributes={
                        "sha256": embedding.source_sha256,
                        "encoder": embedding.encoder,
                        "config": dict(embedding.config),
                        "config_hash": config_hash(embedding.config),
                        "frisson_version": self.version,
                        "source": str(source),
                        "duration_s": None if duration_s is None else float(duration_s),
                        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                )
                for layer, series in embedding.layers.items():
                    _write_layer(group, layer, series)
                try:
                    tmp.rename(path)  # atomic: the entry appears complete or not at all
                    logger.debug("stored %s", path)
                    return path
                except OSError:
                    if not (path / "zarr.json").is_file():
                        raise
                    # another writer stored this entry meanwhile: add any layers it lacks
            finally:
                self._done_with(tmp)
        stored = set(
            self.stored_layers(embedding.source_sha256, embedding.encoder, embedding.config)
        )
        for layer, series in embedding.layers.items():
            if layer in stored:
                continue
            tmp = self._tmp_dir()
            try:
                _write_layer(zarr.open_group(tmp, mode="w"), layer, series)
                try:
                    (tmp / layer).rename(path / layer)
                except OSError:
                    if not (path / layer / "zarr.json").is_file():
                        raise
                    # another writer added this layer meanwhile
            finally:
                self._done_with(tmp)
        return path

    def _ensure_parents(self, encoder: str, config: Mapping[str, Any]) -> None:
        top = self.root / encoder
        self._atomic_group(top, {"encoder": encoder})
        configured = top / config_hash(config)
        self._atomic_group(configured, {"encoder": encoder, "config": dict(config)})
        self._atomic_group(configured / self.version, {"frisson_version": self.version})

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.root)!r}, version={self.version!r})"


def _array_sha256(values: np.ndarray) -> str:
    """SHA-256 of an array's little-endian float32 bytes in C order (the layers' checksum)."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f4").tobytes()).hexdigest()


def _write_layer(group, name: str, series: TimeSeries) -> None:
    values = np.ascontiguousarray(series.values, dtype=np.float32)
    rows = max(1, min(values.shape[0], (1 << 22) // (4 * max(1, values.shape[1]))))
    group.create_array(
        name,
        data=values,
        chunks=(rows, values.shape[1]),
        config={"write_empty_chunks": True},  # every chunk on disk: a missing file is damage
        attributes={
            "rate_hz": float(series.rate_hz),
            "start_s": float(series.start_s),
            "names": list(series.names),
            "units": None if series.units is None else list(series.units),
            "sha256": _array_sha256(values),
        },
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------ embed()
@dataclass(frozen=True)
class EmbedFailure:
    """A file :func:`embed` could not encode, and why."""

    path: Path
    error: str


@dataclass(frozen=True)
class EmbedReport:
    """What :func:`embed` did.

    Attributes
    ----------
    store : EmbeddingStore
        Where the embeddings are.
    encoder : str
        Registry name of the encoder.
    config : dict
        Its configuration (part of the key).
    layers : tuple of str
        Layers requested.
    computed, skipped : tuple of Path
        Files encoded now, and files whose embedding was already stored.
    failed : tuple of EmbedFailure
        Files that could not be encoded (missing, unreadable, too short, ...).

    """

    store: EmbeddingStore
    encoder: str
    config: dict
    layers: tuple[str, ...]
    computed: tuple[Path, ...] = ()
    skipped: tuple[Path, ...] = ()
    failed: tuple[EmbedFailure, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> str:
        """One line: counts and the store."""
        total = len(self.computed) + len(self.skipped) + len(self.failed)
        return (
            f"{total} file{'' if total == 1 else 's'}, encoder {self.encoder}: "
            f"{len(self.computed)} computed, "
            f"{len(self.skipped)} already stored, {len(self.failed)} failed; "
            f"store {self.store.root}"
        )


def find_audio_files(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    suffixes: Sequence[str] = AUDIO_SUFFIXES,
) -> tuple[list[Path], list[EmbedFailure]]:
    """Expand files and folders into a sorted list of audio files.

    Files named explicitly are kept whatever their suffix; folders are walked
    recursively for files with one of ``suffixes`` (case-insensitive), hidden
    files and folders skipped. Paths that do not exist become failures.
    Duplicates (the same resolved path) are listed once.

    Returns
    -------
    files : list of Path
        In the order given, each folder's files sorted.
    missing : list of EmbedFailure
        Paths that do not exist, and links in the folders that lead nowhere.

    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    wanted = tuple(s.lower() for s in suffixes)
    files: list[Path] = []
    missing: list[EmbedFailure] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in wanted
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            found = [p for p in candidates if p.is_file()]
            for broken in (p for p in candidates if p.is_symlink() and not p.exists()):
                missing.append(
                    EmbedFailure(
                        broken, f"{broken}: file not found (a broken link); fix or remove it."
                    )
                )
            if not found:
                logger.warning(
                    "%s: no audio files (%s) found in this folder", path, ", ".join(wanted)
                )
        elif path.exists():
            found = [path]
        else:
            missing.append(EmbedFailure(path, f"{path}: file not found; check the path."))
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, missing


@fill_doc
def embed(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    store: str | os.PathLike | EmbeddingStore,
    encoder: str | None = None,
    layers: Sequence[str] | None = None,
    encoder_params: Mapping[str, Any] | None = None,
    progress_bar: bool | None = None,
    scheduler: str | os.PathLike | None = None,
) -> EmbedReport:
    """Encode audio files into the embedding store, skipping what is already there.

    Parameters
    ----------
    paths : path or iterable of paths
        Audio files and folders (walked recursively, see :func:`find_audio_files`).
    store : str, path-like or EmbeddingStore
        The store folder.
    encoder : str, optional
        Registry name (default ``musicnn-msd``, see :func:`frisson.encoders.list_encoders`).
    layers : sequence of str, optional
        Layers to store (default all of the encoder's).
    encoder_params : dict, optional
        Settings passed to :func:`frisson.encoders.get_encoder` (part of the key).
    %(progress_bar)s
    scheduler : str or path-like, optional
        Where files are encoded (:func:`frisson.distributed.check_scheduler`): None
        (the default) here, one after the other; ``local:N``, ``tcp://host:port`` or
        a scheduler file: one task per file on Dask workers, which write into the
        store themselves (the store must be on a file system every worker sees).
        The report and the store are the same either way; the scheduler is not
        part of any key.

    Returns
    -------
    EmbedReport
        Files computed, skipped (already stored) and failed, with the reason.
        A bad file never stops the run; an interrupted run keeps every file
        finished before, and a rerun computes only the rest.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> t = np.arange(22050 * 2) / 22050
    >>> sf.write(folder / "a.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    >>> _ = (folder / "b.wav").write_bytes(b"not audio")
    >>> report = embed(folder, store=folder / "store", encoder="mel")
    >>> len(report.computed), len(report.failed)
    (1, 1)
    >>> len(embed(folder, store=folder / "store", encoder="mel").skipped)
    1

    """
    from frisson.encoders import DEFAULT_ENCODER, get_encoder

    name = encoder or DEFAULT_ENCODER
    enc = get_encoder(name, **dict(encoder_params or {}))
    wanted = resolve_layers(enc, layers)
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    files, failed = find_audio_files(paths)
    computed: list[Path] = []
    skipped: list[Path] = []
    logger.info("embedding %d files with %s into %s", len(files), enc.name, store.root)
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    show = progress_enabled(progress_bar)
    if scheduler is not None:
        params = json.dumps(dict(encoder_params or {}), sort_keys=True)
        task = functools.partial(_embed_task, name=name, params=params, wanted=wanted, store=store)
        _collect(
            files,
            map_tasks(task, files, scheduler, desc=f"embed {enc.name}", progress_bar=show),
            computed,
            skipped,
            failed,
        )
    else:
        bar = tqdm(files, desc=f"embed {enc.name}", unit="file", disable=not show)
        # while the bar is shown, log messages go through tqdm.write and do not break it
        redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
        with redirect:
            _embed_files(bar, enc, wanted, store, computed, skipped, failed)
        bar.close()
    report = EmbedReport(
        store, enc.name, enc.config(), wanted, tuple(computed), tuple(skipped), tuple(failed)
    )
    logger.info("%s", report.summary())
    return report


def _entry_metadata_ok(store: EmbeddingStore, sha256: str, enc: Encoder) -> bool:
    try:
        store._group_attrs(store.entry_path(sha256, enc.name, enc.config()), enc.name)
    except DataError:
        return False
    return True


def _embed_files(bar, enc, wanted, store, computed, skipped, failed) -> None:
    """The loop of :func:`embed`: one file at a time, failures recorded, never raised."""
    for path in bar:
        bar.set_postfix_str(path.name[-40:], refresh=False)
        outcome, message = _embed_one(path, enc, wanted, store)
        if outcome == "computed":
            computed.append(path)
        elif outcome == "skipped":
            skipped.append(path)
        else:
            failed.append(EmbedFailure(path, message))


def _embed_one(path: Path, enc, wanted, store: EmbeddingStore) -> tuple[str, str]:
    """Encode one file into the store: ``("computed" | "skipped" | "failed", message)``."""
    from frisson.audio import file_sha256, load_audio

    try:
        sha256 = file_sha256(path) if path.is_file() else ""
        stored = set(store.stored_layers(sha256, enc)) if sha256 else set()
        damaged = store.damaged_layers(sha256, enc, layers=wanted) if stored else {}
        if damaged:
            for message in damaged.values():
                logger.warning("%s; recomputing it", message.split("; ")[0])
            whole = set(damaged) == stored and not _entry_metadata_ok(store, sha256, enc)
            store.discard(sha256, enc, layers=None if whole else list(damaged))
            stored -= set(damaged)
        todo = [layer for layer in wanted if layer not in stored]
        if not todo:
            logger.debug("%s: already stored", path)
            return "skipped", ""
        audio = load_audio(path)
        embedding = enc.encode(audio, layers=todo)
        store.put(embedding, source=str(path), duration_s=audio.duration_s)
        return "computed", ""
    except FrissonError as error:
        logger.warning("%s", error)
        return "failed", str(error)
    except Exception as error:  # a bug or a library error: record it, go on
        message = f"{path}: {type(error).__name__}: {error}"
        logger.warning("%s", message, exc_info=True)
        return "failed", message


@functools.cache
def _worker_encoder(name: str, params: str) -> Encoder:
    """One encoder per worker process and setting (its model loaded once)."""
    from frisson.encoders import get_encoder

    return get_encoder(name, **json.loads(params))


def _embed_task(path: Path, *, name: str, params: str, wanted, store) -> tuple[str, str]:
    """One file of a distributed :func:`embed`, run on a Dask worker."""
    return _embed_one(path, _worker_encoder(name, params), wanted, store)


def _collect(files, report, computed, skipped, failed) -> None:
    """Sort the outcomes of a distributed :func:`embed` like the serial loop does."""
    lost = {f.index: f.error for f in report.failed}  # a worker died more often than retried
    for index, (path, outcome) in enumerate(zip(files, report.results, strict=True)):
        if index in lost:
            failed.append(EmbedFailure(path, lost[index]))
        elif outcome[0] == "computed":
            computed.append(path)
        elif outcome[0] == "skipped":
            skipped.append(path)
        else:
            failed.append(EmbedFailure(path, outcome[1]))
