"""Helpers for the widget tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import html
import re
import threading
from typing import Any


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def text(widget: Any) -> str:
    """What an HTML widget reads as: its value without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))
