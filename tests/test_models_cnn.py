import logging

import numpy as np
import pytest

from frisson.errors import DataError, ParameterError
from frisson.models import (
    ChillsCNN,
    build_pairs,
    participant_folds,
    planted_study,
    split_participants,
    stitch_windows,
    window_layout,
)
from frisson.timeseries import TimeSeries

torch = pytest.importorskip("torch")

# Tiny networks and data: 10 Hz frames, 8 input dimensions, one torch thread (pytest -n 2).
FAST = {"n_filters": 8, "epochs": 60, "patience": 8, "learning_rate": 3e-3, "n_threads": 1}


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Two pytest workers on two cores: idle OpenBLAS threads spin and starve the other worker.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _r(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def _truth_mean(study, participants, song, grid):
    return np.mean(
        [study.targets[p, song].align_to(grid).values[:, 0] for p in participants], axis=0
    )


# ----------------------------------------------------------------------------- windows
def test_window_layout_puts_every_window_at_the_right_time():
    series = TimeSeries(np.zeros((300, 2)), rate_hz=10.0, start_s=0.5)
    layout = window_layout(series, observe_s=12.8, predict_s=3.2, hop_s=4.0)
    assert (layout.observe_frames, layout.predict_frames, layout.hop_frames) == (128, 32, 40)
    assert layout.context_frames == 96
    np.testing.assert_array_equal(layout.starts, [0, 40, 80, 120, 160])
    # Window i observes 0.5 + 4 i .. 0.5 + 4 i + 12.7 s and predicts its last 3.2 s.
    np.testing.assert_allclose(layout.observed_s[:, 0], 0.5 + 4.0 * np.arange(5))
    np.testing.assert_allclose(layout.observed_s[:, 1], 0.5 + 4.0 * np.arange(5) + 12.7)
    np.testing.assert_allclose(layout.predicted_s[:, 0], 0.5 + 4.0 * np.arange(5) + 9.6)
    np.testing.assert_allclose(layout.predicted_s[:, 1], layout.observed_s[:, 1])
    np.testing.assert_array_equal(layout.predicted_index()[1], np.arange(136, 168))
    assert not layout.starts.flags.writeable
    # cover_end adds one window flush with the end (frames 172..299).
    ended = window_layout(series, cover_end=True)
    np.testing.assert_array_equal(ended.starts, [0, 40, 80, 120, 160, 172])
    assert ended.observed_index()[-1, -1] == 299
    with pytest.raises(ParameterError, match=r"predict_s=13 s is longer than observe_s=12\.8 s"):
        window_layout(series, predict_s=13.0)
    # The chills study's grid: DAC frames (44100/512 Hz) averaged with hop 4.
    dac = TimeSeries(np.zeros(2000), rate_hz=44100 / 512 / 4)
    study = window_layout(dac)
    assert (study.observe_frames, study.predict_frames, study.hop_frames) == (276, 69, 86)


def test_stitching_reproduces_the_target_from_identity_predictions():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal(400))
    series = TimeSeries(values, rate_hz=10.0, start_s=2.0)
    for hop_s in (1.0, 3.2):  # overlaps, then exact tiling
        layout = window_layout(series, hop_s=hop_s, cover_end=True)
        stitched = stitch_windows(values[layout.predicted_index()], layout)
        first = layout.predict_starts[0]
        assert stitched.start_s == pytest.approx(2.0 + first / 10.0)
        assert stitched.n_times == 400 - first
        np.testing.assert_allclose(stitched.values[:, 0], values[first:])
    # Gaps (hop 4 s > 3.2 s) are linearly interpolated: exact on a straight line...
    ramp = 0.3 * np.arange(400) - 7.0
    layout = window_layout(series, hop_s=4.0, cover_end=True)
    stitched = stitch_windows(ramp[layout.predicted_index()], layout)
    np.testing.assert_allclose(stitched.values[:, 0], ramp[96:])
    # ...and a chord between the neighbouring predicted frames on a curve.
    stitched = stitch_windows(values[layout.predicted_index()], layout)
    gap = np.arange(128, 136)  # between window 0 (96..127) and window 1 (136..167)
    expected = np.interp(gap, [127, 136], values[[127, 136]])
    np.testing.assert_allclose(stitched.values[gap - 96, 0], expected)
    np.testing.assert_allclose(stitched.values[:32, 0], values[96:128])


def test_stitching_averages_overlapping_windows():
    layout = window_layout(TimeSeries(np.zeros(8), 1.0), observe_s=4, predict_s=3, hop_s=2)
    # Window 0 predicts frames 1-3, window 1 frames 3-5, window 2 frames 5-7.
    stitched = stitch_windows(np.array([[1.0] * 3, [3.0] * 3, [5.0] * 3]), layout)
    np.testing.assert_allclose(stitched.values[:, 0], [1, 1, 2, 3, 4, 5, 5])
    with pytest.raises(DataError, match=r"predictions have shape \(2, 3\), expected \(3, 3\)"):
        stitch_windows(np.zeros((2, 3)), layout)


# ------------------------------------------------------------------------------ fitting
@pytest.fixture(scope="module")
def planted():
    return planted_study(
        n_participants=10, n_songs=4, duration_s=60.0, rate_hz=10.0, noise=0.7, seed=1
    )


@pytest.fixture(scope="module")
def fitted(planted):
    split = split_participants(planted.participants, n_test=4, n_validation=2, seed=0)
    model = ChillsCNN(seed=0, progress_bar=False, **FAST)
    model.fit(
        build_pairs(planted.inputs, planted.targets, split.train),
        build_pairs(planted.inputs, planted.targets, split.validation),
    )
    return model, split


def test_cnn_recovers_a_planted_nonlinear_lagged_filter_on_held_out_participants(planted, fitted):
    model, split = fitted
    real, mismatched, clean = [], [], []
    for k, song in enumerate(planted.songs):
        prediction = model.predict(planted.inputs[song])
        assert prediction.names == ("prediction",) and prediction.start_s == pytest.approx(9.6)
        assert prediction.end_s == pytest.approx(planted.inputs[song].end_s)
        real.append(_r(prediction.values[:, 0], _truth_mean(planted, split.test, song, prediction)))
        other = planted.songs[(k + 1) % len(planted.songs)]
        mismatched.append(
            _r(prediction.values[:, 0], _truth_mean(planted, split.test, other, prediction))
        )
        clean.append(
            _r(prediction.values[:, 0], planted.responses[song].align_to(prediction).values[:, 0])
        )
    # Measured: real r 0.79-0.91, noise-free response 0.93-0.97, mismatched -0.51..0.32
    # (single smooth 50-s series correlate by chance; the median is what is compared).
    assert min(real) > 0.6 and np.median(real) > 0.7
    assert min(clean) > 0.8
    assert abs(np.median(mismatched)) < 0.3 and np.median(real) - np.median(mismatched) > 0.5
    assert model.n_train_windows_ == 4 * 12  # 4 songs x 12 windows, not x 4 participants
    assert 1 <= model.best_epoch_ <= model.n_epochs_ <= FAST["epochs"]
    assert len(model.history_["validation_loss"]) == model.n_epochs_


def test_cnn_learns_the_filter_well_enough_for_new_songs():
    study = planted_study(
        n_participants=6, n_songs=6, duration_s=60.0, rate_hz=10.0, noise=0.5, seed=4
    )
    train_songs, new_songs = study.songs[:4], study.songs[4:]
    model = ChillsCNN(seed=0, progress_bar=False, **FAST).fit(
        study.pairs(study.participants[:4], train_songs),
        study.pairs(study.participants[4:], train_songs),
    )
    for song in new_songs:
        prediction = model.predict(study.inputs[song])
        truth = study.responses[song].align_to(prediction).values[:, 0]
        assert _r(prediction.values[:, 0], truth) > 0.8  # measured 0.95, 0.97


def test_cnn_scores_about_zero_when_targets_ignore_the_music():
    study = planted_study(
        n_participants=8, n_songs=5, duration_s=60.0, rate_hz=10.0, effect=0.0, seed=2
    )
    split = split_participants(study.participants, n_test=3, n_validation=2, seed=0)
    model = ChillsCNN(seed=0, progress_bar=False, **FAST).fit(
        study.pairs(split.train), study.pairs(split.validation)
    )
    rs = [
        _r(
            (p := model.predict(study.inputs[song])).values[:, 0],
            _truth_mean(study, split.test, song, p),
        )
        for song in study.songs
    ]
    # Measured over data seeds 0-4: medians -0.01..0.09, single songs -0.33..0.45.
    assert abs(np.median(rs)) < 0.2
    assert model.best_epoch_ <= 5  # nothing to learn: the validation loss rises almost at once


def test_prediction_is_causal_and_independent_of_window_position(fitted, planted):
    model, _ = fitted
    inputs = planted.inputs["song-1"]
    base = model.predict(inputs).values[:, 0]
    # Changing the music after 30 s leaves every prediction up to 30 s unchanged.
    changed = inputs.values.copy()
    changed[300:] = np.random.default_rng(0).standard_normal(changed[300:].shape)
    after = model.predict(inputs.replace(changed)).values[:, 0]
    np.testing.assert_allclose(after[: 300 - 96 + 1 - 40], base[: 300 - 96 + 1 - 40], atol=1e-5)
    assert not np.allclose(after[-100:], base[-100:])
    # A series that starts 2 s later gives the same predictions for the same frames.
    shifted = model.predict(inputs.crop(2.0, None)).values[:, 0]
    np.testing.assert_allclose(shifted, base[20:], atol=1e-5)
    # The training layout at prediction time (3.2 s every 4 s): the same values on predicted
    # frames, straight lines across the 0.8 s gaps.
    model.set_params(predict_hop_s=4.0)
    try:
        gapped = model.predict(inputs).values[:, 0]
    finally:
        model.set_params(predict_hop_s=None)
    np.testing.assert_allclose(gapped[:32], base[:32], atol=1e-5)
    np.testing.assert_allclose(
        gapped[32:40], np.interp(np.arange(32, 40), [31, 40], base[[31, 40]]), atol=1e-5
    )
    assert not np.allclose(gapped[32:40], base[32:40])


def test_training_is_deterministic_and_restores_torch_state(planted):
    pairs = planted.pairs(planted.participants[:3], planted.songs[:2])
    valid = planted.pairs(planted.participants[3:4], planted.songs[:2])
    params = {**FAST, "epochs": 5}
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    flag_before = torch.are_deterministic_algorithms_enabled()
    threads_before = torch.get_num_threads()
    first = ChillsCNN(seed=7, progress_bar=False, **params).fit(pairs, valid)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.are_deterministic_algorithms_enabled() == flag_before
    assert torch.get_num_threads() == threads_before
    second = ChillsCNN(seed=7, progress_bar=False, **params).fit(pairs, valid)
    other = ChillsCNN(seed=8, progress_bar=False, **params).fit(pairs, valid)
    for (name, a), b, c in zip(
        first.network_.state_dict().items(),
        second.network_.state_dict().values(),
        other.network_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b), name
        assert not torch.equal(a, c), name
    assert first.history_ == second.history_
    np.testing.assert_array_equal(
        first.predict(planted.inputs["song-1"]).values,
        second.predict(planted.inputs["song-1"]).values,
    )


def test_pairs_sharing_a_song_train_on_its_windows_once(planted):
    # A copy of the same input values groups with the original.
    copy = planted.inputs["song-1"].replace(planted.inputs["song-1"].values.copy())
    pairs = [(planted.inputs["song-1"], planted.targets["p01", "song-1"])]
    pairs.append((copy, planted.targets["p02", "song-1"]))
    model = ChillsCNN(seed=0, progress_bar=False, **{**FAST, "epochs": 2}).fit(pairs)
    assert model.n_train_windows_ == 12 and model.n_validation_windows_ == 0
    assert model.best_epoch_ == model.n_epochs_ == 2  # no validation: last epoch kept


def test_fit_logs_the_resolved_windows(planted, caplog):
    with caplog.at_level(logging.INFO, logger="frisson"):
        ChillsCNN(seed=0, progress_bar=False, **{**FAST, "epochs": 1}).fit(
            planted.pairs(["p01"], ["song-1"])
        )
    assert "windows of 128 frames (12.80 s) observed, last 32 (3.20 s) predicted" in caplog.text


def test_targets_on_another_grid_are_aligned_and_nan_frames_ignored(planted):
    song = planted.inputs["song-1"]
    target = planted.targets["p01", "song-1"]
    fast = target.resample(40.0)  # e.g. EDA at its own rate
    with_gap = target.values.copy()
    with_gap[100:150] = np.nan  # a dropout
    pairs = [(song, fast), (song, target.replace(with_gap))]
    model = ChillsCNN(seed=0, progress_bar=False, **{**FAST, "epochs": 2}).fit(pairs)
    assert np.isfinite(model.predict(song).values).all()


def test_estimator_params_follow_scikit_learn_conventions():
    model = ChillsCNN(n_filters=4, seed=3)
    assert model.get_params()["n_filters"] == 4 and model.get_params()["observe_s"] == 12.8
    assert repr(model) == "ChillsCNN(n_filters=4, seed=3)"
    assert model.set_params(dropout=0.5) is model and model.dropout == 0.5
    assert not hasattr(model, "network_")
    with pytest.raises(ParameterError, match="no parameter 'filters'"):
        model.set_params(filters=3)


# ------------------------------------------------------------------------------- errors
def test_errors_name_the_problem_and_the_fix(planted, fitted):
    model, _ = fitted
    song = planted.inputs["song-1"]
    target = planted.targets["p01", "song-1"]
    short = song.crop(None, 10.0)
    with pytest.raises(
        DataError,
        match=r"train_pairs\[0\] inputs covers 10.10 s \(101 frames at 10 Hz\), less than",
    ):
        ChillsCNN(**FAST).fit([(short, target)])
    with pytest.raises(DataError, match=r"less than one window of observe_s = 12.80 s"):
        model.predict(short)
    slow = song.resample(5.0)
    with pytest.raises(DataError, match=r"train_pairs\[1\] inputs are at 5 Hz but the first"):
        ChillsCNN(**FAST).fit([(song, target), (slow, target)])
    with pytest.raises(DataError, match="fitted at 10 Hz; resample"):
        model.predict(slow)
    with pytest.raises(DataError, match="3 dimensions but the model was fitted on 8"):
        model.predict(song.select(["dim0", "dim1", "dim2"]))
    with pytest.raises(DataError, match=r"validation_pairs\[0\] inputs have 2 dimensions"):
        ChillsCNN(**FAST).fit([(song, target)], [(song.select(["dim0", "dim1"]), target)])
    nan = song.values.copy()
    nan[5] = np.nan
    with pytest.raises(DataError, match=r"1 frames with NaN or inf \(first at 0.50 s\)"):
        ChillsCNN(**FAST).fit([(song.replace(nan), target)])
    two = TimeSeries(np.zeros((600, 2)), 10.0)
    with pytest.raises(DataError, match="target has 2 channels"):
        ChillsCNN(**FAST).fit([(song, two)])
    late = target.replace(start_s=100.0)
    with pytest.raises(DataError, match="does not overlap its inputs"):
        ChillsCNN(**FAST).fit([(song, late)])
    with pytest.raises(DataError, match="train_pairs is empty"):
        ChillsCNN(**FAST).fit([])
    with pytest.raises(ParameterError, match="list of \\(inputs, target\\) pairs, not one pair"):
        ChillsCNN(**FAST).fit((song, target))
    with pytest.raises(ParameterError, match="must be a frisson TimeSeries"):
        ChillsCNN(**FAST).fit([(song.values, target)])
    with pytest.raises(ParameterError, match="not fitted yet"):
        ChillsCNN().predict(song)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"predict_s": 20.0}, "predict_s=20 s exceeds observe_s=12.8 s"),
        ({"kernel_s": 11.0}, r"kernel_s=11 s \(110 frames\) is longer than the context"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"hop_s": 0.01}, "hop_s=0.01 s is shorter than one frame at 10 Hz"),
        ({"device": "gpu9"}, "device='gpu9' is not a torch device"),
        ({"seed": None}, "seed must be an integer"),
    ],
)
def test_invalid_parameters_are_refused_at_fit(planted, params, message):
    pairs = planted.pairs(["p01"], ["song-1"])
    with pytest.raises(ParameterError, match=message):
        ChillsCNN(**{**FAST, **params}).fit(pairs)


# ------------------------------------------------------------------------------- splits
def test_split_participants_matches_the_study_and_is_seeded():
    labels = [f"{i:02d}" for i in range(40)]
    split = split_participants(labels + labels[:5], seed=0)  # repeats are merged
    assert (len(split.train), len(split.validation), len(split.test)) == (25, 5, 10)
    everyone = set(split.train) | set(split.validation) | set(split.test)
    assert everyone == set(labels) and len(split.train + split.validation + split.test) == 40
    assert split == split_participants(list(reversed(labels)), seed=0)  # order does not matter
    assert split.test != split_participants(labels, seed=1).test
    with pytest.raises(ParameterError, match=r"at least n_test \+ n_validation \+ 1 = 16"):
        split_participants(labels[:12], seed=0)
    with pytest.raises(ParameterError, match="got the string"):
        split_participants("p01", seed=0)


def test_participant_folds_test_everyone_exactly_once():
    labels = [f"p{i}" for i in range(11)]
    folds = participant_folds(labels, n_folds=4, n_validation=2, seed=3)
    assert len(folds) == 4
    tested = [p for fold in folds for p in fold.test]
    assert sorted(tested) == sorted(labels)
    for fold in folds:
        sets = [set(fold.train), set(fold.validation), set(fold.test)]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert len(fold.validation) == 2 and set.union(*sets) == set(labels)
    assert folds == participant_folds(labels, n_folds=4, n_validation=2, seed=3)
    with pytest.raises(ParameterError, match="n_folds=12 exceeds the 11 participants"):
        participant_folds(labels, n_folds=12)
    with pytest.raises(ParameterError, match="fewer than n_validation"):
        participant_folds(labels[:3], n_folds=3, n_validation=2)


def test_build_pairs_skips_missing_trials(planted):
    targets = dict(planted.targets)
    del targets["p02", "song-3"]
    pairs = build_pairs(planted.inputs, targets, ["p01", "p02"])
    assert len(pairs) == 7
    assert pairs[0][0] is planted.inputs["song-1"] and pairs[0][1] is targets["p01", "song-1"]
    with pytest.raises(DataError, match="No target for participants"):
        build_pairs(planted.inputs, targets, ["nobody"])
    with pytest.raises(DataError, match=r"songs \['song-9'\] have no input series"):
        build_pairs(planted.inputs, targets, ["p01"], songs=["song-9"])


def test_progress_bar_over_epochs_goes_to_stderr(planted, capsys):
    pairs = planted.pairs(["p01"], ["song-1"])
    ChillsCNN(seed=0, progress_bar=True, **{**FAST, "epochs": 2}).fit(pairs)
    assert "ChillsCNN epochs" in capsys.readouterr().err
    ChillsCNN(seed=0, progress_bar=False, **{**FAST, "epochs": 2}).fit(pairs)
    assert capsys.readouterr().err == ""


def test_fitted_model_pickles_for_caching(fitted, planted):
    import pickle

    model, _ = fitted
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        restored.predict(planted.inputs["song-2"]).values,
        model.predict(planted.inputs["song-2"]).values,
    )
