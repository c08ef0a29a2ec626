"""Helpers of the schedule tests: a local webhook receiver, scheduler processes, counting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from modelshelf.core.jobs.schedule_store import ScheduleStore

DATA = Path(__file__).parent.parent / "data"
TRAIN, FAILS = DATA / "train.ipynb", DATA / "fails.ipynb"


@contextmanager
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on 127.0.0.1 that keeps the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def start_scheduler(
    root: str,
    log: Path,
    env: dict[str, str] | None = None,
    storage: list[str] | tuple[str, ...] = (),
) -> subprocess.Popen:
    """``modelshelf scheduler`` over ``root`` in its own process (its log in ``log``);
    ``storage`` are its ``--storage-option`` flags."""
    command = [sys.executable, "-m", "modelshelf", "--root", root, *storage, "scheduler"]
    command += ["--check-interval", "1"]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def stop_schedulers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(30)


def claimed_runs(store: ScheduleStore, name: str) -> list[dict]:
    """Every run record of ``name`` in the store, oldest first."""
    return store.runs(name, limit=10_000)[::-1]


def duplicates(values: list) -> list:
    """The values that occur more than once."""
    return sorted(v for v, n in Counter(values).items() if n > 1)
