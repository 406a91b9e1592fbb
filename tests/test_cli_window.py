"""``frisson analyze --window-s/--hop-s``: smoothing set in seconds, frames only inside."""

import pytest
from click.testing import CliRunner

from frisson import structure
from frisson.cli import main
from frisson.errors import DataError


@pytest.fixture
def captured(monkeypatch):
    """The keyword arguments ``frisson analyze`` passes to ``analyze_song``."""
    calls = {}

    def fake_analyze_song(song, **kwargs):
        calls.update(kwargs)
        raise DataError(f"{song}: stopped by the test")

    monkeypatch.setattr("frisson.pipelines.song.analyze_song", fake_analyze_song)
    return calls


def test_window_and_hop_are_given_in_seconds(tmp_path, captured):
    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    run = CliRunner().invoke(main, ["analyze", str(song), "--window-s", "2.5", "--hop-s", "0.1"])
    assert run.exit_code == 1 and "stopped by the test" in run.output
    assert captured["window_s"] == 2.5 and captured["hop_s"] == 0.1
    assert "window_frames" not in captured and "hop_frames" not in captured
    # 2.5 s / 0.1 s at musicnn's 62.5 frames/s and at DAC's 86.13 frames/s
    assert structure.smoothing_frames(62.5, 2.5, 0.1) == (156, 6)
    assert structure.smoothing_frames(44100 / 512, 2.5, 0.1) == (215, 9)


def test_default_smoothing_is_the_posters(tmp_path, captured):
    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    CliRunner().invoke(main, ["analyze", str(song)])
    assert captured["window_s"] == structure.POSTER_WINDOW_S
    assert captured["hop_s"] == structure.POSTER_HOP_S
    # 100 and 4 frames of DAC (44100 / 512 frames/s), 73 and 3 of musicnn (62.5 frames/s)
    window_s, hop_s = captured["window_s"], captured["hop_s"]
    assert structure.smoothing_frames(44100 / 512, window_s, hop_s) == (100, 4)
    assert structure.smoothing_frames(62.5, window_s, hop_s) == (73, 3)


def test_frame_options_are_gone_and_seconds_must_be_positive(tmp_path):
    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    runner = CliRunner()
    old = runner.invoke(main, ["analyze", str(song), "--window-frames", "100"])
    assert old.exit_code == 2 and "No such option" in old.output
    bad = runner.invoke(main, ["analyze", str(song), "--hop-s", "0"])
    assert bad.exit_code == 1 and "hop_s" in bad.output and "Traceback" not in bad.output
    assert "--window-s" in runner.invoke(main, ["analyze", "--help"]).output
