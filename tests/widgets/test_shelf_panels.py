"""shelf_panels: the three panels in tabs on one store, refreshed in the background."""

from __future__ import annotations

import ipywidgets as w
from widget_helpers import threads_named

from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
from modelshelf.core.sizes import format_duration as duration_text
from modelshelf.widgets import DeployPanel, JobPanel, ModelBrowser, shelf_panels
from modelshelf.widgets._common import Tasks, set_options
from support import wait_for


def test_shelf_panels_is_a_tab_of_three_panels_on_one_store(shelf):
    tabs = shelf_panels(shelf, auto_refresh=False)
    try:
        assert isinstance(tabs, w.Tab)
        assert tabs.titles == ("Models", "Jobs", "Deployments")
        browser, jobs, deploy = tabs.children
        assert isinstance(browser, ModelBrowser) and browser.shelf is shelf
        assert isinstance(jobs, JobPanel) and jobs.jobs.shelf is shelf
        assert isinstance(deploy, DeployPanel) and deploy.deployments.shelf is shelf
    finally:
        tabs.close()


def test_the_store_comes_from_a_given_manager(tmp_path):
    with Shelf(tmp_path / "store") as store:
        manager = JobManager(store)
        tabs = shelf_panels(jobs=manager, auto_refresh=False)
        try:
            assert tabs.browser.shelf is store and tabs.deploy.deployments.shelf is store
        finally:
            tabs.close()
            manager.close()


def test_default_store_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHELF_ROOT", str(tmp_path / "env-store"))
    tabs = shelf_panels(auto_refresh=False)
    try:
        assert tabs.browser.shelf.backend.url.endswith("env-store")
    finally:
        tabs.close()


def test_background_refresh_runs_until_close(shelf, tmp_path):
    tabs = shelf_panels(shelf)
    try:
        names = ("ModelBrowser-refresh", "JobPanel-refresh", "DeployPanel-refresh")
        assert all(threads_named(n) for n in names)
        assert all(panel.auto_refreshing for panel in tabs.panels)
    finally:
        tabs.close()
    assert not any(panel.auto_refreshing for panel in tabs.panels)
    assert all(threads_named(n) == [] for n in names)


def test_refresh_does_not_run_on_the_kernel_thread(shelf, tmp_path):
    """The periodic refresh reads the core in its own thread, never the caller's."""
    panel = ModelBrowser(shelf, interval=0.05)
    seen: list[str] = []
    original = panel._read

    def spy():
        import threading

        seen.append(threading.current_thread().name)
        return original()

    panel._read = spy
    try:
        wait_for(lambda: seen, timeout=10)
    finally:
        panel.close()
    assert set(seen) == {"ModelBrowser-refresh"}


def test_set_options_keeps_the_selection():
    select = w.Select(options=[("a", 1), ("b", 2)], value=2)
    assert not set_options(select, [("a", 1), ("b", 2)])  # unchanged: nothing sent
    assert not set_options(select, [("z", 0), ("a", 1), ("b", 2)])
    assert select.value == 2
    assert set_options(select, [("z", 0)])  # the selected one is gone
    assert select.value == 0
    empty = w.Select(options=[])
    set_options(empty, [("a", 1)])
    assert empty.value is None  # nothing was selected: the refresh selects nothing


def test_tasks_report_failures_instead_of_raising():
    tasks = Tasks()
    outcome: list[object] = []
    tasks.run(lambda: 1 / 0, outcome.append, outcome.append)
    assert tasks.wait(10)
    assert isinstance(outcome[0], ZeroDivisionError)
    assert not tasks.busy


def test_duration_text():
    assert duration_text(None) == "-"
    assert duration_text(3.25) == "3.2s"
    assert duration_text(75) == "1m 15s"
    assert duration_text(7322) == "2h 02m"
