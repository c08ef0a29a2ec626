"""A handle on one job: its status, logs, results and outputs, refreshed from the record."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from modelshelf.core.errors import JobTimeoutError, ModelNotFoundError
from modelshelf.core.facts import Card, Listed, Shown, Table, flat, value_text
from modelshelf.core.jobs.job_book import FINISHED, JobRecord
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import worker_paths
from modelshelf.core.sizes import format_duration

if TYPE_CHECKING:
    from modelshelf.core.jobs.manager import JobManager


_PROGRAM_LABELS = {"notebook": "notebook", "script": "script", "uipath": "package",
                   "dataloop": "package"}  # fmt: skip


class Job(Shown, Listed):
    """A job submitted through :class:`JobManager`; attributes reflect its last refresh."""

    ROW_HEADERS = ("id", "name", "status", "elapsed", "outputs")

    def __init__(self, manager: JobManager, record: JobRecord) -> None:
        self._manager = manager
        self._record = record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def spec(self) -> JobSpec:
        return JobSpec.from_dict(self._record.spec)

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def results(self) -> dict[str, Any] | None:
        """The ``_results.json`` summary, once the job has ended."""
        return self._record.results

    @property
    def outputs(self) -> list[str]:
        """Refs of the models this job saved (or URLs its output was copied to)."""
        return list(self._record.outputs)

    @property
    def workspace(self) -> str:
        return self._record.workspace

    @property
    def finished(self) -> bool:
        return self._record.status in FINISHED

    @property
    def created_at(self) -> float:
        """When the job was submitted (seconds since the epoch)."""
        return self._record.created_at

    @property
    def started_at(self) -> float | None:
        """When the job left the queue, or None while queued."""
        return self._record.started_at

    @property
    def ended_at(self) -> float | None:
        return self._record.ended_at

    @property
    def elapsed(self) -> float | None:
        """Seconds the job has run (so far, if it still runs)."""
        if self._record.started_at is None:
            return None
        end = self._record.ended_at or time.time()
        return end - self._record.started_at

    def executed_notebook(self, worker: int = 1) -> str:
        """Path of the executed notebook of a worker (with the failing cell on failure).

        A script or pipeline job runs no notebook: asking for one raises
        :class:`ModelNotFoundError` pointing at its log instead.
        """
        spec = self.spec
        if spec.kind != "notebook":
            raise ModelNotFoundError(
                f"job {self.name} ({self.id}) runs a {spec.kind}, not a notebook, so it has no "
                "executed notebook: its output is in its log (job.logs(), `modelshelf job logs`)"
            )
        return worker_paths(self.workspace, worker, spec.workers).executed

    def refresh(self) -> Job:
        self._record = self._manager.get(self.id)._record
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> Job:
        """Block until the job ends; raise :class:`JobTimeoutError` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().finished:
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeoutError(
                    f"job {self.name} ({self.id}) is still {self.status} after {timeout:g} s"
                )
            time.sleep(poll)
        return self

    def cancel(self) -> Job:
        """Stop the job (its kernel too); a queued job never starts."""
        self._record = self._manager.cancel(self.id)._record
        return self

    def _log_files(self) -> list[tuple[str, str]]:
        spec = self.spec
        files = [("", os.path.join(self.workspace, "job.log"))]
        if spec.workers > 1:
            for n in range(1, spec.workers + 1):
                files.append((f"[worker {n}] ", worker_paths(self.workspace, n, spec.workers).log))
        return files

    def logs(self, follow: bool = False, poll: float = 0.1) -> str | Iterator[str]:
        """The job's log: cell progress and outputs.

        With ``follow=True``, an iterator of lines that ends when the job does.
        """
        if follow:
            return self._follow(poll)
        return self.read_log()[0]

    def read_log(self, cursor: list[int] | None = None) -> tuple[str, list[int]]:
        """The whole lines written since ``cursor``, and the cursor to pass next time.

        A cursor is one byte offset per log file (the job's, then each worker's), so a reader
        polling it (the server extension, ``follow``) never sees a line twice or half of one.
        """
        files = self._log_files()
        offsets = list(cursor or []) + [0] * (len(files) - len(cursor or []))
        parts = []
        for index, (prefix, path) in enumerate(files):
            try:
                with open(path, "rb") as fh:
                    fh.seek(offsets[index])
                    chunk = fh.read()
            except FileNotFoundError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offsets[index] += len(complete)
            text = complete.decode(errors="replace")
            parts.extend(prefix + line for line in text.splitlines(keepends=True))
        return "".join(parts), offsets[: len(files)]

    def _follow(self, poll: float) -> Iterator[str]:
        cursor: list[int] = []
        while True:
            finished = self.refresh().finished
            text, cursor = self.read_log(cursor)
            yield from text.splitlines(keepends=True)
            if finished:
                return
            time.sleep(poll)

    def describe(self) -> dict[str, Any]:
        """Everything known about the job, as plain JSON data."""
        spec = self.spec
        record = self._record
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created_at": record.created_at,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "elapsed": self.elapsed,
            "notebook": spec.notebook,
            "kind": spec.kind,
            "pipeline": spec.pipeline,
            "parameters": spec.parameters,
            "inputs": _inputs(spec),
            "output": spec.output,
            "workers": spec.workers,
            "executor": spec.executor,
            "scheduler": spec.scheduler,
            "kernel": spec.kernel,
            "timeout": spec.timeout,
            "env": spec.env,
            "save_training_data": spec.save_training_data,
            "rerun_of": spec.rerun_of,
            "error": self.error,
            "outputs": self.outputs,
            "workspace": self.workspace,
            "results": self.results,
        }

    def __repr__(self) -> str:
        extra = f" -> {', '.join(self.outputs)}" if self.outputs else ""
        error = f" ({self.error})" if self.error and self.status != "succeeded" else ""
        return f"<Job {self.name} {self.id}: {self.status}{error}{extra}>"

    # ---- its facts, for every face --------------------------------------------------------

    def fields(self) -> list[tuple[str, Any]]:
        """Status, notebook, parameters, inputs, settings and the models it saved."""
        spec = self.spec
        return [
            ("id", self.id),
            ("name", self.name),
            ("status", self.status),
            ("elapsed", format_duration(self.elapsed)),
            (_PROGRAM_LABELS.get(spec.kind, "notebook"), spec.notebook),
            ("pipeline", f"{spec.pipeline} ({spec.kind})" if spec.pipeline else None),
            (
                "executed notebook",
                f"none (a {spec.kind} runs no notebook: see its log)"
                if spec.kind != "notebook"
                else None,
            ),
            ("parameters", spec.parameters),
            ("input model", spec.model),
            ("input data", spec.data),
            ("evaluation data", spec.eval_data),
            ("output", spec.output if spec.output is not None else "none"),
            ("workers", f"{spec.workers} ({spec.executor})"),
            ("kernel", spec.kernel),
            ("timeout", format_duration(spec.timeout) if spec.timeout is not None else None),
            ("env", ", ".join(spec.env)),  # names only: values may be secrets
            ("rerun of", spec.rerun_of),
            ("error", flat(self.error) if self.error else None),
            ("outputs", ", ".join(self.outputs)),
            ("workspace", self.workspace),
        ]

    def summary_table(self) -> Table:
        """The run summary its ``_results.json`` holds, one flattened key per row."""
        summary = (self.results or {}).get("run_summary") or {}
        rows = tuple(_flattened("", summary)) if summary else ()
        return Table(("key", "value"), rows, caption="run summary (_results.json)")

    def card(self) -> Card:
        return Card.of(self.fields(), [self.summary_table()])

    def row(self) -> tuple[Any, ...]:
        outputs = ", ".join(self.outputs) or "-"
        return (self.id, self.name, self.status, format_duration(self.elapsed), outputs)


def _inputs(spec: JobSpec) -> dict[str, Any]:
    """The input model and data (and a full pipeline's evaluation data, when it has one)."""
    inputs = {"model": spec.model, "data": spec.data}
    if spec.eval_data is not None:
        inputs["eval_data"] = spec.eval_data
    return inputs


def _flattened(prefix: str, value: Any) -> list[tuple[str, str]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", "1")]``."""
    if isinstance(value, dict) and value:
        return [pair for k, v in value.items() for pair in _flattened(f"{prefix}{k}.", v)]
    return [(prefix.rstrip("."), value_text(value))]
