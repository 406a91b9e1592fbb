"""The one HTML page layout of frisson's reports: sidebar contents, collapsible sections, tables.

Every report (study, encoding, listening view) is one self-contained HTML file
that opens offline: styles and the few lines of JavaScript are inlined, figures
are embedded, nothing is fetched from a network. Paths shown are relative to
the output folder. The tables sort by a click on a column header.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path

__all__ = ["Section", "figure_html", "page_html", "slug", "table_html"]

CSS = """
:root { --side: 15rem; --ink: #222; --muted: #555; --rule: #ddd; --accent: #b03a2e; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; color: var(--ink); margin: 0; line-height: 1.45; }
nav.toc { position: fixed; top: 0; left: 0; bottom: 0; width: var(--side); overflow-y: auto;
  padding: 1rem 0.8rem; background: #f7f7f5; border-right: 1px solid var(--rule);
  font-size: 0.9em; }
nav.toc a { color: var(--ink); text-decoration: none; display: block; padding: 0.12em 0; }
nav.toc a:hover { color: var(--accent); } nav.toc .l3 { padding-left: 1em; font-size: 0.92em; }
main { margin-left: var(--side); padding: 1rem 2rem 4rem; max-width: 72rem; }
h1 { font-size: 1.55em; margin-top: 0.4em; }
details > summary { cursor: pointer; list-style: none; }
details > summary::-webkit-details-marker { display: none; }
details > summary > h2::before, details > summary > h3::before { content: "\\25be  "; color: #999; }
details:not([open]) > summary > h2::before, details:not([open]) > summary > h3::before {
  content: "\\25b8  "; }
summary > h2, summary > h3 { display: inline; }
section { margin-top: 1.4em; } section > details > summary > h2 { font-size: 1.3em; }
section.sub { margin-left: 0.6em; }
.bar { border-bottom: 1px solid var(--rule); padding-bottom: 0.2em; }
table.sortable { border-collapse: collapse; font-size: 0.86em; margin: 0.6em 0 1em; }
table.sortable th { cursor: pointer; background: #f1f1ee; position: sticky; top: 0;
  user-select: none; }
table.sortable th[data-order=asc]::after { content: " \\25b2"; }
table.sortable th[data-order=desc]::after { content: " \\25bc"; }
table.sortable td, table.sortable th { padding: 0.18em 0.6em; border-bottom: 1px solid #eee;
  text-align: right; white-space: nowrap; }
table.sortable td.text, table.sortable th.text { text-align: left; white-space: normal; }
.tablewrap { max-height: 32rem; overflow: auto; display: inline-block; max-width: 100%; }
figure { margin: 1em 0 1.6em; } figure img { max-width: 100%; }
figcaption { color: var(--muted); font-size: 0.9em; max-width: 60rem; }
pre { background: #f6f6f4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
p.note { color: var(--muted); font-size: 0.92em; max-width: 60rem; }
.headline { background: #fbf4e6; border-left: 4px solid #d9a441; padding: 0.5em 1em; }
"""

# Click a header to sort its table (numbers by the cell's data-v, text otherwise).
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var up = th.dataset.order !== 'asc', body = table.tBodies[0];
      table.querySelectorAll('th').forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = up ? 'asc' : 'desc';
      var key = function (row) {
        var cell = row.cells[col];
        return cell.dataset.v !== undefined ? parseFloat(cell.dataset.v) : cell.textContent;
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b), c;
        if (typeof x === 'number' && typeof y === 'number') {
          c = isNaN(x) ? 1 : isNaN(y) ? -1 : x - y;
        } else { c = String(x).localeCompare(String(y)); }
        return up ? c : -c;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


@dataclass
class Section:
    """One collapsible section of a report page, with an anchor in the sidebar.

    Attributes
    ----------
    title : str
        Heading (plain text; escaped).
    body : str
        HTML content.
    anchor : str
        The ``id`` (default: :func:`slug` of the title).
    open : bool
        Expanded when the page opens.
    children : list of Section
        Subsections (one level; shown indented in the sidebar).

    """

    title: str
    body: str = ""
    anchor: str = ""
    open: bool = True
    children: list[Section] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.anchor = self.anchor or slug(self.title)


def slug(text: str) -> str:
    """An HTML id from a heading: lower case, runs of other characters as ``-``.

    Examples
    --------
    >>> slug("Transition-locked skin conductance (songs)")
    'transition-locked-skin-conductance-songs'

    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _cell(value) -> str:
    """One ``<td>``: numbers right-aligned with their full value in ``data-v`` for sorting."""
    if isinstance(value, bool) or value is None:
        return f"<td class='text'>{'' if value is None else value}</td>"
    if isinstance(value, Number):
        number = float(value)
        if math.isnan(number):
            return "<td data-v='NaN'>&ndash;</td>"
        if isinstance(value, int):
            return f"<td data-v='{value}'>{value}</td>"
        return f"<td data-v='{number!r}'>{number:.4g}</td>"
    return f"<td class='text'>{html.escape(str(value))}</td>"


def table_html(frame, *, caption: str = "", max_rows: int = 2000) -> str:
    """A pandas DataFrame as a sortable HTML table (any columns; index left out).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; numbers are shown to 4 significant digits and sort by value.
    caption : str
        Plain text shown above the table.
    max_rows : int
        Longer tables show their first ``max_rows`` rows and say how many were cut
        (the full table is in the TSV beside the report).

    Returns
    -------
    str
        HTML.

    Examples
    --------
    >>> import pandas as pd
    >>> out = table_html(pd.DataFrame({"song": ["a"], "r": [0.123456]}))
    >>> "data-v='0.123456'" in out and ">0.1235<" in out
    True

    """
    import numpy as np

    columns = [str(c) for c in frame.columns]
    numeric = [np.issubdtype(dtype, np.number) for dtype in frame.dtypes]
    head = "".join(
        f"<th{'' if num else ' class=text'}>{html.escape(c)}</th>"
        for c, num in zip(columns, numeric, strict=True)
    )
    rows = []
    for values in frame.head(max_rows).itertuples(index=False, name=None):
        cells = []
        for value in values:
            if isinstance(value, np.generic):
                value = value.item()
            cells.append(_cell(value))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    cut = ""
    if len(frame) > max_rows:
        cut = f"<p class='note'>First {max_rows} of {len(frame)} rows shown.</p>"
    title = f"<p><b>{html.escape(caption)}</b></p>" if caption else ""
    return (
        f"{title}<div class='tablewrap'><table class='sortable'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{cut}"
    )


def figure_html(
    image: str | Path | bytes, title: str, caption: str, *, link: str | None = None
) -> str:
    """An embedded PNG figure with its title and caption (base64: the page stays one file).

    Parameters
    ----------
    image : path or bytes
        The PNG file, or its bytes.
    title, caption : str
        Plain text.
    link : str, optional
        A relative link wrapped around the image (e.g. a full-size version).

    Returns
    -------
    str
        HTML.

    """
    raw = image if isinstance(image, bytes) else Path(image).read_bytes()
    data = base64.b64encode(raw).decode()
    tag = f"<img src='data:image/png;base64,{data}' alt='{html.escape(title)}'>"
    if link:
        tag = f"<a href='{html.escape(link)}'>{tag}</a>"
    return (
        f"<figure><p><b>{html.escape(title)}</b></p>{tag}"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _section_html(section: Section, level: int) -> str:
    children = "".join(_section_html(child, level + 1) for child in section.children)
    tag = f"h{level}"
    return (
        f"<section id='{section.anchor}' class='{'sub' if level > 2 else ''}'>"
        f"<details{' open' if section.open else ''}><summary><{tag} class='bar'>"
        f"{html.escape(section.title)}</{tag}></summary>{section.body}{children}</details></section>"
    )


def page_html(title: str, sections: Sequence[Section], *, intro: str = "", script: str = "") -> str:
    """A whole report page: sidebar of contents, the intro, then the collapsible sections.

    Parameters
    ----------
    title : str
        Page title and first heading (plain text).
    sections : sequence of Section
        In order; each gets a sidebar entry (and its children, indented).
    intro : str
        HTML shown under the title.
    script : str
        Extra inlined JavaScript (after the table sorter).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = page_html("t", [Section("A b", "<p>x</p>")])
    >>> "href='#a-b'" in page and "id='a-b'" in page and "<script" in page
    True

    """
    entries = []
    for section in sections:
        entries.append(f"<a href='#{section.anchor}'>{html.escape(section.title)}</a>")
        entries += [
            f"<a class='l3' href='#{child.anchor}'>{html.escape(child.title)}</a>"
            for child in section.children
        ]
    body = "".join(_section_html(section, 2) for section in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<nav class="toc" aria-label="Contents"><b>Contents</b>{"".join(entries)}</nav>
<main><h1>{html.escape(title)}</h1>{intro}{body}</main>
<script>{SORT_JS}{script}</script>
</body></html>
"""
