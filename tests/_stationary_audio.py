"""Stationary audio for the transition detectors' null tests: white noise and a steady loop."""

from collections.abc import Iterator

import numpy as np

from frisson import structure
from frisson.audio import audio_from_array
from frisson.encoders import get_encoder
from frisson.timeseries import TimeSeries


def stationary_mel_latents(n_pairs: int = 8, duration_s: float = 45.0) -> Iterator[TimeSeries]:
    """Smoothed mel latents of ``n_pairs`` white-noise and steady-loop songs (noise, loop, ...)."""
    rng = np.random.default_rng(0)
    rate = 22050
    t = np.arange(2 * rate) / rate
    bar = 0.05 * np.sin(2 * np.pi * 330 * t) + 0.3 * np.sin(2 * np.pi * 60 * t) * np.exp(
        -((t % 0.5) / 0.08)
    )
    n_samples = int(duration_s * rate)
    encoder = get_encoder("mel")
    for _ in range(n_pairs):
        noise = 0.1 * rng.standard_normal(n_samples)
        loop = np.tile(bar, int(np.ceil(duration_s / 2)))[:n_samples]
        loop = loop + 0.01 * rng.standard_normal(n_samples)
        for samples in (noise, loop):
            frames = encoder.encode(audio_from_array(samples, rate))["logmel"]
            yield structure.smooth_latent(frames)
