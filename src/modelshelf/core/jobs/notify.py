"""Webhook notifications of scheduled runs: one JSON POST per finished run.

The standard library's urllib is enough for one small POST, and a failing webhook must never
stop the scheduler: it is logged, tried a few times, and given up.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from modelshelf.core.errors import ScheduleError

log = logging.getLogger(__name__)


def check_webhook(url: str | None) -> str | None:
    """``url`` if it can be posted to (http or https), else a :class:`ScheduleError`."""
    if url is None or url == "":
        return None
    if not url.startswith(("http://", "https://")):
        raise ScheduleError(f"--notify needs an http:// or https:// URL, not {url!r}")
    return url


def post_notification(
    url: str, body: dict[str, Any], *, timeout: float = 10.0, attempts: int = 3
) -> bool:
    """POST ``body`` as JSON to ``url``; True when the hook answered 2xx."""
    data = json.dumps(body).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "modelshelf-scheduler"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                if 200 <= answer.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("notification to %s failed (attempt %d): %s", url, attempt + 1, exc)
        time.sleep(0.5 * (attempt + 1))
    return False
