"""A trait score that scales each listener's structure-locked responses is found; others are not."""

import sys
from pathlib import Path

import pytest

from frisson.simulate import StudyParams

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _beyond_sim import simulated


@pytest.fixture(scope="module")
def trait(tmp_path_factory):
    params = StudyParams(
        n_participants=14,
        ratings_rate_hz=None,
        physio_rate_hz=40.0,
        trait_scaling=1.0,
        gain_sd=0.0,  # gains equal, so absorption (correlated with the gains) scales nothing
    )
    return simulated(tmp_path_factory, params, seed=7, analyses=("individual",))


def test_the_trait_predicts_the_transition_response_and_the_chill_rate(trait):
    sim, _, results = trait
    table = results.individual.to_frame().set_index(["effect", "score"])
    for effect in ("transition_sc", "chill_rate_per_min"):
        assert table.loc[(effect, "trait"), "p_corrected"] < 0.05
        assert table.loc[(effect, "trait"), "rho"] > 0.5
    effects = results.listener_effects.set_index("participant")
    factor = sim.truth.set_index("participant").trait_factor
    assert effects.transition_sc.corr(factor, method="spearman") > 0.7
