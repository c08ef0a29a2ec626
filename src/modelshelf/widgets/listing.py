"""A panel whose lower half lists core objects (jobs, deployments) with the selected one's
details, re-read on every refresh, and acts on the selection in a thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import ipywidgets as w

from modelshelf.core.facts import Listed, row_text
from modelshelf.widgets._common import Panel, error_text, message_html, set_options

Item = TypeVar("Item", bound=Listed)


@dataclass
class ListingState:
    """What one refresh read: the list's (label, key) options and the details shown."""

    options: list[tuple[str, str]]
    selected: str | None
    details: str


class ListingPanel(Panel, Generic[Item]):
    """Subclasses set ``listing`` (a Select), ``details`` and ``status`` (HTML) and ``noun``,
    and say how to read, key, label and describe their items."""

    noun = "item"
    listing: w.Select
    details: w.HTML
    status: w.HTML

    def _items(self) -> list[Item]:
        raise NotImplementedError

    def _key(self, item: Item) -> str:
        raise NotImplementedError

    def _label(self, item: Item) -> str:
        # The same cells as the listing's row in the CLI and the HTML tables.
        return row_text(item.row())

    def _details(self, item: Item) -> str:
        raise NotImplementedError

    def selected(self) -> str | None:
        """The key (job id, deployment name) of the selected item."""
        return self.listing.value

    def _read(self) -> ListingState:
        items = self._items()
        selected = self.listing.value
        current = next((item for item in items if self._key(item) == selected), None)
        details = self._details(current) if current is not None else ""
        return ListingState([(self._label(i), self._key(i)) for i in items], selected, details)

    def _show(self, state: ListingState) -> None:
        set_options(self.listing, state.options)
        # If the user picked another item meanwhile, the next refresh shows that one.
        self.details.value = state.details if self.listing.value == state.selected else ""

    def _refresh_failed(self, exc: BaseException) -> None:
        self.status.value = message_html(
            f"cannot read the {self.noun}s: {error_text(exc)}", "error"
        )

    def act_on_selected(
        self,
        verb: str,
        button: w.Button,
        busy: str,
        work: Callable[[str], Any],
        outcome: Callable[[Any], str],
    ) -> None:
        """``work(key)`` on the selected item in a thread; ``outcome(result)`` is then shown.

        ``busy`` is shown meanwhile, with ``{key}`` replaced by the selected key.
        """
        key = self.selected()
        if key is None:
            self.status.value = message_html(f"select a {self.noun} to {verb}", "error")
            return
        self.run_task(
            button,
            self.status,
            busy.format(key=key),
            lambda: work(key),
            lambda result: setattr(self.status, "value", message_html(outcome(result), "ok")),
            name=f"modelshelf-{verb}",
        )
