"""DAC 44.1 kHz in bf16: where the error of the latent comes from, and mixed-precision configs.

Random weights of the published architecture (seed 0), a generated 15-s piece. Each config
builds the fast copy with some modules kept float32 (``keep_float``) and optionally a float32
residual stream (``float_stream``), and reports the relative error (Frobenius) of every block
against exact float32, the share of frames whose 9 codes are all identical, and speed (wall
and CPU seconds; best of 2) for the configs that are not "only_*" probes ("only_G": G alone in
bf16, everything else float32).

    .venv/bin/python benchmarks/dac_precision_configs.py 15 bf16,bf16_stream,only_conv1

Prints one row per config and writes /tmp/dacx/explore_<s>_<n>.json (collected by hand into
benchmarks/results/dac_precision.json).
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from encoders import _piece, build_encoder
from frisson.encoders import codecs
from frisson.encoders._fast_codecs import fast_copy

torch.manual_seed(0)

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15
which = sys.argv[2].split(",") if len(sys.argv) > 2 else None
audio = _piece(seconds / 60)
LAYERS = ["conv_in", "block1", "block2", "block3", "block4", "latent", "z", "codes"]


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def only(g):
    return lambda n: not (g.startswith(n) or n.startswith(g))


def fp32_of(*gs):
    return lambda n: any(n == g or n.startswith(g + ".") for g in gs)


CONFIGS = {
    "bf16": (None, False),
    "bf16_stream": (None, True),
    "stream_f32ends": (fp32_of("conv1", "conv2", "snake1", "block.3"), True),
    "stream_f32ends_b0": (fp32_of("conv1", "conv2", "snake1", "block.3", "block.0"), True),
    **{
        f"only_{g}": (only(g), False)
        for g in ["conv1", "block.0", "block.1", "block.2", "block.3", "conv2"]
    },
    **{f"only_{g}_stream": (only(g), True) for g in ["block.1", "block.2"]},
}
with tempfile.TemporaryDirectory() as scratch:
    exact, _ = build_encoder("dac-44khz", __import__("pathlib").Path(scratch))
    exact.precision = "exact"
    exact.progress_bar = False
    ref = exact.encode(audio, layers=LAYERS)
    fast = codecs.DacEncoder(repo_id=exact.repo_id, precision="fast", progress_bar=False)
    enc = codecs.DacEncoder(repo_id=exact.repo_id, precision="bf16", progress_bar=False)
    loaded = enc._loaded()

    def timed(e):
        best = (1e9, 1e9)
        for _ in range(2):
            t, c = time.perf_counter(), time.process_time()
            e.encode(audio, layers=["z"])
            best = (min(best[0], time.perf_counter() - t), min(best[1], time.process_time() - c))
        return best

    rows = {}
    print("exact done", os.getloadavg()[0], flush=True)
    for name, (keep, stream) in CONFIGS.items():
        if which and name not in which:
            continue
        loaded.fast["bfloat16"] = fast_copy(
            loaded.model.encoder, "bfloat16", keep_float=keep, float_stream=stream
        )
        got = enc.encode(audio, layers=LAYERS)
        row = {n: round(rel(got[n].values, ref[n].values), 5) for n in LAYERS[:-1]}
        same = got["codes"].values == ref["codes"].values
        row["frames_same"] = round(float(same.all(axis=1).mean()), 4)
        row["entries_same"] = round(float(same.mean()), 4)
        row["first_cb_same"] = round(float(same[:, 0].mean()), 4)
        if not name.startswith("only"):
            w, c = timed(enc)
            row.update(
                x_rt=round(seconds / w, 2), x_rt_cpu=round(seconds / c, 2), load=os.getloadavg()[0]
            )
        rows[name] = row
        print(name, row, flush=True)
    os.makedirs("/tmp/dacx", exist_ok=True)
    json.dump(rows, open(f"/tmp/dacx/explore_{int(seconds)}_{len(rows)}.json", "w"), indent=1)
