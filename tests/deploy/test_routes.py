"""Each serving route on its own: its state built here, one route under an ASGI test client.

No app factory and no server: a route gets only what its endpoint object holds (a real
ModelCache over the tiny model folders of conftest.py, a real model load, a real queue).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette
from starlette.routing import Route

from modelshelf.core.deploy.async_app import AsyncEndpoint, AsyncService
from modelshelf.core.deploy.async_queue import PENDING, AsyncQueue
from modelshelf.core.deploy.http import Raw, ServingSettings
from modelshelf.core.deploy.multimodel import MultiModelEndpoint
from modelshelf.core.deploy.realtime import ModelState, RealtimeEndpoint
from modelshelf.core.deploy.store_models import StoreModels

TARGET = "X-Amzn-SageMaker-Target-Model"
LIMIT = 1000
V2_REQUEST = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [3.0]}]}


class RouteClient:
    """A blocking client for one ASGI app over httpx's ASGI transport: no server, no socket."""

    def __init__(self, app: Starlette, portal: BlockingPortal) -> None:
        self._portal = portal
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://route")

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.request, method, path, **options))

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def delete(self, path: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", path, **options)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture
def one_route() -> Iterator[Callable[..., RouteClient]]:
    """``one_route(path, endpoint, method)``: a client for an app with that route only."""
    with start_blocking_portal() as portal, contextlib.ExitStack() as clients:

        def make(path: str, endpoint: Callable, method: str) -> RouteClient:
            app = Starlette(routes=[Route(path, endpoint, methods=[method])])
            client = RouteClient(app, portal)
            clients.callback(client.close)
            return client

        yield make


@pytest.fixture
def store_models(store, tmp_path) -> Iterator[StoreModels]:
    models = StoreModels(
        store, max_models=0, memory_budget=0, models_dir=str(tmp_path / "loaded"), lease_ttl=60
    )
    yield models
    models.close()


@pytest.fixture
def mme(store_models) -> MultiModelEndpoint:
    return MultiModelEndpoint(store_models, ServingSettings(max_body=LIMIT))


def leases(store, ref: str) -> int:
    return len(store.leases.live(*store.resolve(ref)))


# ---- the multi-model endpoint --------------------------------------------------------------


def test_list_models_pages_through_what_is_registered_without_loading(mme, one_route):
    for name in ("c", "a", "b"):
        mme.cache.register(name, "echo:1")
    client = one_route("/models", mme.list_models, "GET")
    first = client.get("/models", params={"max_results": 2}).json()
    assert [m["modelName"] for m in first["models"]] == ["a", "b"]
    rest = client.get("/models", params={"next_page_token": first["nextPageToken"]}).json()
    assert rest == {"models": [{"modelName": "c", "modelUrl": "echo:1"}]}
    assert client.get("/models", params={"max_results": 0}).status_code == 400
    assert mme.cache.loaded() == []


def test_add_model_loads_and_leases_the_version(mme, one_route, store):
    client = one_route("/models", mme.add_model, "POST")
    added = client.post("/models", json={"model_name": "e", "url": "echo:1"})
    assert added.status_code == 200
    assert added.json() == {"status": "Workers scaled", "modelName": "e", "modelUrl": "echo:1"}
    assert mme.cache.loaded() == ["e"] and leases(store, "echo:1") == 1
    assert client.post("/models", json={"model_name": "e", "url": "echo:1"}).status_code == 409
    assert client.post("/models", json={"model_name": "x", "url": "nope:1"}).status_code == 404
    assert client.post("/models", json={"model_name": "a/b", "url": "echo"}).status_code == 400
    assert "x" not in mme.cache


def test_invocations_runs_the_target_model_loading_a_ref_on_first_use(mme, one_route):
    client = one_route("/invocations", Raw(mme.invocations), "POST")
    answer = client.post("/invocations", json=[[1, 2]], headers={TARGET: "echo:1"})
    assert answer.status_code == 200 and answer.json() == [13]
    assert mme.cache.loaded() == ["echo:1"]
    assert client.post("/invocations", json=[[1]]).status_code == 400  # no target
    too_big = client.post("/invocations", content=b"1" * (LIMIT + 1), headers={TARGET: "echo:1"})
    assert too_big.status_code == 413


def test_model_invoke_serves_registered_names_only(mme, one_route):
    client = one_route("/models/{name}/invoke", Raw(mme.model_invoke), "POST")
    assert client.post("/models/echo:1/invoke", json=[[1]]).status_code == 404
    mme.cache.register("e", "echo:1")  # registered, not loaded: loaded by the request
    assert client.post("/models/e/invoke", json=[[1]]).json() == [11]
    assert mme.cache.loaded() == ["e"]


def test_delete_model_unloads_and_releases_the_lease(mme, one_route, store):
    mme.models.load_new("e", "echo:1")
    client = one_route("/models/{name}", mme.delete_model, "DELETE")
    assert client.delete("/models/e").json() == {"status": 'Model "e" unregistered'}
    assert "e" not in mme.cache and leases(store, "echo:1") == 0
    assert client.delete("/models/e").status_code == 404


def test_get_model_describes_a_registered_model(mme, one_route):
    mme.cache.register("lin", "linear:1")
    client = one_route("/models/{name}", mme.get_model, "GET")
    assert client.get("/models/lin").json() == {"modelName": "lin", "modelUrl": "linear:1"}
    assert client.get("/models/other").status_code == 404


def test_infer_by_name_and_version(mme, one_route):
    mme.models.load_new("linear", "linear:1")
    client = one_route("/v2/models/{name}/versions/{version}/infer", Raw(mme.infer), "POST")
    answer = client.post("/v2/models/linear/versions/1/infer", json=V2_REQUEST).json()
    assert answer["model_name"] == "linear" and answer["model_version"] == "1"
    assert [round(v, 6) for v in answer["outputs"][0]["data"]] == [7.0]
    # Another version is the ref linear:2, which the store does not have.
    assert client.post("/v2/models/linear/versions/2/infer", json=V2_REQUEST).status_code == 404


def test_model_ready_tells_registered_from_loaded(mme, one_route):
    client = one_route("/v2/models/{name}/ready", mme.model_ready, "GET")
    assert client.get("/v2/models/e/ready").status_code == 404
    mme.cache.register("e", "echo:1")
    assert client.get("/v2/models/e/ready").status_code == 503
    mme.cache.load("e")
    assert client.get("/v2/models/e/ready").json() == {"name": "e", "ready": True}


def test_repository_load_and_unload_keep_the_registration(mme, one_route):
    load = one_route("/v2/repository/models/{name}/load", mme.repository_load, "POST")
    unload = one_route("/v2/repository/models/{name}/unload", mme.repository_unload, "POST")
    index = one_route("/v2/repository/index", mme.repository_index, "POST")
    assert load.post("/v2/repository/models/echo:1/load").status_code == 200
    assert index.post("/v2/repository/index").json() == [
        {"name": "echo:1", "version": "1", "state": "READY", "reason": ""}
    ]
    assert unload.post("/v2/repository/models/echo:1/unload").status_code == 200
    assert mme.cache.loaded() == [] and "echo:1" in mme.cache
    assert index.post("/v2/repository/index", json={"ready": True}).json() == []
    assert unload.post("/v2/repository/models/nope/unload").status_code == 404


# ---- the real-time endpoint ----------------------------------------------------------------


def realtime(folder, name: str) -> RealtimeEndpoint:
    return RealtimeEndpoint(ModelState(str(folder), name), ServingSettings(), "1")


def test_realtime_ping_follows_the_load(models, one_route):
    echo = realtime(models.echo, "echo")
    assert one_route("/ping", echo.ping, "GET").get("/ping").json() == {"status": "ok"}
    broken = one_route("/ping", realtime(models.load_fails, "broken").ping, "GET").get("/ping")
    assert broken.status_code == 500 and "weights are missing" in broken.json()["error"]
    slow = realtime(models.slow_model(5.0), "slow")
    assert one_route("/ping", slow.ping, "GET").get("/ping").json() == {"status": "loading"}


def test_realtime_invocations_and_infer(models, one_route):
    echo = realtime(models.echo, "echo")
    invocations = one_route("/invocations", Raw(echo.invocations), "POST")
    assert invocations.post("/invocations", json=[[1, 2]]).json() == [13]
    infer = one_route("/v2/models/{name}/infer", Raw(echo.infer), "POST")
    answer = infer.post("/v2/models/echo/infer", json=V2_REQUEST).json()
    assert answer["model_version"] == "1" and answer["outputs"][0]["data"] == [13.0]
    assert infer.post("/v2/models/other/infer", json=V2_REQUEST).status_code == 404


def test_realtime_metadata_knows_its_one_model_and_version(models, one_route):
    echo = realtime(models.echo, "echo")
    path = "/v2/models/{name}/versions/{version}"
    client = one_route(path, echo.metadata, "GET")
    assert client.get("/v2/models/echo/versions/1").json()["versions"] == ["1"]
    assert client.get("/v2/models/echo/versions/2").status_code == 404


# ---- the asynchronous endpoint -------------------------------------------------------------


@pytest.fixture
def async_endpoint(models, tmp_path) -> Iterator[AsyncEndpoint]:
    """Not started: requests are queued and stay pending (no worker runs them)."""
    queue = AsyncQueue(str(tmp_path / "queue.sqlite"))
    service = AsyncService(
        ModelState(str(models.echo), "echo"), queue, str(tmp_path / "out"), {}, 1, 0.05, 0.1
    )
    yield AsyncEndpoint(service, ServingSettings(max_body=LIMIT))
    queue.close()


def test_async_invocations_queue_the_request(async_endpoint, one_route):
    client = one_route("/async/invocations", async_endpoint.invocations, "POST")
    accepted = client.post("/async/invocations", json=[[1]])
    assert accepted.status_code == 202
    queued = async_endpoint.service.queue.get(accepted.json()["inference_id"])
    assert queued.status == PENDING and queued.content_type == "application/json"
    refused = client.post(
        "/async/invocations", headers={"X-Amzn-SageMaker-InputLocation": "/etc/passwd"}
    )
    assert refused.status_code == 400 and "not allowed" in refused.json()["error"]
    assert client.post("/async/invocations").status_code == 400  # no body


def test_async_describe_reads_the_queue(async_endpoint, one_route):
    inference_id = async_endpoint.service.queue.put(b"[1]", "application/json", None, "/out")
    client = one_route("/async/requests/{inference_id}", async_endpoint.describe, "GET")
    answer = client.get(f"/async/requests/{inference_id}").json()
    assert answer["status"] == PENDING and answer["output_location"].startswith("/out/")
    assert client.get("/async/requests/nope").status_code == 404


def test_async_ping_does_not_wait_for_the_load(async_endpoint, one_route):
    # The service was never started: the model is not loading, and ping says so at once.
    answer = one_route("/ping", async_endpoint.ping, "GET").get("/ping")
    assert answer.status_code == 503 and answer.json() == {"status": "loading"}
