"""Run a job's workers as tasks on a ``dask.distributed`` cluster.

Everything travels through the (shared) store, never through the client's disk: the notebook
snapshot, the input model, the job's data (staged once as blobs), and back the executed
notebooks, logs, artifacts and outputs. A worker task stages its output as blobs; the runner
commits the output models only when every worker has succeeded, so a failed job creates no
model even when some of its workers finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from modelshelf.core.errors import JobError, MissingDependencyError
from modelshelf.core.jobs.outputs import (
    copy_to_url,
    output_lineage,
    output_model_name,
    run_key,
    upload_worker_files,
)
from modelshelf.core.jobs.programs import SNAPSHOTS, worker_command
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.worker_process import WorkerOutcome, run_worker
from modelshelf.core.jobs.workspace import job_environment, worker_paths
from modelshelf.core.store import Shelf, StagedFiles

_POLL = 0.25
_CANCEL_POLL = 0.5

log = logging.getLogger(__name__)


def _cancel_marker(job_id: str) -> str:
    return run_key(job_id, "cancel")


def run_on_dask(
    shelf: Shelf,
    spec: JobSpec,
    job_id: str,
    dataset: dict[str, Any] | None,
    data_dir: str,
    should_stop: Callable[[], bool],
) -> tuple[list[WorkerOutcome], list[str]]:
    """Run the job's workers on the cluster at ``spec.scheduler``; return outcomes and the
    refs of the output models (committed only if every worker succeeded)."""
    from distributed import Client

    # Held from the workers' staging to the commit, so gc cannot take staged blobs.
    with shelf.locks.shared(f"job {spec.name} ({job_id})"):
        data = shelf.stage(data_dir) if spec.data is not None else None
        with Client(spec.scheduler, timeout="30s", set_as_default=False) as client:
            futures = [
                client.submit(
                    run_worker_task,
                    job_id,
                    index,
                    spec.workers,
                    spec.to_dict(),
                    shelf.backend.url,
                    shelf.storage_options or None,
                    data,
                    key=f"modelshelf-{job_id}-worker-{index}",
                    pure=False,
                )
                for index in range(1, spec.workers + 1)
            ]
            cancelled = False
            while not all(f.done() for f in futures):
                if not cancelled and should_stop():
                    cancelled = True
                    shelf.backend.write(_cancel_marker(job_id), b"cancelled")
                time.sleep(_POLL)
            results = [_result(index, future) for index, future in enumerate(futures, 1)]
        outcomes = [outcome for outcome, _ in results]
        if any(o.status != "succeeded" for o in outcomes) or spec.output != "model":
            return outcomes, [staged for _, staged in results if isinstance(staged, str)]
        refs = []
        for index, (_, staged) in enumerate(results, 1):
            lineage = output_lineage(spec, job_id, index, spec.workers, dataset, staged["executed"])
            name = output_model_name(spec.name, index, spec.workers)
            refs.append(shelf.commit(name, staged["files"], **lineage).ref)
        return outcomes, refs


def _result(index: int, future: Any) -> tuple[WorkerOutcome, Any]:
    try:
        body = future.result()
    except Exception as exc:  # the task itself failed (store unreachable, worker died, ...)
        return WorkerOutcome(index, "failed", f"the Dask task failed: {exc}"), None
    return WorkerOutcome(**body["outcome"]), body.get("output")


def run_worker_task(
    job_id: str,
    index: int,
    count: int,
    spec_dict: dict[str, Any],
    root: str,
    storage_options: dict | None,
    data: StagedFiles | None,
) -> dict[str, Any]:
    """One worker of a job, on a Dask worker: fetch inputs from the store, run, stage output."""
    spec = JobSpec.from_dict(spec_dict)
    shelf = Shelf(root, storage_options=storage_options)
    workspace = tempfile.mkdtemp(prefix=f"modelshelf-{job_id}-{index}-")
    try:
        paths = worker_paths(workspace, index, count).create()
        snapshot = SNAPSHOTS[spec.kind]  # the notebook or the script (pipelines run locally)
        with open(os.path.join(workspace, snapshot), "wb") as fh:
            fh.write(shelf.backend.read_bytes(run_key(job_id, snapshot)))
        if spec.model:
            shelf.load(spec.model, paths.models)
        if data is not None:
            shelf.materialize(data, paths.data)
        env = job_environment(paths, spec, job_id)
        outcome = run_worker(
            paths,
            env,
            parameters=spec.parameters,
            kernel=spec.kernel,
            timeout=spec.timeout,
            should_stop=_store_flag(shelf, _cancel_marker(job_id)),
            command=worker_command(spec, paths),
        )
        executed = upload_worker_files(shelf, job_id, paths)
        output: Any = None
        if outcome.status == "succeeded" and spec.output == "model":
            output = {"files": shelf.stage(paths.models), "executed": executed}
        elif outcome.status == "succeeded" and spec.output:
            output = copy_to_url(paths.output, spec.output, paths, shelf)
        return {"outcome": asdict(outcome), "output": output}
    finally:
        shelf.close()
        shutil.rmtree(workspace, ignore_errors=True)


def _store_flag(shelf: Shelf, key: str) -> Callable[[], bool]:
    """``should_stop`` for a remote worker: has the runner written the cancel marker?"""
    state = {"at": 0.0, "set": False, "failing": False}

    def check() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["at"] >= _CANCEL_POLL:
            state["at"] = now
            try:
                state["set"] = shelf.backend.exists(key)
                state["failing"] = False
            except Exception:
                # A store that blips must not fail the job: the next poll asks again. Logged
                # once per outage (a poll every 0.5 s), as a cancel cannot reach us meanwhile.
                if not state["failing"]:
                    log.warning(
                        "cannot read the cancel marker %s from the store: a cancel of this "
                        "job does not reach this worker until the store answers again",
                        key,
                        exc_info=True,
                    )
                state["failing"] = True
        return state["set"]

    return check


def check_dask_ready(shelf: Shelf, scheduler: str | None) -> str:
    """The scheduler address, once sure Dask workers can run for ``shelf``: dask.distributed
    installed, an address given, and a store the workers can read (not this machine's)."""
    if not dask_available():
        raise MissingDependencyError(
            "executor='dask' needs dask.distributed: pip install 'modelshelf[dask]'"
        )
    if not scheduler:
        raise JobError(
            "executor='dask' needs a scheduler address: pass scheduler=, set "
            "c.JobManager.dask_scheduler or MODELSHELF_DASK_SCHEDULER"
        )
    url = shelf.backend.url
    if url.startswith("memory://") or (shelf.backend.is_local and not shelf.shared):
        raise JobError(
            f"the store {url} is local to this machine, so Dask workers cannot read it: "
            "use a shared store (s3://, gs://, az://) or, for a network folder mounted at "
            "the same path everywhere, set c.Shelf.shared = True"
        )
    return scheduler


def dask_available() -> bool:
    """True when ``distributed`` is installed."""
    with contextlib.suppress(ImportError):
        import distributed  # noqa: F401

        return True
    return False
