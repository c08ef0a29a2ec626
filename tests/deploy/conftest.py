"""Serving fixtures: tiny models built here, a store holding them, and real uvicorn servers."""

from __future__ import annotations

import contextlib
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from deploy_helpers import managed, write_model

from modelshelf import Shelf
from modelshelf.core.deploy.http import ServingSettings
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.deploy.multimodel import create_multimodel_app

ECHO = """\
def load(model_dir):
    return {"offset": 10}

def predict(model, data):
    out = []
    for row in data:
        values = row.values() if isinstance(row, dict) else row if isinstance(row, list) else [row]
        out.append(sum(values) + model["offset"])
    return out
"""

PREDICT_FAILS = """\
def load(model_dir):
    return None

def predict(model, data):
    raise ValueError("the model does not like " + repr(data))
"""

LOAD_FAILS = """\
def load(model_dir):
    raise RuntimeError("weights are missing")

def predict(model, data):
    return data
"""

SLOW = """\
import time

def load(model_dir):
    with open({counter!r}, "a") as fh:
        fh.write("load\\n")
    time.sleep({seconds})
    return "slow"

def predict(model, data):
    return [len(data)]
"""


@dataclass
class Models:
    """Model folders built for a test, and the file the slow model counts its loads in."""

    linear: Path
    echo: Path
    predict_fails: Path
    load_fails: Path
    slow: Path
    counter: Path

    def slow_model(self, seconds: float) -> Path:
        """Another slow model, whose load() sleeps ``seconds`` (counted in the same file)."""
        folder = self.slow.parent / f"slow-{seconds}"
        source = SLOW.format(counter=str(self.counter), seconds=seconds)
        return write_model(folder, {"serve.py": source})

    def loads(self) -> int:
        """How many times the slow model's load() ran."""
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


@pytest.fixture
def models(tmp_path) -> Models:
    from sklearn.linear_model import LinearRegression

    linear = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])  # y = 2x + 1
    root = tmp_path / "models"
    counter = tmp_path / "slow-loads.txt"
    return Models(
        linear=write_model(root / "linear", {"model.pkl": pickle.dumps(linear)}),
        echo=write_model(root / "echo", {"serve.py": ECHO}),
        predict_fails=write_model(root / "predict-fails", {"serve.py": PREDICT_FAILS}),
        load_fails=write_model(root / "load-fails", {"serve.py": LOAD_FAILS}),
        slow=write_model(
            root / "slow", {"serve.py": SLOW.format(counter=str(counter), seconds=1.0)}
        ),
        counter=counter,
    )


@pytest.fixture
def store(tmp_path, models) -> Iterator[Shelf]:
    """A local store holding every test model as version 1 of its folder's name."""
    shelf = Shelf(tmp_path / "store")
    for folder in (models.linear, models.echo, models.predict_fails, models.load_fails):
        shelf.save(folder.name, folder)
    shelf.save("slow", models.slow)
    yield shelf
    shelf.close()


@pytest.fixture
def shelf(tmp_path) -> Iterator[Shelf]:
    """An empty local store (a test module that needs models in it defines its own)."""
    store = Shelf(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def manager(shelf) -> Iterator[DeploymentManager]:
    """A DeploymentManager over the test's ``shelf``, every deployment stopped at the end."""
    with managed(shelf) as deployments:
        yield deployments


@contextlib.contextmanager
def running(app: object) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server in a thread on 127.0.0.1; yield its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", ws="none", lifespan="on", access_log=False, backlog=256
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[object], str]]:
    """``serve(app)`` starts ``app`` on a free port and returns its base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(running(app))


@pytest.fixture
def mme(serve, store, tmp_path):
    """``mme(**options)`` serves a multi-model app over ``store``; returns (url, app)."""

    def start(token=None, max_body=6 * 2**20, **options):
        options.setdefault("models_dir", str(tmp_path / "loaded"))
        app = create_multimodel_app(store, ServingSettings(token, max_body), **options)
        return serve(app), app

    return start
