"""The one time-series type of frisson: samples on a regular grid with their time base.

A :class:`TimeSeries` holds ``values`` of shape ``(n_times, n_channels)``, the
sampling rate ``rate_hz``, the time of the first sample ``start_s`` and one
name (and optionally one unit) per channel. Sample ``k`` lies at
``start_s + k / rate_hz`` seconds; every conversion between samples and seconds
goes through :meth:`TimeSeries.times_s` and :meth:`TimeSeries.index_at`.

Resampling convention
---------------------
A sample stands for the interval of width ``1 / rate_hz`` centred on its time.
Going to a lower rate averages the signal over each new sample's interval
(an exact area average of the sample-and-hold signal: no ringing, no negative
values for positive signals, any rate ratio); going to a higher rate
interpolates linearly. Target times outside ``[start_s, end_s]`` get NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson.errors import DataError, ParameterError

__all__ = ["TimeSeries", "Windows"]

Statistic = Literal["mean", "var", "std", "median", "max", "min"]
_STATISTICS: dict[str, Callable[..., np.ndarray]] = {
    "median": np.median,
    "max": np.max,
    "min": np.min,
}


@dataclass(frozen=True)
class Windows:
    """Sliding windows cut from a :class:`TimeSeries`.

    Attributes
    ----------
    values : ndarray, shape (n_windows, window_samples, n_channels)
        A read-only view on the series' samples.
    centers_s : ndarray, shape (n_windows,)
        Time of each window's centre, in seconds.
    rate_hz : float
        Windows per second (the original rate divided by the hop in samples).

    """

    values: np.ndarray
    centers_s: np.ndarray
    rate_hz: float


class TimeSeries:
    """Samples on a regular time grid, with their rate, start time and channel names.

    Parameters
    ----------
    values : array_like, shape (n_times,) or (n_times, n_channels)
        The samples; a 1-D input becomes one channel.
    rate_hz : float
        Sampling rate in Hz. Required: a wrong default would give plausible, wrong times.
    start_s : float
        Time of the first sample in seconds (default 0).
    names : sequence of str, optional
        One name per channel; defaults to ``("x0", "x1", ...)``.
    units : sequence of str, optional
        One unit per channel (e.g. ``"dB"``, ``"uS"``), or None when unknown.

    Examples
    --------
    >>> import numpy as np
    >>> ts = TimeSeries(np.arange(10.0), rate_hz=2.0, start_s=1.0, names=["ramp"])
    >>> ts.times_s[:3]
    array([1. , 1.5, 2. ])
    >>> ts.crop(2.0, 3.0).values[:, 0]
    array([2., 3., 4.])
    >>> ts.resample(1.0).values[:, 0]
    array([0., 2., 4., 6., 8.])

    """

    __slots__ = ("_names", "_units", "rate_hz", "start_s", "values")

    def __init__(
        self,
        values: np.ndarray | Sequence[float],
        rate_hz: float,
        *,
        start_s: float = 0.0,
        names: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
    ) -> None:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, np.newaxis]
        if values.ndim != 2:
            raise DataError(
                f"TimeSeries values must be 1-D or 2-D (time x channels), got shape {values.shape}."
            )
        if values.shape[0] == 0:
            raise DataError("TimeSeries values are empty (0 samples).")
        self.values = values
        self.rate_hz = check_positive("rate_hz", rate_hz)
        if isinstance(start_s, bool) or not np.isfinite(start_s):
            raise ParameterError(f"start_s must be a finite number of seconds, got {start_s!r}.")
        self.start_s = float(start_s)
        n_channels = values.shape[1]
        self._names = self._check_labels("names", names, n_channels) or tuple(
            f"x{i}" for i in range(n_channels)
        )
        self._units = self._check_labels("units", units, n_channels)

    @staticmethod
    def _check_labels(
        what: str, labels: Sequence[str] | None, n_channels: int
    ) -> tuple[str, ...] | None:
        if labels is None:
            return None
        if isinstance(labels, str):
            labels = [labels]
        labels = tuple(str(label) for label in labels)
        if len(labels) != n_channels:
            raise ParameterError(
                f"{what} has {len(labels)} entries but values have {n_channels} channels."
            )
        if what == "names" and len(set(labels)) != len(labels):
            raise ParameterError(f"names must be unique, got {labels}.")
        return labels

    # ------------------------------------------------------------------ basics
    @property
    def names(self) -> tuple[str, ...]:
        """Channel names, one per column of ``values``."""
        return self._names

    @property
    def units(self) -> tuple[str, ...] | None:
        """Channel units, or None when unknown."""
        return self._units

    @property
    def n_times(self) -> int:
        """Number of samples."""
        return self.values.shape[0]

    @property
    def n_channels(self) -> int:
        """Number of channels (columns)."""
        return self.values.shape[1]

    @property
    def duration_s(self) -> float:
        """Length covered by the samples, ``n_times / rate_hz`` seconds."""
        return self.n_times / self.rate_hz

    @property
    def end_s(self) -> float:
        """Time of the last sample, ``start_s + (n_times - 1) / rate_hz``."""
        return self.start_s + (self.n_times - 1) / self.rate_hz

    @property
    def times_s(self) -> np.ndarray:
        """Read-only array of sample times in seconds, ``start_s + arange(n_times) / rate_hz``."""
        times = self.start_s + np.arange(self.n_times) / self.rate_hz
        times.flags.writeable = False
        return times

    def __len__(self) -> int:
        return self.n_times

    def __repr__(self) -> str:
        shown = ", ".join(self.names[:4]) + (", ..." if self.n_channels > 4 else "")
        return (
            f"TimeSeries({self.n_times} x {self.n_channels} [{shown}], rate_hz={self.rate_hz:g}, "
            f"start_s={self.start_s:g}, duration_s={self.duration_s:.3f})"
        )

    def replace(
        self,
        values: np.ndarray | None = None,
        *,
        rate_hz: float | None = None,
        start_s: float | None = None,
        names: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
    ) -> TimeSeries:
        """Return a copy with some fields replaced (names and units kept if shapes allow)."""
        values = self.values if values is None else np.asarray(values)
        n_channels = values.shape[1] if values.ndim == 2 else 1
        if names is None and n_channels == self.n_channels:
            names = self.names
        if units is None and n_channels == self.n_channels:
            units = self.units
        return TimeSeries(
            values,
            self.rate_hz if rate_hz is None else rate_hz,
            start_s=self.start_s if start_s is None else start_s,
            names=names,
            units=units,
        )

    def index_at(self, time_s: float | np.ndarray) -> np.ndarray:
        """Nearest sample index of each time, ``round((time_s - start_s) * rate_hz)``.

        Indices are not clipped; callers check them against ``n_times``.
        """
        return np.rint((np.asarray(time_s, dtype=float) - self.start_s) * self.rate_hz).astype(int)

    def channel(self, name: str) -> np.ndarray:
        """The samples of one channel as a 1-D array."""
        return self.values[:, self._channel_index(name)]

    def select(self, names: Sequence[str]) -> TimeSeries:
        """A series with only the named channels, in the given order."""
        if isinstance(names, str):
            names = [names]
        idx = [self._channel_index(n) for n in names]
        units = None if self.units is None else [self.units[i] for i in idx]
        return TimeSeries(
            self.values[:, idx], self.rate_hz, start_s=self.start_s, names=names, units=units
        )

    def _channel_index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ParameterError(
                f"No channel named {name!r}; the series has {', '.join(self.names)}."
            ) from None

    # -------------------------------------------------------------- cropping
    def crop(self, tmin_s: float | None = None, tmax_s: float | None = None) -> TimeSeries:
        """Keep the samples with ``tmin_s <= t <= tmax_s`` (endpoints inclusive; None = edge).

        Raises
        ------
        DataError
            If no sample lies in the window.

        """
        tol = 1e-6 / self.rate_hz
        times = self.times_s
        keep = np.ones(self.n_times, dtype=bool)
        if tmin_s is not None:
            keep &= times >= tmin_s - tol
        if tmax_s is not None:
            keep &= times <= tmax_s + tol
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            raise DataError(
                f"crop({tmin_s}, {tmax_s}) keeps no sample of a series covering "
                f"{self.start_s:.3f}-{self.end_s:.3f} s."
            )
        return self.replace(self.values[idx[0] : idx[-1] + 1], start_s=float(times[idx[0]]))

    # ------------------------------------------------------------ resampling
    def sample_at(self, times_s: np.ndarray, *, width_s: float | None = None) -> np.ndarray:
        """Values at arbitrary times, averaged over ``width_s`` when that exceeds a sample.

        Parameters
        ----------
        times_s : ndarray, shape (n,)
            Target times in seconds.
        width_s : float, optional
            Width of the interval each target sample stands for. When it is wider
            than one source sample (``1 / rate_hz``), the result is the area
            average of the sample-and-hold signal over ``[t - width_s/2,
            t + width_s/2]`` (anti-aliasing); otherwise values are interpolated
            linearly. Default: linear interpolation.

        Returns
        -------
        ndarray, shape (n, n_channels)
            NaN where a target time lies outside ``[start_s, end_s]``.

        """
        times_s = np.asarray(times_s, dtype=float)
        position = (times_s - self.start_s) * self.rate_hz  # in samples
        tol = 1e-6
        inside = (position >= -tol) & (position <= self.n_times - 1 + tol)
        values = self.values.astype(np.float64, copy=False)
        out = np.full((times_s.size, self.n_channels), np.nan)
        if not inside.any():
            return out
        pos = np.clip(position[inside], 0, self.n_times - 1)
        half_width = 0.0 if width_s is None else 0.5 * width_s * self.rate_hz
        if half_width > 0.5:
            # Area average: cumulative integral of the sample-and-hold signal at sample edges.
            cumulative = np.zeros((self.n_times + 1, self.n_channels))
            np.cumsum(values, axis=0, out=cumulative[1:])
            edges = np.arange(self.n_times + 1) - 0.5
            # Shrink the interval symmetrically at the edges so a linear trend stays unbiased.
            half = np.minimum(half_width, np.minimum(pos + 0.5, self.n_times - 0.5 - pos))
            lo, hi = pos - half, pos + half
            for c in range(self.n_channels):
                area = np.interp(hi, edges, cumulative[:, c]) - np.interp(
                    lo, edges, cumulative[:, c]
                )
                out[inside, c] = area / (hi - lo)
        else:
            below = np.floor(pos).astype(int)
            above = np.minimum(below + 1, self.n_times - 1)
            frac = (pos - below)[:, np.newaxis]
            mixed = values[below] * (1 - frac) + values[above] * frac
            # On a source sample, take it as it is: a NaN neighbour must not leak in.
            out[inside] = np.where(frac == 0, values[below], mixed)
        return out

    def resample(self, rate_hz: float) -> TimeSeries:
        """The series on a new regular grid starting at ``start_s``.

        Downsampling averages over each new sample's interval; upsampling
        interpolates linearly (see the module notes). The new grid stops at the
        last time not after ``end_s``.

        Parameters
        ----------
        rate_hz : float
            The new sampling rate in Hz.

        Returns
        -------
        TimeSeries
            ``floor((n_times - 1) * rate_hz / self.rate_hz) + 1`` samples.

        """
        rate_hz = check_positive("rate_hz", rate_hz)
        if np.isclose(rate_hz, self.rate_hz, rtol=1e-12, atol=0):
            return self.replace()
        n_new = int(np.floor((self.n_times - 1) * rate_hz / self.rate_hz + 1e-9)) + 1
        times = self.start_s + np.arange(n_new) / rate_hz
        values = self.sample_at(times, width_s=1.0 / rate_hz)
        return self.replace(values, rate_hz=rate_hz)

    def align_to(self, other: TimeSeries) -> TimeSeries:
        """Put this series on ``other``'s time grid (same rate, start and length).

        Samples of ``other``'s grid outside this series' time span are NaN; a
        lower target rate averages as in :meth:`resample`.

        Examples
        --------
        >>> import numpy as np
        >>> fast = TimeSeries(np.arange(100.0), rate_hz=10.0)
        >>> grid = TimeSeries(np.zeros(4), rate_hz=1.0, start_s=8.0)
        >>> fast.align_to(grid).values[:, 0]
        array([80., 90., nan, nan])

        """
        values = self.sample_at(other.times_s, width_s=1.0 / other.rate_hz)
        return self.replace(values, rate_hz=other.rate_hz, start_s=other.start_s)

    def interpolate_nan(self) -> TimeSeries:
        """Fill NaN samples by linear interpolation in time, channel by channel.

        NaN runs at either end take the nearest finite value.

        Raises
        ------
        DataError
            If a channel has no finite value at all.

        Examples
        --------
        >>> TimeSeries([1.0, float("nan"), 3.0, float("nan")], 1.0).interpolate_nan().values[:, 0]
        array([1., 2., 3., 3.])

        """
        values = np.array(self.values, dtype=np.float64)
        times = np.arange(self.n_times)
        for c in range(self.n_channels):
            missing = np.isnan(values[:, c])
            if missing.all():
                raise DataError(f"Channel {self.names[c]!r} is all NaN; nothing to interpolate.")
            if missing.any():
                values[missing, c] = np.interp(times[missing], times[~missing], values[~missing, c])
        return self.replace(values)

    # --------------------------------------------------------------- windows
    def windows(self, window_s: float, hop_s: float) -> Windows:
        """Sliding windows given in seconds (rounded to whole samples).

        See :meth:`windows_samples`; ``window_s`` and ``hop_s`` are converted with
        ``round(x * rate_hz)`` and must give at least one sample.
        """
        return self.windows_samples(
            self._seconds_to_samples("window_s", window_s),
            self._seconds_to_samples("hop_s", hop_s),
        )

    def windows_samples(self, window_samples: int, hop_samples: int) -> Windows:
        """Sliding windows of ``window_samples`` samples every ``hop_samples`` samples.

        Window ``i`` covers samples ``i * hop .. i * hop + window - 1``; its centre
        is at ``start_s + (i * hop + (window - 1) / 2) / rate_hz``. Only complete
        windows are returned.

        Raises
        ------
        DataError
            If the series is shorter than one window.

        """
        window = check_int("window_samples", window_samples, minimum=1)
        hop = check_int("hop_samples", hop_samples, minimum=1)
        if self.n_times < window:
            raise DataError(
                f"The series has {self.n_times} samples ({self.duration_s:.2f} s), fewer than "
                f"one window of {window} samples ({window / self.rate_hz:.2f} s); "
                "use a shorter window or a longer signal."
            )
        view = np.lib.stride_tricks.sliding_window_view(self.values, window, axis=0)[::hop]
        view = np.moveaxis(view, -1, 1)
        centers = self.start_s + (np.arange(view.shape[0]) * hop + (window - 1) / 2) / self.rate_hz
        return Windows(values=view, centers_s=centers, rate_hz=self.rate_hz / hop)

    def sliding(
        self,
        window_s: float,
        hop_s: float,
        statistic: Statistic | Callable[[np.ndarray], np.ndarray] = "mean",
    ) -> TimeSeries:
        """A statistic over sliding windows, as a series at the window centres.

        Parameters
        ----------
        window_s, hop_s : float
            Window length and hop in seconds (rounded to whole samples).
        statistic : {'mean', 'var', 'std', 'median', 'max', 'min'} or callable
            A callable receives ``(n_windows, window_samples, n_channels)`` and
            returns ``(n_windows, n_channels)``. ``var`` is the population
            variance (``ddof=0``).

        Examples
        --------
        >>> import numpy as np
        >>> ts = TimeSeries(np.r_[np.zeros(4), np.ones(4)], rate_hz=1.0)
        >>> ts.sliding(window_s=2, hop_s=2, statistic="mean").values[:, 0]
        array([0., 0., 1., 1.])

        """
        return self.sliding_samples(
            self._seconds_to_samples("window_s", window_s),
            self._seconds_to_samples("hop_s", hop_s),
            statistic,
        )

    def sliding_samples(
        self,
        window_samples: int,
        hop_samples: int,
        statistic: Statistic | Callable[[np.ndarray], np.ndarray] = "mean",
    ) -> TimeSeries:
        """Like :meth:`sliding` with window and hop in samples (frames)."""
        windows = self.windows_samples(window_samples, hop_samples)
        if callable(statistic):
            values = np.asarray(statistic(windows.values))
        else:
            check_option("statistic", statistic, ["mean", "var", "std", *_STATISTICS])
            if statistic in ("mean", "var", "std"):
                values = self._running_moments(window_samples, hop_samples, statistic)
            else:
                values = _STATISTICS[statistic](windows.values, axis=1)
        return self.replace(values, rate_hz=windows.rate_hz, start_s=float(windows.centers_s[0]))

    def _running_moments(self, window: int, hop: int, statistic: str) -> np.ndarray:
        """Window mean or variance from cumulative sums in float64 (O(n), any window)."""
        centred = self.values.astype(np.float64) - np.nanmean(self.values, axis=0)
        starts = np.arange(0, self.n_times - window + 1, hop)
        csum = np.zeros((self.n_times + 1, self.n_channels))
        np.cumsum(centred, axis=0, out=csum[1:])
        mean = (csum[starts + window] - csum[starts]) / window
        if statistic == "mean":
            return mean + np.nanmean(self.values, axis=0)
        csq = np.zeros_like(csum)
        np.cumsum(centred**2, axis=0, out=csq[1:])
        var = np.maximum((csq[starts + window] - csq[starts]) / window - mean**2, 0.0)
        return var if statistic == "var" else np.sqrt(var)

    def _seconds_to_samples(self, name: str, seconds: float) -> int:
        samples = round(check_positive(name, seconds) * self.rate_hz)
        if samples < 1:
            raise ParameterError(
                f"{name}={seconds} s is shorter than one sample at {self.rate_hz:g} Hz."
            )
        return samples

    # ----------------------------------------------------------------- tables
    def fingerprint(self) -> str:
        """A SHA-256 of the values (bytes, shape, dtype) and the time base: a content key.

        Examples
        --------
        >>> a = TimeSeries(np.zeros(4), 10.0)
        >>> a.fingerprint() == TimeSeries(np.zeros(4), 10.0).fingerprint()
        True
        >>> a.fingerprint() == TimeSeries(np.zeros(4), 10.0, start_s=1.0).fingerprint()
        False

        """
        import hashlib

        values = np.ascontiguousarray(self.values)
        digest = hashlib.sha256(values.tobytes())
        digest.update(repr((values.shape, str(values.dtype), self.rate_hz, self.start_s)).encode())
        return digest.hexdigest()

    def to_frame(self, time_column: str = "time_s"):
        """A pandas DataFrame with a time column followed by one column per channel."""
        import pandas as pd

        frame = pd.DataFrame(self.values, columns=list(self.names))
        frame.insert(0, time_column, self.times_s)
        return frame
