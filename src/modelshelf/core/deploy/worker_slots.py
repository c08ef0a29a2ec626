"""What a deployment's supervisor and its worker processes tell each other, in shared memory.

Each worker has a slot of three numbers: its state (starting, serving, retiring), its
requests in flight, and the most it had in flight at once since the supervisor last looked
(so that a request between two samples still counts at its peak). Reading them costs the
supervisor no system call and no message, ten times a second (the autoscaler's samples);
counting costs a request a few integer updates. The worker process finds its own slot with
:func:`this_worker`.
"""

from __future__ import annotations

from collections.abc import Callable
from multiprocessing.sharedctypes import RawArray
from typing import Any

FREE, STARTING, SERVING, RETIRING = 0, 1, 2, 3
_STATE, _IN_FLIGHT, _PEAK, _FIELDS = 0, 1, 2, 3


class WorkerSlots:
    """``count`` slots in shared memory, made by the supervisor and handed to each worker it
    spawns (a spawned process receives the same memory, not a copy)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.array: Any = RawArray("q", count * _FIELDS)

    def take(self) -> int | None:
        """A free slot, marked starting; None when all are in use."""
        for index in range(self.count):
            if self.array[index * _FIELDS + _STATE] == FREE:
                self.array[index * _FIELDS + _STATE] = STARTING
                self.array[index * _FIELDS + _IN_FLIGHT] = 0
                self.array[index * _FIELDS + _PEAK] = 0
                return index
        return None

    def free(self, index: int) -> None:
        """The slot of a worker that has exited (what it had in flight went with it)."""
        self.array[index * _FIELDS + _IN_FLIGHT] = 0
        self.array[index * _FIELDS + _PEAK] = 0
        self.array[index * _FIELDS + _STATE] = FREE

    def state(self, index: int) -> int:
        return self.array[index * _FIELDS + _STATE]

    def retire(self, index: int) -> None:
        """Ask the worker to stop taking connections, finish what it has, and exit."""
        self.array[index * _FIELDS + _STATE] = RETIRING

    def in_flight(self, index: int) -> int:
        return self.array[index * _FIELDS + _IN_FLIGHT]

    def sample(self) -> tuple[int, int]:
        """The requests in flight on all the workers now, and the most any one worker had in
        flight at once since the last sample (what a sample between two bursts misses)."""
        array = self.array
        now = peak = 0
        for offset in range(0, self.count * _FIELDS, _FIELDS):
            current = array[offset + _IN_FLIGHT]
            now += current
            peak = max(peak, current, array[offset + _PEAK])
            array[offset + _PEAK] = current  # the next sample's peak starts from here
        return now, peak


class WorkerSlot:
    """One worker's own slot, as the worker process sees it.

    ``eager`` says whether the worker takes connections while its model loads (the first
    worker of a server, so that ``/ping`` answers during the load) or only once it is loaded
    (a worker added beside others already serving: it must never hold a request it cannot
    answer).
    """

    def __init__(self, slots: WorkerSlots, index: int, eager: bool) -> None:
        self.array = slots.array
        self.count = slots.count
        self.index = index
        self.eager = eager
        self._state = index * _FIELDS + _STATE
        self._in_flight = index * _FIELDS + _IN_FLIGHT
        self._peak = index * _FIELDS + _PEAK
        # The app's answer to "is the model loaded?" (serve.py sets it): until then a
        # listening worker still counts as starting.
        self.app_ready: Callable[[], bool] = lambda: True

    @property
    def retiring(self) -> bool:
        return self.array[self._state] == RETIRING

    def mark_serving(self) -> None:
        if self.array[self._state] == STARTING:
            self.array[self._state] = SERVING

    def enter(self) -> None:
        array = self.array
        count = array[self._in_flight] + 1
        array[self._in_flight] = count
        if count > array[self._peak]:
            array[self._peak] = count

    def leave(self) -> None:
        self.array[self._in_flight] -= 1

    def should_close(self) -> bool:
        """Whether the answer being sent should end its connection (``Connection: close``).

        A retiring worker ends each connection after its next answer, so no request is cut
        off. A worker with two requests more in flight than another serving worker ends
        some too: keep-alive connections stay with the worker that accepted them, so the
        clients connected before a new worker started would otherwise never reach it; a
        client whose connection ends connects again, and whichever worker is free accepts.
        """
        array = self.array
        if array[self._state] == RETIRING:
            return True
        mine = array[self._in_flight]
        if mine < 2:
            return False
        for other in range(self.count):
            offset = other * _FIELDS
            if (
                other != self.index
                and array[offset + _STATE] == SERVING
                and array[offset + _IN_FLIGHT] <= mine - 2
            ):
                return True
        return False


_this_worker: WorkerSlot | None = None


def this_worker() -> WorkerSlot | None:
    """This process's slot, when it is one of a supervisor's workers (else None)."""
    return _this_worker


def become_worker(slot: WorkerSlot) -> None:
    """Called first thing in a worker process (worker_process.py)."""
    global _this_worker
    _this_worker = slot


class GaugedApp:
    """An ASGI app counted in its worker's slot: HTTP requests in flight, and the answers
    that should end their connection (see :meth:`WorkerSlot.should_close`)."""

    def __init__(self, app: Any, slot: WorkerSlot) -> None:
        self.app = app
        self.slot = slot

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        slot = self.slot

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and slot.should_close():
                # uvicorn ends the connection after an answer carrying this header.
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        slot.enter()
        try:
            await self.app(scope, receive, answer)
        finally:
            slot.leave()
