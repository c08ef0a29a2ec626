"""The Dask executor: a LocalCluster with worker processes, the store on a moto S3 server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from store_helpers import make_model

from modelshelf import Shelf
from modelshelf.core.jobs import JobManager

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture
def s3_jobs(s3_bucket):
    bucket, options, _ = s3_bucket
    shelf = Shelf(f"s3://{bucket}/shelf", storage_options=options)
    manager = JobManager(shelf)
    yield manager, shelf
    manager.close()
    shelf.close()


def test_dask_job_runs_two_workers_through_the_store(cluster, s3_jobs, tmp_path):
    jobs, shelf = s3_jobs
    shelf.save("base", make_model(tmp_path / "base", {"model.json": '{"weight": 100}'}))
    data = make_model(tmp_path / "data", {"train.csv": "1,2\n3,4\n"})
    job = jobs.submit(
        DATA / "train.ipynb",
        name="distributed",
        parameters={"epochs": 2},
        model="base",
        data=data,
        workers=2,
        executor="dask",
        scheduler=cluster.scheduler_address,
    ).wait(180)
    assert job.status == "succeeded", job.error
    assert sorted(job.outputs) == ["Job - distributed Worker 1:1", "Job - distributed Worker 2:1"]
    for ref in job.outputs:
        version = shelf.show(ref)
        assert version.parent == "base:1" and version.job["executor"] == "dask"
        with shelf.open(ref, "model.json") as fh:
            body = json.load(fh)
        # 100 from the input model + 0.5 * 2 + 2 data rows, on the cluster's workers.
        assert body["weight"] == 103.0 and body["job"] == job.id
        executed = shelf.backend.read_bytes(version.job["executed_notebook"]).decode()
        assert "trained weight=103.0" in executed
    artifacts = shelf.backend.read_bytes(f"runs/{job.id}/worker-2/artifacts/metrics.json")
    assert json.loads(artifacts) == {"weight": 103.0}
    assert job.results["run_summary"]["outputs"]["models"] == job.outputs


def test_dask_job_with_a_failing_worker_creates_no_model(cluster, s3_jobs):
    jobs, shelf = s3_jobs
    job = jobs.submit(
        DATA / "fails.ipynb",
        name="doomed",
        executor="dask",
        scheduler=cluster.scheduler_address,
    ).wait(180)
    assert job.status == "failed" and "ValueError: bad value: 0" in job.error
    assert shelf.list() == []


def test_dask_job_can_be_cancelled(cluster, s3_jobs):
    jobs, shelf = s3_jobs
    job = jobs.submit(
        DATA / "sleeps.ipynb",
        name="long",
        parameters={"seconds": 120},
        executor="dask",
        scheduler=cluster.scheduler_address,
    )
    deadline = time.monotonic() + 60
    while job.refresh().status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2)  # let the task start its kernel on a Dask worker
    job.cancel()
    assert job.status == "cancelled"
    assert shelf.list() == []


def test_a_script_job_runs_on_the_cluster_too(cluster, s3_jobs, tmp_path):
    jobs, shelf = s3_jobs
    script = make_model(tmp_path / "code", {"fit.py": (
        "import json, os, sys\n"
        "out = os.path.join(os.environ['ML_MODEL_PATH'], 'fit.json')\n"
        "json.dump({'argv': sys.argv[1:], 'worker': os.environ['ML_WORKER_INDEX']},"
        " open(out, 'w'))\n"
    )}) / "fit.py"  # fmt: skip
    job = jobs.submit(script, parameters={"rate": 0.5}, workers=2, executor="dask",
                      scheduler=cluster.scheduler_address).wait(180)  # fmt: skip
    assert job.status == "succeeded", job.error
    assert sorted(job.outputs) == ["Job - fit Worker 1:1", "Job - fit Worker 2:1"]
    for index, ref in enumerate(sorted(job.outputs), 1):
        with shelf.open(ref, "fit.json") as fh:
            assert json.load(fh) == {"argv": ["--rate", "0.5"], "worker": str(index)}
        assert shelf.show(ref).job["kind"] == "script"
