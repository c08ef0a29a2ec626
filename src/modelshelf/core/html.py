"""HTML building blocks, free of any domain type: escaped cells, tables, preformatted text.

Every value that came from a user or a store (names, params, paths, errors) is escaped with
:func:`html.escape`; only markup made here is trusted (:class:`Markup`). Nothing here knows
what a model, job or deployment is: :mod:`modelshelf.core.facts` decides what is shown.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["Markup", "escape", "fields_html", "pre_html", "table_html"]

_TABLE = '<table class="modelshelf">'
_LEFT = ' style="text-align:left"'  # Jupyter right-aligns cells by default; text reads left


class Markup(str):
    """HTML made by this module: inserted as is, where any other value is escaped."""


def escape(text: str) -> str:
    """``text`` with ``&``, ``<``, ``>`` and quotes escaped (Markup is returned as is)."""
    if isinstance(text, Markup):
        return text
    return html.escape(text, quote=True)


def pre_html(text: str) -> Markup:
    """Preformatted text (a log, a traceback, a report)."""
    return Markup(f"<pre>{escape(text)}</pre>")


def link_html(url: str) -> Markup:
    """A link that opens in a new tab, showing the URL itself."""
    return Markup(f'<a href="{escape(url)}" target="_blank">{escape(url)}</a>')


def lines_html(lines: Sequence[str]) -> Markup:
    """Escaped lines, one below the other."""
    return Markup("<br>".join(escape(line) for line in lines))


def _caption(caption: str | None) -> str:
    return f"<caption{_LEFT}>{escape(caption)}</caption>" if caption else ""


def table_html(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    caption: str | None = None,
    more: int = 0,
) -> Markup:
    """A table with a header row; ``more`` rows left out are counted in a last row.

    Cells are text (escaped) or :class:`Markup`.
    """
    parts = [_TABLE, _caption(caption), "<thead><tr>"]
    parts += [f"<th{_LEFT}>{escape(h)}</th>" for h in headers]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td{_LEFT}>{escape(c)}</td>" for c in row) + "</tr>")
    if more > 0:
        parts.append(
            f'<tr><td colspan="{len(headers)}"{_LEFT}><i>... and {more} more</i></td></tr>'
        )
    parts.append("</tbody></table>")
    return Markup("".join(parts))


def fields_html(fields: Sequence[tuple[str, str]], *, caption: str | None = None) -> Markup:
    """A two-column table of ``(label, cell)`` rows, the labels as row headers."""
    parts = [_TABLE, _caption(caption), "<tbody>"]
    for label, cell in fields:
        parts.append(f"<tr><th{_LEFT}>{escape(label)}</th><td{_LEFT}>{escape(cell)}</td></tr>")
    parts.append("</tbody></table>")
    return Markup("".join(parts))


def details_html(summary: str, body: str) -> Markup:
    """A collapsed block: ``summary`` shown, ``body`` (Markup) on click."""
    return Markup(f"<details><summary>{escape(summary)}</summary>{escape(body)}</details>")


def join_html(parts: Sequence[Any]) -> Markup:
    """Markup parts one after the other."""
    return Markup("".join(escape(part) for part in parts))
