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

from modelshelf.core.jobs.workspace import WorkerPaths

_POLL = 0.05
_GRACE = 5.0


@dataclass(frozen=True)
class WorkerOutcome:
    """How one worker ended: ``succeeded``, ``failed`` or ``cancelled``, and why."""

    index: int
    status: str
    error: str | None = None
    traceback: str | None = None


def run_worker(
    paths: WorkerPaths,
    env: dict[str, str],
    *,
    parameters: dict,
    kernel: str | None,
    timeout: float | None,
    should_stop: Callable[[], bool],
) -> WorkerOutcome:
    """Execute the notebook for one worker; return when its process and kernel are gone."""
    command = [
        sys.executable,
        "-m",
        "modelshelf.core.jobs.execute",
        paths.notebook,
        paths.executed,
        "--parameters",
        json.dumps(parameters),
        "--error-file",
        paths.error,
        "--cwd",
        paths.root,
    ]
    if kernel:
        command += ["--kernel", kernel]
    env = {**env, "MODELSHELF_KERNEL_PID_FILE": paths.kernel_pid, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with open(paths.log, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        stopped_because = None
        while proc.poll() is None:
            if should_stop():
                stopped_because = "cancelled"
            elif timeout and time.monotonic() - started > timeout:
                stopped_because = f"timed out after {timeout:g} s"
            if stopped_because:
                _stop(proc, paths)
                log.write(f"\nmodelshelf: the job was {stopped_because}\n".encode())
                break
            time.sleep(_POLL)
    _kill_kernel(paths)
    if stopped_because == "cancelled":
        return WorkerOutcome(paths.index, "cancelled", "cancelled by the user")
    if stopped_because:
        return WorkerOutcome(paths.index, "failed", f"the job {stopped_because}")
    if proc.returncode == 0:
        return WorkerOutcome(paths.index, "succeeded")
    return _failure(paths, proc.returncode)


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


def _failure(paths: WorkerPaths, returncode: int) -> WorkerOutcome:
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
