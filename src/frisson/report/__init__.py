"""Figures and reports."""

from frisson.report.figures import plot_latent

__all__ = ["plot_latent"]
