"""A handle on one schedule: its definition, next run and last runs, and their facts."""

from __future__ import annotations

import time
from typing import Any

from modelshelf.core.facts import Card, Listed, Shown, Table, first_line
from modelshelf.core.jobs.schedule_store import ScheduleDefinition
from modelshelf.core.sizes import format_duration, format_time


class Schedule(Shown, Listed):
    """A schedule as read from the store (see :class:`ScheduleManager`)."""

    ROW_HEADERS = ("name", "when", "state", "next run", "last run", "last status")

    def __init__(
        self,
        definition: ScheduleDefinition,
        next_due: float | None,
        runs: list[dict[str, Any]],
    ) -> None:
        self.definition = definition
        self.next_due = next_due
        #: The latest runs, newest first: due, reason, status, attempts (job ids).
        self.runs = runs

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def paused(self) -> bool:
        return self.definition.paused

    @property
    def last_run(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None

    def describe(self) -> dict[str, Any]:
        """Everything known about the schedule, as plain JSON data."""
        d = self.definition
        return {
            "name": d.name,
            "paused": d.paused,
            "cron": d.timing.cron,
            "timezone": d.timing.timezone if d.timing.cron else None,
            "every": d.timing.every,
            "when": d.timing.describe(),
            "next_due": self.next_due,
            "template": d.template,
            "missed": d.missed,
            "max_staleness": d.max_staleness,
            "max_retries": d.max_retries,
            "retry_backoff": d.retry_backoff,
            "notify": d.notify,
            "notify_on": d.notify_on,
            "created_at": d.created_at,
            "revision": d.revision,
            "last_status": (self.last_run or {}).get("status"),
            "runs": self.runs,
        }

    def __repr__(self) -> str:
        state = "paused" if self.paused else f"next {format_time(self.next_due)}"
        return f"<Schedule {self.name} {self.definition.timing.describe()}: {state}>"

    # ---- its facts, for every face --------------------------------------------------------

    def _next_text(self) -> str:
        if self.paused:
            return "paused"
        if self.next_due is None:
            return "-"
        late = time.time() - self.next_due
        text = format_time(self.next_due)
        return f"{text} (overdue {format_duration(late)})" if late > 60 else text

    def fields(self) -> list[tuple[str, Any]]:
        d = self.definition
        template = d.template
        retries = f"{d.max_retries} (backoff {format_duration(d.retry_backoff)})"
        return [
            ("name", d.name),
            ("when", d.timing.describe()),
            ("state", "paused" if d.paused else "active"),
            ("next run", self._next_text()),
            ("runs", template.get("notebook")),
            ("pipeline", template.get("pipeline")),
            ("parameters", template.get("parameters") or {}),
            ("input model", template.get("model")),
            ("executor", template.get("executor")),
            ("timeout", format_duration(template["timeout"]) if template.get("timeout") else None),
            ("missed runs", f"{d.missed} (up to {format_duration(d.max_staleness)} old)"),
            ("max retries", retries if d.max_retries else "0"),
            ("notify", f"{d.notify} (on {d.notify_on})" if d.notify else None),
        ]

    def runs_table(self) -> Table:
        rows = tuple(
            (
                format_time(run.get("due")),
                run.get("reason", "-"),
                run.get("status", "-"),
                str(len(run.get("attempts") or [])),
                ", ".join(a.get("job_id") or "-" for a in run.get("attempts") or []) or "-",
                first_line(run.get("error"), 60) or "-",
            )
            for run in self.runs
        )
        headers = ("due", "reason", "status", "attempts", "jobs", "error")
        return Table(headers, rows, caption="last runs")

    def card(self) -> Card:
        return Card.of(self.fields(), [self.runs_table()])

    def row(self) -> tuple[Any, ...]:
        last = self.last_run or {}
        return (
            self.name,
            self.definition.timing.describe(),
            "paused" if self.paused else "active",
            self._next_text(),
            format_time(last.get("due")) if last else "-",
            last.get("status", "-") if last else "-",
        )
