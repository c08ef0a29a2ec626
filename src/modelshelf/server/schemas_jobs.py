"""What a job is made of, as ``POST /jobs`` takes it and as a schedule repeats it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelshelf.server.schema_base import Body


class JobRequest(Body):
    #: A notebook, a script, or a package folder run as ``pipeline``.
    notebook: str = Field(min_length=1)
    name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    output: str | None = "model"
    timeout: float | None = Field(default=None, gt=0)
    pipeline: Literal["train", "evaluate", "full"] | None = None
    eval_data: str | None = None
