"""What a job is asked to do, in a form that travels (SQLite, the store, Dask tasks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class JobSpec:
    """A job request after validation: refs resolved, parameters checked.

    ``model`` is an exact ``name:version``; ``output`` is ``"model"``, a URL or None.
    ``notebook`` is what runs: a notebook, or (``kind``) a ``script`` or the package folder
    of a ``uipath`` or ``dataloop`` training ``pipeline``.
    """

    notebook: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    output: str | None = "model"
    workers: int = 1
    executor: str = "local"
    kernel: str | None = None
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    save_training_data: bool = False
    scheduler: str | None = None
    rerun_of: str | None = None
    kind: str = "notebook"
    pipeline: str | None = None
    eval_data: str | None = None
    import_from: str | None = None  # a script's own folder: its modules stay importable
    #: The run of a schedule this job is: ``{"name", "due", "attempt"}`` (the job's
    #: ``ML_SCHEDULE_*`` variables), or None.
    schedule: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
