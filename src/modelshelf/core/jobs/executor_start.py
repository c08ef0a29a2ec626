"""What every job executor process (notebook_process, script_process) shares: the options the
runner starts it with, and its first steps."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys


def executor_arguments(parameters: dict, error_file: str, cwd: str) -> list[str]:
    """The options a runner starts every executor with (read by :func:`add_executor_options`):
    the parameters, where a failure is written, the working directory, and to wait for "go"."""
    return [
        "--parameters", json.dumps(parameters), "--error-file", error_file, "--cwd", cwd,
        "--wait-for-go",
    ]  # fmt: skip


def add_executor_options(parser: argparse.ArgumentParser, *, cwd_required: bool) -> None:
    """The options of :func:`executor_arguments`, on an executor's own parser."""
    parser.add_argument("--parameters", default="{}", help="JSON object")
    parser.add_argument("--cwd", required=cwd_required, default=None)
    parser.add_argument("--error-file", required=True)
    parser.add_argument("--wait-for-go", action="store_true", help="run after 'go' on stdin")


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
