"""What the commands return where the core has no object of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelshelf.core.jobs import Job


@dataclass(frozen=True)
class JobRun:
    """A job a command started (``run``, ``job rerun``) or waited for (``job wait``).

    ``waited`` says whether the command saw the job end; only then does its status decide
    the exit code.
    """

    job: Job
    waited: bool


@dataclass(frozen=True)
class JobLog:
    """The log of a job; ``streamed`` when the lines were already given to ``on_log``."""

    job: Job
    text: str
    streamed: bool = False


@dataclass(frozen=True)
class PrunedJobs:
    """The ids of the jobs ``job prune`` removed, and the age it was given."""

    removed: list[str]
    older_than: str


@dataclass(frozen=True)
class InvokeResult:
    """What a deployment answered to ``modelshelf invoke``."""

    deployment: str
    answer: Any
