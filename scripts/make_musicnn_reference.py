"""Reference outputs of the original musicnn (TensorFlow) for frisson's equivalence tests.

Run it with the project's Python::

    .venv/bin/python scripts/make_musicnn_reference.py

It builds a separate, git-ignored virtual environment ``.venv-musicnn-ref/``
(tensorflow-cpu 2.15.1, numpy 1.26.4, librosa 0.11.0 and the musicnn 0.1.0
wheel; Python 3.11), re-runs itself there, and writes
``tests/data/musicnn_reference.npz``. Inside that environment it

1. generates a deterministic, music-like 10 s signal (:func:`music_signal`:
   chords, bass, an arpeggio, kick, snare and hi-hat at 120 bpm; quantised to
   16 bits so every platform rebuilds it bit for bit) and writes it to a
   temporary 22.05 kHz WAV file, so the original's resampling is exercised;
2. runs the original ``musicnn.extractor.extractor`` unchanged on that file for
   all four models, with the original 3 s patches and with
   ``input_overlap=1`` (a hop of 61 frames);
3. rebuilds each model's graph exactly as the extractor does and evaluates it
   patch by patch, to record the intermediate tensors that the extractor
   returns wrongly (it repeats patch 0's ``cnn1``-``cnn3`` and ``penultimate``
   for every patch);
4. checks that the extractor's outputs equal the graph's (and that the
   ``cnn`` bug is what we think it is) and stores selected tensors: the float16
   mel power the original computes, every taggram, penultimate, mean/max pool
   and ``pool5`` in full, and for the big frame-level tensors a fixed spread of
   512 elements per patch, their largest magnitude, their first and last
   frames, and means (accumulated in float64) over channels and over time.

No third-party audio is involved; the signal is generated in code and the
tests regenerate it with :func:`music_signal` (guarded by its SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REF_VENV = ROOT / ".venv-musicnn-ref"
OUT = ROOT / "tests" / "data" / "musicnn_reference.npz"
REQUIREMENTS = [
    "tensorflow-cpu==2.15.1",
    "numpy==1.26.4",
    "librosa==0.11.0",
    "soxr==1.1.0",
    "soundfile==0.14.0",
]
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
SIGNAL_RATE_HZ = 22050
SIGNAL_DURATION_S = 10.0
N_SAMPLED = 512  # elements kept per patch of each large tensor


# ------------------------------------------------------------------------------ the signal
def music_signal(
    rate_hz: int = SIGNAL_RATE_HZ, duration_s: float = SIGNAL_DURATION_S
) -> np.ndarray:
    """A deterministic music-like test signal, float32 in [-1, 1), on the 16-bit grid.

    120 bpm; a I-vi-IV-V-I progression (C, Am, F, G, C; 2 s each) as a bright
    pad of 8-harmonic tones, a plucked bass on the roots, a decaying
    eighth-note arpeggio, kick on beats 1 and 3, snare on 2 and 4 and a hi-hat
    on every eighth. Values are rounded to multiples of 2**-15, so the exact
    samples do not depend on the last bits of ``sin`` or ``exp``.
    """
    n = round(rate_hz * duration_s)
    t = np.arange(n) / rate_hz
    rng = np.random.default_rng(20240607)
    beat_s = 0.5
    chords = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50), (48, 52, 55)]  # MIDI

    def hz(midi: float) -> float:
        return 440.0 * 2.0 ** ((midi - 69) / 12)

    def tone(freq: float, start: float, length: float, decay_s: float, n_harm: int) -> np.ndarray:
        i0, i1 = int(start * rate_hz), min(n, int((start + length) * rate_hz))
        local = t[i0:i1] - start
        env = np.exp(-local / decay_s) * np.minimum(1.0, local / 0.005)
        wave = np.zeros_like(local)
        for h in range(1, n_harm + 1):
            if h * freq < 0.45 * rate_hz:
                wave += np.sin(2 * np.pi * h * freq * local) / h
        out = np.zeros(n)
        out[i0:i1] = env * wave
        return out

    signal = np.zeros(n)
    for c, chord in enumerate(chords):
        start = 2.0 * c
        for note in chord:  # pad, slow decay
            signal += 0.08 * tone(hz(note + 12), start, 2.0, 1.5, 8)
        signal += 0.25 * tone(hz(chord[0] - 12), start, 1.0, 0.35, 5)  # bass on beats 1, 3
        signal += 0.25 * tone(hz(chord[0] - 12), start + 1.0, 1.0, 0.35, 5)
        for k in range(8):  # arpeggio in eighths
            note = chord[k % 3] + 24 + (12 if k >= 6 else 0)
            signal += 0.12 * tone(hz(note), start + k * beat_s / 2, beat_s / 2, 0.12, 4)
    n_beats = int(duration_s / beat_s)
    for b in range(n_beats):
        start = b * beat_s
        i0 = int(start * rate_hz)
        if b % 2 == 0:  # kick: falling sine
            i1 = min(n, i0 + int(0.25 * rate_hz))
            local = t[i0:i1] - start
            phase = 2 * np.pi * (50 * local + 70 * 0.04 * (1 - np.exp(-local / 0.04)))
            signal[i0:i1] += 0.6 * np.sin(phase) * np.exp(-local / 0.12)
        else:  # snare: noise + 185 Hz body
            i1 = min(n, i0 + int(0.2 * rate_hz))
            local = t[i0:i1] - start
            noise = rng.standard_normal(i1 - i0)
            body = np.sin(2 * np.pi * 185 * local)
            signal[i0:i1] += (0.25 * noise + 0.3 * body) * np.exp(-local / 0.06)
    for e in range(2 * n_beats):  # hi-hat: first difference of noise, very short
        i0 = int(e * beat_s / 2 * rate_hz)
        i1 = min(n, i0 + int(0.05 * rate_hz))
        local = t[i0:i1] - e * beat_s / 2
        noise = np.diff(rng.standard_normal(i1 - i0 + 1))
        signal[i0:i1] += 0.08 * noise * np.exp(-local / 0.015)
    signal *= 0.8 / np.max(np.abs(signal))
    quantised = np.clip(np.round(signal * 32768), -32768, 32767).astype(np.int16)
    return quantised.astype(np.float32) / np.float32(32768)


def signal_sha256(samples: np.ndarray) -> str:
    """SHA-256 of the float32 samples' bytes (guards the regenerated test signal)."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype="<f4").tobytes()).hexdigest()


def spread_indices(size: int, count: int = N_SAMPLED) -> np.ndarray:
    """``count`` distinct, well-spread indices into ``range(size)`` (a Weyl sequence), sorted.

    Integer arithmetic only, so every numpy version gives the same indices.
    """
    picked = sorted({(k * 2654435761 + 12345) % size for k in range(4 * count)})
    step = len(picked) / count
    return np.array([picked[int(i * step)] for i in range(count)], dtype=np.int64)


# ------------------------------------------------------------------------ the venv wrapper
def _ensure_venv() -> Path:
    python = REF_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {REF_VENV} (Python 3.11 with TensorFlow 2.15; a few minutes)")
        base = os.environ.get("MUSICNN_REF_PYTHON", "python3.11")
        subprocess.run([base, "-m", "venv", str(REF_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "musicnn==0.1.0"],
            check=True,
        )
    return python


# ------------------------------------------------------------------- inside the TF venv
def _graph_tensors(model: str, wav: str, n_frames: int, hop: int) -> dict[str, np.ndarray]:
    """Evaluate the original graph patch by patch (batch size 1, as the extractor does)."""
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import extractor as original
    from musicnn import models

    labels = config.MTT_LABELS if "MTT" in model else config.MSD_LABELS
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        outputs = models.define_model(x, is_training, model, len(labels))
        taggram = tf.nn.sigmoid(outputs[0])
    if "vgg" in model:
        names = ["taggram", "pool1", "pool2", "pool3", "pool4", "pool5"]
    else:
        names = ["taggram", "timbral", "temporal", "cnn1", "cnn2", "cnn3"]
        names += ["mean_pool", "max_pool", "penultimate"]
    tensors = [taggram, *outputs[1:]]
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(sess, os.path.dirname(original.__file__) + f"/{model}/")
    batch, _ = original.batch_data(wav, n_frames, hop)
    per_patch = [
        sess.run(tensors, feed_dict={x: batch[i : i + 1], is_training: False})
        for i in range(batch.shape[0])
    ]
    sess.close()
    return {
        name: np.concatenate([patch[k] for patch in per_patch], axis=0)
        for k, name in enumerate(names)
    }


def checkpoint_digest(tensors: dict[str, np.ndarray]) -> str:
    """One SHA-256 over every tensor of a checkpoint: names, shapes and float32 bytes, sorted."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        digest.update(f"{name}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _mean(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Mean accumulated in float64, stored as float32."""
    return values.mean(axis=axis, dtype=np.float64).astype(np.float32)


def _checkpoint_hash(model: str) -> str:
    """:func:`checkpoint_digest` of a checkpoint as TensorFlow's own reader returns it."""
    import tensorflow as tf
    from musicnn import extractor as original

    reader = tf.compat.v1.train.NewCheckpointReader(
        os.path.dirname(original.__file__) + f"/{model}/"
    )
    names = reader.get_variable_to_shape_map()
    return checkpoint_digest({name: reader.get_tensor(name) for name in names})


def _inside(out: Path) -> None:
    import librosa
    import soundfile as sf
    import soxr
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn.extractor import batch_data, extractor

    samples = music_signal()
    store: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "signal.wav")
        sf.write(wav, samples, SIGNAL_RATE_HZ, subtype="FLOAT")
        n_frames = 187
        # the original's preprocessing, step by step (batch_data), for the float16 power
        audio, sr = librosa.load(wav, sr=config.SR)
        power = librosa.feature.melspectrogram(
            y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
        ).T
        mel_f16 = power.astype(np.float16)
        batch, audio_rep = batch_data(wav, n_frames, n_frames)
        assert np.array_equal(np.log10(10000 * mel_f16 + 1), audio_rep)
        assert audio_rep.dtype == np.float32, audio_rep.dtype  # numpy 1.x: float32 arithmetic
        store["mel_f16"] = mel_f16
        store["resampled_16k"] = audio.astype("<f4")  # tests compare it with a tolerance
        store["resampled_16k_sha256"] = np.array(signal_sha256(audio))
        store["logmel_sha256"] = np.array(signal_sha256(audio_rep))
        meta = {
            "signal": {"rate_hz": SIGNAL_RATE_HZ, "duration_s": SIGNAL_DURATION_S},
            "signal_sha256": signal_sha256(samples),
            "n_frames_spectrogram": int(audio_rep.shape[0]),
            "n_patches": int(batch.shape[0]),
            "patch_frames": n_frames,
            "n_sampled": N_SAMPLED,
            "versions": {
                "python": sys.version.split()[0],
                "tensorflow": tf.__version__,
                "numpy": np.__version__,
                "librosa": librosa.__version__,
                "soxr": soxr.__version__,
                "soundfile": sf.__version__,
                "musicnn": "0.1.0",
            },
            "checks": {},
            "checkpoint_sha256": {},
        }
        for model in MODELS:
            print(f"{model}: checkpoint, extractor and graph")
            meta["checkpoint_sha256"][model] = _checkpoint_hash(model)
            taggram, _, features = extractor(wav, model=model, input_length=3)
            store[f"{model}.taggram"] = taggram.astype(np.float32)
            overlapped = extractor(wav, model=model, input_length=3, input_overlap=1)[0]
            store[f"{model}.taggram_hop61"] = overlapped.astype(np.float32)
            graph = _graph_tensors(model, wav, n_frames, n_frames)
            np.testing.assert_array_equal(graph["taggram"], taggram)
            checks = meta["checks"].setdefault(model, {})
            n_patches = taggram.shape[0]
            if "vgg" in model:
                for name in ("pool1", "pool2", "pool3", "pool4", "pool5"):
                    # the extractor squeezes each patch, then concatenates along time
                    expected = graph[name].reshape(features[name].shape)
                    np.testing.assert_array_equal(features[name], expected)
                store[f"{model}.pool5"] = graph["pool5"]
                for name in ("pool1", "pool2", "pool3", "pool4"):
                    full = graph[name]  # (patch, time, freq, channel)
                    flat = full.reshape(n_patches, -1)
                    store[f"{model}.{name}.sample"] = flat[:, spread_indices(flat.shape[1])]
                    store[f"{model}.{name}.absmax"] = np.abs(flat).max(axis=1)
                    store[f"{model}.{name}.channel_mean"] = _mean(full, (1, 2))
                    store[f"{model}.{name}.step_mean"] = _mean(full, (2, 3))
            else:
                for name in ("timbral", "temporal", "mean_pool", "max_pool"):
                    expected = graph[name].reshape(-1, graph[name].shape[-1])
                    np.testing.assert_array_equal(features[name], expected)
                # the extractor's bug: cnn1-3 and penultimate of patch 0 repeated for every patch
                for name in ("cnn1", "cnn2", "cnn3", "penultimate"):
                    patches = graph[name].reshape(n_patches, -1)
                    got = features[name].reshape(n_patches, -1)
                    np.testing.assert_array_equal(got, np.repeat(patches[:1], n_patches, axis=0))
                    checks[f"extractor_{name}_repeats_patch0"] = bool(
                        not np.array_equal(got[1], patches[1])
                    )
                for name in ("mean_pool", "max_pool", "penultimate"):
                    store[f"{model}.{name}"] = graph[name]
                for name in ("timbral", "temporal", "cnn1", "cnn2", "cnn3"):
                    full = graph[name].reshape(n_patches, n_frames, -1)  # (patch, frame, channel)
                    flat = full.reshape(n_patches, -1)
                    store[f"{model}.{name}.sample"] = flat[:, spread_indices(flat.shape[1])]
                    store[f"{model}.{name}.absmax"] = np.abs(flat).max(axis=1)
                    store[f"{model}.{name}.edges"] = full[:, [0, -1], :]
                    store[f"{model}.{name}.frame_mean"] = _mean(full, 2)
            checks["extractor_equals_graph"] = True
    store["meta"] = np.array(json.dumps(meta, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **store)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        _inside(args.out)
        return
    python = _ensure_venv()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    subprocess.run(
        [str(python), __file__, "--inside", "--out", str(args.out.resolve())], check=True, env=env
    )


if __name__ == "__main__":
    main()
