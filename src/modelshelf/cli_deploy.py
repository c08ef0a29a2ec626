"""The deployment commands of ``modelshelf``: deploy, deployments, undeploy, invoke, batch.

Same rules as :mod:`modelshelf.cli`: handlers take ``(shelf, args)`` and return core objects
without printing; the views below turn them into text or JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from modelshelf.cli_jobs import job_manager, managed
from modelshelf.cli_render import table
from modelshelf.core.deploy.client import DeploymentError
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.deploy.records import FAILED, MODES
from modelshelf.core.store import Shelf


@dataclass(frozen=True)
class InvokeResult:
    """What a deployment answered to ``modelshelf invoke``."""

    deployment: str
    answer: Any


def _manager(shelf: Shelf, args: argparse.Namespace) -> AbstractContextManager[DeploymentManager]:
    """``args.deploy_manager`` when the face gave one, else one closed afterwards."""
    return managed(getattr(args, "deploy_manager", None), lambda: DeploymentManager(shelf))


def _deploy(shelf: Shelf, args: argparse.Namespace) -> Deployment:
    with _manager(shelf, args) as manager:
        return manager.deploy(
            args.refs,
            mode=args.mode,
            name=args.name,
            port=args.port,
            workers=args.workers,
            token=args.token,
            max_body=args.max_body,
            max_models=args.max_models,
            memory_budget=args.memory_budget,
            output_location=args.output_location,
        )


def _deployments(shelf: Shelf, args: argparse.Namespace) -> list[Deployment]:
    with _manager(shelf, args) as manager:
        return manager.list(include_stopped=args.all)


def _undeploy(shelf: Shelf, args: argparse.Namespace) -> Deployment:
    with _manager(shelf, args) as manager:
        return manager.stop(args.name)


def _invoke(shelf: Shelf, args: argparse.Namespace) -> InvokeResult:
    payload, kind = _payload(args.payload, args.content_type)
    with _manager(shelf, args) as manager:
        deployment = manager.get(args.name)
        answer = deployment.invoke(payload, kind, model=args.model, token=args.token)
    return InvokeResult(deployment.name, answer)


def _payload(text: str, content_type: str | None) -> tuple[Any, str | None]:
    """PAYLOAD as typed: ``@FILE`` sends the file's bytes; JSON text is parsed."""
    if text.startswith("@"):
        with open(text[1:], "rb") as fh:
            body = fh.read()
        return body, content_type or ("application/json" if text.endswith(".json") else None)
    kind = content_type or "application/json"
    if not kind.endswith("json"):
        return text, kind
    try:
        return json.loads(text), kind
    except ValueError as exc:
        raise DeploymentError(
            f"PAYLOAD is not JSON ({exc}); pass --content-type for another format, "
            "or @FILE to send a file"
        ) from exc


def _batch(shelf: Shelf, args: argparse.Namespace) -> Any:
    from modelshelf.cli_jobs import JobRun
    from modelshelf.core.deploy.batch import submit_batch_job

    with job_manager(shelf, args) as jobs:
        job = submit_batch_job(
            jobs, args.ref, args.input, args.output, workers=args.workers,
            split_lines=args.split_lines,
        )  # fmt: skip
        if args.wait:
            job.wait()
        return JobRun(job, waited=args.wait)


def add_deploy_commands(command: Callable[[str, Any, str], argparse.ArgumentParser]) -> None:
    """Add the deployment commands to the grammar of :func:`cli.build_parser`."""
    deploy = command("deploy", _deploy, "serve model refs over HTTP (in their own process)")
    deploy.add_argument("refs", nargs="*", metavar="REF", help="model ref(s) to serve")
    deploy.add_argument("--mode", choices=MODES, default="realtime", help="default realtime")
    deploy.add_argument("--name", help="deployment name (default: the model's name)")
    deploy.add_argument("--port", type=int, help="default: a free port on 127.0.0.1")
    deploy.add_argument("--workers", type=int, default=1, help="server processes, default 1")
    deploy.add_argument("--token", help="bearer token required on every non-health route")
    deploy.add_argument("--max-body", help="largest request body, e.g. 6MB (413 above)")
    deploy.add_argument("--max-models", type=int, default=0, help="multi: loaded models cap")
    deploy.add_argument("--memory-budget", default="0", help="multi: e.g. 2GB of loaded models")
    deploy.add_argument("--output-location", help="async: folder or URL prefix for results")
    deploy.set_defaults(deploy_manager=None)

    listing = command("deployments", _deployments, "list deployments")
    listing.add_argument("--all", action="store_true", help="include stopped ones")
    listing.set_defaults(deploy_manager=None)

    undeploy = command("undeploy", _undeploy, "stop a deployment and all its processes")
    undeploy.add_argument("name", metavar="NAME")
    undeploy.set_defaults(deploy_manager=None)

    invoke = command("invoke", _invoke, "send one request to a deployment")
    invoke.add_argument("name", metavar="NAME")
    invoke.add_argument("payload", metavar="PAYLOAD", help="JSON text, or @FILE to send a file")
    invoke.add_argument("--content-type", help="default application/json")
    invoke.add_argument("--model", help="multi-model: the target model name or ref")
    invoke.add_argument("--token", help="bearer token, if the deployment has one")
    invoke.set_defaults(deploy_manager=None)

    batch = command("batch", _batch, "apply a model to every object under INPUT, as a job")
    batch.add_argument("ref", metavar="REF")
    batch.add_argument("input", metavar="INPUT", help="folder or URL prefix (s3://bucket/in/)")
    batch.add_argument("output", metavar="OUTPUT", help="where <key>.out files are written")
    batch.add_argument("--workers", type=int, default=4, help="objects in parallel, default 4")
    batch.add_argument("--split-lines", action="store_true", help="one request per line")
    batch.add_argument("--wait", action="store_true", help="wait for the job to end")
    batch.set_defaults(job_manager=None, on_log=None)


def deploy_exit_code(result: object) -> int:
    """1 when a deployment failed to start."""
    return 1 if isinstance(result, Deployment) and result.status == FAILED else 0


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


def _batch_text(run: Any) -> str:
    from modelshelf.cli_jobs_render import TEXT_VIEWS as JOB_VIEWS

    return JOB_VIEWS["run"](run)


def _batch_json(run: Any) -> Any:
    from modelshelf.cli_jobs_render import JSON_VIEWS as JOB_VIEWS

    return JOB_VIEWS["run"](run)


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "batch": _batch_text,
    "deploy": _deployment_text,
    "undeploy": _deployment_text,
    "deployments": _listing_text,
    "invoke": _invoke_text,
}

JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    "batch": _batch_json,
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
