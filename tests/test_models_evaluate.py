import logging

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold

from frisson.errors import DataError, ParameterError
from frisson.models import (
    ChillsCNN,
    DelayedRidge,
    Evaluation,
    evaluate_models,
    mismatched_song_control,
    planted_study,
    predict_held_out_songs,
    predict_songs,
    score_predictions,
    song_folds,
    split_participants,
)
from frisson.timeseries import TimeSeries


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Two pytest workers on two cores: idle OpenBLAS threads spin and starve the other worker.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def clone(model):
    return type(model)(**model.get_params())


def _ar1(rng, n, phi, burn=200):
    return lfilter([1.0], [1.0, -phi], rng.standard_normal(n + burn))[burn:]


# ------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("null", ["circular", "phase"])
def test_song_p_values_are_calibrated_on_independent_ar1_pairs(null):
    rng = np.random.default_rng(0)
    n_songs, n = 210, 400
    predictions, truths, naive = {}, {}, []
    for k in range(n_songs):
        x, y = _ar1(rng, n, 0.9), _ar1(rng, n, 0.9)
        predictions[f"s{k}"] = TimeSeries(x, 10.0)
        truths[f"s{k}"] = [TimeSeries(y, 10.0)]
        naive.append(stats.pearsonr(x, y).pvalue)
    result = score_predictions(predictions, truths, null=null, n_surrogates=199, seed=1)
    p = np.array([s.p for s in result.scores])
    # Measured: 5.7 % (circular) and 3.8 % (phase) at alpha 0.05; the textbook p: 52 %.
    assert 0.02 <= np.mean(p < 0.05) <= 0.09
    assert np.mean(np.array(naive) < 0.05) > 0.3
    assert abs(result.median_r("cnn")) < 0.05
    if null == "phase":
        # Calibrated in the tail too, so Fisher's combination stays valid: p uniform (KS),
        # 0.5 % below 0.01, and the combined p of all 210 null songs is unremarkable.
        assert stats.kstest(p, "uniform").pvalue > 0.05
        assert np.mean(p < 0.01) <= 0.02
        assert result.fisher_p("cnn") > 0.05


# ------------------------------------------------------------------------ definitions
@pytest.fixture(scope="module")
def planted():
    return planted_study(n_participants=6, n_songs=3, duration_s=[60.0, 40.0, 50.0], rate_hz=10.0)


def test_scores_follow_their_definitions(planted):
    truths = planted.truths(planted.participants)
    result = score_predictions(planted.responses, truths, model="truth", n_surrogates=999)
    circular = score_predictions(
        planted.responses, truths, model="truth", n_surrogates=999, null="circular"
    )
    first = result.scores[0]
    assert (first.model, first.song, first.truth_song) == ("truth", "song-1", "song-1")
    x = planted.responses["song-1"].values[:, 0]
    ys = np.stack([t.values[:, 0] for t in truths["song-1"]])
    assert first.r == pytest.approx(np.corrcoef(x, ys.mean(axis=0))[0, 1], abs=1e-9)
    per_participant = [np.corrcoef(x, y)[0, 1] for y in ys]
    assert first.r_participants == pytest.approx(np.tanh(np.mean(np.arctanh(per_participant))))
    assert (first.n_participants, first.n_times, first.duration_s) == (6, 600, 60.0)
    assert first.p == pytest.approx(1 / 1000)  # phase surrogates: smallest p = 1 / (1 + 999)
    # Circular shifts of at least a tenth of 600 frames: 481 surrogates, smallest p = 1/482.
    assert circular.scores[0].p == pytest.approx(1 / 482)
    assert circular.scores[0].r == first.r
    assert result.median_r("truth") == pytest.approx(np.median([s.r for s in result.scores]))
    assert result.fisher_p("truth") == pytest.approx(
        stats.combine_pvalues([s.p for s in result.scores], method="fisher").pvalue
    )
    assert result.fisher_p("truth") < 1e-6
    # Truths keyed by participant score the same.
    keyed = {
        song: dict(zip(planted.participants, series, strict=True))
        for song, series in truths.items()
    }
    again = score_predictions(planted.responses, keyed, model="truth", n_surrogates=999)
    assert again.scores == result.scores


def test_mismatched_control_pairs_each_song_with_another_over_their_common_span(planted):
    truths = planted.truths(planted.participants)
    real = score_predictions(planted.responses, truths, model="truth", n_surrogates=199)
    control = mismatched_song_control(
        planted.responses, truths, model="truth", n_surrogates=199, shift=2
    )
    assert control.models == ("truth | mismatched songs",)
    pairs = [(s.song, s.truth_song, s.n_times) for s in control.scores]
    assert pairs == [
        ("song-1", "song-3", 500),
        ("song-2", "song-1", 400),
        ("song-3", "song-2", 400),
    ]
    assert real.median_r("truth") > 0.7  # measured 0.80
    assert abs(control.median_r("truth | mismatched songs")) < 0.3  # measured 0.02
    assert control.params["shift"] == 2


def test_truths_on_other_grids_with_gaps_are_aligned(planted, caplog):
    prediction = planted.responses["song-1"]
    truths = [t.resample(5.0) for t in planted.truths(planted.participants)["song-1"]]
    truths[0] = planted.targets["p01", "song-1"].replace(start_s=-3.0)  # starts before the song
    gap = truths[1].values.copy()
    gap[:] = np.nan
    truths[1] = truths[1].replace(gap)  # a participant without data
    with caplog.at_level(logging.WARNING, logger="frisson"):
        result = score_predictions({"song-1": prediction}, {"song-1": truths}, n_surrogates=99)
    score = result.scores[0]
    assert score.n_times == 599 and score.r > 0.7  # the 5 Hz truths end at 59.8 s, not 59.9
    assert "interpolated" not in caplog.text
    # Every participant missing in the middle: those frames are interpolated, with a warning.
    holes = [t.replace(np.where((t.times_s > 20) & (t.times_s < 22), np.nan, t.values[:, 0]))
             for t in planted.truths(planted.participants)["song-1"]]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="frisson"):
        score_predictions({"song-1": prediction}, {"song-1": holes}, n_surrogates=99)
    assert "19 frames without a prediction or any response" in caplog.text


def test_evaluation_tables(planted):
    truths = planted.truths(planted.participants)
    noise = {
        s: r.replace(np.random.default_rng(0).standard_normal(r.n_times))
        for s, r in planted.responses.items()
    }
    result = evaluate_models(
        {"truth": planted.responses, "noise": noise}, truths, n_surrogates=99, seed=3
    )
    assert result.models == ("truth", "noise", "truth | mismatched songs")
    frame = result.to_frame()
    assert list(frame.columns) == [
        "model",
        "song",
        "truth_song",
        "r",
        "p",
        "r_participants",
        "n_participants",
        "n_times",
        "duration_s",
    ]
    assert len(frame) == 9
    summary = result.summary().set_index("model")
    assert summary.loc["truth", "n_significant"] == 3
    assert summary.loc["truth", "median_r"] > 0.7 and abs(summary.loc["noise", "median_r"]) < 0.2
    assert result.params == {"null": "phase", "n_surrogates": 99, "seed": 3, "shift": 1}
    assert len(result.for_model("noise")) == 3
    with pytest.raises(ParameterError, match="No scores for model 'cnn'; models: truth, noise"):
        result.median_r("cnn")
    with pytest.raises(ParameterError, match="Both evaluations score models"):
        result + result


def test_evaluation_errors_name_the_fix(planted):
    truths = planted.truths(planted.participants)
    responses = planted.responses
    with pytest.raises(DataError, match=r"No held-out responses for predicted songs \['x'\]"):
        score_predictions({"x": responses["song-1"]}, truths)
    with pytest.raises(DataError, match="must be a one-channel TimeSeries"):
        score_predictions({"song-1": planted.inputs["song-1"]}, truths)
    late = {"song-1": responses["song-1"].replace(start_s=500.0)}
    with pytest.raises(DataError, match="share 0 frames, fewer than 10; both must be on stimulus"):
        score_predictions(late, truths)
    with pytest.raises(DataError, match="needs at least 2 songs"):
        mismatched_song_control({"song-1": responses["song-1"]}, truths)
    with pytest.raises(ParameterError, match="shift=3 must be between 1 and n_songs - 1 = 2"):
        mismatched_song_control(responses, truths, shift=3)
    with pytest.raises(ParameterError, match="null='iid' is not valid"):
        score_predictions(responses, truths, null="iid")
    with pytest.raises(ParameterError, match="control='cnn' is not valid"):
        evaluate_models({"truth": responses}, truths, control="cnn")
    with pytest.raises(DataError, match="no held-out participant series"):
        score_predictions(responses, {**truths, "song-1": []})


# ------------------------------------------------------------------------ ridge baseline
def _oracle_design(ridge, series):
    z = (series.values - ridge.input_mean_) / ridge.input_scale_
    d, n = ridge.delays_frames_, series.n_times
    return np.concatenate([z[d[-1] - k : n - k] for k in d], axis=1)


def test_delayed_ridge_matches_scikit_learn_on_the_explicit_per_song_design(planted):
    pairs = planted.pairs(planted.participants[:4])
    with_gap = pairs[1][1].values.copy()
    with_gap[200:230] = np.nan
    pairs[1] = (pairs[1][0], pairs[1][1].replace(with_gap))
    ridge = DelayedRidge(n_components=None, alphas=[30.0], delay_step_s=1.0)
    ridge.fit(pairs, planted.pairs(planted.participants[4:]))
    assert ridge.delays_frames_.tolist() == [*range(0, 91, 10), 96]  # the largest delay is kept
    xs, ys = [], []
    for inputs, target in pairs:  # delays built per song: nothing crosses a song boundary
        x, y = _oracle_design(ridge, inputs), target.values[ridge.delays_frames_[-1] :, 0]
        xs.append(x[np.isfinite(y)])
        ys.append(y[np.isfinite(y)])
    oracle = Ridge(alpha=30.0).fit(np.concatenate(xs), np.concatenate(ys))
    np.testing.assert_allclose(ridge.coef_, oracle.coef_, rtol=1e-6, atol=1e-9)
    assert ridge.intercept_ == pytest.approx(oracle.intercept_, rel=1e-6)
    one_thread = DelayedRidge(n_components=None, alphas=[30.0], delay_step_s=1.0, n_threads=1)
    one_thread.fit(pairs, planted.pairs(planted.participants[4:]))
    np.testing.assert_allclose(one_thread.coef_, ridge.coef_, rtol=1e-9)
    prediction = ridge.predict(planted.inputs["song-2"])
    assert prediction.start_s == pytest.approx(9.6) and prediction.n_times == 400 - 96
    np.testing.assert_allclose(
        prediction.values[:, 0], oracle.predict(_oracle_design(ridge, planted.inputs["song-2"]))
    )


def test_delayed_ridge_cross_validation_matches_a_brute_force_oracle(planted):
    pairs = planted.pairs(planted.participants)
    groups = [p for p in planted.participants for _ in planted.songs]
    alphas = [1.0, 100.0, 1e4, 1e6]
    ridge = DelayedRidge(n_components=4, alphas=alphas, n_folds=3).fit(pairs, groups=groups)
    assert ridge.components_.shape == (4, 8)
    sse, count = np.zeros(len(alphas)), 0
    designs = [
        (_oracle_design(ridge, x) @ np.kron(np.eye(ridge.delays_frames_.size), ridge.components_.T),
         y.values[96:, 0]) for x, y in pairs
    ]  # fmt: skip
    for fit_idx, test_idx in GroupKFold(n_splits=3).split(pairs, groups=groups):
        xf = np.concatenate([designs[i][0] for i in fit_idx])
        yf = np.concatenate([designs[i][1] for i in fit_idx])
        xt = np.concatenate([designs[i][0] for i in test_idx])
        yt = np.concatenate([designs[i][1] for i in test_idx])
        for a, alpha in enumerate(alphas):
            sse[a] += np.sum((Ridge(alpha=alpha).fit(xf, yf).predict(xt) - yt) ** 2)
        count += yt.size
    np.testing.assert_allclose(ridge.scores_, sse / count, rtol=1e-6)
    assert ridge.alpha_ == alphas[int(np.argmin(sse))]


def test_delayed_ridge_errors(planted):
    pairs = planted.pairs(planted.participants[:2])
    with pytest.raises(ParameterError, match="needs validation_pairs or groups"):
        DelayedRidge().fit(pairs)
    with pytest.raises(ParameterError, match="not both"):
        DelayedRidge().fit(pairs, pairs, groups=["a"] * 6)
    with pytest.raises(ParameterError, match="has a negative delay"):
        DelayedRidge(delays_s=(-1.0, 2.0)).fit(pairs, groups=["a"] * 6)
    with pytest.raises(ParameterError, match="groups has 2 labels for 6 train_pairs"):
        DelayedRidge().fit(pairs, groups=["a", "b"])
    with pytest.raises(DataError, match="cross-validation needs at least 2 groups"):
        DelayedRidge().fit(pairs, groups=["a"] * 6)
    with pytest.raises(DataError, match=r"covers 5.00 s \(50 frames\), not longer than the"):
        DelayedRidge().fit([(planted.inputs["song-1"].crop(None, 4.95), pairs[0][1])], pairs)
    with pytest.raises(ParameterError, match="not fitted yet"):
        DelayedRidge().predict(planted.inputs["song-1"])


# ------------------------------------------------------------------- the whole table
FAST = {"n_filters": 8, "epochs": 40, "patience": 6, "learning_rate": 3e-3, "n_threads": 1}


def test_the_table_on_a_planted_relation_held_out_participants_and_held_out_songs():
    study = planted_study(
        n_participants=10, n_songs=6, duration_s=60.0, rate_hz=10.0, noise=0.7, seed=5
    )
    split = split_participants(study.participants, n_test=4, n_validation=2, seed=0)
    cnn = ChillsCNN(seed=0, progress_bar=False, **FAST)
    ridge = DelayedRidge(n_components=None)
    # "Acoustic features" that miss the dimension driving the response.
    names = [f"dim{i}" for i in range(1, 8)]
    features = {song: x.select(names) for song, x in study.inputs.items()}
    truths = study.truths(split.test)

    # The study's design: held-out participants, the same songs.
    train, valid = study.pairs(split.train), study.pairs(split.validation)
    features_train = [(x.select(names), y) for x, y in train]
    features_valid = [(x.select(names), y) for x, y in valid]
    seen = evaluate_models(
        {
            "cnn": predict_songs(clone(cnn).fit(train, valid), study.inputs),
            "ridge": predict_songs(clone(ridge).fit(train, valid), study.inputs),
            "cnn (features)": predict_songs(
                clone(cnn).fit(features_train, features_valid), features
            ),
        },
        truths,
        n_surrogates=499,
    )
    assert isinstance(seen, Evaluation)
    median = seen.summary().set_index("model")["median_r"]
    # Measured: cnn 0.86, ridge 0.81, cnn (features) 0.60, mismatched -0.08; Fisher p 1e-11.
    assert median["cnn"] > 0.7 and seen.fisher_p("cnn") < 1e-3
    assert median["ridge"] > 0.6
    assert abs(median["cnn | mismatched songs"]) < 0.3
    assert median["cnn"] - median["cnn | mismatched songs"] > 0.5
    # The pitfall: the songs were heard in training, so inputs unrelated to the response
    # still score by memorising each song's mean response.
    assert median["cnn (features)"] > 0.4

    # Held-out songs as well: each song predicted by a model fitted without it.
    folds = song_folds(study.songs, n_folds=3, seed=0)  # 4 songs to learn from per fold
    unseen = evaluate_models(
        {
            "cnn": predict_held_out_songs(cnn, study.inputs, study.targets, split, folds),
            "cnn (features)": predict_held_out_songs(cnn, features, study.targets, split, folds),
        },
        truths,
        n_surrogates=499,
    )
    median = unseen.summary().set_index("model")["median_r"]
    # Measured: cnn 0.59 (Fisher p 1e-6), cnn (features) -0.04.
    assert median["cnn"] > 0.5 and unseen.fisher_p("cnn") < 1e-3
    assert abs(median["cnn (features)"]) < 0.3
    assert not hasattr(cnn, "network_")  # the template is left unfitted


def test_song_folds_and_held_out_predictions_check_their_inputs(planted):
    folds = song_folds(planted.songs)
    assert [fold.test for fold in folds] == [("song-1",), ("song-2",), ("song-3",)]
    assert folds[0].train == ("song-2", "song-3")
    two = song_folds(["a", "b", "c", "d"], n_folds=2, seed=1)
    assert sorted(s for fold in two for s in fold.test) == ["a", "b", "c", "d"]
    with pytest.raises(ParameterError, match="n_folds=5 exceeds the 3 songs"):
        song_folds(planted.songs, n_folds=5)
    with pytest.raises(DataError, match="needs at least 2 songs"):
        song_folds(["a"])
    split = split_participants(planted.participants, n_test=2, n_validation=1)
    with pytest.raises(DataError, match=r"not held out: \['song-3'\]"):
        predict_held_out_songs(DelayedRidge(), planted.inputs, planted.targets, split, folds[:2])
