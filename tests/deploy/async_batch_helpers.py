"""Helpers of the async and batch tests: tiny real models and a real server on loopback."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import uvicorn

from support import free_port, wait_for

# predict(x) = 2 x + 1, exactly: the expected answers are easy to write down.
LINEAR_X = [[0.0], [1.0], [2.0], [3.0]]

# Waits for the file named in the request before answering: a request that stays in progress
# as long as a test wants. "fail" in the request raises, like a model's own bug.
GATED_SERVE = """
import os
import time


def load(model_dir):
    gate = os.path.join(model_dir, "load-gate")
    if os.path.exists(gate + ".wanted"):
        _wait(gate)
    return {"loaded": True}


def predict(model, data):
    if data.get("fail"):
        raise ValueError("asked to fail: " + str(data["fail"]))
    if data.get("gate"):
        _wait(data["gate"])
    return {"echo": data["x"], "pid": os.getpid()}


def _wait(path):
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
"""

# Fails on any object holding "bad": a model bug that only some inputs meet.
PICKY_SERVE = """
def load(model_dir):
    return None


def predict(model, data):
    if isinstance(data, dict) and data.get("bad"):
        raise RuntimeError("cannot score this row")
    return {"ok": data}
"""


def linear_model(folder: Path) -> Path:
    """A real scikit-learn LinearRegression, pickled as ``model.pkl``."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(LINEAR_X, [2 * x[0] + 1 for x in LINEAR_X])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    return folder


def serve_model(folder: Path, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serve.py").write_text(code)
    return folder


def rounded(values: Any) -> Any:
    """Predictions rounded, so float noise does not matter."""
    if isinstance(values, list):
        return [rounded(v) for v in values]
    return round(values, 6) if isinstance(values, float) else values


class ServerThread:
    """Run an ASGI app under a real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            ws="none",
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), timeout=30)
        assert self.server.started, "the server did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()
