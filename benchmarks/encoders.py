"""Speed and peak memory of every encoder family, as multiples of real time, on this machine.

Encodes a generated multi-section piece (default 1 minute) with each encoder and
all its layers: resampling, front end, network, stitching. Encoders whose
weights are not cached run with random weights of the published architecture
(speed does not depend on weight values): DAC, EnCodec, VGGish, MERT-95M and
wav2vec2-base. Each encoder runs in its own process, so its peak resident
memory (``ru_maxrss``) is its own; it runs once to load and warm up, then
``--repeats`` times, and the table gives the best run. For DAC the same process
also times plain ``transformers.DacModel.encode`` on the same audio in one
pass, the reference point frisson's chunked encoder (all layers) is compared
with. Other processes slow the runs down, so the load average is recorded; CPU
seconds of the process (all threads) are reported too.

    .venv/bin/python benchmarks/encoders.py                      # every family, 1 minute
    .venv/bin/python benchmarks/encoders.py --encoders dac-44khz --minutes 3
    .venv/bin/python benchmarks/encoders.py --encoders dac-44khz --minutes 10 --repeats 0
        # 10-minute song: peak memory of one chunked pass (must stay under 4 GiB)

Writes ``benchmarks/results/encoders.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import machine, write_results

ENCODERS = [
    "mel",
    "musicnn-msd",
    "vggish",
    "dac-44khz",
    "encodec-24khz",
    "encodec-48khz",
    "hf:m-a-p/MERT-v1-95M",
    "hf:facebook/wav2vec2-base",
    "hf:laion/clap-htsat-unfused",
]
#: The speed the default encoder must reach on 2 cores (issue 3).
TARGET_X_REAL_TIME = {"musicnn-msd": 60.0}
CODECS = {
    "dac-44khz": "descript/dac_44khz",
    "encodec-24khz": "facebook/encodec_24khz",
    "encodec-48khz": "facebook/encodec_48khz",
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def build_encoder(name: str, scratch: Path):
    """The encoder by name; random weights of the published architecture where none are cached."""
    from frisson.encoders import get_encoder
    from frisson.encoders._weights import hf_is_cached

    if name in CODECS:
        from frisson.encoders import codecs

        repo = CODECS[name]
        if hf_is_cached(repo):
            return get_encoder(name), "cached"
        from transformers import (
            DacFeatureExtractor,
            DacModel,
            EncodecFeatureExtractor,
            EncodecModel,
        )

        config = codecs._published_config(repo)
        folder = scratch / name
        if name.startswith("dac"):
            DacModel(config).save_pretrained(folder)
            extractor = DacFeatureExtractor(
                sampling_rate=config.sampling_rate, hop_length=config.hop_length
            )
            encoder = codecs.DacEncoder(repo_id=str(folder))
        else:
            EncodecModel(config).save_pretrained(folder)
            extractor = EncodecFeatureExtractor(
                feature_size=config.audio_channels,
                sampling_rate=config.sampling_rate,
                chunk_length_s=config.chunk_length_s,
                overlap=config.overlap,
            )
            encoder = codecs.EncodecEncoder(repo_id=str(folder))
        extractor.save_pretrained(folder)
        return encoder, "random (published architecture)"
    if name.startswith("hf:"):
        repo = name[3:]
        if hf_is_cached(repo):
            return get_encoder(name), "cached"
        from transformers import AutoModel

        from frisson.encoders import hf

        folder = scratch / repo.replace("/", "--")
        config = hf._published_config(repo)
        if repo.startswith("laion/clap"):  # the audio tower only: the text tower is never run
            from transformers import ClapAudioModelWithProjection

            ClapAudioModelWithProjection(config.audio_config).save_pretrained(folder)
        else:
            AutoModel.from_config(config).save_pretrained(folder)
        hf._published_feature_extractor(repo).save_pretrained(folder)
        return get_encoder("hf:" + str(folder)), "random (published architecture)"
    if name == "vggish":
        from frisson.encoders import vggish

        if not vggish.VggishEncoder().weights_status()[0]:
            os.environ["FRISSON_HOME"] = str(scratch)
            vggish._save_random_weights(vggish.weights_folder(), seed=0)
            return get_encoder(name), "random (published architecture)"
    return get_encoder(name), "as installed"


def plain_dac(encoder, audio, repeats: int) -> dict:
    """transformers' own DacModel.encode on the same audio, one pass (the reference point)."""
    import torch
    from transformers import DacModel

    from frisson.encoders._weights import load_hf

    model = load_hf(DacModel, encoder.repo_id, fetch_name="dac-44khz").float().eval()
    samples = audio.resample(encoder.input_rate_hz).samples
    x = torch.from_numpy(samples).float()[None, None]
    times, cpu = [], []
    with torch.inference_mode():
        model.encode(x)
        for _ in range(max(repeats, 1)):
            start, start_cpu = time.perf_counter(), time.process_time()
            model.encode(x)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return {
        "best_s": round(min(times), 3),
        "x_real_time_best": round(audio.duration_s / min(times), 2),
        "x_real_time_per_cpu_second": round(audio.duration_s / min(cpu), 2),
    }


def child(name: str, minutes: float, repeats: int) -> dict:
    """Runs in its own process: one encoder, timed, with its peak memory."""
    import torch

    from frisson.simulate import synth_piece

    torch.set_num_threads(os.cpu_count() or 1)
    n_sections = max(2, round(minutes * 60 / 15))
    audio = synth_piece(n_sections=n_sections, section_s=(15.0, 15.0), seed=0).audio
    with tempfile.TemporaryDirectory() as scratch:
        encoder, weights = build_encoder(name, Path(scratch))
        rss_loaded = peak_rss_mb()
        start, start_cpu = time.perf_counter(), time.process_time()
        embedding = encoder.encode(audio)  # loads weights, warms caches
        times = [time.perf_counter() - start]
        cpu = [time.process_time() - start_cpu]
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            embedding = encoder.encode(audio)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        best = min(times[1:] or times)
        result = {
            "encoder": name,
            "weights": weights,
            "audio_s": round(audio.duration_s, 2),
            "n_layers": len(embedding.layers),
            "values_mb": round(sum(s.values.nbytes for s in embedding.layers.values()) / 2**20, 1),
            "best_s": round(best, 3),
            "x_real_time_best": round(audio.duration_s / best, 2),
            "x_real_time_per_cpu_second": round(audio.duration_s / min(cpu[1:] or cpu), 2),
            "peak_rss_mb": round(peak_rss_mb(), 0),
            "rss_before_encoding_mb": round(rss_loaded, 0),
            "load_avg": round(os.getloadavg()[0], 2),
        }
        if name == "dac-44khz":
            result["plain_transformers_dac"] = plain_dac(encoder, audio, repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=ENCODERS)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encoders.json"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.minutes, args.repeats)))
        return
    runs = []
    for name in args.encoders:
        print(f"... {name}", flush=True)
        command = [sys.executable, __file__, "--child", name]
        command += ["--minutes", str(args.minutes), "--repeats", str(args.repeats)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name} failed:\n{done.stderr[-2000:]}")
            continue
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"\n{'encoder':<28} {'weights':<10} {'audio (s)':>9} {'layers':>6} {'x real time':>11} "
        f"{'x per CPU s':>11} {'peak MB':>8} {'load':>5}"
    )
    for run in runs:
        print(
            f"{run['encoder']:<28} {run['weights'].split()[0]:<10} {run['audio_s']:>9.1f} "
            f"{run['n_layers']:>6} {run['x_real_time_best']:>11.2f} "
            f"{run['x_real_time_per_cpu_second']:>11.2f} {run['peak_rss_mb']:>8.0f} "
            f"{run['load_avg']:>5.1f}"
        )
        if "plain_transformers_dac" in run:
            plain = run["plain_transformers_dac"]
            print(
                f"{'  plain DacModel.encode':<28} {'same':<10} {run['audio_s']:>9.1f} {'codes':>6} "
                f"{plain['x_real_time_best']:>11.2f} {plain['x_real_time_per_cpu_second']:>11.2f}"
            )
    for name, target in TARGET_X_REAL_TIME.items():
        for run in runs:
            if run["encoder"] == name:
                verdict = "meets" if run["x_real_time_best"] >= target else "MISSES"
                speed = run["x_real_time_best"]
                print(f"{name}: {speed:.0f}x real time {verdict} the {target:g}x target")
    write_results(args.out, machine(), runs=runs, minutes=args.minutes)


if __name__ == "__main__":
    main()
