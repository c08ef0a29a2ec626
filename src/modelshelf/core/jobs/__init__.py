"""Jobs: notebooks run through papermill in their own process, locally or on Dask.

Names are loaded on first use (PEP 562): a job's executor process imports
``modelshelf.core.jobs.notebook_process`` without the manager, SQLite records or the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelshelf.core.errors import JobError, JobTimeoutError, ParameterError
    from modelshelf.core.jobs.job import Job
    from modelshelf.core.jobs.job_book import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED
    from modelshelf.core.jobs.manager import JobManager
    from modelshelf.core.jobs.parameters import (
        NotebookParameter,
        check_parameters,
        effective_parameters,
        notebook_parameters,
    )
    from modelshelf.core.jobs.spec import JobSpec

_HOMES = {
    "Job": "job",
    "JobTimeoutError": "modelshelf.core.errors",
    "JobError": "modelshelf.core.errors",
    "JobManager": "manager",
    "NotebookParameter": "parameters",
    "ParameterError": "modelshelf.core.errors",
    "check_parameters": "parameters",
    "effective_parameters": "parameters",
    "notebook_parameters": "parameters",
    "CANCELLED": "job_book",
    "FAILED": "job_book",
    "QUEUED": "job_book",
    "RUNNING": "job_book",
    "SUCCEEDED": "job_book",
    "JobSpec": "spec",
}
__all__ = [
    "CANCELLED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "Job",
    "JobError",
    "JobManager",
    "JobSpec",
    "JobTimeoutError",
    "NotebookParameter",
    "ParameterError",
    "check_parameters",
    "effective_parameters",
    "notebook_parameters",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'modelshelf.core.jobs' has no attribute {name!r}")
    return getattr(
        importlib.import_module(home if "." in home else f"modelshelf.core.jobs.{home}"), name
    )
