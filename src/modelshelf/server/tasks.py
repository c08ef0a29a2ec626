"""Slow work started over REST (saving a large folder, starting a deployment).

A request that would take longer than a blink starts a task in a worker thread and answers
202 at once; the client polls ``GET /tasks/{id}`` for progress and the outcome. Tasks live in
the server's memory: they are a view of work in flight, while what it produces (models,
deployment records) is in the store and its SQLite books.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from modelshelf.core.errors import ModelNotFoundError, ModelshelfError, TaskFailed
from modelshelf.core.progress import Progress, ProgressCallback

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


@dataclass
class Task:
    """One piece of slow work and what is known about it so far."""

    id: str
    kind: str
    description: str
    status: str = RUNNING
    progress: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Work = Callable[[ProgressCallback], Any]


class TaskRunner:
    """Runs tasks in a small thread pool and remembers the most recent ones."""

    def __init__(self, threads: int = 4, keep: int = 200) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="modelshelf-task")
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def start(self, kind: str, description: str, work: Work) -> Task:
        """Run ``work(progress_callback)`` in a thread; its return value is the task's result
        (plain JSON data)."""
        task = Task(id=secrets.token_hex(8), kind=kind, description=description)
        with self._lock:
            self._tasks[task.id] = task
            while len(self._tasks) > self._keep:
                self._tasks.popitem(last=False)
        self._pool.submit(self._run, task, work)
        return task

    def _run(self, task: Task, work: Work) -> None:
        def report(progress: Progress) -> None:
            task.progress = asdict(progress)

        try:
            task.result = work(report)
            task.status = SUCCEEDED
        except TaskFailed as exc:
            task.result, task.error, task.status = exc.result, str(exc), FAILED
        except Exception as exc:  # the task's owner reads the error; the server goes on
            task.error = (
                str(exc) if isinstance(exc, ModelshelfError) else (f"{type(exc).__name__}: {exc}")
            )
            task.status = FAILED
        finally:
            task.ended_at = time.time()

    def get(self, task_id: str) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise ModelNotFoundError(f"no task {task_id!r} on this server; GET /tasks lists them")
        return task

    def list(self) -> list[Task]:
        with self._lock:
            return list(reversed(self._tasks.values()))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
