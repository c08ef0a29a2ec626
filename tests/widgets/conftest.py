"""Widgets without a kernel: a dummy comm, as ipywidgets' own tests set up (setup_test_comm).

Every widget opens a comm when created; here it opens a :class:`DummyComm` that records the
messages a browser would receive, so tests can also check that state reached the front end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import comm
import pytest
from ipywidgets import Widget

from modelshelf import Shelf


class DummyComm:
    """Stands for a kernel comm: opens nowhere, keeps what is sent (from any thread)."""

    comm_id = "a-b-c-d"
    kernel = "Truthy"  # widgets only send when their comm has a kernel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.messages: list[tuple[tuple, dict]] = []
        self.closed = False

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, *args: Any, **kwargs: Any) -> None:
        self.messages.append((args, kwargs))

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def dummy_comm(monkeypatch) -> Iterator[None]:
    """Route every widget's comm to :class:`DummyComm` (ipywidgets 8 creates comms through
    the ``comm`` package's ``create_comm``)."""
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: DummyComm(*a, **k))
    monkeypatch.setattr(comm, "get_comm_manager", lambda *a, **k: {})

    def no_display(*args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("widgets are not displayed in these tests")

    monkeypatch.setattr(Widget, "_repr_mimebundle_", no_display)
    yield


@pytest.fixture
def shelf(tmp_path) -> Iterator[Shelf]:
    with Shelf(tmp_path / "store") as store:
        yield store
