"""Shared parameter text for docstrings, filled in by :func:`fill_doc` (as MNE's ``fill_doc``).

A docstring names an entry as a line of its own, ``%(progress_bar)s``, indented like
the other parameters; :func:`fill_doc` puts the entry there with that indentation.
One text per shared parameter keeps the wording (and the defaults it states) from
drifting between functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

__all__ = ["docdict", "fill_doc"]

F = TypeVar("F", bound=Callable)

docdict: dict[str, str] = {
    "progress_bar": """progress_bar : bool, optional
    Show progress bars on stderr (default: when stderr is a terminal; never in a
    pipe or a log file).""",
    "overwrite": """overwrite : bool
    Write into an existing non-empty output folder that frisson did not create
    (default False: such a folder is refused, so that nobody's files are mixed with
    results).""",
    "seed_every": """seed : int
    Seed of every random draw; the same inputs and seed give the same outputs.""",
    "surrogate_null": """null : {'dct', 'phase', 'circular'}
    Surrogates that keep the series' autocorrelation: ``'dct'`` multiplies its
    cosine-transform coefficients by Gaussian draws (no wrap-around jump; calibrated
    on section-structured series), ``'phase'`` randomises Fourier phases,
    ``'circular'`` shifts it circularly (liberal on section-structured series).""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", flags=re.MULTILINE)


def fill_doc(obj: F) -> F:
    """Replace each ``%(name)s`` line of ``obj.__doc__`` by ``docdict[name]``, indented alike.

    Examples
    --------
    >>> @fill_doc
    ... def f(progress_bar=None):
    ...     '''Do it.
    ...
    ...     Parameters
    ...     ----------
    ...     %(progress_bar)s
    ...     '''
    >>> "Show progress bars on stderr" in f.__doc__ and "%(" not in f.__doc__
    True

    """
    doc = obj.__doc__
    if not doc:
        return obj

    def entry(match: re.Match) -> str:
        indent, key = match.group(1), match.group(2)
        if key not in docdict:
            raise KeyError(
                f"{obj.__qualname__}: no docdict entry {key!r}; add it to frisson._docs."
            )
        return "\n".join(indent + line if line else line for line in docdict[key].splitlines())

    obj.__doc__ = _PLACEHOLDER.sub(entry, doc)
    return obj
