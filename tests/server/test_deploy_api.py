"""REST over deployments: a real uvicorn server started, invoked, and stopped over HTTP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)

ECHO = """\
def load(model_dir):
    return 10

def predict(model, data):
    return [sum(row) + model for row in data]
"""

BROKEN = """\
def load(model_dir):
    raise RuntimeError("weights are missing")

def predict(model, data):
    return data
"""


def _model(shelf, tmp_path, name: str, source: str):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "serve.py").write_text(source)
    return shelf.save(name, folder)


async def test_deploy_invoke_and_stop(api, shelf, tmp_path, wait_for):
    _model(shelf, tmp_path, "adder", ECHO)
    status, task = await api("POST", "deployments", body={"refs": ["adder"], "name": "adder-api"})
    assert status == 202 and task["kind"] == "deploy"
    try:
        task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
        assert task["status"] == "succeeded", task
        assert task["result"]["status"] == "ready"
        _, listing = await api("GET", "deployments")
        assert [d["name"] for d in listing["deployments"]] == ["adder-api"]
        status, one = await api("GET", "deployments", "adder-api")
        assert status == 200 and one["refs"] == ["adder:1"]
        assert one["url"].startswith("http://127.0.0.1:")
        status, answer = await api("POST", "deployments", "adder-api", "invoke",
                                   body={"payload": [[1, 2], [3, 4]]})  # fmt: skip
        assert status == 200 and answer == {"answer": [13, 17]}
        status, error = await api("POST", "deployments", "adder-api", "invoke",
                                  body={"payload": "not rows"})  # fmt: skip
        assert status == 409 and "answered 500" in error["message"]
        _, logs = await api("GET", "deployments", "adder-api", "logs")
        assert "Application startup complete" in logs["text"]
        # The deployed version is leased: the sidebar's delete shows who holds it.
        status, error = await api("DELETE", "models", "adder", "versions", "1")
        assert status == 409 and error["holders"] == ["deployment adder-api"]
    finally:
        status, stopped = await api("POST", "deployments", "adder-api", "stop")
    assert status == 200 and stopped["status"] == "stopped"
    _, listing = await api("GET", "deployments")
    assert listing["deployments"] == []
    _, everything = await api("GET", "deployments", params={"all": "true"})
    assert [d["status"] for d in everything["deployments"]] == ["stopped"]


async def test_a_model_that_fails_to_load_fails_the_task_with_its_traceback(
    api, shelf, tmp_path, wait_for
):
    _model(shelf, tmp_path, "broken", BROKEN)
    _, task = await api("POST", "deployments", body={"refs": ["broken"]})
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "failed"
    assert "weights are missing" in task["error"] + str(task["result"])
    assert task["result"]["status"] == "failed"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"refs": ["no-such-model"]}, 404, "no-such-model"),
        ({"refs": []}, 400, "refs"),
        ({"refs": ["adder", "adder:1"], "mode": "async"}, 400, "exactly one model ref"),
        ({"refs": ["adder"], "mode": "sideways"}, 400, "mode"),
        ({"refs": ["adder"], "workers": 0}, 400, "workers"),
        ({"refs": ["adder"], "workers": 2, "max_workers": 3}, 400, "not both"),
        ({"refs": ["adder"], "min_workers": 3, "max_workers": 2}, 400, "min_workers (3) is more"),
        ({"refs": ["adder"], "mode": "async", "max_workers": 2}, 400, "give it workers=N"),
        ({"refs": ["adder"], "name": "../../x"}, 400, "name"),
    ],
)
async def test_bad_deploy_requests(api, shelf, tmp_path, body, status, fragment):
    _model(shelf, tmp_path, "adder", ECHO)
    code, error = await api("POST", "deployments", body=body)
    assert code == status, error
    assert fragment in error["message"]


async def test_a_multi_model_endpoint_may_start_empty(api, shelf, tmp_path, wait_for):
    _model(shelf, tmp_path, "adder", ECHO)
    _, task = await api("POST", "deployments", body={"refs": [], "mode": "multi", "name": "mme"})
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    assert task["result"]["status"] == "ready" and task["result"]["refs"] == []
    status, answer = await api(
        "POST", "deployments", "mme", "invoke", body={"payload": [[1, 2]], "model": "adder:1"}
    )
    assert (status, answer["answer"]) == (200, [13]), answer
    await api("POST", "deployments", "mme", "stop")


async def test_deploy_with_a_range_of_workers(api, shelf, tmp_path, wait_for):
    _model(shelf, tmp_path, "adder", ECHO)
    body = {"refs": ["adder"], "name": "ranged", "min_workers": 1, "max_workers": 2}
    _, task = await api("POST", "deployments", body=body)
    try:
        task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
        assert task["status"] == "succeeded", task
        _, one = await api("GET", "deployments", "ranged")
        assert (one["workers"], one["min_workers"], one["max_workers"]) == (1, 1, 2)
        assert one["serving"]["max_workers"] == 2
        status, answer = await api("POST", "deployments", "ranged", "invoke",
                                   body={"payload": [[1, 2]]})  # fmt: skip
        assert (status, answer) == (200, {"answer": [13]})
    finally:
        await api("POST", "deployments", "ranged", "stop")


async def test_stopping_or_invoking_an_unknown_deployment_is_404(api):
    status, _ = await api("POST", "deployments", "ghost", "stop")
    assert status == 404
    status, _ = await api("POST", "deployments", "ghost", "invoke", body={"payload": [1]})
    assert status == 404
