"""Long audio: time and peak memory of ``analyze_song`` (mel encoder, features included).

For each duration a mono 16-bit WAV at 44.1 kHz is written in blocks (a section-
structured tone plus noise), then analysed in a fresh subprocess, as
``frisson analyze --encoder mel`` would: the peak memory is that process' maximum
resident set size (``resource.getrusage``), the time its wall-clock time for
``analyze_song`` (the imports excluded), and its CPU time (user + system, the
better measure on a shared machine: one thread, so wall = CPU when the machine is
idle). The same file also goes through
librosa's own feature pipeline in another subprocess (what a user would otherwise
run: ``librosa.load``, a mel spectrogram, onset strength, spectral centroid, RMS),
for comparison. Acceptance (issue 12): 60 min in < 2 GB at >= 20x real time.

    .venv/bin/python benchmarks/long_audio.py [--minutes 10 30 60] [--n-surrogates 1000]

Prints a table and writes benchmarks/results/long_audio.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _results import machine, write_results

RATE_HZ = 44100

FRISSON = """
import json, resource, sys, time
import frisson.pipelines.song as song, frisson.features, librosa.feature  # imports not timed
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, cpu_start = time.perf_counter(), cpu()
result = song.analyze_song(sys.argv[1], encoder="mel", n_surrogates=int(sys.argv[2]))
seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
n_features = result.features.n_channels
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak,
                  "n_features": n_features}))
"""

LIBROSA = """
import json, resource, sys, time
import librosa, librosa.feature, librosa.onset
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, cpu_start = time.perf_counter(), cpu()
y, sr = librosa.load(sys.argv[1], sr=None, mono=True)
mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)
centroid = librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=2048, hop_length=512)
rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=512)
seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak}))
"""


def write_long_wav(path: Path, minutes: float, *, block_s: float = 60.0, seed: int = 0) -> Path:
    """A section-structured test signal (pitch and level change every 30 s), written in blocks."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n_total = int(minutes * 60 * RATE_HZ)
    block = int(block_s * RATE_HZ)
    with sf.SoundFile(path, "w", samplerate=RATE_HZ, channels=1, subtype="PCM_16") as handle:
        for start in range(0, n_total, block):
            t = (start + np.arange(min(block, n_total - start))) / RATE_HZ
            section = (t // 30) % 4
            freq = 220.0 * (1 + 0.25 * section)
            level = 0.2 + 0.1 * section
            x = level * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
            handle.write(x.astype(np.float32))
    return path


def _child(code: str, *args: str) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no output"
        return {
            "seconds": float("nan"),
            "cpu_seconds": float("nan"),
            "peak_mb": float("nan"),
            "error": tail,
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    parser.add_argument("--n-surrogates", type=int, default=1000)
    parser.add_argument("--no-librosa", action="store_true", help="Skip the librosa comparison.")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "long_audio.json"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = write_long_wav(Path(tmp) / f"long-{minutes:g}.wav", minutes)
            runs = {
                "frisson analyze_song (mel)": _child(FRISSON, str(path), str(args.n_surrogates))
            }
            if not args.no_librosa:
                runs["librosa features"] = _child(LIBROSA, str(path))
            for what, run in runs.items():
                rows.append(
                    {
                        "what": what,
                        "minutes": minutes,
                        "seconds": run["seconds"],
                        "x_real_time": minutes * 60 / run["seconds"],
                        "cpu_seconds": run["cpu_seconds"],
                        "x_real_time_cpu": minutes * 60 / run["cpu_seconds"],
                        "peak_mb": run["peak_mb"],
                        **({"error": run["error"]} if "error" in run else {}),
                    }
                )
            path.unlink()
    print(
        f"{'what':<30} {'minutes':>8} {'seconds':>9} {'x real time':>12} {'CPU s':>7} "
        f"{'x (CPU)':>8} {'peak MB':>9}"
    )
    for row in rows:
        print(
            f"{row['what']:<30} {row['minutes']:>8g} {row['seconds']:>9.1f} "
            f"{row['x_real_time']:>12.1f} {row['cpu_seconds']:>7.1f} "
            f"{row['x_real_time_cpu']:>8.1f} {row['peak_mb']:>9.0f}  {row.get('error', '')}"
        )
    meta = machine(n_surrogates=args.n_surrogates, rate_hz=RATE_HZ, encoder="mel")
    write_results(args.out, meta, rows=rows)


if __name__ == "__main__":
    main()
