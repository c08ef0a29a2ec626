"""A deployment's worker processes between a minimum and a maximum, on one listening socket.

uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``) runs a fixed number of
workers, adds and removes one on SIGTTIN/SIGTTOU, and stops a worker with SIGTERM, whose
shutdown closes its idle keep-alive connections under the clients' feet; a worker it adds
accepts connections before the app has loaded its model. This one, in the server's main
process (where serve.py's lease renewal also runs):

- starts ``min`` workers: the first takes connections at once (``/ping`` answers 503 while
  the model loads, 200 once loaded); the others start once it serves, and take connections
  only once their own model is loaded;
- samples the requests in flight on every worker from shared memory (worker_slots.py) ten
  times a second and lets the autoscaler (scaling.py) decide when to add or retire workers;
- retires a worker by asking it, through its slot, to drain (worker_process.py): no request
  is refused, cut off or answered twice;
- replaces a worker that died while it was needed, and logs every such event in the
  deployment's log; writes the census of its workers (worker_census.py) for the card.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

import uvicorn

from modelshelf.core.deploy.scaling import SAMPLE_EVERY, Autoscaler, ScalingPolicy
from modelshelf.core.deploy.worker_census import WorkerCensus, write_census
from modelshelf.core.deploy.worker_process import run_worker
from modelshelf.core.deploy.worker_slots import RETIRING, SERVING, WorkerSlots

log = logging.getLogger("modelshelf.serve")

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker whose app could not start
RESTART_DELAY = 1.0  # seconds before a worker that died is replaced; doubled while they fail
MAX_RESTART_DELAY = 30.0


@dataclass
class Worker:
    """A worker process and its slot."""

    slot: int
    process: BaseProcess
    eager: bool  # takes connections while its model loads (see WorkerSlot)


class Supervisor:
    """Runs the workers of ``config`` (a factory app) as ``policy`` says, until SIGTERM."""

    def __init__(self, config: uvicorn.Config, policy: ScalingPolicy, folder: str) -> None:
        self.config = config
        self.policy = policy
        self.folder = folder  # the deployment's: its census goes there
        # Twice the maximum: retiring workers keep their slots until they exit, while the
        # autoscaler may already start others.
        self.slots = WorkerSlots(2 * policy.workers.max)
        self.workers: dict[int, Worker] = {}
        self.stopping = threading.Event()
        self.failed = False  # no worker could start its app: nothing can serve
        self._context = multiprocessing.get_context("spawn")
        self._census = WorkerCensus()
        self._served = False  # a worker has served at some point
        self._next_restart = 0.0
        self._restart_delay = RESTART_DELAY

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit code for the server process."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        sock = self.config.bind_socket()
        self.sockets = [sock]
        autoscaler = Autoscaler(self.policy, time.monotonic())
        try:
            self._start(self.policy.workers.min, "the deployment's minimum")  # the first
            while not self.stopping.wait(SAMPLE_EVERY):
                now = time.monotonic()
                if self._reap(now, autoscaler):
                    break
                autoscaler.observe(now, *self.slots.sample())
                decision = autoscaler.decide(now, len(self._running()))
                if decision is not None:
                    self._scale(decision.workers, decision.why)
                self._keep_census()
        finally:
            self._stop_all()
            sock.close()
        return STARTUP_FAILURE if self.failed else 0

    # ---- workers coming and going ---------------------------------------------------------

    def _running(self) -> list[Worker]:
        """The workers counting toward the range: all but those retiring."""
        return [w for w in self.workers.values() if self.slots.state(w.slot) != RETIRING]

    def _scale(self, wanted: int, why: str) -> None:
        running = self._running()
        if wanted > len(running):
            started = self._start(wanted - len(running), "scaling up")
            if started:  # none while no worker serves yet, or every slot is still held
                log.info("scaling up from %d to %d workers: %s", len(running),
                         len(running) + started, why)  # fmt: skip
            return
        # Retire serving workers only, the least busy first, and never the last one serving.
        serving = sorted((w for w in running if self.slots.state(w.slot) == SERVING),
                         key=lambda w: self.slots.in_flight(w.slot))  # fmt: skip
        leaving = serving[: min(len(running) - wanted, len(serving) - 1)]
        if not leaving:
            return
        log.info("scaling down from %d to %d workers: %s", len(running),
                 len(running) - len(leaving), why)  # fmt: skip
        for worker in leaving:
            self.slots.retire(worker.slot)

    def _start(self, count: int, why: str) -> int:
        """Start up to ``count`` workers; how many were."""
        running = self._running()
        # The first worker takes connections while it loads, so /ping answers then. Every
        # other one waits for its model before it takes any, and starts only once a worker
        # serves: a first worker still loading beside one that serves would be handed
        # requests it cannot answer yet.
        eager = not running
        if eager:
            count = 1  # the others once it serves (see _reap)
        elif not any(self.slots.state(w.slot) == SERVING for w in running):
            return 0
        for started in range(count):
            index = self.slots.take()
            if index is None:  # every slot is held by a worker still retiring: next time
                return started
            process = self._context.Process(
                target=run_worker,
                args=(self.config, self.sockets, self.slots, index, eager),
                name=f"modelshelf worker {index}",
            )
            process.start()
            self.workers[index] = Worker(index, process, eager)
            log.info("worker [%d] starting (%s)", process.pid, why)
        return count

    def _reap(self, now: float, autoscaler: Autoscaler) -> bool:
        """Free the slots of exited workers and replace those still needed; True when the
        server cannot serve at all (its first worker's app failed to start)."""
        for worker in list(self.workers.values()):
            process = worker.process
            if process.is_alive():
                continue
            retired = self.slots.state(worker.slot) == RETIRING
            self.slots.free(worker.slot)
            del self.workers[worker.slot]
            if retired:
                log.info("worker [%d] stopped: it had answered everything it accepted",
                         process.pid)  # fmt: skip
                continue
            log.warning("worker [%d] exited with code %s", process.pid, process.exitcode)
            if process.exitcode == STARTUP_FAILURE and not self._served and not self.workers:
                # The app itself cannot start (uvicorn's supervisor stops then too): the
                # manager sees the server gone and shows the log's traceback.
                log.error("no worker could start the app; stopping the server")
                self.failed = True
                return True
            # Replaced after a delay that grows while replacements die too.
            self._next_restart = now + self._restart_delay
            self._restart_delay = min(2 * self._restart_delay, MAX_RESTART_DELAY)
            autoscaler.restart(now)  # judge the load again with the workers left
        missing = self.policy.workers.min - len(self._running())
        if missing > 0 and now >= self._next_restart:
            self._start(missing, "the deployment's minimum")
        return False

    def _keep_census(self) -> None:
        states = [self.slots.state(w.slot) for w in self.workers.values()]
        census = WorkerCensus(
            serving=states.count(SERVING),
            retiring=states.count(RETIRING),
            starting=len(states) - states.count(SERVING) - states.count(RETIRING),
            pids=sorted(w.process.pid for w in self.workers.values() if w.process.pid),
        )
        if census.serving and not self._served:
            self._served = True
        if census.serving > self._census.serving:
            self._restart_delay = RESTART_DELAY  # workers start again
        if census != self._census:
            if census.serving != self._census.serving:
                log.info("%d worker(s) serving%s", census.serving, census.note())
            self._census = census
            write_census(self.folder, census)

    def _stop_all(self) -> None:
        """SIGTERM every worker (uvicorn's graceful shutdown), SIGKILL the ones that linger."""
        for worker in self.workers.values():
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0) + 2
        for worker in self.workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self.workers.clear()
        write_census(self.folder, WorkerCensus())
