"""The runner's side of a pipeline: its evaluation data in before, its score kept after.

An ``evaluate`` pipeline's score becomes an evaluation record of the version it scored; a
``full`` pipeline's, a metric of the new version and an evaluation record of it.
"""

from __future__ import annotations

from typing import Any

from modelshelf.core.jobs.pipelines import has_files, pipeline_paths, read_result
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import WorkerPaths
from modelshelf.core.sources import copy_source
from modelshelf.core.store import Shelf


def prepare_eval_data(shelf: Shelf, spec: JobSpec, paths: WorkerPaths) -> None:
    """Copy a full pipeline's evaluation data into its ``test_data_directory``."""
    if spec.pipeline is None:
        return
    folders = pipeline_paths(paths.root).create()
    if spec.eval_data is not None:
        copy_source(spec.eval_data, folders.evaluation, shelf.storage_options or None)


def score_metrics(paths: WorkerPaths) -> dict[str, float]:
    """``{"score": s}`` for the version a full pipeline saves; empty for anything else."""
    result = read_result(paths.root)
    return {"score": result["score"]} if "score" in result else {}


def record_evaluation(
    shelf: Shelf,
    spec: JobSpec,
    job_id: str,
    paths: WorkerPaths,
    outputs: list[str],
    dataset: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Keep a successful pipeline's score as an evaluation record; return what
    ``_results.json`` says of it (None when the job scored nothing)."""
    result = read_result(paths.root)
    if "score" not in result:
        return None
    if spec.pipeline == "evaluate":
        target, data, data_hash = spec.model, spec.data, (dataset or {}).get("sha256")
    else:
        if not outputs or spec.output != "model":
            return {"score": result["score"], "version": None}
        evaluated = pipeline_paths(paths.root).evaluation
        target = outputs[0]
        # The evaluation data as evaluate() saw it: --eval-data, and what process_data wrote.
        data = spec.eval_data
        data_hash = shelf.fingerprint(evaluated)["sha256"] if has_files(evaluated) else None
    record = shelf.evaluate(
        target, result["score"], data=data, data_hash=data_hash, job=job_id, pipeline=spec.pipeline
    )
    return {"score": record.score, "version": target, "data": data, "data_hash": data_hash}
