"""Figures of layer-wise encoding results: layer profiles, best-layer counts, slice mosaics.

The functions take plain arrays (layer x unit scores, best-layer indices,
3-D volumes), so they serve any fit, and return a matplotlib ``Figure``
(not shown; save it with ``savefig``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from frisson.errors import DataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["mean_ci", "plot_best_layers", "plot_layer_profiles", "plot_slice_mosaic"]


def mean_ci(values: np.ndarray, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the last axis and the half-width of its t confidence interval.

    NaN samples are left out; a row with fewer than 2 samples gets a NaN half-width.

    Parameters
    ----------
    values : ndarray, shape (..., n_samples)
        E.g. Pearson r of each layer (rows) over units, participants or folds.
    level : float
        Confidence level.

    Returns
    -------
    mean, half_width : ndarray, shape (...)
        ``mean +- half_width`` is the interval ``mean +- t(level, n - 1) * sd / sqrt(n)``.

    Examples
    --------
    >>> mean, half = mean_ci(np.array([[1.0, 2.0, 3.0]]))
    >>> mean.tolist(), half.round(3).tolist()
    ([2.0], [2.484])

    """
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=-1)
    total = np.nansum(values, axis=-1)
    mean = np.divide(total, n, out=np.full(n.shape, np.nan), where=n > 0)
    deviations = np.where(np.isfinite(values), values - mean[..., None], 0.0)
    dof = n - 1
    variance = np.divide(
        np.sum(deviations**2, axis=-1), dof, out=np.full(n.shape, np.nan), where=dof > 0
    )
    sem = np.sqrt(variance / np.maximum(n, 1))
    quantile = t.ppf(0.5 + level / 2, np.maximum(dof, 1))
    half = np.where(dof > 0, quantile * sem, np.nan)
    return mean, half


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_layer_profiles(
    curves: Mapping[str, np.ndarray],
    layers: Sequence[str],
    *,
    level: float = 0.95,
    ylabel: str = "held-out Pearson r",
    title: str = "",
) -> Figure:
    """Layer profiles: mean score per layer with its confidence band, one curve per entry.

    Parameters
    ----------
    curves : mapping of str to ndarray, shape (n_layers, n_samples)
        Label -> scores of every layer over the samples the interval is taken
        across (units, participants or CV folds).
    layers : sequence of str
        Layer names, network order (the x axis).
    level : float
        Confidence level of the bands (t interval of the mean).
    ylabel, title : str
        Axis label and title.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> figure = plot_layer_profiles({"all voxels": rng.normal(0.2, 0.1, (4, 30))},
    ...                              ["a", "b", "c", "d"])
    >>> len(figure.axes[0].lines)  # the profile and the r = 0 line
    2

    """
    plt = _pyplot()
    layers = list(layers)
    figure, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(layers) + 2), 4), layout="constrained")
    x = np.arange(len(layers))
    colors = plt.get_cmap("tab10")
    for index, (label, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[0] != len(layers):
            raise DataError(
                f"curve {label!r} has shape {values.shape}; expected ({len(layers)}, n_samples)."
            )
        mean, half = mean_ci(values, level=level)
        color = colors(index % 10)
        n = values.shape[1]
        ax.plot(x, mean, marker="o", color=color, label=f"{label} (n = {n})")
        if np.isfinite(half).any():
            ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xticks(
        x,
        layers,
        rotation=45 if len(layers) > 6 else 0,
        ha="right" if len(layers) > 6 else "center",
    )
    ax.set_xlabel("layer (input side first)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"layer profiles (mean, {100 * level:.0f} % CI)", loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return figure


def plot_best_layers(
    best_layer: np.ndarray,
    layers: Sequence[str],
    *,
    significant: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Histogram of the best layer over units, significant units stacked below the rest.

    Parameters
    ----------
    best_layer : ndarray of int, shape (n_units,)
        Index into ``layers`` of each unit's best layer (negative = none).
    layers : sequence of str
        Layer names.
    significant : ndarray of bool, shape (n_units,), optional
        Units whose best layer passes the test (e.g. FDR q < 0.05).
    title : str
        Title.

    Examples
    --------
    >>> figure = plot_best_layers(np.array([0, 1, 1, 2]), ["a", "b", "c"],
    ...                           significant=np.array([True, True, False, False]))
    >>> [round(p.get_height()) for p in figure.axes[0].patches][:3]
    [1, 1, 0]

    """
    plt = _pyplot()
    layers = list(layers)
    best_layer = np.asarray(best_layer, dtype=int)
    if significant is None:
        significant = np.ones(best_layer.shape, dtype=bool)
    significant = np.asarray(significant, dtype=bool)
    if significant.shape != best_layer.shape:
        raise DataError(
            f"significant has shape {significant.shape}, best_layer {best_layer.shape}."
        )
    valid = best_layer >= 0
    x = np.arange(len(layers))
    counts_sig = np.bincount(best_layer[valid & significant], minlength=len(layers))
    counts_rest = np.bincount(best_layer[valid & ~significant], minlength=len(layers))
    figure, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(layers) + 2), 3.5), layout="constrained")
    ax.bar(x, counts_sig, color="tab:red", label="significant")
    if counts_rest.any():
        ax.bar(x, counts_rest, bottom=counts_sig, color="0.75", label="not significant")
    ax.set_xticks(
        x,
        layers,
        rotation=45 if len(layers) > 6 else 0,
        ha="right" if len(layers) > 6 else "center",
    )
    ax.set_xlabel("best layer")
    ax.set_ylabel("units")
    ax.set_title(title or f"best layer of {valid.sum()} units", loc="left", fontsize=10)
    ax.legend(fontsize=8)
    return figure


def plot_slice_mosaic(
    volume: np.ndarray,
    *,
    layers: Sequence[str] | None = None,
    axis: int = 2,
    max_slices: int = 16,
    title: str = "",
    label: str = "",
    underlay: np.ndarray | None = None,
) -> Figure:
    """Slices of a 3-D map in a grid: a best-layer map (discrete) or a score map (continuous).

    Parameters
    ----------
    volume : ndarray, shape (x, y, z)
        With ``layers``: layer indices (negative = no unit / not significant,
        left blank). Without: values, NaN blank.
    layers : sequence of str, optional
        Layer names; makes the colour scale discrete, one colour per layer.
    axis : int
        Slicing axis (2 = axial for RAS-oriented volumes).
    max_slices : int
        At most this many slices, evenly spaced over those with data.
    title, label : str
        Title and colour-bar label.
    underlay : ndarray, shape (x, y, z), optional
        An anatomical image on the same grid (e.g. a T1w resampled to the BOLD
        grid, or the mean EPI), shown in grey under the map; blank map voxels
        let it show through.

    Examples
    --------
    >>> best = -np.ones((4, 4, 3), dtype=int)
    >>> best[1:3, 1:3, :] = 1
    >>> figure = plot_slice_mosaic(best, layers=["a", "b"])
    >>> len([ax for ax in figure.axes if ax.images])
    3
    >>> figure = plot_slice_mosaic(best, layers=["a", "b"], underlay=np.random.rand(4, 4, 3))
    >>> [len(ax.images) for ax in figure.axes if ax.images]
    [2, 2, 2]

    """
    plt = _pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise DataError(f"volume must be 3-D, got shape {volume.shape}.")
    moved = np.moveaxis(volume, axis, -1)
    if underlay is not None and np.shape(underlay) != volume.shape:
        raise DataError(
            f"underlay has shape {np.shape(underlay)}, the map {volume.shape}; resample the "
            "anatomical image to the map's grid first."
        )
    anatomy = None if underlay is None else np.moveaxis(np.asarray(underlay, float), axis, -1)
    if layers is not None:
        shown = np.where(moved >= 0, moved.astype(float), np.nan)
        n_layers = len(layers)
        base = plt.get_cmap("viridis", max(n_layers, 2))
        cmap = ListedColormap([base(i) for i in range(n_layers)])
        norm = BoundaryNorm(np.arange(-0.5, n_layers), n_layers)
        options = {"cmap": cmap, "norm": norm}
    else:
        shown = moved.astype(float)
        finite = shown[np.isfinite(shown)]
        vmax = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        low = -vmax if finite.size and finite.min() < 0 else 0.0
        options = {"cmap": "RdBu_r" if low < 0 else "hot", "vmin": low, "vmax": vmax}
    with_data = [s for s in range(shown.shape[-1]) if np.isfinite(shown[..., s]).any()]
    if not with_data:
        with_data = list(range(shown.shape[-1]))
    if len(with_data) > max_slices:
        pick = np.linspace(0, len(with_data) - 1, max_slices).round().astype(int)
        with_data = [with_data[i] for i in pick]
    n_cols = int(np.ceil(np.sqrt(len(with_data))))
    n_rows = int(np.ceil(len(with_data) / n_cols))
    figure, axes = plt.subplots(
        n_rows, n_cols, figsize=(2.2 * n_cols + 1.2, 2.2 * n_rows + 0.4), layout="constrained"
    )
    axes = np.atleast_1d(axes).ravel()
    image = None
    if anatomy is not None:
        finite = anatomy[np.isfinite(anatomy)]
        grey = {"vmin": np.percentile(finite, 2), "vmax": np.percentile(finite, 98)}
    for ax, s in zip(axes, with_data, strict=False):
        if anatomy is not None:
            ax.imshow(
                anatomy[..., s].T, origin="lower", cmap="gray", interpolation="nearest", **grey
            )
        image = ax.imshow(shown[..., s].T, origin="lower", interpolation="nearest", **options)
        ax.set_title(f"slice {s}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("0.15")
    for ax in axes[len(with_data) :]:
        ax.set_visible(False)
    if image is not None:
        bar = figure.colorbar(image, ax=axes[: len(with_data)].tolist(), shrink=0.8)
        if layers is not None:
            bar.set_ticks(np.arange(len(layers)), labels=list(layers))
        bar.set_label(label or ("best layer" if layers is not None else "value"))
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
