"""A schedule whose template says executor="dask": its runs go to a Dask cluster (a
LocalCluster with worker processes), the store on a moto S3 server."""

from __future__ import annotations

import time

import pytest
from schedule_helpers import TRAIN

from modelshelf import Shelf
from modelshelf.core.jobs.scheduler import Scheduler
from modelshelf.core.jobs.schedules import ScheduleManager

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_scheduled_runs_use_the_dask_executor_when_the_schedule_says_so(cluster, s3_bucket):
    bucket, options, _ = s3_bucket
    with Shelf(f"s3://{bucket}/shelf", storage_options=options) as shelf:
        schedules = ScheduleManager(shelf)
        created = schedules.create(
            TRAIN, every="2s", name="on-dask", parameters={"epochs": 3},
            executor="dask", scheduler=cluster.scheduler_address,
        )  # fmt: skip
        scheduler = Scheduler(schedules)
        scheduler.run_once()
        time.sleep(max(0.0, created.definition.timing.anchor + 2.2 - time.time()))
        fired = scheduler.run_once().fired
        schedules.pause("on-dask")
        assert len(fired) == 1 and fired[0][2] == "on time"
        job = schedules.jobs.get(fired[0][3]).wait(180)
        assert job.status == "succeeded", job.error
        assert job.spec.executor == "dask" and job.spec.scheduler == cluster.scheduler_address
        assert job.outputs == ["Job - on-dask:1"]
        assert shelf.show("Job - on-dask:1").job["executor"] == "dask"
        scheduler.run_once()
        assert schedules.get("on-dask").last_run["status"] == "succeeded"
        schedules.close()
