"""``%shelf``: the widget panels on the magics' own store, or what to install for them."""

from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError
from magic_helpers import magics_of


def test_shelf_without_the_widgets_says_what_to_install(ip, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "modelshelf.widgets", None)
    with pytest.raises(UsageError, match="pip install ipywidgets"):
        ip.run_line_magic("shelf", "")
    with pytest.raises(UsageError, match="takes no arguments"):
        ip.run_line_magic("shelf", "models")


def test_shelf_shows_the_panels_on_the_magics_store(ip, folder) -> None:
    ip.run_line_magic("model", f"save churn --from {folder}")
    panels = ip.run_line_magic("shelf", "")
    try:
        assert panels.browser.shelf is magics_of(ip).shelf
    finally:
        panels.close()
    # The store stays open for the magics: the panels closed only what they opened.
    assert ip.run_line_magic("model", "show churn").ref == "churn:1"
