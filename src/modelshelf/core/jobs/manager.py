"""Submit notebooks as jobs, and find, watch, cancel, rerun and prune them."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

from traitlets import Integer, Unicode, default, observe
from traitlets.config import Configurable

from modelshelf.core.errors import JobError, PipelineError, SourceError
from modelshelf.core.jobs.job import Job
from modelshelf.core.jobs.job_book import (
    CANCELLED,
    FAILED,
    FINISHED,
    QUEUED,
    JobBook,
    JobRecord,
    new_job_id,
)
from modelshelf.core.jobs.outputs import output_model_name, run_key
from modelshelf.core.jobs.parameters import (
    check_parameters,
    effective_parameters,
    notebook_parameters,
)
from modelshelf.core.jobs.programs import (
    DATALOOP,
    NOTEBOOK,
    SCRIPT,
    SNAPSHOTS,
    UIPATH,
    check_pipeline,
    program_kind,
    script_parameters,
    snapshot_files,
    snapshot_program,
)
from modelshelf.core.jobs.snapshots import fetch_snapshot, snapshot_content
from modelshelf.core.jobs.spec import EXECUTORS, JobSpec
from modelshelf.core.names import validate_name
from modelshelf.core.processes import launch_detached, pid_alive
from modelshelf.core.sizes import parse_duration
from modelshelf.core.sources.tree import URL_PATTERN, expand_local
from modelshelf.core.store import Shelf
from modelshelf.core.store.expiring import HOST

if TYPE_CHECKING:
    from modelshelf.core.jobs.kernel_pool import KernelPool


NATIVE_KERNEL = "python3"  # the kernel pooled runners start (jupyter_client's native one)


class JobManager(Configurable):
    """Jobs of one store: records in SQLite beside its local state, runs in workspaces."""

    max_concurrent_jobs = Integer(
        help="Jobs running at once on this machine; the rest wait queued (0: no limit)."
    ).tag(config=True)
    dask_scheduler = Unicode(
        None, allow_none=True, help="Address of the Dask scheduler for executor='dask'."
    ).tag(config=True)
    workspace_root = Unicode(help="Folder holding job workspaces.").tag(config=True)
    kernel_pool = Integer(
        help="Job runners kept ready by this process, each with a started kernel, so that a "
        "job starts at once (0: none). Each costs an idle runner and kernel (about 140 MB); "
        "they die with this process, so a pool only helps a long-lived one (the Jupyter "
        "server, a notebook's kernel), never the CLI. See core/jobs/kernel_pool.py."
    ).tag(config=True)

    def __init__(self, shelf: Shelf | None = None, **kwargs: Any) -> None:
        self.shelf = shelf if shelf is not None else Shelf()
        super().__init__(**kwargs)
        self.book = JobBook(os.path.join(self.shelf.state_dir, "jobs.sqlite"))
        self.pool: KernelPool | None = None
        self._size_pool({"new": self.kernel_pool})

    @default("max_concurrent_jobs")
    def _default_limit(self) -> int:
        return int(os.environ.get("MODELSHELF_MAX_CONCURRENT_JOBS") or (os.cpu_count() or 2))

    @default("dask_scheduler")
    def _default_scheduler(self) -> str | None:
        return os.environ.get("MODELSHELF_DASK_SCHEDULER") or None

    @default("workspace_root")
    def _default_workspaces(self) -> str:
        return os.path.join(self.shelf.state_dir, "jobs")

    @default("kernel_pool")
    def _default_pool(self) -> int:
        # 0 unless asked: the manager cannot tell whether its process lives long enough.
        return int(os.environ.get("MODELSHELF_KERNEL_POOL") or 0)

    @observe("kernel_pool")
    def _size_pool(self, change: Any) -> None:
        if not hasattr(self, "book"):
            return  # set by the constructor's config: sized once the book is open
        size = max(0, int(change["new"]))
        if self.pool is not None:
            self.pool.resize(size)
        elif size:
            from modelshelf.core.jobs.kernel_pool import KernelPool

            self.pool = KernelPool(
                size,
                db_path=self.book.path,
                kernel=NATIVE_KERNEL,
                cwd=os.path.join(self.workspace_root, "pool"),
                log_path=os.path.join(self.shelf.state_dir, "kernel-pool.log"),
                runner_env=self._runner_env,
            )

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self.book.close()

    # ---- submitting ---------------------------------------------------------------------

    def submit(
        self,
        notebook: str | os.PathLike,
        *,
        name: str | None = None,
        parameters: dict[str, Any] | None = None,
        model: str | None = None,
        data: str | os.PathLike | None = None,
        output: str | None = "model",
        workers: int = 1,
        executor: str = "local",
        kernel: str | None = None,
        timeout: float | str | None = None,
        env: dict[str, str] | None = None,
        save_training_data: bool = False,
        scheduler: str | None = None,
        parameters_from_strings: bool = False,
        pipeline: str | None = None,
        eval_data: str | os.PathLike | None = None,
        _rerun_of: str | None = None,
        _import_from: str | None = None,
        _schedule: dict[str, Any] | None = None,
    ) -> Job:
        """Run ``notebook`` as a job in its own process; return at once with a :class:`Job`.

        Parameters are checked against the notebook's ``parameters`` cell first: an unknown
        name or a wrong type raises here instead of failing the job later. A ``.py`` file
        runs as a script (any parameters, as ``--name value`` and ``ML_PARAMETERS``); a
        package folder runs as a training ``pipeline`` (``train``, ``evaluate``, ``full``:
        see :mod:`modelshelf.core.jobs.programs`), ``eval_data`` being the full pipeline's
        evaluation data.
        """
        notebook = os.fspath(notebook)
        kind = program_kind(notebook, pipeline)
        check_pipeline(kind, pipeline, model=model, data=data, eval_data=eval_data, workers=workers)
        if kind in (UIPATH, DATALOOP) and executor != "local":
            raise PipelineError("training pipelines run on the local executor for now")
        if pipeline == "evaluate":
            output = None  # it scores a version; it makes none
        job_name = name or _stem(notebook)
        validate_name(output_model_name(job_name, 99, 99).replace(" Worker 99", ""))
        if not isinstance(workers, int) or workers < 1:
            raise JobError(f"workers must be a whole number of at least 1, not {workers!r}")
        if executor not in EXECUTORS:
            raise JobError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
        scheduler = scheduler or self.dask_scheduler
        if executor == "dask":
            from modelshelf.core.jobs.dask_executor import check_dask_ready

            check_dask_ready(self.shelf, scheduler)
        data = _checked_data(data, "data")
        eval_data = _checked_data(eval_data, "evaluation data")
        job_id = new_job_id()
        workspace = os.path.join(self.workspace_root, job_id)
        os.makedirs(workspace)
        try:
            if kind == NOTEBOOK:
                snapshot = snapshot_program(kind, notebook, workspace, self.shelf.storage_options)
                declared = notebook_parameters(snapshot)
                checked = check_parameters(
                    declared, dict(parameters or {}), from_strings=parameters_from_strings
                )
                effective = effective_parameters(declared, checked)
            else:
                snapshot = snapshot_program(kind, notebook, workspace, self.shelf.storage_options)
                effective = script_parameters(
                    dict(parameters or {}), from_strings=parameters_from_strings
                )
            spec = JobSpec(
                notebook=notebook if URL_PATTERN.match(notebook) else expand_local(notebook),
                name=job_name,
                parameters=effective,
                model=self.shelf.show(model).ref if model else None,
                data=data,
                output=output,
                workers=workers,
                executor=executor,
                kernel=kernel,
                timeout=parse_duration(timeout) if timeout is not None else None,
                env={k: str(v) for k, v in (env or {}).items()},
                save_training_data=save_training_data,
                scheduler=scheduler,
                rerun_of=_rerun_of,
                kind=kind,
                pipeline=pipeline,
                eval_data=eval_data,
                import_from=_import_from or _script_folder(kind, notebook),
                schedule=_schedule,
            )
            for local, key in snapshot_files(snapshot):
                with open(local, "rb") as fh:
                    self.shelf.backend.write(run_key(job_id, key), fh.read())
        except BaseException:
            shutil.rmtree(workspace, ignore_errors=True)
            raise
        self.book.insert(
            JobRecord(job_id, job_name, QUEUED, spec.to_dict(), workspace, time.time())
        )
        self._launch(job_id, workspace, spec)
        return self.get(job_id)

    def _runner_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MODELSHELF_ROOT": self.shelf.backend.url,
            "MODELSHELF_STORAGE_OPTIONS": json.dumps(self.shelf.storage_options or {}),
            "MODELSHELF_MAX_CONCURRENT_JOBS": str(self.max_concurrent_jobs),
        }

    def _launch(self, job_id: str, workspace: str, spec: JobSpec) -> None:
        env = self._runner_env()
        if self.pool is not None and self._hand_to_pool(job_id, workspace, spec, env):
            return
        runner = [sys.executable, "-m", "modelshelf.core.jobs.job_process", self.book.path, job_id]
        pid = launch_detached(runner, os.path.join(workspace, "runner.log"), env)
        self.book.set_runner(job_id, pid, HOST)

    def _hand_to_pool(self, job_id: str, workspace: str, spec: JobSpec, env: dict) -> bool:
        """Give the job to a pre-started runner if one fits it exactly; False: run it cold."""
        from modelshelf.core.jobs.workspace import launch_environment

        snapshot = os.path.join(workspace, "notebook.ipynb")
        runner = self.pool.take(spec, snapshot, launch_environment(env, spec))
        if runner is None or not runner.hand_over(job_id):
            return False
        self.book.set_runner(job_id, runner.pid, HOST)
        return True

    # ---- finding and watching -------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """The job with this id (its record refreshed; a dead runner marks it failed)."""
        return Job(self, self._reconciled(self.book.get(job_id)))

    def list(self, limit: int = 200, status: str | None = None) -> list[Job]:
        """Recent jobs, newest first."""
        return [Job(self, self._reconciled(r)) for r in self.book.list(limit, status)]

    def _reconciled(self, record: JobRecord) -> JobRecord:
        if record.status in FINISHED or record.runner_host != HOST or not record.runner_pid:
            return record
        if pid_alive(record.runner_pid):
            return record
        log = os.path.join(record.workspace, "runner.log")
        self.book.finish(
            record.id,
            FAILED,
            error=f"the job's runner (pid {record.runner_pid}) died; see {log}",
        )
        return self.book.get(record.id)

    def cancel(self, job_id: str, wait: float = 30.0) -> Job:
        """Stop a job: a queued one never starts, a running one has its kernel stopped."""
        record = self._reconciled(self.book.get(job_id))
        if record.finished:
            return Job(self, record)
        self.book.finish(job_id, CANCELLED, error="cancelled by the user")
        # The runner sees the cancel, stops the kernel and exits; wait so that "cancelled"
        # means the work has really stopped when this returns.
        if record.runner_host == HOST and record.runner_pid:
            deadline = time.monotonic() + wait
            while pid_alive(record.runner_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.get(job_id)

    def rerun(self, model_ref: str, **overrides: Any) -> Job:
        """Run again the job that produced a model version: same notebook snapshot,
        parameters, input model and data (``overrides`` may change any of them)."""
        version = self.shelf.show(model_ref)
        if not version.job or not version.job.get("snapshot"):
            raise JobError(f"{version.ref} was not produced by a job, so it cannot be rerun")
        job = version.job
        request = {
            "name": job.get("name"),
            "parameters": job.get("parameters") or {},
            "model": job.get("model"),
            "data": job.get("data"),
            "workers": int(job.get("workers") or 1),
            "kernel": job.get("kernel"),
            "executor": job.get("executor") or "local",
            "pipeline": job.get("pipeline"),
            "eval_data": job.get("eval_data"),
            "_import_from": job.get("import_from"),
            **overrides,
        }
        return self._submit_snapshot(job["snapshot"], version.ref, version.ref, request)

    def resubmit(self, job_id: str) -> Job:
        """Run a job again: what it ran as it was when submitted (the notebook, script or
        package snapshot), same parameters, inputs and settings (the job page's "Rerun";
        ``rerun`` starts from a model instead)."""
        job = self.get(job_id)
        spec = job.spec
        request = {
            "name": spec.name,
            "parameters": spec.parameters,
            "model": spec.model,
            "data": spec.data,
            "output": spec.output,
            "workers": spec.workers,
            "executor": spec.executor,
            "kernel": spec.kernel,
            "timeout": spec.timeout,
            "env": spec.env,
            "save_training_data": spec.save_training_data,
            "scheduler": spec.scheduler,
            "pipeline": spec.pipeline,
            "eval_data": spec.eval_data,
            "_import_from": spec.import_from,
        }
        key = run_key(job.id, SNAPSHOTS[spec.kind])
        return self._submit_snapshot(key, f"job {job.name} ({job.id})", f"job {job.id}", request)

    def _submit_snapshot(self, key: str, what: str, rerun_of: str, request: dict) -> Job:
        """Submit the snapshot kept at ``key`` in the store again, with ``request``."""
        try:
            content = snapshot_content(self.shelf.backend, key)
        except FileNotFoundError as exc:
            raise JobError(f"the snapshot of {what} is gone from the store ({key})") from exc
        staging_dir = os.path.join(self.workspace_root, f"rerun-{new_job_id()}")
        staging = fetch_snapshot(key, staging_dir, content)
        try:
            return self.submit(staging, _rerun_of=rerun_of, **request)
        finally:
            shutil.rmtree(staging_dir, ignore_errors=True)

    def prune(self, older_than: float | str = "7d") -> list[str]:
        """Remove the workspaces and records of jobs that ended before ``older_than`` ago.

        Models saved from those jobs stay, and so do their run files in the store.
        """
        cutoff = time.time() - parse_duration(older_than)
        removed = []
        for record in self.book.older_than(cutoff):
            shutil.rmtree(record.workspace, ignore_errors=True)
            self.book.delete(record.id)
            removed.append(record.id)
        return removed


def _stem(notebook: str) -> str:
    base = notebook.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".ipynb", ".py"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _script_folder(kind: str, program: str) -> str | None:
    if kind != SCRIPT or URL_PATTERN.match(program):
        return None
    return os.path.dirname(expand_local(program))


def _checked_data(data: str | os.PathLike | None, what: str) -> str | None:
    """A URL as given, or a local path expanded that must exist."""
    if data is None:
        return None
    data = os.fspath(data)
    if URL_PATTERN.match(data):
        return data
    data = expand_local(data)
    if not os.path.exists(data):
        raise SourceError(f"the job's {what} {data} does not exist")
    return data
