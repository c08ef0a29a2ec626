"""Jobs: notebooks run through papermill in their own process, locally or on Dask."""

from modelshelf.core.jobs.job import Job, JobTimeoutError
from modelshelf.core.jobs.manager import JobError, JobManager
from modelshelf.core.jobs.parameters import (
    NotebookParameter,
    ParameterError,
    check_parameters,
    effective_parameters,
    notebook_parameters,
)
from modelshelf.core.jobs.records import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED
from modelshelf.core.jobs.spec import JobSpec

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
