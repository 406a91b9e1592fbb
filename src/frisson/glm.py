"""The brain-emotion GLM: BOLD regressed on the absolute derivatives of continuous ratings.

The talk's model ``fMRI = |Emotionality'| + |Enjoyment'|``: where listeners'
ratings change (in either direction), does BOLD rise? Steps:

1. :func:`absolute_derivative`: each rating channel smoothed with a Gaussian
   (``smooth_s``, the standard deviation in seconds; the slider's steps would
   otherwise make the derivative spiky), then ``|d rating / dt|`` per second.
2. :func:`run_design`: per BOLD run, those drives placed at each stimulus'
   onset and convolved with the canonical (SPM) HRF
   (:func:`nilearn.glm.first_level.compute_regressor`), plus nuisance
   regressors: the music block itself (every presentation as a boxcar
   convolved with the HRF, so the rating regressors explain more than "music
   is on"), a cosine drift basis (high-pass ``high_pass_hz``) and a constant.
3. :func:`first_level`: ordinary least squares with AR(1) prewhitening per
   voxel (:func:`nilearn.glm.first_level.run_glm`, ``noise_model="ar1"``, as
   nilearn's ``FirstLevelModel`` does), one fit per run, runs combined by
   fixed effects (precision-weighted mean of the contrasts' effects).
4. :func:`group_signflip`: the participants' contrast effects in a one-sample
   t per unit, with a sign-flip permutation null over participants (every
   ``2**n`` pattern when it fits); ``p_fwe`` against the maximum ``|t|`` over
   units (family-wise error over the map), ``p`` per unit.

Calibration (``tests/test_encode_glm.py``; BOLD unrelated to the ratings:
AR(1) noise with phi 0.4, a music-evoked block response, a slow drift):
first-level voxel p at .05 and the group map's family-wise error rate stay
near 5 % over 120 null datasets; planted responses to the rating
derivatives are recovered with their amplitude.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
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
    "first_level",
    "group_signflip",
    "run_design",
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


def _drive_regressor(
    placements: Sequence[tuple[float, TimeSeries]], channel: int, frame_times_s: np.ndarray
) -> np.ndarray:
    """One channel of drives played at onsets, HRF-convolved, at the frame times."""
    compute_regressor = import_optional("nilearn.glm.first_level").compute_regressor

    onsets, durations, amplitudes = [], [], []
    for onset_s, drive in placements:
        onsets.append(onset_s + drive.times_s)
        durations.append(np.full(drive.n_times, 1.0 / drive.rate_hz))
        amplitudes.append(np.asarray(drive.values[:, channel], dtype=np.float64))
    condition = np.vstack(
        [np.concatenate(onsets), np.concatenate(durations), np.concatenate(amplitudes)]
    )
    regressor, _ = compute_regressor(condition, "spm", frame_times_s, oversampling=16)
    return regressor[:, 0]


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
    interest = np.column_stack(
        [_drive_regressor(drives, c, frame_times_s) for c in range(len(names))]
    )
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

    """

    units: list[str]
    contrasts: list[str]
    effect: np.ndarray = field(repr=False)
    variance: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    dof: float = 0.0

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


def _ar1_contrasts(y: np.ndarray, x: np.ndarray, vectors: np.ndarray):
    """Contrast effects and variances, (n_contrasts, n_units), of an AR(1)-prewhitened OLS.

    The AR(1) coefficient of each unit (:func:`_ar1_coefficients`) is rounded
    to 0.01, as nilearn bins it, so units sharing it share one whitened fit.
    """
    n = x.shape[0]
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
    return effect, variance


def first_level(
    bold_runs: Sequence[TimeSeries],
    designs: Sequence,
    contrasts: Mapping[str, Mapping[str, float]],
    *,
    noise_model: str = "ar1",
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
    for bold, design in zip(bold_runs, designs, strict=True):
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
            effect, variance = _ar1_contrasts(y, x, vectors)
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
    return FirstLevel(units, list(contrasts), effect, variance, t, p, float(dof))


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
