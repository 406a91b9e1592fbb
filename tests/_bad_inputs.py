"""Builders of damaged inputs for tests/test_bad_input.py (everything is generated in tmp_path)."""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path

import numpy as np

SR = 8000  # Hz: tiny audio keeps every case fast
# Analysis settings that let a 12-s song through analyze_song (edge + windows <= 12 s).
FAST = ["--encoder", "mel", "--edge", "1", "--variance-window", "2", "--n-surrogates", "19"]


def tone(duration_s: float = 12.0, rate_hz: int = SR, seed: int = 0) -> np.ndarray:
    """A two-section test signal (a tone that changes pitch half-way, plus a little noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    freq = np.where(t < duration_s / 2, 220.0, 330.0)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def write_wav(path: Path, samples: np.ndarray, rate_hz: int = SR, subtype: str = "FLOAT") -> Path:
    import soundfile as sf

    sf.write(path, samples, rate_hz, subtype=subtype)
    return path


def float_wav_bytes(samples: np.ndarray, rate_hz: int = SR) -> bytes:
    """A 32-bit float WAV written by hand, so NaN/inf/huge samples survive unchanged."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate_hz, rate_hz * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------- damaged audio files
def _bytes(content: bytes, suffix: str = ".wav"):
    def build(folder: Path) -> Path:
        path = folder / f"song{suffix}"
        path.write_bytes(content)
        return path

    return build


def _samples(values: np.ndarray):
    return _bytes(float_wav_bytes(values))


def _planted(value: float) -> np.ndarray:
    x = tone()
    x[SR : SR + 10] = value
    return x


def _truncated_header(folder: Path) -> Path:
    path = folder / "song.wav"
    path.write_bytes(float_wav_bytes(tone())[:30])
    return path


def _folder_named_wav(folder: Path) -> Path:
    path = folder / "song.wav"
    path.mkdir()
    (path / "inside.wav").write_bytes(float_wav_bytes(tone()))
    return path


def _missing(folder: Path) -> Path:
    return folder / "nowhere.wav"


def _dangling_link(folder: Path) -> Path:
    path = folder / "song.wav"
    path.symlink_to(folder / "gone.wav")
    return path


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
#: name -> (builder(folder) -> path, fragments the one-line message must hold)
BAD_AUDIO = {
    "empty-wav": (_bytes(b""), ["song.wav", "empty (0 bytes)", "re-export"]),
    "empty-mp3": (_bytes(b"", ".mp3"), ["song.mp3", "empty", "re-copy"]),
    "random-bytes-wav": (_bytes(os.urandom(4000)), ["song.wav", "cannot decode", "ffmpeg"]),
    "random-bytes-mp3": (_bytes(os.urandom(4000), ".mp3"), ["song.mp3", "cannot decode", "ffmpeg"]),
    "random-bytes-flac": (_bytes(os.urandom(4000), ".flac"), ["song.flac", "cannot decode"]),
    "random-bytes-ogg": (_bytes(os.urandom(4000), ".ogg"), ["song.ogg", "cannot decode"]),
    "text-as-wav": (_bytes(b"this is not audio\n" * 50), ["song.wav", "cannot decode"]),
    "png-as-mp3": (_bytes(PNG, ".mp3"), ["song.mp3", "cannot decode", "convert"]),
    "riff-header-only": (_truncated_header, ["song.wav", "re-"]),
    "zero-frames": (_samples(np.zeros(0, np.float32)), ["song.wav", "no audio samples"]),
    "silent": (_samples(np.zeros(12 * SR, np.float32)), ["song.wav", "is silent", "export gain"]),
    "near-silent": (
        _samples(np.full(12 * SR, 1e-6, np.float32)),
        ["song.wav", "is silent", "-120 dBFS"],
    ),
    "too-short": (_samples(tone(0.5)), ["song.wav", "lasts 0.50 s", "longer"]),
    "nan-samples": (_samples(_planted(np.nan)), ["song.wav", "NaN or infinite", "1.000 s"]),
    "inf-samples": (_samples(_planted(np.inf)), ["song.wav", "NaN or infinite", "re-export"]),
    "minus-inf-samples": (_samples(_planted(-np.inf)), ["song.wav", "NaN or infinite"]),
    "folder-named-wav": (_folder_named_wav, ["song.wav", "is a folder"]),
    "missing-file": (_missing, ["nowhere.wav", "not found", "check the path"]),
    "dangling-symlink": (_dangling_link, ["song.wav", "not found"]),
}

HUGE = _planted(1e30)  # finite but absurd: analysed (clipping is the user's business)


# ------------------------------------------------------------------------- configs
def write_toml(folder: Path, text: str, name: str = "study.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


RUN_HEAD = '[run]\nstudy = "study"\noutput = "out"\nencoder = "mel"\n'
ENCODE_HEAD = '[encode]\nstudy = "study"\noutput = "out"\ntarget = "bold"\n'

#: name -> (TOML text or bytes, fragments of the message)
BAD_RUN_CONFIGS = {
    "binary": (b"\x00\x01\x02\xff\xfe\x89PNG", ["study.toml", "binary", "TOML"]),
    "not-toml": ("[run\nstudy = ", ["study.toml", "not valid TOML"]),
    "empty": ("", ["study.toml", "expected a [run] table"]),
    "no-run-table": ('[runs]\nstudy = "s"\n', ["study.toml", "expected a [run] table"]),
    "extra-table": (RUN_HEAD + "[plots]\ndpi = 3\n", ["study.toml", "[run]", "plots"]),
    "unknown-run-key": (
        RUN_HEAD + "epochs = 5\n",
        ["study.toml", "unknown key", "epochs", "valid"],
    ),
    "typo-run-key": (RUN_HEAD + "n_permutation = 5\n", ["n_permutation", "valid"]),
    "unknown-cnn-key": (RUN_HEAD + "[cnn]\nepoch = 5\n", ["study.toml", "[cnn]", "epoch", "valid"]),
    "cnn-not-table": (RUN_HEAD + "cnn = 5\n", ["study.toml", "cnn"]),
    "missing-study": ('[run]\noutput = "out"\n', ["study.toml", "needs study"]),
    "missing-output": ('[run]\nstudy = "s"\n', ["study.toml", "needs output"]),
    "study-not-string": ('[run]\nstudy = 5\noutput = "out"\n', ["study", "path in quotes"]),
    "output-not-string": ('[run]\nstudy = "s"\noutput = [1]\n', ["output", "path in quotes"]),
    "epoch-window-scalar": (RUN_HEAD + "epoch_window_s = 5\n", ["epoch_window_s", "list"]),
    "epoch-window-positive": (
        RUN_HEAD + "epoch_window_s = [1.0, 2.0]\n",
        ["epoch_window_s", "tmin < 0 < tmax"],
    ),
    "epoch-window-three": (
        RUN_HEAD + "epoch_window_s = [-1.0, 2.0, 3.0]\n",
        ["epoch_window_s", "[tmin, tmax]"],
    ),
    "n-permutations-negative": (RUN_HEAD + "n_permutations = -5\n", ["n_permutations", ">= 1"]),
    "n-permutations-zero": (RUN_HEAD + "n_permutations = 0\n", ["n_permutations", ">= 1"]),
    "n-permutations-float": (RUN_HEAD + "n_permutations = 2.5\n", ["n_permutations", "whole"]),
    "n-permutations-string": (RUN_HEAD + 'n_permutations = "many"\n', ["n_permutations"]),
    "n-surrogates-bool": (RUN_HEAD + "n_surrogates = true\n", ["n_surrogates", "whole"]),
    "seed-negative": (RUN_HEAD + "seed = -1\n", ["seed", ">= 0"]),
    "window-frames-zero": (RUN_HEAD + "window_frames = 0\n", ["window_frames", ">= 1"]),
    "hop-frames-list": (RUN_HEAD + "hop_frames = [4]\n", ["hop_frames", "single value"]),
    "rate-negative": (RUN_HEAD + "response_rate_hz = -10.0\n", ["response_rate_hz", "> 0"]),
    "rate-string": (RUN_HEAD + 'response_rate_hz = "fast"\n', ["response_rate_hz", "number"]),
    "isc-hop-zero": (RUN_HEAD + "isc_hop_s = 0.0\n", ["isc_hop_s", "> 0"]),
    "song-folds-one": (RUN_HEAD + "song_folds = 1\n", ["song_folds", ">= 2"]),
    "unknown-analysis": (RUN_HEAD + 'analyses = ["latent", "vibes"]\n', ["vibes", "choose"]),
    "unknown-model": (RUN_HEAD + 'models = ["gpt"]\n', ["models", "choose"]),
    "no-models": (RUN_HEAD + "models = []\n", ["models", "choose"]),
    "missing-fraction-one": (RUN_HEAD + "max_missing_fraction = 1.0\n", ["max_missing_fraction"]),
    "summary-outside-epoch": (
        RUN_HEAD + "summary_window_s = [5.0, 20.0]\n",
        ["summary_window_s", "inside"],
    ),
    "onset-exclude-negative": (RUN_HEAD + "onset_exclude_s = -1.0\n", ["onset_exclude_s"]),
}

BAD_ENCODE_CONFIGS = {
    "binary": (b"\xff\xfe\x00\x00garbage", ["encode.toml", "binary"]),
    "not-toml": ("[encode]\nstudy = = 3\n", ["encode.toml", "not valid TOML"]),
    "run-table": (RUN_HEAD, ["encode.toml", "expected a [encode] table"]),
    "unknown-key": (ENCODE_HEAD + "alpha = 3\n", ["encode.toml", "unknown key", "alpha", "valid"]),
    "missing-study": ('[encode]\noutput = "out"\n', ["encode.toml", "needs study"]),
    "study-number": ('[encode]\nstudy = 1\noutput = "o"\n', ["study", "path in quotes"]),
}


# --------------------------------------------------------------------------- faults
def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def tmp_files(folder: Path) -> list[Path]:
    """Temporary files of frisson._io left anywhere under ``folder``."""
    return [p for p in Path(folder).rglob("*") if p.name.endswith(".tmp")]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }  # fmt: skip


def edit_json(path: Path, **fields) -> None:
    content = json.loads(path.read_text())
    content.update(fields)
    path.write_text(json.dumps(content))
