"""Batch inference: a model applied to every object under a folder or URL prefix.

Each input ``<input>/<key>`` gives ``<output>/<key>.out``, written atomically, so a run that
stops half way is resumed by running it again: objects whose ``.out`` exists are skipped.
Objects that fail are listed in ``<output>/_failures.jsonl`` and the others go on. A run
happens on this machine, or (``executor="dask"``) sharded across the workers of a Dask
cluster (:mod:`batch_dask`), with the same result key for key.
:func:`submit_batch_job` runs the same thing as a notebook job (``batch_job.ipynb``).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import fsspec

from modelshelf.core.deploy.batch_items import (
    FAILURES,
    SUFFIX,
    BatchFailures,
    BatchOutput,
    BatchRequest,
    content_type_for,
    list_inputs,
    loaded_model,
    location_options,
    open_location,
    run_items,
)
from modelshelf.core.errors import DeploymentError
from modelshelf.core.jobs.dask_executor import check_dask_ready
from modelshelf.core.jobs.spec import EXECUTORS
from modelshelf.core.progress import ProgressCallback, ProgressTracker
from modelshelf.core.sources.tree import URL_PATTERN, expand_local, redact_url

if TYPE_CHECKING:
    from modelshelf.core.jobs import Job, JobManager
    from modelshelf.core.store import Shelf

__all__ = ["FAILURES", "SUFFIX", "BatchReport", "batch", "content_type_for", "submit_batch_job"]


@dataclass(frozen=True)
class BatchReport:
    """What a batch run did: objects found, run, skipped (already done) and failed."""

    total: int
    processed: int
    skipped: int
    failed: int
    output: str


def batch(
    shelf: Shelf,
    ref: str,
    input: str,
    output: str,
    *,
    workers: int = 4,
    split_lines: bool = False,
    content_type: str | None = None,
    progress: ProgressCallback | None = None,
    storage_options: dict | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    shards: int | None = None,
) -> BatchReport:
    """Apply the model ``ref`` to every object under ``input``; write ``<output>/<key>.out``.

    ``input`` and ``output`` are local folders or URL prefixes (``s3://bucket/in/``), read
    with the shelf's storage options when they are on the shelf's kind of storage (or with
    ``storage_options``). With ``split_lines``, ``.jsonl`` and ``.csv`` objects are sent a line
    at a time (blank lines skipped) and their ``.out`` holds one result per line, in order.
    The model is called from ``workers`` threads at once.

    ``executor="dask"`` shards the objects across the workers of the Dask cluster at
    ``scheduler`` (``shards`` of them; default every worker it has), each loading the model
    once and calling it from ``workers`` threads; the store, input and output must then be
    storage the workers reach (``s3://``, ...), as for the jobs' Dask executor.
    """
    if not isinstance(workers, int) or workers < 1:
        raise DeploymentError(f"workers must be a whole number of at least 1, not {workers!r}")
    check_executor(shelf, executor, scheduler, shards, input, output)
    version = shelf.show(ref)
    request = BatchRequest(
        ref=version.ref,
        model_name=version.name,
        input=input,
        input_options=location_options(input, shelf, storage_options),
        output=output,
        output_options=location_options(output, shelf, storage_options),
        threads=workers,
        split_lines=split_lines,
        content_type=content_type,
    )
    in_fs, in_root, _ = open_location(input, request.input_options)
    with tempfile.TemporaryDirectory(prefix="modelshelf-batch-") as scratch:
        out = BatchOutput(output, request.output_options, scratch)
        same_fs = type(out.fs) is type(in_fs)
        items = list_inputs(in_fs, in_root, input, out.root if same_fs else None)
        done = out.done()
        todo = [item for item in items if item[0] + SUFFIX not in done]
        tracker = ProgressTracker("batch", sum(i[2] for i in items), len(items), progress)
        skipped = len(items) - len(todo)
        tracker.advance(sum(i[2] for i in items if i[0] + SUFFIX in done), skipped)
        failures = BatchFailures(out)
        try:
            if executor == "dask":
                from modelshelf.core.deploy.batch_dask import run_sharded

                run = run_sharded(
                    shelf, request, todo, scheduler=scheduler, shards=shards,
                    advance=tracker.advance,
                )  # fmt: skip
                failures.extend(run.failures)
                counts = {"processed": run.processed, "failed": run.failed}
                skipped += run.skipped
            else:
                with loaded_model(shelf, request, scratch) as handler:
                    counts = run_items(
                        handler, in_fs, todo, out, failures, request,
                        on_item=lambda size: tracker.advance(size, 1),
                    )  # fmt: skip
        finally:
            failures.close()
            out.remove_shard_failures()
    if executor == "dask" and run.errors:
        raise DeploymentError(
            "; ".join(run.errors) + ": run the batch again to resume"
        ) from run.first_error
    return BatchReport(
        total=len(items),
        processed=counts["processed"],
        skipped=skipped,
        failed=counts["failed"],
        output=output,
    )


def check_executor(
    shelf: Shelf,
    executor: str,
    scheduler: str | None,
    shards: int | None,
    input: str,
    output: str,
) -> None:
    """Refuse a batch its executor cannot run, before any object is read."""
    if executor not in EXECUTORS:
        raise DeploymentError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if executor != "dask":
        if shards is not None:
            raise DeploymentError("shards= is for executor='dask' (one shard per Dask worker)")
        return
    if shards is not None and (not isinstance(shards, int) or shards < 1):
        raise DeploymentError(f"shards must be a whole number of at least 1, not {shards!r}")
    check_dask_ready(shelf, scheduler)
    for role, url in (("input", input), ("output", output)):
        scheme = fsspec.core.split_protocol(url)[0] if URL_PATTERN.match(url) else "file"
        if scheme == "memory" or (scheme in ("file", "local") and not shelf.shared):
            raise DeploymentError(
                f"the batch {role} {redact_url(url)} is on this machine, so Dask workers "
                "cannot reach it: use a URL prefix they can read (s3://, gs://, az://) or, "
                "for a network folder mounted at the same path everywhere, c.Shelf.shared = True"
            )


# ---- as a job ---------------------------------------------------------------------------


def batch_job_name(ref: str) -> str:
    """``batch <ref>`` made a valid job name (``:`` and ``@`` are not allowed in one)."""
    name = re.sub(r"[^A-Za-z0-9 ._-]+", "-", f"batch {ref}")
    name = re.sub(r"\.{2,}", ".", re.sub(r" {2,}", " ", name))
    # "Job - <name>" must stay within the 128 characters of a model name.
    return name[:100].rstrip(" .-") or "batch"


def submit_batch_job(
    jobs: JobManager,
    ref: str,
    input: str,
    output: str,
    *,
    workers: int = 4,
    split_lines: bool = False,
    content_type: str | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    shards: int | None = None,
) -> Job:
    """Run :func:`batch` as a notebook job (``batch_job.ipynb``); return the :class:`Job`.

    ``ref`` is pinned to its current version now, and local paths are made absolute (the
    job runs in its own folder). The job fails if any object failed. With
    ``executor="dask"`` the job's notebook shards the objects across the Dask cluster at
    ``scheduler`` (default ``c.JobManager.dask_scheduler``); what it cannot run is refused
    here, before the job starts.
    """
    if executor == "dask":
        scheduler = scheduler or jobs.dask_scheduler
    check_executor(jobs.shelf, executor, scheduler, shards, input, output)
    version = jobs.shelf.show(ref)
    parameters = {
        "ref": version.ref,
        "input": input if URL_PATTERN.match(input) else expand_local(input),
        "output": output if URL_PATTERN.match(output) else expand_local(output),
        "workers": workers,
        "split_lines": split_lines,
        "content_type": content_type,
        "executor": executor,
        "scheduler": scheduler,
        "shards": shards,
    }
    notebook = resources.files(__package__).joinpath("batch_job.ipynb")
    with resources.as_file(notebook) as path:
        return jobs.submit(path, name=batch_job_name(ref), parameters=parameters, output=None)
