"""Simulated skin conductance with known SCR onsets (NeuroKit2's simulator plus its ground truth).

``neurokit2.eda_simulate`` places ``n_scr`` canonical SCRs (Bach et al. 2010)
at evenly spaced start times ``linspace(0, duration, n_scr, endpoint=False)``,
each with a time to peak drawn as ``|N(0, 5)| + 3.0745`` (template units of
0.1 s) from a ``RandomState(seed)``, but returns only the signal.
:func:`simulate_eda` calls it and replays the same draws to return where every
SCR starts and peaks, and adds white measurement noise at every rate
(NeuroKit2's own Laplace noise is skipped below 50 Hz: it only adds noise
frequencies up to a tenth of the sampling rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frisson._check import check_int, check_positive
from frisson.timeseries import TimeSeries

__all__ = ["SimulatedEda", "simulate_eda"]


@dataclass(frozen=True)
class SimulatedEda:
    """A simulated skin conductance recording and its ground truth.

    Attributes
    ----------
    eda : TimeSeries, shape (n_times, 1)
        The noisy signal (channel ``eda``, unit ``uS``).
    clean : TimeSeries, shape (n_times, 1)
        The same without noise.
    onsets_s : ndarray, shape (n_scr,)
        First time each SCR reaches 1 % of its amplitude.
    peaks_s : ndarray, shape (n_scr,)
        Time of each SCR's maximum.

    """

    eda: TimeSeries
    clean: TimeSeries
    onsets_s: np.ndarray
    peaks_s: np.ndarray


def simulate_eda(
    *,
    duration_s: int,
    rate_hz: int,
    n_scr: int,
    seed: int,
    nk_noise: float = 0.05,
    white_noise_sd: float = 0.02,
    drift: float = -0.01,
) -> SimulatedEda:
    """NeuroKit2's ``eda_simulate`` with the SCR onsets and peaks it planted.

    Parameters
    ----------
    duration_s : int
        Length in seconds.
    rate_hz : int
        Sampling rate in Hz.
    n_scr : int
        Number of SCRs (one every ``duration_s / n_scr`` seconds).
    seed : int
        Seeds NeuroKit2's generator and the white noise.
    nk_noise : float
        NeuroKit2's ``noise`` (Laplace noise at 5, 10 and 100 Hz, each only when
        below a tenth of ``rate_hz``).
    white_noise_sd : float
        SD of added Gaussian measurement noise in uS, at every rate.
    drift : float
        NeuroKit2's linear drift in uS per second.

    Returns
    -------
    SimulatedEda

    Examples
    --------
    >>> sim = simulate_eda(duration_s=100, rate_hz=32, n_scr=10, seed=0)
    >>> sim.eda.n_times, np.round(sim.onsets_s[:3], 2)
    (3200, array([ 1.03, 10.34, 20.62]))

    """
    import neurokit2 as nk
    from neurokit2.eda.eda_simulate import _eda_simulate_scr

    duration_s = check_int("duration_s", duration_s, minimum=1)
    rate_hz = check_int("rate_hz", rate_hz, minimum=1)
    n_scr = check_int("n_scr", n_scr, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    check_positive("nk_noise", nk_noise, allow_zero=True)
    check_positive("white_noise_sd", white_noise_sd, allow_zero=True)
    kwargs = {
        "duration": duration_s,
        "sampling_rate": rate_hz,
        "scr_number": n_scr,
        "drift": drift,
        "random_state": seed,
    }
    clean = nk.eda_simulate(noise=0, **kwargs)
    noisy = nk.eda_simulate(noise=nk_noise, **kwargs) if nk_noise > 0 else clean.copy()
    noisy = noisy + np.random.default_rng(seed).normal(0.0, white_noise_sd, noisy.size)
    # Replay NeuroKit2's draws: one |N(0, 5)| + 3.0745 time to peak per SCR, in order.
    rng = np.random.RandomState(seed)
    starts = np.linspace(0, duration_s, n_scr, endpoint=False)
    onsets, peaks = np.empty(n_scr), np.empty(n_scr)
    for i, start in enumerate(starts):
        time_peak = np.abs(rng.normal(0, 5, size=1)) + 3.0745
        template = _eda_simulate_scr(sampling_rate=rate_hz, time_peak=time_peak)
        onsets[i] = start + np.flatnonzero(template >= 0.01 * template.max())[0] / rate_hz
        peaks[i] = start + np.argmax(template) / rate_hz
    return SimulatedEda(
        eda=TimeSeries(noisy, rate_hz, names=["eda"], units=["uS"]),
        clean=TimeSeries(clean, rate_hz, names=["eda"], units=["uS"]),
        onsets_s=onsets,
        peaks_s=peaks,
    )
