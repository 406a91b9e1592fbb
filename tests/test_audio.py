import hashlib

import numpy as np
import pytest
import soundfile as sf

from frisson.audio import audio_from_array, file_sha256, load_audio
from frisson.errors import AudioError

RATE = 22050


def _tone(seconds=2.0, freq=440.0, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def _peak_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize(
    ("suffix", "fmt"), [("wav", "WAV"), ("flac", "FLAC"), ("ogg", "OGG"), ("mp3", "MP3")]
)
def test_formats_decode_to_the_same_tone(tmp_path, suffix, fmt):
    path = tmp_path / f"tone.{suffix}"
    sf.write(path, _tone(), RATE, format=fmt)
    audio = load_audio(path)
    assert audio.rate_hz == RATE
    # Lossy codecs add encoder delay/padding of a few ms; the tone and level survive.
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    assert _peak_hz(audio.samples, RATE) == pytest.approx(440, abs=1)
    assert np.sqrt(np.mean(audio.samples[5000:-5000] ** 2)) == pytest.approx(
        0.5 / np.sqrt(2), rel=0.05
    )
    assert audio.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_stereo_is_averaged_and_resampled(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = _tone(freq=440.0), _tone(freq=1000.0, amplitude=0.25)
    sf.write(path, np.column_stack([left, right]), RATE, subtype="FLOAT")
    audio = load_audio(path)
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-6)
    low = load_audio(path, rate_hz=16000)
    assert low.rate_hz == 16000 and low.samples.size == 32000
    assert _peak_hz(low.samples, 16000) == pytest.approx(440, abs=1)
    assert low.sha256 == audio.sha256 == file_sha256(path)


def test_array_hash_depends_on_samples_and_rate():
    a = audio_from_array(_tone(), RATE)
    assert a.sha256 == audio_from_array(_tone(), RATE).sha256
    assert a.sha256 != audio_from_array(_tone(), 16000).sha256
    assert a.sha256 != audio_from_array(_tone(freq=441.0), RATE).sha256
    assert a.to_timeseries().names == ("audio",)


def _write_bad(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "missing":
        return path
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(b"RIFF\x00\x01\x02garbage" + bytes(range(256)) * 8)
    elif kind == "silent":
        sf.write(path, np.zeros(RATE * 2), RATE)
    elif kind == "short":
        sf.write(path, _tone(seconds=0.5), RATE)
    elif kind == "nan":
        samples = _tone()
        samples[1000:1100] = np.nan
        sf.write(path, samples, RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "file not found"),
        ("empty", "the file is empty"),
        ("corrupt", "cannot decode audio"),
        ("silent", "is silent"),
        ("short", "lasts 0.50 s, shorter than the minimum of 1.00 s"),
        ("nan", "100 samples are NaN or infinite \\(first at 0.045 s\\)"),
    ],
)
def test_bad_files_raise_clear_errors_naming_the_file(tmp_path, kind, message):
    path = _write_bad(tmp_path, kind)
    with pytest.raises(AudioError, match=message) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_folder_is_refused(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


# -------------------------------------------------------------- hostile files (issue 12)
def test_truncated_wav_warns_naming_the_file_and_uses_the_samples_present(tmp_path, caplog):
    import logging

    full = _tone(seconds=6.0)
    path = tmp_path / "cut.wav"
    sf.write(path, full, RATE, subtype="PCM_16")
    raw = path.read_bytes()
    kept = 3 * RATE  # keep the 44-byte header and the first 3 s of 16-bit samples
    path.write_bytes(raw[: 44 + 2 * kept])
    with caplog.at_level(logging.WARNING, logger="frisson"):
        audio = load_audio(path)
    assert audio.samples.size == kept and audio.duration_s == 3.0
    expected = sf.read(tmp_path / "cut.wav", dtype="float32")[0]
    np.testing.assert_array_equal(audio.samples, expected)
    np.testing.assert_allclose(audio.samples, full[:kept], atol=1 / 2**15)
    (record,) = caplog.records
    assert str(path) in record.getMessage()
    assert "header promises 132300 samples (6.00 s) but the file holds 66150 (3.00 s)" in (
        record.getMessage()
    )


def test_complete_files_do_not_warn(tmp_path, caplog):
    import logging

    for fmt in ("WAV", "FLAC", "MP3"):
        path = tmp_path / f"whole.{fmt.lower()}"
        sf.write(path, _tone(seconds=1.5), RATE, format=fmt)
        with caplog.at_level(logging.WARNING, logger="frisson"):
            load_audio(path)
    assert caplog.records == []


def test_truncated_mp3_warns_and_keeps_what_decodes(tmp_path, caplog):
    import logging

    path = tmp_path / "cut.mp3"
    sf.write(path, _tone(seconds=6.0), RATE, format="MP3")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="frisson"):
        audio = load_audio(path)
    assert 2.5 < audio.duration_s < 3.5
    assert "cut.mp3: the header promises 132300 samples (6.00 s)" in caplog.text


def test_random_bytes_named_mp3_give_one_clear_line(tmp_path, capfd):
    path = tmp_path / "song.mp3"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: cannot decode audio (its content is not in a format")
    assert "not really MP3" in message and "ffmpeg -i song.mp3 song.wav" in message
    assert "does not exist" not in message  # libsndfile's misleading words are not passed on
    assert "Note:" not in capfd.readouterr().err  # mpg123's stderr chatter goes to the debug log
