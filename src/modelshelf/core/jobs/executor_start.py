"""The first steps of every job executor process (notebook_process, script_process)."""

from __future__ import annotations

import logging
import signal
import sys


def start_executor() -> None:
    """Unbuffered, timestamped lines on stdout (the job's log, read live by
    ``job.logs(follow=True)``), and SIGTERM (a cancel) ending the process with 143."""
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s", force=True
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def go_received(wait_for_go: bool) -> bool:
    """With ``--wait-for-go``, wait until the runner says its inputs are in place: True on
    "go", False when the runner gave up (stdin closed or anything else)."""
    return not wait_for_go or sys.stdin.readline().strip() == "go"
