"""Batch inference: a model applied to every object under a folder or URL prefix.

Each input ``<input>/<key>`` gives ``<output>/<key>.out``, written atomically, so a run that
stops half way is resumed by running it again: objects whose ``.out`` exists are skipped.
Objects that fail are listed in ``<output>/_failures.jsonl`` and the others go on.
:func:`submit_batch_job` runs the same thing as a notebook job (``batch_job.ipynb``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import IO, TYPE_CHECKING, Any

import fsspec

from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.errors import ModelshelfError, ServingError, SourceError
from modelshelf.core.progress import ProgressCallback, ProgressTracker
from modelshelf.core.sources.tree import URL_PATTERN, expand_local, redact_url

if TYPE_CHECKING:
    from modelshelf.core.jobs import Job, JobManager
    from modelshelf.core.store import Shelf

FAILURES = "_failures.jsonl"
SUFFIX = ".out"
_WHOLE_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
}
_LINE_TYPES = {".jsonl": "application/json", ".csv": "text/csv"}
_FLUSH_EVERY = 2.0  # seconds between rewrites of _failures.jsonl during a run


@dataclass(frozen=True)
class BatchReport:
    """What a batch run did: objects found, run, skipped (already done) and failed."""

    total: int
    processed: int
    skipped: int
    failed: int
    output: str


def content_type_for(key: str, *, per_line: bool = False) -> str:
    """The content type of an object (or of one of its lines) from its extension."""
    ext = os.path.splitext(key)[1].lower()
    table = _LINE_TYPES if per_line else _WHOLE_TYPES
    return table.get(ext, "application/octet-stream")


def _open_location(url: str, options: dict[str, Any]) -> tuple[Any, str, bool]:
    """The filesystem, root path and locality of a folder or URL prefix."""
    target = url if URL_PATTERN.match(url) else expand_local(url)
    fs, root = fsspec.core.url_to_fs(target, **(options if URL_PATTERN.match(url) else {}))
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return fs, root.rstrip("/") or root, "file" in protocols or "local" in protocols


def _options(url: str, shelf: Shelf, explicit: dict | None) -> dict[str, Any]:
    """The shelf's storage options apply to URLs of the shelf's own kind of storage."""
    if explicit is not None:
        return dict(explicit)
    if not URL_PATTERN.match(url):
        return {}
    same = fsspec.core.split_protocol(url)[0] == fsspec.core.split_protocol(shelf.backend.url)[0]
    return dict(shelf.storage_options or {}) if same else {}


class _Output:
    """The output folder: what is already done, and atomic writes of results."""

    def __init__(self, url: str, options: dict[str, Any], scratch: str) -> None:
        self.url = url
        self.fs, self.root, self.is_local = _open_location(url, options)
        self.scratch = scratch

    def done(self) -> set[str]:
        try:
            found = self.fs.find(self.root)
        except FileNotFoundError:
            return set()
        prefix = self.root + "/"
        return {p[len(prefix) :] for p in found if p.startswith(prefix) and p.endswith(SUFFIX)}

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    @contextlib.contextmanager
    def atomic(self, rel: str) -> Iterator[IO[bytes]]:
        """A file that appears at ``rel`` complete, or not at all."""
        target = self.path(rel)
        if self.is_local:
            # A temporary name beside the target (same filesystem, so the rename is atomic),
            # without the .out suffix, so a resume never takes it for a result.
            folder, base = os.path.split(target)
            os.makedirs(folder, exist_ok=True)
            temporary = os.path.join(folder, f".{base}.tmp-{uuid.uuid4().hex[:8]}")
        else:
            temporary = os.path.join(self.scratch, uuid.uuid4().hex)
        try:
            with open(temporary, "wb") as fh:
                yield fh
            if self.is_local:
                os.replace(temporary, target)
            else:
                # Object stores show an object only once its upload is complete.
                self.fs.put_file(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(rel))


class _Failures:
    """``_failures.jsonl`` of this run, rewritten now and then (object stores cannot append)."""

    def __init__(self, output: _Output) -> None:
        self.output = output
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.written_at = 0.0
        self.dirty = False

    def add(self, key: str, exc: BaseException) -> None:
        record: dict[str, str] = {"key": key, "error": _describe(exc)}
        if isinstance(exc, ServingError) and exc.user_traceback:
            record["traceback"] = exc.user_traceback
        with self.lock:
            self.lines.append(json.dumps(record))
            self.dirty = True
            if time.monotonic() - self.written_at >= _FLUSH_EVERY:
                self._write()

    def close(self) -> None:
        with self.lock:
            if self.dirty:
                self._write()
            elif not self.lines:
                # A resumed run that failed nothing: the previous run's list no longer holds.
                self.output.remove(FAILURES)

    def _write(self) -> None:
        with self.output.atomic(FAILURES) as fh:
            fh.write("".join(line + "\n" for line in self.lines).encode())
        self.written_at, self.dirty = time.monotonic(), False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelshelfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _list_inputs(fs: Any, root: str, url: str, exclude: str | None) -> list[tuple[str, str, int]]:
    """``(key, path, size)`` of every object under the input, sorted by key."""
    try:
        info = fs.info(root)
    except FileNotFoundError as exc:
        raise SourceError(f"the batch input {redact_url(url)} does not exist") from exc
    if info.get("type") != "directory":
        return [(os.path.basename(root), root, int(info.get("size") or 0))]
    found = fs.find(root, detail=True)
    prefix = root + "/"
    items = []
    for path, detail in sorted(found.items()):
        if detail.get("type") == "directory" or not path.startswith(prefix):
            continue
        if exclude and (path == exclude or path.startswith(exclude + "/")):
            continue  # the output folder inside the input folder
        items.append((path[len(prefix) :], path, int(detail.get("size") or 0)))
    return items


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
) -> BatchReport:
    """Apply the model ``ref`` to every object under ``input``; write ``<output>/<key>.out``.

    ``input`` and ``output`` are local folders or URL prefixes (``s3://bucket/in/``), read
    with the shelf's storage options when they are on the shelf's kind of storage (or with
    ``storage_options``). With ``split_lines``, ``.jsonl`` and ``.csv`` objects are sent a line
    at a time (blank lines skipped) and their ``.out`` holds one result per line, in order.
    The model is called from ``workers`` threads at once.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    version = shelf.show(ref)
    in_fs, in_root, _ = _open_location(input, _options(input, shelf, storage_options))
    with tempfile.TemporaryDirectory(prefix="modelshelf-batch-") as scratch:
        out = _Output(output, _options(output, shelf, storage_options), scratch)
        same_fs = type(out.fs) is type(in_fs)
        items = _list_inputs(in_fs, in_root, input, out.root if same_fs else None)
        done = out.done()
        todo = [item for item in items if item[0] + SUFFIX not in done]
        tracker = ProgressTracker("batch", sum(i[2] for i in items), len(items), progress)
        skipped = len(items) - len(todo)
        tracker.advance(sum(i[2] for i in items if i[0] + SUFFIX in done), skipped)
        model_dir = os.path.join(scratch, "model")
        shelf.load(version.ref, model_dir)
        handler = load_handler(model_dir, version.name)
        failures = _Failures(out)
        counts = {"processed": 0, "failed": 0}
        lock = threading.Lock()

        def run(item: tuple[str, str, int]) -> None:
            key, path, size = item
            try:
                _apply(handler, in_fs, path, key, out, split_lines, content_type)
                outcome = "processed"
            except Exception as exc:
                failures.add(key, exc)
                outcome = "failed"
            with lock:
                counts[outcome] += 1
            tracker.advance(size, 1)

        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch") as pool:
                list(pool.map(run, todo))
        finally:
            failures.close()
    return BatchReport(
        total=len(items),
        processed=counts["processed"],
        skipped=skipped,
        failed=counts["failed"],
        output=output,
    )


def _apply(
    handler: ModelHandler,
    fs: Any,
    path: str,
    key: str,
    out: _Output,
    split_lines: bool,
    content_type: str | None,
) -> None:
    """Run the model on one object and write its ``.out``."""
    if split_lines and os.path.splitext(key)[1].lower() in _LINE_TYPES:
        kind = content_type or content_type_for(key, per_line=True)
        with fs.open(path, "rb") as src, out.atomic(key + SUFFIX) as dest:
            for number, line in enumerate(src, start=1):
                if not line.strip():
                    continue
                try:
                    result, _ = handler.invoke(line.rstrip(b"\r\n"), kind)
                except ServingError as exc:
                    raise ServingError(f"line {number}: {exc}", exc.user_traceback) from exc
                dest.write(result.rstrip(b"\n") + b"\n")
        return
    body = fs.cat_file(path)
    result, _ = handler.invoke(body, content_type or content_type_for(key))
    with out.atomic(key + SUFFIX) as dest:
        dest.write(result)


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
) -> Job:
    """Run :func:`batch` as a notebook job (``batch_job.ipynb``); return the :class:`Job`.

    ``ref`` is pinned to its current version now, and local paths are made absolute (the
    job runs in its own folder). The job fails if any object failed.
    """
    version = jobs.shelf.show(ref)
    parameters = {
        "ref": version.ref,
        "input": input if URL_PATTERN.match(input) else expand_local(input),
        "output": output if URL_PATTERN.match(output) else expand_local(output),
        "workers": workers,
        "split_lines": split_lines,
        "content_type": content_type,
    }
    notebook = resources.files(__package__).joinpath("batch_job.ipynb")
    with resources.as_file(notebook) as path:
        return jobs.submit(path, name=batch_job_name(ref), parameters=parameters, output=None)
