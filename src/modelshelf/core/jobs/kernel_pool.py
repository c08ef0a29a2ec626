"""Pre-started job runners, each with its own kernel, kept by the process holding a JobManager.

A cold job spends about a second before its first cell: a runner interpreter starts and
imports the store, an executor imports papermill and jupyter_client, a kernel starts and
imports ipykernel. A pooled runner (``warm_runner.py``) has done all of it before the job
exists, so a job handed to it only reads its record and runs. Each runner and its kernel
serve one job and then exit: every job still gets a fresh interpreter; the pool starts a
replacement at once.

Who keeps the pool matters: its runners die with the process that keeps it (until one is
given a job, from when on it is that job's runner). That suits a long-lived owner (the
Jupyter server extension, a notebook's kernel using ``%job``, a script submitting many
jobs); the ``modelshelf`` CLI exits right after a submit, so a pool there would only be
started and thrown away: ``kernel_pool`` stays 0 for it.

A job is handed to a pooled runner only if it runs one local worker on the pool's kernel,
the kernelspec it resolves to now is the one the pooled kernel was started from (name,
command line, env, folder, Python), and its environment, apart from the job's own
variables, is exactly the one the kernel was started with. Anything else runs cold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import launch_environment
from modelshelf.core.processes import pid_alive

TAKEN = "taken"  # what a runner answers once it has taken its job
_READY_TIMEOUT = 60.0  # a kernel that takes longer to start is not worth waiting for
_ACK_TIMEOUT = 10.0
_RETRY_AFTER = 5.0  # after a runner failed to start: do not spin on a broken kernelspec

log = logging.getLogger(__name__)


class PooledRunner:
    """One pre-started runner, seen from the pool: its process and what it reported."""

    def __init__(self, proc: subprocess.Popen, facts: dict, launch_env: dict[str, str]) -> None:
        self.proc = proc
        self.facts = facts
        self.launch_env = launch_env

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None and pid_alive(int(self.facts.get("kernel_pid") or 0))

    def fits(self, kernel: dict | None, launch_env: dict[str, str]) -> bool:
        """True if a job on ``kernel`` (facts as :func:`kernelspec_facts` gives them) with
        this launch environment would see exactly what a kernel started for it sees."""
        return (
            kernel is not None
            and all(self.facts.get(key) == value for key, value in kernel.items())
            and self.launch_env == launch_env
        )

    def hand_over(self, job_id: str) -> bool:
        """Give the runner its job; True once it has taken it (and outlives this process)."""
        try:
            self.proc.stdin.write(f"{job_id}\n".encode())
            self.proc.stdin.close()
            line = _read_line(self.proc, _ACK_TIMEOUT)
        except OSError:
            line = None
        self.proc.stdout.close()
        if line != TAKEN:
            self.proc.kill()  # unsure whether it runs the job: it must not, the caller will
        # Reap it when the job ends, so it leaves no zombie behind in a long-lived owner.
        threading.Thread(target=self.proc.wait, name=f"job runner {self.pid}", daemon=True).start()
        return line == TAKEN

    def stop(self, grace: float = 5.0) -> None:
        """End an idle runner: end of input makes it stop its kernel and exit."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its kernel dies with it (PR_SET_PDEATHSIG)
            self.proc.wait()
        self.proc.stdout.close()


def kernelspec_facts(name: str) -> dict | None:
    """The kernelspec ``name`` resolves to now, as a pooled runner reports its own."""
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return None
    return {
        "kernel": name,
        "argv": spec.argv,
        "env": spec.env,
        "language": spec.language,
        "resource_dir": spec.resource_dir,
        "python": os.path.abspath(sys.executable),  # the same interpreter, however named
    }


class KernelPool:
    """Keeps ``size`` runners ready; replaces each one that is taken.

    Runners are started from one long-lived thread of this pool: each dies with the thread
    that started it (PR_SET_PDEATHSIG), so that thread must outlive them.
    """

    def __init__(
        self,
        size: int,
        *,
        db_path: str,
        kernel: str,
        cwd: str,
        log_path: str,
        runner_env: Callable[[], dict[str, str]],
    ) -> None:
        self.size = size
        self.kernel = kernel
        self._db_path = db_path
        self._cwd = cwd
        self._log_path = log_path
        self._runner_env = runner_env
        self._idle: list[PooledRunner] = []
        self._stale: list[PooledRunner] = []  # taken out of the pool, for the keeper to stop
        self._starting: subprocess.Popen | None = None
        self._lock = threading.Condition()
        self._closed = False
        os.makedirs(cwd, exist_ok=True)
        self._keeper = threading.Thread(target=self._keep, name="kernel pool", daemon=True)
        self._keeper.start()

    def resize(self, size: int) -> None:
        with self._lock:
            self.size = size
            self._lock.notify_all()

    def take(self, spec: JobSpec, notebook: str, launch_env: dict[str, str]) -> PooledRunner | None:
        """A ready runner fit for this job (see the module's doc), or None: run it cold.

        ``notebook`` is the job's snapshot (its metadata names its kernel) and
        ``launch_env`` the environment its kernel would be started with, without the job's
        own variables (:func:`~modelshelf.core.jobs.workspace.launch_environment`).
        Runners that can fit no job any more (the owner's environment or the kernelspec
        changed since they started, or they died) are replaced.
        """
        # Only notebooks run on a kernel (scripts and pipelines bring their own executor).
        notebook_job = getattr(spec, "kind", "notebook") == "notebook"
        if not notebook_job or spec.executor != "local" or spec.workers != 1:
            return None
        if _resolved_against_cwd(launch_env):
            return None  # a kernel started elsewhere would import from other folders
        with self._lock:
            if not self._idle or not os.path.isfile(notebook):
                return None
        from modelshelf.core.jobs.notebook_process import chosen_kernel

        with open(notebook, "rb") as fh:
            kernel = chosen_kernel(json.load(fh), spec.kernel)
        facts = kernelspec_facts(self.kernel)
        current = launch_environment(self._runner_env(), JobSpec("", ""))
        with self._lock:
            for runner in list(self._idle):
                if not runner.alive() or not runner.fits(facts, current):
                    self._idle.remove(runner)
                    self._stale.append(runner)
            self._lock.notify_all()  # the keeper stops the stale ones and refills
            if kernel != self.kernel or facts is None or launch_env != current:
                return None  # not this pool's kernel, or the job sets its own variables
            return self._idle.pop(0) if self._idle else None

    def wait_ready(self, timeout: float) -> bool:
        """Wait until all ``size`` runners are ready; False if they are not in time."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._idle) < self.size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return len(self._idle) >= self.size

    @property
    def ready(self) -> int:
        """How many runners are ready now."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Stop the idle runners and their kernels (runners already given jobs go on)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            starting = self._starting
        if starting is not None:
            starting.kill()  # do not wait for a kernel nobody will use
        self._keeper.join()

    def _keep(self) -> None:
        # Load here what `take` needs, before the first job needs it (and not in the thread
        # that made the pool: a JobManager is made at once).
        import modelshelf.core.jobs.notebook_process  # noqa: F401

        kernelspec_facts(self.kernel)
        try:
            while True:
                with self._lock:
                    while not self._closed and not self._stale and len(self._idle) == self.size:
                        self._lock.wait()
                    if self._closed:
                        return
                    surplus = self._idle[self.size :] + self._stale
                    del self._idle[self.size :]
                    self._stale = []
                    missing = self.size - len(self._idle)
                for runner in surplus:
                    runner.stop()
                if missing > 0 and not self._start_one():
                    with self._lock:
                        if not self._closed:
                            self._lock.wait(_RETRY_AFTER)
        finally:
            with self._lock:
                idle, self._idle = self._idle + self._stale, []
                self._stale = []
            for runner in idle:
                runner.stop()

    def _start_one(self) -> bool:
        env = self._runner_env()
        command = [
            sys.executable,
            "-m",
            "modelshelf.core.jobs.warm_runner",
            self._db_path,
            str(os.getpid()),
            self.kernel,
            self._cwd,
        ]
        with open(self._log_path, "ab") as log_file:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                cwd=self._cwd,
                # Away from the owner's terminal: a Ctrl-C there must not reach a job.
                start_new_session=True,
            )
        with self._lock:
            self._starting = proc
        try:
            line = _read_line(proc, _READY_TIMEOUT)
        finally:
            with self._lock:
                self._starting = None
        try:
            facts = json.loads(line) if line else None
        except ValueError:
            facts = None
        runner = PooledRunner(proc, facts or {}, launch_environment(env, JobSpec("", "")))
        if facts is None:
            if not self._closed:
                log.warning("a pooled job runner did not start; see %s", self._log_path)
            runner.stop(grace=0.5)
            return False
        with self._lock:
            self._idle.append(runner)  # if closed meanwhile, the keeper stops it next
            self._lock.notify_all()
        return True


def _resolved_against_cwd(env: dict[str, str]) -> bool:
    """Does ``PYTHONPATH`` hold a relative folder? Python resolves it against the folder the
    kernel starts in, which for a pooled kernel is not the job's workspace."""
    entries = env.get("PYTHONPATH", "").split(os.pathsep)
    return any(entry and not os.path.isabs(entry) for entry in entries)


def _read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """One line the runner printed, or None if it printed none in time (or exited)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return None
    return proc.stdout.readline().decode().strip() or None
