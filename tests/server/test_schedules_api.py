"""REST over schedules, and the scheduler running inside the Jupyter server (real jobs)."""

from __future__ import annotations

import pytest

from conftest import TRAIN, write_notebook

pytestmark = pytest.mark.timeout(180)
FAR = "0 3 1 1 *"


@pytest.fixture
def train_notebook(jp_root_dir):
    return write_notebook(jp_root_dir / "work" / "train.ipynb", "epochs = 2\nlr: float = 0.1",
                          TRAIN)  # fmt: skip


async def test_create_list_change_pause_resume_and_delete(api, train_notebook):
    body = {"notebook": "work/train.ipynb", "cron": "0 3 * * 1", "timezone": "Europe/Paris",
            "name": "weekly", "parameters": {"epochs": 4}, "max_retries": 1}  # fmt: skip
    status, created = await api("POST", "schedules", body=body)
    assert status == 201, created
    assert created["when"] == "cron 0 3 * * 1 (Europe/Paris)" and created["next_due"]
    assert created["template"]["parameters"] == {"epochs": 4}
    status, again = await api("POST", "schedules", body=body)
    assert status == 400 and "exists already" in again["message"]

    _, listing = await api("GET", "schedules")
    assert [s["name"] for s in listing["schedules"]] == ["weekly"]
    status, changed = await api("PATCH", "schedules", "weekly", body={"every": "1h"})
    assert status == 200 and changed["every"] == 3600 and changed["cron"] is None
    _, paused = await api("POST", "schedules", "weekly", "pause")
    assert paused["paused"] and paused["next_due"] is None
    _, resumed = await api("POST", "schedules", "weekly", "resume")
    assert not resumed["paused"] and resumed["next_due"]
    status, _ = await api("DELETE", "schedules", "weekly")
    assert status == 204
    status, missing = await api("GET", "schedules", "weekly")
    assert status == 404 and "no schedule 'weekly'" in missing["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"every": "0s"}, "at least 1s"),
        ({"cron": "every monday"}, "cannot read the cron expression"),
        ({"every": "1h", "parameters": {"epochs": "many"}}, "must be an int"),
        ({"every": "1h", "missed": "later"}, "missed"),
        ({"every": "1h", "notebook": "../x.ipynb"}, ""),
    ],
)
async def test_bad_schedules_are_refused_with_a_reason(api, train_notebook, body, message):
    status, error = await api("POST", "schedules", body={"notebook": "work/train.ipynb", **body})
    assert status == 400 and message in error["message"], error


async def test_the_server_fires_due_runs_and_runs_now_with_overrides(
    api, wait_for, train_notebook, jp_serverapp
):
    scheduler = jp_serverapp.web_app.settings["modelshelf"].scheduler
    assert scheduler is not None and scheduler._thread.is_alive()  # c.ModelshelfApp.run_scheduler
    body = {"notebook": "work/train.ipynb", "every": "2s", "name": "often", "output": None}
    status, created = await api("POST", "schedules", body=body)
    assert status == 201, created
    fired = await wait_for(
        ("schedules", "often"), lambda s: any(r["status"] == "succeeded" for r in s["runs"]), 120
    )
    assert any(r["status"] == "succeeded" and r["reason"] == "on time" for r in fired["runs"])
    await api("POST", "schedules", "often", "pause")

    status, job = await api("POST", "schedules", "often", "run", body={"parameters": {"epochs": 7}})
    assert status == 201, job
    assert job["parameters"]["epochs"] == 7
    job = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "succeeded", job
    shown = await wait_for(
        ("schedules", "often"), lambda s: s["runs"][0]["status"] == "succeeded", 60
    )
    assert shown["runs"][0]["reason"] == "manual" and shown["last_status"] == "succeeded"
