"""frisson: what in the music moves the listener.

Encode music with neural audio encoders, analyse each song's latent
trajectory, and relate it to listeners' skin conductance, heart rate, fMRI
and continuous ratings.

The core types are imported here; analysis modules load on demand
(``from frisson import latent``).
"""

from importlib.metadata import PackageNotFoundError, version

from frisson.errors import AudioError, DataError, FrissonError, ParameterError
from frisson.timeseries import TimeSeries

try:
    __version__ = version("frisson")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["AudioError", "DataError", "FrissonError", "ParameterError", "TimeSeries", "__version__"]
