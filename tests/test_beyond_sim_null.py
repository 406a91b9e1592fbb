"""The effect-free twin: chills at random moments, nothing planted at them or at boundaries.

One null study cannot show calibration (``test_beyond.py`` and
``test_beyond_calibration.py`` do, over hundreds of null datasets); it shows
that the planted study's numbers are not what the analyses give anyway.
"""

import sys
from pathlib import Path

import pandas as pd
import pytest

from frisson.simulate import null_params

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _beyond_sim import simulated


@pytest.fixture(scope="module")
def null(tmp_path_factory):
    params = null_params(
        "realistic",
        n_participants=10,
        ratings_rate_hz=None,
        physio_rate_hz=40.0,
        spontaneous_chills_per_min=1.0,
        trait_scaling=0.0,
    )
    return simulated(tmp_path_factory, params, seed=5, analyses=("chills", "individual"))


def test_random_chills_are_not_locked_to_sc_nor_predicted_by_transitions(null):
    sim, _, results = null
    assert set(sim.scr_onsets.cause) >= {"shared", "onset", "spontaneous"}
    assert "boundary" not in set(sim.scr_onsets.cause) and "chill" not in set(sim.scr_onsets.cause)
    rows = pd.DataFrame(results.summary_rows()).set_index("test")
    for test in ("skin conductance @ chills", "chill hit rate after transitions"):
        assert rows.loc[test, "p"] > 0.05
        assert rows.loc[test, "ci_low"] < 0 < rows.loc[test, "ci_high"]
    assert results.counts["chills"] > 20  # chills were reported, just not at the music


def test_a_trait_that_scales_nothing_is_not_associated(null):
    _, study, results = null
    assert "trait" in study.participants.columns
    table = results.individual.to_frame()
    assert set(table.score) == {"absorption", "trait"}
    assert (table.loc[table.score == "trait", "p_corrected"] > 0.05).all()
