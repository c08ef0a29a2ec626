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

from modelshelf.core.jobs.job_book import FAILED, QUEUED, RUNNING, JobBook
from modelshelf.core.jobs.spec import JobSpec

_SLOT_POLL = 0.2


def main(argv: list[str] | None = None) -> int:
    db_path, job_id = (argv if argv is not None else sys.argv[1:])[:2]
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
            from modelshelf.core.jobs.worker_process import start_workers

            processes = start_workers(spec, job_id, record.workspace)
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
