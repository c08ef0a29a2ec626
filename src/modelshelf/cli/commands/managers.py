"""The job and deployment managers a command uses: the face's own, or one for the command.

Two per-invocation objects may come from the face that calls a handler, and both are
optional: ``args.job_manager`` / ``args.deploy_manager`` (a magic keeps one for the life of
its kernel; without it the handler builds one and closes it when the command ends) and
``args.on_log``, a callable given each log line as soon as it is written (``--follow``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from modelshelf.core.deploy.manager import DeploymentManager
    from modelshelf.core.jobs import JobManager
    from modelshelf.core.store import Shelf

_M = TypeVar("_M", bound=Any)


def job_manager(shelf: Shelf, args: argparse.Namespace) -> AbstractContextManager[JobManager]:
    """``args.job_manager`` when the face gave one, else a JobManager closed afterwards."""
    # Imported by the commands that use it, when they run (see cli/main.py).
    from modelshelf.core.jobs import JobManager

    # One made for one command never keeps a kernel pool: it ends with the command, and
    # the pool with it, before any job could use the pool (MODELSHELF_KERNEL_POOL or not).
    return managed(getattr(args, "job_manager", None), lambda: JobManager(shelf, kernel_pool=0))


@contextmanager
def managed(given: _M | None, make: Callable[[], _M]) -> Iterator[_M]:
    """The manager a face keeps (a magic's, for the life of its kernel), or a new one that
    is closed when the command ends (the CLI's)."""
    if given is not None:
        yield given
        return
    manager = make()
    try:
        yield manager
    finally:
        manager.close()


def deploy_manager(
    shelf: Shelf, args: argparse.Namespace
) -> AbstractContextManager[DeploymentManager]:
    """``args.deploy_manager`` when the face gave one, else one closed afterwards."""
    from modelshelf.core.deploy.manager import DeploymentManager

    return managed(getattr(args, "deploy_manager", None), lambda: DeploymentManager(shelf))
