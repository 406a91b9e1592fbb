"""The ``frisson`` logger. The library logs and never prints; the CLI sets the level."""

from __future__ import annotations

import logging

logger = logging.getLogger("frisson")
logger.addHandler(logging.NullHandler())


def progress_enabled(progress_bar: bool | None) -> bool:
    """Resolve a ``progress_bar`` argument: ``None`` means on when stderr is a terminal."""
    if progress_bar is None:
        import sys

        return sys.stderr.isatty()
    return bool(progress_bar)
