"""frisson: what in the music moves the listener.

Encode music with neural audio encoders, analyse each song's latent
trajectory, and relate it to listeners' skin conductance, heart rate, fMRI
and continuous ratings.

The core types are imported here; analysis modules load on demand
(``from frisson import latent``). ``frisson.embed`` (encode files into the
embedding store) and ``frisson.EmbeddingStore`` load the store, and with it
Zarr, on first use.

``pip install frisson`` gives the core; the extras ``frisson[codecs]``
(transformers: DAC, EnCodec, ``hf:`` models), ``frisson[fmri]`` (nibabel,
himalaya) and ``frisson[formats]`` (EDF/BDF, AcqKnowledge) add the rest; a
feature used without its extra says which to install. The default encoder's
checkpoints come once with ``frisson fetch musicnn``.

Examples
--------
>>> import frisson
>>> from importlib.metadata import version
>>> frisson.__version__ == version("frisson")  # the installed metadata says the same
True

"""

from frisson.errors import AudioError, DataError, FrissonError, ParameterError
from frisson.timeseries import TimeSeries

#: The package version (the one place it is written; the build reads it from here).
__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "DataError",
    "EmbeddingStore",
    "FrissonError",
    "ParameterError",
    "TimeSeries",
    "__version__",
    "embed",
]

_LAZY = {"embed": "frisson.store", "EmbeddingStore": "frisson.store"}


def __getattr__(name: str):
    """Load ``embed`` and ``EmbeddingStore`` from :mod:`frisson.store` on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'frisson' has no attribute {name!r}")
