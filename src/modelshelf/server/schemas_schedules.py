"""The REST bodies of schedules (``/schedules``): a schedule is a job's inputs plus when it
runs and what happens when a run is missed or fails."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelshelf.server.schema_base import Answer, Body
from modelshelf.server.schemas_jobs import JobRequest


class ScheduleRequest(JobRequest):
    """The job to run (as ``POST /jobs`` takes it), and when and how to run it."""

    cron: str | None = None
    every: str | float | None = None
    timezone: str | None = None
    missed: Literal["skip", "once", "all"] = "skip"
    max_staleness: str | float = "1d"
    max_retries: int = Field(default=0, ge=0, le=100)
    retry_backoff: str | float = "60s"
    notify: str | None = None
    notify_on: Literal["failure", "always"] = "failure"
    paused: bool = False


class ScheduleUpdate(Body):
    cron: str | None = None
    every: str | float | None = None
    timezone: str | None = None
    parameters: dict[str, Any] | None = None
    model: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    missed: Literal["skip", "once", "all"] | None = None
    max_staleness: str | float | None = None
    max_retries: int | None = Field(default=None, ge=0, le=100)
    retry_backoff: str | float | None = None
    notify: str | None = None
    notify_on: Literal["failure", "always"] | None = None


class RunNowRequest(Body):
    parameters: dict[str, Any] = Field(default_factory=dict)


class Schedule(Answer):
    name: str
    paused: bool
    cron: str | None
    timezone: str | None
    every: float | None
    when: str
    next_due: float | None
    template: dict[str, Any]
    missed: str
    max_staleness: float
    max_retries: int
    retry_backoff: float
    notify: str | None
    notify_on: str
    created_at: float
    revision: int
    last_status: str | None
    runs: list[dict[str, Any]]


class ScheduleList(Answer):
    schedules: list[Schedule]
