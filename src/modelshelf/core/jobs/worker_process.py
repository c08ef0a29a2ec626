"""Run one worker's executor process and stop it on cancel or timeout; never hang."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelshelf.core.jobs.executor_start import executor_arguments
from modelshelf.core.jobs.programs import worker_command
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import WorkerPaths, job_environment, worker_paths

_POLL = 0.05
_GRACE = 5.0


@dataclass(frozen=True)
class WorkerOutcome:
    """How one worker ended: ``succeeded``, ``failed`` or ``cancelled``, and why."""

    index: int
    status: str
    error: str | None = None
    traceback: str | None = None


class WorkerProcess:
    """The executor process of one worker, started early and released when inputs are ready.

    Starting it first lets its imports (papermill, jupyter_client) overlap the runner's own
    start and the copying of the input model and data; it waits for "go" on its stdin.
    """

    def __init__(
        self,
        paths: WorkerPaths,
        env: dict[str, str],
        *,
        parameters: dict,
        kernel: str | None,
        command: list[str] | None = None,
    ) -> None:
        self.paths = paths
        # A script or pipeline brings its own executor (programs.worker_command).
        command = command or [
            sys.executable,
            "-m",
            "modelshelf.core.jobs.notebook_process",
            paths.notebook,
            paths.executed,
            *executor_arguments(parameters, paths.error, paths.root),
        ]
        if kernel:
            command += ["--kernel", kernel]
        self._log = open(paths.log, "ab", buffering=0)  # noqa: SIM115 - closed in supervise
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def release(self) -> None:
        """Let the notebook run."""
        self._send(b"go\n")

    def abandon(self) -> None:
        """The inputs could not be prepared: end the process without running anything."""
        self._send(b"stop\n")
        _stop(self.proc, self.paths)
        self._log.close()

    def _send(self, word: bytes) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.proc.stdin.write(word)
            self.proc.stdin.close()

    def supervise(self, timeout: float | None, should_stop: Callable[[], bool]) -> WorkerOutcome:
        """Wait for the notebook to end; stop it on cancel or timeout; never hang."""
        paths, proc = self.paths, self.proc
        started = time.monotonic()
        stopped_because = None
        try:
            while proc.poll() is None:
                if should_stop():
                    stopped_because = "cancelled"
                elif timeout and time.monotonic() - started > timeout:
                    stopped_because = f"timed out after {timeout:g} s"
                if stopped_because:
                    _stop(proc, paths)
                    self._log.write(f"\nmodelshelf: the job was {stopped_because}\n".encode())
                    break
                time.sleep(_POLL)
        finally:
            self._log.close()
            _kill_kernel(paths)
        if stopped_because == "cancelled":
            return WorkerOutcome(paths.index, "cancelled", "cancelled by the user")
        if stopped_because:
            return WorkerOutcome(paths.index, "failed", f"the job {stopped_because}")
        if proc.returncode == 0:
            return WorkerOutcome(paths.index, "succeeded")
        return worker_failure(paths, proc.returncode)


def run_worker(
    paths: WorkerPaths,
    env: dict[str, str],
    *,
    parameters: dict,
    kernel: str | None,
    timeout: float | None,
    should_stop: Callable[[], bool],
    command: list[str] | None = None,
) -> WorkerOutcome:
    """Execute the notebook for one worker whose inputs are ready; wait until it ends."""
    worker = WorkerProcess(paths, env, parameters=parameters, kernel=kernel, command=command)
    worker.release()
    return worker.supervise(timeout, should_stop)


def _stop(proc: subprocess.Popen, paths: WorkerPaths) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _kill_kernel(paths: WorkerPaths) -> None:
    """The kernel runs in its own session (jupyter_client's choice): end it explicitly."""
    try:
        with open(paths.kernel_pid) as fh:
            pid = int(fh.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return
    if pid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _failing_cell(executed: str) -> int | None:
    """The failing cell's number as the user counts it: code cells of their own notebook,
    from 1, without the cell papermill injected for the parameters."""
    try:
        with open(executed) as fh:
            cells = json.load(fh)["cells"]
    except (FileNotFoundError, ValueError, KeyError):
        return None
    number = 0
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code" or "injected-parameters" in tags:
            continue
        number += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return number
    return None


def worker_failure(paths: WorkerPaths, returncode: int) -> WorkerOutcome:
    try:
        with open(paths.error) as fh:
            record = json.load(fh)
    except (FileNotFoundError, ValueError):
        return WorkerOutcome(
            paths.index,
            "failed",
            f"the worker process exited with status {returncode}; see the job's log",
        )
    cell = _failing_cell(paths.executed)
    where = f" in cell {cell}" if cell is not None else ""
    message = f"{record.get('ename')}: {record.get('evalue')}{where}"
    if record.get("ename") == "DeadKernelError":
        message = f"the kernel died{where}: {record.get('evalue')}"
    return WorkerOutcome(paths.index, "failed", message, record.get("traceback"))


def start_workers(spec: JobSpec, job_id: str, workspace: str) -> list[WorkerProcess]:
    """Start the executor process of every worker; each waits until it is released."""
    processes = []
    for index in range(1, spec.workers + 1):
        paths = worker_paths(workspace, index, spec.workers).create()
        env = job_environment(paths, spec, job_id)
        command = worker_command(spec, paths)
        worker = WorkerProcess(
            paths, env, parameters=spec.parameters, kernel=spec.kernel, command=command
        )
        processes.append(worker)
    return processes
