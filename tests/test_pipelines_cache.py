"""The step cache: results round-trip exactly, and a cache entry can never run code."""

import io
import logging
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest

from frisson.events import PseudoTransitions
from frisson.pipelines._cache import CacheFormatError, StepCache, dump_result, load_result
from frisson.timeseries import TimeSeries


def _roundtrip(value):
    return load_result(io.BytesIO(dump_result(value)))


def test_every_supported_type_round_trips_exactly():
    series = TimeSeries(np.arange(12.0).reshape(6, 2), 10.0, start_s=-0.5, names=["a", "b"])
    frame = pd.DataFrame({"x": [1.5, np.nan], "name": ["u", None], "n": [1, 2]})
    pseudo = PseudoTransitions(
        events_s=np.array([12.0, 30.0]),
        dropped_s=np.array([]),
        controls_s=np.ones((3, 2)),
        span_s=(10.0, 80.0),
        position="uniform",
        seed=4,
    )
    value = {
        "none": None,
        "flag": True,
        "text": "é",
        "int": 3,
        "float": 0.1,
        "inf": float("inf"),
        "scalar": np.float32(2.5),
        "array": np.arange(5, dtype=np.int16),
        "tuple": (1, (2.0, "x")),
        "list": [series, frame],
        ("participant", "song"): pseudo,
        "path": __import__("pathlib").Path("a/b.wav"),
    }
    back = _roundtrip(value)
    assert back["none"] is None and back["flag"] is True and back["text"] == "é"
    assert back["int"] == 3 and back["float"] == 0.1 and back["inf"] == float("inf")
    assert back["scalar"].dtype == np.float32 and back["scalar"] == np.float32(2.5)
    assert back["array"].dtype == np.int16 and back["array"].tolist() == [0, 1, 2, 3, 4]
    assert back["tuple"] == (1, (2.0, "x"))
    ts = back["list"][0]
    np.testing.assert_array_equal(ts.values, series.values)
    assert (ts.rate_hz, ts.start_s, ts.names, ts.units) == (10.0, -0.5, ("a", "b"), None)
    pd.testing.assert_frame_equal(back["list"][1], frame)
    rebuilt = back[("participant", "song")]
    assert isinstance(rebuilt, PseudoTransitions) and rebuilt.span_s == (10.0, 80.0)
    np.testing.assert_array_equal(rebuilt.controls_s, pseudo.controls_s)
    assert str(back["path"]) == "a/b.wav"


def test_foreign_types_are_refused_when_writing():
    from dataclasses import dataclass

    @dataclass
    class Outside:
        x: int

    Outside.__module__ = "somewhere.else"
    with pytest.raises(CacheFormatError, match="not a frisson type"):
        dump_result(Outside(1))
    with pytest.raises(CacheFormatError, match="object arrays"):
        dump_result(np.array([object()], dtype=object))
    with pytest.raises(CacheFormatError, match="cannot cache a set"):
        dump_result({1, 2})


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_crafted_entry_is_recomputed_and_never_executed(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    cache = StepCache(tmp_path / "cache")
    key = cache.key("step", 1)
    entry = tmp_path / "cache" / f"step-{key}.npz"
    # 1. a pickle with a __reduce__ payload under the entry's name
    entry.write_bytes(pickle.dumps(_Payload()))
    with caplog.at_level(logging.WARNING, logger="frisson"):
        assert cache.get("step", key, lambda: {"ok": 1}) == {"ok": 1}
    assert "unreadable" in caplog.text and not (tmp_path / "PWNED").exists()
    # 2. an npz whose arrays are pickled objects
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.frombuffer(b'{"$a": "a0"}', np.uint8), a0=np.array([_Payload()]))
    entry.write_bytes(buffer.getvalue())
    assert cache.get("step", key, lambda: 7) == 7 and not (tmp_path / "PWNED").exists()
    # 3. a structure record naming a class outside frisson
    tree = b'{"$dc": "os:system", "fields": {}}'
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.frombuffer(tree, np.uint8))
    entry.write_bytes(buffer.getvalue())
    assert cache.get("step", key, lambda: 8) == 8
    # ... and each time the recomputed result replaced the bad entry
    assert load_result(entry) == 8
    with zipfile.ZipFile(entry) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


def test_keys_change_with_inputs_and_version(monkeypatch):
    a = StepCache.key("latent", "sha", {"n": 1})
    assert a == StepCache.key("latent", "sha", {"n": 1})
    assert a != StepCache.key("latent", "sha", {"n": 2})
    monkeypatch.setattr("frisson.__version__", "9.9.9")
    assert a != StepCache.key("latent", "sha", {"n": 1})
