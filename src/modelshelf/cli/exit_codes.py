"""The exit code of a command, from its result: 0 ok, 1 a failure the result reports.

Errors raised before a result exists map to 2 (usage), 1 (any other ModelshelfError or
OSError) and 130 (interrupted) in :func:`modelshelf.cli.main.main`.
"""

from __future__ import annotations

from modelshelf.cli.commands.results import JobRun
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.deployment_book import FAILED
from modelshelf.core.jobs import SUCCEEDED
from modelshelf.core.store import FsckReport


def exit_code(result: object) -> int:
    """1 when the result is a failed check (fsck found damage), a job waited for that did not
    succeed or a deployment that failed to start; else 0."""
    if isinstance(result, FsckReport):
        return 0 if result.ok else 1
    if isinstance(result, JobRun) and result.waited and result.job.status != SUCCEEDED:
        return 1
    if isinstance(result, Deployment) and result.status == FAILED:
        return 1
    return 0
