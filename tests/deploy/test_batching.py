"""Dynamic batching over real HTTP: concurrent requests answered by one call of the model,
each answer to its own request, a bad body failing alone, a lone request served at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from deploy_helpers import managed, write_model

from modelshelf import Shelf
from modelshelf.core.deploy.batching import BatchSettings
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.http import ServingSettings
from modelshelf.core.deploy.realtime import create_realtime_app
from modelshelf.core.errors import DeploymentError

pytestmark = pytest.mark.timeout(120)

# predict_batch takes the decoded data of each request of a batch; each call sleeps, as a
# model on a device would, so that requests queue behind it. It logs each batch's size.
BATCHED = """\
import time

CALL_SECONDS = {seconds}


def load(model_dir):
    return {{"offset": 100}}


def predict(model, data):
    return [x + model["offset"] for x in data]


def predict_batch(model, payloads):
    with open({log!r}, "a") as fh:
        fh.write(f"{{len(payloads)}}\\n")
    time.sleep(CALL_SECONDS)
    if {wrong_length}:
        return []
    return [[x + model["offset"] for x in data] for data in payloads]
"""

# An MMS handler service: handle() gets the whole batch, and says how big it was.
MMS_BATCHED = """\
import json
import time


def handle(data, context):
    if data is None:
        return None
    time.sleep(0.05)
    return [
        {"echo": json.loads(item["body"]), "batch": len(data), "id": context.get_request_id(i)}
        for i, item in enumerate(data)
    ]
"""


def batched_model(tmp_path: Path, seconds: float = 0.05, wrong_length: bool = False) -> Path:
    log = tmp_path / "batches.log"
    source = BATCHED.format(seconds=seconds, log=str(log), wrong_length=wrong_length)
    return write_model(tmp_path / "batched", {"serve.py": source})


def sizes(tmp_path: Path) -> list[int]:
    return [int(line) for line in (tmp_path / "batches.log").read_text().split()]


def app(folder: Path, batch_size: int, delay: float = 0.01, handler: HandlerSpec | None = None):
    batching = BatchSettings(batch_size, delay)
    return create_realtime_app(str(folder), "m", ServingSettings(), handler=handler,
                               batching=batching)  # fmt: skip


def post_all(url: str, bodies: list[bytes], workers: int = 24) -> list[httpx.Response]:
    def post(body: bytes) -> httpx.Response:
        return httpx.post(url + "/invocations", content=body,
                          headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(post, bodies))


def ready(url: str) -> None:
    assert httpx.get(url + "/ping", timeout=30).status_code == 200


def test_concurrent_requests_share_calls_and_each_gets_its_own_answer(serve, tmp_path):
    url = serve(app(batched_model(tmp_path), batch_size=8))
    ready(url)
    answers = post_all(url, [json.dumps([i, i + 0.5]).encode() for i in range(40)])
    assert [a.status_code for a in answers] == [200] * 40
    assert [a.json() for a in answers] == [[i + 100, i + 100.5] for i in range(40)]
    seen = sizes(tmp_path)
    assert sum(seen) == 40 and max(seen) <= 8
    assert seen[0] == 1  # the first request found nothing running: called at once, alone
    assert max(seen) > 1  # the others queued behind it and went out together


def test_one_bad_body_fails_alone_not_its_batch(serve, tmp_path):
    url = serve(app(batched_model(tmp_path), batch_size=16))
    ready(url)
    bodies = [json.dumps([i]).encode() for i in range(12)]
    bodies[7] = b"{not json"
    answers = post_all(url, bodies)
    assert answers[7].status_code == 400 and "JSON" in answers[7].json()["error"]
    good = [a for i, a in enumerate(answers) if i != 7]
    assert [a.status_code for a in good] == [200] * 11
    assert [a.json() for a in good] == [[i + 100] for i in range(12) if i != 7]
    assert sum(sizes(tmp_path)) == 11  # the bad body never reached the model


def test_a_lone_request_is_not_kept_waiting_for_a_batch(serve, tmp_path):
    # max_batch_delay is 9 s: a lone request that waited for company would time out.
    url = serve(app(batched_model(tmp_path, seconds=0), batch_size=32, delay=9.0))
    ready(url)
    for i in range(3):
        answer = httpx.post(url + "/invocations", json=[i], timeout=2.0)
        assert answer.json() == [i + 100]
    assert sizes(tmp_path) == [1, 1, 1]


def test_a_batch_answered_with_the_wrong_count_fails_clearly(serve, tmp_path):
    url = serve(app(batched_model(tmp_path, wrong_length=True), batch_size=8))
    ready(url)
    answers = post_all(url, [b"[1]"] * 6)
    assert {a.status_code for a in answers} == {500}
    assert "predict_batch returned 0 results for" in answers[0].json()["error"]


def test_a_handler_service_gets_the_batch_as_its_list(serve, tmp_path):
    handler = write_model(tmp_path / "handler", {"model_handler.py": MMS_BATCHED})
    folder = write_model(tmp_path / "model", {"weights.txt": "w"})
    spec = HandlerSpec(str(handler / "model_handler.py"), "handle")
    url = serve(app(folder, batch_size=8, handler=spec))
    ready(url)
    answers = post_all(url, [json.dumps({"n": i}).encode() for i in range(30)])
    assert [a.status_code for a in answers] == [200] * 30
    bodies = [a.json() for a in answers]
    assert [b["echo"] for b in bodies] == [{"n": i} for i in range(30)]
    assert max(b["batch"] for b in bodies) > 1
    # Each request kept its own id within its batch: the one its answer's header carries.
    assert [b["id"] for b in bodies] == [a.headers["x-request-id"] for a in answers]


def test_batch_settings_are_checked(tmp_path):
    assert BatchSettings.of(8, "10ms") == BatchSettings(8, 0.01)
    for size in (0, -1, "8", True, 10**6):
        with pytest.raises(DeploymentError, match="batch_size"):
            BatchSettings.of(size)
    with pytest.raises(DeploymentError, match="max_batch_delay"):
        BatchSettings.of(8, "10 parsecs")
    with pytest.raises(DeploymentError, match="with its unit"):
        BatchSettings.of(8, 60)


def test_a_deployment_batches_and_its_card_says_so(tmp_path):
    shelf = Shelf(tmp_path / "store")
    ref = shelf.save("batched", batched_model(tmp_path)).ref
    with managed(shelf) as manager:
        with pytest.raises(DeploymentError, match="batch_size"):
            manager.deploy(ref, batch_size=0)
        deployment = manager.deploy(ref, batch_size=4, max_batch_delay="5ms")
        assert deployment.status == "ready", deployment.logs()
        assert deployment.serving == {"batch_size": 4, "max_batch_delay": 0.005}
        assert deployment.card().value("batching") == (
            "up to 4 requests per call, filling for at most 5 ms"
        )
        answers = post_all(deployment.url, [json.dumps([i]).encode() for i in range(12)])
        assert [a.json() for a in answers] == [[i + 100] for i in range(12)]
        seen = sizes(tmp_path)
        assert sum(seen) == 12 and max(seen) <= 4
    shelf.close()


# A SageMaker inference.py whose predict_fn logs the rows it was given in each call: the
# toolkit's default input_fn decodes each CSV body; a batch's arrays are stacked.
INFERENCE = """\
import time

import numpy as np


def model_fn(model_dir):
    return 10.0


def predict_fn(data, model):
    with open({log!r}, "a") as fh:
        fh.write(f"{{len(data)}}\\n")
    time.sleep(0.05)
    return np.asarray(data).sum(axis=1) * model
"""


def test_an_inference_script_predicts_a_stacked_batch_once(serve, tmp_path):
    log = tmp_path / "batches.log"
    folder = write_model(tmp_path / "script", {"code/inference.py": INFERENCE.format(log=str(log))})
    url = serve(app(folder, batch_size=8))
    ready(url)

    def post(body: bytes, kind: str = "text/csv") -> httpx.Response:
        headers = {"Content-Type": kind, "Accept": "application/json"}
        return httpx.post(url + "/invocations", content=body, headers=headers, timeout=30)

    bodies = [f"{i},1\n{i},2\n".encode() for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, bodies))
        refused = pool.submit(post, b"\x00\x01", "application/x-unknown").result()
    assert [a.status_code for a in answers] == [200] * 20
    # Each request gets its own two rows' predictions back, split from the stacked call.
    assert [a.json() for a in answers] == [[(i + 1) * 10.0, (i + 2) * 10.0] for i in range(20)]
    rows = [int(line) for line in log.read_text().split()]
    assert sum(rows) == 40 and max(rows) > 2  # some call took several requests' rows
    assert refused.status_code == 415


# A Dataloop-style ModelAdapter: predict takes a list of items, one output per item.
ADAPTER = """\
import time


class ModelAdapter:
    def load(self, model_dir):
        self.log = {log!r}

    def predict(self, items):
        with open(self.log, "a") as fh:
            fh.write(f"{{len(items)}}\\n")
        time.sleep(0.05)
        return [{{"label": "big" if x > 10 else "small", "x": x}} for x in items]
"""


def test_a_model_adapter_predicts_the_items_of_a_batch_in_one_call(serve, tmp_path):
    log = tmp_path / "batches.log"
    folder = write_model(tmp_path / "adapter", {"serve.py": ADAPTER.format(log=str(log))})
    url = serve(app(folder, batch_size=8))
    ready(url)
    bodies = [json.dumps([i, i + 20]).encode() for i in range(16)]
    answers = post_all(url, bodies)
    assert [a.json() for a in answers] == [
        [{"label": "big" if i > 10 else "small", "x": i}, {"label": "big", "x": i + 20}]
        for i in range(16)
    ]
    items = [int(line) for line in log.read_text().split()]
    assert sum(items) == 32 and max(items) > 2  # several requests' items in one call
