"""Post-listening ratings per song: reading them, the within-listener-and-song test, a plant.

The simulator's ratings carry a listener bias and a song effect every listener
shares (both unrelated to the responses under the null); with
``rating_scaling`` a trial's pleasure deviation also scales that trial's
structure-locked responses. Calibration counts are checked against two-sided
99.9 % binomial intervals.
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frisson.chills_events import trial_associations
from frisson.errors import DataError
from frisson.simulate import StudyParams
from frisson.study import read_study

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _beyond_sim import simulated


def _bounds(n: int, rate: float = 0.05) -> tuple[int, int]:
    low, high = stats.binom.interval(0.999, n, rate)
    return int(low), int(high)


# ------------------------------------------------------------------ reading
def _tiny_study(root: Path, beh: str) -> Path:
    (root / "sub-01/beh").mkdir(parents=True)
    (root / "sub-01/beh/sub-01_task-x_events.tsv").write_text(
        "onset\tduration\ttrial_type\tstim_file\n0\t5\tmusic\ta.wav\n10\t5\tmusic\tb.wav\n"
    )
    (root / "sub-01/beh/sub-01_task-x_beh.tsv").write_text(beh)
    return root


def test_song_ratings_are_read_per_song_and_non_numeric_columns_dropped(tmp_path):
    beh = "stim_file\tpleasure\tcomment\tfamiliarity\na.wav\t71\tnice\tn/a\nb.wav\t20\tmeh\t3\n"
    study = read_study(_tiny_study(tmp_path, beh))
    table = study.song_ratings()
    assert list(table.columns) == ["participant", "stimulus", "pleasure", "familiarity"]
    assert table.pleasure.tolist() == [71.0, 20.0]
    assert np.isnan(table.familiarity[0]) and table.familiarity[1] == 3.0
    # A per-song table is not a continuous rating: the run's responses do not hold it.
    assert study.read_responses(study.runs[0]) == {}


def test_a_song_rated_twice_is_refused_naming_the_file(tmp_path):
    study = read_study(_tiny_study(tmp_path, "stim_file\tpleasure\na.wav\t1\na.wav\t2\n"))
    with pytest.raises(DataError, match=r"_beh.tsv: songs \['a.wav'\] are rated more than once"):
        study.song_ratings()


# ------------------------------------------------------------------ the test's known answers
def _crossed(
    seed: int, slope: float = 0.0, own: bool = False, n_people: int = 12, n_songs: int = 7
):
    """Ratings and Poisson effects, both with listener and song effects; ``slope`` within."""
    rng = np.random.default_rng(seed)
    keys = [
        (f"p{i}", f"s{i * n_songs + j}" if own else f"s{j}")
        for i in range(n_people)
        for j in range(n_songs)
    ]
    people, songs = sorted({k[0] for k in keys}), sorted({k[1] for k in keys})
    a, c = rng.standard_normal((2, len(people)))
    b, d = rng.standard_normal((2, len(songs)))
    z = rng.standard_normal(len(keys))
    ip = [people.index(k[0]) for k in keys]
    js = [songs.index(k[1]) for k in keys]
    rating = 50 + 10 * (a[ip] + b[js] + z)
    effect = rng.poisson(np.exp(0.5 * (c[ip] + d[js]) + slope * z))
    scores = {
        "pleasure": dict(zip(keys, rating, strict=True)),
        "arousal": dict(zip(keys, 50 + 10 * (a[ip] + rng.standard_normal(len(keys))), strict=True)),
    }
    return scores, {"chills": dict(zip(keys, effect.astype(float), strict=True))}


def test_listener_and_song_offsets_do_not_change_the_within_test():
    scores, effects = _crossed(0, slope=0.4)
    base = trial_associations(scores, effects, n_permutations=200, seed=1).rows
    rng = np.random.default_rng(2)
    offset = {f"p{i}": rng.normal(0, 30) for i in range(12)} | {
        f"s{j}": rng.normal(0, 30) for j in range(7)
    }
    shifted = {
        name: {k: v + offset[k[0]] + offset[k[1]] for k, v in values.items()}
        for name, values in scores.items()
    }
    moved = trial_associations(shifted, effects, n_permutations=200, seed=1).rows
    for one, two in zip(base, moved, strict=True):
        assert one["t"] == pytest.approx(two["t"]) and one["p"] == two["p"]
    assert base[0]["df"] == 84 - (1 + 11 + 6) - 1  # trials - listeners - songs + 1 - slope
    # The partial r is the Pearson r of the double-centred (balanced design) values.
    row = next(r for r in base if r["score"] == "pleasure")
    x = np.array([scores["pleasure"][k] for k in sorted(scores["pleasure"])]).reshape(12, 7)
    y = np.array([effects["chills"][k] for k in sorted(effects["chills"])]).reshape(12, 7)
    centre = lambda m: m - m.mean(1, keepdims=True) - m.mean(0, keepdims=True) + m.mean()  # noqa: E731
    assert row["r"] == pytest.approx(np.corrcoef(centre(x).ravel(), centre(y).ravel())[0, 1])


def test_own_songs_drop_the_song_factor():
    scores, effects = _crossed(3, own=True)
    row = trial_associations(scores, effects, n_permutations=99).rows[0]
    assert row["song_factor"] is False and row["n_songs"] == 84
    assert row["df"] == 84 - 12 - 1


@pytest.mark.parametrize("own", [False, True])
def test_the_within_test_is_calibrated_on_crossed_nulls_and_finds_a_slope(own):
    rows = [
        trial_associations(*_crossed(s, own=own), n_permutations=300, seed=s).rows
        for s in range(200)
    ]
    raw = np.array([r["p"] for study in rows for r in study])
    strongest = np.array([min(r["p_corrected"] for r in study) for study in rows])
    for values in (raw, strongest):
        low, high = _bounds(values.size)
        # measured: raw 13 and 20 of 400, corrected 6 and 10 of 200 (shared, own songs)
        assert low <= np.sum(values < 0.05) <= high
    # Own songs keep each song's effect in the residual: a larger slope for the same power.
    slope = 0.6 if own else 0.4
    power = [
        trial_associations(*_crossed(1000 + s, slope=slope, own=own), n_permutations=300).rows
        for s in range(20)
    ]
    hits = [
        next(r for r in study if r["score"] == "pleasure")["p_corrected"] < 0.05 for study in power
    ]
    assert np.mean(hits) >= 0.7  # measured 17 of 20 (shared songs, 0.4), 15 of 20 (own, 0.6)


# ------------------------------------------------------------------ a simulated study
@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    params = StudyParams(
        n_participants=10,
        ratings_rate_hz=None,
        physio_rate_hz=40.0,
        song_ratings=True,
        rating_scaling=1.0,
        spontaneous_chills_per_min=0.3,
    )
    return simulated(tmp_path_factory, params, seed=11, analyses=("individual",))


def test_the_simulator_writes_ratings_with_a_planted_pleasure(rated):
    sim, study, _ = rated
    ratings = study.song_ratings()
    assert len(ratings) == 50 and set(ratings.columns) >= {"pleasure", "arousal", "familiarity"}
    assert ratings[["pleasure", "arousal", "familiarity"]].stack().between(0, 100).all()
    truth = pd.read_csv(sim.root / "derivatives/ground_truth/song_ratings_truth.tsv", sep="\t")
    assert np.allclose(truth.factor, np.maximum(0, 1 + truth.z))
    # Pleasure carries the trial's z; arousal does not.
    assert (
        np.corrcoef(truth.pleasure, truth.z)[0, 1]
        > 0.3
        > abs(np.corrcoef(truth.arousal, truth.z)[0, 1])
    )


def test_the_planted_rating_predicts_its_trials_responses_and_the_others_do_not(rated, tmp_path):
    from frisson.report.beyond_report import write_beyond_report

    sim, _, results = rated
    table = results.song_scores.to_frame().set_index(["effect", "score"])
    assert table.loc[("transition_sc", "pleasure"), "p_corrected"] < 0.01  # measured .0024
    assert table.loc[("transition_sc", "pleasure"), "r"] > 0.4  # measured .53
    for score in ("arousal", "familiarity"):
        assert table.loc[("transition_sc", score), "p_corrected"] > 0.05
    assert table.song_factor.all() and (table.n_participants == 10).all()
    assert "pleasure (listener mean)" in set(results.individual.to_frame().score)
    run = SimpleNamespace(beyond=results, config=SimpleNamespace(study=sim.root))
    files = {p.name for p in write_beyond_report(run, tmp_path, {})}
    assert {"rating_associations.tsv", "trial_effects.tsv", "listener_scores.tsv"} <= files
    assert "rating_pleasure_transition-sc.png" in files


def test_simulator_options_refuse_what_cannot_work(tmp_path):
    from frisson.errors import ParameterError
    from frisson.simulate import simulate_study, synth_piece

    for i in range(3):
        synth_piece(n_sections=2, section_s=(6, 6), rate_hz=8000, seed=i).write(
            tmp_path / "s" / f"p{i}.wav"
        )
    own = StudyParams(n_participants=2, own_songs_per_listener=2, physio_rate_hz=20.0)
    with pytest.raises(ParameterError, match="needs 4 stimuli, got 3"):
        simulate_study(tmp_path / "s", tmp_path / "a", params=own)
    with pytest.raises(ParameterError, match="set song_ratings=True"):
        simulate_study(tmp_path / "s", tmp_path / "b", params=StudyParams(rating_scaling=1.0))
    one = StudyParams(n_participants=3, own_songs_per_listener=1, physio_rate_hz=20.0)
    sim = simulate_study(tmp_path / "s", tmp_path / "c", params=one)
    heard = {
        p: sorted(t.stimulus for t in read_study(sim.root).trials(participant=p))
        for p in ("01", "02", "03")
    }
    assert heard == {"01": ["p0.wav"], "02": ["p1.wav"], "03": ["p2.wav"]}
