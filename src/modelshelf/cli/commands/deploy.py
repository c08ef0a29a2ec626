"""The deployment commands: deploy, deployments, deployment show, undeploy, invoke, batch.

Handlers take ``(shelf, args)`` and return core objects without printing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelshelf.cli.commands.managers import deploy_manager, job_manager
from modelshelf.cli.commands.parsing import (
    env_pair,
    executor_options,
    output_options,
    whole_number,
)
from modelshelf.cli.commands.results import InvokeResult, JobRun
from modelshelf.core.deploy.deployment_book import MODES
from modelshelf.core.deploy.installers import ENV_MANAGERS
from modelshelf.core.errors import DeploymentError

if TYPE_CHECKING:
    from modelshelf.core.deploy.deployment import Deployment
    from modelshelf.core.store import Shelf


def _deploy(shelf: Shelf, args: argparse.Namespace) -> Deployment:
    with deploy_manager(shelf, args) as manager:
        return manager.deploy(
            args.refs,
            mode=args.mode,
            name=args.name,
            port=args.port,
            workers=args.workers,
            min_workers=args.min_workers,
            max_workers=args.max_workers,
            token=args.token,
            max_body=args.max_body,
            max_models=args.max_models,
            memory_budget=args.memory_budget,
            output_location=args.output_location,
            handler=args.handler_service,
            env=dict(args.env or []),
            model_data=args.model_data,
            model_data_cache=args.model_data_cache,
            batch_size=args.batch_size,
            max_batch_delay=args.max_batch_delay,
            env_manager=args.env_manager,
            find_links=args.find_links,
            offline=args.offline or None,
            model_roots=args.model_roots,
        )


def _deployments(shelf: Shelf, args: argparse.Namespace) -> list[Deployment]:
    with deploy_manager(shelf, args) as manager:
        return manager.list(include_stopped=args.all, mode=args.mode)


def _deployment_show(shelf: Shelf, args: argparse.Namespace) -> Deployment:
    with deploy_manager(shelf, args) as manager:
        return manager.get(args.name)


def _undeploy(shelf: Shelf, args: argparse.Namespace) -> Deployment:
    with deploy_manager(shelf, args) as manager:
        return manager.stop(args.name)


def _invoke(shelf: Shelf, args: argparse.Namespace) -> InvokeResult:
    payload, kind = _payload(args.payload, args.content_type)
    with deploy_manager(shelf, args) as manager:
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
    from modelshelf.core.deploy.batch import submit_batch_job  # the grammar stays light

    with job_manager(shelf, args) as jobs:
        job = submit_batch_job(
            jobs, args.ref, args.input, args.output, workers=args.workers,
            split_lines=args.split_lines, executor=args.executor, scheduler=args.scheduler,
            shards=args.shards,
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
    deploy.add_argument(
        "--workers", type=whole_number, metavar="N", help="server processes, default 1"
    )
    deploy.add_argument(
        "--min-workers",
        type=whole_number,
        metavar="N",
        help="the fewest server processes of a deployment that scales with its load",
    )
    deploy.add_argument(
        "--max-workers",
        type=whole_number,
        metavar="N",
        help="the most: workers are added while requests queue, stopped once idle",
    )
    deploy.add_argument("--token", help="bearer token required on every non-health route")
    deploy.add_argument("--max-body", help="largest request body, e.g. 6MB (413 above)")
    deploy.add_argument("--max-models", type=int, default=0, help="multi: loaded models cap")
    deploy.add_argument("--memory-budget", default="0", help="multi: e.g. 2GB of loaded models")
    deploy.add_argument("--output-location", help="async: folder or URL prefix for results")
    deploy.add_argument(
        "--handler",
        dest="handler_service",  # args.handler is the command's own function
        metavar="FILE[:FUNC]",
        help="a Multi Model Server handler service serving every model (default FUNC: handle)",
    )
    deploy.add_argument(
        "--model-data",
        metavar="URL",
        help="multi: a folder or URL prefix whose keys (DocSim-3.tar.gz) are served as models",
    )
    deploy.add_argument(
        "--model-data-cache", default="0", help="multi: disk cache bound, e.g. 10GB (0: none)"
    )
    deploy.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="answer up to N concurrent requests in one call of a model that takes batches",
    )
    deploy.add_argument(
        "--max-batch-delay",
        default="10ms",
        metavar="DURATION",
        help="how long a batch filling behind a running call may wait (default 10ms)",
    )
    deploy.add_argument(
        "--model-root",
        action="append",
        dest="model_roots",
        metavar="DIR",
        help="multi: a folder whose model folders POST /models may name (repeat for more; "
        "default /opt/ml/model and /opt/ml/models)",
    )
    deploy.add_argument(
        "--env",
        action="append",
        type=env_pair,
        metavar="KEY=VALUE",
        help="a variable for the server process (repeat for more)",
    )
    deploy.add_argument(
        "--env-manager",
        choices=ENV_MANAGERS,
        help="how a model's requirements.txt is served: auto (default: its own environment "
        "only if this Python lacks what it names), uv, virtualenv, or local (ignored)",
    )
    deploy.add_argument(
        "--find-links",
        action="append",
        metavar="DIR|URL",
        help="a wheel folder (or URL) to install the model's requirements from (repeat)",
    )
    deploy.add_argument(
        "--offline", action="store_true", help="install requirements from --find-links only"
    )
    deploy.set_defaults(deploy_manager=None)

    listing = command("deployments", _deployments, "list deployments")
    listing.add_argument("--all", action="store_true", help="include stopped ones")
    listing.add_argument("--mode", choices=MODES, help="only deployments of this mode")
    listing.set_defaults(deploy_manager=None)

    deployment = command("deployment", None, "show one deployment, with its live figures")
    actions = deployment.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(deployment)
    )
    show = actions.add_parser(
        "show", help="its card: models, address, workers, requests, latency, resources",
        description="its card: models, address, workers, requests, latency, resources",
    )  # fmt: skip
    output_options(show, top=False)
    show.add_argument("name", metavar="NAME")
    show.set_defaults(handler=_deployment_show, command="deployment show", deploy_manager=None)

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
    batch.add_argument(
        "--workers", type=int, default=4, help="objects at once (on each Dask worker), default 4"
    )
    batch.add_argument("--split-lines", action="store_true", help="one request per line")
    executor_options(batch)
    batch.add_argument(
        "--shards",
        metavar="N",
        type=whole_number,
        help="dask: Dask workers to shard the objects across (default: every worker)",
    )
    batch.add_argument("--wait", action="store_true", help="wait for the job to end")
    batch.set_defaults(job_manager=None, on_log=None)
