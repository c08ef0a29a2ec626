"""Text and JSON views of the deployment commands' results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelshelf.cli.commands.results import InvokeResult
from modelshelf.cli.views.jobs import JSON_VIEWS as JOB_JSON_VIEWS
from modelshelf.cli.views.jobs import TEXT_VIEWS as JOB_TEXT_VIEWS
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.facts import Table


def deployments_table(deployments: list[Deployment]) -> Table:
    """The ``deployments`` table."""
    return Table.of(deployments, empty="no deployments (`modelshelf deploy REF` starts one)")


def _invoke_text(result: InvokeResult) -> str:
    answer = result.answer
    if isinstance(answer, bytes):
        return answer.decode("utf-8", errors="replace")
    return answer if isinstance(answer, str) else json.dumps(answer)


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "batch": JOB_TEXT_VIEWS["run"],
    "deploy": lambda deployment: deployment.card().text(),
    "undeploy": lambda deployment: deployment.card().text(),
    "deployment show": lambda deployment: deployment.card().text(),
    "deployments": lambda found: deployments_table(found).text(),
    "invoke": _invoke_text,
}


JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    "batch": JOB_JSON_VIEWS["run"],
    "deploy": lambda d: d.describe(),
    "undeploy": lambda d: d.describe(),
    "deployment show": lambda d: d.describe(),
    "deployments": lambda ds: [d.describe() for d in ds],
    "invoke": lambda r: r.answer if not isinstance(r.answer, bytes) else r.answer.decode(),
}


BY_TYPE: list[tuple[type, str]] = [(InvokeResult, "invoke"), (Deployment, "deploy")]
LISTED: dict[type, str] = {Deployment: "deployments"}
