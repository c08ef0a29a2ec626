"""What a finished job leaves: output models with lineage, files in the store, ``_results.json``.

Run files live in the store under ``runs/<job id>/`` (the notebook snapshot, each worker's
executed notebook and log, ``_results.json``), so lineage outlives the local workspace and
any machine sharing the store can read it, and ``rerun`` works from a model alone.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import fsspec

from modelshelf.core.jobs.pipelines.records import score_metrics
from modelshelf.core.jobs.programs import NOTEBOOK, SNAPSHOTS
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import WorkerPaths
from modelshelf.core.store import ModelVersion, Shelf

RUNS = "runs"


def run_key(job_id: str, *parts: str) -> str:
    return "/".join((RUNS, job_id, *parts))


def output_model_name(job_name: str, index: int, count: int) -> str:
    """``Job - <job name>`` for one worker, ``Job - <job name> Worker <n>`` for several."""
    return f"Job - {job_name}" if count == 1 else f"Job - {job_name} Worker {index}"


def upload_run_file(shelf: Shelf, job_id: str, local_path: str, *name: str) -> str | None:
    """Copy a small run file into the store; return its key, or None if it does not exist."""
    if not os.path.exists(local_path):
        return None
    key = run_key(job_id, *name)
    with open(local_path, "rb") as fh:
        shelf.backend.write(key, fh.read())
    return key


def output_lineage(
    spec: JobSpec, job_id: str, index: int, count: int, dataset: dict | None, executed: str | None
) -> dict[str, Any]:
    """The lineage recorded on a job's output model (keyword arguments of save/commit)."""
    is_notebook = spec.kind == NOTEBOOK
    return {
        "parent": spec.model,
        "params": spec.parameters,
        "dataset": dataset,
        "message": f"output of job {spec.name} ({job_id})",
        "job": {
            "id": job_id,
            "name": spec.name,
            "worker": index,
            "workers": count,
            "notebook": spec.notebook,
            "kind": spec.kind,
            "pipeline": spec.pipeline,
            "eval_data": spec.eval_data,
            "import_from": spec.import_from,
            "snapshot": run_key(job_id, SNAPSHOTS[spec.kind]),
            # A script or pipeline has no executed notebook: its log is the record of the run.
            "executed_notebook": executed if is_notebook else None,
            "log": run_key(job_id, f"worker-{index}", "job.log"),
            "parameters": spec.parameters,
            "model": spec.model,
            "data": spec.data,
            "kernel": spec.kernel,
            "executor": spec.executor,
        },
        "notebook": spec.notebook if is_notebook else None,
    }


def upload_worker_files(shelf: Shelf, job_id: str, paths: WorkerPaths) -> str | None:
    """Keep a worker's executed notebook, log and artifacts in the store; return the
    executed notebook's key."""
    folder = f"worker-{paths.index}"
    executed = upload_run_file(shelf, job_id, paths.executed, folder, "executed.ipynb")
    upload_run_file(shelf, job_id, paths.log, folder, "job.log")
    for base, _, names in os.walk(paths.artifacts):
        for name in names:
            local = os.path.join(base, name)
            relative = os.path.relpath(local, paths.artifacts).replace(os.sep, "/")
            upload_run_file(shelf, job_id, local, folder, "artifacts", relative)
    return executed


def save_worker_output(
    shelf: Shelf,
    spec: JobSpec,
    job_id: str,
    paths: WorkerPaths,
    dataset: dict[str, Any] | None,
    executed: str | None,
) -> str | None:
    """Keep a successful worker's output as the job's model, or copy it to a URL.

    Returns the saved model's ref (or the URL the files went to, or None for no output).
    """
    if spec.output is None:
        return None
    if spec.output != "model":
        return copy_to_url(paths.output, spec.output, paths, shelf)
    lineage = output_lineage(spec, job_id, paths.index, paths.count, dataset, executed)
    lineage["metrics"] = score_metrics(paths)  # a full pipeline's score
    name = output_model_name(spec.name, paths.index, paths.count)
    version: ModelVersion = shelf.save(name, paths.models, **lineage)
    return version.ref


def copy_to_url(source: str, url: str, paths: WorkerPaths, shelf: Shelf) -> str:
    """Copy a worker's output folder to ``url`` (the store's credentials and endpoint are
    used when the URL is on the same kind of storage as the store, e.g. both on MinIO)."""
    target = url.rstrip("/") + (f"/worker-{paths.index}" if paths.count > 1 else "")
    same_kind = target.split("://", 1)[0] == shelf.backend.url.split("://", 1)[0]
    options = shelf.storage_options if same_kind and "://" in target else {}
    fs, root = fsspec.core.url_to_fs(target, **(options or {}))
    fs.put(source.rstrip("/") + "/", root, recursive=True)
    return target


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def results_summary(
    spec: JobSpec,
    job_id: str,
    *,
    status: str,
    started_at: float,
    ended_at: float,
    model_version: int | None,
    dataset: dict[str, Any] | None,
    outputs: list[str],
    artifacts: list[str],
    error: str | None,
) -> dict[str, Any]:
    """The ``_results.json`` run summary, shaped as AI Center's training pipelines shape it."""
    return {
        "job_id": job_id,
        "job_name": spec.name,
        "status": status,
        "error": error,
        "parameters": {
            "pipeline": spec.pipeline or spec.notebook,
            "notebook": spec.notebook if spec.kind == NOTEBOOK else None,
            "program": {"kind": spec.kind, "path": spec.notebook, "pipeline": spec.pipeline},
            "parameters": spec.parameters,
            "inputs": {
                "model": spec.model.split(":")[0] if spec.model else None,
                "version": model_version,
                "data": spec.data,
                "eval_data": spec.eval_data,
                "data_sha256": (dataset or {}).get("sha256"),
                "gpu": bool(os.environ.get("CUDA_VISIBLE_DEVICES")),
                # Names only: values may be secrets, and this file is kept in the store.
                "env": sorted(spec.env),
            },
            "workers": spec.workers,
            "executor": spec.executor,
        },
        "run_summary": {
            "execution_time": round(ended_at - started_at, 3),
            "start_at": iso(started_at),
            "end_at": iso(ended_at),
            "outputs": {
                "model": outputs[0] if len(outputs) == 1 else (outputs or None),
                "models": outputs,
                "artifacts": artifacts[0] if len(artifacts) == 1 else artifacts,
                "data": spec.data,
                "executed_notebook": (
                    "kept per worker under runs/<job id>/worker-<n>/executed.ipynb"
                    if spec.kind == NOTEBOOK
                    else f"none: a {spec.kind} job runs no notebook; its log is the job's log"
                ),
            },
        },
    }
