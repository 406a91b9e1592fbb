import importlib.util
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from frisson.encoders._tf_checkpoint import (
    CheckpointError,
    CheckpointReader,
    _crc32c_python,
    crc32c,
    masked_crc32c,
)
from frisson.encoders.musicnn import checkpoint_path, weights_available
from frisson.errors import FrissonError

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.skipif(
    not weights_available("MSD_musicnn"), reason="needs `frisson fetch musicnn`"
)


def _reference_script():
    path = Path(__file__).parents[1] / "scripts" / "make_musicnn_reference.py"
    spec = importlib.util.spec_from_file_location("make_musicnn_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Known answers: the CRC-32C check value and the iSCSI test vectors (RFC 3720, B.4),
# which LevelDB's crc32c_test.cc also uses.
CRC_VECTORS = [
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize(("data", "expected"), CRC_VECTORS)
def test_crc32c_known_answers_in_c_and_python(data, expected):
    assert crc32c(data) == expected
    assert _crc32c_python(data) == expected


def test_masked_crc_is_leveldbs_rotation_plus_delta():
    crc = crc32c(b"foo")
    expected = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"foo") == expected
    assert masked_crc32c(b"foo") != crc


@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"])
def test_every_tensor_matches_tensorflows_own_reader(model):
    # The reference holds one SHA-256 over every tensor as tf.train's reader returns it.
    meta = json.loads(str(np.load(DATA / "musicnn_reference.npz")["meta"]))
    reader = CheckpointReader(checkpoint_path(model))
    tensors = reader.read(reader.names)
    assert len(tensors) == (150 if "musicnn" in model else 86)
    digest = _reference_script().checkpoint_digest(tensors)
    assert digest == meta["checkpoint_sha256"][model]


def test_entries_describe_shapes_dtypes_and_offsets():
    reader = CheckpointReader(checkpoint_path("MSD_musicnn"))
    info = reader.info("conv2d/kernel")
    assert info.shape == (7, 38, 1, 204) and info.dtype == np.float32
    assert info.size == 7 * 38 * 204 * 4
    assert reader.info("dense/kernel").shape == (1506, 200)
    assert reader.info("batch_normalization_9/moving_variance").shape == (1506,)
    variance = reader.read("batch_normalization_9/moving_variance")[
        "batch_normalization_9/moving_variance"
    ]
    assert (variance > 0).all()
    ends = sorted((i.offset, i.offset + i.size) for i in map(reader.info, reader.names))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))  # no overlap
    assert ends[-1][1] == reader.data_path(0).stat().st_size
    with pytest.raises(CheckpointError, match="no tensor named 'conv2d/kernl'"):
        reader.info("conv2d/kernl")


@pytest.fixture()
def copied(tmp_path):
    source = checkpoint_path("MSD_musicnn")
    target = tmp_path / "ckpt"
    target.mkdir()
    for name in (".index", ".data-00000-of-00001"):
        shutil.copy(source / name, target / name)
    return target


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_tensor_is_caught_and_named(copied):
    reader = CheckpointReader(copied)
    info = reader.info("conv2d/kernel")
    _flip(copied / ".data-00000-of-00001", info.offset + 100)
    with pytest.raises(CheckpointError, match=r"tensor 'conv2d/kernel' fails its CRC-32C check"):
        reader.read("conv2d/kernel")
    with pytest.raises(FrissonError, match="reinstall the checkpoint"):
        reader.read(["dense/bias", "conv2d/kernel"])
    assert reader.read("dense/bias")["dense/bias"].shape == (200,)  # others still read


def test_a_flipped_bit_in_the_index_is_caught(copied):
    _flip(copied / ".index", 200)
    with pytest.raises(CheckpointError, match=r"\.index: data block 0 fails its CRC-32C check"):
        CheckpointReader(copied)


def test_truncated_missing_and_foreign_files(copied, tmp_path):
    reader = CheckpointReader(copied)
    data = copied / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="the file is truncated"):
        reader.read("dense/kernel")
    data.unlink()
    with pytest.raises(CheckpointError, match="checkpoint data file not found"):
        reader.read("dense/kernel")
    (copied / ".index").write_bytes(b"not a table" * 10)
    with pytest.raises(CheckpointError, match="magic number is wrong"):
        CheckpointReader(copied)
    (copied / ".index").write_bytes(b"short")
    with pytest.raises(CheckpointError, match="fewer than a table footer"):
        CheckpointReader(copied)
    with pytest.raises(CheckpointError, match="checkpoint index not found"):
        CheckpointReader(tmp_path / "nowhere" / "model")
