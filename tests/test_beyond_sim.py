"""The simulator plants chills, heart-rate responses and a trait; the opt-in analyses find them.

The analyses get the simulator's own section boundaries as the transitions (the
latent analysis is tested elsewhere), the study's chill reports, PPG and
``participants.tsv``: what ``frisson run`` gives them after its latent step.
The effect-free twin (``test_beyond_sim_null.py``) and the trait study
(``test_beyond_sim_trait.py``) check the other side and the listener scores;
the null calibration is in ``test_beyond.py`` and ``test_beyond_calibration.py``.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frisson.simulate import StudyParams

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _beyond_sim import simulated

ANALYSES = ("chills", "heart")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    params = StudyParams(
        n_participants=8,
        ratings_rate_hz=None,
        physio_rate_hz=40.0,
        spontaneous_chills_per_min=0.5,
        chill_scr_us=0.3,
        chill_hr_bpm=4.0,
        trait_scaling=1.0,
    )
    return simulated(tmp_path_factory, params, seed=3, analyses=ANALYSES)


def test_the_simulator_ties_chills_to_composed_boundaries_and_writes_the_trait(planted):
    sim, study, _ = planted
    assert "trait" in study.participants.columns
    truth = sim.truth.set_index("participant")
    assert np.allclose(truth.trait_factor, np.maximum(0, 1 + (truth.trait - 50) / 10), atol=0.01)
    # Every planted chill SCR follows a chill report by 0-1 s.
    chill_scrs = sim.scr_onsets[sim.scr_onsets.cause == "chill"]
    delay = chill_scrs.onset_s - chill_scrs.source_s
    assert len(chill_scrs) > 50 and delay.between(0.0, 1.0).all()
    # Chills within latency (1-3 s) + 1 s after a boundary are far likelier than elsewhere.
    near = total = 0
    for trial in study.trials():
        boundaries = sim.drives[trial.stimulus].boundaries_s
        for chill in trial.event_times_s("chill"):
            total += 1
            near += bool(np.any((chill - boundaries >= 1.0) & (chill - boundaries <= 4.0)))
    span = sum(len(t.boundaries_s) * 3.0 for t in sim.drives.values())
    music = sum(t.duration_s for t in sim.drives.values())
    assert near / total > 3 * span / music  # uniform chills would give span / music


def test_chill_locked_sc_hit_rate_and_heart_rate_are_recovered(planted):
    _, _, results = planted
    rows = pd.DataFrame(results.summary_rows()).set_index("test")
    smallest = 2.0**-5  # 5 songs, exact sign flips
    for test in ("skin conductance @ chills", "chill hit rate after transitions"):
        assert rows.loc[test, "p"] == pytest.approx(smallest)
        assert rows.loc[test, "ci_low"] > 0
    for test in ("heart rate @ transitions", "heart rate @ chills"):  # 4 bpm at chills
        assert rows.loc[test, "p"] == pytest.approx(smallest)
        assert rows.loc[test, "ci_low"] > 0
    assert set(rows.unit) == {"song"}
    assert results.counts["trials"] == 40 and results.counts["cardiac_left_out"] == 0


def test_report_tables_figures_and_section(planted, tmp_path):
    from types import SimpleNamespace

    from frisson.report.beyond_report import write_beyond_report

    sim, _, results = planted
    run = SimpleNamespace(beyond=results, config=SimpleNamespace(study=sim.root))
    sections = {}
    files = {
        p.relative_to(tmp_path).as_posix() for p in write_beyond_report(run, tmp_path, sections)
    }
    assert {"beyond/summary.tsv", "beyond/chill_hits.tsv", "beyond/settings.json"} <= files
    assert "beyond/skin-conductance-at-chills.png" in files
    assert "beyond/heart-rate-at-transitions_timecourse.tsv" in files
    summary = pd.read_csv(tmp_path / "beyond" / "summary.tsv", sep="\t").set_index("test")
    assert summary.loc["skin conductance @ chills", "p"] == pytest.approx(2.0**-5)
    titles = [child.title for child in sections["beyond"].children]
    assert "Chills after transitions" in titles and "heart rate @ chills" in titles
    assert write_beyond_report(SimpleNamespace(beyond=None), tmp_path, {}) == []
