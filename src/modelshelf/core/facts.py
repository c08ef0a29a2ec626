"""The facts a core object states once, and their two renderings: plain text and HTML.

A version, job or deployment says *what* it shows, once: :meth:`Shown.card` gives a
:class:`Card` (labelled fields and tables), and a listed type gives ``ROW_HEADERS`` and
``row()`` for a :class:`Table`. The CLI prints ``card.text()``; Jupyter shows
``card.html()`` (``_repr_html_``) and IPython's plain-text display (terminals, papermill's
executed notebooks) ``card.text()`` (``_repr_pretty_``); the widgets embed the HTML. So the
faces format, and never decide, what a fact looks like.

A cell may be text or a number, a mapping (params, metrics: ``key=value``), a :class:`Link`
or a :class:`Block` (a traceback); None, empty text and empty mappings are left out of a card:
it shows what was recorded, not a form to fill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from modelshelf.core.html import (
    Markup,
    details_html,
    fields_html,
    join_html,
    lines_html,
    link_html,
    pre_html,
    table_html,
)

__all__ = [
    "Block",
    "Card",
    "Link",
    "Listed",
    "Shown",
    "Table",
    "first_line",
    "flat",
    "mapping_text",
    "plural",
    "row_text",
    "value_text",
]

FIRST_LINE_WIDTH = 80


class Link(str):
    """A URL: a link in HTML, the URL itself in text."""


class Block(str):
    """Multi-line text kept as it is (a traceback): a ``<pre>`` in HTML, indented in text."""


# ---- values -------------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A value as typed: None as ``-``, strings bare, everything else as JSON."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def mapping_text(values: Mapping[str, Any]) -> str:
    """``key=value, key=value`` with :func:`value_text` values."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in values.items())


def first_line(text: str | None, width: int = FIRST_LINE_WIDTH) -> str:
    """The first line of ``text``, cut to ``width`` characters (``...`` marks the cut)."""
    lines = (text or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= width else first[: width - 3] + "..."


def flat(text: str) -> str:
    """Every non-blank line of ``text`` joined into one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def plural(count: int, word: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _cell_text(cell: Any) -> str:
    if isinstance(cell, Mapping):
        return mapping_text(cell)
    return value_text(cell)


def _cell_html(cell: Any) -> str:
    if isinstance(cell, Mapping):
        return lines_html([f"{k} = {value_text(v)}" for k, v in cell.items()])
    if isinstance(cell, Link) and cell.startswith(("http://", "https://")):
        return link_html(cell)
    if isinstance(cell, Block):
        return pre_html(cell)
    return value_text(cell)


def row_text(row: Sequence[Any]) -> str:
    """A listing's row on one line (a selection list's label)."""
    return "  ".join(_cell_text(cell) for cell in row)


def _shown(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, Mapping) and not value)


# ---- tables and cards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Rows under headers; ``empty`` is what the text says when there are no rows.

    ``collapsed`` tables (a version's files) fold under their caption in HTML. The text
    puts headers in upper case, as command-line tables do, unless ``upper`` is False (when
    the headers are names, such as the two refs of a diff).
    """

    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str | None = None
    empty: str = ""
    collapsed: bool = False
    upper: bool = True

    @classmethod
    def of(cls, items: Sequence[Listed], empty: str = "", **extra: Any) -> Table:
        """The table of ``items``, all of one listed type (ROW_HEADERS and row())."""
        headers = type(items[0]).ROW_HEADERS if items else ()
        return cls(tuple(headers), tuple(item.row() for item in items), empty=empty, **extra)

    def limited(self, max_rows: int | None) -> tuple[Table, int]:
        """The first ``max_rows`` rows (all when None or < 1), and how many were left out."""
        if max_rows is None or max_rows <= 0 or len(self.rows) <= max_rows:
            return self, 0
        return replace(self, rows=self.rows[:max_rows]), len(self.rows) - max_rows

    def text(self) -> str:
        """Left-aligned columns two spaces apart under upper-case headers."""
        if not self.rows:
            return self.empty
        cells = [[h.upper() if self.upper else h for h in self.headers]]
        cells += [[_cell_text(c) for c in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]
        if self.caption:
            lines.insert(0, f"{self.caption}:")
        return "\n".join(lines)

    def html(self, max_rows: int | None = None) -> Markup:
        """The table in HTML, at most ``max_rows`` rows and a count of the rest."""
        if not self.rows:
            return pre_html(self.empty) if self.empty else Markup("")
        shown, more = self.limited(max_rows)
        rows = [[_cell_html(c) for c in row] for row in shown.rows]
        if self.collapsed:
            return details_html(self.caption or "", table_html(self.headers, rows, more=more))
        return table_html(self.headers, rows, caption=self.caption, more=more)


@dataclass(frozen=True)
class Card:
    """One object's facts: labelled fields, then tables."""

    fields: tuple[tuple[str, Any], ...]
    tables: tuple[Table, ...] = ()

    @classmethod
    def of(cls, fields: Sequence[tuple[str, Any]], tables: Sequence[Table] = ()) -> Card:
        """A card of the fields that hold something, and the tables that have rows."""
        return cls(
            tuple((label, value) for label, value in fields if _shown(value)),
            tuple(table for table in tables if table.rows),
        )

    def value(self, label: str) -> Any:
        """The value shown under ``label`` (None when the card leaves it out)."""
        return next((value for name, value in self.fields if name == label), None)

    def text(self) -> str:
        """``label: value`` lines aligned on the values, then each table after a blank line."""
        parts = []
        if self.fields:
            width = max(len(label) for label, _ in self.fields) + 2
            lines = []
            for label, value in self.fields:
                if isinstance(value, Block):
                    lines.append(f"{label}:")
                    lines += [f"  {line}" for line in value.rstrip().splitlines()]
                else:
                    lines.append(f"{label + ':':<{width}}{_cell_text(value)}")
            parts.append("\n".join(lines))
        parts += [table.text() for table in self.tables]
        return "\n\n".join(parts)

    def html(self) -> Markup:
        """The fields as a two-column table, then the tables."""
        head = fields_html([(label, _cell_html(value)) for label, value in self.fields])
        return join_html([head, *(table.html() for table in self.tables)])


class Listed:
    """A type shown as one row of a listing (:meth:`Table.of`)."""

    ROW_HEADERS: ClassVar[tuple[str, ...]] = ()

    def row(self) -> tuple[Any, ...]:
        raise NotImplementedError


class Shown:
    """A type that shows its :meth:`card` in Jupyter (HTML) and IPython's text display."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # IPython's pretty printer walks the MRO and takes the first class that defines
        # either _repr_pretty_ or __repr__: a subclass's short __repr__ would win over the
        # inherited _repr_pretty_, so every subclass gets it in its own namespace.
        cls._repr_pretty_ = Shown._repr_pretty_  # type: ignore[method-assign]

    def card(self) -> Card:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.card().html()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython's plain-text display: what terminals and papermill's executed notebooks
        # keep. The short __repr__ stays for logs and debuggers.
        printer.text(self.card().text())
