"""The real-time app over real HTTP: SageMaker's /ping and /invocations, KServe V2, guards."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from modelshelf.core.deploy.http import ServingSettings
from modelshelf.core.deploy.realtime import create_realtime_app


def realtime(folder, name="model", **settings):
    return create_realtime_app(str(folder), name, ServingSettings(**settings), version="1")


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(url + "/ping").status_code != 200:
        assert time.monotonic() < deadline, "the model never became ready"
        time.sleep(0.02)


def rounded(values):
    return [round(v, 6) for v in values]


def test_a_pickled_model_answers_json_csv_and_v2(serve, models):
    url = serve(realtime(models.linear, "linear"))
    wait_ready(url)
    with httpx.Client(base_url=url) as client:
        answer = client.post("/invocations", json={"instances": [[3.0], [4.0]]})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert rounded(answer.json()["predictions"]) == [7.0, 9.0]
        assert rounded(client.post("/invocations", json=[[0.5]]).json()) == [2.0]
        csv = client.post("/invocations", content=b"3\n4\n", headers={"content-type": "text/csv"})
        assert rounded(csv.json()) == [7.0, 9.0]

        x = {"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [3, 4]}
        request = {"id": "r1", "inputs": [x]}
        infer = client.post("/v2/models/linear/infer", json=request)
        assert infer.status_code == 200
        body = infer.json()
        assert body["model_name"] == "linear" and body["model_version"] == "1"
        assert body["id"] == "r1"
        [output] = body["outputs"]
        assert output["name"] == "predict" and output["datatype"] == "FP64"
        assert output["shape"] == [2] and rounded(output["data"]) == [7.0, 9.0]
        versioned = client.post("/v2/models/linear/versions/1/infer", json=request)
        assert versioned.status_code == 200
        assert client.post("/v2/models/linear/versions/2/infer", json=request).status_code == 404
        assert client.post("/v2/models/other/infer", json=request).status_code == 404

        assert client.get("/ping").json() == {"status": "ok"}
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        assert client.get("/v2/models/linear/ready").status_code == 200
        assert client.get("/v2/models/other/ready").status_code == 404
        assert client.get("/v2/models/linear").json() == {
            "name": "linear",
            "versions": ["1"],
            "platform": "modelshelf",
            "inputs": [],
            "outputs": [],
        }
        assert client.get("/v2/models/other").status_code == 404
        assert client.get("/v2").json()["name"] == "modelshelf"
        assert client.get("/nowhere").status_code == 404


def test_a_serve_py_model_gets_rows_and_named_inputs(serve, models):
    url = serve(realtime(models.echo, "echo"))
    wait_ready(url)
    with httpx.Client(base_url=url) as client:
        assert client.post("/invocations", json=[[1, 2], [3, 4]]).json() == [13, 17]
        request = {
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]},
                {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [[10], [20]]},
            ],
            "outputs": [{"name": "total"}],
        }
        [output] = client.post("/v2/models/echo/infer", json=request).json()["outputs"]
        assert output == {"name": "total", "shape": [2], "datatype": "INT64", "data": [21, 32]}
        x = {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}
        answer = client.post("/v2/models/echo/infer", json={"inputs": [x]}).json()
        assert answer["outputs"][0]["data"] == [16]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"inputs": []}',
        b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}]}',
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]}',
        b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}',
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}',
        b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},'
        b' {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}',
    ],
)
def test_malformed_v2_requests_are_400(serve, models, body):
    url = serve(realtime(models.echo, "echo"))
    wait_ready(url)
    answer = httpx.post(url + "/v2/models/echo/infer", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_malformed_json_is_400_and_the_server_keeps_serving(serve, models):
    url = serve(realtime(models.linear))
    wait_ready(url)
    headers = {"content-type": "application/json"}
    bad = httpx.post(url + "/invocations", content=b"{oops", headers=headers)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    assert httpx.post(url + "/invocations", json=[[1.0]]).status_code == 200


def test_a_bearer_token_guards_everything_but_health(serve, models):
    url = serve(realtime(models.linear, token="s3cret"))
    wait_ready(url)
    missing = httpx.post(url + "/invocations", json=[[1.0]])
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "missing" in missing.json()["error"]
    wrong = httpx.post(url + "/invocations", json=[[1.0]], headers={"authorization": "Bearer no"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid bearer token"
    assert httpx.get(url + "/v2/models/model").status_code == 401
    for path in ("/ping", "/v2/health/live", "/v2/health/ready"):
        assert httpx.get(url + path).status_code == 200
    good = {"authorization": "Bearer s3cret"}
    assert httpx.post(url + "/invocations", json=[[1.0]], headers=good).status_code == 200
    assert httpx.get(url + "/v2/models/model", headers=good).status_code == 200


def test_bodies_over_the_limit_are_413_declared_or_chunked(serve, models):
    url = serve(realtime(models.echo, max_body=1000))
    wait_ready(url)
    with httpx.Client(base_url=url) as client:
        declared = client.post("/invocations", content=b"[" + b"1," * 600 + b"1]")
        assert declared.status_code == 413 and "1000 bytes" in declared.json()["error"]

        def chunks():
            for _ in range(20):
                yield b" " * 100

        chunked = client.post("/invocations", content=chunks())
        assert chunked.status_code == 413
        infer = client.post("/v2/models/model/infer", content=b" " * 2000)
        assert infer.status_code == 413
        assert client.post("/invocations", json=[[1, 2]]).json() == [13]


def test_a_failing_predict_is_500_with_its_traceback_logged_once(serve, models, caplog):
    url = serve(realtime(models.predict_fails))
    wait_ready(url)
    with caplog.at_level(logging.ERROR, logger="modelshelf.serve"):
        failed = httpx.post(url + "/invocations", json=[[1.0]])
    assert failed.status_code == 500
    body = failed.json()
    assert "does not like" in body["error"]
    assert "ValueError" in body["traceback"] and "serve.py" in body["traceback"]
    logged = [r for r in caplog.records if r.name == "modelshelf.serve"]
    assert len(logged) == 1 and "serve.py" in logged[0].getMessage()
    assert httpx.get(url + "/ping").status_code == 200  # still serving
    assert httpx.post(url + "/invocations", json=[[2.0]]).status_code == 500


def test_ping_is_503_while_loading_then_200(serve, models):
    started = time.monotonic()
    url = serve(realtime(models.slow_model(3.0)))  # load() sleeps 3 s
    loading = httpx.get(url + "/ping")
    assert loading.status_code == 503 and loading.json() == {"status": "loading"}
    # /ping waits up to LOAD_WAIT (1 s) for the load, well inside SageMaker's 2 s budget.
    assert time.monotonic() - started < 2.0
    assert httpx.get(url + "/v2/health/ready").status_code == 503
    assert httpx.get(url + "/v2/models/model/ready").status_code == 503
    assert httpx.get(url + "/v2/health/live").status_code == 200
    assert httpx.post(url + "/invocations", json=[1]).status_code == 503
    wait_ready(url)
    assert httpx.post(url + "/invocations", json=[1, 2]).json() == [2]
    assert models.loads() == 1


def test_requests_during_a_short_load_wait_for_it(serve, models):
    url = serve(realtime(models.slow_model(0.3)))
    assert httpx.post(url + "/invocations", json=[1, 2]).json() == [2]
    assert httpx.get(url + "/ping").status_code == 200


def test_a_load_failure_shows_on_ping_with_the_traceback(serve, models):
    url = serve(realtime(models.load_fails))
    deadline = time.monotonic() + 30
    while (ping := httpx.get(url + "/ping")).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ping.status_code == 500
    body = ping.json()
    assert body["status"] == "failed" and "weights are missing" in body["error"]
    assert "RuntimeError" in body["traceback"] and "serve.py" in body["traceback"]
    invoked = httpx.post(url + "/invocations", json=[1])
    assert invoked.status_code == 500 and "weights are missing" in invoked.json()["error"]
    assert httpx.get(url + "/v2/health/ready").status_code == 503


def test_a_thousand_requests_over_ten_connections(serve, models):
    url = serve(realtime(models.linear))
    wait_ready(url)

    def worker(start: int) -> list[float]:
        out = []
        with httpx.Client(base_url=url) as client:
            for i in range(start, start + 100):
                answer = client.post("/invocations", json=[[float(i)]])
                assert answer.status_code == 200
                out.append(answer.json()[0])
        return out

    with ThreadPoolExecutor(10) as pool:
        results = [x for chunk in pool.map(worker, range(0, 1000, 100)) for x in chunk]
    assert rounded(results) == [2.0 * i + 1 for i in range(1000)]


def test_a_real_v2_client_tritonclient(serve, models):
    import numpy as np
    import tritonclient.http as triton

    url = serve(realtime(models.linear, "linear"))
    wait_ready(url)
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("linear")
        assert client.get_model_metadata("linear")["platform"] == "modelshelf"
        for binary in (True, False):
            x = triton.InferInput("x", [3, 1], "FP32")
            x.set_data_from_numpy(np.array([[0.0], [1.0], [3.0]], dtype=np.float32), binary)
            result = client.infer("linear", [x], request_id="7")
            assert result.get_response()["id"] == "7"
            assert np.allclose(result.as_numpy("predict"), [1.0, 3.0, 7.0])
        wanted = [triton.InferRequestedOutput("y", binary_data=False)]
        result = client.infer("linear", [x], outputs=wanted, model_version="1")
        assert np.allclose(result.as_numpy("y"), [1.0, 3.0, 7.0])
        with pytest.raises(triton.InferenceServerException, match="no model"):
            client.infer("other", [x])
    finally:
        client.close()


def test_the_direct_invocations_route_answers_as_the_router_would(serve, models):
    # POST /invocations skips Starlette's router; every other request still goes through it.
    app = realtime(models.linear)
    assert set(app._hot) == {"/invocations"}
    url = serve(app)
    wait_ready(url)
    with httpx.Client(base_url=url) as client:
        assert rounded(client.post("/invocations", json=[[0.5]]).json()) == [2.0]
        assert client.get("/invocations").status_code == 405
        assert client.put("/invocations", json=[[0.5]]).status_code == 405
        assert client.post("/invocationsx", json=[[0.5]]).status_code == 404
        runtime = client.post("/endpoints/model/invocations", json=[[0.5]])
        assert rounded(runtime.json()) == [2.0]
