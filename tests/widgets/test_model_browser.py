"""The Models panel, driven by clicks against a real local store."""

from __future__ import annotations

import pytest
from widget_helpers import threads_named

from modelshelf.widgets import ModelBrowser
from support import wait_for


def make_folder(path, files: dict[str, str]):
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


@pytest.fixture
def browser(shelf):
    panel = ModelBrowser(shelf, auto_refresh=False)
    yield panel
    panel.wait()
    panel.close()


def save_through_form(panel: ModelBrowser, folder, name: str, message: str = "") -> None:
    form = panel.transfer
    form.source.value = str(folder)
    form.name.value = name
    form.message.value = message
    form.save_button.click()
    assert panel.wait(60), "the save did not end"


def test_save_from_the_form_adds_a_version_and_selects_it(browser, shelf, tmp_path):
    folder = make_folder(tmp_path / "out", {"weights.bin": "w" * 5000, "config.json": "{}"})
    assert browser.models.options == ()
    save_through_form(browser, folder, "churn", "first try")

    assert [v.version for v in shelf.versions("churn")] == [1]
    assert browser.models.value == "churn"
    assert browser.versions.value == 1
    assert browser.selected_ref() == "churn:1"
    assert "saved churn:1 (2 files)" in browser.transfer.status.value
    assert "first try" in browser.details.value and "weights.bin" in browser.details.value
    # The progress bar followed the Shelf's progress callback to the end.
    bar = browser.transfer.progress
    assert bar.bar.value == 1.0 and bar.bar.bar_style == "success"
    assert "2 / 2 files" in bar.label.value
    # Its value reached the (dummy) front end through the widget's comm.
    sent = [kw.get("data", {}) for _, kw in bar.bar.comm.messages]
    assert any(m.get("state", {}).get("value") == 1.0 for m in sent)

    (folder / "weights.bin").write_text("v" * 5000)
    save_through_form(browser, folder, "churn")
    assert browser.versions.value == 2
    assert [label.split()[0] for label, _ in browser.versions.options] == ["v2", "v1"]
    # The form is ready for the next save, and the buttons usable again.
    assert not browser.transfer.save_button.disabled


def test_a_failed_save_is_shown_and_saves_nothing(browser, shelf, tmp_path):
    save_through_form(browser, tmp_path / "missing", "churn")
    assert "does not exist" in browser.transfer.status.value
    assert browser.transfer.progress.bar.bar_style == "danger"
    assert shelf.list() == []
    assert not browser.transfer.save_button.disabled


def test_details_show_params_metrics_and_lineage(shelf, tmp_path):
    folder = make_folder(tmp_path / "m", {"a.txt": "1"})
    shelf.save("base", folder)
    shelf.save("churn", folder, parent="base:1", params={"C": 0.5}, metrics={"auc": 0.91})
    shelf.set_alias("churn", "prod", 1)
    panel = ModelBrowser(shelf, auto_refresh=False)
    try:
        panel.select("churn")
        html = panel.details.value
        for text in ("churn:1", "0.5", "auc", "0.91", "base:1", "prod", "a.txt"):
            assert text in html, text
    finally:
        panel.close()


def test_diff_of_two_versions_shows_changed_files(browser, shelf, tmp_path):
    folder = make_folder(tmp_path / "m", {"model.pkl": "one", "old.txt": "x"})
    shelf.save("churn", folder, params={"C": 1})
    (folder / "model.pkl").write_text("two")
    (folder / "old.txt").unlink()
    (folder / "new.txt").write_text("y")
    shelf.save("churn", folder, params={"C": 2})
    browser.refresh()
    browser.select("churn", 2)
    assert browser.compare.value == 1  # the version before, by default

    browser.diff_button.click()
    html = browser.diff.value
    assert "churn:1 -&gt; churn:2" in html

    def row(*cells: str) -> str:
        return "<tr>" + "".join(f'<td style="text-align:left">{c}</td>' for c in cells) + "</tr>"

    assert row("~", "model.pkl") in html and row("+", "new.txt") in html
    assert row("-", "old.txt") in html
    assert row("*", "C", "1", "2") in html  # params side by side


def test_delete_asks_for_confirmation_first(browser, shelf, tmp_path):
    folder = make_folder(tmp_path / "m", {"a.txt": "1"})
    shelf.save("churn", folder)
    (folder / "a.txt").write_text("2")
    shelf.save("churn", folder)
    browser.refresh()
    browser.select("churn", 1)

    browser.delete_button.click()
    assert browser.confirm_box.layout.display is None  # shown
    assert "churn:1" in browser.confirm_text.value
    assert [v.version for v in shelf.versions("churn")] == [1, 2]  # nothing deleted yet
    browser.cancel_button.click()
    assert browser.confirm_box.layout.display == "none"
    assert [v.version for v in shelf.versions("churn")] == [1, 2]

    browser.delete_button.click()
    browser.confirm_button.click()
    assert [v.version for v in shelf.versions("churn")] == [2]
    assert "deleted churn:1" in browser.status.value
    assert [v for _, v in browser.versions.options] == [2]
    assert browser.versions.value == 2


def test_delete_is_refused_while_a_lease_holds_the_version(browser, shelf, tmp_path):
    shelf.save("churn", make_folder(tmp_path / "m", {"a.txt": "1"}))
    lease = shelf.lease("churn:1", owner="job 42")
    browser.refresh()
    browser.select("churn", 1)
    assert "job 42" in browser.details.value  # shown as in use before trying

    browser.delete_button.click()
    browser.confirm_button.click()
    assert "not deleted" in browser.status.value
    assert "in use by job 42" in browser.status.value
    assert [v.version for v in shelf.versions("churn")] == [1]

    shelf.leases.release(lease)
    browser.delete_button.click()
    browser.confirm_button.click()
    assert "deleted churn:1" in browser.status.value
    assert shelf.list() == []
    assert browser.models.options == () and browser.models.value is None


def test_load_copies_the_selected_version_with_progress(browser, shelf, tmp_path):
    shelf.save("churn", make_folder(tmp_path / "m", {"a.txt": "hello"}))
    browser.refresh()
    browser.select("churn")
    browser.transfer.destination.value = str(tmp_path / "loaded")
    browser.transfer.load_button.click()
    assert browser.wait(60)
    assert (tmp_path / "loaded" / "a.txt").read_text() == "hello"
    assert "loaded churn:1" in browser.transfer.status.value
    assert browser.transfer.progress.bar.value == 1.0


def test_refresh_keeps_the_selection_and_shows_new_models(browser, shelf, tmp_path):
    folder = make_folder(tmp_path / "m", {"a.txt": "1"})
    shelf.save("zeta", folder)
    browser.refresh()
    browser.select("zeta")
    shelf.save("alpha", folder)  # sorts before the selected one
    shelf.save("zeta", make_folder(tmp_path / "n", {"a.txt": "2"}))
    browser.refresh()
    assert [v for _, v in browser.models.options] == ["alpha", "zeta"]
    assert browser.models.value == "zeta"
    assert browser.versions.value == 1  # still the version the user looked at
    assert [v for _, v in browser.versions.options] == [2, 1]


def test_background_refresh_sees_other_saves_and_stops_on_close(shelf, tmp_path):
    panel = ModelBrowser(shelf, interval=0.05)
    try:
        assert panel.auto_refreshing
        shelf.save("churn", make_folder(tmp_path / "m", {"a.txt": "1"}))
        wait_for(lambda: [v for _, v in panel.models.options] == ["churn"], timeout=30)
    finally:
        panel.close()
    assert not panel.auto_refreshing
    assert threads_named("ModelBrowser-refresh") == []
