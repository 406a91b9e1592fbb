"""Log-mel spectrogram: the non-neural baseline encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from frisson._check import check_int, check_positive
from frisson.audio import Audio
from frisson.encoders._base import Embedding, resolve_layers
from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["MelEncoder"]


class MelEncoder:
    """Log-mel spectrogram in dB re full scale, one layer (``logmel``).

    The defaults give 86.13 frames/s (22050 Hz / 256), the frame rate of the
    Descript Audio Codec latent used in the chills study, so the study's
    smoothing (100 frames, hop 4) means the same seconds for both.

    Parameters
    ----------
    rate_hz : float
        Rate the audio is resampled to (default 22050 Hz).
    n_fft : int
        FFT length in samples (Hann window of the same length).
    hop_samples : int
        Hop between frames in samples.
    n_mels : int
        Number of mel bands (Slaney mel scale, Slaney area normalisation).
    fmin_hz, fmax_hz : float
        Band edges; ``fmax_hz=None`` means ``rate_hz / 2``.

    Notes
    -----
    Frames are centred (``librosa.stft(center=True)``): frame ``k`` is centred
    on ``k * hop_samples / rate_hz`` seconds, so the layer's ``start_s`` is 0.
    Values are ``10 * log10(max(power, 1e-10))`` with power the mel-weighted
    power spectrum of samples at full scale 1.

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> t = np.arange(22050 * 2) / 22050
    >>> audio = audio_from_array(0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    >>> layer = MelEncoder(n_mels=64).encode(audio)["logmel"]
    >>> layer.n_channels, round(layer.rate_hz, 2)
    (64, 86.13)

    """

    layers: tuple[str, ...] = ("logmel",)
    default_layer = "logmel"

    def __init__(
        self,
        *,
        rate_hz: float = 22050.0,
        n_fft: int = 2048,
        hop_samples: int = 256,
        n_mels: int = 128,
        fmin_hz: float = 0.0,
        fmax_hz: float | None = None,
    ) -> None:
        self.name = "mel"
        self.input_rate_hz = check_positive("rate_hz", rate_hz)
        self.n_fft = check_int("n_fft", n_fft, minimum=16)
        self.hop_samples = check_int("hop_samples", hop_samples, minimum=1)
        self.n_mels = check_int("n_mels", n_mels, minimum=1)
        self.fmin_hz = check_positive("fmin_hz", fmin_hz, allow_zero=True)
        self.fmax_hz = None if fmax_hz is None else check_positive("fmax_hz", fmax_hz)
        top = self.input_rate_hz / 2 if self.fmax_hz is None else self.fmax_hz
        if not self.fmin_hz < top <= self.input_rate_hz / 2:
            raise ParameterError(
                f"Need 0 <= fmin_hz < fmax_hz <= rate_hz / 2, got fmin_hz={fmin_hz}, "
                f"fmax_hz={fmax_hz}, rate_hz={rate_hz}."
            )

    def config(self) -> dict[str, Any]:
        """Settings that change the output."""
        return {
            "rate_hz": self.input_rate_hz,
            "n_fft": self.n_fft,
            "hop_samples": self.hop_samples,
            "n_mels": self.n_mels,
            "fmin_hz": self.fmin_hz,
            "fmax_hz": self.fmax_hz,
        }

    @property
    def frame_rate_hz(self) -> float:
        """Frames per second, ``rate_hz / hop_samples``."""
        return self.input_rate_hz / self.hop_samples

    def encode(self, audio: Audio, *, layers: Sequence[str] | None = None) -> Embedding:
        """Log-mel frames of ``audio`` (resampled to ``rate_hz`` first)."""
        resolve_layers(self, layers)
        audio = audio.resample(self.input_rate_hz)
        logmel = self._logmel(audio.samples)
        series = TimeSeries(
            logmel,
            self.frame_rate_hz,
            names=[f"mel{band:03d}" for band in range(self.n_mels)],
            units=["dB"] * self.n_mels,
        )
        return Embedding(self.name, self.config(), audio.sha256, {"logmel": series})

    def _logmel(self, samples: np.ndarray, *, block_frames: int = 2048) -> np.ndarray:
        """``(n_frames, n_mels)`` float32 log-mel frames, computed a block of frames at a time.

        The same frames as ``librosa.feature.melspectrogram(center=True,
        pad_mode="constant")``: frame ``k`` covers samples ``k * hop - n_fft // 2``
        to ``k * hop + n_fft // 2`` (zeros outside the signal), so there are
        ``1 + n_samples // hop`` of them. Each block goes through
        ``librosa.stft(center=False)`` on its own slice of the signal, so only
        one block's complex spectra exist at a time (a whole-song STFT of an
        hour at 22050 Hz would take 2.5 GB).
        """
        import librosa

        mel_basis = librosa.filters.mel(
            sr=self.input_rate_hz,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            fmin=self.fmin_hz,
            fmax=self.fmax_hz,
        )
        samples = np.asarray(samples, dtype=np.float32)
        n, hop, half = samples.size, self.hop_samples, self.n_fft // 2
        n_frames = 1 + n // hop
        out = np.empty((n_frames, self.n_mels), dtype=np.float32)
        for first in range(0, n_frames, block_frames):
            last = min(first + block_frames, n_frames)
            lo, hi = first * hop - half, (last - 1) * hop - half + self.n_fft
            segment = np.zeros(hi - lo, dtype=np.float32)
            a, b = max(lo, 0), min(hi, n)
            if b > a:
                segment[a - lo : b - lo] = samples[a:b]
            spectrum = librosa.stft(
                segment, n_fft=self.n_fft, hop_length=hop, window="hann", center=False
            )
            # power in float64: float32 squares overflow for absurdly loud input
            power = mel_basis @ np.square(np.abs(spectrum), dtype=np.float64)
            out[first:last] = (10.0 * np.log10(np.maximum(power, 1e-10))).T
        return out
