"""The REST API's bodies as pydantic models: requests are validated (unknown fields are a
client's mistake, 400), responses are shaped (only documented fields leave the server).

tests/server/test_auth_and_spec.py checks these models against openapi.yaml, so the
description cannot drift from what the server really accepts and answers. The schedules'
bodies live in :mod:`.schemas_schedules` and are named here too, so handlers use one module.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from modelshelf.core.deploy.scaling import WorkerRange
from modelshelf.core.errors import DeploymentError
from modelshelf.server.schema_base import Answer, Body
from modelshelf.server.schemas_jobs import JobRequest
from modelshelf.server.schemas_schedules import (
    RunNowRequest,
    Schedule,
    ScheduleList,
    ScheduleRequest,
    ScheduleUpdate,
)

# ---- requests -----------------------------------------------------------------------------


class SaveRequest(Body):
    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    parent: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    dataset: str | None = None
    message: str | None = None


class AliasRequest(Body):
    version: int = Field(ge=1)


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class DeployRequest(Body):
    # A multi-model endpoint may start empty (models load on first use, from the store or
    # a model-data prefix); every other mode serves the one ref it is given.
    refs: list[str] = Field(default_factory=list)
    mode: Literal["realtime", "multi", "async"] = "realtime"
    name: str | None = None
    # workers=N is a fixed number; min_workers/max_workers a range to scale in (not both).
    workers: int | None = Field(default=None, ge=1, le=64)
    min_workers: int | None = Field(default=None, ge=1, le=64)
    max_workers: int | None = Field(default=None, ge=1, le=64)
    handler: str | None = None
    env: dict[EnvName, str] = Field(default_factory=dict)
    model_data: str | None = None
    model_data_cache: str | None = None
    batch_size: int = Field(default=1, ge=1, le=4096)
    max_batch_delay: str | float = "10ms"
    # How a model folder's requirements.txt is served (core/deploy/serving_python.py).
    env_manager: Literal["auto", "uv", "virtualenv", "local"] | None = None
    find_links: list[str] = Field(default_factory=list)
    offline: bool | None = None

    @model_validator(mode="after")
    def _refs_for_the_mode(self) -> DeployRequest:
        if self.mode != "multi" and len(self.refs) != 1:
            raise ValueError(f"refs: a {self.mode} deployment serves exactly one model ref")
        try:  # the core's own check, so that a bad range is a 400 before any task starts
            WorkerRange.of(self.workers, self.min_workers, self.max_workers, mode=self.mode)
        except DeploymentError as exc:
            raise ValueError(str(exc)) from None
        return self


class InvokeRequest(Body):
    payload: Any
    content_type: str | None = None
    model: str | None = None


class UploadedFile(Body):
    path: str = Field(min_length=1)
    size: int = Field(ge=0)


class UploadRequest(Body):
    name: str = Field(min_length=1)
    files: list[UploadedFile] = Field(min_length=1)
    # A lone archive is extracted (safely) as every archive source is; False keeps it whole.
    extract: bool = True
    parent: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    message: str | None = None


REQUESTS: tuple[type[Body], ...] = (
    SaveRequest, AliasRequest, JobRequest, DeployRequest, InvokeRequest, UploadedFile,
    UploadRequest,
)  # fmt: skip

# ---- responses ----------------------------------------------------------------------------


class ModelSummary(Answer):
    name: str
    latest: int
    versions: int
    updated_at: float | None
    tags: list[str]


class ModelPage(Answer):
    models: list[ModelSummary]
    total: int
    offset: int
    limit: int


class Lineage(Answer):
    """What every view of a version carries: its numbers, where it came from, and how."""

    version: int
    created_at: str
    size: int
    file_count: int
    source: str
    parent: str | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    tags: list[str]
    dataset: dict[str, Any] | None
    message: str | None
    job: dict[str, Any] | None
    notebook: str | None


class VersionSummary(Lineage):
    ref: str
    aliases: list[str]
    evaluations: list[Evaluation] = Field(default_factory=list)


class VersionListing(Answer):
    name: str
    aliases: dict[str, int]
    versions: list[VersionSummary]


class FileEntry(Answer):
    path: str
    size: int
    #: The file's digest and its algorithm (the store's: ``blake3``, or ``sha256``).
    digest: str
    algorithm: Literal["sha256", "blake3"]
    mode: int
    #: The same digest under its algorithm's name, as the manifest records it.
    sha256: str | None = None
    blake3: str | None = None


class Evaluation(Answer):
    """A score kept beside a version (an evaluate or full pipeline's ``evaluate()``)."""

    score: float
    data: str | None
    data_hash: str | None
    created: float
    job: str | None
    pipeline: Literal["evaluate", "full"]


class ModelVersion(Lineage):
    name: str
    files: list[FileEntry]
    environment: dict[str, Any]
    evaluations: list[Evaluation] = []


class Aliases(Answer):
    name: str
    aliases: dict[str, int]


class AliasMove(Answer):
    name: str
    alias: str
    seq: int
    version: int | None
    moved_at: str
    moved_by: str


class AliasHistory(Answer):
    name: str
    alias: str
    moves: list[AliasMove]


class Holder(Answer):
    kind: Literal["job", "deployment", "other"]
    owner: str
    expires_at: float


class VersionUsage(Answer):
    ref: str
    aliases: list[str]
    holders: list[Holder]
    children: list[str]


class ModelDiff(Answer):
    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    params: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    same_files: bool


class Task(Answer):
    id: str
    kind: Literal["save", "deploy"]
    description: str
    status: Literal["running", "succeeded", "failed"]
    progress: dict[str, Any] | None
    result: Any
    error: str | None
    started_at: float
    ended_at: float | None


class TaskList(Answer):
    tasks: list[Task]


class NotebookParameter(Answer):
    name: str
    type: str
    default: Any
    default_source: str
    help: str


class NotebookParameters(Answer):
    path: str
    parameters: list[NotebookParameter]


class Job(Answer):
    id: str
    name: str
    status: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    elapsed: float | None
    notebook: str
    kind: Literal["notebook", "script", "uipath", "dataloop"] = "notebook"
    pipeline: Literal["train", "evaluate", "full"] | None = None
    parameters: dict[str, Any]
    inputs: dict[str, Any]
    output: str | None
    workers: int
    executor: str
    error: str | None
    outputs: list[str]
    results: dict[str, Any] | None
    rerun_of: str | None = None


class JobList(Answer):
    jobs: list[Job]


class JobLogs(Answer):
    text: str
    cursor: str
    finished: bool


class Deployment(Answer):
    name: str
    mode: str
    status: Literal["starting", "ready", "failed", "stopped"]
    url: str
    refs: list[str]
    workers: int
    min_workers: int | None = None
    max_workers: int | None = None
    error: str | None
    traceback: str | None
    serving: dict[str, Any] = {}
    live: dict[str, Any] | None = None
    created_at: float
    ready_at: float | None
    stopped_at: float | None


class DeploymentList(Answer):
    deployments: list[Deployment]


class DeploymentLogs(Answer):
    text: str


class InvokeAnswer(Answer):
    answer: Any


class UploadFileStatus(Answer):
    index: int
    path: str
    size: int
    received: int


class UploadStatus(Answer):
    id: str
    name: str
    status: Literal["receiving", "committing", "cancelled"]
    chunk_size: int
    files: list[UploadFileStatus]
    total_size: int
    received: int
    created_at: float
    expires_at: float


RESPONSES: tuple[type[Answer], ...] = (
    ModelSummary, ModelPage, VersionSummary, VersionListing, FileEntry, Evaluation, ModelVersion,
    Aliases, AliasMove, AliasHistory, Holder, VersionUsage, ModelDiff, Task, TaskList,
    NotebookParameter, NotebookParameters, Job, JobList, JobLogs, Deployment, DeploymentList,
    DeploymentLogs, InvokeAnswer, UploadFileStatus, UploadStatus,
)  # fmt: skip

REQUESTS = (*REQUESTS, ScheduleRequest, ScheduleUpdate, RunNowRequest)
RESPONSES = (*RESPONSES, Schedule, ScheduleList)
