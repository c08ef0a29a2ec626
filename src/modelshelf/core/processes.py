"""Detached processes: started so they outlive their launcher, stopped with all they started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

# Starts the command in a new session and exits at once: the process is nobody's child, so
# it outlives the kernel that started it (and init reaps it), and stopping its session
# stops everything it started (uvicorn's workers, papermill's executors).
_LAUNCHER = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,"
    " start_new_session=True)\n"
    "print(p.pid)\n"
)


def launch_detached(command: list[str], log_path: str, env: dict[str, str] | None = None) -> int:
    """Start ``command`` detached, its output appended to ``log_path``; return its pid."""
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, log_path, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def stop_session(pid: int, grace: float = 10.0, poll: float = 0.05) -> None:
    """SIGTERM the session led by ``pid``, then SIGKILL whatever is left after ``grace``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(poll)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    # The leader may be gone while its workers are still dying: return only once the whole
    # group is (killpg with signal 0 fails when no process is left in it).
    deadline = time.monotonic() + grace
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(poll)


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (zombies count as gone).

    killpg(0) also succeeds while the group's only members are zombies, which stay until
    init reaps them: seconds on some machines, during which stopping would seem to hang.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return True  # no /proc (macOS): killpg(0) is all we know
    return any(entry.isdigit() and _running_in_group(entry, pgid) for entry in entries)


def _running_in_group(pid: str, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # Fields after the parenthesised command name: state, ppid, pgrp, ...
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False  # gone meanwhile
    return fields[2] == str(pgid) and fields[0] != "Z"


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` runs on this host (a zombie, already dead, counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The state follows the parenthesised command name, which may contain spaces.
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know


def free_port(host: str) -> int:
    """A TCP port free on ``host`` now, for a server this package is about to start."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


# Looked up once, here: a ``preexec_fn`` runs between fork and exec, where loading a
# library could deadlock on a lock another thread held at the fork.
_prctl = _load_prctl()


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the OS to send ``sig`` to this process when its parent dies (Linux only).

    As a ``preexec_fn`` it takes effect before the child runs any code, so no window lets
    the child outlive a parent killed by ``kill -9``. The "parent" is the *thread* that
    started the child: start such children from a thread that lives as long as they should.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def outlive_parent() -> None:
    """Undo :func:`die_with_parent` for this process: from now on it outlives its parent."""
    die_with_parent(0)
