"""One worker process of a deployment's supervisor (supervisor.py): a uvicorn server on the
supervisor's listening socket that reports to its slot, and retires without cutting anyone off.

uvicorn's own shutdown closes every idle keep-alive connection at once: a client that sends
its next request on such a connection just then has it fail ("server disconnected"), which
an autoscaler stopping workers under load would make happen all the time. A retiring worker
here instead closes only its listening socket (the other workers go on accepting from the
same queue of connections), answers the next request of each open connection with
``Connection: close`` (worker_slots.GaugedApp), and exits once they are all gone, or when
uvicorn's keep-alive timeout has closed the idle ones as it always does, or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import uvicorn

from modelshelf.core.deploy.worker_slots import WorkerSlot, WorkerSlots, become_worker

log = logging.getLogger("modelshelf.serve")


class WorkerServer(uvicorn.Server):
    """A uvicorn server that tells its slot when it serves, and drains when it retires."""

    def __init__(self, config: uvicorn.Config, slot: WorkerSlot) -> None:
        super().__init__(config)
        self.slot = slot
        self._retiring = False

    async def on_tick(self, counter: int) -> bool:
        slot = self.slot
        if slot.retiring:
            self._retiring = True
            return True  # leave the main loop: shutdown() drains first
        if slot.app_ready():
            slot.mark_serving()  # once listening and loaded; a no-op after the first time
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._retiring and not self.should_exit:
            await self._drain()
        await super().shutdown(sockets=sockets)

    async def _drain(self) -> None:
        for server in self.servers:
            server.close()  # this process's copy of the socket: the others still accept
        open_now = len(self.server_state.connections)
        log.info("worker [%d] retiring: %d open connection(s) end after their next answer",
                 os.getpid(), open_now)  # fmt: skip
        loop = asyncio.get_running_loop()
        config = self.config
        deadline = loop.time() + config.timeout_keep_alive + config.timeout_graceful_shutdown
        while self.server_state.connections and not self.should_exit and loop.time() < deadline:
            await asyncio.sleep(0.05)


def run_worker(
    config: uvicorn.Config,
    sockets: list[socket.socket],
    slots: WorkerSlots,
    index: int,
    eager: bool,
) -> None:
    """The worker process's entry (spawned by the supervisor): serve in slot ``index``."""
    config.configure_logging()
    slot = WorkerSlot(slots, index, eager)
    become_worker(slot)  # before the app is built: serve.build_app reads it
    # Interrupted with the terminal's session: the supervisor stops too; nothing to report.
    with contextlib.suppress(KeyboardInterrupt):
        WorkerServer(config, slot).run(sockets=sockets)
