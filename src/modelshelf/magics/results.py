"""What the magics return: the core object itself, or a thin wrapper where there is none.

Every result has two faces, both the CLI's: IPython's plain-text display (``_repr_pretty_``,
what papermill's executed notebooks and terminals keep) is the text the CLI prints, and
``_repr_html_`` the same facts as HTML (what JupyterLab shows). Versions, jobs and deployments
carry both themselves (:class:`modelshelf.core.facts.Shown`); listings come back as
:class:`Listing` (a real list); the CLI's small reports (an alias move, a gc report, a log) as
:class:`CommandResult`, which hands attribute access on to the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from modelshelf.cli.commands.results import JobLog, JobRun
from modelshelf.cli.views import render
from modelshelf.cli.views.deploy import deployments_table
from modelshelf.cli.views.jobs import jobs_table
from modelshelf.cli.views.models import alias_history_table, models_table
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.facts import Shown, Table
from modelshelf.core.html import pre_html
from modelshelf.core.jobs import Job
from modelshelf.core.store import ModelVersion, VersionListing

__all__ = ["CommandResult", "Listing", "VersionList", "present"]

T = TypeVar("T")


class Listing(list[T]):
    """A list of core objects that shows as the CLI's table, or an HTML table in notebooks.

    ``max_rows`` (``%config ModelshelfMagics.max_rows``) limits what is shown, not what the
    list holds.
    """

    def __init__(
        self,
        items: Iterable[T],
        table: Callable[[list[T]], Table],
        max_rows: int | None = None,
    ) -> None:
        super().__init__(items)
        self._table = table
        self.max_rows = max_rows

    def __repr__(self) -> str:
        shown, more = self._table(list(self)).limited(self.max_rows)
        text = shown.text()
        if more:
            text += f"\n... and {more} more (%config ModelshelfMagics.max_rows = N shows more)"
        return text

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return self._table(list(self)).html(self.max_rows)


class CommandResult(Generic[T]):
    """A report of a command (``value``) shown as the CLI's text, attributes passed through."""

    def __init__(self, value: T, text: str) -> None:
        self.value = value
        self._text = text

    def __repr__(self) -> str:
        return self._text

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self._text)

    def _repr_html_(self) -> str:
        if isinstance(self.value, Shown):
            return self.value.card().html()
        return pre_html(self._text)

    def __getattr__(self, name: str) -> Any:
        # Only public names: IPython probes private ones (_repr_*_) to pick a formatter.
        if name.startswith("_") or name == "value":
            raise AttributeError(name)
        return getattr(self.value, name)


class VersionList(Listing[ModelVersion]):
    """The versions of one model (oldest first) and the aliases pointing at them."""

    def __init__(self, listing: VersionListing, max_rows: int | None = None) -> None:
        self.name = listing.name
        self.aliases = dict(listing.aliases)
        super().__init__(listing.versions, self._versions_table, max_rows)

    def _versions_table(self, versions: list[ModelVersion]) -> Table:
        return VersionListing(self.name, versions, self.aliases).table()


_LISTINGS: dict[str, Callable[[list[Any]], Table]] = {
    "ls": models_table,
    "jobs": jobs_table,
    "deployments": deployments_table,
}


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
    if command in _LISTINGS:
        return Listing(result, _LISTINGS[command], max_rows)
    if isinstance(result, VersionListing):
        return VersionList(result, max_rows)
    if command == "alias" and isinstance(result, list):
        return Listing(result, alias_history_table, max_rows)
    if isinstance(result, (ModelVersion, Job, Deployment, str)):
        return result  # it shows itself (a path as a plain string)
    return CommandResult(result, render(result, False, command))
