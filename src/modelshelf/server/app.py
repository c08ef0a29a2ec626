"""The ``modelshelf`` jupyter_server extension: one store, its job and deployment managers,
and the REST handlers over them under ``/modelshelf/api``."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Integer, List, Unicode, default

from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs.manager import JobManager
from modelshelf.core.jobs.scheduler import Scheduler
from modelshelf.core.jobs.schedules import ScheduleManager
from modelshelf.core.sources.upload import UploadManager
from modelshelf.core.store import Shelf
from modelshelf.server import (
    handlers_deploy,
    handlers_jobs,
    handlers_models,
    handlers_schedules,
    handlers_tasks,
    handlers_uploads,
)
from modelshelf.server.tasks import TaskRunner

API_PREFIX = "/modelshelf/api"
ROUTES = [
    *handlers_models.ROUTES,
    *handlers_jobs.ROUTES,
    *handlers_deploy.ROUTES,
    *handlers_tasks.ROUTES,
    *handlers_schedules.ROUTES,
    *handlers_uploads.ROUTES,
]


class ModelshelfApp(ExtensionApp):
    """REST over the modelshelf store, jobs and deployments, for the JupyterLab sidebar.

    Configure it like any Jupyter server extension (``c.ModelshelfApp.root = "s3://..."``);
    the core's own settings (``c.Shelf.*``, ``c.JobManager.*``, ``c.DeploymentManager.*``)
    apply as well.
    """

    name = "modelshelf"
    load_other_extensions = True

    root = Unicode(
        None,
        allow_none=True,
        help="Store root (folder or URL); default c.Shelf.root, MODELSHELF_ROOT or ~/.modelshelf.",
    ).tag(config=True)
    storage_options = Dict(
        None, allow_none=True, help="fsspec storage options for the store root."
    ).tag(config=True)
    executor = Enum(
        ["local", "dask"], "local", help="Where jobs submitted from JupyterLab run."
    ).tag(config=True)
    source_roots = List(
        Unicode(),
        help="Server folders (besides the server's root) a REST client may save models from.",
    ).tag(config=True)
    run_scheduler = Bool(
        True,
        help="Fire the store's schedules from this server (any number of schedulers may run "
        "over one store: each run fires once). False leaves it to `modelshelf scheduler`.",
    ).tag(config=True)
    task_threads = Integer(4, help="Saves and deployments started over REST that run at once.").tag(
        config=True
    )

    @default("source_roots")
    def _default_source_roots(self) -> list[str]:
        roots = ["/opt/ml/models", "/opt/ml/output"]
        for variable in ("ML_MODEL_PATH", "ML_OUTPUT_PATH"):
            if os.environ.get(variable) and os.environ[variable] not in roots:
                roots.append(os.environ[variable])
        return roots

    def initialize_settings(self) -> None:
        self.shelf = Shelf(self.root, self.storage_options, config=self.config)
        self.jobs = JobManager(self.shelf, config=self.config, **self._job_pool_default())
        self.deployments = DeploymentManager(self.shelf, config=self.config)
        self.tasks = TaskRunner(self.task_threads)
        self.schedules = ScheduleManager(self.shelf, jobs=self.jobs, config=self.config)
        self.scheduler: Scheduler | None = None
        if self.run_scheduler:
            self.scheduler = Scheduler(self.schedules, config=self.config)
            self.scheduler.start()
        self.uploads = UploadManager(self.shelf, config=self.config)
        self.settings["modelshelf"] = self
        self.log.info("modelshelf: store %s", self.shelf.backend.url)

    def _job_pool_default(self) -> dict[str, int]:
        """The server is the long-lived process a kernel pool needs: keep one runner and
        kernel ready unless ``c.JobManager.kernel_pool`` (or MODELSHELF_KERNEL_POOL) says."""
        configured = "kernel_pool" in self.config.get("JobManager", {})
        return {} if configured or os.environ.get("MODELSHELF_KERNEL_POOL") else {"kernel_pool": 1}

    @property
    def root_dir(self) -> str:
        """The folder JupyterLab's file browser shows; notebook paths are relative to it."""
        return os.path.realpath(os.path.expanduser(self.serverapp.root_dir))

    def initialize_handlers(self) -> None:
        self.handlers.extend((API_PREFIX + pattern, handler) for pattern, handler in ROUTES)

    async def stop_extension(self) -> None:
        # Jobs and deployments run in their own processes and outlive the server on purpose;
        # only this process's handles close.
        if self.scheduler is not None:
            self.scheduler.stop()
        self.tasks.close()
        self.schedules.close()
        self.uploads.close()
        self.jobs.close()
        self.deployments.close()
        self.shelf.close()


def extension_points() -> list[dict[str, Any]]:
    return [{"module": "modelshelf.server.app", "app": ModelshelfApp}]
