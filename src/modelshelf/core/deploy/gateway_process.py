"""The gateway's process: started once per store's state, found again by every manager.

``gateway.json`` in the state folder says where the running gateway listens; a manager
that finds it alive and answering uses it, else starts one (under a file lock, so two
managers starting at once start one gateway) and waits for its health check.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from modelshelf.core.deploy.client import ping
from modelshelf.core.errors import DeploymentError
from modelshelf.core.processes import free_port, launch_detached, pid_alive, stop_session

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class GatewayAddress:
    """Where a gateway listens, and the process that serves it."""

    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _paths(state_dir: str) -> tuple[str, str, str]:
    folder = os.path.join(state_dir, "gateway")
    os.makedirs(folder, exist_ok=True)
    return (
        os.path.join(folder, "gateway.json"),
        os.path.join(folder, "gateway.lock"),
        os.path.join(folder, "gateway.log"),
    )


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def running_gateway(state_dir: str) -> GatewayAddress | None:
    """The gateway recorded for this state folder, if its process is alive and answers."""
    record, _, _ = _paths(state_dir)
    try:
        with open(record) as fh:
            found = GatewayAddress(**json.load(fh))
    except (OSError, ValueError, TypeError):
        return None
    if not pid_alive(found.pid) or ping(found.url, timeout=1.0)[0] != 200:
        return None
    return found


def ensure_gateway(state_dir: str, book_path: str, host: str, port: int = 0) -> GatewayAddress:
    """The running gateway, or a new one on ``port`` (0: a free one) once it answers."""
    record, lock, log = _paths(state_dir)
    with _locked(lock):
        found = running_gateway(state_dir)
        if found is not None:
            return found
        chosen = port or free_port(host)
        command = [sys.executable, "-m", "modelshelf.core.deploy.gateway", book_path]
        pid = launch_detached([*command, host, str(chosen)], log)
        address = GatewayAddress(pid, host, chosen)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while ping(address.url, timeout=1.0)[0] != 200:
            if not pid_alive(pid) or time.monotonic() > deadline:
                stop_session(pid, grace=1.0)
                raise DeploymentError(
                    f"the SageMaker runtime gateway did not start on {address.url}; "
                    f"see {log} (another program may hold the port: set "
                    "c.DeploymentManager.gateway_port to a free one)"
                )
            time.sleep(0.05)
        tmp = f"{record}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(asdict(address), fh)
        os.replace(tmp, record)
        return address


def stop_gateway(state_dir: str) -> None:
    """Stop this state folder's gateway, if one runs."""
    record, lock, _ = _paths(state_dir)
    with _locked(lock):
        found = running_gateway(state_dir)
        if found is not None:
            stop_session(found.pid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record)  # no gateway runs now: nothing is lost with the record
