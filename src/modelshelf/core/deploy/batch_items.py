"""The pieces of a batch run, wherever it runs: its input listing, its output folder (what is
done, atomic writes), its failures list, and a model applied to a list of objects.

:mod:`batch` runs them on this machine; :mod:`batch_dask` runs them on Dask workers, a shard
of the objects each, so that both give the same ``.out`` files and failures key for key.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import fsspec

from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.errors import ModelshelfError, ServingError, SourceError
from modelshelf.core.sources.tree import URL_PATTERN, expand_local, redact_url

if TYPE_CHECKING:
    from modelshelf.core.store import Shelf

FAILURES = "_failures.jsonl"
# What one shard of a distributed run failed, while it runs; merged into FAILURES at the end.
SHARD_FAILURES = "_failures-shard-{index}.jsonl"
SUFFIX = ".out"
_WHOLE_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
}
_LINE_TYPES = {".jsonl": "application/json", ".csv": "text/csv"}
_FLUSH_EVERY = 2.0  # seconds between rewrites of a failures list during a run

# (key, path on the input's filesystem, size in bytes) of one input object.
Item = tuple[str, str, int]


@dataclass(frozen=True)
class BatchRequest:
    """What to apply to what, in a form that travels to Dask workers: the pinned model, the
    input and output with the storage options each is read with, and how to send objects."""

    ref: str
    model_name: str
    input: str
    input_options: dict[str, Any]
    output: str
    output_options: dict[str, Any]
    threads: int = 4
    split_lines: bool = False
    content_type: str | None = None


def content_type_for(key: str, *, per_line: bool = False) -> str:
    """The content type of an object (or of one of its lines) from its extension."""
    ext = os.path.splitext(key)[1].lower()
    table = _LINE_TYPES if per_line else _WHOLE_TYPES
    return table.get(ext, "application/octet-stream")


def open_location(url: str, options: dict[str, Any]) -> tuple[Any, str, bool]:
    """The filesystem, root path and locality of a folder or URL prefix."""
    target = url if URL_PATTERN.match(url) else expand_local(url)
    fs, root = fsspec.core.url_to_fs(target, **(options if URL_PATTERN.match(url) else {}))
    return fs, root.rstrip("/") or root, is_local_fs(fs)


def is_local_fs(fs: Any) -> bool:
    """True for the local filesystem (a folder of this machine)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return "file" in protocols or "local" in protocols


def location_options(url: str, shelf: Shelf, explicit: dict | None) -> dict[str, Any]:
    """The shelf's storage options apply to URLs of the shelf's own kind of storage."""
    if explicit is not None:
        return dict(explicit)
    if not URL_PATTERN.match(url):
        return {}
    same = fsspec.core.split_protocol(url)[0] == fsspec.core.split_protocol(shelf.backend.url)[0]
    return dict(shelf.storage_options or {}) if same else {}


class BatchOutput:
    """The output folder: what is already done, and atomic writes of results."""

    def __init__(self, url: str, options: dict[str, Any], scratch: str) -> None:
        self.url = url
        self.fs, self.root, self.is_local = open_location(url, options)
        self.scratch = scratch

    def done(self) -> set[str]:
        """The relative names of the ``.out`` files already there."""
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

    def remove_shard_failures(self) -> None:
        """Remove the shards' own failures lists (merged into FAILURES, or left over by a
        distributed run that was stopped half way: a later run's list replaces them)."""
        pattern = self.path(SHARD_FAILURES.format(index="*"))
        with contextlib.suppress(FileNotFoundError):
            for path in self.fs.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(path)


class BatchFailures:
    """A failures list (``_failures.jsonl``, or a shard's own), rewritten now and then during
    a run, so that it can be watched (object stores cannot append)."""

    def __init__(self, output: BatchOutput, name: str = FAILURES) -> None:
        self.output = output
        self.name = name
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.written_at = 0.0
        self.dirty = False

    def add(self, key: str, exc: BaseException) -> None:
        record: dict[str, str] = {"key": key, "error": _describe(exc)}
        if isinstance(exc, ServingError) and exc.user_traceback:
            record["traceback"] = exc.user_traceback
        self.extend([json.dumps(record)])

    def extend(self, lines: list[str]) -> None:
        """Add records already made (a shard's, when they are merged)."""
        with self.lock:
            self.lines.extend(lines)
            self.dirty = self.dirty or bool(lines)
            if self.dirty and time.monotonic() - self.written_at >= _FLUSH_EVERY:
                self._write()

    def close(self) -> None:
        with self.lock:
            if self.dirty:
                self._write()
            elif not self.lines:
                # A resumed run that failed nothing: the previous run's list no longer holds.
                self.output.remove(self.name)

    def _write(self) -> None:
        with self.output.atomic(self.name) as fh:
            fh.write("".join(line + "\n" for line in self.lines).encode())
        self.written_at, self.dirty = time.monotonic(), False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelshelfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def list_inputs(fs: Any, root: str, url: str, exclude: str | None) -> list[Item]:
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


@contextlib.contextmanager
def loaded_model(shelf: Shelf, request: BatchRequest, scratch: str) -> Iterator[ModelHandler]:
    """The request's model, copied out of the store into ``scratch`` and loaded, once."""
    model_dir = tempfile.mkdtemp(prefix="model-", dir=scratch)
    shelf.load(request.ref, model_dir)
    handler = load_handler(model_dir, request.model_name)
    try:
        yield handler
    finally:
        handler.close()


def run_items(
    handler: ModelHandler,
    in_fs: Any,
    items: list[Item],
    out: BatchOutput,
    failures: BatchFailures,
    request: BatchRequest,
    *,
    on_item: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Apply the model to ``items`` from ``request.threads`` threads; each object's failure
    goes to ``failures`` and the others go on. Returns how many were processed and failed.

    ``on_item(size)`` follows each object; once ``should_stop()`` is true the objects not yet
    started are left alone (no ``.out``: a later run does them)."""
    counts = {"processed": 0, "failed": 0}
    lock = threading.Lock()

    def run(item: Item) -> None:
        key, path, size = item
        if should_stop is not None and should_stop():
            return
        try:
            _apply(handler, in_fs, path, key, out, request)
            outcome = "processed"
        except Exception as exc:
            failures.add(key, exc)
            outcome = "failed"
        with lock:
            counts[outcome] += 1
        if on_item is not None:
            on_item(size)

    with ThreadPoolExecutor(max_workers=request.threads, thread_name_prefix="batch") as pool:
        list(pool.map(run, items))
    return counts


def _apply(
    handler: ModelHandler, fs: Any, path: str, key: str, out: BatchOutput, request: BatchRequest
) -> None:
    """Run the model on one object and write its ``.out``."""
    if request.split_lines and os.path.splitext(key)[1].lower() in _LINE_TYPES:
        kind = request.content_type or content_type_for(key, per_line=True)
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
    result, _ = handler.invoke(body, request.content_type or content_type_for(key))
    with out.atomic(key + SUFFIX) as dest:
        dest.write(result)
