"""Helpers for the widget tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, poll: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(poll)


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def text(widget: Any) -> str:
    """What an HTML widget reads as: its value without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))
