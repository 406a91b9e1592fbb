"""A small BIDS fMRI study with continuous ratings whose BOLD follows the ratings' derivatives.

Written here (not by the simulator) so the planted response is composed independently of
frisson.glm: the group's rating curves are smooth random sines; each listener rates them
with a little noise; in the planted voxels BOLD = beta * (|E'| + |J'| of the true curves
convolved with the SPM HRF at 5 Hz, standardised per run) + a music block + drift + AR(1)
noise; elsewhere the same without the ratings term. The affine puts 12-mm voxels on MNI
coordinates, so maps can be drawn on the MNI152 template and fsaverage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TR_S = 1.0
RATE_HZ = 5.0
N_FRAMES = 200
ONSETS_S = (10.0, 105.0)
DURATION_S = 75.0
SHAPE = (10, 12, 9)
AFFINE = np.array([[12.0, 0, 0, -54.0], [0, 12.0, 0, -90.0], [0, 0, 12.0, -42.0], [0, 0, 0, 1.0]])
STIMULI = ("s1.wav", "s2.wav", "s3.wav", "s4.wav")


def planted_mask() -> np.ndarray:
    """Voxels (i, j, k) that follow the ratings: a block in the right temporal lobe."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[7:10, 4:8, 2:5] = True
    return mask


def _curves(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per stimulus, (n, 2) smooth rating curves (emotionality, enjoyment) at 5 Hz."""
    t = np.arange(int(DURATION_S * RATE_HZ)) / RATE_HZ
    out = {}
    for name in STIMULI:
        freqs = rng.uniform(0.01, 0.08, (3, 2))
        phases = rng.uniform(0, 2 * np.pi, (3, 2))
        out[name] = 0.5 + 0.15 * np.sin(2 * np.pi * freqs[None] * t[:, None, None] + phases).sum(
            axis=1
        )
    return out


def _regressor(curves, order) -> np.ndarray:
    """The planted regressor of one run at the frames: HRF * sum |d curve / dt|."""
    from nilearn.glm.first_level import spm_hrf

    drive = np.zeros(int(N_FRAMES * TR_S * RATE_HZ))
    for onset, name in zip(ONSETS_S, order, strict=True):
        deriv = np.abs(np.gradient(curves[name], axis=0)).sum(axis=1) * RATE_HZ
        start = int(onset * RATE_HZ)
        drive[start : start + deriv.size] = deriv
    hrf = spm_hrf(1 / RATE_HZ, oversampling=1)
    convolved = np.convolve(drive, hrf)[: drive.size]
    at_frames = convolved[(np.arange(N_FRAMES) * TR_S * RATE_HZ).astype(int)]
    return (at_frames - at_frames.mean()) / at_frames.std()


def _block(order) -> np.ndarray:
    from nilearn.glm.first_level import spm_hrf

    box = np.zeros(int(N_FRAMES * TR_S * RATE_HZ))
    for onset in ONSETS_S:
        box[int(onset * RATE_HZ) : int((onset + DURATION_S) * RATE_HZ)] = 1.0
    convolved = np.convolve(box, spm_hrf(1 / RATE_HZ, oversampling=1))[: box.size]
    return convolved[(np.arange(N_FRAMES) * TR_S * RATE_HZ).astype(int)]


def _ar1(rng, shape, phi=0.4) -> np.ndarray:
    out = np.empty(shape)
    out[0] = rng.standard_normal(shape[1:])
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(shape[1:])
    return out


def write_emotion_study(
    root: Path, *, n_participants: int = 6, beta: float = 1.0, block: float = 1.0, seed: int = 0
):
    """Write the study; returns the planted mask. ``beta = 0`` gives BOLD unrelated to the
    ratings; ``block = 0`` removes the music-block response (then the other voxels share
    nothing across listeners)."""
    import nibabel as nib
    import soundfile as sf

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "stimuli").mkdir(exist_ok=True)
    for name in STIMULI:
        tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)  # not analysed
        sf.write(root / "stimuli" / name, tone, 8000)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "emotion", "BIDSVersion": "1.9.0"})
    )
    (root / "participants.tsv").write_text(
        "participant_id\n" + "".join(f"sub-{p + 1:02d}\n" for p in range(n_participants))
    )
    curves = _curves(rng)
    planted = planted_mask()
    for p in range(n_participants):
        func = root / f"sub-{p + 1:02d}" / "func"
        func.mkdir(parents=True, exist_ok=True)
        order = [STIMULI[i] for i in rng.permutation(len(STIMULI))]
        for run in range(2):
            stimuli = order[2 * run : 2 * run + 2]
            label = f"sub-{p + 1:02d}_task-music_run-{run + 1}"
            rows = "".join(
                f"{onset}\t{DURATION_S}\tmusic\t{name}\n"
                for onset, name in zip(ONSETS_S, stimuli, strict=True)
            )
            (func / f"{label}_events.tsv").write_text(
                "onset\tduration\ttrial_type\tstim_file\n" + rows
            )
            times = np.arange(int(N_FRAMES * TR_S * RATE_HZ)) / RATE_HZ
            ratings = np.full((times.size, 2), np.nan)
            for onset, name in zip(ONSETS_S, stimuli, strict=True):
                start = int(onset * RATE_HZ)
                own = curves[name] + 0.01 * rng.standard_normal(curves[name].shape)
                ratings[start : start + own.shape[0]] = own
            table = "time_s\temotionality\tenjoyment\n" + "".join(
                f"{t:.1f}\t" + "\t".join("n/a" if np.isnan(v) else f"{v:.5f}" for v in row) + "\n"
                for t, row in zip(times, ratings, strict=True)
            )
            (func / f"{label}_beh.tsv").write_text(table)
            n_vox = int(np.prod(SHAPE))
            data = (
                100.0
                + block * _block(stimuli)[:, None] * rng.uniform(0.5, 2.0, n_vox)
                + np.linspace(-1, 1, N_FRAMES)[:, None] * rng.normal(0, 1, n_vox)
                + _ar1(rng, (N_FRAMES, n_vox))
                + beta * _regressor(curves, stimuli)[:, None] * planted.ravel()[None, :]
            )
            volume = data.T.reshape((*SHAPE, N_FRAMES)).astype(np.float32)
            image = nib.Nifti1Image(volume, AFFINE)
            image.header.set_xyzt_units("mm", "sec")
            image.header["pixdim"][4] = TR_S
            nib.save(image, func / f"{label}_bold.nii.gz")
            (func / f"{label}_bold.json").write_text(json.dumps({"RepetitionTime": TR_S}))
    return planted
