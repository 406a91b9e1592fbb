"""Griffe extension for the API pages: fill ``%(name)s`` lines as ``frisson._docs.fill_doc`` does.

mkdocstrings reads docstrings from the sources without importing them, so the shared
parameter text that :func:`frisson._docs.fill_doc` puts in at import time would show as
``%(progress_bar)s``. This fills it in the same way (same entries, same indentation).
"""

from __future__ import annotations

import re

import griffe

from frisson._docs import docdict

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", flags=re.MULTILINE)


def _fill(text: str) -> str:
    def entry(match: re.Match) -> str:
        indent, key = match.group(1), match.group(2)
        if key not in docdict:  # not shared parameter text (e.g. a format string shown)
            return match.group(0)
        return "\n".join(indent + line if line else line for line in docdict[key].splitlines())

    return _PLACEHOLDER.sub(entry, text)


class FillDoc(griffe.Extension):
    """Fill shared parameter text into function and class docstrings."""

    def on_instance(self, *, obj, **kwargs) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and "%(" in docstring.value:
            docstring.value = _fill(docstring.value)
