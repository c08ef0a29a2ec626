"""Jobs: notebooks run through papermill in their own process, locally or on Dask; and
schedules, which run them on a timetable.

Names are loaded on first use (PEP 562): a job's executor process imports
``modelshelf.core.jobs.notebook_process`` without the manager, SQLite records or the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelshelf.core.lazy import lazy_names

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
    from modelshelf.core.jobs.schedule import Schedule
    from modelshelf.core.jobs.scheduler import Scheduler
    from modelshelf.core.jobs.schedules import ScheduleManager
    from modelshelf.core.jobs.spec import JobSpec

_HOMES = {
    "Job": "modelshelf.core.jobs.job",
    "JobTimeoutError": "modelshelf.core.errors",
    "JobError": "modelshelf.core.errors",
    "JobManager": "modelshelf.core.jobs.manager",
    "NotebookParameter": "modelshelf.core.jobs.parameters",
    "ParameterError": "modelshelf.core.errors",
    "check_parameters": "modelshelf.core.jobs.parameters",
    "effective_parameters": "modelshelf.core.jobs.parameters",
    "notebook_parameters": "modelshelf.core.jobs.parameters",
    "CANCELLED": "modelshelf.core.jobs.job_book",
    "FAILED": "modelshelf.core.jobs.job_book",
    "QUEUED": "modelshelf.core.jobs.job_book",
    "RUNNING": "modelshelf.core.jobs.job_book",
    "SUCCEEDED": "modelshelf.core.jobs.job_book",
    "JobSpec": "modelshelf.core.jobs.spec",
    "Schedule": "modelshelf.core.jobs.schedule",
    "ScheduleManager": "modelshelf.core.jobs.schedules",
    "Scheduler": "modelshelf.core.jobs.scheduler",
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
    "Schedule",
    "ScheduleManager",
    "Scheduler",
    "check_parameters",
    "effective_parameters",
    "notebook_parameters",
]


__getattr__ = lazy_names(__name__, _HOMES)
