"""Schedules and the scheduler in one process: timing, the manager's verbs, missed-run
policies, pause and resume, run now, retries and the webhook (real jobs, real kernels)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest
from schedule_helpers import FAILS, TRAIN, webhook

from modelshelf import Shelf
from modelshelf.core.errors import ParameterError, ScheduleError, ScheduleNotFoundError
from modelshelf.core.jobs.schedule_timing import Timing, parse_rate
from modelshelf.core.jobs.scheduler import Scheduler
from modelshelf.core.jobs.schedules import ScheduleManager

FAR = "0 3 1 1 *"  # 03:00 on January 1st: never due during a test


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


@pytest.fixture
def schedules(shelf, jobs):
    manager = ScheduleManager(shelf, jobs=jobs)
    yield manager
    manager.close()


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


# ---- timing -----------------------------------------------------------------------------


def test_cron_runs_in_its_time_zone_across_daylight_saving():
    monday_3am_paris = Timing.make(cron="0 3 * * 1", timezone="Europe/Paris")
    # Winter (UTC+1) then summer (UTC+2): the same 03:00 local is another hour in UTC.
    assert monday_3am_paris.next_after(_utc(2026, 1, 1)) == _utc(2026, 1, 5, 2)
    assert monday_3am_paris.next_after(_utc(2026, 7, 1)) == _utc(2026, 7, 6, 1)
    # The week the clocks go forward (Sunday 29 March 2026), Monday's run is at 01:00 UTC.
    assert monday_3am_paris.next_after(_utc(2026, 3, 28)) == _utc(2026, 3, 30, 1)
    assert Timing.make(cron="0 3 * * 1").next_after(_utc(2026, 1, 1)) == _utc(2026, 1, 5, 3)
    nightly = Timing.make(cron="30 2 * * *", timezone="Europe/Paris")
    # 02:30 does not exist on 29 March: the run comes at the jump (03:00 local, 01:00 UTC).
    assert list(nightly.due_between(_utc(2026, 3, 28, 12), _utc(2026, 3, 30, 12))) == [
        _utc(2026, 3, 29, 1),
        _utc(2026, 3, 30, 0, 30),
    ]
    # 02:30 happens twice on 25 October: the run comes once, at the first.
    assert list(nightly.due_between(_utc(2026, 10, 24, 12), _utc(2026, 10, 26, 12))) == [
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 26, 1, 30),
    ]
    # Every 30 minutes runs through both of those hours, as cron does.
    half_hourly = Timing.make(cron="*/30 * * * *", timezone="Europe/Paris")
    autumn = list(half_hourly.due_between(_utc(2026, 10, 25, 0), _utc(2026, 10, 25, 1, 59)))
    assert len(autumn) == 4


def test_rates_count_seconds_from_their_anchor():
    timing = Timing.make(every="2s", anchor=100.0)
    assert timing.next_after(100.0) == 102.0
    assert timing.next_after(101.9) == 102.0
    assert timing.next_after(50.0) == 100.0
    assert list(timing.due_between(101.0, 107.0)) == [102.0, 104.0, 106.0]
    assert parse_rate("15m") == 900 and parse_rate("rate(5 minutes)") == 300
    assert parse_rate("rate(1 day)") == 86400 and parse_rate(3) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": "0s"}, "at least 1s"),
        ({"every": "soon"}, "cannot read the rate"),
        ({"cron": "61 * * * *"}, "cannot read the cron expression"),
        ({"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "0 3 * * 1", "every": "1h"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"every": "1h", "timezone": "Europe/Paris"}, "--timezone goes with --cron"),
    ],
)
def test_bad_timings_say_what_to_write(kwargs, message):
    with pytest.raises(ScheduleError, match=message):
        Timing.make(**kwargs)


# ---- the manager's verbs -------------------------------------------------------------------


def test_create_list_show_update_pause_resume_delete(schedules):
    created = schedules.create(TRAIN, cron=FAR, timezone="Europe/Paris", parameters={"epochs": 3})
    assert created.name == "train" and not created.paused
    assert created.definition.template["parameters"] == {"epochs": 3}
    assert created.next_due == Timing.make(cron=FAR, timezone="Europe/Paris").next_after(
        time.time()
    )
    assert [s.name for s in schedules.list()] == ["train"]
    with pytest.raises(ScheduleError, match="exists already"):
        schedules.create(TRAIN, every="1h")

    updated = schedules.update("train", every="1h", parameters={"epochs": 5}, max_retries=2)
    assert updated.definition.timing.every == 3600 and updated.definition.timing.cron is None
    assert updated.definition.template["parameters"] == {"epochs": 5}
    assert updated.definition.max_retries == 2 and updated.definition.revision == 2

    assert schedules.pause("train").paused and schedules.get("train").next_due is None
    resumed = schedules.resume("train")
    assert not resumed.paused and resumed.next_due > time.time()

    schedules.delete("train")
    assert schedules.list() == []
    with pytest.raises(ScheduleNotFoundError, match="no schedule 'train'"):
        schedules.get("train")


def test_mistakes_are_refused_before_anything_is_stored(schedules, tmp_path):
    with pytest.raises(ParameterError, match="no parameter nope"):
        schedules.create(TRAIN, every="1h", parameters={"nope": 1})
    with pytest.raises(ParameterError, match="must be an int"):
        schedules.create(
            TRAIN, every="1h", parameters={"epochs": "x"}, parameters_from_strings=True
        )
    with pytest.raises(ScheduleError, match="does not exist"):
        schedules.create(tmp_path / "missing.ipynb", every="1h")
    with pytest.raises(ScheduleError, match="--missed must be one of"):
        schedules.create(TRAIN, every="1h", missed="later")
    with pytest.raises(ScheduleError, match="http:// or https://"):
        schedules.create(TRAIN, every="1h", notify="ftp://x")
    with pytest.raises(ScheduleError, match="invalid schedule name"):
        schedules.create(TRAIN, every="1h", name="../up")
    with pytest.raises(ScheduleError, match="takes no colour"):
        schedules.create(TRAIN, every="1h", colour="red")
    assert schedules.list() == []


# ---- running -------------------------------------------------------------------------------


def test_run_now_with_overrides_is_an_ordinary_job_linked_to_its_schedule(schedules, shelf):
    schedules.create(TRAIN, cron=FAR, name="nightly", parameters={"epochs": 3})
    job = schedules.run_now("nightly", {"label": "now"}).wait(120)
    assert job.status == "succeeded", job.logs()
    assert job.spec.parameters["epochs"] == 3 and job.spec.parameters["label"] == "now"
    assert job.spec.schedule["name"] == "nightly"
    assert job.outputs == ["Job - nightly:1"]
    assert shelf.show("Job - nightly").params["label"] == "now"

    report = Scheduler(schedules).run_once()  # the scheduler records how the run ended
    assert report.finished == [("nightly", pytest.approx(job.created_at, abs=5), "succeeded")]
    last = schedules.get("nightly").last_run
    assert last["reason"] == "manual" and last["status"] == "succeeded"
    assert [a["job_id"] for a in last["attempts"]] == [job.id]


@pytest.mark.parametrize(
    ("policy", "staleness", "catch_ups"),
    [("skip", "1d", 0), ("once", "1d", 1), ("all", "1d", 2), ("all", "2s", 1)],
)
def test_runs_missed_while_stopped_follow_the_policy(schedules, policy, staleness, catch_ups):
    created = schedules.create(
        TRAIN, every="2s", missed=policy, max_staleness=staleness, output=None
    )
    anchor = created.definition.timing.anchor
    scheduler = Scheduler(schedules, misfire_grace=0.5)
    assert scheduler.run_once().fired == []  # it knows the schedule: next due anchor + 2
    # Stopped across two due times (anchor + 2 and + 4), back 1 s after the second.
    _sleep_until(anchor + 5.0)
    report = Scheduler(schedules, misfire_grace=0.5).run_once()
    due_times = [anchor + 2, anchor + 4]
    fired = [(due, reason) for _, due, reason, _ in report.fired]
    assert all(reason == "catch-up" for _, reason in fired)
    assert len(fired) == catch_ups
    expected = {"skip": [], "once": due_times[1:], "all": due_times[2 - catch_ups :]}[policy]
    assert [due for due, _ in fired] == pytest.approx(expected)
    assert [due for _, due in report.skipped] == pytest.approx(
        [d for d in due_times if d not in expected]
    )
    runs = schedules.get("train").runs
    assert sorted(run["due"] for run in runs) == pytest.approx(expected)
    assert schedules.get("train").next_due == pytest.approx(anchor + 6)


def test_a_paused_schedule_fires_nothing_and_resumes_from_now(schedules):
    created = schedules.create(TRAIN, every="1s", output=None)
    anchor = created.definition.timing.anchor
    scheduler = Scheduler(schedules, check_interval=0.0)
    scheduler.run_once()
    schedules.pause("train")
    _sleep_until(anchor + 2.5)
    report = scheduler.run_once()
    assert report.fired == [] and report.skipped == []
    assert schedules.get("train").runs == []

    resumed_at = time.time()
    next_due = schedules.resume("train").next_due
    assert resumed_at < next_due <= resumed_at + 1.01
    _sleep_until(next_due + 0.1)
    report = scheduler.run_once()
    assert [(due, reason) for _, due, reason, _ in report.fired] == [(next_due, "on time")]


def test_a_failing_run_is_retried_then_marked_failed_and_the_webhook_told(schedules):
    with webhook() as (url, received):
        schedules.create(
            FAILS, cron=FAR, name="flaky", max_retries=2, retry_backoff="0.2s", notify=url
        )
        job = schedules.run_now("flaky")
        scheduler = Scheduler(schedules)
        finished = []
        deadline = time.monotonic() + 180
        while not finished and time.monotonic() < deadline:
            finished = scheduler.tick().finished
            time.sleep(0.1)
        scheduler.runs.join_posts()
        assert finished == [("flaky", pytest.approx(job.created_at, abs=5), "failed")]
        run = schedules.get("flaky").last_run
        assert run["status"] == "failed" and run["error"].startswith("failed after 2 retries")
        attempts = run["attempts"]
        assert len(attempts) == 3 and attempts[0]["job_id"] == job.id
        assert {a["status"] for a in attempts} == {"failed"}
        assert len({a["job_id"] for a in attempts}) == 3
        assert len(received) == 1, received
        body = received[0]
        assert body["schedule"] == "flaky" and body["status"] == "failed"
        assert body["job_id"] == attempts[-1]["job_id"] and body["attempts"] == 3
        assert "bad value: 0" in body["error"]
        assert os.path.isfile(body["executed_notebook"])
        last_job = schedules.jobs.get(body["job_id"])
        assert last_job.spec.schedule["attempt"] == 3


def test_notify_always_posts_after_a_run_that_succeeded(schedules):
    with webhook() as (url, received):
        schedules.create(TRAIN, cron=FAR, name="ok", notify=url, notify_on="always", output=None)
        job = schedules.run_now("ok").wait(120)
        assert job.status == "succeeded"
        Scheduler(schedules).run_once()
        assert [(b["status"], b["job_id"]) for b in received] == [("succeeded", job.id)]


@pytest.mark.parametrize("claimed_in_store", [False, True])
def test_a_run_claimed_by_a_scheduler_that_died_is_taken_over(schedules, claimed_in_store):
    import subprocess

    from modelshelf.core.jobs.schedule_book import CLAIMED, RunRow
    from modelshelf.core.jobs.schedule_store import due_key
    from modelshelf.core.jobs.schedules import run_record
    from modelshelf.core.store.expiring import HOST

    schedules.create(TRAIN, cron=FAR, name="orphan", output=None)
    Scheduler(schedules).run_once()  # the schedule is in this machine's cache
    definition = schedules.store.get("orphan")
    dead = subprocess.Popen(["true"])
    dead.wait()
    due = time.time() - 1
    record = {**run_record(definition, due, "on time", HOST), "pid": dead.pid}
    key = due_key(due)
    run = RunRow(f"orphan/{key}", "orphan", due, "on time", CLAIMED, 0, None, None, None, record)
    # The dead scheduler advanced the due time (and maybe claimed the run), then died.
    next_due = schedules.book.cached_one("orphan").next_due
    assert schedules.book.advance("orphan", next_due, next_due, [run])
    if claimed_in_store:
        assert schedules.store.claim("orphan", key, record)

    Scheduler(schedules).run_once()
    stored = schedules.store.run("orphan", key)
    assert stored["taken_over"] is True and stored["status"] == "running"
    job = schedules.jobs.get(stored["attempts"][0]["job_id"]).wait(120)
    assert job.status == "succeeded" and job.spec.schedule["name"] == "orphan"


def test_a_run_whose_notebook_went_away_fails_and_is_notified(schedules, tmp_path):
    notebook = tmp_path / "gone.ipynb"
    notebook.write_bytes(TRAIN.read_bytes())
    with webhook() as (url, received):
        created = schedules.create(notebook, every="1s", name="gone", notify=url, output=None)
        scheduler = Scheduler(schedules)
        scheduler.run_once()
        notebook.unlink()
        time.sleep(max(0.0, scheduler._due["gone"] + 0.1 - time.time()))
        report = scheduler.run_once()
        schedules.pause("gone")
        assert [(due, job) for _, due, _, job in report.fired][:1] == [
            (pytest.approx(created.definition.timing.anchor + 1, abs=30), None)
        ]
        run = schedules.get("gone").runs[-1]
        assert run["status"] == "failed" and "does not exist" in run["error"]
        assert received and received[0]["status"] == "failed" and received[0]["job_id"] is None


def test_the_template_timeout_ends_each_attempt(schedules):
    from schedule_helpers import DATA

    schedules.create(DATA / "sleeps.ipynb", cron=FAR, name="slow", timeout="3s", output=None)
    job = schedules.run_now("slow").wait(120)
    assert job.status == "failed" and job.spec.timeout == 3.0
    Scheduler(schedules).run_once()
    run = schedules.get("slow").last_run
    assert run["status"] == "failed" and "timed out after 3 s" in run["error"], run["error"]
