"""Audio loading: any common format to checked mono samples with a content hash.

Files are decoded by libsndfile (through ``soundfile``: WAV, FLAC, OGG/Vorbis,
Opus, MP3 and more), mixed down to mono by averaging channels and resampled
with soxr's high-quality filter when a rate is requested. Every problem that
would make an analysis meaningless (missing, undecodable, empty, non-finite,
silent or too-short audio) raises :class:`~frisson.errors.AudioError` naming the
file and the fix.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_positive
from frisson._logging import logger
from frisson.errors import AudioError
from frisson.timeseries import TimeSeries

__all__ = ["Audio", "audio_from_array", "file_sha256", "load_audio"]

#: Peak level (dB re full scale) below which a file counts as silent.
SILENCE_DBFS = -90.0


@dataclass(frozen=True)
class Audio:
    """Mono audio samples with their rate, origin and content hash.

    Attributes
    ----------
    samples : ndarray, shape (n_samples,), float32
        Mono samples, full scale = 1.
    rate_hz : float
        Sampling rate in Hz.
    source : str
        The file the samples came from, or a label for in-memory audio.
    sha256 : str
        Hex SHA-256 of the file's bytes (of the float32 samples and rate for
        in-memory audio): the key under which embeddings are cached.

    """

    samples: np.ndarray = field(repr=False)
    rate_hz: float
    source: str
    sha256: str = field(repr=False)

    @property
    def duration_s(self) -> float:
        """Duration in seconds, ``n_samples / rate_hz``."""
        return self.samples.size / self.rate_hz

    def to_timeseries(self) -> TimeSeries:
        """The samples as a one-channel :class:`~frisson.timeseries.TimeSeries` named ``audio``."""
        return TimeSeries(self.samples, self.rate_hz, names=["audio"])

    def resample(self, rate_hz: float) -> Audio:
        """The same audio at ``rate_hz`` (soxr, high quality); the hash is kept."""
        rate_hz = check_positive("rate_hz", rate_hz)
        if rate_hz == self.rate_hz:
            return self
        import soxr

        samples = soxr.resample(self.samples, self.rate_hz, rate_hz, quality="HQ")
        return Audio(samples.astype(np.float32, copy=False), rate_hz, self.source, self.sha256)


def file_sha256(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'

    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def load_audio(
    path: str | os.PathLike,
    *,
    rate_hz: float | None = None,
    min_duration_s: float = 1.0,
) -> Audio:
    """Load an audio file as checked mono samples.

    Parameters
    ----------
    path : str or path-like
        A WAV, FLAC, OGG/Vorbis, Opus or MP3 file (anything libsndfile decodes).
    rate_hz : float, optional
        Resample to this rate (soxr, high quality). Default: the file's own rate.
    min_duration_s : float
        Refuse files shorter than this many seconds (default 1 s).

    Returns
    -------
    Audio
        Mono float32 samples (channel mean), the rate, the path and the file's SHA-256.

    Raises
    ------
    AudioError
        If the file is missing, cannot be decoded, is empty, contains NaN or
        infinite samples, is silent (peak below -90 dBFS) or is shorter than
        ``min_duration_s``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
    >>> t = np.arange(22050 * 2) / 22050
    >>> sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    >>> audio = load_audio(path, rate_hz=16000)
    >>> audio.rate_hz, round(audio.duration_s, 3)
    (16000.0, 2.0)

    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found; check the path.")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); re-export or re-copy it.")
    try:
        data, native_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(
            f"{path}: cannot decode audio ({error}). frisson reads WAV, FLAC, OGG, Opus and MP3; "
            "if the file plays elsewhere, convert it, e.g. `ffmpeg -i in.m4a out.wav`."
        ) from None
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    logger.debug("loaded %s: %d samples x %d channels at %d Hz", path, *data.shape, native_rate)
    audio = _checked(samples, float(native_rate), str(path), file_sha256(path), min_duration_s)
    return audio if rate_hz is None else audio.resample(rate_hz)


def audio_from_array(
    samples: np.ndarray,
    rate_hz: float,
    *,
    source: str = "<array>",
    min_duration_s: float = 1.0,
) -> Audio:
    """Wrap in-memory samples as :class:`Audio` with the same checks as :func:`load_audio`.

    Parameters
    ----------
    samples : ndarray, shape (n_samples,) or (n_samples, n_channels)
        Audio samples, full scale = 1; channels are averaged.
    rate_hz : float
        Sampling rate in Hz.
    source : str
        A label used in messages.
    min_duration_s : float
        Refuse audio shorter than this many seconds.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(16000) / 16000
    >>> audio_from_array(np.sin(2 * np.pi * 220 * t), 16000).duration_s
    1.0

    """
    rate_hz = check_positive("rate_hz", rate_hz)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise AudioError(f"{source}: samples must be 1-D or (n_samples, n_channels).")
    digest = hashlib.sha256(np.ascontiguousarray(samples).tobytes())
    digest.update(repr(rate_hz).encode())
    return _checked(samples, rate_hz, source, digest.hexdigest(), min_duration_s)


def _checked(
    samples: np.ndarray, rate_hz: float, source: str, sha256: str, min_duration_s: float
) -> Audio:
    """Validate decoded samples; every failure names the source and the fix."""
    if samples.size == 0:
        raise AudioError(f"{source}: contains no audio samples.")
    finite = np.isfinite(samples)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise AudioError(
            f"{source}: {int((~finite).sum())} samples are NaN or infinite (first at "
            f"{first / rate_hz:.3f} s); repair or re-export the file."
        )
    duration_s = samples.size / rate_hz
    if duration_s < min_duration_s:
        raise AudioError(
            f"{source}: lasts {duration_s:.2f} s, shorter than the minimum of "
            f"{min_duration_s:.2f} s; use a longer excerpt."
        )
    peak = float(np.max(np.abs(samples)))
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(
            f"{source}: is silent (peak {level} dBFS, below {SILENCE_DBFS:.0f} dBFS); "
            "check the file or the export gain."
        )
    return Audio(samples, rate_hz, source, sha256)
