"""A batch's objects sharded across the workers of a ``dask.distributed`` cluster.

The caller of :func:`run_sharded` has listed the input and what is done; the rest is split
into one shard per Dask worker, balanced by bytes, and each shard is one task pinned to its
worker (so the model is loaded once per worker, not once per object). A shard task opens
the store, loads the model, applies it to its objects as one machine does
(:func:`batch_items.run_items`), writes their ``.out`` files and its own failures list, and
returns its counts and failure records, which the caller merges into ``_failures.jsonl``:
the output folder ends as one machine would leave it, key for key.

Everything travels through shared storage (the store, the input and the output URLs), never
through this machine's disk, as with the jobs' Dask executor.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.deploy.batch_items import (
    SHARD_FAILURES,
    SUFFIX,
    BatchFailures,
    BatchOutput,
    BatchRequest,
    Item,
    loaded_model,
    open_location,
    run_items,
)
from modelshelf.core.errors import DeploymentError
from modelshelf.core.store import Shelf

_WORKER_WAIT = 30.0  # seconds to wait for the workers a run asks for
_PROGRESS_EVERY = 0.5  # seconds between a shard's progress events


@dataclass(frozen=True)
class ShardTask:
    """One shard as it travels to its Dask worker."""

    index: int  # from 1
    count: int
    root: str
    storage_options: dict[str, Any] | None
    request: BatchRequest
    items: list[Item]
    topic: str  # where its progress events go


@dataclass(frozen=True)
class ShardOutcome:
    """What one shard did: ``skipped`` are objects found done when it started (a retried
    shard, or another run), ``failures`` the records for ``_failures.jsonl``."""

    index: int
    processed: int
    failed: int
    skipped: int
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShardedRun:
    """What every shard did together; ``errors`` name the shards that failed as a whole."""

    processed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_error: BaseException | None = None


def split_into_shards(items: list[Item], count: int) -> list[list[Item]]:
    """``items`` in ``count`` shards of about the same bytes (largest first, each to the
    lightest shard so far; equal sizes go round the shards), each sorted by key."""
    shards: list[list[Item]] = [[] for _ in range(max(1, count))]
    load = [0] * len(shards)
    for item in sorted(items, key=lambda i: (-i[2], i[0])):
        lightest = min(range(len(shards)), key=lambda n: (load[n], len(shards[n]), n))
        shards[lightest].append(item)
        load[lightest] += item[2]
    return [sorted(shard) for shard in shards if shard]


def run_sharded(
    shelf: Shelf,
    request: BatchRequest,
    items: list[Item],
    *,
    scheduler: str,
    shards: int | None,
    advance: Callable[[int, int], None],
) -> ShardedRun:
    """Run ``items`` on the cluster at ``scheduler``, one shard per worker (``shards`` of
    them, default every worker); ``advance(bytes, objects)`` follows their progress."""
    from distributed import Client

    if not items:
        return ShardedRun()
    try:
        client = Client(scheduler, timeout="30s", set_as_default=False)
    except OSError as exc:
        raise DeploymentError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    # Closing the client (also when this process is stopped) releases the shards' tasks;
    # each shard then starts no further object (see _released).
    with client:
        workers = _pick_workers(client, shards, scheduler)
        parts = split_into_shards(items, min(len(workers), len(items)))
        run_id = uuid.uuid4().hex[:12]
        relay = _ProgressRelay(advance)
        topic = f"modelshelf-batch-{run_id}"
        client.subscribe_topic(topic, relay)
        root, options = shelf.backend.url, shelf.storage_options or None
        futures = [
            client.submit(
                run_shard,
                ShardTask(index, len(parts), root, options, request, part, topic),
                key=f"modelshelf-batch-{run_id}-shard-{index}",
                pure=False,
                # Pinned, but free to move if its worker dies (Dask then reruns the shard
                # elsewhere, and the rerun skips what the first attempt wrote).
                workers=[address],
                allow_other_workers=True,
            )
            for index, (part, address) in enumerate(zip(parts, workers, strict=False), 1)
        ]
        outcomes, errors, first = _gathered(futures, parts)
        client.unsubscribe_topic(topic)
    # Progress events still on their way are dropped: what they would have said is added
    # here from the outcomes, so that the last report is exact.
    reported_objects, reported_bytes = relay.close()
    done = sum(o.processed + o.failed + o.skipped for o in outcomes)
    done_bytes = sum(size for o in outcomes for _, _, size in parts[o.index - 1])
    advance(max(0, done_bytes - reported_bytes), max(0, done - reported_objects))
    return ShardedRun(
        processed=sum(o.processed for o in outcomes),
        failed=sum(o.failed for o in outcomes),
        skipped=sum(o.skipped for o in outcomes),
        failures=sorted(line for o in outcomes for line in o.failures),
        errors=errors,
        first_error=first,
    )


def _pick_workers(client: Any, shards: int | None, scheduler: str) -> list[str]:
    """The addresses of the workers to run on: ``shards`` of them, or all there are."""
    with contextlib.suppress(TimeoutError):  # said below, with the workers there are
        client.wait_for_workers(shards or 1, timeout=_WORKER_WAIT)
    found = sorted(client.nthreads())
    if not found or (shards and len(found) < shards):
        raise DeploymentError(
            f"the batch asks for {shards or 1} shard(s) but the Dask cluster at {scheduler} "
            f"has {len(found)} worker(s) after {_WORKER_WAIT:g} s: add workers, or ask for "
            "fewer shards"
        )
    return found[:shards] if shards else found


def _gathered(
    futures: list[Any], parts: list[list[Item]]
) -> tuple[list[ShardOutcome], list[str], BaseException | None]:
    """Every shard's outcome, once all have ended; a shard that failed as a whole (its
    model did not load, its worker kept dying) is named in the errors instead."""
    outcomes: list[ShardOutcome] = []
    errors: list[str] = []
    first: BaseException | None = None
    for index, (future, part) in enumerate(zip(futures, parts, strict=True), 1):
        try:
            outcomes.append(future.result())
        except Exception as exc:
            first = first or exc
            errors.append(f"shard {index} of {len(parts)} ({len(part)} objects) failed: {exc}")
    return outcomes, errors, first


class _ProgressRelay:
    """The shards' progress events (``{"objects", "bytes"}``), passed on until closed."""

    def __init__(self, advance: Callable[[int, int], None]) -> None:
        self.advance = advance
        self.objects = self.bytes = 0
        self.closed = False
        self.lock = threading.Lock()

    def __call__(self, event: tuple[float, dict[str, int]]) -> None:
        _, message = event
        with self.lock:
            if self.closed:
                return
            self.objects += message["objects"]
            self.bytes += message["bytes"]
            self.advance(message["bytes"], message["objects"])

    def close(self) -> tuple[int, int]:
        with self.lock:
            self.closed = True
            return self.objects, self.bytes


# ---- on a Dask worker -------------------------------------------------------------------


def run_shard(task: ShardTask) -> ShardOutcome:
    """One shard, on a Dask worker: load the model once, apply it to the shard's objects."""
    from distributed import get_worker

    worker = get_worker()
    reporter = _ProgressReporter(worker, task.topic)
    request = task.request
    shelf = Shelf(task.root, storage_options=task.storage_options)
    try:
        in_fs, _, _ = open_location(request.input, request.input_options)
        with tempfile.TemporaryDirectory(prefix="modelshelf-batch-shard-") as scratch:
            out = BatchOutput(request.output, request.output_options, scratch)
            # A shard Dask reran (its first worker died) skips what the first attempt wrote.
            done = out.done()
            todo = [item for item in task.items if item[0] + SUFFIX not in done]
            skipped = len(task.items) - len(todo)
            reporter.add(sum(i[2] for i in task.items if i[0] + SUFFIX in done), skipped)
            failures = BatchFailures(out, SHARD_FAILURES.format(index=task.index))
            try:
                with loaded_model(shelf, request, scratch) as handler:
                    counts = run_items(
                        handler, in_fs, todo, out, failures, request,
                        on_item=lambda size: reporter.add(size, 1),
                        should_stop=_released(worker, worker.get_current_task()),
                    )  # fmt: skip
            finally:
                failures.close()
                reporter.flush()
    except Exception as exc:
        where = f"on the Dask worker {worker.address}"
        raise DeploymentError(f"{type(exc).__name__}: {exc} ({where})") from exc
    finally:
        shelf.close()
    return ShardOutcome(
        task.index, counts["processed"], counts["failed"], skipped, list(failures.lines)
    )


def _released(worker: Any, key: Any) -> Callable[[], bool]:
    """True once the scheduler no longer wants this task (its client was closed or died).

    Dask cannot interrupt a running task, so a shard asks before each object; the worker
    marks a running task it was told to forget ``cancelled``."""

    def check() -> bool:
        try:
            state = worker.state.tasks.get(key)
        except AttributeError:  # a worker without that state: never stop early
            return False
        return state is None or state.state == "cancelled"

    return check


class _ProgressReporter:
    """A shard's progress as events on its run's topic, at most every half second."""

    def __init__(self, worker: Any, topic: str) -> None:
        self.worker = worker
        self.topic = topic
        self.objects = self.bytes = 0
        self.sent_at = time.monotonic()
        self.lock = threading.Lock()

    def add(self, nbytes: int, objects: int) -> None:
        with self.lock:
            self.objects += objects
            self.bytes += nbytes
            if time.monotonic() - self.sent_at >= _PROGRESS_EVERY:
                self._send()

    def flush(self) -> None:
        with self.lock:
            self._send()

    def _send(self) -> None:
        if self.objects or self.bytes:
            self.worker.log_event(self.topic, {"objects": self.objects, "bytes": self.bytes})
        self.objects = self.bytes = 0
        self.sent_at = time.monotonic()
