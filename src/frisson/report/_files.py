"""Writing tables and figures atomically (one helper for every report)."""

from __future__ import annotations

from pathlib import Path

from frisson._io import atomic_write

__all__ = ["write_figure", "write_table"]


def write_table(path: Path, frame, *, float_format: str = "%.6g") -> Path:
    """Write a DataFrame as a tab-separated file without its index (atomically)."""
    return atomic_write(
        path, lambda p: frame.to_csv(p, sep="\t", index=False, float_format=float_format)
    )


def write_figure(path: Path, figure, *, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: figure.savefig(p, dpi=dpi, format="png"))
    plt.close(figure)
    return path
