"""A deployment's live figures: GET /metrics (parsed by prometheus_client's own parser) and
the card's requests, errors, latency, batch sizes and resources, moving with real traffic."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from deploy_helpers import managed, write_model
from prometheus_client.parser import text_string_to_metric_families

from modelshelf import Shelf

pytestmark = pytest.mark.timeout(120)

BATCHED = """\
import time


def load(model_dir):
    return 1


def predict(model, data):
    return [x * 2 for x in data]


def predict_batch(model, payloads):
    time.sleep(0.02)
    return [[x * 2 for x in data] for data in payloads]
"""


def metrics(url: str) -> dict[str, float]:
    """Every sample of ``GET /metrics`` by name and labels, e.g. ``requests_total{200}``."""
    answer = httpx.get(url + "/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def send(url: str, bodies: list[bytes], threads: int = 8) -> list[int]:
    def post(body: bytes) -> int:
        with httpx.Client() as client:  # a connection each: spread over the workers
            answer = client.post(url + "/invocations", content=body, timeout=30,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
            return answer.status_code

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, bodies))


def settled(deployment, requests: int, timeout: float = 10.0):
    """The live figures once every request is counted (workers write them each second)."""
    deadline = time.monotonic() + timeout
    while True:
        live = deployment.live()
        if live.requests >= requests or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


@pytest.fixture
def shelf(tmp_path):
    store = Shelf(tmp_path / "store")
    store.save("doubler", write_model(tmp_path / "doubler", {"serve.py": BATCHED}))
    yield store
    store.close()


def test_metrics_and_the_card_move_with_traffic(shelf):
    with managed(shelf) as manager:
        deployment = manager.deploy("doubler", batch_size=8, max_batch_delay="5ms")
        assert deployment.status == "ready", deployment.logs()
        before = deployment.live()
        assert before.requests == 0 and before.processes >= 1 and before.rss_bytes > 0
        bodies = [json.dumps([i]).encode() for i in range(30)] + [b"{broken"] * 3
        statuses = send(deployment.url, bodies)
        assert statuses.count(200) == 30 and statuses.count(400) == 3

        samples = metrics(deployment.url)
        assert samples["modelshelf_requests_total{status=200}"] == 30
        assert samples["modelshelf_requests_total{status=400}"] == 3
        assert samples["modelshelf_request_seconds_count{}"] == 33
        # Every request went through the batcher once (a bad body is answered in its call).
        assert samples["modelshelf_batch_size_sum{}"] == 33
        assert samples["modelshelf_batch_size_count{}"] < 33  # in fewer calls
        assert samples["modelshelf_loaded_models{}"] == 1

        live = settled(deployment, 33)
        assert (live.requests, live.client_errors, live.server_errors) == (33, 3, 0)
        assert live.last_minute == 33
        assert 0 < live.p50_ms <= live.p99_ms
        assert sum(n * count for n, count in live.batch_sizes.items()) == 33
        assert max(live.batch_sizes) > 1
        assert set(live.models) == {"doubler"}
        card = deployment.refresh().card()
        assert card.value("requests") == "33 (33 in the last minute)"
        assert card.value("errors") == "0 server, 3 client"
        assert "p99" in card.value("latency") and "resident" in card.value("resources")
        described = manager.describe(deployment.name)
        assert described["live"]["requests"] == 33
        assert described["live"]["batch_sizes"] == {str(k): v for k, v in live.batch_sizes.items()}
        deployment.stop()
        assert deployment.describe()["live"] is None


def test_metrics_count_every_worker(shelf):
    with managed(shelf) as manager:
        deployment = manager.deploy("doubler", workers=2)
        assert deployment.status == "ready", deployment.logs()
        assert send(deployment.url, [b"[1]"] * 40, threads=8) == [200] * 40
        # Once every worker's snapshot holds its counts (they write them each second)...
        live = settled(deployment, 40)
        assert live.requests == 40 and live.processes >= 3  # the supervisor + 2 workers
        # ...whichever worker answers counts both: its own live, the other's from its file.
        # (Before that, one answering from a file a second old may count fewer: the second
        # worker starts once the first serves, so these requests may all be the first's.)
        for _ in range(5):
            assert metrics(deployment.url)["modelshelf_requests_total{status=200}"] == 40


def test_a_multi_model_endpoint_batches_each_model_as_registered(shelf):
    target = {"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Model": "twice"}

    def invoke(i: int) -> httpx.Response:
        with httpx.Client() as client:
            return client.post(url + "/invocations", json=[i], headers=target, timeout=30)

    with managed(shelf) as manager:
        deployment = manager.deploy([], mode="multi")
        assert deployment.status == "ready", deployment.logs()
        url = deployment.url
        refused = httpx.post(url + "/models", json={"model_name": "twice", "url": "doubler",
                                                    "batch_size": "lots"})  # fmt: skip
        assert refused.status_code == 400 and "batch_size" in refused.json()["message"]
        # As TorchServe's management API takes it: max_batch_delay in milliseconds.
        spec = {"model_name": "twice", "url": "doubler", "batch_size": 4, "max_batch_delay": 5}
        loaded = httpx.post(url + "/models", json=spec)
        assert loaded.status_code == 200, loaded.text
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(invoke, range(24)))
        assert [a.json() for a in answers] == [[2 * i] for i in range(24)]
        samples = metrics(url)
        assert samples["modelshelf_requests_total{status=200}"] == 24
        assert samples["modelshelf_batch_size_sum{}"] == 24
        assert samples["modelshelf_batch_size_count{}"] < 24  # batched: fewer calls
        assert (
            samples["modelshelf_batch_size_bucket{le=4}"]
            == samples["modelshelf_batch_size_count{}"]
        )  # never more than 4 a call
        assert samples["modelshelf_loaded_models{}"] == 1
        live = settled(deployment, 24)
        assert set(live.models) == {"twice"} and live.models["twice"]["memory_bytes"] > 0
        assert "twice (" in deployment.card().value("loaded")

        assert httpx.delete(url + "/models/twice").status_code == 200
        assert metrics(url)["modelshelf_loaded_models{}"] == 0
