"""Where a kernel's code comes from: its notebook's path, and the job it runs as, if any.

``%model save`` records both on the version it creates, so a model can be traced back to the
notebook (and the parameters) that trained it without the user typing either.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Lineage",
    "detect_lineage",
    "is_watched",
    "job_parameters",
    "notebook_path",
    "papermill_notebook",
    "running_job",
]


@dataclass(frozen=True)
class Lineage:
    """What ``%model save`` records besides what the user passed."""

    notebook: str | None = None
    job: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _process_command(pid: int) -> tuple[list[str], str] | None:
    """(argv, working folder) of a process, or None where the system does not tell."""
    try:
        import psutil  # optional: portable where it is installed
    except ImportError:
        return _proc_command(pid)
    try:
        process = psutil.Process(pid)
        return process.cmdline(), process.cwd()
    except (psutil.Error, OSError):
        return None


def _proc_command(pid: int) -> tuple[list[str], str] | None:
    try:  # Linux
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [part.decode(errors="replace") for part in fh.read().split(b"\0") if part]
        return argv, os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def papermill_notebook(argv: Sequence[str], cwd: str) -> str | None:
    """The input notebook of a ``papermill IN.ipynb OUT.ipynb`` command line, made absolute.

    Papermill tells its kernel neither path, but its kernel is its child: the parent's command
    line names the notebook.
    """
    start = next(
        (
            i
            for i, arg in enumerate(argv)
            if os.path.basename(arg) in ("papermill", "papermill.exe")
            or arg.replace("\\", "/").endswith("papermill/__main__.py")
        ),
        None,
    )
    if start is None:
        return None
    for arg in argv[start + 1 :]:
        if arg.startswith("-") or not arg.endswith(".ipynb"):
            continue
        if "://" in arg:
            return arg
        return os.path.normpath(os.path.join(cwd, os.path.expanduser(arg)))
    return None


def _papermill_parent() -> str | None:
    found = _process_command(os.getppid())
    return papermill_notebook(*found) if found else None


def notebook_path(user_ns: Mapping[str, Any]) -> str | None:
    """The running notebook's path, from whatever the kernel's launcher left behind.

    VS Code sets ``__vsc_ipynb_file__``; ipykernel sets ``__session__`` from the
    ``JPY_SESSION_NAME`` that jupyter_server gives a kernel; papermill leaves only its own
    command line, in the parent process.
    """
    for candidate in (
        user_ns.get("__vsc_ipynb_file__"),
        user_ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return _papermill_parent()


def job_parameters() -> dict[str, Any]:
    """The running job's papermill parameters (``MODELSHELF_JOB_PARAMETERS``), or ``{}``."""
    text = os.environ.get("MODELSHELF_JOB_PARAMETERS")
    if not text:
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        return {}  # lineage is a bonus: a mangled variable must not stop a save
    return values if isinstance(values, dict) else {}


def running_job() -> dict[str, Any] | None:
    """The job this kernel runs as (``ML_JOB_ID`` and friends), or None outside a job."""
    job_id = os.environ.get("ML_JOB_ID")
    if not job_id:
        return None
    job: dict[str, Any] = {"id": job_id, "name": os.environ.get("ML_JOB_NAME") or job_id}
    index, count = os.environ.get("ML_WORKER_INDEX"), os.environ.get("ML_WORKER_COUNT")
    if index and count and index.isdigit() and count.isdigit():
        job.update(worker=int(index), workers=int(count))
    job["parameters"] = job_parameters()
    return job


def detect_lineage(user_ns: Mapping[str, Any], job_notebook: str | None = None) -> Lineage:
    """Notebook path, job and job parameters of the running kernel.

    ``job_notebook`` (the job's own record of its notebook) stands in for the path when the
    kernel cannot tell it, as in a job, whose kernel runs a snapshot.
    """
    job = running_job()
    notebook = notebook_path(user_ns)
    if job is not None and job_notebook:
        job["notebook"] = job_notebook
        notebook = notebook or job_notebook
    return Lineage(notebook=notebook, job=job, params=job_parameters() if job else {})


def is_watched(user_ns: Mapping[str, Any]) -> bool:
    """Whether someone watches this kernel live: not a job, a papermill run or a pipe.

    Decides progress bars (in papermill output or a job log they would be hundreds of
    carriage-return lines) and the panels' auto refresh (nobody would see it).
    """
    if os.environ.get("ML_JOB_ID"):
        return False
    frontend = bool(os.environ.get("JPY_SESSION_NAME") or user_ns.get("__vsc_ipynb_file__"))
    if frontend:
        return True
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty()) and _papermill_parent() is None
