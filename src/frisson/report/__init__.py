"""Figures and reports: everything that turns a pipeline's results into files a person reads."""

from frisson.report.figures import plot_latent
from frisson.report.song import write_song_analysis

__all__ = ["plot_latent", "write_song_analysis"]
