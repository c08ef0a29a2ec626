"""Schedules: job templates on a timetable. Create, list, show, pause, resume, update,
delete and run now; the :class:`~modelshelf.core.jobs.scheduler.Scheduler` fires them.

A schedule's template is what :meth:`JobManager.submit` takes, kept as its keyword
arguments, so anything a job can run (a notebook, a script, a pipeline) can be scheduled.
Every run is an ordinary job linked to its schedule (``job.spec.schedule``), whose
environment names its schedule (``ML_SCHEDULE_NAME``), due time (``ML_SCHEDULED_TIME``) and
attempt (``ML_SCHEDULE_ATTEMPT``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from traitlets.config import Configurable

from modelshelf.core.errors import PipelineError, ScheduleError
from modelshelf.core.jobs.job import Job
from modelshelf.core.jobs.manager import JobManager
from modelshelf.core.jobs.notify import check_webhook
from modelshelf.core.jobs.parameters import check_parameters, notebook_parameters
from modelshelf.core.jobs.programs import NOTEBOOK, check_pipeline, program_kind
from modelshelf.core.jobs.schedule import Schedule
from modelshelf.core.jobs.schedule_book import RUNNING, RunRow, ScheduleBook
from modelshelf.core.jobs.schedule_store import (
    MISSED_POLICIES,
    NOTIFY_ON,
    ScheduleDefinition,
    ScheduleStore,
    manual_key,
    validate_schedule_name,
)
from modelshelf.core.jobs.schedule_timing import Timing
from modelshelf.core.jobs.spec import EXECUTORS
from modelshelf.core.sizes import parse_duration
from modelshelf.core.sources.tree import URL_PATTERN, expand_local
from modelshelf.core.store import Shelf
from modelshelf.core.store.expiring import HOST

#: The keyword arguments of JobManager.submit a template may hold (``pipeline`` only when
#: set: it is passed through to the jobs that run pipelines).
TEMPLATE_KEYS = (
    "name",
    "parameters",
    "parameters_from_strings",
    "model",
    "data",
    "output",
    "workers",
    "executor",
    "kernel",
    "timeout",
    "env",
    "save_training_data",
    "scheduler",
    "pipeline",
    "eval_data",
)
_POLICY_KEYS = ("missed", "max_staleness", "max_retries", "retry_backoff", "notify", "notify_on")
_TIMING_KEYS = ("cron", "every", "timezone")


class ScheduleManager(Configurable):
    """The schedules of one store: definitions in the store, local state beside it."""

    def __init__(
        self, shelf: Shelf | None = None, jobs: JobManager | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.shelf = shelf if shelf is not None else Shelf()
        self.store = ScheduleStore(self.shelf.backend)
        self.book = ScheduleBook(os.path.join(self.shelf.state_dir, "schedules.sqlite"))
        self._jobs = jobs
        self._own_jobs = jobs is None

    @property
    def jobs(self) -> JobManager:
        """The job manager runs are submitted through (made on first use)."""
        if self._jobs is None:
            self._jobs = JobManager(self.shelf, parent=self)
        return self._jobs

    def close(self) -> None:
        self.book.close()
        if self._own_jobs and self._jobs is not None:
            self._jobs.close()

    # ---- making and changing ---------------------------------------------------------------

    def create(
        self,
        notebook: str | os.PathLike,
        *,
        cron: str | None = None,
        every: float | str | None = None,
        timezone: str | None = None,
        name: str | None = None,
        missed: str = "skip",
        max_staleness: float | str = "1d",
        max_retries: int = 0,
        retry_backoff: float | str = "60s",
        notify: str | None = None,
        notify_on: str = "failure",
        paused: bool = False,
        **template: Any,
    ) -> Schedule:
        """Schedule ``notebook`` (or a script) with ``template``: :meth:`JobManager.submit`'s
        keyword arguments. Exactly one of ``cron`` (with ``timezone``) or ``every``.

        ``missed`` says what to do with runs due while no scheduler ran: ``skip`` (logged),
        ``once`` (one catch-up run) or ``all`` (each within ``max_staleness``). A failed run
        is tried again ``max_retries`` times, after ``retry_backoff``, doubling each time.
        ``notify`` is a URL that gets a JSON POST when a run fails (``notify_on="always"``:
        after every run).
        """
        now = time.time()
        target = _checked_target(notebook)
        name = validate_schedule_name(name or _stem(target))
        timing = Timing.make(cron=cron, every=every, timezone=timezone, anchor=round(now, 3))
        checked = _checked_template({"name": name, **template}, target)
        definition = ScheduleDefinition(
            name=name,
            template={"notebook": target, **checked},
            timing=timing,
            since=round(now, 3),
            paused=bool(paused),
            created_at=now,
            **_checked_policy(
                missed=missed,
                max_staleness=max_staleness,
                max_retries=max_retries,
                retry_backoff=retry_backoff,
                notify=notify,
                notify_on=notify_on,
            ),
        )
        self.store.create(definition)
        return self.get(name)

    def update(self, name: str, **changes: Any) -> Schedule:
        """Change a schedule's timing, policies or template (``parameters`` etc.) in place.

        A new timing counts from now; its runs before now are not missed runs.
        """
        unknown = set(changes) - {*TEMPLATE_KEYS, *_POLICY_KEYS, *_TIMING_KEYS, "notebook"}
        unknown.discard("name")
        if unknown:
            raise ScheduleError(f"a schedule has no setting {', '.join(sorted(unknown))}")

        def change(current: ScheduleDefinition) -> ScheduleDefinition:
            fields: dict[str, Any] = {}
            if any(changes.get(k) is not None for k in _TIMING_KEYS):
                old = current.timing
                now = round(time.time(), 3)
                timing = dict(
                    cron=changes.get("cron"),
                    every=changes.get("every"),
                    timezone=changes.get("timezone"),
                )
                if timing["cron"] is None and timing["every"] is None:  # only a new zone
                    timing.update(cron=old.cron, every=old.every)
                if timing["cron"] is not None and timing["timezone"] is None:
                    timing["timezone"] = old.timezone if old.cron else None
                fields["timing"] = Timing.make(**timing, anchor=now)
                fields["since"] = now
            policy = {k: changes[k] for k in _POLICY_KEYS if k in changes}
            if policy:
                merged = {k: getattr(current, k) for k in _POLICY_KEYS} | policy
                fields.update(_checked_policy(**merged))
            template = {k: v for k, v in changes.items() if k in TEMPLATE_KEYS}
            if template or "notebook" in changes:
                target = _checked_target(changes.get("notebook") or current.template["notebook"])
                rest = {k: v for k, v in current.template.items() if k != "notebook"}
                fields["template"] = {
                    "notebook": target,
                    **_checked_template({**rest, **template}, target),
                }
            return current.changed(**fields)

        self.store.update(name, change)
        return self.get(name)

    def pause(self, name: str) -> Schedule:
        """Stop firing the schedule (runs in progress go on)."""
        self.store.update(name, lambda d: d if d.paused else d.changed(paused=True))
        return self.get(name)

    def resume(self, name: str) -> Schedule:
        """Fire the schedule again, from its next due time after now."""
        now = round(time.time(), 3)
        self.store.update(name, lambda d: d.changed(paused=False, since=now) if d.paused else d)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove the schedule and the records of its runs (its jobs and models stay)."""
        self.store.delete(name)

    # ---- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> Schedule:
        """The schedule with this name, with its next run and last runs."""
        definition = self.store.get(name)
        return Schedule(definition, self._next_due(definition), self.store.runs(name))

    def list(self) -> list[Schedule]:
        """Every schedule, by name, each with its last run."""
        return [
            Schedule(d, self._next_due(d), self.store.runs(d.name, limit=1))
            for d in self.store.all()
        ]

    def _next_due(self, definition: ScheduleDefinition) -> float | None:
        if definition.paused:
            return None
        cached = self.book.cached_one(definition.name)
        if (
            cached is not None
            and cached.definition.uid == definition.uid
            and cached.definition.since == definition.since
            and cached.next_due is not None
        ):
            return cached.next_due
        return self.first_due(definition)

    def first_due(self, definition: ScheduleDefinition) -> float:
        """Where a machine that has not fired this schedule yet starts: the first due time
        after ``since``, or after the last run any machine claimed."""
        due = definition.timing.next_after(definition.since)
        hint = self.store.next_hint(definition.name)
        return max(due, hint) if hint is not None else due

    # ---- running -----------------------------------------------------------------------------

    def run_now(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        *,
        parameters_from_strings: bool = False,
    ) -> Job:
        """Run the schedule's job at once, ``parameters`` overriding the template's.

        The run is recorded with the schedule's runs (and retried and notified as they are,
        when a scheduler runs); the timetable is not changed.
        """
        definition = self.store.get(name)
        now = time.time()
        key = manual_key(now)
        overrides = dict(parameters or {})
        if parameters_from_strings:
            overrides["__from_strings__"] = True
        record = run_record(definition, now, "manual", HOST)
        if not self.store.claim(name, key, record):  # a random key: only a broken store
            raise ScheduleError(f"cannot record a run of {name!r} in the store")
        run = RunRow(
            f"{name}/{key}", name, now, "manual", RUNNING, 0, None, None, overrides, record
        )
        try:
            job = self.submit_run(definition, run)
        except Exception as exc:
            self.store.record_run(name, key, {**record, "status": "failed", "error": str(exc)})
            raise
        record = {**record, "attempts": [{"job_id": job.id, "status": job.status}]}
        self.store.record_run(name, key, {**record, "status": RUNNING})
        run.job_id, run.record = job.id, record
        self.book.add_run(run)
        return job

    def submit_run(self, definition: ScheduleDefinition, run: RunRow) -> Job:
        """Submit one attempt of a run as an ordinary job, linked to its schedule."""
        template = dict(definition.template)
        notebook = template.pop("notebook")
        overrides = dict(run.overrides or {})
        if overrides.pop("__from_strings__", False):
            template["parameters_from_strings"] = True
        if overrides:
            template["parameters"] = {**(template.get("parameters") or {}), **overrides}
        for key in ("pipeline", "eval_data"):
            if template.get(key) is None:
                template.pop(key, None)  # only passed when set (pipelines' own jobs)
        # The job's ML_SCHEDULE_* variables: job variables like ML_JOB_ID, not the template's
        # env, so that a pooled kernel can take the run too.
        run_link = {"name": definition.name, "due": run.due, "attempt": run.attempt + 1}
        return self.jobs.submit(notebook, _schedule=run_link, **template)


def run_record(definition: ScheduleDefinition, due: float, reason: str, host: str) -> dict:
    """A run's record in the store when it is claimed."""
    return {
        "schedule": definition.name,
        "due": due,
        "reason": reason,
        "host": host,
        "pid": os.getpid(),
        "claimed_at": time.time(),
        "status": "claimed",
        "attempts": [],
    }


def _stem(target: str) -> str:
    base = target.rstrip("/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _checked_target(notebook: str | os.PathLike) -> str:
    text = os.fspath(notebook)
    if URL_PATTERN.match(text):
        return text
    path = expand_local(text)
    if not os.path.exists(path):
        raise ScheduleError(
            f"{path} does not exist: a schedule needs a notebook, a script or a package folder"
        )
    return path


def _checked_template(template: dict[str, Any], target: str) -> dict[str, Any]:
    """The template with its values checked now, so that a mistake fails here and not at
    3 a.m. (the model ref is resolved at each run: ``churn@production`` may move)."""
    unknown = set(template) - set(TEMPLATE_KEYS)
    if unknown:
        raise ScheduleError(
            f"JobManager.submit takes no {', '.join(sorted(unknown))}; "
            f"a template may hold {', '.join(TEMPLATE_KEYS)}"
        )
    out = {k: v for k, v in template.items() if v is not None or k == "output"}
    workers = out.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ScheduleError(f"workers must be a whole number of at least 1, not {workers!r}")
    if out.get("executor", "local") not in EXECUTORS:
        raise ScheduleError(f"unknown executor {out['executor']!r}: use one of {EXECUTORS}")
    if out.get("timeout") is not None:
        out["timeout"] = parse_duration(out["timeout"])
    if out.get("env"):
        out["env"] = {str(k): str(v) for k, v in out["env"].items()}
    for key in ("data", "eval_data"):
        data = out.get(key)
        if data is not None and not URL_PATTERN.match(str(data)):
            out[key] = expand_local(os.fspath(data))
            if not os.path.exists(out[key]):
                raise ScheduleError(f"the schedule's {key} {out[key]} does not exist")
    try:  # the job's own checks: a package needs its pipeline, a pipeline its inputs
        kind = program_kind(target, out.get("pipeline"))
        check_pipeline(
            kind,
            out.get("pipeline"),
            model=out.get("model"),
            data=out.get("data"),
            eval_data=out.get("eval_data"),
            workers=out.get("workers", 1),
        )
    except PipelineError as error:
        raise ScheduleError(f"cannot schedule {target}: {error}") from None
    if kind == NOTEBOOK and not URL_PATTERN.match(target):
        declared = notebook_parameters(target)
        from_strings = bool(out.pop("parameters_from_strings", False))
        out["parameters"] = check_parameters(
            declared, dict(out.get("parameters") or {}), from_strings=from_strings
        )
    return out


def _checked_policy(
    *,
    missed: str,
    max_staleness: float | str,
    max_retries: int,
    retry_backoff: float | str,
    notify: str | None,
    notify_on: str,
) -> dict[str, Any]:
    if missed not in MISSED_POLICIES:
        raise ScheduleError(f"--missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}")
    if notify_on not in NOTIFY_ON:
        raise ScheduleError(f"notify_on must be one of {', '.join(NOTIFY_ON)}, not {notify_on!r}")
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise ScheduleError(f"--max-retries must be a whole number from 0, not {max_retries!r}")
    return {
        "missed": missed,
        "max_staleness": parse_duration(max_staleness),
        "max_retries": max_retries,
        "retry_backoff": parse_duration(retry_backoff),
        "notify": check_webhook(notify),
        "notify_on": notify_on,
    }
