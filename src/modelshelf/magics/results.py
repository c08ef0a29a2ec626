"""What the magics return: the core object itself, or a thin wrapper where there is none.

Every result has two faces: ``__repr__`` is the text the CLI prints (what papermill logs and
terminals show) and ``_repr_html_`` a small table (what Jupyter shows). Versions, jobs and
deployments carry both themselves; listings come back as :class:`Listing` (a real list); the
CLI's small report types (a diff, an alias move, a gc report, a log) as :class:`CommandResult`,
which hands attribute access on to the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from modelshelf.cli.commands.results import JobLog, JobRun
from modelshelf.cli.views import render
from modelshelf.core import display
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.jobs import Job
from modelshelf.core.jsonable import VersionListing
from modelshelf.core.sizes import format_time as when
from modelshelf.core.store import AliasMove, ModelVersion

__all__ = ["CommandResult", "Listing", "VersionList", "present"]

T = TypeVar("T")

TextView = Callable[[list[Any]], str]
HtmlView = Callable[[list[Any], "int | None"], str]


class Listing(list[T]):
    """A list of core objects that shows as the CLI's table, or an HTML table in notebooks.

    ``max_rows`` (``%config ModelshelfMagics.max_rows``) limits what is shown, not what the
    list holds.
    """

    def __init__(
        self, items: Iterable[T], *, text: TextView, html: HtmlView, max_rows: int | None = None
    ) -> None:
        super().__init__(items)
        self._text = text
        self._html = html
        self.max_rows = max_rows

    def _shown(self) -> tuple[list[T], int]:
        if self.max_rows is None or self.max_rows <= 0 or len(self) <= self.max_rows:
            return list(self), 0
        return list(self[: self.max_rows]), len(self) - self.max_rows

    def __repr__(self) -> str:
        shown, more = self._shown()
        text = self._text(shown)
        if more:
            text += f"\n... and {more} more (%config ModelshelfMagics.max_rows = N shows more)"
        return text

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return self._html(list(self), self.max_rows)


class VersionList(Listing[Any]):
    """The versions of one model (oldest first) and the aliases pointing at them."""

    def __init__(self, listing: VersionListing, max_rows: int | None = None) -> None:
        self.name = listing.name
        self.aliases = dict(listing.aliases)
        super().__init__(
            listing.versions,
            text=lambda shown: render(VersionListing(self.name, shown, self.aliases), False),
            html=lambda items, limit: display.versions_html(items, self.aliases, limit),
            max_rows=max_rows,
        )


class CommandResult(Generic[T]):
    """A report of a command (``value``) shown as the CLI's text, attributes passed through."""

    def __init__(self, value: T, text: str, html: str | None = None) -> None:
        self.value = value
        self._text = text
        self._html = html

    def __repr__(self) -> str:
        return self._text

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return self._html if self._html is not None else display.text_html(self._text)

    def __getattr__(self, name: str) -> Any:
        # Only public names: IPython probes private ones (_repr_*_) to pick a formatter.
        if name.startswith("_") or name == "value":
            raise AttributeError(name)
        return getattr(self.value, name)


def _alias_history_html(moves: list[AliasMove], limit: int | None) -> str:
    rows = [
        (m.seq, "(removed)" if m.version is None else m.version, when(m.moved_at), m.moved_by)
        for m in moves
    ]
    shown = rows if not limit or limit <= 0 else rows[:limit]
    return display.table_html(("seq", "version", "moved", "by"), shown, more=len(rows) - len(shown))


def _listing(items: Sequence[Any], command: str, html: HtmlView, max_rows: int | None) -> Listing:
    return Listing(
        items, text=lambda shown: render(shown, False, command), html=html, max_rows=max_rows
    )


def present(result: Any, command: str, max_rows: int | None, as_json: bool = False) -> Any:
    """What a magic returns for a handler's ``result`` of CLI ``command``.

    With ``as_json`` (``--json``), plain data: the CLI's JSON, parsed.
    """
    if as_json:
        return json.loads(render(result, True, command))
    if isinstance(result, JobRun):
        return result.job  # `%job run`, `%job wait`, `%deploy batch`: the Job itself
    if command == "invoke":
        return result.answer
    if command == "job logs":
        assert isinstance(result, JobLog)
        # A followed log was printed line by line already; an Out[] would print it twice.
        return None if result.streamed else CommandResult(result, result.text)
    listings: dict[str, HtmlView] = {
        "ls": display.models_html,
        "jobs": display.jobs_html,
        "deployments": display.deployments_html,
    }
    if command in listings:
        return _listing(result, command, listings[command], max_rows)
    if isinstance(result, VersionListing):
        return VersionList(result, max_rows)
    if command == "alias" and isinstance(result, list):
        return _listing(result, command, _alias_history_html, max_rows)
    if isinstance(result, (ModelVersion, Job, Deployment, str)):
        return result  # it shows itself (a path as a plain string)
    return CommandResult(result, render(result, False, command))
