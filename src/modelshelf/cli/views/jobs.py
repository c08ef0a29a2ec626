"""Text and JSON views of the job commands' results, and the printer of followed logs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from modelshelf.cli.commands.results import JobLog, JobRun, PrunedJobs
from modelshelf.core.facts import Table, flat, plural
from modelshelf.core.jobs import CANCELLED, FAILED, Job
from modelshelf.core.sizes import format_duration as duration_text

# ---- views ------------------------------------------------------------------------------------


def job_json(job: Job) -> dict[str, Any]:
    """Plain JSON data for one job."""
    return job.describe()


def _title(job: Job) -> str:
    return f"job {job.name} ({job.id})"


def _run_text(run: JobRun) -> str:
    job = run.job
    if not run.waited:
        return f"submitted {_title(job)}: {job.status}"
    head = f"{_title(job)} {job.status}"
    if job.elapsed is not None:
        head += f" after {duration_text(job.elapsed)}"
    lines = [head]
    if job.error and job.status == FAILED:
        lines.append(f"error: {flat(job.error)}")
    if job.outputs:
        lines.append(f"outputs: {', '.join(job.outputs)}")
    return "\n".join(lines)


def jobs_table(jobs: list[Job]) -> Table:
    """The ``jobs`` table, newest first."""
    return Table.of(jobs, empty="no jobs (`modelshelf run NOTEBOOK` starts one)")


def _cancel_text(job: Job) -> str:
    if job.status == CANCELLED:
        return f"cancelled {_title(job)}"
    return f"{_title(job)} had already {job.status}; nothing to cancel"


def _logs_text(log: JobLog) -> str:
    # Streamed lines were printed as they came; the final newline comes from print().
    return "" if log.streamed else log.text.removesuffix("\n")


def _pruned_text(pruned: PrunedJobs) -> str:
    age = pruned.older_than.strip()
    age = f"{age} s" if age.replace(".", "", 1).isdigit() else age  # a bare number is seconds
    if not pruned.removed:
        return f"no jobs ended more than {age} ago"
    ids = "\n".join(f"  {job_id}" for job_id in pruned.removed)
    return (
        f"removed {plural(len(pruned.removed), 'job')} that ended more than {age} ago "
        f"(the models they saved stay):\n{ids}"
    )


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "run": _run_text,
    "jobs": lambda jobs: jobs_table(jobs).text(),
    "job show": lambda job: job.card().text(),
    "job logs": _logs_text,
    "job cancel": _cancel_text,
    "job wait": _run_text,
    "job rerun": _run_text,
    "job prune": _pruned_text,
}

JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    "run": lambda run: job_json(run.job),
    "jobs": lambda jobs: [job_json(j) for j in jobs],
    "job show": job_json,
    "job logs": lambda log: {
        "id": log.job.id,
        "name": log.job.name,
        "status": log.job.status,
        "log": log.text,
    },
    "job cancel": job_json,
    "job wait": lambda run: job_json(run.job),
    "job rerun": lambda run: job_json(run.job),
    "job prune": lambda pruned: {"removed": pruned.removed, "older_than": pruned.older_than},
}


BY_TYPE: list[tuple[type, str]] = [
    (JobRun, "run"),
    (Job, "job show"),
    (JobLog, "job logs"),
    (PrunedJobs, "job prune"),
]
LISTED: dict[type, str] = {Job: "jobs"}


def log_printer(to_stderr: bool = False) -> Callable[[str], None]:
    """An ``on_log`` writing each line at once to stdout (stderr when stdout carries JSON)."""

    def write(line: str) -> None:
        stream = sys.stderr if to_stderr else sys.stdout  # looked up late: tests redirect
        stream.write(line)
        stream.flush()

    return write
