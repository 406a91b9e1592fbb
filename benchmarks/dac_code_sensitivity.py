"""How often DAC codes flip when the latent moves by a relative error eps (isotropic noise).

Two quantisers on the same random encoder (published 44.1 kHz architecture): its random one,
and one fitted to data as VQ training does (residual k-means of the normalised projections,
least-squares out_proj, on a different 30-s piece): the fitted one stands in for trained
codebooks, whose residuals shrink stage by stage.

    .venv/bin/python benchmarks/dac_code_sensitivity.py 15 30

Writes /tmp/dacx/sens.json (collected into benchmarks/results/dac_precision.json).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from encoders import build_encoder
from frisson.encoders._fast_codecs import set_snake_compile
from frisson.simulate import synth_piece

set_snake_compile(False)
torch.manual_seed(0)


def piece(seconds, seed):
    n = max(2, round(seconds / 15))
    return synth_piece(n_sections=n, section_s=(seconds / n, seconds / n), seed=seed).audio


scratch = Path(tempfile.mkdtemp())
enc, _ = build_encoder("dac-44khz", scratch)
enc.progress_bar = False
test_s, train_s = float(sys.argv[1]), float(sys.argv[2])
lat_test = enc.encode(piece(test_s, 0), layers=["latent"])["latent"].values  # (frames, 1024)
lat_train = enc.encode(piece(train_s, 1), layers=["latent"])["latent"].values
print("latents", lat_test.shape, lat_train.shape, flush=True)
model = enc._loaded().model
q = model.quantizer


def codes_of(latent):
    with torch.inference_mode():
        z, codes, *_ = q(torch.from_numpy(latent.T.copy())[None].float())
    return codes[0].numpy().T, z[0].numpy().T


def fit_quantizer(latent, iters=15):
    """Residual k-means on the normalised projections (what VQ training converges to) and
    least-squares out_proj, stage by stage, on `latent` (frames, 1024)."""
    g = torch.Generator().manual_seed(0)
    residual = torch.from_numpy(latent.T.copy())[None].float()
    with torch.inference_mode():
        for stage in q.quantizers:
            proj = stage.in_proj(residual)[0].T  # (frames, 8)
            unit = torch.nn.functional.normalize(proj, dim=1)
            k = stage.codebook.weight.shape[0]
            cent = unit[torch.randperm(unit.shape[0], generator=g)[:k]].clone()
            if cent.shape[0] < k:
                cent = torch.cat(
                    [
                        cent,
                        torch.nn.functional.normalize(
                            torch.randn(k - cent.shape[0], unit.shape[1], generator=g), dim=1
                        ),
                    ]
                )
            for _ in range(iters):
                assign = (unit @ cent.T).argmax(1)
                sums = torch.zeros_like(cent).index_add_(0, assign, unit)
                counts = torch.bincount(assign, minlength=k)[:, None]
                cent = torch.where(counts > 0, torch.nn.functional.normalize(sums, dim=1), cent)
            stage.codebook.weight.copy_(cent)
            assign = (unit @ cent.T).argmax(1)
            # out_proj: least squares from the chosen code vector (8, +bias) to the residual
            e = torch.cat([cent[assign], torch.ones(len(assign), 1)], 1)
            sol = torch.linalg.lstsq(e, residual[0].T).solution  # (9, 1024)
            w = sol[:-1].T[:, :, None]
            if hasattr(stage.out_proj, "parametrizations"):
                torch.nn.utils.parametrize.remove_parametrizations(stage.out_proj, "weight")
            stage.out_proj.weight.copy_(w)
            stage.out_proj.bias.copy_(sol[-1])
            residual = residual - stage(residual)[0]
        print(
            "fitted: residual norm left",
            float(residual.norm() / torch.from_numpy(latent).norm()),
            flush=True,
        )


def curve(tag):
    codes0, z0 = codes_of(lat_test)
    rng = np.random.default_rng(1)
    rows = {}
    for eps in (1e-4, 3e-4, 1e-3, 2.5e-3, 5e-3, 1e-2):
        noise = rng.standard_normal(lat_test.shape).astype(np.float32)
        noisy = lat_test + eps * np.linalg.norm(lat_test) / np.linalg.norm(noise) * noise
        codes, z = codes_of(noisy)
        same = codes == codes0
        rows[eps] = dict(
            frames_same=round(float(same.all(1).mean()), 4),
            first_cb=round(float(same[:, 0].mean()), 4),
            z_err=round(float(np.linalg.norm(z - z0) / np.linalg.norm(z0)), 4),
        )
        print(tag, eps, rows[eps], flush=True)
    return rows


out = {"random": curve("random quantiser")}
fit_quantizer(lat_train)
out["fitted"] = curve("fitted quantiser")
os.makedirs("/tmp/dacx", exist_ok=True)
json.dump(
    {str(k): v for k, v in out.items()}, open("/tmp/dacx/sens.json", "w"), indent=1, default=str
)
