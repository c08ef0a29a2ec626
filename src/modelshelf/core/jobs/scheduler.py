"""The scheduler: fires each due run of every schedule exactly once, watches the runs,
retries failed ones and sends their notifications.

Any number of schedulers may run over one store, in the Jupyter server, as
``modelshelf scheduler`` daemons, on one machine or several:

- the next due time of each schedule is stored (local SQLite), never recomputed from "now",
  so a scheduler that was down sees what it missed and applies the schedule's policy;
- on one machine, the processes advance a due time with a compare-and-set in SQLite, so one
  of them goes on to the claim;
- across machines, the claim is the run's record in the store, made with create-if-absent:
  one machine creates it and submits the job; the others find it and move on.

Idle, a scheduler sleeps until the earliest due time (or a short cap), reads one small
change marker every few seconds and re-reads the definitions only when it changed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from traitlets import Float
from traitlets.config import Configurable

from modelshelf.core.jobs.schedule_book import (
    CLAIMED,
    FAILED,
    RunRow,
)
from modelshelf.core.jobs.schedule_runs import RunKeeper
from modelshelf.core.jobs.schedule_store import ScheduleDefinition, due_key
from modelshelf.core.jobs.schedules import ScheduleManager, run_record
from modelshelf.core.store.expiring import HOST

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one pass did: runs fired (schedule, due, reason, job id) and due times skipped."""

    fired: list[tuple[str, float, str, str | None]] = field(default_factory=list)
    skipped: list[tuple[str, float]] = field(default_factory=list)
    finished: list[tuple[str, float, str]] = field(default_factory=list)

    def extend(self, other: TickReport) -> None:
        self.fired += other.fired
        self.skipped += other.skipped
        self.finished += other.finished


class Scheduler(Configurable):
    """Fires the schedules of one store (see the module docstring)."""

    check_interval = Float(
        5.0, help="Seconds between reads of the store's change marker (definitions)."
    ).tag(config=True)
    full_refresh = Float(
        300.0, help="Seconds after which the definitions are re-read even if unchanged."
    ).tag(config=True)
    max_sleep = Float(1.0, help="Longest sleep between two passes (seconds).").tag(config=True)
    misfire_grace = Float(
        10.0,
        help="A run fired this late (seconds) is still on time; later, it was missed and the "
        "schedule's missed-run policy decides (never more than half a rate's period).",
    ).tag(config=True)

    watch_interval = Float(
        2.0,
        help="Seconds between looks for runs started elsewhere (a run now from another "
        "process) while none of this scheduler's own runs is in progress.",
    ).tag(config=True)

    def __init__(self, manager: ScheduleManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manager = manager
        self._defs: dict[str, ScheduleDefinition] = {}
        self._due: dict[str, float] = {}
        self._token: bytes | None = None
        self._checked_at = float("-inf")
        self._synced_at = float("-inf")
        self._watched_at = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = RunKeeper(manager, self._defs_get)

    # ---- the loop ----------------------------------------------------------------------------

    def run_once(self) -> TickReport:
        """Read the definitions, fire what is due, look at runs in progress; then return
        (``modelshelf scheduler --once``, for a system cron or a test)."""
        self.refresh(force=True)
        report = self.tick()
        self.runs.join_posts()
        return report

    def run(self, stop: threading.Event | None = None) -> None:
        """Fire runs until ``stop`` (or :meth:`stop`) is set."""
        stop = stop or self._stop
        while not stop.is_set():
            try:
                self.refresh()
                self.tick()
            except Exception:  # a store hiccup must not end the daemon
                log.exception("scheduler pass failed; trying again")
                stop.wait(self.max_sleep)
                continue
            stop.wait(self._sleep_time())
        self.runs.join_posts()

    def start(self) -> None:
        """Run in a background thread (the Jupyter server's scheduler)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="modelshelf-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _sleep_time(self) -> float:
        """Until the earliest due time, the next look at the change marker, or max_sleep."""
        sleep = self.max_sleep
        if self._due:
            sleep = min(sleep, min(self._due.values()) - time.time())
        # The marker's schedule counts in monotonic time, due times in wall-clock time.
        sleep = min(sleep, self._checked_at + self.check_interval - time.monotonic())
        return max(0.005, sleep)

    # ---- definitions ---------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Re-read the definitions when the store's change marker moved (or ``force``)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.check_interval:
            return
        self._checked_at = now
        token = self.manager.store.change_token()
        if force or token != self._token or now - self._synced_at > self.full_refresh:
            self._sync()
            self._token, self._synced_at = token, now

    def _sync(self) -> None:
        store_defs = self.manager.store.all()
        self.manager.book.sync(store_defs, self.manager.first_due)
        self._load()

    def _defs_get(self, name: str) -> ScheduleDefinition | None:
        return self._defs.get(name)

    def _load(self) -> None:
        cached = self.manager.book.cached()
        self._defs = {name: c.definition for name, c in cached.items()}
        self._due = {
            name: c.next_due
            for name, c in cached.items()
            if not c.definition.paused and c.next_due is not None
        }

    # ---- a pass --------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Fire every schedule whose next due time has come, then look at runs in progress."""
        report = TickReport()
        now = time.time()
        for name in [n for n, due in self._due.items() if due <= now]:
            report.extend(self._fire(name))
        stale = time.monotonic() - self._watched_at > self.watch_interval
        if self.runs.busy or report.fired or stale:
            report.finished += self.runs.watch()
            self._watched_at = time.monotonic()
        return report

    def _fire(self, name: str) -> TickReport:
        report = TickReport()
        cached = self.manager.book.cached_one(name)
        if cached is None or cached.next_due is None:
            self._due.pop(name, None)
            return report
        old_due = cached.next_due
        if old_due > time.time():  # another process advanced it already
            self._due[name] = old_due
            return report
        # The store has the last word on whether it is paused (another machine may say so).
        try:
            current = self.manager.store.get(name)
        except Exception:
            current = None
        if current is None or current.uid != cached.definition.uid or current.paused:
            self._sync()
            return report
        definition = current
        now = time.time()
        timing = definition.timing
        dues = list(timing.due_between(old_due, now)) or [old_due]
        grace = min(self.misfire_grace, timing.period_hint() / 2)
        on_time = [d for d in dues if now - d <= grace]
        missed = [d for d in dues if now - d > grace]
        wanted = [(d, "on time") for d in on_time]
        if definition.missed == "once" and missed:
            wanted.insert(0, (missed[-1], "catch-up"))
        elif definition.missed == "all":
            wanted[:0] = [(d, "catch-up") for d in missed if now - d <= definition.max_staleness]
        chosen = {d for d, _ in wanted}
        new_due = timing.next_after(now)
        runs = [
            RunRow(
                f"{name}/{due_key(d)}",
                name,
                d,
                reason,
                CLAIMED,
                0,
                None,
                None,
                None,
                run_record(definition, d, reason, HOST),
            )
            for d, reason in wanted
        ]
        if not self.manager.book.advance(name, old_due, new_due, runs):
            refreshed = self.manager.book.cached_one(name)
            if refreshed is not None and refreshed.next_due is not None:
                self._due[name] = refreshed.next_due
            return report
        self._due[name] = new_due
        for d in missed:
            if d not in chosen:
                log.warning("schedule %s: the run due %s was missed; skipped", name, d)
                report.skipped.append((name, d))
        for run in runs:
            job_id = self.runs.claim_and_submit(definition, run)
            if job_id is not None or run.status == FAILED:
                report.fired.append((name, run.due, run.reason, job_id))
        self.manager.store.set_next_hint(name, new_due)
        return report
