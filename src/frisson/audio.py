"""Audio loading: any common format to checked mono samples with a content hash.

Files are decoded by libsndfile (through ``soundfile``: WAV, FLAC, OGG/Vorbis,
Opus, MP3 and more), mixed down to mono by averaging channels and resampled
with soxr's high-quality filter when a rate is requested. Every problem that
would make an analysis meaningless (missing, undecodable, empty, non-finite,
silent or too-short audio) raises :class:`~frisson.errors.AudioError` naming the
file and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frisson._check import check_positive
from frisson._logging import logger
from frisson.errors import AudioError
from frisson.timeseries import TimeSeries

__all__ = ["AUDIO_SUFFIXES", "Audio", "audio_from_array", "file_sha256", "load_audio"]

#: File suffixes (lower case) that count as audio wherever frisson looks for it: folders
#: walked by :func:`frisson.embed`, study stimuli, simulated stimulus folders. Compare
#: ``path.suffix.lower()``; every one decodes through libsndfile (:func:`load_audio`).
AUDIO_SUFFIXES = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64",
)  # fmt: skip

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

    Notes
    -----
    A file that holds fewer samples than its header promises (a WAV whose
    ``data`` chunk size exceeds the bytes present, an MP3 cut short) is
    analysed with the samples present, and a warning naming the file is
    logged; libsndfile alone would drop the difference silently.

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
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found; check the path.")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); re-export or re-copy it.")
    data, native_rate = _decode(path)
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    logger.debug("loaded %s: %d samples x %d channels at %d Hz", path, *data.shape, native_rate)
    audio = _checked(samples, float(native_rate), str(path), file_sha256(path), min_duration_s)
    return audio if rate_hz is None else audio.resample(rate_hz)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode with libsndfile; a file shorter than its header promises warns, keeps the rest."""
    import soundfile as sf

    quiet = _decoder_stderr_to_log() if path.suffix.lower() == ".mp3" else contextlib.nullcontext()
    try:
        with quiet, sf.SoundFile(path) as handle:
            promised = handle.frames
            data = handle.read(dtype="float32", always_2d=True)
            native_rate = handle.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(_decode_error(path, error)) from None
    header_frames = _riff_data_frames(path)
    if header_frames is not None:
        promised = max(promised, header_frames)
    if promised > data.shape[0]:
        logger.warning(
            "%s: the header promises %d samples (%.2f s) but the file holds %d (%.2f s); it is "
            "probably truncated (an interrupted copy or export). Analysing the %.2f s present; "
            "re-copy or re-export the file to use all of it.",
            path,
            promised,
            promised / native_rate,
            data.shape[0],
            data.shape[0] / native_rate,
            data.shape[0] / native_rate,
        )
    return data, native_rate


def _decode_error(path: Path, error: Exception) -> str:
    """One line naming the file, what went wrong and the fix."""
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    if "does not exist" in reason or "not recognised" in reason or "unknown format" in reason:
        # libsndfile's words for content it cannot identify (the file does exist)
        kind = path.suffix.lstrip(".").upper() or "audio"
        reason = (
            f"its content is not in a format libsndfile recognises: the file is damaged, "
            f"incomplete or not really {kind}"
        )
    else:
        reason = reason.removeprefix(f"Error opening {str(path)!r}: ").removeprefix("Error : ")
    return (
        f"{path}: cannot decode audio ({reason}). frisson reads WAV, FLAC, OGG, Opus and MP3; "
        f"re-copy or re-export the file, or if it plays elsewhere convert it, e.g. "
        f"`ffmpeg -i {path.name} {path.stem}.wav`."
    )


def _riff_data_frames(path: Path) -> int | None:
    """Sample frames a RIFF/WAVE header promises (its ``data`` chunk size), or None.

    None for other formats, and for headers that give no size (0 or 0xFFFFFFFF,
    as streaming writers leave it).
    """
    import struct

    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            for _ in range(64):  # a WAV has a handful of chunks before 'data'
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    fmt = handle.read(size + (size & 1))
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                elif chunk_id == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    handle.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


@contextlib.contextmanager
def _decoder_stderr_to_log() -> Iterator[None]:
    """Send what C decoders print on stderr (mpg123's "Note: ..." lines) to the debug log.

    The redirection covers file descriptor 2 for the duration of one decode, so
    anything else written to it meanwhile (another thread) also goes to the log.
    """
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                logger.debug("decoder: %s", line)


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
        raise AudioError(
            f"{source}: contains no audio samples (the file may be truncated); "
            "re-copy or re-export it."
        )
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
    peak = max(float(samples.max()), -float(samples.min()))  # no |samples| copy (1 h: 635 MB)
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(
            f"{source}: is silent (peak {level} dBFS, below {SILENCE_DBFS:.0f} dBFS); "
            "check the file or the export gain."
        )
    return Audio(samples, rate_hz, source, sha256)
