"""The multi-model app's local model folders and Multi Model Server's bodies, over real HTTP.

``POST /models`` takes a local folder as SageMaker sends it, under the endpoint's model
roots only (after resolving symlinks and ``..``), and serves it in place; the management and
invoke routes answer with MMS's own ``StatusResponse`` and ``ErrorResponse`` bodies.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import httpx
import pytest
from mms_handlers import write
from sklearn_container import snapshot

HELPER_SERVE = """\
import helper

def load(model_dir):
    return helper.OFFSET

def predict(model, data):
    return [sum(row) + model for row in data]
"""


@pytest.fixture
def roots(tmp_path, models) -> Path:
    """An allowed root holding ``helped`` (serve.py importing a helper module of its own),
    with a model folder beside it that is outside every root, and a link from the root to it."""
    root = tmp_path / "roots"
    write(root / "helped", {"serve.py": HELPER_SERVE, "helper.py": "OFFSET = 100\n"})
    write(tmp_path / "outside" / "echo", {"serve.py": models.echo.joinpath("serve.py").read_text()})
    (root / "link-out").symlink_to(tmp_path / "outside" / "echo")
    (root / "link-in").symlink_to(root / "helped")
    return root


def register(client: httpx.Client, name: str, url: str) -> httpx.Response:
    return client.post("/models", json={"model_name": name, "url": url})


def mms_text(body: dict) -> str:
    """JSON as Multi Model Server's frontend writes it: Gson's pretty printing, a newline."""
    return json.dumps(body, indent=2) + "\n"


def test_a_local_folder_is_served_in_place_and_left_as_it_was(mme, roots):
    url, app = mme(model_roots=[str(roots)], max_models=1)
    folder = roots / "helped"
    before = snapshot(folder)
    with httpx.Client(base_url=url) as client:
        added = register(client, "helped", str(folder))
        assert added.status_code == 200, added.text
        assert added.json() == {
            "status": "Workers scaled",
            "modelName": "helped",
            "modelUrl": str(folder),
        }
        assert client.post("/models/helped/invoke", json=[[1, 2]]).json() == [103]
        # Pushed out by another model (max_models=1), then loaded again from the folder.
        assert register(client, "other", f"file://{roots}/link-in").status_code == 200
        assert app.state.endpoint.cache.loaded() == ["other"]
        assert client.post("/models/helped/invoke", json=[[1]]).json() == [101]
        assert client.get("/models/helped").json() == {
            "modelName": "helped",
            "modelUrl": str(folder),
        }
        assert client.delete("/models/helped").status_code == 200
        assert client.delete("/models/other").status_code == 200
    # Read, never written (no __pycache__ for serve.py or helper.py), and not removed.
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    "path",
    [
        "{outside}/echo",  # absolute, elsewhere
        "{roots}/../outside/echo",  # .. out of the root
        "{roots}/link-out",  # a symlink in the root to a folder outside
        "file://{roots}/%2e%2e/outside/echo",  # a file:// URL, decoded before the check
        "file://{outside}/echo",
        "/etc",
        "{roots}\\..\\outside",  # a backslash
    ],
)
def test_a_folder_outside_the_model_roots_is_refused(mme, roots, tmp_path, path):
    url, _ = mme(model_roots=[str(roots)])
    given = path.format(roots=roots, outside=tmp_path / "outside")
    with httpx.Client(base_url=url) as client:
        refused = register(client, "x", given)
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert (body["code"], body["type"]) == (400, "BadRequestException")
        assert body["message"] == body["error"]
        assert client.get("/models/x").status_code == 404  # nothing was registered
        assert client.get("/models").json() == {"models": []}


def test_folders_inside_the_roots_that_hold_no_model(mme, roots):
    url, _ = mme(model_roots=[str(roots)])
    with httpx.Client(base_url=url) as client:
        # %2e%2e in a plain path is a folder's name, not "..": under the root, and missing.
        for missing in (f"{roots}/nope", f"{roots}/%2e%2e/outside/echo"):
            answer = register(client, "x", missing)
            assert answer.status_code == 404
            assert answer.json()["type"] == "ModelNotFoundException"
            assert answer.json()["message"] == f"Model not found in model store: {missing}"
        (roots / "file.bin").write_bytes(b"\0")
        assert register(client, "x", str(roots / "file.bin")).status_code == 404
        assert client.get("/models").json() == {"models": []}


def test_the_default_roots_are_sagemakers(mme, roots):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        refused = register(client, "x", str(roots / "helped"))
    assert refused.status_code == 400
    assert "(/opt/ml/model, /opt/ml/models)" in refused.json()["message"]
    assert "model_roots" in refused.json()["message"]


def test_multi_model_servers_bodies_exactly(mme, roots):
    url, _ = mme(model_roots=[str(roots)])
    with httpx.Client(base_url=url) as client:
        # MMS also takes the registration in the query string.
        query = urllib.parse.urlencode({"model_name": "m", "url": str(roots / "helped")})
        loaded = client.post(f"/models?{query}")
        assert loaded.status_code == 200
        assert loaded.headers["content-type"] == "application/json"
        status = {"status": "Workers scaled", "modelName": "m", "modelUrl": str(roots / "helped")}
        assert loaded.text == mms_text(status)

        conflict = register(client, "m", str(roots / "helped"))
        message = "Model m is already registered."
        assert conflict.status_code == 409
        assert conflict.text == mms_text(
            {"code": 409, "type": "ConflictStatusException", "message": message, "error": message}
        )

        missing = "Model not found: gone"
        gone = {"code": 404, "type": "ModelNotFoundException", "message": missing, "error": missing}
        for answer in (
            client.get("/models/gone"),
            client.delete("/models/gone"),
            client.post(
                "/models/gone/invoke", content=b"1,2", headers={"content-type": "text/csv"}
            ),
        ):
            assert (answer.status_code, answer.text) == (404, mms_text(gone))

        unloaded = client.delete("/models/m")
        assert (unloaded.status_code, unloaded.text) == (
            200,
            mms_text({"status": 'Model "m" unregistered'}),
        )

        without_url = client.post("/models", json={"model_name": "m"})
        assert without_url.status_code == 400
        assert without_url.json()["message"].startswith("Parameter url is required")
        assert client.post("/models", content=b"{oops").json()["type"] == "BadRequestException"


def test_a_model_errors_body_has_mms_fields_and_its_traceback(mme, tmp_path):
    root = tmp_path / "roots"
    failing = "def load(d):\n    raise OSError('no disk')\n\ndef predict(m, data):\n    pass\n"
    write(root / "fails", {"serve.py": failing})
    url, _ = mme(model_roots=[str(root)])
    with httpx.Client(base_url=url) as client:
        failed = register(client, "fails", str(root / "fails"))
    body = failed.json()
    assert (failed.status_code, body["code"], body["type"]) == (500, 500, "InternalServerException")
    assert "no disk" in body["message"] and "serve.py" in body["traceback"]
    assert os.path.isdir(root / "fails")  # a failed load does not remove the folder either
