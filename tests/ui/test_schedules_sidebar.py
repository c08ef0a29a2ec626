"""The sidebar's Schedules section in a real browser (Chromium through Playwright), over a
real ``jupyter lab`` whose server extension runs the scheduler.

A schedule made in Python beforehand is listed with its next run; Pause and Resume change
its state on the server; "Run now" starts a real job whose success shows as the last status.
Then "Run notebook as job…" with "Schedule…" chosen creates a second schedule.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import START_TIMEOUT, TOKEN, running_lab, write_notebook

from modelshelf import Shelf
from modelshelf.core.jobs.schedules import ScheduleManager

pytestmark = pytest.mark.timeout(240)

FAR = "0 3 1 1 *"  # 03:00 on January 1st: never due during the test
JOB_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 30_000


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Iterator[tuple[str, Path]]:
    store, state, root = tmp_path / "store", tmp_path / "state", tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(state))
    monkeypatch.setenv("MODELSHELF_ROOT", str(store))
    write_notebook(root / "train.ipynb", "epochs = 2", "print('trained for', epochs, 'epochs')")
    with Shelf(str(store)) as shelf:
        schedules = ScheduleManager(shelf)
        schedules.create(root / "train.ipynb", cron=FAR, name="nightly", output=None)
        schedules.close()
    with running_lab(tmp_path, store, root) as base:
        yield base, store


def _server_schedule(store: Path, name: str):
    with Shelf(str(store)) as shelf:
        schedules = ScheduleManager(shelf)
        try:
            return schedules.get(name)
        finally:
            schedules.close()


def test_schedules_section_pauses_resumes_runs_now_and_schedules_from_the_dialog(
    lab, browser, shots
):
    base, store = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=START_TIMEOUT * 1000)
    page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')

    sidebar = page.locator("#modelshelf-sidebar")
    row = sidebar.locator('[data-testid="modelshelf-schedule"][data-schedule-name="nightly"]')
    row.wait_for()
    assert "cron 0 3 1 1 * (UTC)" in row.inner_text()
    assert "next:" in row.locator('[data-testid="modelshelf-schedule-next"]').inner_text()
    assert row.locator('[data-testid="modelshelf-schedule-last-status"]').inner_text() == (
        "never run"
    )
    page.screenshot(path=str(shots / "1-schedules.png"))

    row.locator('[data-testid="modelshelf-schedule-pause"]').click()
    sidebar.locator('[data-schedule-name="nightly"][data-state="paused"]').wait_for()
    assert _server_schedule(store, "nightly").paused
    row.locator('[data-testid="modelshelf-schedule-resume"]').click()
    sidebar.locator('[data-schedule-name="nightly"][data-state="active"]').wait_for()
    assert not _server_schedule(store, "nightly").paused

    row.locator('[data-testid="modelshelf-schedule-run"]').click()
    # The server's scheduler watches the run and records its end; the section polls.
    done = row.locator('[data-testid="modelshelf-schedule-last-status"]', has_text="succeeded")
    done.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "(manual)" in row.locator('[data-testid="modelshelf-schedule-next"]').inner_text()
    page.screenshot(path=str(shots / "2-run-now-succeeded.png"))
    last = _server_schedule(store, "nightly").last_run
    assert last["reason"] == "manual" and last["status"] == "succeeded"

    # "Schedule…" in the run-as-job dialog: the same job, on a timetable.
    page.click('.jp-SideBar [data-id="filebrowser"]')
    page.locator(".jp-DirListing-item", has_text="train.ipynb").click(button="right")
    page.locator(".lm-Menu-item", has_text="Run notebook as job…").click()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-job-form"]')
    form.locator('[data-testid="modelshelf-param-epochs"]').fill("5")
    form.locator('[data-testid="modelshelf-job-name"]').fill("hourly")
    form.locator('[data-testid="modelshelf-job-when"]').select_option("schedule")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    when = page.locator('.jp-Dialog [data-testid="modelshelf-schedule-form"]')
    when.locator('[data-testid="modelshelf-schedule-when"]').fill("1h")
    page.screenshot(path=str(shots / "3-schedule-dialog.png"))
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Create schedule").click()
    page.locator(".jp-Dialog").wait_for(state="detached")

    page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')
    sidebar.locator('[data-testid="modelshelf-refresh"]').click()
    hourly = sidebar.locator('[data-testid="modelshelf-schedule"][data-schedule-name="hourly"]')
    hourly.wait_for()
    assert "every 1h 00m" in hourly.inner_text()
    created = _server_schedule(store, "hourly")
    assert created.definition.template["parameters"] == {"epochs": 5}
    assert created.next_due == pytest.approx(time.time() + 3600, abs=120)
    page.screenshot(path=str(shots / "4-scheduled-from-dialog.png"))

    assert sidebar.locator(".jp-modelshelf-error").count() == 0, sidebar.inner_text()
    assert not [e for e in errors if "modelshelf" in e.lower()], errors
    context.close()
