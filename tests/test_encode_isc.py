"""ISC of many units (frisson.isc.isc_units) and ``frisson encode`` with mode = "isc".

Calibrated on independent AR(1) noise, power on a planted shared signal, one unit equal to the
single-channel ISC; end to end on a BOLD study whose planted voxels follow shared ratings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frisson.errors import DataError
from frisson.isc import isc, isc_units
from frisson.timeseries import TimeSeries

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _emotion_study import write_emotion_study

RATE_HZ = 1.0  # BOLD at TR 1 s


def _ar1(rng: np.random.Generator, n_times: int, n_units: int) -> np.ndarray:
    """Unit-variance AR(1) noise, each unit with its own phi in 0.5-0.9."""
    phi = rng.uniform(0.5, 0.9, n_units)
    out = np.empty((n_times, n_units))
    out[0] = rng.standard_normal(n_units)
    for t in range(1, n_times):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(n_units)
    return out


def _study(seed: int, *, amplitude: float = 0.0, n_participants: int = 8, n_units: int = 20):
    """Two stimuli (120 and 150 samples); the first quarter of the units share a slow signal."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(n_units)]
    planted = np.arange(n_units) < n_units // 4
    responses = {}
    for stimulus, n_times in (("a", 120), ("b", 150)):
        shared = _ar1(rng, n_times, 1)[:, 0]
        responses[stimulus] = [
            TimeSeries(
                _ar1(rng, n_times, n_units) + amplitude * shared[:, None] * planted,
                RATE_HZ,
                names=names,
            )
            for _ in range(n_participants)
        ]
    return responses, planted


@pytest.mark.parametrize("null", ["shift", "phase"])
def test_null_listeners_are_calibrated(null):
    """100 null studies (independent AR(1) noise per listener and unit): ~5 % at .05."""
    per_unit, family = [], []
    for seed in range(100):
        responses, _ = _study(seed)
        result = isc_units(responses, null=null, n_surrogates=199, seed=seed)
        per_unit.append(np.mean(result.p <= 0.05))
        family.append(bool((result.p_fwe <= 0.05).any()))
    print(f"{null}: per-unit rate {np.mean(per_unit):.3f}, family-wise {np.mean(family):.3f}")
    assert 0.03 <= np.mean(per_unit) <= 0.07
    assert np.mean(family) <= 0.10


@pytest.mark.parametrize("null", ["shift", "phase"])
def test_planted_shared_signal_is_found(null):
    hits, false = [], []
    for seed in range(10):
        responses, planted = _study(500 + seed, amplitude=0.5)
        result = isc_units(responses, null=null, n_surrogates=199, seed=seed)
        hits.append(np.mean(result.p_fwe[planted] <= 0.05))
        false.append(np.mean(result.q[~planted] <= 0.05))
    print(f"{null}: power {np.mean(hits):.2f}, false discoveries {np.mean(false):.3f}")
    assert np.mean(hits) >= 0.8
    assert np.mean(false) <= 0.05
    # leave-one-out against the mean of 7 others, shared variance s = 0.25, noise 1:
    # r = s / sqrt((s + 1) (s + 1 / 7)) = 0.357 (short series bias it slightly down)
    expected = 0.25 / np.sqrt(1.25 * (0.25 + 1 / 7))
    assert float(np.median(result.mean[planted])) == pytest.approx(expected, abs=0.06)


def test_one_unit_matches_the_single_channel_isc():
    rng = np.random.default_rng(3)
    shared = _ar1(rng, 200, 1)
    listeners = [TimeSeries(shared + _ar1(rng, 200, 1), RATE_HZ, names=["x"]) for _ in range(5)]
    many = isc_units({"s": listeners}, n_surrogates=50)
    one = isc(TimeSeries(np.column_stack([s.values[:, 0] for s in listeners]), RATE_HZ))
    assert many.mean[0] == pytest.approx(one.mean, abs=1e-9)
    assert many.to_frame().columns.tolist() == ["unit", "isc", "p", "p_fwe", "q", "isc_s"]


def test_isc_units_refuses_what_cannot_work():
    responses, _ = _study(0, n_participants=2)
    with pytest.raises(DataError, match=">= 3 participants"):
        isc_units(responses)
    responses, _ = _study(0)
    with pytest.raises(DataError, match="min_shift_s"):
        isc_units(responses, min_shift_s=100.0)
    responses["a"][0] = responses["a"][0].replace(np.full((120, 20), np.nan))
    with pytest.raises(DataError, match="NaN"):
        isc_units(responses)


def test_encode_isc_of_bold_finds_the_shared_voxels(tmp_path):
    """`frisson encode` with mode = "isc": voxels following the (shared) ratings pass p_fwe."""
    from click.testing import CliRunner

    from frisson.cli import main
    from frisson.study import voxel_ijk

    planted = write_emotion_study(tmp_path / "study", n_participants=5, block=0.0, seed=5)
    toml = tmp_path / "study.toml"
    toml.write_text(
        '[encode]\nstudy = "study"\noutput = "out"\nmode = "isc"\nn_permutations = 199\n'
    )
    result = CliRunner().invoke(main, ["encode", str(toml)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "isc.tsv", sep="\t")
    truth = planted[tuple(voxel_ijk(list(table["unit"])).T)]
    assert (table["p_fwe"][truth] <= 0.05).mean() >= 0.8
    assert (table["p_fwe"][~truth] <= 0.05).mean() <= 0.01
    assert (table["q"][~truth] <= 0.05).mean() <= 0.05
    assert {f"isc_s{i}.wav" for i in range(1, 5)} <= set(table.columns)
    for suffix in (".nii.gz", ".png", "_surface.png", ".html"):
        assert (tmp_path / "out" / f"isc{suffix}").is_file(), suffix
