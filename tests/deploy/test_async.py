"""Asynchronous endpoints: a real uvicorn server on loopback, a real queue, real S3 (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from async_batch_helpers import (
    GATED_SERVE,
    ServerThread,
    linear_model,
    rounded,
    serve_model,
)

from modelshelf import Shelf
from modelshelf.core.deploy.async_app import create_async_app
from modelshelf.core.deploy.async_queue import INLINE_LIMIT, AsyncQueue
from modelshelf.core.deploy.http import ServingSettings
from support import wait_for


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


@pytest.fixture
def linear_dir(shelf, tmp_path):
    """The linear model saved to the shelf and loaded back, as a deployment does."""
    shelf.save("linear", linear_model(tmp_path / "linear-src"))
    return shelf.load("linear", tmp_path / "linear-deployed")


@pytest.fixture
def gated_dir(tmp_path):
    return str(serve_model(tmp_path / "gated", GATED_SERVE))


def make_app(model_dir, tmp_path, settings=None, **kwargs):
    options = {
        "queue_db": str(tmp_path / "queue.sqlite"),
        "output_location": str(tmp_path / "outputs"),
        "poll_interval": 0.05,
        "shutdown_grace": 0.2,
        **kwargs,
    }
    return create_async_app(model_dir, "model", settings or ServingSettings(), **options)


def finished(client, inference_id):
    """Poll until the request has ended; return its description."""

    def check():
        answer = client.get(f"/async/requests/{inference_id}").json()
        return answer if answer["status"] in ("completed", "failed") else None

    return wait_for(check)


def test_a_request_is_accepted_then_its_result_written_to_a_folder(linear_dir, tmp_path):
    with (
        ServerThread(make_app(linear_dir, tmp_path)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        wait_for(lambda: client.get("/ping").status_code == 200)
        response = client.post("/async/invocations", json=[[3.0], [4.0]])
        assert response.status_code == 202
        accepted = response.json()
        inference_id = accepted["inference_id"]
        expected = os.path.join(str(tmp_path / "outputs"), f"{inference_id}.out")
        assert accepted["output_location"] == expected
        assert response.headers["location"] == f"/async/requests/{inference_id}"
        assert response.headers["x-amzn-sagemaker-outputlocation"] == expected

        done = finished(client, inference_id)
        assert done["status"] == "completed", done
        assert done["content_type"] == "application/json"
        assert "error" not in done
        with open(expected) as fh:
            assert rounded(json.load(fh)) == [7.0, 9.0]
        assert client.get("/async/requests/no-such-id").status_code == 404


def test_results_go_to_an_s3_prefix_and_inputs_come_from_s3(linear_dir, tmp_path, s3_bucket):
    bucket, options, s3 = s3_bucket
    s3.put_object(Bucket=bucket, Key="in/rows.json", Body=b"[[10.0]]")
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=b"5\n6\n")
    app = make_app(
        linear_dir, tmp_path, output_location=f"s3://{bucket}/out/", storage_options=options
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        inline = client.post("/async/invocations", json=[[1.0]]).json()
        assert inline["output_location"] == f"s3://{bucket}/out/{inline['inference_id']}.out"
        by_header = client.post(
            "/async/invocations",
            headers={"X-Amzn-SageMaker-InputLocation": f"s3://{bucket}/in/rows.json"},
        ).json()
        by_query = client.post(
            "/async/invocations", params={"InputLocation": f"s3://{bucket}/in/rows.csv"}
        ).json()
        missing = client.post(
            "/async/invocations",
            headers={"X-Amzn-SageMaker-InputLocation": f"s3://{bucket}/in/nothing.json"},
        ).json()

        for accepted, expected in ((inline, [3.0]), (by_header, [21.0]), (by_query, [11.0, 13.0])):
            done = finished(client, accepted["inference_id"])
            assert done["status"] == "completed", done
            key = f"out/{accepted['inference_id']}.out"
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert rounded(json.loads(body)) == expected
        failed = finished(client, missing["inference_id"])
        assert failed["status"] == "failed"
        assert "nothing.json" in failed["error"]

        # A client may not make the server read its own files or its network.
        for location in ("/etc/passwd", "file:///etc/passwd", "http://127.0.0.1:1/x"):
            refused = client.post(
                "/async/invocations", headers={"X-Amzn-SageMaker-InputLocation": location}
            )
            assert refused.status_code == 400, location
            assert "not allowed" in refused.json()["error"]


def test_a_failing_model_marks_the_request_failed_with_its_error(gated_dir, tmp_path):
    with (
        ServerThread(make_app(gated_dir, tmp_path)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        bad = client.post("/async/invocations", json={"fail": "on purpose"}).json()
        good = client.post("/async/invocations", json={"x": 1}).json()
        failed = finished(client, bad["inference_id"])
        assert failed["status"] == "failed"
        assert "ValueError: asked to fail: on purpose" in failed["error"]
        assert "serve.py" in failed["traceback"]
        assert not os.path.exists(failed["output_location"])
        assert finished(client, good["inference_id"])["status"] == "completed"

        empty = client.post("/async/invocations", content=b"")
        assert empty.status_code == 400
        assert "no body" in empty.json()["error"]


def test_requests_are_accepted_while_the_model_loads(gated_dir, tmp_path):
    gate = os.path.join(gated_dir, "load-gate")
    open(gate + ".wanted", "w").close()
    with (
        ServerThread(make_app(gated_dir, tmp_path)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.get("/ping").status_code == 503
        accepted = client.post("/async/invocations", json={"x": "early"})
        assert accepted.status_code == 202
        inference_id = accepted.json()["inference_id"]
        assert client.get(f"/async/requests/{inference_id}").json()["status"] == "pending"
        open(gate, "w").close()
        wait_for(lambda: client.get("/ping").status_code == 200)
        done = finished(client, inference_id)
        assert done["status"] == "completed"
        with open(done["output_location"]) as fh:
            assert json.load(fh)["echo"] == "early"


def test_a_model_that_fails_to_load_refuses_new_requests(tmp_path):
    code = "def load(model_dir):\n    raise OSError('weights gone')\n\n\n"
    broken = serve_model(tmp_path / "broken", code + "def predict(model, data):\n    return data\n")
    with (
        ServerThread(make_app(str(broken), tmp_path)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        ping = wait_for(lambda: (r := client.get("/ping")).status_code == 500 and r)
        assert "weights gone" in ping.json()["error"]
        refused = client.post("/async/invocations", json=[1])
        assert refused.status_code == 503
        assert "failed to load" in refused.json()["error"]


def test_the_token_and_the_body_limit_are_enforced(linear_dir, tmp_path):
    settings = ServingSettings(token="s3cret", max_body=64)
    with (
        ServerThread(make_app(linear_dir, tmp_path, settings)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.post("/async/invocations", json=[[1.0]]).status_code == 401
        assert client.get("/async/requests/x").status_code == 401
        wait_for(lambda: client.get("/ping").status_code == 200)  # health checks stay open
        auth = {"Authorization": "Bearer s3cret"}
        too_big = client.post("/async/invocations", json=[[1.0]] * 40, headers=auth)
        assert too_big.status_code == 413
        accepted = client.post("/async/invocations", json=[[1.0]], headers=auth)
        assert accepted.status_code == 202


def test_requests_accepted_before_a_restart_are_completed_by_the_next_server(gated_dir, tmp_path):
    gate = str(tmp_path / "predict-gate")
    first_app = make_app(gated_dir, tmp_path, workers=1)
    with ServerThread(first_app) as first, httpx.Client(base_url=first.url) as client:
        ids = [
            client.post("/async/invocations", json={"x": n, "gate": gate}).json()["inference_id"]
            for n in range(3)
        ]
        wait_for(
            lambda: any(
                client.get(f"/async/requests/{i}").json()["status"] == "in_progress" for i in ids
            )
        )
        first.stop()  # mid-way: one request inside predict, two waiting

    queue = AsyncQueue(str(tmp_path / "queue.sqlite"))
    try:
        # The running one went back in line at once; nothing was lost or half done.
        assert [queue.get(i).status for i in ids] == ["pending"] * 3
    finally:
        queue.close()

    with (
        ServerThread(make_app(gated_dir, tmp_path, workers=2)) as second,
        httpx.Client(base_url=second.url) as client,
    ):
        open(gate, "w").close()
        for n, inference_id in enumerate(ids):
            done = finished(client, inference_id)
            assert done["status"] == "completed", done
            with open(done["output_location"]) as fh:
                assert json.load(fh)["echo"] == n
    # The first server's abandoned worker returned from predict and gave way.
    for thread in first_app.state.service.threads:
        thread.join(30)
        assert not thread.is_alive()


# ---- the queue itself --------------------------------------------------------------------

_CLAIM_AND_DIE = (
    "import sys\n"
    "from modelshelf.core.deploy.async_queue import AsyncQueue\n"
    "request = AsyncQueue(sys.argv[1]).claim('doomed')\n"
    "print(request.id if request else '')\n"
)


def _claim_in_a_process_that_dies(db: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _CLAIM_AND_DIE, db], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    db = str(tmp_path / "queue.sqlite")
    queue = AsyncQueue(db, max_attempts=2)
    try:
        first = queue.put(b'{"x": 1}', "application/json", None, str(tmp_path / "out"))
        assert _claim_in_a_process_that_dies(db) == first
        assert queue.get(first).status == "in_progress"

        retried = queue.claim("heir")
        assert retried.id == first and retried.attempts == 2
        assert retried.body == b'{"x": 1}'
        assert queue.complete(first, retried.output_location, worker_id="heir")
        assert queue.get(first).status == "completed"
        assert not queue.complete(first, "elsewhere")  # ended requests stay as they are

        # A request that takes its server down every time is failed, not retried forever.
        poison = queue.put(b"{}", None, None, str(tmp_path / "out"))
        assert _claim_in_a_process_that_dies(db) == poison
        assert _claim_in_a_process_that_dies(db) == poison
        assert queue.claim("heir") is None
        ended = queue.get(poison)
        assert ended.status == "failed" and "2 times" in ended.error
    finally:
        queue.close()


def test_a_claim_without_heartbeat_is_taken_over_and_the_late_worker_is_refused(tmp_path):
    queue = AsyncQueue(str(tmp_path / "queue.sqlite"), stale_after=0.2)
    try:
        inference_id = queue.put(b"[1]", None, None, "s3://bucket/out")
        assert queue.get(inference_id).output_location == f"s3://bucket/out/{inference_id}.out"
        assert queue.claim("slow").id == inference_id
        queue.heartbeat(["slow"])
        assert queue.claim("eager") is None  # alive: its heartbeat is fresh
        wait_for(lambda: queue.claim("eager"), timeout=5)
        assert not queue.owns(inference_id, "slow")
        assert not queue.complete(inference_id, "x", worker_id="slow")
        assert not queue.fail(inference_id, "late", worker_id="slow")
        assert queue.fail(inference_id, "broken", worker_id="eager")
        assert queue.get(inference_id).error == "broken"
        assert queue.counts() == {"pending": 0, "in_progress": 0, "completed": 0, "failed": 1}
    finally:
        queue.close()


def test_large_bodies_are_kept_beside_the_database_until_the_request_ends(tmp_path):
    queue = AsyncQueue(str(tmp_path / "queue.sqlite"))
    try:
        body = os.urandom(INLINE_LIMIT + 1)
        inference_id = queue.put(body, "application/octet-stream", None, str(tmp_path))
        assert os.listdir(queue.bodies) == [inference_id]
        claimed = queue.claim("w")
        assert claimed.body == body
        assert queue.get(inference_id).body is None  # get() does not read bodies
        queue.complete(inference_id, claimed.output_location, worker_id="w")
        assert os.listdir(queue.bodies) == []

        lost = queue.put(body, None, None, str(tmp_path))
        os.unlink(os.path.join(queue.bodies, lost))
        assert queue.claim("w") is None  # ended, not left in progress for ever
        assert "could not be read" in queue.get(lost).error
        with pytest.raises(ValueError):
            queue.put(None, None, None, str(tmp_path))
    finally:
        queue.close()
