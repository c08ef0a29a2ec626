"""Handler services (Multi Model Server, SageMaker, TorchServe) deployed by the real
DeploymentManager and called over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from mms_handlers import (
    CLASS_HANDLER,
    FAILING_HANDLER,
    HELPERS,
    MMS_HANDLER,
    RESPONDING_HANDLER,
    TORCHSERVE_HANDLER,
    params_model,
    write,
)

from modelshelf import Shelf, __version__
from modelshelf.core.errors import DeploymentError
from support import wait_for

pytestmark = pytest.mark.timeout(180)
TARGET = "X-Amzn-SageMaker-Target-Model"


@pytest.fixture
def shelf(tmp_path):
    store = Shelf(tmp_path / "store")
    for name, scale, factor in (("alpha", 2, 10), ("beta", 3, 100)):
        store.save(name, params_model(tmp_path / "models", name, scale, factor))
    yield store
    store.close()


@pytest.fixture
def handlers(tmp_path):
    """The folder of handler files (a handler's own folder is importable while it loads)."""
    return write(
        tmp_path / "handlers",
        {
            "model_handler.py": MMS_HANDLER,
            "handler_helpers.py": HELPERS,
            "scorer.py": CLASS_HANDLER,
            "dot_handler.py": TORCHSERVE_HANDLER,
            "failing.py": FAILING_HANDLER,
            "responding.py": RESPONDING_HANDLER,
        },
    )


def _post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/invocations", content=body, headers=headers, timeout=30)


def test_one_handler_serves_two_models_each_with_its_own_singleton(manager, handlers):
    deployment = manager.deploy(
        [], mode="multi", name="mme", handler=f"{handlers / 'model_handler.py'}:handle",
        env={"GREETING": "hello"},
    )  # fmt: skip
    assert deployment.status == "ready", deployment.logs()
    csv = {"Content-Type": "text/csv", "Accept": "application/json"}

    def ask(target: str) -> dict:
        answer = _post(deployment.url, b"1,2\n3,4", **csv, **{TARGET: target})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-request-id"]
        return answer.json()

    alpha, beta, alpha_again = ask("alpha:1"), ask("beta:1"), ask("alpha:1")
    # Each model read its own params and its own code/featurize.py: scale * FACTOR per row sum.
    assert (alpha["model"], alpha["predictions"]) == ("alpha", [60.0, 140.0])
    assert (beta["model"], beta["predictions"]) == ("beta", [900.0, 2100.0])
    assert alpha_again == alpha  # beta's load did not re-initialise alpha's singleton
    # One server process, two copies of the handler module and of its helper module.
    assert alpha["pid"] == beta["pid"]
    assert alpha["service"] != beta["service"] and alpha["helpers"] != beta["helpers"]
    assert (alpha["loads"], beta["loads"]) == (["alpha"], ["beta"])
    assert alpha["greeting"] == "hello" and alpha["accept"] == "application/json"
    properties = alpha["properties"]
    assert os.path.isfile(os.path.join(properties.pop("model_dir"), "alpha-params.json"))
    assert properties == {
        "gpu_id": None, "batch_size": 1, "server_name": "MMS", "server_version": __version__,
        "limit_max_image_pixels": True,
    }  # fmt: skip


def test_the_class_form_gets_initialize_form_fields_query_and_a_manifest(manager, handlers):
    deployment = manager.deploy("alpha", handler=str(handlers / "scorer.py"))
    assert deployment.status == "ready", deployment.logs()
    answer = httpx.post(
        f"{deployment.url}/invocations?threshold=0.5",
        files={"image": ("cat.bin", b"\x00\x01", "application/x-thing")},
        data={"label": "cat"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["scale"] == 2
    # Form fields and query parameters by name, as MMS's worker builds a request's data.
    assert got["fields"] == {"image": "\x00\x01", "label": "cat", "threshold": "0.5"}
    assert got["types"] == {"image": "application/x-thing", "label": "", "threshold": ""}
    model = got["manifest"]["model"]  # no MAR-INF here: written for the folder
    assert model == {"modelName": "alpha", "serializedFile": "weights.bin", "handler": "scorer.py"}
    assert got["manifest"]["runtime"] == "python"
    plain = _post(deployment.url, b"hello", **{"Content-Type": "text/plain"})
    assert plain.json()["fields"] == {"body": "hello"}
    assert plain.json()["types"] == {"body": "text/plain"}


def test_a_torchserve_class_runs_preprocess_inference_postprocess(
    manager, shelf, handlers, tmp_path
):
    manifest = {
        "runtime": "python",
        "model": {"modelName": "dot", "serializedFile": "w.json", "handler": "dot_handler.py"},
    }
    archived = write(
        tmp_path / "archived",
        {
            "MAR-INF/MANIFEST.json": json.dumps(manifest),
            "w.json": json.dumps({"w": [1, 2]}),
            "other.json": json.dumps({"w": [100, 100]}),  # not the one the manifest names
        },
    )
    plain = write(tmp_path / "plain", {"weights.json": json.dumps({"w": [10, 20]})})
    shelf.save("archived", archived)
    shelf.save("plain", plain)
    deployment = manager.deploy(["archived", "plain"], mode="multi", name="ts",
                                handler=str(handlers / "dot_handler.py"))  # fmt: skip
    assert deployment.status == "ready", deployment.logs()
    rows = {"Content-Type": "application/json"}
    first = _post(deployment.url, b"[1, 1]", **rows, **{TARGET: "archived:1"})
    second = _post(deployment.url, b"[1, 1]", **rows, **{TARGET: "plain:1"})
    assert first.json() == {"score": 3, "file": "w.json", "model": "archived"}
    assert second.json() == {"score": 30, "file": "weights.json", "model": "plain"}


def test_errors_are_answered_as_mms_answers_them_and_serving_goes_on(manager, handlers):
    deployment = manager.deploy("alpha", handler=str(handlers / "failing.py"))
    assert deployment.status == "ready", deployment.logs()
    expected = {
        b"out-of-range": (422, "the input is out of range", "PredictionException"),
        b"memory": (507, "Out of resources", "MemoryError: the batch does not fit"),
        b"boom": (503, "Prediction failed", "ValueError: the model does not like it"),
        b"short": (503, "number of batch response mismatched", "0 answers for 1 requests"),
        b"dict": (503, "Invalid model predict output", "returned a dict, not a list"),
        b"object": (503, "Unsupported model output data type.", "answer 0 cannot be sent"),
    }
    for body, (status, message, detail) in expected.items():
        answer = _post(deployment.url, body, **{"Content-Type": "text/plain"})
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()
        assert (error["code"], error["type"]) == (status, "InternalServerException")
        assert error["message"] == message and detail in error["error"], error
        assert "traceback" not in error  # that goes to the log, not to the client
    fine = _post(deployment.url, b"anything", **{"Content-Type": "text/plain"})
    assert (fine.status_code, fine.text) == (200, "fine")
    assert fine.headers["content-type"].startswith("text/plain")
    logs = deployment.logs()
    assert "Traceback" in logs and 'raise ValueError("the model does not like it")' in logs
    assert "failing.py" in logs


def test_the_handler_sets_status_content_type_and_headers(manager, handlers):
    deployment = manager.deploy("alpha", handler=str(handlers / "responding.py"))
    assert deployment.status == "ready", deployment.logs()
    answer = _post(
        deployment.url, b"1,2",
        **{"Content-Type": "text/csv", "Accept": "text/csv",
           "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
           "X-Amzn-SageMaker-Inference-Id": "req-42"},
    )  # fmt: skip
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "text/csv"
    assert answer.headers["x-model-name"] == "alpha"
    assert answer.headers["x-request-id"] == "req-42"
    assert answer.text == "text/csv,trace=1,text/csv,req-42"


def test_a_handler_that_cannot_be_found_or_loaded_fails_the_deployment(manager, tmp_path):
    with pytest.raises(DeploymentError, match="does not exist"):
        manager.deploy("alpha", handler=str(tmp_path / "nowhere.py"))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DeploymentError, match="Python file"):
        manager.deploy("alpha", handler=str(tmp_path / "notes.txt"))
    (tmp_path / "ok.py").write_text("def handle(data, context):\n    return data\n")
    with pytest.raises(DeploymentError, match="not a variable name"):
        manager.deploy("alpha", handler=str(tmp_path / "ok.py"), env={"1BAD": "x"})
    with pytest.raises(DeploymentError, match="must be text"):
        manager.deploy("alpha", handler=str(tmp_path / "ok.py"), env={"N": 3})
    two = write(tmp_path, {"two.py": "class A:\n    pass\n\nclass B:\n    pass\n"})
    failed = manager.deploy("alpha", handler=str(two / "two.py"), name="two")
    assert failed.status == "failed"
    assert "exactly one class" in failed.error and "A, B" in failed.error
    broken = write(tmp_path, {"broken.py": "def handle(data, context):\n    1 / 0\n"})
    failed = manager.deploy("alpha", handler=str(broken / "broken.py"), name="broken")
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert "broken.py" in failed.traceback  # the handler's own line, from its initial call


def test_an_async_deployment_runs_requests_through_the_handler(manager, handlers):
    deployment = manager.deploy("beta", mode="async", handler=str(handlers / "model_handler.py"))
    assert deployment.status == "ready", deployment.logs()
    accepted = httpx.post(f"{deployment.url}/async/invocations", content=b"1,1",
                          headers={"Content-Type": "text/csv"}, timeout=30)  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    inference_id = accepted.json()["inference_id"]

    def finished() -> dict | None:
        state = httpx.get(f"{deployment.url}/async/requests/{inference_id}", timeout=30).json()
        return state if state["status"] in ("completed", "failed") else None

    state = wait_for(finished, timeout=30)
    assert state["status"] == "completed", state
    with open(accepted.json()["output_location"]) as fh:
        assert json.load(fh)["predictions"] == [600.0]


def test_an_evicted_model_lets_its_handler_module_go(serve, shelf, handlers, tmp_path):
    import sys

    from modelshelf.core.deploy.handler_service import parse_handler
    from modelshelf.core.deploy.http import ServingSettings
    from modelshelf.core.deploy.multimodel import create_multimodel_app

    path = str(handlers / "model_handler.py")
    app = create_multimodel_app(
        shelf, ServingSettings(), max_models=1, models_dir=str(tmp_path / "loaded"),
        handler=parse_handler(path),
    )  # fmt: skip
    url = serve(app)

    def copies() -> list[str]:
        return [k for k, m in list(sys.modules.items()) if getattr(m, "__file__", None) == path]

    before = copies()
    for target, model in (("alpha:1", "alpha"), ("beta:1", "beta"), ("alpha:1", "alpha")):
        answer = _post(url, b"1,1", **{"Content-Type": "text/csv", TARGET: target})
        assert answer.json()["model"] == model
        assert len(copies()) == len(before) + 1  # the evicted model's copy is gone
    assert app.state.endpoint.cache.loaded() == ["alpha:1"]
