import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from frisson.cli import main

RATE = 22050


def _frisson(*args):
    return subprocess.run(
        [sys.executable, "-m", "frisson", *map(str, args)], capture_output=True, text=True
    )


def test_help_explains_every_command():
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("analyze", "synth-piece", "encoders", "features"):
        assert command in result.output
        sub = runner.invoke(main, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output
    assert "pcs.tsv" in runner.invoke(main, ["analyze", "--help"]).output
    assert "mel" in runner.invoke(main, ["encoders"]).output


def test_synth_then_analyze_end_to_end(tmp_path):
    made = _frisson("synth-piece", tmp_path / "piece.wav", "--sections", 5, "--seed", 2)
    assert made.returncode == 0, made.stderr
    boundaries = pd.read_csv(tmp_path / "piece_boundaries.tsv", sep="\t")
    assert len(boundaries) == 4
    out = tmp_path / "result"
    run = _frisson(
        "analyze",
        tmp_path / "piece.wav",
        "--out",
        out,
        "--reference",
        tmp_path / "piece_boundaries.tsv",
        "--n-surrogates",
        99,
    )
    assert run.returncode == 0, run.stderr
    assert "transitions (pc1_variance): 4" in run.stdout
    assert "F(3 s) = 1.00" in run.stdout
    transitions = pd.read_csv(out / "transitions.tsv", sep="\t")
    found = transitions[transitions.method == "pc1_variance"].time_s.to_numpy()
    np.testing.assert_allclose(found, boundaries.time_s, atol=1.0)
    for name in ("pcs.tsv", "feature_correlations.tsv", "latent.png"):
        assert (out / name).stat().st_size > 0


def _bad_input(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    t = np.arange(RATE * 20) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 330 * t)
    if kind == "corrupt":
        path.write_bytes(b"\x00\x13garbage" * 1000)
    elif kind == "silence":
        sf.write(path, np.zeros_like(tone), RATE)
    elif kind == "short":
        sf.write(path, tone[: RATE // 2], RATE)
    elif kind == "nan":
        tone[RATE * 3 : RATE * 4] = np.nan
        sf.write(path, tone, RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "file not found"),
        ("corrupt", "cannot decode audio"),
        ("silence", "is silent"),
        ("short", "lasts 0.50 s, shorter than the minimum of 18.00 s"),
        ("nan", "22050 samples are NaN or infinite \\(first at 3.000 s\\)"),
    ],
)
def test_bad_inputs_exit_nonzero_with_one_clear_line(tmp_path, kind, message):
    path = _bad_input(tmp_path, kind)
    run = _frisson("analyze", path, "--out", tmp_path / "out")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith(f"error: {path}")
    assert re.search(message, run.stderr)
    assert not (tmp_path / "out").exists()


def test_run_transitions_option_overrides_the_toml(tmp_path, monkeypatch):
    from frisson.errors import DataError
    from frisson.pipelines import chills

    toml = tmp_path / "study.toml"
    toml.write_text('[run]\nstudy = "s"\noutput = "o"\ntransition_method = "foote_novelty"\n')
    seen = []

    def stop(config, **_):
        seen.append(config.transition_method)
        raise DataError("stopped before running")

    monkeypatch.setattr(chills, "run_study", stop)
    runner = CliRunner()
    given = runner.invoke(main, ["run", str(toml), "--transitions", "pc1_variance"])
    kept = runner.invoke(main, ["run", str(toml)])
    assert seen == ["pc1_variance", "foote_novelty"]
    assert given.exit_code == 1 and "stopped before running" in given.output
    bad = runner.invoke(main, ["run", str(toml), "--transitions", "peaks"])
    assert bad.exit_code == 1 and "transition_method" in bad.output
    assert "tested_novelty" in bad.output and "peaks" in bad.output
    assert kept.exit_code == 1
