"""Heart rate as an encode target (channel 'hr' from PPG/ECG) and ISC of ratings and physiology."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from frisson.errors import DataError
from frisson.physio import Beats, heart_rate
from frisson.pipelines import run_study_isc
from frisson.pipelines.encoding import EncodeConfig, _physio_targets, _trial_heart_rate
from frisson.simulate import StudyParams, simulate_study, synth_piece
from frisson.study import read_study
from frisson.timeseries import TimeSeries


@pytest.fixture(scope="module")
def chills_study(tmp_path_factory):
    """4 listeners, 3 pieces; physiology (eda, ppg) at 100 Hz, continuous ratings at 5 Hz."""
    root = tmp_path_factory.mktemp("hr")
    for i in range(3):
        synth_piece(n_sections=3, section_s=(9.0, 11.0), rate_hz=8000, seed=70 + i).write(
            root / f"piece-{i + 1}.wav"
        )
    params = StudyParams(
        n_participants=4, physio_rate_hz=100.0, dropout_probability=0.0, motion_per_min=0.0
    )
    simulate_study(sorted(root.glob("*.wav")), root / "study", params=params, seed=4)
    return root / "study"


def test_hr_target_follows_the_planted_beats(chills_study, tmp_path):
    config = EncodeConfig(
        study=chills_study, output=tmp_path / "o", target="physio", channels=("hr",), post_s=0.0
    )
    study = read_study(chills_study)
    truth = pd.read_csv(
        chills_study / "derivatives/ground_truth/beats.tsv", sep="\t", dtype={"participant": str}
    )
    run = next(r for r in study.runs if r.participant == "01")
    segments, placements = _physio_targets(study, config, [run])
    assert len(segments) == 3 and segments[0].names == ("hr",)
    onsets = {name: onset for onset, _, name in study.presentations(run)}
    beats_s = truth.loc[truth["participant"] == "01", "run_time_s"].to_numpy()
    errors = []
    for segment, placed in zip(segments, placements, strict=True):
        onset = onsets[placed[0][1]]
        local = beats_s - onset
        planted = Beats(local, "ppg", "planted", 0, (local[0], local[-1]))
        expected = heart_rate(
            planted, rate_hz=5.0, start_s=segment.start_s, end_s=segment.end_s
        ).sample_at(segment.times_s, width_s=0.2)[:, 0]
        errors.append(np.nanmean(np.abs(segment.values[:, 0] - expected)))
        assert 40 < np.nanmedian(segment.values[:, 0]) < 140
    assert max(errors) < 1.5  # bpm: detected PPG peaks against the planted beats


def _trial(signal: TimeSeries, **responses) -> SimpleNamespace:
    return SimpleNamespace(stimulus="s.wav", responses={"ppg": signal, **responses})


def _ppg(duration_s: float, bpm: float, rate_hz: float = 100.0) -> TimeSeries:
    t = np.arange(int(duration_s * rate_hz)) / rate_hz - 5.0  # 5 s before onset
    phase = (t * bpm / 60.0) % 1.0
    values = np.exp(-(((phase - 0.2) / 0.08) ** 2)) + 0.4 * np.exp(-(((phase - 0.5) / 0.1) ** 2))
    return TimeSeries(values, rate_hz, start_s=t[0], names=["ppg"])


def test_heart_rate_is_nan_where_the_ppg_was_lost():
    signal = _ppg(65.0, 72.0)
    values = np.asarray(signal.values, dtype=float).copy()
    lost = (signal.times_s > 30.0) & (signal.times_s < 36.0)
    values[lost] = np.nan
    times = np.arange(0, 60.0, 0.2)
    run = SimpleNamespace(events="sub-01_events.tsv")
    hr = _trial_heart_rate(_trial(signal.replace(values)), times, run)
    near = (times > 25.0) & (times < 41.0)  # the gap and half a 10-s window each side
    assert np.isnan(hr[near]).all()
    assert np.nanmax(np.abs(hr[~near] - 72.0)) < 1.0
    assert np.isfinite(hr[times < 20.0]).all()
    with pytest.raises(DataError, match="derived from a ppg or ecg"):
        _trial_heart_rate(SimpleNamespace(stimulus="s", responses={}), times, run)


def test_isc_of_ratings_and_of_heart_rate(chills_study, tmp_path):
    ratings = run_study_isc(
        EncodeConfig(
            study=chills_study,
            output=tmp_path / "r",
            mode="isc",
            target="ratings",
            n_permutations=199,
        )
    )
    assert ratings.isc.units == ["emotionality"]
    assert ratings.isc.mean[0] > 0.3 and ratings.isc.p_fwe[0] <= 0.05
    assert ratings.isc.n_participants == 4 and len(ratings.isc.stimuli) == 3
    physio = run_study_isc(
        EncodeConfig(
            study=chills_study,
            output=tmp_path / "p",
            mode="isc",
            target="physio",
            channels=("eda", "hr"),
            n_permutations=199,
        )
    )
    assert physio.isc.units == ["eda", "hr"]
    assert np.isfinite(physio.isc.mean).all()
    frame = physio.isc.to_frame()
    assert list(frame["unit"]) == ["eda", "hr"] and frame["q"].between(0, 1).all()
