"""Batch on a Dask LocalCluster (worker processes), the store, input and output on moto S3.

Every sharded run is compared key for key with the same batch on one machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from async_batch_helpers import serve_model

from modelshelf import Shelf
from modelshelf.core.deploy.batch import FAILURES, batch
from modelshelf.core.deploy.batch_dask import split_into_shards
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.errors import DeploymentError, JobError
from support import wait_for

WORKERS = 3

# y = 2 x + 1 for {"x": n}; "bad" fails (a model bug some inputs meet); "wait" blocks until
# the gate file exists, so that a test can hold a run half way. Each load leaves a file
# named after its process, so that a test can count loads and where they happened.
COUNTING_SERVE = """
import json
import os
import time
import uuid


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as fh:
        config = json.load(fh)
    os.makedirs(config["loads"], exist_ok=True)
    open(os.path.join(config["loads"], f"{os.getpid()}-{uuid.uuid4().hex}"), "w").close()
    return config


def predict(model, data):
    if data.get("bad"):
        raise RuntimeError("cannot score this row")
    if data.get("wait"):
        deadline = time.monotonic() + 120
        while not os.path.exists(model["gate"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    return {"y": 2 * data["x"] + 1}
"""


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture
def remote(s3_bucket, tmp_path):
    """A shelf on S3 holding the counting model; yields (shelf, bucket, client, loads dir)."""
    bucket, options, s3 = s3_bucket
    loads = tmp_path / "loads"
    folder = serve_model(tmp_path / "counting", COUNTING_SERVE)
    config = {"loads": str(loads), "gate": str(tmp_path / "gate")}
    (folder / "config.json").write_text(json.dumps(config))
    with Shelf(f"s3://{bucket}/store", storage_options=options) as shelf:
        shelf.save("counting", folder)
        yield shelf, bucket, s3, loads


def put_inputs(s3, bucket: str, objects: dict[str, str]) -> None:
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=f"in/{key}", Body=body.encode())


def listing(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` by its key below it, with its bytes."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) :]] = body
    return found


def failures_by_key(body: bytes) -> dict[str, str]:
    """``_failures.jsonl`` as key -> error (tracebacks name the model's temporary folder)."""
    records = [json.loads(line) for line in body.decode().splitlines()]
    assert all("cannot score this row" in r.get("traceback", "") for r in records)
    return {r["key"]: r["error"] for r in records}


def same_results(one: dict[str, bytes], many: dict[str, bytes]) -> None:
    """The two output folders hold the same objects, byte for byte but for the tracebacks."""
    assert sorted(one) == sorted(many)
    for key in one:
        if key == FAILURES:
            assert failures_by_key(one[key]) == failures_by_key(many[key])
        else:
            assert one[key] == many[key], key


def loads_in(folder: Path) -> list[int]:
    """The process ids of the model loads recorded so far."""
    return sorted(int(name.split("-")[0]) for name in os.listdir(folder)) if folder.exists() else []


INPUTS = {
    **{f"items/{n:03d}.json": json.dumps({"x": n}) for n in range(20)},
    "nested/deeper/big.json": json.dumps({"x": 7, "padding": "x" * 500}),
    "broken.json": json.dumps({"x": 1, "bad": True}),
    "rows.jsonl": '{"x": 1}\n\n{"x": 2}\n',
    "bad-rows.jsonl": '{"x": 1}\n{"x": 2, "bad": true}\n',
}


def test_shards_are_balanced_by_bytes_and_sorted_by_key():
    items = [(f"k{n}", f"p{n}", size) for n, size in enumerate([50, 10, 10, 10, 10, 10])]
    shards = split_into_shards(items, 2)
    assert [sum(i[2] for i in shard) for shard in shards] == [50, 50]
    assert all(shard == sorted(shard) for shard in shards)
    assert sorted(i for shard in shards for i in shard) == sorted(items)
    equal = [(f"k{n:02d}", "p", 1) for n in range(10)]
    assert [len(s) for s in split_into_shards(equal, 4)] == [3, 3, 2, 2]
    assert split_into_shards(equal[:2], 4) == [[equal[0]], [equal[1]]]  # no empty shard


def test_sharded_batch_is_one_machine_key_for_key(cluster, remote):
    shelf, bucket, s3, loads = remote
    put_inputs(s3, bucket, INPUTS)
    source = f"s3://{bucket}/in/"
    one = batch(shelf, "counting", source, f"s3://{bucket}/one/", split_lines=True, workers=2)
    local_loads = loads_in(loads)
    assert local_loads == [os.getpid()]  # the model loaded once, here

    seen = []
    many = batch(
        shelf,
        "counting",
        source,
        f"s3://{bucket}/many/",
        split_lines=True,
        workers=2,
        executor="dask",
        scheduler=cluster.scheduler_address,
        progress=seen.append,
    )
    assert (many.total, many.processed, many.skipped, many.failed) == (24, 22, 0, 2)
    assert (one.total, one.processed, one.skipped, one.failed) == (24, 22, 0, 2)
    results = listing(s3, bucket, "many/")
    same_results(listing(s3, bucket, "one/"), results)
    assert json.loads(results["items/007.json.out"]) == {"y": 15}
    assert results["rows.jsonl.out"] == b'{"y": 3}\n{"y": 5}\n'
    # A failing key is recorded, by key, and the others went on (no shard's own list left).
    failures = failures_by_key(results[FAILURES])
    assert sorted(failures) == ["bad-rows.jsonl", "broken.json"]
    assert "RuntimeError: cannot score this row" in failures["broken.json"]
    assert failures["bad-rows.jsonl"].startswith("line 2: ")
    # One load per Dask worker process, not per key and not here.
    dask_loads = [pid for pid in loads_in(loads) if pid not in local_loads]
    assert len(dask_loads) == len(set(dask_loads)) == WORKERS
    assert (seen[-1].done_files, seen[-1].total_files) == (24, 24)
    assert seen[-1].done_bytes == seen[-1].total_bytes == sum(map(len, INPUTS.values()))

    # Run again: everything is done, nothing is loaded on the cluster.
    again = batch(
        shelf,
        "counting",
        source,
        f"s3://{bucket}/many/",
        split_lines=True,
        executor="dask",
        scheduler=cluster.scheduler_address,
    )
    assert (again.processed, again.skipped, again.failed) == (0, 22, 2)
    assert len(loads_in(loads)) == 1 + WORKERS + 2  # the two failed keys: two shards, retried
    same_results(listing(s3, bucket, "one/"), listing(s3, bucket, "many/"))


def test_a_cancelled_sharded_job_stops_and_a_second_run_resumes(cluster, remote, tmp_path):
    from distributed import Client

    shelf, bucket, s3, _ = remote
    objects = {f"{n:03d}.json": json.dumps({"x": n, "wait": n >= 3}) for n in range(30)}
    put_inputs(s3, bucket, objects)
    source, target = f"s3://{bucket}/in/", f"s3://{bucket}/out/"
    deployments = DeploymentManager(shelf)
    try:
        job = deployments.batch(
            "counting",
            source,
            target,
            workers=1,
            executor="dask",
            scheduler=cluster.scheduler_address,
        )
    finally:
        deployments.close()
    assert job.spec.parameters["executor"] == "dask"

    def outs() -> list[str]:
        return [k for k in listing(s3, bucket, "out/") if k.endswith(".out")]

    wait_for(outs, timeout=120)  # the three objects that do not wait for the gate
    job.cancel()
    assert job.status == "cancelled"
    (tmp_path / "gate").touch()  # the shards' current objects end; no shard starts another
    with Client(cluster.scheduler_address, set_as_default=False) as client:

        def idle() -> bool:
            running = client.run(lambda dask_worker: len(dask_worker.active_threads))
            return not any(running.values())

        wait_for(idle, timeout=120)
    partial = outs()
    assert 1 <= len(partial) <= 3 + WORKERS < len(objects)

    resumed = batch(
        shelf,
        "counting",
        source,
        target,
        executor="dask",
        scheduler=cluster.scheduler_address,
        shards=2,
    )
    done_before = len(partial)
    assert (resumed.processed, resumed.skipped, resumed.failed) == (
        30 - done_before,
        done_before,
        0,
    )
    one = batch(shelf, "counting", source, f"s3://{bucket}/one/")
    assert one.processed == 30
    same_results(listing(s3, bucket, "one/"), listing(s3, bucket, "out/"))


def test_what_dask_workers_cannot_reach_is_refused_first(cluster, remote, tmp_path, monkeypatch):
    shelf, bucket, s3, _ = remote
    address = cluster.scheduler_address
    with pytest.raises(DeploymentError, match="is on this machine, so Dask workers"):
        batch(
            shelf,
            "counting",
            str(tmp_path),
            f"s3://{bucket}/out/",
            executor="dask",
            scheduler=address,
        )
    with pytest.raises(JobError, match="needs a scheduler address"):
        batch(shelf, "counting", f"s3://{bucket}/in/", f"s3://{bucket}/o/", executor="dask")
    with pytest.raises(DeploymentError, match="shards= is for executor='dask'"):
        batch(shelf, "counting", f"s3://{bucket}/in/", f"s3://{bucket}/o/", shards=2)
    with Shelf(tmp_path / "local") as local, pytest.raises(JobError, match="local to this"):
        batch(
            local,
            "counting",
            f"s3://{bucket}/in/",
            f"s3://{bucket}/o/",
            executor="dask",
            scheduler=address,
        )
    import modelshelf.core.deploy.batch_dask as batch_dask

    monkeypatch.setattr(batch_dask, "_WORKER_WAIT", 0.5)  # the cluster will not grow
    put_inputs(s3, bucket, {"a.json": '{"x": 1}'})
    with pytest.raises(DeploymentError, match=f"has {WORKERS} worker"):
        batch(
            shelf,
            "counting",
            f"s3://{bucket}/in/",
            f"s3://{bucket}/o/",
            executor="dask",
            scheduler=address,
            shards=WORKERS + 1,
        )


def test_a_model_that_fails_to_load_fails_its_shards_and_leaves_no_output(
    cluster, remote, tmp_path
):
    shelf, bucket, s3, _ = remote
    broken = "def load(model_dir):\n    raise RuntimeError('weights are missing')\n"
    shelf.save(
        "broken", serve_model(tmp_path / "broken", broken + "\ndef predict(m, d):\n    return d\n")
    )
    put_inputs(s3, bucket, {"a.json": '{"x": 1}', "b.json": '{"x": 2}'})
    with pytest.raises(DeploymentError, match="weights are missing") as caught:
        batch(
            shelf,
            "broken",
            f"s3://{bucket}/in/",
            f"s3://{bucket}/out/",
            executor="dask",
            scheduler=cluster.scheduler_address,
        )
    assert "shard 1 of 2" in str(caught.value) and "run the batch again" in str(caught.value)
    assert listing(s3, bucket, "out/") == {}
