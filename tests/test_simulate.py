"""The chills-study simulator: responses at the stimuli's own boundaries, sized confounds."""

import dataclasses
import json
import logging

import numpy as np
import pandas as pd
import pytest

from frisson.errors import ParameterError
from frisson.features import loudness
from frisson.physio.io import read_bids_physio
from frisson.simulate import (
    NULL_FAMILIES,
    StudyParams,
    null_params,
    simulate_study,
    synth_piece,
)

RATE = 100.0
#: Every confound off, no white noise, no spontaneous SCRs: what remains is what a test plants.
QUIET = dataclasses.replace(
    NULL_FAMILIES["clean"],
    spontaneous_per_min=(0.0, 0.0),
    eda_noise_us=0.0,
    trial_noise=0.0,
    latency_jitter_s=0.0,
    ratings_rate_hz=None,
)


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    out = {}
    for i in range(2):
        piece = synth_piece(n_sections=4, section_s=(8.0, 10.0), rate_hz=8000, seed=40 + i)
        piece.write(folder / f"song-{i + 1}.wav")
        out[f"song-{i + 1}.wav"] = piece
    return folder, out


def _label(root, pid):
    return root / f"sub-{pid}" / "beh" / f"sub-{pid}_task-listening"


def _eda_and_onsets(sim, pid):
    eda = read_bids_physio(f"{_label(sim.root, pid)}_recording-physio_physio.tsv.gz")["eda"].values[
        :, 0
    ]
    events = pd.read_csv(f"{_label(sim.root, pid)}_events.tsv", sep="\t")
    music = events[events["trial_type"] == "music"]
    return eda, dict(
        zip(music["stim_file"].str.removeprefix("stimuli/"), music["onset"], strict=True)
    )


def _rise(eda, start_s, window_s):
    """Largest SC within ``window_s`` after ``start_s`` minus SC at ``start_s``."""
    lo = round(start_s * RATE)
    return float(np.nanmax(eda[lo : lo + round(window_s * RATE)]) - eda[lo])


def _truth(sim, name):
    return pd.read_csv(sim.root / "derivatives" / "ground_truth" / name, sep="\t")


def test_boundary_scrs_start_at_the_boundary_plus_the_participants_latency(pieces, tmp_path):
    folder, composed = pieces
    sim = simulate_study(folder, tmp_path / "s", params=StudyParams(n_participants=4), seed=1)
    scrs = _truth(sim, "scr_onsets.tsv")
    latency = _truth(sim, "participants_truth.tsv").set_index("participant")["latency_s"]
    boundary = scrs[scrs["cause"] == "boundary"]
    for name, piece in composed.items():
        # The planted boundaries are the composed ones, read from the file beside the audio.
        np.testing.assert_allclose(sim.drives[name].boundaries_s, piece.boundaries_s, atol=1e-6)
        rows = boundary[boundary["stimulus"] == name]
        assert len(rows) == 4 * piece.boundaries_s.size
        for _, group in rows.groupby("participant"):
            np.testing.assert_allclose(np.sort(group["source_s"]), piece.boundaries_s, atol=1e-3)
    residual = (
        boundary["onset_s"] - boundary["source_s"] - boundary["participant"].map(latency).values
    )
    assert np.abs(residual).max() < 4 * 0.3  # jitter SD 0.3 s
    assert abs(residual.mean()) < 0.15 and 0.2 < residual.std() < 0.4
    assert boundary["evoked"].all() and not scrs.loc[scrs["cause"] != "boundary", "evoked"].any()
    assert set(scrs["cause"]) == {"boundary", "shared", "onset", "loudness", "spontaneous"}
    table = _truth(sim, "boundaries.tsv")
    np.testing.assert_allclose(
        table.loc[table["stimulus"] == "song-1.wav", "time_s"], composed["song-1.wav"].boundaries_s
    )


def test_boundary_scr_amplitude_in_the_written_skin_conductance(pieces, tmp_path):
    _, composed = pieces
    stimuli = tmp_path / "stimuli"
    piece = composed["song-1.wav"]
    piece.write(stimuli / "song-1.wav")
    pd.DataFrame({"time_s": piece.boundaries_s, "strength": [1.0, 0.5, 1.0]}).to_csv(
        stimuli / "song-1_boundaries.tsv", sep="\t", index=False
    )
    params = dataclasses.replace(QUIET, effect_size=1.0, boundary_scr_us=0.4, n_participants=2)
    sim = simulate_study(stimuli, tmp_path / "s", params=params, seed=2)
    latency = sim.truth.set_index("participant")["latency_s"]
    for pid in ("01", "02"):
        eda, onsets = _eda_and_onsets(sim, pid)
        rises = [
            _rise(eda, onsets["song-1.wav"] + b + latency[pid], 6.0) for b in piece.boundaries_s
        ]
        # Strength x boundary_scr_us (x gain 1); the previous SCR's tail, falling over the
        # 1.2 s to the peak, costs <= 0.01 uS of the measured rise.
        np.testing.assert_allclose(rises, [0.4, 0.2, 0.4], atol=0.015)


def test_effect_zero_plants_nothing_at_the_boundaries(pieces, tmp_path):
    folder, _ = pieces
    sim = simulate_study(
        folder, tmp_path / "s", params=null_params("realistic", n_participants=4), seed=3
    )
    assert "boundary" not in set(sim.scr_onsets["cause"])
    assert not sim.scr_onsets["evoked"].any()
    for pid in sim.recordings:
        events = pd.read_csv(f"{_label(sim.root, pid)}_events.tsv", sep="\t")
        assert "chill" not in set(events["trial_type"])
    # The confounds are still there; loudness-driven responses only in their own family
    # (in these pieces loudness rises at the boundaries: see NULL_FAMILIES).
    assert {"shared", "onset"} <= set(sim.scr_onsets["cause"])
    assert "loudness" not in set(sim.scr_onsets["cause"])
    loud = simulate_study(
        folder, tmp_path / "l", params=null_params("loudness", n_participants=2), seed=3
    )
    assert "loudness" in set(loud.scr_onsets["cause"])
    assert "boundary" not in set(loud.scr_onsets["cause"])


def test_onset_response_is_its_stated_size(pieces, tmp_path):
    folder, _ = pieces
    exact = dataclasses.replace(QUIET, onset_response_us=0.5, n_participants=2)
    sim = simulate_study(folder, tmp_path / "exact", params=exact, seed=4)
    for pid in sim.recordings:
        eda, onsets = _eda_and_onsets(sim, pid)
        for onset in onsets.values():
            assert _rise(eda, onset, 8.0) == pytest.approx(0.5, abs=0.005)
    # With gain heterogeneity and trial noise (both mean 1) the mean rise is the stated size.
    varied = dataclasses.replace(exact, gain_sd=0.3, trial_noise=0.2, n_participants=20)
    sim = simulate_study(folder, tmp_path / "varied", params=varied, seed=5)
    rises = []
    for pid in sim.recordings:
        eda, onsets = _eda_and_onsets(sim, pid)
        rises += [_rise(eda, onset, 8.0) for onset in onsets.values()]
    gains = np.repeat(sim.truth["gain"].to_numpy(), 2)  # participants in order, 2 trials each
    # 20 participants, SD of the gain ~ 0.3: SE of the mean rise ~ 0.04 uS (3 SE below).
    assert np.mean(rises) == pytest.approx(0.5, abs=0.12)
    # Divided by the gain, only the trial factor (log-sd 0.2) is left: SE ~ 0.016 uS.
    assert np.mean(np.array(rises) / gains) == pytest.approx(0.5, abs=0.05)
    assert np.std(np.log(sim.truth["gain"])) == pytest.approx(0.3, abs=0.14)


def test_habituation_lowers_the_tonic_level_by_the_planted_amount(pieces, tmp_path):
    folder, _ = pieces
    params = dataclasses.replace(QUIET, habituation_us=0.8, n_participants=2)
    sim = simulate_study(folder, tmp_path / "session", params=params, seed=6)
    for pid, columns in sim.recordings.items():
        eda = columns["eda"]
        assert eda[0] - eda[-1] == pytest.approx(0.8, abs=1e-3)
        assert np.all(np.diff(eda) <= 1e-6)  # falls monotonically, nothing else planted
        assert eda[-1] == pytest.approx(sim.truth.set_index("participant")["tonic_us"][pid], 1e-5)
    params = dataclasses.replace(QUIET, song_habituation_us=0.25, n_participants=1)
    sim = simulate_study(folder, tmp_path / "song", params=params, seed=6)
    eda, onsets = _eda_and_onsets(sim, "01")
    for onset in onsets.values():
        # Rises by 0.25 uS in the first seconds, then decays within the song (tau 15 s).
        assert _rise(eda, onset, 15.0) == pytest.approx(0.25, abs=0.005)
        late = eda[round((onset + 30) * RATE)] - eda[round(onset * RATE)]
        assert 0.0 < late < 0.25 * np.exp(-20 / 15)


def test_drift_is_a_random_walk_of_the_stated_size(pieces, tmp_path):
    folder, _ = pieces
    params = dataclasses.replace(QUIET, drift_us_per_min=0.1, n_participants=4)
    sim = simulate_study(folder, tmp_path / "s", params=params, seed=7)
    steps = np.concatenate([np.diff(c["eda"][:: round(RATE)]) for c in sim.recordings.values()])
    # SD of 1-s increments x sqrt(60) = SD after one minute; ~440 increments: SE ~ 3.4 %.
    assert np.std(steps) * np.sqrt(60) == pytest.approx(0.1, rel=0.12)


def test_shared_scrs_are_the_same_song_moments_for_every_listener(pieces, tmp_path):
    folder, _ = pieces
    params = null_params("shared_scrs", n_participants=5)
    sim = simulate_study(folder, tmp_path / "s", params=params, seed=8)
    shared = sim.scr_onsets[sim.scr_onsets["cause"] == "shared"]
    latency = sim.truth.set_index("participant")["latency_s"]
    table = _truth(sim, "shared_scrs.tsv")
    for name, truth in sim.drives.items():
        assert truth.shared_scr_s.size >= 1
        np.testing.assert_allclose(
            table.loc[table["stimulus"] == name, "time_s"], truth.shared_scr_s, atol=1e-4
        )
        for pid in sim.recordings:
            rows = shared[(shared["stimulus"] == name) & (shared["participant"] == pid)]
            np.testing.assert_allclose(rows["source_s"], truth.shared_scr_s)
            assert np.abs(rows["onset_s"] - rows["source_s"] - latency[pid]).max() < 1.2
    # Amplitude / gain = shared_scr_us x trial factor (mean 1, log-sd 0.2).
    per_gain = shared["amplitude_us"] / shared["participant"].map(
        sim.truth.set_index("participant")["gain"]
    )
    assert per_gain.mean() == pytest.approx(0.3, abs=3 * 0.3 * 0.2 / np.sqrt(len(shared)))


def test_confounds_are_drawn_without_reading_the_boundaries(pieces, tmp_path):
    """Same audio, same seed, other boundaries: every non-boundary SCR stays where it was."""
    _, composed = pieces
    studies = []
    for variant, shift_s in (("a", 0.0), ("b", 3.0)):
        stimuli = tmp_path / variant
        for name, piece in composed.items():
            piece.write(stimuli / name)
            pd.DataFrame({"time_s": piece.boundaries_s + shift_s}).to_csv(
                stimuli / name.replace(".wav", "_boundaries.tsv"), sep="\t", index=False
            )
        params = StudyParams(n_participants=3, shared_scr_per_min=3.0)
        studies.append(
            simulate_study(stimuli, tmp_path / f"study-{variant}", params=params, seed=9)
        )
    a, b = (s.scr_onsets for s in studies)
    for cause in ("shared", "onset", "loudness", "spontaneous"):
        pd.testing.assert_frame_equal(
            a[a["cause"] == cause].reset_index(drop=True),
            b[b["cause"] == cause].reset_index(drop=True),
        )
    moved = b.loc[b["cause"] == "boundary", "source_s"].values
    np.testing.assert_allclose(moved, a.loc[a["cause"] == "boundary", "source_s"].values + 3.0)


def test_loudness_scrs_follow_the_audio_level(pieces, tmp_path):
    folder, composed = pieces
    params = dataclasses.replace(QUIET, loudness_gain_us=0.2, n_participants=2)
    sim = simulate_study(folder, tmp_path / "s", params=params, seed=10)
    rows = sim.scr_onsets[sim.scr_onsets["cause"] == "loudness"]
    for name, piece in composed.items():
        truth = sim.drives[name]
        # The composer alternates loud and soft sections: the surges are the soft-to-loud onsets.
        soft_to_loud = [
            s.onset_s
            for prev, s in zip(piece.sections, piece.sections[1:], strict=False)
            if s.level_db > prev.level_db + 10
        ]
        assert truth.loudness_surges_s.size == len(soft_to_loud) >= 1
        np.testing.assert_allclose(truth.loudness_surges_s, soft_to_loud, atol=0.6)
        # The rise is the A-weighted level's (an independent 1-s difference of 0.5-s means).
        level = loudness(piece.audio, rate_hz=10.0)
        for t, rise_db in zip(truth.loudness_surges_s, truth.loudness_rise_db, strict=True):
            after = level.values[(level.times_s > t) & (level.times_s <= t + 1.0), 0].mean()
            before = level.values[(level.times_s >= t - 1.0) & (level.times_s < t), 0].mean()
            assert rise_db >= 6.0 and after - before == pytest.approx(rise_db, abs=4.0)
        planted = rows[rows["stimulus"] == name]
        expected = 0.2 * np.minimum(truth.loudness_rise_db, 30.0) / 10.0
        for _, group in planted.groupby("participant"):
            np.testing.assert_allclose(group["amplitude_us"], expected)
    eda, onsets = _eda_and_onsets(sim, "01")
    latency = sim.truth.set_index("participant")["latency_s"]["01"]
    for name, onset in onsets.items():
        for t, size in zip(
            sim.drives[name].loudness_surges_s, sim.drives[name].loudness_rise_db, strict=True
        ):
            assert _rise(eda, onset + t + latency, 6.0) == pytest.approx(0.2 * size / 10, abs=0.005)


def test_missed_and_ectopic_beats_in_the_ppg(pieces, tmp_path):
    folder, _ = pieces
    params = dataclasses.replace(QUIET, missed_beat_rate=0.05, ectopic_rate=0.05, n_participants=3)
    sim = simulate_study(folder, tmp_path / "s", params=params, seed=11)
    beats = sim.beats
    counts = beats["kind"].value_counts()
    n = len(beats)  # ~ 3 x 112 s x 70 bpm = 390 beats: 5 % +- 3.3 SE -> 9-31
    assert 0.02 * n < counts["missed"] < 0.09 * n and 0.02 * n < counts["ectopic"] < 0.09 * n
    for pid, columns in sim.recordings.items():
        ppg = columns["ppg"]
        mine = beats[beats["participant"] == pid].reset_index(drop=True)
        times = mine["run_time_s"].to_numpy()
        for i in range(1, len(mine) - 1):
            interval = times[i + 1] - times[i]
            lo = round((times[i] + 0.1 * interval) * RATE)
            peak = ppg[lo : round((times[i] + 0.3 * interval) * RATE)].max()
            kind = mine.loc[i, "kind"]
            if kind == "missed":
                assert peak < 0.15
            elif kind == "normal":
                assert peak > 0.85
            if kind == "ectopic" and mine.loc[i - 1, "kind"] != "ectopic":
                # Premature at 60 % of the interval, then the compensatory pause.
                # (0.6 I) / (2 I) for a normal interval I on either side.
                ratio = (times[i] - times[i - 1]) / (times[i + 1] - times[i - 1])
                assert ratio == pytest.approx(0.3, abs=0.04)


def test_a_stimulus_without_boundaries_gets_no_structure_locked_responses(pieces, tmp_path, caplog):
    _, composed = pieces
    stimuli = tmp_path / "stimuli"
    import soundfile as sf

    composed["song-1.wav"].write(stimuli / "song-1.wav")
    audio = composed["song-2.wav"].audio
    sf.write(stimuli / "bare.wav", audio.samples, int(audio.rate_hz), subtype="PCM_16")
    with caplog.at_level(logging.WARNING, logger="frisson"):
        sim = simulate_study(stimuli, tmp_path / "s", params=StudyParams(n_participants=2), seed=12)
    assert any(
        "bare.wav" in r.getMessage() and "bare_boundaries.tsv" in r.getMessage()
        for r in caplog.records
    )
    assert sim.drives["bare.wav"].boundaries_file is None
    assert sim.drives["bare.wav"].boundaries_s.size == 0
    scrs = sim.scr_onsets
    assert not ((scrs["stimulus"] == "bare.wav") & (scrs["cause"] == "boundary")).any()
    assert ((scrs["stimulus"] == "song-1.wav") & (scrs["cause"] == "boundary")).sum() == 2 * 3
    assert not sim.drives["bare.wav"].drive.values.any()


def test_reproducible_with_a_seed_and_recorded(pieces, tmp_path):
    folder, _ = pieces
    params = StudyParams(n_participants=2)
    one = simulate_study(folder, tmp_path / "one", params=params, seed=13)
    two = simulate_study(folder, tmp_path / "two", params=params, seed=13)
    other = simulate_study(folder, tmp_path / "other", params=params, seed=14)
    for pid in one.recordings:
        for kind in ("eda", "ppg", "emotionality"):
            np.testing.assert_array_equal(one.recordings[pid][kind], two.recordings[pid][kind])
    pd.testing.assert_frame_equal(one.scr_onsets, two.scr_onsets)
    assert not np.allclose(one.recordings["01"]["eda"], other.recordings["01"]["eda"])
    recorded = json.loads((one.root / "derivatives/ground_truth/simulation.json").read_text())
    assert recorded["seed"] == 13
    assert recorded["params"]["onset_response_us"] == 0.3
    assert recorded["units"]["loudness_gain_us"] == "uS per 10 dB surge"
    for name in ("beats.tsv", "artefacts.tsv", "loudness_surges.tsv", "participants_truth.tsv"):
        assert (one.root / "derivatives/ground_truth" / name).is_file()


def test_null_families_and_parameter_errors():
    assert set(NULL_FAMILIES) >= {
        "shared_scrs",
        "onset_habituation",
        "loudness",
        "heterogeneity_artefacts",
        "all",
    }
    assert all(p.effect_size == 0 for p in NULL_FAMILIES.values())
    base = StudyParams()
    assert NULL_FAMILIES["loudness"].loudness_gain_us > base.loudness_gain_us
    assert NULL_FAMILIES["shared_scrs"].shared_scr_per_min > base.shared_scr_per_min
    assert null_params("all", n_participants=30).n_participants == 30
    with pytest.raises(ParameterError, match="family='louder' is not valid"):
        null_params("louder")
    with pytest.raises(ParameterError, match=r"\['encoder'\] are not StudyParams fields"):
        null_params("all", encoder="mel")
    with pytest.raises(ParameterError, match="missed_beat_rate is a probability"):
        simulate_study([], "unused", params=StudyParams(missed_beat_rate=2.0))
    with pytest.raises(ParameterError, match="latency_s must be a range"):
        simulate_study([], "unused", params=StudyParams(latency_s=(3.0, 1.0)))
