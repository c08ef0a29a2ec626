"""The exit code of a command, from its result: 0 ok, 1 a failure the result reports.

Errors raised before a result exists map to 2 (usage), 1 (any other ModelshelfError or
OSError) and 130 (interrupted) in :func:`modelshelf.cli.main.main`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _damaged(report: Any) -> bool:  # an FsckReport
    return not report.ok


def _job_did_not_succeed(run: Any) -> bool:  # a JobRun
    from modelshelf.core.jobs import SUCCEEDED

    return run.waited and run.job.status != SUCCEEDED


def _deployment_failed(deployment: Any) -> bool:  # a Deployment
    from modelshelf.core.deploy.deployment_book import FAILED

    return deployment.status == FAILED


# The commands whose result can report a failure. Keyed by command, not by the result's
# type, so that `ls` never imports the job or deployment classes just to rule them out.
_FAILED: dict[str, Callable[[Any], bool]] = {
    "fsck": _damaged,
    "run": _job_did_not_succeed,
    "job wait": _job_did_not_succeed,
    "job rerun": _job_did_not_succeed,
    "batch": _job_did_not_succeed,
    "deploy": _deployment_failed,
    "schedule run": _job_did_not_succeed,
}


def exit_code(result: object, command: str) -> int:
    """1 when ``command``'s result is a failed check (fsck found damage), a job waited for
    that did not succeed or a deployment that failed to start; else 0."""
    failed = _FAILED.get(command)
    return 1 if failed is not None and failed(result) else 0
