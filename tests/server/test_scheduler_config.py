"""The scheduler inside the server is configurable, and can be left to `modelshelf scheduler`."""

from __future__ import annotations

import asyncio

import pytest

from conftest import TRAIN, extension_config, write_notebook

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(store_root):
    config = extension_config(str(store_root))
    config["ModelshelfApp"]["run_scheduler"] = False
    return config


async def test_with_run_scheduler_false_the_server_fires_nothing(jp_serverapp, api, jp_root_dir):
    app = jp_serverapp.web_app.settings["modelshelf"]
    assert app.scheduler is None
    write_notebook(jp_root_dir / "train.ipynb", "epochs = 2\nlr = 0.1", TRAIN)
    body = {"notebook": "train.ipynb", "every": "1s", "name": "idle", "output": None,
            "missed": "once"}  # fmt: skip
    status, created = await api("POST", "schedules", body=body)
    assert status == 201, created
    await asyncio.sleep(3)  # three due times pass
    _, shown = await api("GET", "schedules", "idle")
    assert shown["runs"] == [] and shown["next_due"] == created["next_due"]
    # The schedule is all there for a `modelshelf scheduler` to fire.
    from modelshelf.core.jobs import Scheduler

    report = Scheduler(app.schedules).run_once()
    await api("DELETE", "schedules", "idle")
    # The runs missed while nobody fired them: one catch-up (and the latest, if on time).
    assert {name for name, *_ in report.fired} == {"idle"}
    assert "catch-up" in {reason for _, _, reason, _ in report.fired}
    for *_, job_id in report.fired:
        await asyncio.to_thread(app.jobs.get(job_id).wait, 60)
