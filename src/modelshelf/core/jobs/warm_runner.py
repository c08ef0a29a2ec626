"""A job runner started before its job: imports done, kernel started, waiting for a job id.

``python -m modelshelf.core.jobs.warm_runner JOBS_DB OWNER_PID KERNEL CWD`` is started by
:class:`~modelshelf.core.jobs.kernel_pool.KernelPool` and talks to it over its stdin and
stdout, one line each way:

1. it prints one JSON line once its kernel is ready (the facts the pool matches jobs on);
2. it reads a job id (end of input: it stops its kernel and exits);
3. it stops being tied to its owner, prints ``taken``, and runs the job as
   ``job_process`` would, its output going to the job's ``runner.log``.

Until step 3 it dies with its owner (``PR_SET_PDEATHSIG``), and its kernel dies with it:
no pool process outlives the process keeping the pool, even after a ``kill -9``. From step
3 on it is the job's runner, which outlives whoever submitted the job, as a cold one does.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial

import nbformat
from papermill.iorw import load_notebook_node, write_ipynb

from modelshelf.core.jobs.job_process import run_job
from modelshelf.core.jobs.kernel_pool import TAKEN
from modelshelf.core.jobs.lifecycle import log_line
from modelshelf.core.jobs.notebook_process import chosen_kernel
from modelshelf.core.jobs.pooled_worker import PooledKernel, PooledWorker
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.worker_process import start_workers
from modelshelf.core.jobs.workspace import job_variables, launch_environment, worker_paths
from modelshelf.core.processes import die_with_parent, outlive_parent
from modelshelf.core.store import Shelf  # noqa: F401 - imported now, not once the job waits


def kernel_facts(kernel: PooledKernel) -> dict:
    """What decides whether a job may use this kernel (compared by the pool's owner)."""
    spec = kernel.spec
    return {
        "pid": os.getpid(),
        "kernel_pid": kernel.pid,
        "kernel": kernel.name,
        "argv": spec.argv,
        "env": spec.env,
        "language": spec.language,
        "resource_dir": spec.resource_dir,
        "python": os.path.abspath(sys.executable),  # the same interpreter, however named
    }


def start_pooled(kernel: PooledKernel, spec: JobSpec, job_id: str, workspace: str) -> list:
    """The job's executor on the pooled kernel, or cold ones if the job does not fit it."""
    paths = worker_paths(workspace, 1, spec.workers).create()
    if spec.workers != 1 or chosen_kernel(load_notebook_node(paths.notebook), spec.kernel) != (
        kernel.name
    ):
        kernel.kill()  # the owner checks before handing a job over; this only makes sure
        return start_workers(spec, job_id, workspace)
    kernel.log_to(paths.log)
    log_line(paths.log, f"the job runs on a pre-started {kernel.name} kernel (pid {kernel.pid})")
    variables = job_variables(paths, spec, job_id)
    worker = PooledWorker(
        paths, variables, parameters=spec.parameters, kernel=kernel, requested_kernel=spec.kernel
    )
    return [worker]


def _warm_up(folder: str) -> None:
    """Do once, before any job, what each job does first and only does slowly the first
    time: nbformat builds its schema validator on the first read and write (~50 ms)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = os.path.join(folder, f"warm-up-{os.getpid()}.ipynb")
    write_ipynb(nb, path)
    try:
        load_notebook_node(path)
    finally:
        os.unlink(path)


def _become_job_runner(workspace: str) -> None:
    """From here on, write where a cold runner writes, and read nothing."""
    log = os.open(os.path.join(workspace, "runner.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(null, 0)
    os.close(log)
    os.close(null)


def main(argv: list[str] | None = None) -> int:
    db_path, owner, kernel_name, cwd = (argv if argv is not None else sys.argv[1:])[:4]
    die_with_parent()
    if os.getppid() != int(owner):
        return 0  # the owner died before this process could tie itself to it
    from modelshelf.core.jobs.job_book import JobBook

    book = JobBook(db_path)
    _warm_up(cwd)
    kernel = PooledKernel(kernel_name)
    kernel.start(launch_environment(os.environ, JobSpec("", "")), cwd)
    print(json.dumps(kernel_facts(kernel)), flush=True)
    job_id = sys.stdin.readline().strip()
    if not job_id:
        kernel.kill()
        return 0
    outlive_parent()
    print(TAKEN, flush=True)
    _become_job_runner(book.get(job_id).workspace)
    book.close()
    try:
        return run_job(db_path, job_id, start=partial(start_pooled, kernel))
    finally:
        kernel.kill()  # already done if the notebook ran; not if the job never started


if __name__ == "__main__":
    sys.exit(main())
