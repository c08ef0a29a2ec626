"""The runs a scheduler fired: claimed in the store, submitted, watched to their end,
retried after a backoff, and notified; shared by every scheduler of this machine.

Each change of a run's state is a conditional update of its row (state and attempt as
read), so when several schedulers watch the same runs, one of them retries a failed
attempt or posts the notification, never two.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.jobs.job_book import FINISHED, SUCCEEDED
from modelshelf.core.jobs.notify import post_notification
from modelshelf.core.jobs.schedule_book import CLAIMED, FAILED, RETRYING, RUNNING, RunRow
from modelshelf.core.jobs.schedule_store import ScheduleDefinition
from modelshelf.core.jobs.schedule_timing import Timing
from modelshelf.core.jobs.schedules import ScheduleManager
from modelshelf.core.processes import pid_alive
from modelshelf.core.store.expiring import HOST

log = logging.getLogger("modelshelf.core.jobs.scheduler")

#: (schedule, due time, final status) of a run that ended.
Finished = tuple[str, float, str]


class RunKeeper:
    """Claims, submits and watches the runs of one store's schedules on this machine."""

    def __init__(
        self,
        manager: ScheduleManager,
        definition_of: Callable[[str], ScheduleDefinition | None],
    ) -> None:
        self.manager = manager
        self._known = definition_of
        #: True while runs may be in progress (so the next pass looks at them).
        self.busy = True
        self._posts: list[threading.Thread] = []

    def claim_and_submit(
        self, definition: ScheduleDefinition, run: RunRow, made_by: dict | None = None
    ) -> str | None:
        """Claim the run in the store and submit it. ``made_by``: the record a process that
        died wrote, when taking its claim over (its claim, if it made one, is ours now)."""
        key = run.key.split("/", 1)[1]
        claimed = self.manager.store.claim(definition.name, key, run.record)
        if not claimed and (made_by is None or not self._claimed_by(definition.name, key, made_by)):
            self.manager.book.forget(run.key)  # another machine owns it
            return None
        if not self.manager.book.move(run, RUNNING):
            return None
        run.status = RUNNING
        return self._submit_attempt(definition, run)

    def _claimed_by(self, name: str, key: str, record: dict) -> bool:
        stored = self.manager.store.run(name, key)
        return stored is not None and all(
            stored.get(k) == record.get(k) for k in ("host", "pid", "claimed_at")
        )

    def _take_over(self, run: RunRow) -> None:
        """Finish the claim of a process that advanced a due time, then died before the
        job was submitted: without this, that run would be lost."""
        old = run.record
        if old.get("host") != HOST or pid_alive(int(old.get("pid") or 0)):
            return
        definition = self._definition(run)
        new = {**old, "pid": os.getpid(), "claimed_at": time.time(), "taken_over": True}
        if not self.manager.book.take_over(run, new):
            return  # another scheduler of this machine took it
        run.record = new
        log.warning("schedule %s: taking over the run due %s of a dead scheduler", run.schedule,
                    run.due)  # fmt: skip
        self.claim_and_submit(definition, run, made_by=old)

    def _submit_attempt(self, definition: ScheduleDefinition, run: RunRow) -> str | None:
        """Submit the run's current attempt; a submit that fails counts as a failed one."""
        self.busy = True
        try:
            job = self.manager.submit_run(definition, run)
        except Exception as exc:
            log.warning("schedule %s: cannot submit its run: %s", definition.name, exc)
            self._attempt_ended(definition, run, None, "failed", str(exc), None)
            return None
        attempts = [*run.record.get("attempts", []), {"job_id": job.id, "status": job.status}]
        run.record = {**run.record, "status": RUNNING, "attempts": attempts}
        run.job_id = job.id
        self.manager.book.db.execute(
            "UPDATE runs SET job_id = ?, record = ? WHERE key = ?",
            (job.id, _json(run.record), run.key),
        )
        self.manager.store.record_run(definition.name, run.key.split("/", 1)[1], run.record)
        return job.id

    # ---- runs in progress ----------------------------------------------------------------------

    def watch(self) -> list[Finished]:
        finished: list[Finished] = []
        active = self.manager.book.active()
        self.busy = bool(active)
        now = time.time()
        for run in active:
            if run.status == CLAIMED:
                self._take_over(run)
                continue
            definition = self._definition(run)
            if run.status == RETRYING and (run.retry_at or 0) <= now:
                if self.manager.book.move(run, RUNNING, attempt=run.attempt + 1, job_id=None):
                    run.status, run.attempt = RUNNING, run.attempt + 1
                    self._submit_attempt(definition, run)
                continue
            if run.status != RUNNING or not run.job_id:
                continue
            try:
                job = self.manager.jobs.get(run.job_id)
            except ModelNotFoundError:  # its record was pruned (or the state folder wiped)
                gone = f"the record of job {run.job_id} is gone from this machine's state"
                if self._attempt_ended(definition, run, run.job_id, "failed", gone, None):
                    finished.append((run.schedule, run.due, run.status))
                continue
            if job.status not in FINISHED:
                continue
            executed = _executed(job)
            if self._attempt_ended(definition, run, job.id, job.status, job.error, executed):
                finished.append((run.schedule, run.due, run.status))
        return finished

    def _definition(self, run: RunRow) -> ScheduleDefinition:
        """The definition of a run's schedule: as synced, else from the store (a run now of
        a schedule made since), else a stand-in (the schedule was deleted)."""
        known = self._known(run.schedule)
        if known is not None:
            return known
        try:
            return self.manager.store.get(run.schedule)
        except Exception:
            return _fallback(run)

    def _attempt_ended(
        self,
        definition: ScheduleDefinition,
        run: RunRow,
        job_id: str | None,
        status: str,
        error: str | None,
        executed: str | None,
    ) -> bool:
        """Record an attempt's end: retry it after the backoff, or end the run (and notify).
        False when another scheduler got there first."""
        attempts = list(run.record.get("attempts", []))
        if job_id is not None and attempts and attempts[-1].get("job_id") == job_id:
            attempts[-1] = {"job_id": job_id, "status": status, "error": error}
        else:
            attempts.append({"job_id": job_id, "status": status, "error": error})
        record = {**run.record, "attempts": attempts, "executed_notebook": executed}
        if status != SUCCEEDED and run.attempt < definition.max_retries:
            delay = definition.retry_backoff * (2**run.attempt)
            record["status"] = RETRYING
            if not self.manager.book.move(
                run, RETRYING, retry_at=time.time() + delay, record=record
            ):
                return False
            run.record, run.status = record, RETRYING
            self.busy = True
            self.manager.store.record_run(definition.name, run.key.split("/", 1)[1], record)
            return False
        final = SUCCEEDED if status == SUCCEEDED else FAILED
        record["status"] = final
        if final == FAILED:
            retries = f" after {run.attempt} retries" if run.attempt else ""
            record["error"] = f"failed{retries}: {error or status}"
        if not self.manager.book.move(run, final, record=record):
            return False
        run.record, run.status = record, final
        self.manager.store.record_run(definition.name, run.key.split("/", 1)[1], record)
        if definition.notify and (final == FAILED or definition.notify_on == "always"):
            self._notify(definition, run, job_id, record)
        return True

    def _notify(
        self, definition: ScheduleDefinition, run: RunRow, job_id: str | None, record: dict
    ) -> None:
        body = {
            "schedule": definition.name,
            "job_id": job_id,
            "status": record["status"],
            "error": record.get("error"),
            "executed_notebook": record.get("executed_notebook"),
            "due": run.due,
            "reason": run.reason,
            "attempts": len(record.get("attempts", [])),
        }
        url = definition.notify or ""
        post = threading.Thread(target=post_notification, args=(url, body), daemon=True)
        post.start()
        self._posts.append(post)

    def join_posts(self, timeout: float = 30.0) -> None:
        posts, self._posts = self._posts, []
        for post in posts:
            post.join(timeout)


def _executed(job: Any) -> str | None:
    try:
        return job.executed_notebook()
    except Exception:  # a job type with no notebook (a script, a pipeline)
        return None


def _fallback(run: RunRow) -> ScheduleDefinition:
    """A stand-in for a schedule deleted while its run was in progress: no retries, and
    no notification (its webhook went with it)."""
    return ScheduleDefinition(run.schedule, {}, Timing(every=60.0), since=run.due)


def _json(value: Any) -> str:
    return json.dumps(value)
