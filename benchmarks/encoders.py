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

The codecs (DAC, EnCodec) are timed on their ``z`` layer in every precision:
``fast`` (the default: folded weights, channels-last convolutions, fused Snake,
float32), ``bf16`` (the same with bfloat16 convolutions on AVX-512 BF16 / AMX
CPUs), ``bf16-mixed`` (bfloat16 convolutions around a float32 residual stream,
the first and last layers in float32) and ``exact`` (float32 ``transformers``
modules), and, for DAC and EnCodec
24 kHz, plain ``transformers`` ``Model.encode`` on the whole clip: all in the
same process, interleaved (fast, bf16, bf16-mixed, exact, plain, fast, ...), best of
``--repeats``, so machine load hits them alike. Each fast path's error against
exact float32 is reported for ``latent`` and ``z`` (relative Frobenius norm) and
as the share of frames whose codes are all identical. ``--memory-minutes``
(default 10) encodes a song that long to ``z`` with the fast default in a fresh
process, started first and run alongside the timed ones, and reports its peak
resident memory (``ru_maxrss``, end to end: audio generation, resampling, model,
output); its speed is not a benchmark (it shares the cores). With
``--memory-minutes 0`` the previous results' ``long_song_memory`` is kept.

    .venv/bin/python benchmarks/encoders.py                      # every family, 1 minute
    .venv/bin/python benchmarks/encoders.py --encoders dac-44khz --minutes 3
    .venv/bin/python benchmarks/encoders.py --encoders dac-44khz --minutes 0.5 --repeats 3
        # fast vs exact vs plain transformers, then a 10-minute song's peak memory (< 2 GB)

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
TARGET_X_REAL_TIME = {"musicnn-msd": 60.0, "dac-44khz": 10.0}
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


def _piece(minutes: float):
    from frisson.simulate import synth_piece

    n_sections = max(2, round(minutes * 60 / 15))
    section_s = minutes * 60 / n_sections
    return synth_piece(n_sections=n_sections, section_s=(section_s, section_s), seed=0).audio


def _timed(run) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - start, time.process_time() - start_cpu


def _relative(a, b) -> float | None:
    """Relative Frobenius error; None where the reference is all zeros (EnCodec's random
    weights start with zero codebooks, so its ``z`` is zero in both precisions)."""
    import numpy as np

    norm = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / norm) if norm > 0 else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def plain_model(encoder, audio):
    """transformers' own ``Model.encode`` on the whole clip, one pass (a callable)."""
    import torch

    from frisson.encoders._weights import load_hf

    if encoder.name.startswith("dac"):
        from transformers import DacModel as Model
    else:
        from transformers import EncodecModel as Model
    model = load_hf(Model, encoder.repo_id, fetch_name=encoder.name).float().eval()
    samples = audio.resample(encoder.input_rate_hz).samples
    x = torch.from_numpy(samples).float()[None, None]
    if not encoder.name.startswith("dac"):
        x = x.expand(-1, model.config.audio_channels, -1).contiguous()

    def run() -> None:
        with torch.inference_mode():
            model.encode(x)

    return run


def _errors(got: dict, want: dict) -> dict:
    import numpy as np

    codes_same = np.all(got["codes"].values == want["codes"].values, axis=1)
    return {
        "z": _rounded(_relative(got["z"].values, want["z"].values)),
        "latent": _rounded(_relative(got["latent"].values, want["latent"].values)),
        "frames_with_identical_codes": round(float(codes_same.mean()), 4),
        "codebook_entries_identical": round(
            float((got["codes"].values == want["codes"].values).mean()), 4
        ),
        "frame_times_identical": all(
            got[n].start_s == want[n].start_s and got[n].n_times == want[n].n_times
            for n in ("latent", "z", "codes")
        ),
    }


def codec_child(name: str, minutes: float, repeats: int) -> dict:
    """One codec: fast (float32, the default), bf16, exact and plain transformers, on ``z``.

    All modes run interleaved in this process, so machine load hits them alike.
    """
    import numpy as np
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    audio = _piece(minutes)
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as scratch:
        fast, weights = build_encoder(name, Path(scratch))
        cls = type(fast)
        encoders = {
            "fast": fast,
            "bf16": cls(repo_id=fast.repo_id, precision="bf16", progress_bar=False),
            "bf16-mixed": cls(repo_id=fast.repo_id, precision="bf16-mixed", progress_bar=False),
            "exact": cls(repo_id=fast.repo_id, precision="exact", progress_bar=False),
        }
        fast.progress_bar = False
        plain = plain_model(fast, audio) if name in ("dac-44khz", "encodec-24khz") else None
        runs = {
            mode: (lambda enc=enc: enc.encode(audio, layers=["z"]))
            for mode, enc in encoders.items()
        }
        if plain is not None:
            runs["plain"] = plain
        first, rss_after = {}, {}
        for mode, run in runs.items():  # load, compile and warm up, one at a time
            first[mode] = round(_timed(run)[0], 2)
            rss_after[mode] = round(peak_rss_mb(), 0)
        best = {mode: (float("inf"), float("inf")) for mode in runs}
        for _ in range(max(repeats, 1)):  # interleaved: load hits every mode alike
            for mode, run in runs.items():
                wall, cpu = _timed(run)
                best[mode] = (min(best[mode][0], wall), min(best[mode][1], cpu))
                load.append(os.getloadavg()[0])
        layers = ["latent", "z", "codes"]
        outputs = {mode: enc.encode(audio, layers=layers) for mode, enc in encoders.items()}
        keys = {mode: enc.config()["precision"] for mode, enc in encoders.items()}  # folder kept

    def speed(mode: str) -> dict:
        wall, cpu = best[mode]
        return {
            "best_s": round(wall, 3),
            "x_real_time_best": round(audio.duration_s / wall, 2),
            "cpu_s_best": round(cpu, 3),
            "x_real_time_per_cpu_second": round(audio.duration_s / cpu, 2),
            "first_run_s": first[mode],
        }

    result = {
        "encoder": name,
        "weights": weights,
        "layers_timed": ["z"],
        "audio_s": round(audio.duration_s, 2),
        "compute_dtype": fast.compute_dtype,
        "fast": speed("fast"),
        **{
            mode.replace("-", "_"): {
                **speed(mode),
                "compute_dtype": keys[mode],
                "relative_error_vs_fp32": _errors(outputs[mode], outputs["exact"]),
            }
            for mode in ("bf16", "bf16-mixed")
        },
        "exact": speed("exact"),
        "x_real_time_best": speed("fast")["x_real_time_best"],
        "x_real_time_per_cpu_second": speed("fast")["x_real_time_per_cpu_second"],
        "fast_over_exact": round(best["exact"][0] / best["fast"][0], 2),
        "bf16_over_exact": round(best["exact"][0] / best["bf16"][0], 2),
        "bf16_mixed_over_exact": round(best["exact"][0] / best["bf16-mixed"][0], 2),
        "relative_error_vs_fp32": _errors(outputs["fast"], outputs["exact"]),
        "peak_rss_mb_after": rss_after,
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "load_avg": round(float(np.mean(load)), 2),
        "load_avg_max": round(max(load), 2),
        "torch_threads": torch.get_num_threads(),
    }
    if plain is not None:
        key = "plain_transformers_dac" if name.startswith("dac") else "plain_transformers"
        result[key] = speed("plain")
        result["fast_over_plain"] = round(best["plain"][0] / best["fast"][0], 2)
        result["bf16_over_plain"] = round(best["plain"][0] / best["bf16"][0], 2)
        result["bf16_mixed_over_plain"] = round(best["plain"][0] / best["bf16-mixed"][0], 2)
    return result


def memory_child(name: str, minutes: float) -> dict:
    """A song of ``minutes`` to ``z`` with the fast default, end to end, in a fresh process."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rss_start = peak_rss_mb()
    audio = _piece(minutes)
    with tempfile.TemporaryDirectory() as scratch:
        encoder, _ = build_encoder(name, Path(scratch))
        encoder.progress_bar = False
        wall, cpu = _timed(lambda: encoder.encode(audio, layers=["z"]))
    return {
        "encoder": name,
        "audio_s": round(audio.duration_s, 2),
        "layers": ["z"],
        "precision": encoder.precision,
        "compute_dtype": encoder.compute_dtype,
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "rss_at_start_mb": round(rss_start, 0),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "x_real_time": round(audio.duration_s / wall, 2),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def child(name: str, minutes: float, repeats: int) -> dict:
    """Runs in its own process: one encoder, timed, with its peak memory."""
    import torch

    if name in CODECS:
        return codec_child(name, minutes, repeats)
    torch.set_num_threads(os.cpu_count() or 1)
    audio = _piece(minutes)
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
        if name == "vggish":  # the opt-in bf16 network, timed the same way, and its error
            result["bf16"] = vggish_bf16(audio, embedding, repeats)
    return result


def vggish_bf16(audio, reference, repeats: int) -> dict:
    """VGGish with ``precision="bf16"``: all layers (best of ``repeats``), ``embedding`` alone,
    and each layer's relative error against the float32 ``reference`` embedding."""
    from frisson.encoders.vggish import VggishEncoder

    encoder = VggishEncoder(precision="bf16", progress_bar=False)
    low = encoder.encode(audio)  # warm-up
    speeds = {}
    for layers in (None, ["embedding"]):
        best = (float("inf"), float("inf"))
        fp32 = (float("inf"), float("inf"))
        for _ in range(max(repeats, 1)):  # interleaved with float32 for the same load
            for which, enc in (("bf16", encoder), ("fp32", VggishEncoder(progress_bar=False))):
                wall, cpu = _timed(lambda enc=enc, wanted=layers: enc.encode(audio, layers=wanted))
                if which == "bf16":
                    best = (min(best[0], wall), min(best[1], cpu))
                else:
                    fp32 = (min(fp32[0], wall), min(fp32[1], cpu))
        speeds["all_layers" if layers is None else "embedding_only"] = {
            "x_real_time_best": round(audio.duration_s / best[0], 2),
            "x_real_time_per_cpu_second": round(audio.duration_s / best[1], 2),
            "fp32_x_real_time_best": round(audio.duration_s / fp32[0], 2),
            "fp32_x_real_time_per_cpu_second": round(audio.duration_s / fp32[1], 2),
            "cpu_s_fp32_over_bf16": round(fp32[1] / best[1], 2),
        }
    errors = {
        name: _rounded(_relative(low[name].values, reference[name].values))
        for name in reference.layers
    }
    return {
        "compute_dtype": encoder.compute_dtype,
        **speeds,
        "relative_error_vs_fp32": errors,
        "max_relative_error": max(v for v in errors.values() if v is not None),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=ENCODERS)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="0: skip")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encoders.json"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.minutes, args.repeats)))
        return
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.memory_minutes)))
        return
    long_song = None  # its own process, alongside the timed ones (memory is what it measures)
    if args.memory_minutes > 0 and "dac-44khz" in args.encoders:
        print(f"... dac-44khz, {args.memory_minutes:g} minutes to z (peak memory)", flush=True)
        command = [sys.executable, __file__, "--memory-child", "dac-44khz"]
        command += ["--memory-minutes", str(args.memory_minutes)]
        long_song = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runs = []
    for name in args.encoders:
        print(f"... {name}", flush=True)
        command = [sys.executable, __file__, "--child", name]
        command += ["--minutes", str(args.minutes), "--repeats", str(args.repeats)]
        run = _run_child(name, command)
        if run is not None:
            runs.append(run)
    memory = None
    if long_song is not None:
        out, err = long_song.communicate()
        if long_song.returncode == 0:
            memory = json.loads(out.decode().strip().splitlines()[-1])
        else:
            print(f"long song failed:\n{err.decode()[-2000:]}")
    elif args.memory_minutes <= 0 and args.out.is_file():  # not measured this time: keep it
        memory = json.loads(args.out.read_text()).get("long_song_memory")
    _print_table(runs, memory)
    write_results(
        args.out, machine(), runs=runs, minutes=args.minutes, repeats=args.repeats,
        long_song_memory=memory,
    )  # fmt: skip


def _run_child(name: str, command: list[str]) -> dict | None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{name} failed:\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_table(runs: list[dict], memory: dict | None) -> None:
    print(
        f"\n{'encoder':<28} {'mode':<10} {'audio (s)':>9} {'x real time':>11} {'CPU s':>7} "
        f"{'x per CPU s':>11} {'peak MB':>8} {'load':>5}"
    )
    for run in runs:
        codec = "fast" in run
        modes = [(m, run[m]) for m in ("fast", "bf16", "bf16_mixed", "exact") if m in run]
        modes = modes if codec else [("", run)]
        for key in ("plain_transformers_dac", "plain_transformers"):
            if key in run:
                modes.append(("plain", run[key]))
        for mode, speed in modes:
            print(
                f"{run['encoder']:<28} {mode:<10} {run['audio_s']:>9.1f} "
                f"{speed['x_real_time_best']:>11.2f} {speed.get('cpu_s_best', float('nan')):>7.1f} "
                f"{speed['x_real_time_per_cpu_second']:>11.2f} {run['peak_rss_mb']:>8.0f} "
                f"{run['load_avg']:>5.1f}"
            )
        if "bf16" in run and not codec:  # VGGish's opt-in bf16
            for part in ("all_layers", "embedding_only"):
                speed = run["bf16"][part]
                print(
                    f"  bf16 {part}: {speed['x_real_time_per_cpu_second']:.2f} x per CPU s "
                    f"(fp32 {speed['fp32_x_real_time_per_cpu_second']:.2f}), max error "
                    f"{run['bf16']['max_relative_error']}"
                )
        for mode, errors in [("fast", run)] + [(m, run.get(m, {})) for m in ("bf16", "bf16_mixed")]:
            if not codec or "relative_error_vs_fp32" not in errors:
                continue
            error = errors["relative_error_vs_fp32"]
            print(
                f"  {mode} ({errors.get('compute_dtype', run['compute_dtype'])}): /exact "
                f"{run[f'{mode}_over_exact']}x, /plain {run.get(f'{mode}_over_plain', 'n/a')}x; "
                f"error vs fp32: z {error['z']}, latent {error['latent']}, frames with "
                f"identical codes {100 * error['frames_with_identical_codes']:.1f} %"
            )
    for name, target in TARGET_X_REAL_TIME.items():
        for run in runs:
            if run["encoder"] == name:
                verdict = "meets" if run["x_real_time_best"] >= target else "MISSES"
                speed = run["x_real_time_best"]
                print(f"{name}: {speed:.0f}x real time {verdict} the {target:g}x target")
    if memory is not None:
        verdict = "meets" if memory["peak_rss_mb"] < 2000 else "MISSES"
        print(
            f"{memory['encoder']} {memory['audio_s'] / 60:.0f} min to z: peak "
            f"{memory['peak_rss_mb']:.0f} MB ({verdict} the 2 GB target), "
            f"{memory['x_real_time']:.2f}x real time at load {memory['load_avg']:.1f}"
        )


if __name__ == "__main__":
    main()
