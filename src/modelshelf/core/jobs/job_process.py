"""The job process: one detached process per job that sees it from queued to finished.

``python -m modelshelf.core.jobs.job_process JOBS_DB JOB_ID`` is started by
:meth:`JobManager.submit` in a new session, so the job outlives the kernel that launched
it. It waits for a
slot, starts the workers' executor processes at once (their imports then overlap its own),
and hands over to :func:`~modelshelf.core.jobs.lifecycle.execute_job`. It imports the store
only after that, to keep the time from submit to the first cell short.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from modelshelf.core.jobs.job_book import FAILED, QUEUED, RUNNING, JobBook
from modelshelf.core.jobs.spec import JobSpec

_SLOT_POLL = 0.2

# (spec, job id, workspace) -> the workers' executors, as worker_process.start_workers.
StartWorkers = Callable[[JobSpec, str, str], list[Any]]


def main(argv: list[str] | None = None) -> int:
    db_path, job_id = (argv if argv is not None else sys.argv[1:])[:2]
    return run_job(db_path, job_id)


def run_job(db_path: str, job_id: str, start: StartWorkers | None = None) -> int:
    """See job ``job_id`` through: wait for its slot, start its workers, execute, record.

    ``start`` makes the local workers' executors (default: one process each); a pooled
    runner passes its own, which runs the notebook on its pre-started kernel.
    """
    book = JobBook(db_path)
    limit = int(os.environ.get("MODELSHELF_MAX_CONCURRENT_JOBS") or 0)
    processes = []
    try:
        while True:
            status = book.claim_slot(job_id, limit, os.getpid(), socket.gethostname())
            if status == RUNNING:
                break
            if status != QUEUED:
                return 0  # cancelled while it waited
            time.sleep(_SLOT_POLL)
        record = book.get(job_id)
        spec = JobSpec.from_dict(record.spec)
        if spec.executor == "local":
            if start is None:
                from modelshelf.core.jobs.worker_process import start_workers as start

            processes = start(spec, job_id, record.workspace)
        from modelshelf.core.jobs.lifecycle import execute_job
        from modelshelf.core.store import Shelf

        shelf = Shelf(os.environ["MODELSHELF_ROOT"])  # storage options come from the env too
        execute_job(shelf, book, record, processes)
    except BaseException as exc:
        for process in processes:
            process.abandon()
        book.finish(job_id, FAILED, error=f"the job's runner failed: {type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
