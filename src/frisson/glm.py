"""The brain-emotion GLM: BOLD regressed on the absolute derivatives of continuous ratings.

The talk's model ``fMRI = |Emotionality'| + |Enjoyment'|``: where listeners'
ratings change (in either direction), does BOLD rise? Steps:

1. :func:`absolute_derivative`: each rating channel smoothed with a Gaussian
   (``smooth_s``, the standard deviation in seconds; the slider's steps would
   otherwise make the derivative spiky), then ``|d rating / dt|`` per second.
2. :func:`run_design`: per BOLD run, those drives placed at each stimulus'
   onset and convolved with the canonical (SPM) HRF
   (:func:`drive_regressors`, nilearn's ``spm_hrf``), plus nuisance
   regressors: the music block itself (every presentation as a boxcar
   convolved with the HRF, so the rating regressors explain more than "music
   is on"), a cosine drift basis (high-pass ``high_pass_hz``) and a constant.
3. :func:`first_level`: ordinary least squares with AR(1) prewhitening per
   voxel, as nilearn's ``FirstLevelModel`` does, but with the AR coefficient
   corrected for the bias the design puts into OLS residuals (nilearn's
   uncorrected estimate, ``noise_model="nilearn-ar1"``, is liberal), one fit
   per run, runs combined by fixed effects (precision-weighted mean).
4. :func:`group_signflip`: the participants' contrast effects in a one-sample
   t per unit, with a sign-flip permutation null over participants (every
   ``2**n`` pattern when it fits); ``p_fwe`` against the maximum ``|t|`` over
   units (family-wise error over the map), ``p`` per unit.

Calibration (``benchmarks/glm_nulls.py``, 150 datasets per family; BOLD
unrelated to the ratings: AR(1) noise with phi 0.4, a music-evoked block
response, a slow drift): 5.7 % of first-level voxels at p < .05, 5.0 % at the
group level, family-wise 5.3 %; power 98 % at a planted 0.3-SD response.
A song-locked response shared by every listener (unrelated to the ratings)
passes the sign-flip test in 29 % of datasets: :func:`surrogate_group_test`
(refits on surrogate ratings, songs as the random factor) controls it
(3 % in ``tests/test_encode_glm.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from frisson._check import check_int, check_option, check_positive
from frisson._optional import import_optional
from frisson._signflip import sign_patterns, signflip_t
from frisson.errors import DataError, ParameterError
from frisson.timeseries import TimeSeries

__all__ = [
    "FirstLevel",
    "GroupTest",
    "absolute_derivative",
    "drive_regressors",
    "first_level",
    "group_signflip",
    "phase_randomise",
    "run_design",
    "surrogate_group_test",
    "with_drives",
]


def absolute_derivative(ratings: TimeSeries, *, smooth_s: float = 1.0) -> TimeSeries:
    """Each channel's absolute first derivative (per second) after Gaussian smoothing.

    Parameters
    ----------
    ratings : TimeSeries, shape (n_times, n_channels)
        Continuous ratings on stimulus time, finite.
    smooth_s : float
        Standard deviation in seconds of the Gaussian applied before the
        derivative (0: none).

    Returns
    -------
    TimeSeries
        ``|d/dt (g * rating)|`` in rating units per second, same grid, channels
        named ``<name>_absderiv``.

    Examples
    --------
    >>> ramp = TimeSeries(np.linspace(0.0, 10.0, 101), rate_hz=10.0, names=["joy"])
    >>> out = absolute_derivative(ramp, smooth_s=0.0)
    >>> list(out.names), round(float(out.values[50, 0]), 3)
    (['joy_absderiv'], 1.0)

    """
    from scipy.ndimage import gaussian_filter1d

    smooth_s = check_positive("smooth_s", smooth_s, allow_zero=True)
    values = np.asarray(ratings.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(
            "ratings have NaN; interpolate them first (TimeSeries.interpolate_nan) "
            "or cut the span without ratings."
        )
    if smooth_s > 0:
        values = gaussian_filter1d(values, smooth_s * ratings.rate_hz, axis=0, mode="nearest")
    derivative = np.abs(np.gradient(values, axis=0)) * ratings.rate_hz
    names = [f"{name}_absderiv" for name in ratings.names]
    return TimeSeries(derivative, ratings.rate_hz, start_s=ratings.start_s, names=names)


def drive_regressors(
    placements: Sequence[tuple[float, TimeSeries]], frame_times_s: np.ndarray
) -> np.ndarray:
    """Drives played at onsets, convolved with the SPM HRF, at the frame times.

    Each drive is put on a grid at its own rate (sample ``k`` of a drive played
    at ``onset_s`` lands at ``onset_s + drive.times_s[k]``), convolved with
    :func:`nilearn.glm.first_level.spm_hrf` sampled at that rate, and read at
    the frames by linear interpolation (the drives' rate, e.g. 5 Hz, is the
    oversampling).

    Parameters
    ----------
    placements : sequence of (float, TimeSeries)
        ``(onset_s, drive)``; the drives share rate and channels.
    frame_times_s : ndarray, shape (n_frames,)
        Acquisition times in run time.

    Returns
    -------
    ndarray, shape (n_frames, n_channels)

    Examples
    --------
    >>> impulse = TimeSeries(np.r_[5.0, np.zeros(9)], rate_hz=5.0, names=["x"])
    >>> regressor = drive_regressors([(10.0, impulse)], np.arange(40.0))[:, 0]
    >>> int(np.argmax(regressor)), bool(np.abs(regressor[:10]).max() < 1e-9)
    (15, True)

    """
    from scipy.signal import fftconvolve

    spm_hrf = import_optional("nilearn.glm.first_level").spm_hrf
    frame_times_s = np.asarray(frame_times_s, dtype=np.float64)
    rate = placements[0][1].rate_hz
    n_channels = placements[0][1].n_channels
    origin = min(frame_times_s[0], *(o + d.start_s for o, d in placements))
    n_fine = int(np.ceil((frame_times_s[-1] - origin) * rate)) + 2
    fine = np.zeros((n_fine, n_channels))
    for onset_s, drive in placements:
        if abs(drive.rate_hz - rate) > 1e-9 * rate or drive.n_channels != n_channels:
            raise DataError("drive_regressors: the drives differ in rate or channels.")
        index = np.round((onset_s + drive.times_s - origin) * rate).astype(int)
        inside = (index >= 0) & (index < n_fine)
        np.add.at(fine, index[inside], np.asarray(drive.values, dtype=np.float64)[inside])
    kernel = spm_hrf(1.0 / rate, oversampling=1)
    convolved = fftconvolve(fine, kernel[:, None], axes=0)[:n_fine]
    fine_times = origin + np.arange(n_fine) / rate
    return np.column_stack(
        [np.interp(frame_times_s, fine_times, convolved[:, c]) for c in range(n_channels)]
    )


def run_design(
    frame_times_s: np.ndarray,
    drives: Sequence[tuple[float, TimeSeries]],
    presentations: Sequence[tuple[float, float]],
    *,
    high_pass_hz: float = 1.0 / 128,
):
    """The design matrix of one BOLD run: HRF-convolved drives plus nuisance regressors.

    Parameters
    ----------
    frame_times_s : ndarray, shape (n_frames,)
        Acquisition time of each volume in run time.
    drives : sequence of (float, TimeSeries)
        ``(onset_s, drive)``: a stimulus' drives (e.g. from
        :func:`absolute_derivative`) on stimulus time, played at ``onset_s`` of
        the run; every drive has the same channels.
    presentations : sequence of (float, float)
        ``(onset_s, duration_s)`` of every stimulus of the run (the music block).
    high_pass_hz : float
        Cut-off of the cosine drift basis (default 1/128 Hz, SPM's).

    Returns
    -------
    pandas.DataFrame, shape (n_frames, n_regressors)
        Columns: the drives' channels (their names), ``music``, ``drift_*`` and
        ``constant``.

    Examples
    --------
    >>> drive = TimeSeries(np.linspace(0, 1, 50), rate_hz=5.0, names=["joy_absderiv"])
    >>> design = run_design(np.arange(60.0), [(10.0, drive)], [(10.0, 10.0)])
    >>> list(design.columns[:2]), design.shape[0]
    (['joy_absderiv', 'music'], 60)

    """
    import pandas as pd

    make_design = import_optional("nilearn.glm.first_level").make_first_level_design_matrix

    frame_times_s = np.asarray(frame_times_s, dtype=np.float64)
    if not drives:
        raise DataError("run_design: no drives (no stimulus with ratings in this run).")
    names = list(drives[0][1].names)
    if any(list(d.names) != names for _, d in drives):
        raise DataError(f"run_design: the drives do not share the channels {names}.")
    interest = drive_regressors(drives, frame_times_s)
    events = pd.DataFrame(
        {
            "onset": [o for o, _ in presentations],
            "duration": [d for _, d in presentations],
            "trial_type": "music",
        }
    )
    design = make_design(
        frame_times_s,
        events=events,
        hrf_model="spm",
        drift_model="cosine",
        high_pass=check_positive("high_pass_hz", high_pass_hz),
        add_regs=interest,
        add_reg_names=names,
        oversampling=16,
    )
    ordered = [*names, "music"] + [c for c in design.columns if c not in (*names, "music")]
    return design[ordered]


@dataclass(frozen=True)
class FirstLevel:
    """One participant's GLM contrasts (runs combined by fixed effects).

    Attributes
    ----------
    units : list of str
        Voxels or ROIs.
    contrasts : list of str
        Contrast names.
    effect, variance : ndarray, shape (n_contrasts, n_units)
        Fixed-effects contrast estimate (precision-weighted mean over runs)
        and its variance.
    t, p : ndarray, shape (n_contrasts, n_units)
        ``effect / sqrt(variance)`` and its two-sided p (Student t with the
        runs' summed residual degrees of freedom).
    dof : float
        Residual degrees of freedom summed over runs.
    rho : tuple of ndarray
        Per run, the AR(1) coefficient used per unit (``noise_model='ar1'``).

    """

    units: list[str]
    contrasts: list[str]
    effect: np.ndarray = field(repr=False)
    variance: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    dof: float = 0.0
    rho: tuple = field(default=(), repr=False)

    def to_frame(self):
        """Long table: contrast, unit, effect, variance, t, p."""
        import pandas as pd

        n = len(self.units)
        return pd.DataFrame(
            {
                "contrast": np.repeat(self.contrasts, n),
                "unit": np.tile(self.units, len(self.contrasts)),
                "effect": self.effect.ravel(),
                "variance": self.variance.ravel(),
                "t": self.t.ravel(),
                "p": self.p.ravel(),
            }
        )


def _contrast_vectors(
    contrasts: Mapping[str, Mapping[str, float]], columns: Sequence[str]
) -> dict[str, np.ndarray]:
    out = {}
    for name, weights in contrasts.items():
        unknown = [c for c in weights if c not in columns]
        if unknown:
            raise ParameterError(
                f"contrast {name!r} names {unknown}, not columns of the design {list(columns)}."
            )
        out[name] = np.array([float(weights.get(c, 0.0)) for c in columns])
    return out


def _ar1_coefficients(residuals: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-column AR(1) coefficient of OLS residuals, corrected for the design.

    OLS residuals ``e = M y`` (``M = I - X X+``) are autocorrelated by the fit
    itself, so their raw lag-1 correlation is biased towards negative values
    (white noise reads as AR(1) with rho about -p/n; nilearn uses it as is).
    For AR(1) noise with coefficient ``rho`` (covariance ``V_rho[s, t] =
    rho**|s - t|``) the expected ratio of the residuals' lag-1 to lag-0 sums
    is ``g(rho) = tr(M S M V_rho) / tr(M V_rho)`` (``S`` the symmetric lag-1
    matrix with 1/2 off the diagonal), the bias-correction idea of Worsley
    (2002, fmristat) with the full AR(1) covariance. ``g`` is tabulated on a
    grid of ``rho`` (each value costs O(n^2)) and inverted at the observed
    ratio.
    """
    expected = _expected_lag1_ratio(x.tobytes(), x.shape)
    c0 = (residuals**2).sum(axis=0)
    c1 = (residuals[1:] * residuals[:-1]).sum(axis=0)
    ratio = np.divide(c1, c0, out=np.zeros_like(c1), where=c0 > 0)
    return np.interp(ratio, expected, _RHO_GRID)


_RHO_GRID = np.linspace(-0.9, 0.95, 186)


@functools.lru_cache(maxsize=16)
def _expected_lag1_ratio(key: bytes, shape: tuple[int, int]) -> np.ndarray:
    """``g(rho)`` on :data:`_RHO_GRID` for one design (cached: participants share designs)."""
    from scipy.linalg import toeplitz

    x = np.frombuffer(key).reshape(shape)
    n = shape[0]
    m = np.eye(n) - x @ np.linalg.pinv(x)
    msm = m @ ((np.eye(n, k=1) + np.eye(n, k=-1)) / 2) @ m
    lags = np.arange(n)
    expected = []
    for rho in _RHO_GRID:
        v = toeplitz(rho**lags)
        expected.append(np.sum(msm * v) / np.sum(m * v))
    return np.maximum.accumulate(np.array(expected))  # monotone for np.interp


def _ar1_contrasts(
    y: np.ndarray, x: np.ndarray, vectors: np.ndarray, rho: np.ndarray | None = None
):
    """Contrast effects and variances, (n_contrasts, n_units), of an AR(1)-prewhitened OLS.

    The AR(1) coefficient of each unit (:func:`_ar1_coefficients`, unless given)
    is rounded to 0.01, as nilearn bins it, so units sharing it share one
    whitened fit. Returns effects, variances and the coefficients used.
    """
    n = x.shape[0]
    if rho is None:
        projector = np.linalg.pinv(x)
        rho = np.round(_ar1_coefficients(y - x @ (projector @ y), x), 2)
    effect = np.empty((len(vectors), y.shape[1]))
    variance = np.empty_like(effect)
    dof = n - np.linalg.matrix_rank(x)
    for value in np.unique(rho):
        columns = np.flatnonzero(rho == value)
        scale = np.r_[np.sqrt(1 - value**2), np.ones(n - 1)]
        xw = np.r_[x[:1], x[1:] - value * x[:-1]] * scale[:, None]
        yw = np.r_[y[:1, columns], y[1:, columns] - value * y[:-1, columns]] * scale[:, None]
        pinv = np.linalg.pinv(xw)
        beta = pinv @ yw
        sigma2 = ((yw - xw @ beta) ** 2).sum(axis=0) / dof
        effect[:, columns] = vectors @ beta
        variance[:, columns] = (
            np.einsum("ck,kl,cl->c", vectors, pinv @ pinv.T, vectors)[:, None] * sigma2[None, :]
        )
    return effect, variance, rho


def first_level(
    bold_runs: Sequence[TimeSeries],
    designs: Sequence,
    contrasts: Mapping[str, Mapping[str, float]],
    *,
    noise_model: str = "ar1",
    rho: Sequence[np.ndarray] | None = None,
) -> FirstLevel:
    """OLS with AR(1) prewhitening per unit and run; contrasts combined over runs.

    Parameters
    ----------
    bold_runs : sequence of TimeSeries, each (n_frames, n_units)
        One participant's runs, sharing the units (voxel/ROI names).
    designs : sequence of pandas.DataFrame
        One design per run (:func:`run_design`), rows = frames.
    contrasts : mapping of str to mapping of str to float
        Contrast name -> ``{design column: weight}`` (columns not named weigh 0),
        e.g. ``{"emotion": {"emotionality_absderiv": 1, "enjoyment_absderiv": 1}}``.
    noise_model : {'ar1', 'nilearn-ar1', 'ols'}
        ``'ar1'``: prewhitening with each unit's AR(1) coefficient estimated
        from the OLS residuals with the design's bias removed (Worsley 2002,
        as fmristat does). ``'nilearn-ar1'``: nilearn's
        :func:`~nilearn.glm.first_level.run_glm` (``FirstLevelModel``'s
        default), whose uncorrected estimate is liberal: 6.4 % of null voxels
        at p < .05 on white noise and 8.1 % on AR(1) noise with phi 0.4 in
        this module's test design (200 frames, 9 regressors), against 5.4 %
        for OLS on white noise. ``'ols'``: no prewhitening (valid only for
        white noise).
    rho : sequence of ndarray, optional
        ``'ar1'`` only: each run's AR(1) coefficients per unit to use instead of
        estimating them (``FirstLevel.rho`` of an earlier fit; refits on
        surrogate designs, :func:`surrogate_group_test`, keep the whitening).

    Returns
    -------
    FirstLevel

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(200)
    >>> design = pd.DataFrame({"x": x, "constant": np.ones(200)})
    >>> bold = TimeSeries(np.c_[2 * x + rng.standard_normal(200), rng.standard_normal(200)], 1.0)
    >>> fit = first_level([bold], [design], {"x": {"x": 1.0}})
    >>> bool(abs(fit.effect[0, 0] - 2.0) < 0.2), bool(fit.p[0, 0] < 1e-10)
    (True, True)

    """
    from scipy import stats

    compute_contrast = import_optional("nilearn.glm").compute_contrast
    run_glm = import_optional("nilearn.glm.first_level").run_glm
    check_option("noise_model", noise_model, ("ar1", "nilearn-ar1", "ols"))
    if len(bold_runs) != len(designs) or not bold_runs:
        raise DataError(f"first_level: {len(bold_runs)} runs but {len(designs)} designs.")
    units = list(bold_runs[0].names)
    precision_sum = weighted_sum = None
    dof = 0.0
    rhos = []
    for index, (bold, design) in enumerate(zip(bold_runs, designs, strict=True)):
        if list(bold.names) != units:
            raise DataError("first_level: the runs do not share their units (voxels/ROIs).")
        if bold.n_times != len(design):
            raise DataError(
                f"first_level: {bold.n_times} frames but a design of {len(design)} rows."
            )
        y = np.asarray(bold.values, dtype=np.float64)
        x = np.asarray(design, dtype=np.float64)
        vectors = np.array(list(_contrast_vectors(contrasts, list(design.columns)).values()))
        if noise_model == "ar1":
            effect, variance, used = _ar1_contrasts(
                y, x, vectors, None if rho is None else rho[index]
            )
            rhos.append(used)
        else:
            nilearn_model = "ar1" if noise_model == "nilearn-ar1" else "ols"
            labels, results = run_glm(y, x, noise_model=nilearn_model)
            fitted = [compute_contrast(labels, results, v, "t") for v in vectors]
            effect = np.array([c.effect_size() for c in fitted]).reshape(len(vectors), -1)
            variance = np.array([c.effect_variance() for c in fitted]).reshape(len(vectors), -1)
        precision = 1.0 / np.maximum(variance, 1e-30)
        precision_sum = precision if precision_sum is None else precision_sum + precision
        weighted_sum = (
            effect * precision if weighted_sum is None else weighted_sum + effect * precision
        )
        dof += bold.n_times - np.linalg.matrix_rank(np.asarray(design, dtype=np.float64))
    variance = 1.0 / precision_sum
    effect = weighted_sum * variance
    t = effect / np.sqrt(variance)
    p = 2 * stats.t.sf(np.abs(t), dof)
    return FirstLevel(units, list(contrasts), effect, variance, t, p, float(dof), tuple(rhos))


@dataclass(frozen=True)
class GroupTest:
    """A one-sample t per unit over participants with a sign-flip null.

    Attributes
    ----------
    units : list of str
    mean, t : ndarray, shape (n_units,)
        Mean over participants and the one-sample t.
    p : ndarray, shape (n_units,)
        Two-sided sign-flip p per unit: ``#(|t*| >= |t|) / n_patterns``.
    p_fwe : ndarray, shape (n_units,)
        Family-wise corrected p: against the maximum ``|t*|`` over units of
        each pattern.
    n_participants, n_patterns : int
    exact : bool
        Whether every ``2**n`` sign pattern was used.
    t_threshold : float
        The 95th percentile of the maximum ``|t*|``: units above it pass
        ``p_fwe < .05``.

    """

    units: list[str]
    mean: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    p_fwe: np.ndarray = field(repr=False)
    n_participants: int = 0
    n_patterns: int = 0
    exact: bool = False
    t_threshold: float = float("nan")

    def to_frame(self):
        """Table per unit: mean, t, p, p_fwe."""
        import pandas as pd

        return pd.DataFrame(
            {"unit": self.units, "mean": self.mean, "t": self.t, "p": self.p, "p_fwe": self.p_fwe}
        )


def group_signflip(
    effects: np.ndarray,
    *,
    units: Sequence[str] | None = None,
    n_permutations: int = 10000,
    seed: int = 0,
) -> GroupTest:
    """Random effects over participants: one-sample t per unit, sign-flip max-|t| null.

    Parameters
    ----------
    effects : ndarray, shape (n_participants, n_units)
        Each participant's contrast estimate per unit (e.g. ``FirstLevel.effect[i]``).
    units : sequence of str, optional
        Unit names (default ``u0, u1, ...``).
    n_permutations : int
        Sign patterns drawn when ``2**n_participants`` exceeds it (the observed
        pattern counts as one); otherwise every pattern (exact).
    seed : int
        Seed of the drawn patterns.

    Returns
    -------
    GroupTest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> effects = rng.standard_normal((12, 30))
    >>> effects[:, 0] += 3.0  # one unit responds in every participant
    >>> test = group_signflip(effects)
    >>> bool(test.p_fwe[0] < 0.01), bool((test.p_fwe[1:] > 0.05).all())
    (True, True)

    """
    effects = np.asarray(effects, dtype=np.float64)
    if effects.ndim != 2 or effects.shape[0] < 3:
        raise DataError(
            f"group_signflip needs (n_participants >= 3, n_units) effects, got {effects.shape}."
        )
    if not np.isfinite(effects).all():
        raise DataError("group_signflip: effects have NaN; keep units every participant has.")
    n_permutations = check_int("n_permutations", n_permutations, minimum=2)
    n = effects.shape[0]
    names = list(units) if units is not None else [f"u{i}" for i in range(effects.shape[1])]
    signs, exact = sign_patterns(n, n_permutations, seed)
    null = np.abs(signflip_t(signs, effects))  # (n_patterns, n_units), observed first
    observed = null[0]
    tolerance = 1e-12 * np.maximum(1.0, observed)
    p = np.mean(null >= observed - tolerance, axis=0)
    maximum = null.max(axis=1)
    p_fwe = np.mean(maximum[:, None] >= observed[None, :] - tolerance, axis=0)
    return GroupTest(
        names,
        effects.mean(axis=0),
        signflip_t(signs[:1], effects)[0],
        p,
        p_fwe,
        n,
        signs.shape[0],
        exact,
        float(np.quantile(maximum, 0.95)),
    )


def phase_randomise(series: TimeSeries, rng: np.random.Generator) -> TimeSeries:
    """A surrogate with the same power spectrum (and mean), the channels sharing the phases.

    Examples
    --------
    >>> x = TimeSeries(np.sin(np.arange(64) / 3.0), rate_hz=5.0)
    >>> y = phase_randomise(x, np.random.default_rng(0))
    >>> bool(np.allclose(np.abs(np.fft.rfft(y.values[:, 0])), np.abs(np.fft.rfft(x.values[:, 0]))))
    True

    """
    values = np.asarray(series.values, dtype=np.float64)
    n = values.shape[0]
    spectrum = np.fft.rfft(values, axis=0)
    phases = rng.uniform(0, 2 * np.pi, (spectrum.shape[0], 1))
    phases[0] = 0.0
    if n % 2 == 0:
        phases[-1] = 0.0
    return series.replace(np.fft.irfft(spectrum * np.exp(1j * phases), n=n, axis=0))


def with_drives(design, drives: Sequence[tuple[float, TimeSeries]]):
    """A copy of a :func:`run_design` design with the drive columns rebuilt from other drives.

    The nuisance columns (music block, drifts, constant) stay; used for surrogate
    ratings (:func:`surrogate_group_test`).
    """
    out = design.copy()
    names = list(drives[0][1].names)
    out[names] = drive_regressors(drives, np.asarray(design.index, dtype=np.float64))
    return out


def _one_sample_t(effects: np.ndarray) -> np.ndarray:
    n = effects.shape[0]
    sd = effects.std(axis=0, ddof=1)
    return np.divide(
        effects.mean(axis=0), sd / np.sqrt(n), out=np.zeros(effects.shape[1]), where=sd > 0
    )


def surrogate_group_test(
    bold: Sequence[Sequence[TimeSeries]],
    fits: Sequence[FirstLevel],
    surrogate_designs: Iterable[Sequence[Sequence]],
    contrasts: Mapping[str, Mapping[str, float]],
) -> dict[str, GroupTest]:
    """Group t per unit against refits on surrogate ratings: songs as the random factor.

    The sign-flip test (:func:`group_signflip`) takes listeners as the random
    factor; a song-locked response that every listener shares and that
    correlates by chance with the few songs' rating derivatives then passes it
    (27 % of null datasets family-wise in ``benchmarks/glm_nulls.py``,
    ``song_locked``). Here the null keeps the listeners' BOLD and refits it on
    designs built from surrogate ratings (e.g. :func:`phase_randomise` of each
    stimulus' group ratings, the same surrogate for every listener), so the
    chance correlation of shared responses with rating-like curves is in the
    null. ``p = (1 + #(|t*| >= |t|)) / (1 + n_surrogates)`` per unit,
    ``p_fwe`` against the maximum ``|t*|`` over units.

    Parameters
    ----------
    bold : sequence of sequence of TimeSeries
        Per participant, the runs, restricted to units every participant has.
    fits : sequence of FirstLevel
        The observed first levels of ``bold`` (their AR(1) coefficients are reused).
    surrogate_designs : iterable of sequence of sequence of DataFrame
        Per surrogate, per participant, per run: the design with surrogate
        drive columns (:func:`with_drives`).
    contrasts : mapping
        The contrasts of ``fits`` (as given to :func:`first_level`).

    Returns
    -------
    dict of str to GroupTest
        Per contrast (``n_patterns`` is the number of surrogates, ``exact`` False).

    """
    names = list(contrasts)
    observed = [np.array([f.effect[i] for f in fits]) for i in range(len(names))]
    t_obs = [_one_sample_t(e) for e in observed]
    null = [[] for _ in names]
    for designs in surrogate_designs:
        refits = [
            first_level(runs, run_designs, contrasts, rho=fit.rho)
            for runs, fit, run_designs in zip(bold, fits, designs, strict=True)
        ]
        for i in range(len(names)):
            null[i].append(np.abs(_one_sample_t(np.array([r.effect[i] for r in refits]))))
    if not null[0]:
        raise DataError("surrogate_group_test: no surrogate designs given.")
    out = {}
    for i, name in enumerate(names):
        draws = np.array(null[i])
        observed_t = np.abs(t_obs[i])
        p = (1 + (draws >= observed_t[None, :] - 1e-12).sum(axis=0)) / (1 + len(draws))
        maximum = draws.max(axis=1)
        p_fwe = (1 + (maximum[:, None] >= observed_t[None, :] - 1e-12).sum(axis=0)) / (
            1 + len(draws)
        )
        out[name] = GroupTest(
            list(fits[0].units),
            observed[i].mean(axis=0),
            t_obs[i],
            p,
            p_fwe,
            len(fits),
            len(draws),
            False,
            float(np.quantile(maximum, 0.95)),
        )
    return out
