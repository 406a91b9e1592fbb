"""Planted input/response data with a known answer, for tests, examples and benchmarks.

:func:`planted_study` builds per-song input series (smooth random "embeddings")
and per-participant target series that follow a known causal filter of one
input dimension, plus participant noise. With ``effect=0`` the targets ignore
the inputs: the null case every model should score about zero on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive, rng_from_seed
from frisson.errors import ParameterError
from frisson.models._pairs import Pair
from frisson.timeseries import TimeSeries

__all__ = ["PlantedStudy", "planted_study", "response_kernel"]

Nonlinearity = Literal["relu", "linear"]


@dataclass(frozen=True)
class PlantedStudy:
    """Songs' input series and participants' responses with a known generating filter.

    Attributes
    ----------
    inputs : dict of str to TimeSeries
        Per song, the input series, shape (n_frames, n_dims), standardised.
    targets : dict of (str, str) to TimeSeries
        Per ``(participant, song)``, the target series (one channel ``target``,
        z-scored over the song as a normalised phasic skin conductance is).
    responses : dict of str to TimeSeries
        Per song, the noise-free response all participants share (z-scored):
        ``kernel * f(inputs[:, 0])`` with ``f`` the nonlinearity.
    participants, songs : tuple of str
        Labels, ``"p01"...`` and ``"song-1"...``.
    params : dict
        The settings used.

    """

    inputs: dict[str, TimeSeries] = field(repr=False)
    targets: dict[tuple[str, str], TimeSeries] = field(repr=False)
    responses: dict[str, TimeSeries] = field(repr=False)
    participants: tuple[str, ...]
    songs: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def pairs(self, participants: Sequence[str], songs: Sequence[str] | None = None) -> list[Pair]:
        """``(inputs[song], targets[participant, song])`` for each participant x song."""
        songs = self.songs if songs is None else songs
        return [(self.inputs[s], self.targets[p, s]) for p in participants for s in songs]

    def truths(
        self, participants: Sequence[str], songs: Sequence[str] | None = None
    ) -> dict[str, list[TimeSeries]]:
        """Per song, the targets of ``participants`` (the form :mod:`.evaluate` takes)."""
        songs = self.songs if songs is None else songs
        return {s: [self.targets[p, s] for p in participants] for s in songs}


def response_kernel(rate_hz: float, *, lag_s: float = 1.5, length_s: float = 6.0) -> np.ndarray:
    """A skin-conductance-like impulse response: zero for ``lag_s``, then a Bateman shape.

    Rise 0.75 s and decay 2 s time constants, truncated ``length_s`` after the
    lag, scaled to a peak of 1. The kernel spans ``lag_s + length_s`` seconds.

    Examples
    --------
    >>> kernel = response_kernel(10.0, lag_s=1.0, length_s=4.0)
    >>> kernel.size, float(kernel[:10].max()), float(kernel.max())
    (51, 0.0, 1.0)

    """
    rate_hz = check_positive("rate_hz", rate_hz)
    lag = round(check_positive("lag_s", lag_s, allow_zero=True) * rate_hz)
    t = np.arange(round(check_positive("length_s", length_s) * rate_hz) + 1) / rate_hz
    shape = np.exp(-t / 2.0) - np.exp(-t / 0.75)
    return np.r_[np.zeros(lag), shape / shape.max()]


def planted_study(
    *,
    n_participants: int = 10,
    n_songs: int = 4,
    duration_s: float | Sequence[float] = 90.0,
    rate_hz: float = 21.5,
    n_dims: int = 8,
    smooth_s: float = 0.5,
    lag_s: float = 1.5,
    nonlinearity: Nonlinearity = "relu",
    effect: float = 1.0,
    noise: float = 1.0,
    noise_smooth_s: float = 1.0,
    start_s: float = 0.0,
    seed: int = 0,
) -> PlantedStudy:
    """Input series and target series with a planted causal relation.

    Per song: ``inputs`` = white noise smoothed by a Gaussian of ``smooth_s``
    seconds (sd), standardised per dimension; the shared response =
    :func:`response_kernel` (``lag_s``) convolved causally with ``f(inputs[:, 0])``
    (``f = max(x, 0)`` or ``x``), z-scored. Per participant x song: target =
    z-score(``effect * gain * response + noise * n(t)``), with ``gain`` drawn
    per participant from U(0.5, 1.5) and ``n(t)`` white noise smoothed over
    ``noise_smooth_s`` seconds and standardised, independent for every trial.

    Parameters
    ----------
    n_participants, n_songs : int
        Sizes.
    duration_s : float or sequence of float
        Song lengths (one value for all, or one per song).
    rate_hz : float
        Frame rate of inputs and targets.
    n_dims : int
        Input dimensions (only the first drives the response).
    smooth_s, lag_s : float
        Input smoothness and response lag.
    nonlinearity : {'relu', 'linear'}
        The planted static nonlinearity before the kernel.
    effect, noise : float
        Amplitudes of the response and of the participant noise; ``effect=0``
        makes targets independent of the inputs.
    noise_smooth_s : float
        Smoothness of the participant noise (Gaussian sd in seconds).
    start_s : float
        Time of the first frame of every series.
    seed : int
        Seed of every draw.

    Returns
    -------
    PlantedStudy

    Examples
    --------
    >>> study = planted_study(n_participants=3, n_songs=2, duration_s=30.0, rate_hz=10.0)
    >>> study.inputs["song-1"].values.shape, study.targets["p01", "song-2"].rate_hz
    ((300, 8), 10.0)

    """
    from scipy.ndimage import gaussian_filter1d

    n_participants = check_int("n_participants", n_participants, minimum=1)
    n_songs = check_int("n_songs", n_songs, minimum=1)
    durations = np.broadcast_to(np.asarray(duration_s, dtype=float), (n_songs,)).copy()
    if durations.size != n_songs or not np.all(durations > 0):
        raise ParameterError(
            f"duration_s must be positive, one value or one per song, got {duration_s!r}."
        )
    rate_hz = check_positive("rate_hz", rate_hz)
    n_dims = check_int("n_dims", n_dims, minimum=1)
    check_option("nonlinearity", nonlinearity, ["relu", "linear"])
    effect = check_positive("effect", effect, allow_zero=True)
    noise = check_positive("noise", noise, allow_zero=True)
    if effect == 0 and noise == 0:
        raise ParameterError("effect and noise are both 0: the targets would be constant.")
    rng = rng_from_seed(seed)
    kernel = response_kernel(rate_hz, lag_s=lag_s)
    participants = tuple(f"p{i + 1:02d}" for i in range(n_participants))
    songs = tuple(f"song-{i + 1}" for i in range(n_songs))
    gains = rng.uniform(0.5, 1.5, n_participants)

    def smooth_noise(shape: tuple[int, ...], sigma_s: float) -> np.ndarray:
        pad = int(4 * sigma_s * rate_hz) + 1
        raw = rng.standard_normal((shape[0] + 2 * pad, *shape[1:]))
        smooth = gaussian_filter1d(raw, sigma_s * rate_hz, axis=0)[pad:-pad]
        return (smooth - smooth.mean(axis=0)) / smooth.std(axis=0)

    inputs, responses, targets = {}, {}, {}
    for song, duration in zip(songs, durations, strict=True):
        n = round(duration * rate_hz)
        values = smooth_noise((n, n_dims), smooth_s)
        drive = np.maximum(values[:, 0], 0.0) if nonlinearity == "relu" else values[:, 0]
        response = np.convolve(drive, kernel)[:n]
        response = (response - response.mean()) / response.std()
        names = [f"dim{i}" for i in range(n_dims)]
        inputs[song] = TimeSeries(values, rate_hz, start_s=start_s, names=names)
        responses[song] = TimeSeries(response, rate_hz, start_s=start_s, names=["response"])
        for participant, gain in zip(participants, gains, strict=True):
            trial = effect * gain * response + noise * smooth_noise((n,), noise_smooth_s)
            trial = (trial - trial.mean()) / trial.std()
            targets[participant, song] = TimeSeries(
                trial, rate_hz, start_s=start_s, names=["target"]
            )
    params = {
        "n_participants": n_participants,
        "n_songs": n_songs,
        "duration_s": durations.tolist(),
        "rate_hz": rate_hz,
        "n_dims": n_dims,
        "smooth_s": smooth_s,
        "lag_s": lag_s,
        "nonlinearity": nonlinearity,
        "effect": effect,
        "noise": noise,
        "noise_smooth_s": noise_smooth_s,
        "start_s": start_s,
        "seed": seed,
    }
    return PlantedStudy(inputs, targets, responses, participants, songs, params)
