"""The multi-model app over real HTTP (SageMaker MME + V2 repository) and its model cache."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from modelshelf import ModelInUseError
from modelshelf.core.deploy.loaders import ModelHandler
from modelshelf.core.deploy.model_cache import ModelCache
from modelshelf.core.errors import ModelNotFoundError, ModelTooLargeError

TARGET = "X-Amzn-SageMaker-Target-Model"


def live_leases(store, ref):
    name, version = store.resolve(ref)
    return store.leases.live(name, version)


def add(client, name: str, url: str) -> int:
    """POST /models; the status code."""
    return client.post("/models", json={"model_name": name, "url": url}).status_code


def rounded(values):
    return [round(v, 6) for v in values]


def test_the_sagemaker_multi_model_contract(mme, store):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        assert client.get("/ping").status_code == 200
        assert client.get("/models").json() == {"models": []}
        added = client.post("/models", json={"model_name": "lin", "url": "linear:1"})
        assert added.status_code == 200
        # Multi Model Server's StatusResponse, with the model's name and URL kept.
        assert added.json() == {
            "status": "Workers scaled",
            "modelName": "lin",
            "modelUrl": "linear:1",
        }
        again = client.post("/models", json={"model_name": "lin", "url": "linear:1"})
        assert again.status_code == 409
        assert again.json()["type"] == "ConflictStatusException"
        assert add(client, "x", "nope:1") == 404
        assert add(client, "x", "bad ref!") == 400
        assert client.post("/models", content=b"{oops").status_code == 400
        assert client.post("/models", json={"model_name": "x"}).status_code == 400
        assert client.get("/models/x").status_code == 404

        assert client.get("/models/lin").json() == {"modelName": "lin", "modelUrl": "linear:1"}
        assert client.get("/models/other").status_code == 404
        invoked = client.post("/models/lin/invoke", json={"instances": [[3.0]]})
        assert rounded(invoked.json()["predictions"]) == [7.0]
        assert client.post("/models/other/invoke", json=[[1.0]]).status_code == 404
        by_header = client.post("/invocations", json=[[4.0]], headers={TARGET: "lin"})
        assert rounded(by_header.json()) == [9.0]
        # A ref that is not registered yet is loaded on first use.
        assert client.post("/invocations", json=[[1, 2]], headers={TARGET: "echo:1"}).json() == [13]
        assert client.get("/models/echo:1").json()["modelUrl"] == "echo:1"
        assert client.post("/invocations", json=[[1]]).status_code == 400  # no target
        assert client.post("/invocations", json=[[1]], headers={TARGET: "nope"}).status_code == 404
        assert client.get("/models/nope").status_code == 404  # a failed target is not kept

        deleted = client.delete("/models/lin")
        assert deleted.status_code == 200
        assert deleted.json() == {"status": 'Model "lin" unregistered'}
        assert client.delete("/models/lin").status_code == 404
        assert client.get("/models/lin").status_code == 404
        assert client.post("/models/lin/invoke", json=[[1.0]]).status_code == 404
        assert [m["modelName"] for m in client.get("/models").json()["models"]] == ["echo:1"]


def test_list_models_is_paginated(mme):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        for i in range(5):
            assert add(client, f"m{i}", "echo") == 200
        seen, token, pages = [], "", 0
        while True:
            page = client.get("/models", params={"max_results": 2, "next_page_token": token})
            body = page.json()
            seen += [m["modelName"] for m in body["models"]]
            pages += 1
            if "nextPageToken" not in body:
                break
            token = body["nextPageToken"]
        assert seen == ["m0", "m1", "m2", "m3", "m4"] and pages == 3
        assert client.get("/models", params={"max_results": "lots"}).status_code == 400
        assert client.get("/models", params={"max_results": 0}).status_code == 400


def test_the_v2_repository_extension_and_per_model_routes(mme):
    url, _ = mme()
    request = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [3.0]}]}
    with httpx.Client(base_url=url) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        assert client.get("/v2").json()["extensions"] == ["model_repository"]
        assert client.post("/v2/repository/index").json() == []
        assert client.post("/v2/repository/models/linear:1/load").status_code == 200
        assert client.post("/v2/repository/index", json={"ready": True}).json() == [
            {"name": "linear:1", "version": "1", "state": "READY", "reason": ""}
        ]
        assert client.get("/v2/models/linear:1/ready").status_code == 200
        assert client.get("/v2/models/linear:1").json()["versions"] == ["1"]
        answer = client.post("/v2/models/linear:1/infer", json=request).json()
        assert answer["model_name"] == "linear:1" and answer["model_version"] == "1"
        assert rounded(answer["outputs"][0]["data"]) == [7.0]

        assert client.post("/v2/repository/models/linear:1/unload").status_code == 200
        assert client.post("/v2/repository/index").json()[0]["state"] == "UNAVAILABLE"
        assert client.post("/v2/repository/index", json={"ready": True}).json() == []
        assert client.get("/v2/models/linear:1/ready").status_code == 503
        # Unloaded but registered: the next request loads it again.
        assert client.post("/v2/models/linear:1/infer", json=request).status_code == 200
        assert client.get("/v2/models/linear:1/ready").status_code == 200

        versioned = client.post("/v2/models/linear/versions/1/infer", json=request)
        assert versioned.status_code == 200 and versioned.json()["model_name"] == "linear"
        assert client.post("/v2/models/nope/infer", json=request).status_code == 404
        assert client.post("/v2/models/linear:1/infer", content=b"{").status_code == 400
        assert client.get("/v2/models/nope").status_code == 404
        assert client.get("/v2/models/nope/ready").status_code == 404
        assert client.post("/v2/repository/models/nope:1/load").status_code == 404
        assert client.post("/v2/repository/models/nope/unload").status_code == 404


def test_least_recently_used_models_are_unloaded_by_count(mme, store):
    url, app = mme(max_models=2)
    cache = app.state.endpoint.cache
    with httpx.Client(base_url=url) as client:
        for name in ("a", "b", "c"):
            assert add(client, name, "echo:1") == 200
        assert cache.loaded() == ["b", "c"]
        states = {m["name"]: m["state"] for m in client.post("/v2/repository/index").json()}
        assert states == {"a": "UNAVAILABLE", "b": "READY", "c": "READY"}
        assert len(live_leases(store, "echo:1")) == 2  # one per loaded copy
        assert client.post("/models/a/invoke", json=[[1]]).json() == [11]  # loads a again
        assert cache.loaded() == ["c", "a"]
        assert client.post("/models/c/invoke", json=[[1]]).status_code == 200
        assert cache.loaded() == ["a", "c"]
        assert client.get("/models/b").status_code == 200  # still registered
    assert len(live_leases(store, "echo:1")) == 2


def test_least_recently_used_models_are_unloaded_by_memory(mme, store, tmp_path, models):
    for name, size in (("m1", 10_000), ("m2", 10_000), ("m3", 10_000), ("huge", 30_000)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "serve.py").write_text(models.echo.joinpath("serve.py").read_text())
        (folder / "weights.bin").write_bytes(b"\0" * size)
        store.save(name, folder)
    url, app = mme(memory_budget=25_000)
    endpoint = app.state.endpoint
    with httpx.Client(base_url=url) as client:
        for name in ("m1", "m2"):
            assert add(client, name, name) == 200
        assert endpoint.cache.loaded() == ["m1", "m2"]
        client.post("/models/m1/invoke", json=[[1]])  # m1 is now the most recently used
        assert client.post("/models", json={"model_name": "m3", "url": "m3"}).status_code == 200
        assert endpoint.cache.loaded() == ["m1", "m3"]
        assert endpoint.cache.memory_used <= 25_000
        assert live_leases(store, "m2:1") == []

        too_big = client.post("/models", json={"model_name": "huge", "url": "huge:1"})
        assert too_big.status_code == 507 and "memory budget" in too_big.json()["error"]
        assert client.get("/models/huge").status_code == 404
        assert live_leases(store, "huge:1") == []
        assert client.post("/invocations", json=[[1]], headers={TARGET: "huge"}).status_code == 507
        assert endpoint.cache.loaded() == ["m1", "m3"]  # nothing was pushed out for it
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "loaded").iterdir()) == ["m1", "m3"]


def test_concurrent_first_requests_load_a_cold_model_once(mme, models):
    url, _ = mme()
    barrier = threading.Barrier(8)

    def first_request(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            return client.post("/invocations", json=[1, 2, 3], headers={TARGET: "slow:1"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(first_request, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.json() == [3] for a in answers)
    assert models.loads() == 1


def test_a_loaded_version_is_leased_until_deleted_from_the_endpoint(mme, store):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        assert add(client, "lin", "linear:1") == 200
        with pytest.raises(ModelInUseError, match="multi-model endpoint"):
            store.delete("linear:1")
        assert client.delete("/models/lin").status_code == 200
        store.delete("linear:1")
        assert add(client, "lin", "linear:1") == 404


def test_leases_are_renewed_while_loaded(mme, store):
    url, _ = mme(lease_ttl=0.6)  # renewed every 0.2 s
    with httpx.Client(base_url=url) as client:
        assert add(client, "e", "echo:1") == 200
    time.sleep(1.5)
    assert len(live_leases(store, "echo:1")) == 1


def test_model_errors_are_reported_and_the_endpoint_keeps_serving(mme):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        failed = client.post("/models", json={"model_name": "bad", "url": "load-fails:1"})
        assert failed.status_code == 500 and "weights are missing" in failed.json()["error"]
        assert "serve.py" in failed.json()["traceback"]
        assert client.get("/models/bad").status_code == 404
        raised = client.post("/invocations", json=[1], headers={TARGET: "predict-fails:1"})
        assert raised.status_code == 500 and "ValueError" in raised.json()["traceback"]
        assert client.post("/invocations", json=[[1]], headers={TARGET: "echo"}).json() == [11]


def test_token_and_body_limit_guard_the_endpoint(mme):
    url, _ = mme(token="t0ken", max_body=100)
    auth = {"authorization": "Bearer t0ken"}
    assert httpx.get(url + "/ping").status_code == 200
    assert httpx.get(url + "/models").status_code == 401
    assert httpx.post(url + "/v2/repository/index", headers=auth).status_code == 200
    body = b"[" + b"1," * 100 + b"1]"
    big = httpx.post(url + "/invocations", content=body, headers={**auth, TARGET: "echo"})
    assert big.status_code == 413


def test_a_thousand_warm_requests_over_ten_connections(mme):
    url, _ = mme()
    with httpx.Client(base_url=url) as client:
        assert add(client, "lin", "linear") == 200

    def worker(start: int) -> list[int]:
        with httpx.Client(base_url=url) as client:
            headers = {TARGET: "lin"}
            return [
                client.post("/invocations", json=[[float(i)]], headers=headers).status_code
                for i in range(start, start + 100)
            ]

    with ThreadPoolExecutor(10) as pool:
        codes = [c for chunk in pool.map(worker, range(0, 1000, 100)) for c in chunk]
    assert codes == [200] * 1000


def test_tritonclient_drives_the_repository(mme):
    import numpy as np
    import tritonclient.http as triton

    url, _ = mme()
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        client.load_model("linear:1")
        assert client.get_model_repository_index() == [
            {"name": "linear:1", "version": "1", "state": "READY", "reason": ""}
        ]
        x = triton.InferInput("x", [2, 1], "FP64")
        x.set_data_from_numpy(np.array([[1.0], [2.0]]))
        assert np.allclose(client.infer("linear:1", [x]).as_numpy("predict"), [3.0, 5.0])
        client.unload_model("linear:1")
        assert not client.is_model_ready("linear:1")
    finally:
        client.close()


# ---- the cache on its own ---------------------------------------------------------------


def fake_handler(name: str, size: int = 0) -> ModelHandler:
    return ModelHandler(name, "fake", "/nowhere", None, lambda m, p: None, size_bytes=size)


def test_the_cache_loads_once_evicts_and_tells_who_was_dropped():
    loads: list[str] = []
    dropped: list[str] = []

    def loader(name: str, url: str) -> ModelHandler:
        loads.append(name)
        time.sleep(0.2)
        return fake_handler(name, int(url))

    cache = ModelCache(
        loader, max_models=2, memory_budget=100, on_unload=lambda n, h: dropped.append(n)
    )
    for name, size in (("a", "40"), ("b", "40"), ("c", "50"), ("big", "101")):
        cache.register(name, size)
    with ThreadPoolExecutor(8) as pool:
        handlers = list(pool.map(lambda _: cache.get("a"), range(8)))
    assert loads == ["a"] and all(h is handlers[0] for h in handlers)
    cache.get("b")
    cache.get("a")
    cache.get("c")  # 40 + 40 + 50 > 100: b, the least recently used, goes
    assert cache.loaded() == ["a", "c"] and dropped == ["b"] and cache.memory_used == 90
    with pytest.raises(ModelTooLargeError):
        cache.get("big")
    assert dropped == ["b", "big"] and cache.loaded() == ["a", "c"]
    with pytest.raises(ModelNotFoundError):
        cache.get("unknown")
    assert cache.unload("a") and not cache.unload("a") and "a" in cache
    assert cache.unregister("c") and "c" not in cache
    cache.close()
    assert cache.loaded() == [] and cache.memory_used == 0
