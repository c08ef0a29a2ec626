"""Exactly once: several ``modelshelf scheduler`` processes over one store, on one machine
(a shared local state folder) and on two (a moto S3 store, a state folder each)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from schedule_helpers import TRAIN, claimed_runs, duplicates, start_scheduler, stop_schedulers

from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
from modelshelf.core.jobs.schedules import ScheduleManager

#: How long the three schedulers run (the issue asks for a minute).
RUN_FOR = float(os.environ.get("MODELSHELF_TEST_SCHEDULER_SECONDS", "60"))


@contextmanager
def machine(state_dir: str, root: str, options: dict | None = None) -> Iterator[Shelf]:
    """A Shelf as one machine sees it: ``state_dir`` is its local state folder."""
    saved = os.environ.get("MODELSHELF_STATE_DIR")
    os.environ["MODELSHELF_STATE_DIR"] = state_dir
    try:
        with Shelf(root, storage_options=options) as shelf:
            yield shelf
    finally:
        if saved is None:
            os.environ.pop("MODELSHELF_STATE_DIR", None)
        else:
            os.environ["MODELSHELF_STATE_DIR"] = saved


def _scheduled_jobs(shelf: Shelf) -> list[tuple[str, float]]:
    """(schedule, due time) of every job this machine ran for a schedule; queued ones are
    cancelled so that the test leaves no work behind."""
    jobs = JobManager(shelf)
    try:
        found = []
        for job in jobs.list(limit=10_000):
            run = job.spec.schedule
            if run is not None:
                found.append((run["name"], round(float(run["due"]), 3)))
            if not job.finished:
                job.cancel()
        return found
    finally:
        jobs.close()


def _pooled_runs(shelf: Shelf) -> int:
    """How many scheduled jobs ran on a kernel a scheduler daemon had started before."""
    jobs = JobManager(shelf)
    try:
        runs = [job for job in jobs.list(limit=10_000) if job.spec.schedule is not None]
        return sum("runs on a pre-started python3 kernel" in job.logs() for job in runs)
    finally:
        jobs.close()


def _check_each_due_time_fired_once(
    schedules: ScheduleManager, name: str, until: float, jobs: list
) -> int:
    """Every due time of ``name`` from its creation to ``until`` has one claim and one job;
    returns the count. A due time in the last second may have been cut off by the stop."""
    definition = schedules.store.get(name)
    first = definition.timing.next_after(definition.since)
    expected = [round(d, 3) for d in definition.timing.due_between(first, until)]
    claims = [round(r["due"], 3) for r in claimed_runs(schedules.store, name)]
    if expected and claims and expected[-1] > until - 1.0 and expected[-1] not in claims:
        expected.pop()
    assert duplicates(claims) == [], f"{name}: due times claimed twice"
    assert claims == expected, f"{name}: missed {sorted(set(expected) - set(claims))}"
    fired = [due for schedule, due in jobs if schedule == name]
    assert duplicates(fired) == [], f"{name}: due times run twice"
    assert sorted(fired) == claims
    assert all(r["status"] != "claimed" for r in claimed_runs(schedules.store, name))
    return len(claims)


@pytest.mark.timeout(RUN_FOR + 240)
def test_three_schedulers_over_one_store_fire_every_due_run_once(tmp_path):
    root = str(tmp_path / "store")
    state = os.environ["MODELSHELF_STATE_DIR"]  # one machine: one state folder
    with machine(state, root) as shelf:
        schedules = ScheduleManager(shelf)
        # missed="all": a run fired late on a loaded machine is still counted, not skipped.
        for name, every in (("fast", "3s"), ("slow", "5s")):
            schedules.create(TRAIN, every=every, name=name, output=None, missed="all")
        schedules.create(TRAIN, every="1s", name="paused", output=None, paused=True)
        processes = [start_scheduler(root, tmp_path / f"scheduler-{n}.log") for n in range(3)]
        try:
            time.sleep(RUN_FOR)
        finally:
            until = time.time()
            stop_schedulers(processes)
        assert [p.returncode for p in processes] == [0, 0, 0]
        jobs = _scheduled_jobs(shelf)
        counts = {
            name: _check_each_due_time_fired_once(schedules, name, until, jobs)
            for name in ("fast", "slow")
        }
        assert counts["fast"] >= RUN_FOR // 3 - 1 and counts["slow"] >= RUN_FOR // 5 - 1
        assert claimed_runs(schedules.store, "paused") == []
        # Each daemon keeps a runner ready: runs it fired started on a pre-started kernel.
        assert _pooled_runs(shelf) >= 1
        schedules.close()


@pytest.mark.timeout(300)
def test_two_machines_sharing_an_s3_store_fire_each_run_once(tmp_path, s3_bucket):
    bucket, options, _ = s3_bucket
    root = f"s3://{bucket}/shelf"
    flags = [f"--storage-option=endpoint_url={options['endpoint_url']}"]
    flags += [
        "--storage-option=skip_instance_cache=true",
        "--storage-option=use_listings_cache=false",
    ]
    env = {"AWS_DEFAULT_REGION": "us-east-1"}
    states = [str(tmp_path / "machine-a"), str(tmp_path / "machine-b")]
    with machine(states[0], root, options) as shelf_a:
        on_a = ScheduleManager(shelf_a)
        on_a.create(TRAIN, every="2s", name="early", output=None, missed="all")
        processes = [
            start_scheduler(
                root, tmp_path / f"scheduler-{n}.log", {**env, "MODELSHELF_STATE_DIR": state}, flags
            )
            for n, state in enumerate(states)
        ]
        try:
            # A definition made on one machine while both run is fired by one of them.
            time.sleep(4)
            on_a.create(TRAIN, every="2s", name="late", output=None, missed="all")
            time.sleep(16)
            # A pause on one machine stops the other too (it reads the store first).
            on_a.pause("late")
            paused_at = time.time()
            time.sleep(4)
        finally:
            until = time.time()
            stop_schedulers(processes)
        jobs = []
        for state in states:
            with machine(state, root, options) as shelf:
                jobs += _scheduled_jobs(shelf)
        total = _check_each_due_time_fired_once(on_a, "early", until, jobs)
        late = _check_each_due_time_fired_once(on_a, "late", paused_at, jobs)
        assert total >= 10 and late >= 6
        assert max(r["due"] for r in claimed_runs(on_a.store, "late")) <= paused_at + 1.5
        on_a.close()
