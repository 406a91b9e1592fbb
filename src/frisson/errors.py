"""The exceptions frisson raises.

Every error frisson raises derives from :class:`FrissonError`, so a batch can catch
one type, log it, and go on with the next item. Messages name the input (file,
parameter or field), the value found and the fix.
"""

from __future__ import annotations

__all__ = ["AudioError", "DataError", "FrissonError", "ParameterError"]


class FrissonError(Exception):
    """Root of every error frisson raises on purpose."""


class ParameterError(FrissonError, ValueError):
    """A parameter has an invalid type or value."""


class DataError(FrissonError, ValueError):
    """Input data (an array, a table, a recording) cannot be used as it is."""


class AudioError(DataError):
    """An audio file cannot be read or is unusable (empty, silent, too short, NaNs)."""
