"""A job's only worker, run on a kernel started before the job existed.

A kernel of the pool is started with the launch environment its job will have (the
runner's environment without any job's own variables) in a neutral folder. Once the job is
known, and before papermill runs the first cell, one silent request (no execution count, no
history) gives it what a kernel started for the job would have had from the start: the
job's variables (:func:`~modelshelf.core.jobs.workspace.job_variables`), the job's folder as
working directory, and IPython's directory history. ``sys.argv`` and ``sys.path`` need
nothing: the kernel's command line is the same kernelspec's, and ipykernel drops the start
folder from ``sys.path`` in favour of ``''`` (the current folder, whatever it becomes).

The kernel is used by this one job and killed after it: every job gets a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import nbformat
import papermill
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.iorw import load_notebook_node
from papermill.log import logger as papermill_logger

from modelshelf.core.errors import JobError
from modelshelf.core.jobs.notebook_process import (
    RecordingKernelManager,
    error_record,
    kernel_and_language,
)
from modelshelf.core.jobs.worker_process import WorkerOutcome, worker_failure
from modelshelf.core.jobs.workspace import WorkerPaths
from modelshelf.core.processes import die_with_parent

ENGINE = "modelshelf-pooled"
_POLL = 0.05

log = logging.getLogger("modelshelf")


class PooledKernel:
    """One pre-started kernel: started once, given to one job, killed after it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.km = RecordingKernelManager(kernel_name=name)
        self._killed = False
        self._target: Any = sys.stderr.buffer  # the pooled runner's log until a job comes

    @property
    def spec(self) -> KernelSpec:
        return self.km.kernel_spec

    def start(self, env: dict[str, str], cwd: str) -> None:
        """Start the kernel; its own output (fd 1 and 2) goes where :meth:`log_to` says."""
        reader, writer = os.pipe()
        # IPC socket paths are relative to the working directory unless absolute, and a job
        # changes it; a short absolute one also stays within the socket path limit.
        self.km.ip = os.path.join(tempfile.gettempdir(), f"modelshelf-kernel-{os.getpid()}-ipc")
        # Started by nbclient itself, as it starts a cold job's kernel (the same command line,
        # e.g. --HistoryManager.hist_file=:memory:), from the calling thread (no event loop
        # runs in it, so run_sync uses this thread): the kernel dies with that thread, the
        # pooled runner's main one. Connected and answering before any job comes: a
        # client's first wait_for_ready alone takes 0.2-0.8 s (it drains IOPub until 0.2 s
        # of silence).
        starter = NotebookClient(nbformat.v4.new_notebook(), km=self.km)
        starter.start_new_kernel(
            env=env, cwd=cwd, stdout=writer, stderr=writer, preexec_fn=die_with_parent
        )
        os.close(writer)
        threading.Thread(target=self._forward, args=(reader,), daemon=True).start()
        self.kc = starter.start_new_kernel_client()

    def log_to(self, path: str) -> None:
        """Send the kernel's own output to ``path`` from now on (the job's log, as a kernel
        started for the job writes it there)."""
        self._target = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as the kernel

    def _forward(self, reader: int) -> None:
        with open(reader, "rb", buffering=0) as source:
            while chunk := source.read(65536):
                with contextlib.suppress(OSError, ValueError):
                    self._target.write(chunk)

    @property
    def pid(self) -> int:
        return int(getattr(self.km.provisioner, "pid", 0) or 0)

    def interrupt(self) -> None:
        """Kill the kernel's session now (papermill, waiting on it, then fails the cell)."""
        if self.pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the kernel, reap it and remove its connection file (once papermill is done)."""
        if self._killed:
            return
        self._killed = True
        self.interrupt()
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        with contextlib.suppress(Exception):  # best effort: the kernel is gone either way
            run_sync(self.km.provisioner.wait)()
        run_sync(self.km.cleanup_resources)()


def prepare_code(variables: dict[str, str], cwd: str) -> str:
    """Python run silently in a pooled kernel before the job's first cell (leaves no names)."""
    return (
        "def __modelshelf_enter_job(variables, cwd):\n"
        "    import os, pathlib\n"
        "    os.environ.update(variables)\n"
        "    os.chdir(cwd)\n"
        # As IPython's HistoryManager sets it when it starts (``_dh``, ``%dhist``).
        "    get_ipython().history_manager.dir_hist[:] = [pathlib.Path.cwd()]\n"
        f"__modelshelf_enter_job({variables!r}, {cwd!r})\n"
        "del __modelshelf_enter_job\n"
    )


class _PreparedClient(PapermillNotebookClient):
    """papermill's client that first gives the kernel its job (see ``prepare_code``)."""

    prepare: str = ""

    def papermill_execute_cells(self) -> None:
        reply = self.wait_for_reply(self.kc.execute(self.prepare, silent=True, store_history=False))
        content = (reply or {}).get("content", {})
        if content.get("status") != "ok":
            raise JobError(
                "the pre-started kernel could not take the job's environment: "
                f"{content.get('ename')}: {content.get('evalue')}"
            )
        super().papermill_execute_cells()


class PooledEngine(NBClientEngine):
    """papermill's nbclient engine on a pooled kernel (``kernel=``), prepared first."""

    @classmethod
    def execute_managed_notebook(  # type: ignore[override]
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        *,
        kernel: PooledKernel,
        prepare: str,
        **_: Any,
    ) -> Any:
        client = _PreparedClient(
            nb_man,
            km=kernel.km,
            kernel_name=kernel_name,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            startup_timeout=start_timeout,
            timeout=execution_timeout,
        )
        client.kc = kernel.kc  # ready since the pool started it: nbclient keeps it
        client.prepare = prepare
        return client.execute()


papermill_engines.register(ENGINE, PooledEngine)


class PooledWorker:
    """The executor of a job's one worker, on a pooled kernel, inside the pooled runner.

    It has :class:`~modelshelf.core.jobs.worker_process.WorkerProcess`'s interface, so the
    job's lifecycle does not know which of the two runs it.
    """

    def __init__(
        self,
        paths: WorkerPaths,
        variables: dict[str, str],
        *,
        parameters: dict,
        kernel: PooledKernel,
        requested_kernel: str | None,
    ) -> None:
        self.paths = paths
        self._variables = variables
        self._parameters = parameters
        self._kernel = kernel
        self._requested = requested_kernel
        with open(paths.kernel_pid, "w") as fh:  # as the cold executor leaves it
            fh.write(str(kernel.pid))

    def release(self) -> None:
        """Nothing to wait for: the notebook runs in :meth:`supervise`."""

    def abandon(self) -> None:
        """The inputs could not be prepared: the kernel goes unused."""
        self._kernel.kill()

    def supervise(self, timeout: float | None, should_stop: Callable[[], bool]) -> WorkerOutcome:
        """Run the notebook; kill the kernel on cancel or timeout (papermill then stops)."""
        stopped: list[str] = []
        done = threading.Event()

        def watch() -> None:
            started = time.monotonic()
            while not done.wait(_POLL):
                if should_stop():
                    stopped.append("cancelled")
                elif timeout and time.monotonic() - started > timeout:
                    stopped.append(f"timed out after {timeout:g} s")
                else:
                    continue
                self._kernel.interrupt()
                return

        watcher = threading.Thread(target=watch, name="job watch", daemon=True)
        watcher.start()
        try:
            returncode = self._execute()
        finally:
            done.set()
            watcher.join()
            self._kernel.kill()
        paths = self.paths
        if stopped:
            with open(paths.log, "a") as fh:
                fh.write(f"\nmodelshelf: the job was {stopped[0]}\n")
            if stopped[0] == "cancelled":
                return WorkerOutcome(paths.index, "cancelled", "cancelled by the user")
            return WorkerOutcome(paths.index, "failed", f"the job {stopped[0]}")
        if returncode == 0:
            return WorkerOutcome(paths.index, "succeeded")
        return worker_failure(paths, returncode)

    def _execute(self) -> int:
        """papermill on the pooled kernel, logging as the cold executor does; 0 or 1."""
        paths = self.paths
        handler = logging.FileHandler(paths.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            nb = load_notebook_node(paths.notebook)
            kernel, language = kernel_and_language(nb, self._requested)
            papermill.execute_notebook(
                paths.notebook,
                paths.executed,
                parameters=self._parameters,
                kernel_name=kernel,
                language=language,
                progress_bar=False,
                log_output=True,
                cwd=paths.root,
                engine_name=ENGINE,
                kernel=self._kernel,
                prepare=prepare_code(self._variables, paths.root),
            )
        except BaseException as exc:
            with open(paths.error, "w") as fh:
                json.dump(error_record(exc), fh)
            log.error("the notebook failed: %s", exc)
            return 1
        finally:
            root.removeHandler(handler)
            handler.close()
        return 0
