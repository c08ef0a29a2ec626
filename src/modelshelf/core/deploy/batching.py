"""Dynamic batching: concurrent requests to one model answered by one handler call.

TorchServe and Triton collect requests for up to ``max_batch_delay`` before every call, so a
lone request always waits. Here a request that arrives when nothing is queued or running is
called at once, alone; requests arriving while a call runs queue behind it, and when it
ends they go out together, up to ``batch_size`` at a time. Only such a batch, filling behind
a call, may wait: until it is full or its oldest request has waited ``max_batch_delay``.

Each request gets its own answer, in order; a request the handler could not take (a body
that does not decode) fails alone, with its own error, not its batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelshelf.core.deploy.adaptive_caller import AdaptiveCaller
from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.errors import DeploymentError, ServingError
from modelshelf.core.sizes import parse_duration

# What a batch call returns: one answer or one exception per request, in order.
Results = Sequence[Answer | BaseException]
BatchCall = Callable[[list[Invocation]], Results]
MAX_BATCH_SIZE = 4096
MAX_BATCH_DELAY = 10.0  # seconds: a longer wait is a mistake in the unit, not a choice


@dataclass(frozen=True)
class BatchSettings:
    """How many requests one call may take, and how long a filling batch may wait."""

    batch_size: int = 1
    max_batch_delay: float = 0.01

    @classmethod
    def of(cls, batch_size: Any = 1, max_batch_delay: Any = "10ms") -> BatchSettings:
        """Checked settings from what a user gave (``max_batch_delay`` as ``"10ms"``)."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= MAX_BATCH_SIZE
        ):
            raise DeploymentError(
                f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}, not {batch_size!r}"
            )
        try:
            delay = parse_duration(max_batch_delay)
        except Exception as exc:
            raise DeploymentError(f"max_batch_delay: {exc}") from None
        if delay > MAX_BATCH_DELAY:
            raise DeploymentError(
                f"max_batch_delay of {delay:g} s is longer than {MAX_BATCH_DELAY:g} s: write "
                "it with its unit, e.g. 10ms"
            )
        return cls(batch_size, delay)

    @property
    def batching(self) -> bool:
        return self.batch_size > 1


class Batcher:
    """One model's queue of requests and the calls that answer them."""

    def __init__(
        self,
        call: BatchCall,
        settings: BatchSettings,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._call = call
        self._on_batch = on_batch  # told each call's size (the deployment's statistics)
        self.batch_size = settings.batch_size
        self.max_delay = settings.max_batch_delay
        self._caller = AdaptiveCaller()
        self._queue: deque[tuple[Invocation, asyncio.Future[Answer], float]] = deque()
        self._busy = False
        self._full: asyncio.Event | None = None

    async def submit(self, invocation: Invocation) -> Answer:
        """The answer to ``invocation``; its exception if its own request failed."""
        if not self._busy:
            # Nothing queued or running: this request is called at once, alone, from its own
            # coroutine (no task, no future: a lone request pays nothing for batching).
            self._busy = True
            try:
                (result,) = await self._run([invocation])
            finally:
                self._after_call()
            if isinstance(result, BaseException):
                raise result
            return result
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._queue.append((invocation, future, loop.time()))
        if self._full is not None and len(self._queue) >= self.batch_size:
            self._full.set()
        return await future

    def _after_call(self) -> None:
        """A call ended: hand what queued behind it to a drain task, or go idle."""
        if self._queue:
            asyncio.get_running_loop().create_task(self._drain())
        else:
            self._busy = False

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                wait = self._queue[0][2] + self.max_delay - loop.time()
                if len(self._queue) < self.batch_size and wait > 0:
                    await self._fill(wait)
                taken = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self.batch_size))
                ]
                live = [(inv, fut) for inv, fut, _ in taken if not fut.done()]  # not hung up
                if not live:
                    continue
                results = await self._run([inv for inv, _ in live])
                for (_, future), result in zip(live, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._busy = False
            self._full = None

    async def _fill(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for the queue to hold a whole batch."""
        self._full = asyncio.Event()
        try:
            await asyncio.wait_for(self._full.wait(), wait)
        except asyncio.TimeoutError:
            pass
        finally:
            self._full = None

    async def _run(self, invocations: list[Invocation]) -> Results:
        """One call for ``invocations``: one result each (a failed call fails them all)."""
        if self._on_batch is not None:
            self._on_batch(len(invocations))
        try:
            results = await self._caller.run(self._call, invocations)
        except Exception as exc:
            return [exc] * len(invocations)
        if len(results) != len(invocations):  # the handler's own call broke its contract
            problem = ServingError(
                f"the model answered {len(results)} results for a batch of {len(invocations)}"
            )
            return [problem] * len(invocations)
        return results
