"""Deploy models from the store as HTTP endpoints; list, describe, invoke and stop them."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from traitlets import Bool, CaselessStrEnum, Float, Integer, List, Unicode, default
from traitlets.config import Configurable

from modelshelf.core.deploy.batching import BatchSettings
from modelshelf.core.deploy.client import ping
from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.deployment_book import (
    FAILED,
    MODES,
    READY,
    STARTING,
    STOPPED,
    DeploymentBook,
    DeploymentRecord,
)
from modelshelf.core.deploy.gateway_process import ensure_gateway, stop_gateway
from modelshelf.core.deploy.handler_service import HandlerSpec, parse_handler
from modelshelf.core.deploy.installers import (
    AUTO,
    ENV_MANAGERS,
    InstallOptions,
    checked_env_manager,
    checked_find_links,
)
from modelshelf.core.deploy.scaling import ScalingPolicy, WorkerRange
from modelshelf.core.deploy.server_config import (
    died,
    launch_server,
    model_data_config,
    server_config,
)
from modelshelf.core.deploy.server_options import ServerOptions, checked_env
from modelshelf.core.deploy.serving_python import ServingPython, for_deployment
from modelshelf.core.deploy.store_models import DEFAULT_MODEL_ROOTS
from modelshelf.core.errors import DeploymentError
from modelshelf.core.names import validate_name
from modelshelf.core.processes import free_port as _free_port  # a name tests replace
from modelshelf.core.processes import pid_alive, stop_session
from modelshelf.core.sources.tree import expand_local
from modelshelf.core.store import Lease, ModelVersion, Shelf
from modelshelf.core.store.expiring import HOST

log = logging.getLogger(__name__)

_POLL = 0.05
# How many free ports a deployment tries when another process takes the one picked.
PORT_ATTEMPTS = 3


class DeploymentManager(Configurable):
    """Deployments of one store: records in SQLite, one server process each."""

    host = Unicode("127.0.0.1", help="Address servers bind to (loopback by default).").tag(
        config=True
    )
    max_body = Unicode("6MB", help="Largest request body; bigger ones get 413.").tag(config=True)
    ready_timeout = Integer(120, help="Seconds to wait for a deployment's health check.").tag(
        config=True
    )
    deployments_root = Unicode(help="Folder holding each deployment's files.").tag(config=True)
    gateway_port = Integer(
        0, help="Port of the SageMaker runtime gateway for all deployments (0: a free one)."
    ).tag(config=True)
    env_manager = CaselessStrEnum(
        list(ENV_MANAGERS),
        default_value=AUTO,
        help="How a model folder's requirements.txt is served: auto (its own environment "
        "only when this interpreter lacks what it names), uv, virtualenv, or local (ignored).",
    ).tag(config=True)
    find_links = List(
        Unicode(), help="Wheel folders or URLs the environments' installers look in."
    ).tag(config=True)
    offline = Bool(
        False, help="Install environments from find_links only, never from a package index."
    ).tag(config=True)
    environments_root = Unicode(help="Folder holding the models' environments.").tag(config=True)
    # A deployment with a range of workers (deploy's min_workers/max_workers): scaling.py.
    scale_up_after = Float(3.0, help="Seconds requests queue before workers are added.").tag(
        config=True
    )
    scale_down_after = Float(30.0, help="Idle seconds before workers are stopped.").tag(config=True)
    target_in_flight = Float(1.0, help="Requests in flight per worker aimed at.").tag(config=True)

    def __init__(self, shelf: Shelf | None = None, **kwargs: Any) -> None:
        self.shelf = shelf if shelf is not None else Shelf()
        super().__init__(**kwargs)
        self.book = DeploymentBook(os.path.join(self.shelf.state_dir, "deployments.sqlite"))

    @default("deployments_root")
    def _default_root(self) -> str:
        return os.path.join(self.shelf.state_dir, "deployments")

    @default("environments_root")
    def _default_environments(self) -> str:
        return os.path.join(self.shelf.state_dir, "environments")

    def close(self) -> None:
        self.book.close()

    def deploy(
        self,
        refs: str | list[str] | None,
        mode: str = "realtime",
        *,
        name: str | None = None,
        port: int | None = None,
        workers: int | None = None,
        min_workers: int | None = None,
        max_workers: int | None = None,
        token: str | None = None,
        max_body: int | str | None = None,
        max_models: int = 0,
        memory_budget: int | str = 0,
        output_location: str | None = None,
        handler: str | HandlerSpec | None = None,
        env: Mapping[str, str] | None = None,
        model_data: str | None = None,
        model_data_options: dict[str, Any] | None = None,
        model_data_cache: int | str = 0,
        batch_size: int = 1,
        max_batch_delay: float | str = "10ms",
        env_manager: str | None = None,
        find_links: list[str] | None = None,
        offline: bool | None = None,
        model_roots: Sequence[str] | None = None,
        wait: bool = True,
    ) -> Deployment:
        """Serve ``refs`` (one ref, or several for a multi-model endpoint) over HTTP.

        ``workers=N`` runs N server processes; ``min_workers`` and ``max_workers`` a range
        the deployment scales in with its load (:attr:`scale_up_after`,
        :attr:`scale_down_after`, :attr:`target_in_flight`; see :mod:`.supervisor`).

        ``handler`` (``"path/model_handler.py:handle"``) is a Multi Model Server handler
        service that serves every model of the endpoint instead of the models' own serving
        code; ``env`` are variables set for the server process (what a handler reads). As
        in a SageMaker container, ``SAGEMAKER_PROGRAM`` names the inference script and
        ``SAGEMAKER_SUBMIT_DIRECTORY`` (a folder, or an archive or file, local or at a URL,
        extracted once here) holds the endpoint's, which serves every model without its own.
        ``model_roots`` (multi only; default ``/opt/ml/model`` and ``/opt/ml/models``, as
        SageMaker hands a container its models) are the folders under which
        ``POST /models`` may name a local model folder, served in place.
        ``model_data`` (multi only: a folder or fsspec URL prefix, read with
        ``model_data_options``, else the store's own) serves each key under it as a model,
        ``TargetModel="DocSim-3.tar.gz"``, extracted into a disk cache of at most
        ``model_data_cache`` (e.g. ``"10GB"``; 0: unbounded); see :mod:`.model_data`.
        ``batch_size`` > 1 answers up to that many concurrent requests in one call of a
        model that takes batches (a handler service, serve.py's ``predict_batch``), a batch
        filling behind a running call waiting at most ``max_batch_delay``; see
        :mod:`.batching`.
        A folder's ``requirements.txt`` (``code/requirements.txt``, MLflow's
        ``python_env.yaml``) is served as ``env_manager`` says (``auto``, ``uv``,
        ``virtualenv``, ``local``; default :attr:`env_manager`), its environment installed
        from ``find_links`` wheel folders too, and from them only when ``offline``; see
        :mod:`.serving_python`. A library that cannot be installed raises
        EnvironmentBuildError before any server starts.
        Returns once the server answers its health check (``ready``), or with ``failed``
        and the serving code's traceback if the model cannot be loaded.
        """
        if mode not in MODES:
            raise DeploymentError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        refs = [refs] if isinstance(refs, str) else list(refs or [])
        if mode != "multi" and len(refs) != 1:
            raise DeploymentError(f"a {mode} deployment serves exactly one model ref")
        span = WorkerRange.of(workers, min_workers, max_workers, mode=mode)
        scaling = ScalingPolicy.checked(
            span, self.scale_up_after, self.scale_down_after, self.target_in_flight
        )
        service = parse_handler(handler) if handler is not None else None
        batching = BatchSettings.of(batch_size, max_batch_delay)
        variables = checked_env(env)
        prefix = None
        if model_data is not None:
            if mode != "multi" or span.max != 1:
                raise DeploymentError(
                    "model_data is for a multi-model deployment of one worker process "
                    "(its disk cache belongs to the process)"
                )
            prefix = model_data_config(self.shelf, model_data, model_data_options, model_data_cache)
        manager = checked_env_manager(env_manager or self.env_manager)
        links = checked_find_links([*self.find_links, *(find_links or [])])
        install = InstallOptions(links, self.offline if offline is None else bool(offline))
        if model_roots is not None and mode != "multi":
            raise DeploymentError("model_roots is for a multi-model deployment (mode='multi')")
        roots = model_roots if model_roots is not None else DEFAULT_MODEL_ROOTS
        folders = tuple(expand_local(root) for root in roots) if mode == "multi" else ()
        versions = [self.shelf.show(ref) for ref in refs]
        name = validate_name(name or (versions[0].name if mode != "multi" else "multi-model"))
        options = ServerOptions(
            token, max_body, max_models, memory_budget, output_location, service, variables,
            prefix, folders, manager, install, batching, scaling,
        )  # fmt: skip
        # A port we pick is free when picked, but another process may bind it before the
        # server does: then pick another, a few times. A port the user chose is theirs.
        for _ in range(PORT_ATTEMPTS if port is None else 1):
            chosen = port or _free_port(self.host)
            record = self._record(name, mode, versions, chosen, span.min, options.serving())
            deployment = self._start(record, versions, chosen, options)
            if not wait:
                return deployment
            deployment = deployment.wait_ready(self.ready_timeout)
            if deployment.status == READY:
                self._start_gateway()
            if port is not None or not _lost_port_race(deployment):
                return deployment
        message = (
            f"deployment {name!r} failed: each of the {PORT_ATTEMPTS} free ports picked for it "
            "was taken by another process before its server could bind it; choose a port "
            "(port=..., or --port on the command line) or free some ports, then deploy again"
        )
        self.book.update(name, error=message)
        raise DeploymentError(message)

    def _record(
        self,
        name: str,
        mode: str,
        versions: list[ModelVersion],
        port: int,
        workers: int,
        serving: dict[str, Any],
    ) -> DeploymentRecord:
        return DeploymentRecord(
            name=name,
            mode=mode,
            status=STARTING,
            refs=[v.ref for v in versions],
            url=f"http://{self.host}:{port}",
            folder=os.path.join(self.deployments_root, name),
            workers=workers,
            created_at=time.time(),
            serving=serving,
        )

    def _start(
        self,
        record: DeploymentRecord,
        versions: list[ModelVersion],
        port: int,
        options: ServerOptions,
    ) -> Deployment:
        """Claim the name, lease the versions and launch the server process."""
        if not self.book.claim(record):
            name = record.name
            raise DeploymentError(f"a deployment named {name!r} is already running; stop it first")
        try:
            leases = [self.shelf.lease(v.ref, owner=f"deployment {record.name}") for v in versions]
            self.book.update(record.name, leases=[asdict(lease) for lease in leases])
            config = server_config(self, record, versions, port, leases, options)
            python = self._serving_python(record, versions, config, options)
            launch_server(
                self.book, record, config, {**options.env, **python.variables}, python.python
            )
        except BaseException as exc:
            self._end(record.name, FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        return self.get(record.name)

    def _serving_python(
        self,
        record: DeploymentRecord,
        versions: list[ModelVersion],
        config: dict[str, Any],
        options: ServerOptions,
    ) -> ServingPython:
        """The server's interpreter, its environment built now if the models need one."""
        python = for_deployment(self.shelf, versions, config, self.environments_root, options)
        if python.facts:
            self.book.update(record.name, serving={**record.serving, "python_env": python.facts})
        return python

    # ---- one address for all: the SageMaker runtime gateway ------------------------------

    def runtime_url(self) -> str:
        """The address answering ``/endpoints/{name}/invocations`` for every deployment of
        this store (``boto3.client("sagemaker-runtime", endpoint_url=...)``); started if
        it does not run yet."""
        book = self.book.path
        return ensure_gateway(self.shelf.state_dir, book, self.host, self.gateway_port).url

    def _start_gateway(self) -> None:
        # Started with the first deployment, so a SageMaker client finds it; a gateway that
        # cannot start leaves the deployment itself serving on its own address.
        try:
            self.runtime_url()
        except DeploymentError:
            log.warning("the SageMaker runtime gateway did not start", exc_info=True)

    # ---- watching -------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        """The deployment called ``name`` (a dead server marks it failed)."""
        return Deployment(self, self._reconciled(self.book.get(name)))

    def list(self, include_stopped: bool = False, mode: str | None = None) -> list[Deployment]:
        """The deployments (only those of ``mode``: realtime, multi or async, when given)."""
        if mode is not None and mode not in MODES:
            raise DeploymentError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        records = [r for r in self.book.list(include_stopped) if mode in (None, r.mode)]
        return [Deployment(self, self._reconciled(r)) for r in records]

    deployments = list

    def describe(self, name: str) -> dict[str, Any]:
        return self.get(name).describe()

    def logs(self, name: str) -> str:
        return self.get(name).logs()

    def invoke(self, name: str, payload: Any, content_type: str | None = None, **kw: Any) -> Any:
        """Send one request to the deployment ``name``; see :meth:`Deployment.invoke`."""
        return self.get(name).invoke(payload, content_type, **kw)

    def batch(
        self,
        ref: str,
        input: str,
        output: str,
        *,
        workers: int = 4,
        split_lines: bool = False,
        executor: str = "local",
        scheduler: str | None = None,
        shards: int | None = None,
    ) -> Any:
        """Apply ``ref`` to every object under ``input`` as a job; returns the Job.

        ``executor="dask"`` shards the objects across the workers of the Dask cluster at
        ``scheduler`` (``shards`` of them, default all), as the jobs' Dask executor runs."""
        from modelshelf.core.deploy.batch import submit_batch_job
        from modelshelf.core.jobs import JobManager

        return submit_batch_job(
            JobManager(self.shelf), ref, input, output, workers=workers,
            split_lines=split_lines, executor=executor, scheduler=scheduler, shards=shards,
        )  # fmt: skip

    def _reconciled(self, record: DeploymentRecord) -> DeploymentRecord:
        if not record.live or record.host != HOST or not record.pid or pid_alive(record.pid):
            return record
        log_path = os.path.join(record.folder, "server.log")
        self._end(record.name, FAILED, error=died(log_path))
        return self.book.get(record.name)

    def check(self, name: str) -> DeploymentRecord:
        """Ask a starting deployment's server whether the model is loaded; record the answer."""
        record = self._reconciled(self.book.get(name))
        if record.status != STARTING:
            return record
        status, body = ping(record.url)
        if status == 200:
            self.book.update(name, status=READY, ready_at=time.time())
        elif status == 500:
            # The model failed to load: keep why, and the traceback of the user's serving code
            # when theirs failed (the server sends none for modelshelf's own), stop the server.
            self.stop(name, status=FAILED, error=body.get("error") or "the model failed to load",
                      traceback=body.get("traceback") or None)  # fmt: skip
        return self.book.get(name)

    # ---- stopping -------------------------------------------------------------------------

    def stop(self, name: str, *, status: str = STOPPED, **why: Any) -> Deployment:
        """Stop the server (every worker process) and release the deployment's leases."""
        record = self.book.get(name)
        if record.pid and record.host == HOST:
            stop_session(record.pid)
        self._end(name, status, **why)
        if not any(d.status in (STARTING, READY) for d in self.list()):
            stop_gateway(self.shelf.state_dir)  # the last deployment is gone
        return self.get(name)

    def _end(self, name: str, status: str, **fields: Any) -> None:
        record = self.book.get(name)
        for saved in record.leases:
            lease = Lease(**saved)
            try:
                self.shelf.leases.release(lease)
            except Exception:  # it expires by itself; the deployment still ends
                log.warning("could not release the lease on %s", lease.ref, exc_info=True)
        self.book.update(name, status=status, stopped_at=time.time(), leases=[], **fields)


def _lost_port_race(deployment: Deployment) -> bool:
    """True when the server died at start because its port was already in use."""
    return deployment.status == FAILED and "address already in use" in (deployment.error or "")
