"""Request bodies of the REST API, validated by pydantic (unknown fields are mistakes: 400)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class JobRequest(Body):
    notebook: str = Field(min_length=1)
    name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    output: str | None = "model"
    timeout: float | None = Field(default=None, gt=0)


class DeployRequest(Body):
    refs: list[str] = Field(min_length=1)
    mode: Literal["realtime", "multi", "async"] = "realtime"
    name: str | None = None
    workers: int = Field(default=1, ge=1, le=64)


class InvokeRequest(Body):
    payload: Any
    content_type: str | None = None
    model: str | None = None
