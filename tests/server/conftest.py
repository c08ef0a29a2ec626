"""A real Jupyter server with the modelshelf extension, through pytest-jupyter's fixtures.

The fixtures are imported here (not registered in the root conftest) so that their autouse
event-loop fixtures touch only these tests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403
from pytest_jupyter.pytest_tornasync import *  # noqa: F403
from tornado.httpclient import HTTPClientError

Fetch = Callable[..., Awaitable[Any]]

TRAIN = """\
import os, pathlib
out = pathlib.Path(os.environ["ML_OUTPUT_PATH"])
out.mkdir(parents=True, exist_ok=True)
(out / "weights.txt").write_text(f"epochs={epochs} lr={lr}")
print("trained for", epochs, "epochs")
"""


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(
        cells=[tagged, *(nbformat.v4.new_code_cell(c) for c in cells)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}},
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, str(path))
    return path


@pytest.fixture
def store_root(tmp_path) -> Path:
    return tmp_path / "store"


def extension_config(root: str, storage_options: dict | None = None, **server: Any) -> dict:
    """Server config enabling modelshelf over ``root``, refusing anonymous requests."""
    app: dict[str, Any] = {"root": root}
    if storage_options is not None:
        app["storage_options"] = storage_options
    return {
        "ServerApp": {
            "jpserver_extensions": {"modelshelf": True, "jupyter_server_terminals": False},
            # Handlers without auth decorators would be reachable anonymously otherwise.
            "allow_unauthenticated_access": False,
            **server,
        },
        "ModelshelfApp": app,
        # The server keeps a pre-started job runner by default; REST tests need none (a
        # runner and its kernel per test would cost seconds of CPU each).
        "JobManager": {"kernel_pool": 0},
    }


@pytest.fixture
def jp_server_config(store_root):
    return extension_config(str(store_root))


@pytest.fixture
def shelf(jp_serverapp):
    """The store the running extension serves (the same object its handlers use)."""
    return jp_serverapp.web_app.settings["modelshelf"].shelf


@pytest.fixture
def model_folder(tmp_path) -> Path:
    folder = tmp_path / "model-src"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01weights" * 100)
    (folder / "sub" / "config.json").write_text('{"layers": 2}')
    return folder


@pytest.fixture
def api(jp_fetch) -> Fetch:
    """``await api("GET", "models", params=..., body=...)`` -> (status, JSON or bytes).

    Error statuses are returned, not raised, so tests can look at the error body.
    """

    async def call(method: str, *path: str, body: Any = None, raw: bytes | None = None,
                   params: dict | None = None, **kw: Any) -> tuple[int, Any]:  # fmt: skip
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if method in ("POST", "PUT") and data is None:
            data = b""
        try:
            response = await jp_fetch(
                "modelshelf", "api", *path, method=method, body=data, params=params or {}, **kw
            )
        except HTTPClientError as exc:
            response = exc.response
            assert response is not None, exc
        content = response.body
        if response.headers.get("Content-Type", "").startswith("application/json"):
            content = json.loads(content)
        return response.code, content

    return call


@pytest.fixture
def wait_for(api):
    """Poll a GET route until ``done(body)``; return the last body."""

    async def wait(path: tuple[str, ...], done: Callable[[Any], bool], timeout: float = 90):
        deadline = time.monotonic() + timeout
        while True:
            status, body = await api("GET", *path)
            assert status == 200, body
            if done(body) or time.monotonic() > deadline:
                return body
            await asyncio.sleep(0.2)

    return wait


@pytest.fixture
def raw_fetch(http_server_client, jp_base_url, jp_auth_header):
    """GET a path under /modelshelf/api exactly as written (no escaping): for the
    percent-encoded traversal tricks a browser or curl could send."""

    async def fetch(path: str) -> tuple[int, bytes]:
        url = f"{jp_base_url.rstrip('/')}/modelshelf/api/{path}"
        try:
            response = await http_server_client.fetch(url, headers=jp_auth_header)
        except HTTPClientError as exc:
            response = exc.response
            assert response is not None, exc
        return response.code, response.body

    return fetch
