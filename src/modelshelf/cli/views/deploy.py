"""Text and JSON views of the deployment commands' results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelshelf.cli.commands.results import InvokeResult
from modelshelf.cli.views.jobs import JSON_VIEWS as JOB_JSON_VIEWS
from modelshelf.cli.views.jobs import TEXT_VIEWS as JOB_TEXT_VIEWS
from modelshelf.cli.views.text import table
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.deployment_book import FAILED


def _deployment_text(deployment: Deployment) -> str:
    lines = [f"{deployment.name} [{deployment.mode}] {deployment.status} at {deployment.url}"]
    if deployment.refs:
        lines.append(f"serving: {', '.join(deployment.refs)}")
    if deployment.error:
        lines.append(f"error: {deployment.error}")
    if deployment.traceback and deployment.status == FAILED:
        lines.append(deployment.traceback.rstrip())
    return "\n".join(lines)


def _listing_text(deployments: list[Deployment]) -> str:
    if not deployments:
        return "no deployments"
    rows = [
        [d.name, d.mode, d.status, d.url, ", ".join(d.refs), str(d.workers)] for d in deployments
    ]
    return table(["NAME", "MODE", "STATUS", "URL", "MODELS", "WORKERS"], rows)


def _invoke_text(result: InvokeResult) -> str:
    answer = result.answer
    if isinstance(answer, bytes):
        return answer.decode("utf-8", errors="replace")
    return answer if isinstance(answer, str) else json.dumps(answer)


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "batch": JOB_TEXT_VIEWS["run"],
    "deploy": _deployment_text,
    "undeploy": _deployment_text,
    "deployments": _listing_text,
    "invoke": _invoke_text,
}


JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    "batch": JOB_JSON_VIEWS["run"],
    "deploy": lambda d: d.describe(),
    "undeploy": lambda d: d.describe(),
    "deployments": lambda ds: [d.describe() for d in ds],
    "invoke": lambda r: r.answer if not isinstance(r.answer, bytes) else r.answer.decode(),
}


def view_of(result: object) -> str | None:
    """The view that fits ``result`` when the caller does not say; None if not ours."""
    if isinstance(result, InvokeResult):
        return "invoke"
    if isinstance(result, Deployment):
        return "deploy"
    if isinstance(result, list) and result and all(isinstance(d, Deployment) for d in result):
        return "deployments"
    return None
