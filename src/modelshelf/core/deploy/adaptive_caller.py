"""How a model's predict is called from the event loop: inline while fast, else in a thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class AdaptiveCaller:
    """Call a model inline while it is fast, in the threadpool once it is not.

    A threadpool hop costs tens of microseconds, more than a small scikit-learn predict; a
    slow predict inline would stall every other request (``/ping`` included). So calls
    start in the threadpool and move inline once their moving average is under
    ``INLINE_BELOW``, and back out when it rises.
    """

    INLINE_BELOW = 0.002
    __slots__ = ("average", "inline")

    def __init__(self) -> None:
        self.average = self.INLINE_BELOW * 4
        self.inline = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.inline:
            started = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self._record(time.perf_counter() - started)
        return await run_in_threadpool(self._timed, fn, *args)

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        # Capped: one call preempted for 10 ms must not flip a fast model out of line; a
        # model that is slow every time still crosses the threshold within a few calls.
        seconds = min(seconds, 2 * self.INLINE_BELOW)
        self.average = 0.8 * self.average + 0.2 * seconds
        self.inline = self.average < self.INLINE_BELOW
