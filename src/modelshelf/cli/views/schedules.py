"""Text and JSON views of the schedule commands' results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelshelf.cli.commands.schedules import RemovedSchedule, SchedulerPass
from modelshelf.cli.views.jobs import JSON_VIEWS as JOB_JSON
from modelshelf.cli.views.jobs import TEXT_VIEWS as JOB_TEXT
from modelshelf.core.facts import Table, plural
from modelshelf.core.jobs.schedule import Schedule
from modelshelf.core.sizes import format_time


def schedules_table(schedules: list[Schedule]) -> Table:
    """The ``schedule ls`` table, by name."""
    return Table.of(
        schedules, empty="no schedules (`modelshelf schedule create NOTEBOOK --every 1h` adds one)"
    )


def _changed(verb: str) -> Callable[[Schedule], str]:
    def text(schedule: Schedule) -> str:
        return f"{verb} schedule {schedule.name}\n{schedule.card().text()}"

    return text


def _pass_text(done: SchedulerPass) -> str:
    if done.report is None:
        return "scheduler stopped"
    report = done.report
    lines = [
        f"fired {plural(len(report.fired), 'run')}, skipped {len(report.skipped)} missed, "
        f"{len(report.finished)} finished"
    ]
    lines += [
        f"  {name} due {format_time(due)} ({reason}): job {job or '-'}"
        for name, due, reason, job in report.fired
    ]
    lines += [f"  {name} due {format_time(due)}: missed, skipped" for name, due in report.skipped]
    return "\n".join(lines)


def _pass_json(done: SchedulerPass) -> Any:
    if done.report is None:
        return {"stopped": True}
    report = done.report
    return {
        "fired": [
            {"schedule": n, "due": d, "reason": r, "job_id": j} for n, d, r, j in report.fired
        ],
        "skipped": [{"schedule": n, "due": d} for n, d in report.skipped],
        "finished": [{"schedule": n, "due": d, "status": s} for n, d, s in report.finished],
    }


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "schedule create": _changed("created"),
    "schedule ls": lambda schedules: schedules_table(schedules).text(),
    "schedule show": lambda schedule: schedule.card().text(),
    "schedule pause": _changed("paused"),
    "schedule update": _changed("updated"),
    "schedule resume": _changed("resumed"),
    "schedule rm": lambda removed: f"removed schedule {removed.name} (its jobs and models stay)",
    "schedule run": JOB_TEXT["run"],
    "scheduler": _pass_text,
}

JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    "schedule create": Schedule.describe,
    "schedule ls": lambda schedules: [s.describe() for s in schedules],
    "schedule show": Schedule.describe,
    "schedule pause": Schedule.describe,
    "schedule update": Schedule.describe,
    "schedule resume": Schedule.describe,
    "schedule rm": lambda removed: {"removed": removed.name},
    "schedule run": JOB_JSON["run"],
    "scheduler": _pass_json,
}

BY_TYPE: list[tuple[type, str]] = [
    (Schedule, "schedule show"),
    (RemovedSchedule, "schedule rm"),
    (SchedulerPass, "scheduler"),
]
LISTED: dict[type, str] = {Schedule: "schedule ls"}
