"""A pure-Python reader of TensorFlow checkpoints (the "tensor bundle" format).

A checkpoint with prefix ``P`` is two kinds of files:

``P.index``
    An immutable sorted string table in LevelDB's format: data blocks of
    prefix-compressed key/value entries, an index block pointing at them and a
    48-byte footer ending in the magic number ``0xdb4775248b80fb57``. Every
    block carries a one-byte compression type and a masked CRC-32C. The entry
    with the empty key is a ``BundleHeaderProto`` (number of shards,
    endianness); every other key is a tensor name whose value is a
    ``BundleEntryProto``: dtype, shape, shard, offset, size and the masked
    CRC-32C of the tensor's bytes.
``P.data-SSSSS-of-NNNNN``
    The raw tensors, little-endian, at the offsets the index names.

The reader decodes the protobuf wire format by hand (a dozen fields), checks
the CRC of every index block and of every tensor it returns, and raises
:class:`CheckpointError` naming the file and the fix when anything is off. It
needs neither TensorFlow nor protobuf.

Examples
--------
>>> from frisson.encoders._tf_checkpoint import crc32c, masked_crc32c
>>> hex(crc32c(b"123456789"))  # the CRC-32C check value
'0xe3069283'
>>> hex(masked_crc32c(b""))
'0xa282ead8'

"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frisson.errors import FrissonError

__all__ = ["CheckpointError", "CheckpointReader", "TensorInfo", "crc32c", "masked_crc32c"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5
_MASK_DELTA = 0xA282EAD8

#: TensorFlow ``DataType`` enum values to numpy dtypes (little-endian).
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


class CheckpointError(FrissonError):
    """A TensorFlow checkpoint file is missing, truncated, corrupted or unsupported."""


# ---------------------------------------------------------------------------------- CRC-32C
def _make_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE: list[int] | None = None


def _crc32c_python(data: bytes) -> int:
    """Table-driven CRC-32C (Castagnoli), the fallback when google-crc32c is missing."""
    global _CRC_TABLE
    if _CRC_TABLE is None:
        _CRC_TABLE = _make_crc_table()
    table = _CRC_TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli polynomial) of ``data``, as used by LevelDB and TensorFlow.

    Uses the C implementation of ``google-crc32c`` when installed, else a
    pure-Python table (about 1 MB/s).

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'

    """
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - google-crc32c is a dependency
        return _crc32c_python(bytes(data))
    return int(google_crc32c.value(bytes(data)))


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    """The masked CRC-32C that LevelDB and TensorFlow store: ``rot15(crc) + 0xa282ead8``."""
    return _mask(crc32c(data))


# --------------------------------------------------------------------- protobuf wire format
def _varint(buffer: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buffer):
            raise IndexError("varint runs past the end of the buffer")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(message: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of a protobuf message."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 1:
            value = struct.unpack_from("<Q", message, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            value = bytes(message[pos : pos + length])
            if len(value) != length:
                raise ValueError("length-delimited field runs past the end")
            pos += length
        elif wire == 5:
            value = struct.unpack_from("<I", message, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a checkpoint (a decoded ``BundleEntryProto``).

    Attributes
    ----------
    name : str
        The variable name, e.g. ``"conv2d/kernel"``.
    dtype : numpy.dtype
        Element type (little-endian).
    shape : tuple of int
        Tensor shape, in TensorFlow's order (a conv kernel is ``(kh, kw, in, out)``).
    shard : int
        Index of the ``.data`` file holding the bytes.
    offset, size : int
        Byte range in that file.
    masked_crc32c : int
        Masked CRC-32C of the bytes, as stored.

    """

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    masked_crc32c: int


def _parse_entry(name: str, value: bytes) -> TensorInfo:
    dtype_code = 0
    shape: list[int] = []
    shard = offset = size = crc = 0
    sliced = False
    for number, _, field in _fields(value):
        if number == 1:
            dtype_code = int(field)
        elif number == 2:  # TensorShapeProto
            for sub_number, _, sub in _fields(field):
                if sub_number == 2:  # Dim
                    dim = 0
                    for dim_number, _, dim_value in _fields(sub):
                        if dim_number == 1:
                            dim = _signed64(int(dim_value))
                    shape.append(dim)
                elif sub_number == 3 and sub:
                    raise ValueError(f"tensor {name!r} has an unknown rank")
        elif number == 3:
            shard = int(field)
        elif number == 4:
            offset = _signed64(int(field))
        elif number == 5:
            size = _signed64(int(field))
        elif number == 6:
            crc = int(field)
        elif number == 7:
            sliced = True
    if sliced:
        raise ValueError(f"tensor {name!r} is stored in slices, which this reader does not support")
    if dtype_code not in _DTYPES:
        raise ValueError(f"tensor {name!r} has TensorFlow dtype {dtype_code}, not supported")
    return TensorInfo(name, _DTYPES[dtype_code], tuple(shape), shard, offset, size, crc)


# -------------------------------------------------------------------------------- the reader
class CheckpointReader:
    """Read the tensors of a TensorFlow (>= 1.x, V2 format) checkpoint without TensorFlow.

    Parameters
    ----------
    prefix : str or path-like
        The checkpoint prefix: the path of the ``.index`` file without
        ``.index``. A folder holding files named just ``.index`` and
        ``.data-00000-of-00001`` (as the musicnn wheel ships them) is given as
        the folder path with a trailing separator, or as the folder itself.

    Raises
    ------
    CheckpointError
        If the index is missing, truncated, not a table, fails a block
        checksum, or uses compression or features this reader does not support.

    Examples
    --------
    >>> from importlib.resources import files
    >>> reader = CheckpointReader(files("musicnn") / "MSD_musicnn")  # the wheel's folder
    >>> reader.info("conv2d/kernel").shape
    (7, 38, 1, 204)
    >>> reader.read("conv2d/bias")["conv2d/bias"].dtype
    dtype('float32')

    """

    def __init__(self, prefix: str | os.PathLike) -> None:
        prefix_path = Path(prefix)
        if prefix_path.is_dir():
            prefix_str = str(prefix_path) + os.sep
        else:
            prefix_str = os.fspath(prefix)
        self.prefix = prefix_str
        self.index_path = Path(prefix_str + ".index")
        if not self.index_path.is_file():
            raise CheckpointError(
                f"{self.index_path}: checkpoint index not found; check the prefix (the path of "
                "the .index file without '.index'), or reinstall the package that ships it."
            )
        self._entries, self._num_shards = self._read_index()

    # ----------------------------------------------------------------------- index
    def _fail(self, problem: str) -> CheckpointError:
        return CheckpointError(
            f"{self.index_path}: {problem}; the checkpoint is corrupted or not a TensorFlow "
            "tensor bundle. Fetch it again (`frisson fetch musicnn` re-checks and repairs the "
            "musicnn checkpoints)."
        )

    def _read_block(self, data: bytes, offset: int, size: int, what: str) -> memoryview:
        end = offset + size + _BLOCK_TRAILER_BYTES
        if offset < 0 or end > len(data):
            raise self._fail(f"{what} at bytes {offset}-{end} lies past the end of the file")
        block = memoryview(data)[offset : offset + size]
        compression = data[offset + size]
        stored = struct.unpack_from("<I", data, offset + size + 1)[0]
        actual = masked_crc32c(data[offset : offset + size + 1])
        if stored != actual:
            raise self._fail(
                f"{what} fails its CRC-32C check (stored {stored:#010x}, computed {actual:#010x})"
            )
        if compression != 0:
            raise self._fail(
                f"{what} uses compression type {compression}; only uncompressed tables are read"
            )
        return block

    def _block_entries(self, block: memoryview, what: str) -> Iterator[tuple[bytes, bytes]]:
        if len(block) < 4:
            raise self._fail(f"{what} is shorter than its restart count")
        num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
        limit = len(block) - 4 * (1 + num_restarts)
        if limit < 0:
            raise self._fail(f"{what} has an impossible restart count {num_restarts}")
        pos, key = 0, b""
        while pos < limit:
            shared, pos = _varint(block, pos)
            non_shared, pos = _varint(block, pos)
            value_length, pos = _varint(block, pos)
            if shared > len(key) or pos + non_shared + value_length > limit:
                raise self._fail(f"{what} has a malformed entry at byte {pos}")
            key = key[:shared] + bytes(block[pos : pos + non_shared])
            pos += non_shared
            yield key, bytes(block[pos : pos + value_length])
            pos += value_length

    def _read_index(self) -> tuple[dict[str, TensorInfo], int]:
        data = self.index_path.read_bytes()
        if len(data) < _FOOTER_BYTES:
            raise self._fail(f"the file has {len(data)} bytes, fewer than a table footer")
        footer = data[-_FOOTER_BYTES:]
        low, high = struct.unpack_from("<II", footer, _FOOTER_BYTES - 8)
        if (high << 32) | low != _TABLE_MAGIC:
            raise self._fail("the table footer's magic number is wrong")
        try:
            _, pos = _varint(footer, 0)  # metaindex offset
            _, pos = _varint(footer, pos)  # metaindex size
            index_offset, pos = _varint(footer, pos)
            index_size, pos = _varint(footer, pos)
        except (IndexError, ValueError):
            raise self._fail("the table footer is malformed") from None
        index_block = self._read_block(data, index_offset, index_size, "the index block")
        entries: dict[str, TensorInfo] = {}
        num_shards = None
        for block_number, (_, handle) in enumerate(
            self._block_entries(index_block, "the index block")
        ):
            try:
                offset, pos = _varint(handle, 0)
                size, _ = _varint(handle, pos)
            except (IndexError, ValueError):
                raise self._fail(f"the handle of data block {block_number} is malformed") from None
            what = f"data block {block_number}"
            for key, value in self._block_entries(self._read_block(data, offset, size, what), what):
                try:
                    if key == b"":
                        num_shards, endianness = 1, 0
                        for number, _, field in _fields(value):
                            if number == 1:
                                num_shards = int(field)
                            elif number == 2:
                                endianness = int(field)
                        if endianness != 0:
                            raise ValueError("the bundle is big-endian; only little-endian is read")
                        continue
                    name = key.decode("utf-8")
                    entries[name] = _parse_entry(name, value)
                except (IndexError, ValueError, UnicodeDecodeError) as error:
                    raise self._fail(f"entry {key[:60]!r}: {error}") from None
        if num_shards is None:
            raise self._fail("the bundle header (the entry with the empty key) is missing")
        return entries, num_shards

    # ---------------------------------------------------------------------- tensors
    @property
    def names(self) -> tuple[str, ...]:
        """Names of every tensor in the checkpoint, sorted."""
        return tuple(sorted(self._entries))

    def info(self, name: str) -> TensorInfo:
        """The index entry of one tensor (dtype, shape, shard, offset, size, checksum)."""
        try:
            return self._entries[name]
        except KeyError:
            close = [n for n in self.names if name.split("/")[0] in n][:8]
            hint = f" Similar names: {', '.join(close)}." if close else ""
            raise CheckpointError(
                f"{self.index_path}: no tensor named {name!r} ({len(self._entries)} tensors)."
                + hint
            ) from None

    def data_path(self, shard: int) -> Path:
        """The ``.data`` file of a shard."""
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self._num_shards:05d}")

    def read(self, names: str | list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
        """Read tensors, checking each one's CRC-32C.

        Parameters
        ----------
        names : str or sequence of str
            Tensor names (see :attr:`names`).

        Returns
        -------
        dict of str to ndarray
            Native-endian arrays in TensorFlow's axis order.

        Raises
        ------
        CheckpointError
            If a name is unknown, a ``.data`` file is missing or too short, or
            a tensor's bytes fail their checksum.

        """
        if isinstance(names, str):
            names = [names]
        infos = [self.info(name) for name in names]
        handles: dict[int, object] = {}
        out: dict[str, np.ndarray] = {}
        try:
            for info in infos:
                path = self.data_path(info.shard)
                if info.shard not in handles:
                    if not path.is_file():
                        raise CheckpointError(
                            f"{path}: checkpoint data file not found (named by "
                            f"{self.index_path}); reinstall the checkpoint."
                        )
                    handles[info.shard] = open(path, "rb")  # closed below
                handle = handles[info.shard]
                handle.seek(info.offset)
                raw = handle.read(info.size)
                if len(raw) != info.size:
                    raise CheckpointError(
                        f"{path}: tensor {info.name!r} needs bytes {info.offset}-"
                        f"{info.offset + info.size} but the file ends first; the file is "
                        "truncated, reinstall the checkpoint."
                    )
                actual = masked_crc32c(raw)
                if actual != info.masked_crc32c:
                    raise CheckpointError(
                        f"{path}: tensor {info.name!r} fails its CRC-32C check (stored "
                        f"{info.masked_crc32c:#010x}, computed {actual:#010x}); the file is "
                        "corrupted, reinstall the checkpoint."
                    )
                expected = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
                if expected != info.size:
                    raise CheckpointError(
                        f"{self.index_path}: tensor {info.name!r} of shape {info.shape} and "
                        f"dtype {info.dtype} needs {expected} bytes, the index says {info.size}."
                    )
                array = np.frombuffer(raw, dtype=info.dtype).reshape(info.shape)
                out[info.name] = array.astype(info.dtype.newbyteorder("="), copy=True)
        finally:
            for handle in handles.values():
                handle.close()
        return out
