"""Helpers of the protocol tests: deployments by the real manager, and boto3's client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager


@contextlib.contextmanager
def managed(shelf: Shelf, **settings: Any) -> Iterator[DeploymentManager]:
    """A deployment manager on ``shelf`` (its traitlets set to ``settings``); every
    deployment it made is stopped at the end."""
    deployments = DeploymentManager(shelf, ready_timeout=60, **settings)
    try:
        yield deployments
    finally:
        for deployment in deployments.list():
            deployment.stop()
        deployments.close()


def sagemaker(url: str) -> Any:
    """boto3's SageMaker Runtime client for ``url``, as a user would make it for AWS."""
    import boto3

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def rounded(values: Any) -> Any:
    """Predictions rounded, so float noise does not matter."""
    if isinstance(values, list):
        return [rounded(v) for v in values]
    return round(values, 6) if isinstance(values, float) else values


def write_model(folder: Path, files: dict[str, str | bytes]) -> Path:
    """A model folder holding ``files`` (name -> text or bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).parent.mkdir(parents=True, exist_ok=True)  # code/inference.py
        (folder / name).write_bytes(data)
    return folder
