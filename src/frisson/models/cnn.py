"""The chills predictor: a 2-layer 1-D CNN from an embedding series to phasic skin conductance.

The chills study trained a small convolutional network to predict filtered,
normalised phasic skin conductance from a song's smoothed latent trajectory,
on windows of 12.8 s observed music, 3.2 s predicted response, every 4 s.
:class:`ChillsCNN` is that predictor, with all three lengths as parameters.

Window convention
-----------------
Window ``i`` observes the input frames ``[s_i, s_i + O)`` and predicts the
target on its **last** ``P`` frames, ``[s_i + O - P, s_i + O)``, where
``O = round(observe_s * rate_hz)``, ``P = round(predict_s * rate_hz)`` and
``s_i = i * round(hop_s * rate_hz)``. The network is causal: its two valid
(unpadded) convolutions have a joint receptive field of ``C + 1`` frames,
``C = O - P``, so the prediction for frame ``t`` uses the music of frames
``t - C .. t`` only -- the ``observe_s - predict_s`` seconds (9.6 s by default)
that precede the response and the moment itself, never later music. Skin
conductance responds 1-3 s after its cause and decays over several seconds,
so the preceding music is what carries the information. The first frame a
model can predict is therefore ``C`` frames after the series' start.

Stitching convention
--------------------
:func:`stitch_windows` puts window predictions back on the input's grid:
frames covered by several windows get the mean of their predictions; frames
covered by none (the ``hop - P`` frames between windows when the hop exceeds
``P``) are filled by linear interpolation between the nearest predicted
frames on either side. The stitched series runs from the first window's
first predicted frame to the last window's last predicted frame.

:meth:`ChillsCNN.predict` lays its windows every ``predict_hop_s`` (default:
``predict_s``, so the predicted spans tile the song without gaps or
overlaps) plus one window flush with the series' end, so the stitched series
spans from frame ``C`` to the input's last frame. Tiling is the default
because the network is causal and convolutional: a frame's prediction
depends only on its own ``C + 1`` frames of context, not on which window
holds it, so every frame gets the network's own prediction and no
interpolation is needed. ``predict_hop_s=4.0`` reproduces the training layout
(3.2 s predicted every 4 s, the 0.8 s gaps interpolated). ``hop_s`` is the
spacing of the *training* windows.

Training on many participants
-----------------------------
The input of a window depends only on the song, not on who listened. For
pairs sharing one input series, the squared error summed over participants
equals, per frame, ``n * (f - mean)^2`` plus a constant, where ``n`` is the
number of participants with a finite target at that frame and ``mean`` their
mean. :meth:`ChillsCNN.fit` therefore trains on each song's windows once with
that count-weighted loss: the same optimum as pooling every participant's
windows, at a cost that grows with songs rather than participants.

Scoring is in :mod:`frisson.models.evaluate`. With a participant split (the
study's design) the test participants heard the training songs, so a high r
can come from memorising each song's mean response; score predictions for
held-out songs as well (:func:`frisson.models.predict_held_out_songs`).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from frisson._check import check_int, check_positive
from frisson._logging import logger, progress_enabled
from frisson.errors import DataError, ParameterError
from frisson.models._pairs import (
    InputGroup,
    Pair,
    check_fitted_input,
    check_pairs,
    frames,
)
from frisson.timeseries import TimeSeries

__all__ = ["ChillsCNN", "WindowLayout", "stitch_windows", "window_layout"]


# ----------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class WindowLayout:
    """Where the windows of one series lie (see the module's window convention).

    Attributes
    ----------
    rate_hz : float
        Frame rate of the series.
    start_s : float
        Time of the series' first frame.
    n_frames : int
        Frames in the series.
    observe_frames, predict_frames, hop_frames : int
        ``O``, ``P`` and the hop in frames.
    starts : ndarray of int, shape (n_windows,)
        First observed frame of each window (read-only).

    Examples
    --------
    >>> series = TimeSeries(np.zeros(300), rate_hz=10.0)
    >>> layout = window_layout(series, observe_s=12.8, predict_s=3.2, hop_s=4.0)
    >>> layout.starts, layout.predict_starts
    (array([  0,  40,  80, 120, 160]), array([ 96, 136, 176, 216, 256]))
    >>> layout.predicted_s[0]  # first and last predicted time of window 0, inclusive
    array([ 9.6, 12.7])

    """

    rate_hz: float
    start_s: float
    n_frames: int
    observe_frames: int
    predict_frames: int
    hop_frames: int
    starts: np.ndarray

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.starts.size)

    @property
    def context_frames(self) -> int:
        """``C = O - P``: frames observed before the first predicted frame."""
        return self.observe_frames - self.predict_frames

    @property
    def predict_starts(self) -> np.ndarray:
        """First predicted frame of each window, ``starts + C``."""
        return self.starts + self.context_frames

    @property
    def observed_s(self) -> np.ndarray:
        """Times of the first and last observed frame of each window, shape (n_windows, 2)."""
        first = self.start_s + self.starts / self.rate_hz
        return np.column_stack([first, first + (self.observe_frames - 1) / self.rate_hz])

    @property
    def predicted_s(self) -> np.ndarray:
        """Times of the first and last predicted frame of each window, shape (n_windows, 2)."""
        first = self.start_s + self.predict_starts / self.rate_hz
        return np.column_stack([first, first + (self.predict_frames - 1) / self.rate_hz])

    def observed_index(self) -> np.ndarray:
        """Frame indices of every window's observed frames, shape (n_windows, O)."""
        return self.starts[:, np.newaxis] + np.arange(self.observe_frames)

    def predicted_index(self) -> np.ndarray:
        """Frame indices of every window's predicted frames, shape (n_windows, P)."""
        return self.predict_starts[:, np.newaxis] + np.arange(self.predict_frames)


def window_layout(
    series: TimeSeries,
    *,
    observe_s: float = 12.8,
    predict_s: float = 3.2,
    hop_s: float = 4.0,
    cover_end: bool = False,
) -> WindowLayout:
    """The windows of a series: ``observe_s`` observed, the last ``predict_s`` predicted.

    Seconds become frames with ``round(seconds * rate_hz)``. Window ``i``
    starts at frame ``i * hop``; only complete windows are kept.

    Parameters
    ----------
    series : TimeSeries
        The input series (only its time base and length are used).
    observe_s, predict_s, hop_s : float
        Observed length, predicted length (``<= observe_s``) and hop, in seconds.
    cover_end : bool
        Add one window flush with the series' end when the regular hop leaves
        final frames unpredicted (as :meth:`ChillsCNN.predict` does).

    Returns
    -------
    WindowLayout

    Raises
    ------
    DataError
        If the series is shorter than one window.

    Examples
    --------
    >>> series = TimeSeries(np.zeros(300), rate_hz=10.0)
    >>> window_layout(series, cover_end=True).starts
    array([  0,  40,  80, 120, 160, 172])

    """
    rate = series.rate_hz
    observe = frames("observe_s", check_positive("observe_s", observe_s), rate)
    predict = frames("predict_s", check_positive("predict_s", predict_s), rate)
    hop = frames("hop_s", check_positive("hop_s", hop_s), rate)
    if predict > observe:
        raise ParameterError(
            f"predict_s={predict_s:g} s is longer than observe_s={observe_s:g} s; a window "
            "predicts (part of) what it observes."
        )
    return _layout(series, observe, predict, hop, cover_end=cover_end, what="series")


def _layout(
    series: TimeSeries, observe: int, predict: int, hop: int, *, cover_end: bool, what: str
) -> WindowLayout:
    n = series.n_times
    if n < observe:
        raise DataError(
            f"{what} covers {series.duration_s:.2f} s ({n} frames at {series.rate_hz:g} Hz), "
            f"less than one window of observe_s = {observe / series.rate_hz:.2f} s "
            f"({observe} frames); use a longer series or a shorter observe_s."
        )
    starts = np.arange(0, n - observe + 1, hop)
    if cover_end and starts[-1] != n - observe:
        starts = np.r_[starts, n - observe]
    starts.flags.writeable = False
    return WindowLayout(series.rate_hz, series.start_s, n, observe, predict, hop, starts)


def stitch_windows(
    predictions: np.ndarray, layout: WindowLayout, *, name: str = "prediction"
) -> TimeSeries:
    """Put per-window predictions back on the series' grid as one continuous series.

    Frames predicted by several windows get the mean of those predictions;
    frames between the first and last predicted frame that no window predicts
    (gaps, when the hop exceeds ``predict_frames``) are linearly interpolated
    from the nearest predicted frames on either side.

    Parameters
    ----------
    predictions : ndarray, shape (n_windows, predict_frames)
        Window ``i`` predicts frames ``layout.predicted_index()[i]``.
    layout : WindowLayout
        The windows the predictions belong to.
    name : str
        Channel name of the result.

    Returns
    -------
    TimeSeries, shape (n, 1)
        At ``layout.rate_hz``, from the first to the last predicted frame:
        ``start_s = layout.start_s + layout.predict_starts[0] / rate_hz``.

    Examples
    --------
    Two windows predicting frames 2-3 and 5-6 of a series (a gap at frame 4):

    >>> layout = window_layout(TimeSeries(np.zeros(7), 1.0), observe_s=4, predict_s=2, hop_s=3)
    >>> stitch_windows(np.array([[1.0, 2.0], [4.0, 5.0]]), layout).values[:, 0]
    array([1., 2., 3., 4., 5.])

    """
    predictions = np.asarray(predictions, dtype=np.float64)
    expected = (layout.n_windows, layout.predict_frames)
    if predictions.shape != expected:
        raise DataError(
            f"predictions have shape {predictions.shape}, expected {expected} "
            "(n_windows, predict_frames) for this layout."
        )
    index = layout.predicted_index()
    first, last = int(index[0, 0]), int(index.max())
    total = np.zeros(last - first + 1)
    count = np.zeros(last - first + 1)
    np.add.at(total, index - first, predictions)
    np.add.at(count, index - first, 1.0)
    covered = count > 0
    values = np.divide(total, count, out=np.zeros_like(total), where=covered)
    if not covered.all():
        positions = np.arange(values.size)
        values[~covered] = np.interp(positions[~covered], positions[covered], values[covered])
    return TimeSeries(
        values, layout.rate_hz, start_s=layout.start_s + first / layout.rate_hz, names=[name]
    )


# ------------------------------------------------------------------------- estimator
class ChillsCNN:
    """A 2-layer causal 1-D CNN predicting a response series from an input series.

    Architecture (``D`` input dimensions, ``K`` = kernel frames, ``C = O - P``)::

        Conv1d(D -> n_filters, K) -> ReLU -> Dropout(dropout) -> Conv1d(n_filters -> 1, C + 2 - K)

    Both convolutions are unpadded, so a window of ``O`` observed frames
    yields exactly its last ``P`` frames, each from the ``C + 1`` frames up to
    and including it (see the module notes). The first layer detects musical
    events in the embedding; the second is a learned response kernel over
    ``observe_s - predict_s`` seconds, like the impulse response of skin
    conductance. Inputs are standardised per dimension and targets to zero
    mean and unit variance with the training data's statistics; predictions
    are returned in the target's units. Loss: mean squared error over the
    predicted frames (see "Training on many participants"); optimiser AdamW;
    early stopping on the validation pairs' loss, keeping the best epoch's
    weights.

    Parameters
    ----------
    observe_s : float
        Observed music per window (default 12.8 s).
    predict_s : float
        Predicted response per window: the last ``predict_s`` of the observed
        span (default 3.2 s).
    hop_s : float
        Time between training window starts (default 4 s).
    predict_hop_s : float, optional
        Time between window starts in :meth:`predict`; None (default) uses
        ``predict_s``: windows tile the song (see the module notes).
    n_filters : int
        Channels of the first layer (default 16).
    kernel_s : float
        Length of the first layer's kernel (default 0.5 s); must be at most
        ``observe_s - predict_s``.
    dropout : float
        Dropout probability after the first layer, in [0, 1) (default 0.2).
    learning_rate : float
        AdamW learning rate (default 1e-3).
    weight_decay : float
        AdamW weight decay (default 1e-4).
    epochs : int
        Maximum number of passes over the training windows (default 200).
    batch_size : int
        Windows per optimisation step (default 32).
    patience : int
        Stop after this many epochs without a lower validation loss (default 20).
    seed : int
        Seed of the initial weights, dropout and batch order. Training is
        deterministic given the seed (and the number of torch threads).
    device : str
        Torch device, e.g. ``"cpu"`` (default) or ``"cuda"``.
    n_threads : int, optional
        Torch CPU threads during fit and predict (restored afterwards); None
        leaves torch's setting.
    progress_bar : bool, optional
        Progress bar over epochs (default: when stderr is a terminal).

    Attributes
    ----------
    network_ : torch.nn.Sequential
        The trained network (best validation epoch), in eval mode.
    rate_hz_ : float
        Frame rate of the training inputs; :meth:`predict` requires it.
    n_inputs_ : int
        Input dimensions.
    observe_frames_, predict_frames_, hop_frames_, kernel_frames_ : int
        The lengths in frames at ``rate_hz_``.
    input_mean_, input_scale_ : ndarray, shape (n_inputs_,)
        Input standardisation.
    target_mean_, target_scale_ : float
        Target standardisation.
    history_ : dict of str to list of float
        ``train_loss`` and ``validation_loss`` per epoch: the count-weighted
        squared error against the participants' mean target, in standardised
        target units (the pooled per-participant error minus its constant
        between-participant part).
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    n_epochs_ : int
        Epochs run.
    n_train_windows_, n_validation_windows_ : int
        Distinct windows trained and validated on.

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=6, n_songs=3, duration_s=60.0, rate_hz=10.0, seed=0)
    >>> train = study.pairs(study.participants[:4])
    >>> valid = study.pairs(study.participants[4:])
    >>> model = ChillsCNN(n_filters=4, epochs=30, seed=0, progress_bar=False)
    >>> model = model.fit(train, valid)
    >>> prediction = model.predict(study.inputs["song-1"])
    >>> prediction.rate_hz, prediction.start_s  # first predicted frame: 9.6 s of context
    (10.0, 9.6)

    """

    def __init__(
        self,
        *,
        observe_s: float = 12.8,
        predict_s: float = 3.2,
        hop_s: float = 4.0,
        predict_hop_s: float | None = None,
        n_filters: int = 16,
        kernel_s: float = 0.5,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 200,
        batch_size: int = 32,
        patience: int = 20,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = None,
        progress_bar: bool | None = None,
    ) -> None:
        self.observe_s = observe_s
        self.predict_s = predict_s
        self.hop_s = hop_s
        self.predict_hop_s = predict_hop_s
        self.n_filters = n_filters
        self.kernel_s = kernel_s
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.seed = seed
        self.device = device
        self.n_threads = n_threads
        self.progress_bar = progress_bar

    # ------------------------------------------------------------ sklearn-like params
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> ChillsCNN:
        """Set constructor parameters; unknown names raise a ParameterError."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ParameterError(
                    f"ChillsCNN has no parameter {name!r}; valid: {', '.join(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (value is defaults[name] or value == defaults[name])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_params(self) -> None:
        for name in ("observe_s", "predict_s", "hop_s", "kernel_s", "learning_rate"):
            check_positive(name, getattr(self, name))
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("dropout", self.dropout, allow_zero=True)
        if self.dropout >= 1:
            raise ParameterError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        for name in ("n_filters", "epochs", "batch_size", "patience"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("seed", self.seed, minimum=0)
        if self.n_threads is not None:
            check_int("n_threads", self.n_threads, minimum=1)
        if self.predict_hop_s is not None:
            check_positive("predict_hop_s", self.predict_hop_s)
        if not isinstance(self.device, str):
            raise ParameterError(f"device must be a string such as 'cpu', got {self.device!r}.")
        if self.predict_s > self.observe_s:
            raise ParameterError(
                f"predict_s={self.predict_s:g} s exceeds observe_s={self.observe_s:g} s; a "
                "window predicts the last predict_s of what it observes."
            )

    def _resolve_frames(self, rate_hz: float) -> tuple[int, int, int, int]:
        observe = frames("observe_s", self.observe_s, rate_hz)
        predict = frames("predict_s", self.predict_s, rate_hz)
        hop = frames("hop_s", self.hop_s, rate_hz)
        kernel = frames("kernel_s", self.kernel_s, rate_hz)
        if kernel > observe - predict + 1:
            raise ParameterError(
                f"kernel_s={self.kernel_s:g} s ({kernel} frames) is longer than the context "
                f"observe_s - predict_s = {(observe - predict) / rate_hz:.2f} s "
                f"({observe - predict} frames) + 1 frame; shorten kernel_s or predict_s."
            )
        return observe, predict, hop, kernel

    # ------------------------------------------------------------------------- fit
    def fit(
        self, train_pairs: Sequence[Pair], validation_pairs: Sequence[Pair] | None = None
    ) -> ChillsCNN:
        """Train on (input, target) pairs; stop early on the validation pairs.

        Parameters
        ----------
        train_pairs : sequence of (TimeSeries, TimeSeries)
            One pair per training participant x song: the song's input series
            (``n_frames x n_dims``, on stimulus time: e.g. a smoothed encoder
            layer at 21.5 Hz, or acoustic features for the features-only
            baseline) and the participant's target series (one channel, any
            rate, e.g. :func:`frisson.physio.eda.phasic_target`; put on the
            input's grid, NaN where it has no sample). Every input must have
            the same rate and number of dimensions; pairs may share one input
            object (see "Training on many participants").
        validation_pairs : sequence of (TimeSeries, TimeSeries), optional
            Pairs of the validation participants, for early stopping. Without
            them the network trains for ``epochs`` epochs and keeps the last
            weights.

        Returns
        -------
        ChillsCNN
            ``self``, fitted.

        Raises
        ------
        DataError
            If an input is shorter than ``observe_s``, inputs differ in rate
            or dimensions, inputs hold NaN, or a target does not overlap its input.

        """
        import torch

        self._check_params()
        groups = check_pairs(train_pairs, "train_pairs")
        rate_hz = groups[0].inputs.rate_hz
        n_dims = groups[0].inputs.n_channels
        observe, predict, hop, kernel = self._resolve_frames(rate_hz)
        valid_groups = (
            None
            if validation_pairs is None
            else check_pairs(validation_pairs, "validation_pairs", rate_hz=rate_hz, n_dims=n_dims)
        )
        stacked = np.concatenate([g.inputs.values for g in groups]).astype(np.float64)
        input_mean = stacked.mean(axis=0)
        input_scale = stacked.std(axis=0)
        input_scale[input_scale == 0] = 1.0
        sums = [g.target_sum_count() for g in groups]
        total = sum(float(s.sum()) for s, _ in sums)
        count = sum(float(c.sum()) for _, c in sums)
        target_mean = total / count
        sq = sum(float(np.nansum((np.stack(g.targets) - target_mean) ** 2)) for g in groups)
        target_scale = np.sqrt(sq / count) or 1.0

        def windows(groups: list[InputGroup], what: str):
            xs, ys, ws = [], [], []
            for group in groups:
                where = f"{what}[{group.indices[0]}] inputs"
                layout = _layout(group.inputs, observe, predict, hop, cover_end=False, what=where)
                values = (group.inputs.values - input_mean) / input_scale
                xs.append(values[layout.observed_index()].astype(np.float32))
                target_sum, target_count = group.target_sum_count()
                index = layout.predicted_index()
                weight = target_count[index]
                mean = np.divide(
                    target_sum[index], weight, out=np.zeros(index.shape), where=weight > 0
                )
                ys.append(((mean - target_mean) / target_scale).astype(np.float32))
                ws.append(weight.astype(np.float32))
            x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
            keep = w.sum(axis=1) > 0
            if not keep.any():
                raise DataError(f"{what}: no window has a finite target to learn from.")
            return np.ascontiguousarray(x[keep].transpose(0, 2, 1)), y[keep], w[keep]

        train = windows(groups, "train_pairs")
        valid = None if valid_groups is None else windows(valid_groups, "validation_pairs")
        logger.info(
            "ChillsCNN: %d training windows from %d inputs (%d pairs), %s validation windows; "
            "windows of %d frames (%.2f s) observed, last %d (%.2f s) predicted, hop %d (%.2f s) "
            "at %.4g Hz",
            train[0].shape[0],
            len(groups),
            sum(len(g.indices) for g in groups),
            "no" if valid is None else valid[0].shape[0],
            observe,
            observe / rate_hz,
            predict,
            predict / rate_hz,
            hop,
            hop / rate_hz,
            rate_hz,
        )
        with _torch_state(self.seed, self.n_threads, self.device):
            network = _build_network(
                n_dims, self.n_filters, kernel, observe - predict, self.dropout
            ).to(self.device)
            history, best_epoch, n_epochs = self._train(torch, network, train, valid)
        network.eval()
        self.network_ = network
        self.rate_hz_ = rate_hz
        self.n_inputs_ = n_dims
        self.observe_frames_, self.predict_frames_ = observe, predict
        self.hop_frames_, self.kernel_frames_ = hop, kernel
        self.input_mean_, self.input_scale_ = input_mean, input_scale
        self.target_mean_, self.target_scale_ = float(target_mean), float(target_scale)
        self.history_ = history
        self.best_epoch_, self.n_epochs_ = best_epoch, n_epochs
        self.n_train_windows_ = int(train[0].shape[0])
        self.n_validation_windows_ = 0 if valid is None else int(valid[0].shape[0])
        logger.info(
            "ChillsCNN: kept epoch %d of %d (validation loss %s)",
            best_epoch,
            n_epochs,
            "n/a" if valid is None else f"{history['validation_loss'][best_epoch - 1]:.4f}",
        )
        return self

    def _train(self, torch, network, train, valid):
        from tqdm.auto import tqdm

        device = self.device
        x, y, w = (torch.from_numpy(a).to(device) for a in train)
        rng = np.random.default_rng(self.seed)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        history: dict[str, list[float]] = {"train_loss": [], "validation_loss": []}
        best_loss, best_epoch, best_state, waited = np.inf, 0, None, 0
        bar = tqdm(
            range(1, self.epochs + 1),
            desc="ChillsCNN epochs",
            disable=not progress_enabled(self.progress_bar),
        )
        epoch = 0
        for epoch in bar:
            network.train()
            order = torch.from_numpy(rng.permutation(x.shape[0])).to(device)
            total, weight = 0.0, 0.0
            for batch in order.split(self.batch_size):
                optimizer.zero_grad()
                error = w[batch] * (network(x[batch])[:, 0, :] - y[batch]) ** 2
                batch_weight = w[batch].sum()
                loss = error.sum() / batch_weight
                loss.backward()
                optimizer.step()
                total += float(error.sum().detach())
                weight += float(batch_weight)
            history["train_loss"].append(total / weight)
            if valid is None:
                best_epoch = epoch
                bar.set_postfix(train=f"{total / weight:.4f}")
                continue
            loss = self._weighted_loss(torch, network, valid)
            history["validation_loss"].append(loss)
            bar.set_postfix(train=f"{total / weight:.4f}", validation=f"{loss:.4f}")
            if loss < best_loss:
                best_loss, best_epoch, waited = loss, epoch, 0
                best_state = copy.deepcopy(network.state_dict())
            else:
                waited += 1
                if waited >= self.patience:
                    logger.info("ChillsCNN: early stop after %d epochs", epoch)
                    break
        bar.close()
        if best_state is not None:
            network.load_state_dict(best_state)
        return history, best_epoch, epoch

    def _weighted_loss(self, torch, network, data) -> float:
        """Count-weighted mean squared error over all windows of ``data`` (eval mode)."""
        network.eval()
        x, y, w = data
        step = max(self.batch_size, 256)
        total = 0.0
        with torch.no_grad():
            for start in range(0, x.shape[0], step):
                part = slice(start, start + step)
                out = network(torch.from_numpy(x[part]).to(self.device))[:, 0, :].cpu().numpy()
                total += float((w[part] * (out - y[part]) ** 2).sum(dtype=np.float64))
        return total / float(w.sum(dtype=np.float64))

    # --------------------------------------------------------------------- predict
    def predict(self, inputs: TimeSeries) -> TimeSeries:
        """Predict the target for one song's input series, stitched into one series.

        Windows every ``predict_hop_s`` (default ``predict_s``: tiled) plus
        one flush with the end, each predicting its last ``predict_s``;
        overlaps averaged, gaps linearly interpolated (see the module notes).

        Parameters
        ----------
        inputs : TimeSeries, shape (n_frames, n_inputs_)
            The song's input series, at ``rate_hz_``.

        Returns
        -------
        TimeSeries, shape (n_frames - C, 1)
            Channel ``prediction`` at ``rate_hz_``, from frame ``C`` (time
            ``inputs.start_s + (observe_s - predict_s)``, rounded to frames) to
            the input's last frame.

        """
        import torch

        self._check_fitted()
        inputs = check_fitted_input(inputs, rate_hz=self.rate_hz_, n_inputs=self.n_inputs_)
        hop = (
            self.predict_frames_
            if self.predict_hop_s is None
            else frames(
                "predict_hop_s", check_positive("predict_hop_s", self.predict_hop_s), self.rate_hz_
            )
        )
        layout = _layout(
            inputs, self.observe_frames_, self.predict_frames_, hop, cover_end=True, what="inputs"
        )
        values = ((inputs.values - self.input_mean_) / self.input_scale_).astype(np.float32)
        x = np.ascontiguousarray(values[layout.observed_index()].transpose(0, 2, 1))
        out = []
        with _torch_state(self.seed, self.n_threads, self.device), torch.no_grad():
            self.network_.eval()
            for start in range(0, x.shape[0], 256):
                batch = torch.from_numpy(x[start : start + 256]).to(self.device)
                out.append(self.network_(batch)[:, 0, :].cpu().numpy())
        predictions = np.concatenate(out).astype(np.float64) * self.target_scale_
        return stitch_windows(predictions + self.target_mean_, layout, name="prediction")

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise ParameterError("This ChillsCNN is not fitted yet; call fit(train_pairs) first.")


def _build_network(n_inputs: int, n_filters: int, kernel: int, context: int, dropout: float):
    """The two causal valid convolutions: receptive field ``context + 1`` frames."""
    from torch import nn

    return nn.Sequential(
        nn.Conv1d(n_inputs, n_filters, kernel),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Conv1d(n_filters, 1, context + 2 - kernel),
    )


@contextlib.contextmanager
def _torch_state(seed: int, n_threads: int | None, device: str) -> Iterator[None]:
    """Seed torch, switch on deterministic algorithms and set threads; restore all after.

    The global random state is forked (``torch.random.fork_rng``), so the
    caller's torch random stream is unchanged by fitting.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(
            f"device={device!r} is not a torch device; use 'cpu' or 'cuda'."
        ) from None
    devices = [parsed.index or 0] if parsed.type == "cuda" else []
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=devices):
        try:
            torch.manual_seed(seed)
            # CUDA kernels without a deterministic version warn instead of failing.
            torch.use_deterministic_algorithms(True, warn_only=parsed.type != "cpu")
            if n_threads is not None:
                torch.set_num_threads(n_threads)
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            if n_threads is not None:
                torch.set_num_threads(threads)
