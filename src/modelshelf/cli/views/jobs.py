"""Text and JSON views of the job commands' results, and the printer of followed logs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from modelshelf.cli.commands.results import JobLog, JobRun, PrunedJobs
from modelshelf.cli.views.text import mapping_text, plural, table
from modelshelf.core.jobs import CANCELLED, FAILED, Job
from modelshelf.core.sizes import format_duration as duration_text

# ---- views ------------------------------------------------------------------------------------


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


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
        lines.append(f"error: {_flat(job.error)}")
    if job.outputs:
        lines.append(f"outputs: {', '.join(job.outputs)}")
    return "\n".join(lines)


def _jobs_text(jobs: list[Job]) -> str:
    if not jobs:
        return "no jobs (`modelshelf run NOTEBOOK` starts one)"
    rows = [
        (j.id, j.name, j.status, duration_text(j.elapsed), ", ".join(j.outputs) or "-")
        for j in jobs
    ]
    return table(("ID", "NAME", "STATUS", "ELAPSED", "OUTPUTS"), rows)


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return [pair for k, v in value.items() for pair in _flatten(f"{prefix}{k}.", v)]
    text = "-" if value is None else value if isinstance(value, str) else json.dumps(value)
    return [(prefix.rstrip("."), text)]


def _show_text(job: Job) -> str:
    spec = job.spec
    fields: list[tuple[str, str]] = [
        ("id", job.id),
        ("name", job.name),
        ("status", job.status),
        ("elapsed", duration_text(job.elapsed)),
        ("notebook", spec.notebook),
        ("parameters", mapping_text(spec.parameters) or "-"),
    ]
    optional = [
        ("input model", spec.model),
        ("input data", spec.data),
        ("output", spec.output if spec.output is not None else "none"),
        ("workers", f"{spec.workers} ({spec.executor})"),
        ("kernel", spec.kernel),
        ("timeout", duration_text(spec.timeout) if spec.timeout is not None else ""),
        ("env", ", ".join(spec.env)),  # names only: values may be secrets
        ("rerun of", spec.rerun_of),
        ("error", _flat(job.error) if job.error else ""),
        ("outputs", ", ".join(job.outputs)),
        ("workspace", job.workspace),
    ]
    fields += [(k, v) for k, v in optional if v]
    width = max(len(k) for k, _ in fields) + 2
    text = "\n".join(f"{k + ':':<{width}}{v}" for k, v in fields)
    summary = (job.results or {}).get("run_summary")
    if summary:
        rows = _flatten("", summary)
        inner = max(len(k) for k, _ in rows) + 2
        text += "\n\nrun summary (_results.json):\n"
        text += "\n".join(f"  {k + ':':<{inner}}{v}" for k, v in rows)
    return text


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
    "jobs": _jobs_text,
    "job show": _show_text,
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


def view_of(result: object) -> str | None:
    """The job view that fits ``result`` when the caller does not say; None if not a job's."""
    if isinstance(result, list) and result and all(isinstance(j, Job) for j in result):
        return "jobs"
    by_type: list[tuple[type, str]] = [
        (JobRun, "run"),
        (Job, "job show"),
        (JobLog, "job logs"),
        (PrunedJobs, "job prune"),
    ]
    for kind, view in by_type:
        if isinstance(result, kind):
            return view
    return None


def log_printer(to_stderr: bool = False) -> Callable[[str], None]:
    """An ``on_log`` writing each line at once to stdout (stderr when stdout carries JSON)."""

    def write(line: str) -> None:
        stream = sys.stderr if to_stderr else sys.stdout  # looked up late: tests redirect
        stream.write(line)
        stream.flush()

    return write
