"""Running one job once its slot is taken: inputs in, workers run, outputs kept, end recorded.

Whatever happens, the record ends in a final state and no worker process is left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelshelf.core.jobs.job_book import CANCELLED, FAILED, SUCCEEDED, JobBook, JobRecord
from modelshelf.core.jobs.outputs import (
    results_summary,
    run_key,
    save_worker_output,
    upload_worker_files,
)
from modelshelf.core.jobs.pipelines.records import prepare_eval_data, record_evaluation
from modelshelf.core.jobs.programs import place_package
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.worker_process import WorkerOutcome, WorkerProcess
from modelshelf.core.jobs.workspace import worker_paths
from modelshelf.core.renewal import Renewer
from modelshelf.core.sources import copy_source
from modelshelf.core.store import Lease, Shelf

_STOP_POLL = 0.25

log = logging.getLogger(__name__)


def log_line(path: str, message: str) -> None:
    """Append a runner message to a job log, timestamped like papermill's lines."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    with open(path, "a") as fh:
        fh.write(f"{stamp} modelshelf: {message}\n")


def stop_checker(book: JobBook, job_id: str) -> Callable[[], bool]:
    """A cheap ``should_stop()``: reads the record at most every quarter second."""
    state = {"at": 0.0, "stop": False}
    lock = threading.Lock()

    def should_stop() -> bool:
        with lock:
            now = time.monotonic()
            if not state["stop"] and now - state["at"] >= _STOP_POLL:
                state["at"] = now
                state["stop"] = book.get(job_id).status == CANCELLED
            return state["stop"]

    return should_stop


@contextlib.contextmanager
def held_lease(shelf: Shelf, ref: str | None, owner: str) -> Iterator[Lease | None]:
    """Lease the input model for the life of the job, renewing it in the background."""
    if ref is None:
        yield None
        return
    ttl = 300.0
    lease = shelf.lease(ref, owner=owner, ttl=ttl)
    renewer = Renewer(ttl / 3, name=f"lease renewal ({owner})")
    shelf.leases.keep_renewed(renewer, lease, ttl)
    try:
        with renewer:
            yield lease
    finally:
        shelf.leases.release(lease)  # after the renewer stopped: nothing renews it any more


def prepare_data(shelf: Shelf, spec: JobSpec, job_id: str, data_dir: str) -> dict | None:
    """Copy the job's data in; return its dataset record (ref and content hash)."""
    if spec.data is None:
        return None
    copy_source(spec.data, data_dir, shelf.storage_options or None)
    record = shelf.fingerprint(data_dir)
    record["ref"] = spec.data
    if spec.save_training_data:
        saved = shelf.save(
            f"Job - {spec.name} Data",
            data_dir,
            message=f"training data of job {spec.name} ({job_id})",
            job={"id": job_id, "name": spec.name},
        )
        record["model"] = saved.ref
    return record


def run_locally(
    shelf: Shelf, spec: JobSpec, processes: list[WorkerProcess], should_stop
) -> list[WorkerOutcome]:
    """Copy the input model to every worker, then let them all run and wait for them."""
    for process in processes:  # a pipeline's package first: the input model lands over it
        place_package(spec, process.paths)
    if spec.model:
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            list(pool.map(lambda p: shelf.load(spec.model, p.paths.models), processes))
    for process in processes:
        process.release()
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        return list(pool.map(lambda p: p.supervise(spec.timeout, should_stop), processes))


def execute_job(
    shelf: Shelf, book: JobBook, record: JobRecord, processes: list[WorkerProcess]
) -> None:
    """Run a job whose slot is taken, and record its end.

    ``processes`` are the local executors started early by the runner (none on Dask); they
    are either released and supervised here, or abandoned if the inputs cannot be prepared.
    """
    spec = JobSpec.from_dict(record.spec)
    job_log = os.path.join(record.workspace, "job.log")
    if processes:
        workers = [p.paths for p in processes]
    else:
        workers = [
            worker_paths(record.workspace, n, spec.workers).create()
            for n in range(1, spec.workers + 1)
        ]
    started = time.time()
    should_stop = stop_checker(book, record.id)
    status, error, outputs, dataset, scored = FAILED, None, [], None, None
    try:
        with held_lease(shelf, spec.model, owner=f"job {spec.name} ({record.id})"):
            log_line(job_log, f"job {spec.name} ({record.id}) started")
            dataset = prepare_data(shelf, spec, record.id, workers[0].data)
            prepare_eval_data(shelf, spec, workers[0])
            if spec.executor == "dask":
                from modelshelf.core.jobs.dask_executor import run_on_dask

                outcomes, outputs = run_on_dask(
                    shelf, spec, record.id, dataset, workers[0].data, should_stop
                )
            else:
                outcomes = run_locally(shelf, spec, processes, should_stop)
                processes = []
            log_line(job_log, f"the {spec.kind} finished: " + ", ".join(o.status for o in outcomes))
            status, error = _overall(outcomes)
            if spec.executor != "dask":
                executed = [upload_worker_files(shelf, record.id, p) for p in workers]
                if status == SUCCEEDED:
                    for paths, key in zip(workers, executed, strict=True):
                        ref = save_worker_output(shelf, spec, record.id, paths, dataset, key)
                        if ref:
                            outputs.append(ref)
            for ref in outputs:
                log_line(job_log, f"saved the output as {ref}")
            if status == SUCCEEDED:
                scored = record_evaluation(shelf, spec, record.id, workers[0], outputs, dataset)
    except BaseException as exc:
        status, error = FAILED, f"{type(exc).__name__}: {exc}"
        log_line(job_log, "the job failed:\n" + "".join(traceback.format_exception(exc)))
        for process in processes:  # never released: their inputs could not be prepared
            process.abandon()
    ended = time.time()
    version = int(spec.model.rsplit(":", 1)[1]) if spec.model else None
    results = results_summary(
        spec,
        record.id,
        status=status,
        started_at=started,
        ended_at=ended,
        model_version=version,
        dataset=dataset,
        outputs=outputs,
        artifacts=[w.artifacts for w in workers],
        error=error,
    )
    if scored is not None:
        results["run_summary"]["outputs"]["evaluation"] = scored
    _write_results(shelf, record, results)
    log_line(job_log, f"job {status}" + (f": {error}" if error else ""))
    book.finish(record.id, status, error=error, results=results, outputs=outputs)


def _overall(outcomes: list[WorkerOutcome]) -> tuple[str, str | None]:
    if any(o.status == CANCELLED for o in outcomes):
        return CANCELLED, "cancelled by the user"
    failed = [o for o in outcomes if o.status != SUCCEEDED]
    if not failed:
        return SUCCEEDED, None
    if len(outcomes) == 1:
        return FAILED, failed[0].error
    return FAILED, "; ".join(f"worker {o.index}: {o.error}" for o in failed)


def _write_results(shelf: Shelf, record: JobRecord, results: dict[str, Any]) -> None:
    body = json.dumps(results, indent=2)
    with open(os.path.join(record.workspace, "_results.json"), "w") as fh:
        fh.write(body)
    try:
        shelf.backend.write(run_key(record.id, "_results.json"), body.encode())
    except Exception:  # the local copy and the job's record are enough to go on
        log.warning("could not copy the results of job %s to the store", record.id, exc_info=True)
