"""The JupyterLab sidebar in a real browser: Debian's Chromium, driven by Playwright.

A real ``jupyter lab`` (the installed prebuilt labextension and the modelshelf server
extension) runs on 127.0.0.1 over a temporary store holding a model with two versions, and a
server root holding a notebook with a ``parameters`` cell. The test opens the "Models"
sidebar, looks at the model, its versions and one version's details, runs the notebook as a
job from the file browser's context menu, waits for the job to succeed and its output model
to appear, follows its log and opens its executed notebook; it also saves a folder from the
"Models" menu, and tries a deployment: a test request, a refused delete of the version it
holds, and "Stop". Screenshots of each step go to a folder the test prints
(``MODELSHELF_UI_SCREENSHOTS`` if set).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
from lab_helpers import ADDER, START_TIMEOUT, TOKEN, running_lab, write_notebook
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from modelshelf import Shelf

pytestmark = pytest.mark.timeout(240)

MODEL = "iris-classifier"
JOB = "ui-train"
SERVED = "adder"  # a model with a serve.py, deployed as DEPLOYMENT
DEPLOYMENT = "adder-api"
# Generous: a job that starts a kernel on 2 busy cores.
JOB_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 30_000

TRAIN = """\
import os, pathlib
out = pathlib.Path(os.environ["ML_OUTPUT_PATH"])
out.mkdir(parents=True, exist_ok=True)
(out / "weights.txt").write_text(f"epochs={epochs} lr={lr}")
print("trained for", epochs, "epochs")
"""


def _save_models(store: Path, tmp_path: Path) -> None:
    """Two versions of MODEL, with a file in a subfolder (download links encode per segment),
    and SERVED, a model that can be deployed."""
    folder = tmp_path / "model-src"
    (folder / "sub").mkdir(parents=True)
    served = tmp_path / "served-src"
    served.mkdir()
    (served / "serve.py").write_text(ADDER)
    with Shelf(str(store)) as shelf:
        for version, c in ((1, 1.0), (2, 0.5)):
            (folder / "model.txt").write_text(f"weights of version {version}")
            (folder / "sub" / "config.json").write_text(json.dumps({"C": c}))
            shelf.save(MODEL, folder, params={"C": c}, metrics={"accuracy": 0.9 + version / 100})
        shelf.save(SERVED, served)


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Iterator[str]:
    """A running ``jupyter lab`` over a temporary store; yields its base URL."""
    store, state, root = tmp_path / "store", tmp_path / "state", tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(state))
    monkeypatch.setenv("MODELSHELF_ROOT", str(store))
    _save_models(store, tmp_path)
    write_notebook(root / "train.ipynb", "epochs = 2\nlr = 0.1", TRAIN)
    (root / "exports").mkdir()
    (root / "exports" / "model.bin").write_bytes(b"saved from the menu")
    with running_lab(tmp_path, store, root) as base:
        yield base


def _browse_models(page, context, lab: str, shots: Path) -> None:
    """The model, expanded to both versions; one version's params, metrics and files."""
    page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')
    sidebar = page.locator("#modelshelf-sidebar")
    model = sidebar.locator(f'[data-model="{MODEL}"]')
    model.locator('[data-testid="modelshelf-model-row"]').click()
    for version in (1, 2):
        model.locator(f'[data-ref="{MODEL}:{version}"]').wait_for()
    page.screenshot(path=str(shots / "1-sidebar-models.png"))

    model.locator(f'[data-ref="{MODEL}:1"] [data-testid="modelshelf-version-row"]').click()
    details = sidebar.locator('[data-testid="modelshelf-version-details"]')
    params = details.locator('[data-testid="modelshelf-version-params"]')
    assert re.search(r"C\s*1(\.0)?\b", params.inner_text()), params.inner_text()
    assert "accuracy" in details.locator('[data-testid="modelshelf-version-metrics"]').inner_text()
    # A file link downloads through the API with the session's cookie.
    link = details.locator('[data-testid="modelshelf-version-files"] a', has_text="sub/config.json")
    download = context.request.get(urljoin(lab, link.get_attribute("href")))
    assert download.ok and json.loads(download.body()) == {"C": 1.0}, download.status
    page.screenshot(path=str(shots / "2-version-details.png"))


def _run_job(page, shots: Path, root: Path) -> None:
    """Run train.ipynb from the file browser's context menu; see it succeed, its output model,
    its log and its executed notebook."""
    page.click('.jp-SideBar [data-id="filebrowser"]')
    page.locator(".jp-DirListing-item", has_text="train.ipynb").click(button="right")
    page.locator(".lm-Menu-item", has_text="Run notebook as job…").click()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-job-form"]')
    form.locator('[data-testid="modelshelf-param-epochs"]').fill("3")
    form.locator('[data-testid="modelshelf-job-name"]').fill(JOB)
    page.screenshot(path=str(shots / "3-job-dialog.png"))
    page.locator(".jp-Dialog .jp-mod-accept").click()

    # The sidebar comes forward; the job runs and ends.
    sidebar = page.locator("#modelshelf-sidebar")
    job = sidebar.locator(f'[data-testid="modelshelf-job"][data-job-name="{JOB}"]')
    ended = ":is([data-status=succeeded], [data-status=failed], [data-status=cancelled])"
    sidebar.locator(f'[data-testid="modelshelf-job"][data-job-name="{JOB}"]{ended}').wait_for(
        timeout=JOB_TIMEOUT_MS
    )
    assert job.get_attribute("data-status") == "succeeded", job.inner_text()
    page.screenshot(path=str(shots / "4-job-succeeded.png"))

    # Its output model is listed once the Models section refreshes.
    sidebar.locator('[data-testid="modelshelf-refresh"]').click()
    sidebar.locator(f'[data-model="Job - {JOB}"]').wait_for()
    # The search box filters by name on the server (?q=).
    search = sidebar.locator('[data-testid="modelshelf-model-search"]')
    search.fill("iris")
    sidebar.locator(f'[data-model="Job - {JOB}"]').wait_for(state="detached")
    assert sidebar.locator(f'[data-model="{MODEL}"]').count() == 1
    search.fill("")

    job.locator('[data-testid="modelshelf-job-logs"]').click()
    logs = page.locator(".jp-modelshelf-logs")
    logs.locator('[data-testid="modelshelf-logs-text"]', has_text="trained for 3 epochs").wait_for()
    job.locator('[data-testid="modelshelf-job-open"]').click()
    page.locator(".jp-NotebookPanel .jp-Cell", has_text="trained for 3 epochs").first.wait_for()
    executed = list((root / "modelshelf-jobs").glob(f"{JOB}-*.ipynb"))
    assert len(executed) == 1, executed
    # The notebook's toolbar has the "Run notebook as job…" button; its dialog reads this
    # notebook's parameters (the executed copy's injected cell comes after the tagged one).
    page.locator('.jp-NotebookPanel [data-testid="modelshelf-run-job-button"]').first.click()
    dialog = page.locator(".jp-Dialog", has_text=executed[0].name)
    dialog.locator("label", has_text="epochs").wait_for()
    dialog.locator(".jp-mod-reject").click()
    dialog.wait_for(state="detached")
    page.screenshot(path=str(shots / "5-logs-and-executed-notebook.png"))


def _find_in_palette(page, search: str, labels: list[str]) -> None:
    """The commands are in the palette too. The modal palette hides when it loses the focus,
    which the menu that opened it can take back as it closes (Lumino restores the focus), so
    an attempt that saw it vanish opens it again."""
    for attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
        page.locator(".lm-Menu-itemLabel", has_text="Activate Command Palette").click()
        try:
            page.locator(".lm-CommandPalette-input").fill(search, timeout=5000)
            for label in labels:
                page.locator(".lm-CommandPalette-item", has_text=label).wait_for(timeout=5000)
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            continue
        page.keyboard.press("Escape")
        return


def _save_from_menu(page) -> None:
    """Save a folder from the "Models" menu ("Save /opt/ml/output as model…", another folder).

    From the menu rather than the palette's shortcut, which goes wherever the keyboard focus is.
    """
    _find_in_palette(page, "as model", ["Save /opt/ml/models as model…",
                                        "Save /opt/ml/output as model…"])  # fmt: skip
    page.locator(".lm-MenuBar-itemLabel", has_text="Models").click()
    page.locator(".lm-Menu-itemLabel", has_text="Save /opt/ml/output as model…").click()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-save-form"]')
    form.locator('[data-testid="modelshelf-save-source"]').fill("exports")
    form.locator('[data-testid="modelshelf-save-name"]').fill("from-ui")
    form.locator('[data-testid="modelshelf-save-tags"]').fill("ui, menu")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator('#modelshelf-sidebar [data-model="from-ui"]').wait_for()


def _deploy_from_the_sidebar(page, shots: Path) -> None:
    """A version's "Deploy…": the form, then the deployment in the Deployments section."""
    sidebar = page.locator("#modelshelf-sidebar")
    served = sidebar.locator(f'[data-model="{SERVED}"]')
    served.locator('[data-testid="modelshelf-model-row"]').click()
    served.locator(f'[data-ref="{SERVED}:1"] [data-testid="modelshelf-version-row"]').click()
    served.locator('[data-testid="modelshelf-deploy-version"]').click()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-deploy-form"]')
    form.locator('[data-testid="modelshelf-deploy-name"]').fill(DEPLOYMENT)
    form.locator('[data-testid="modelshelf-deploy-env"]').fill("not a pair")
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Deploy").click()
    refusal = page.locator(".jp-Dialog", has_text="is not KEY=VALUE")
    refusal.locator(".jp-Dialog-button", has_text="Close").click()  # back to the form
    form = page.locator('.jp-Dialog [data-testid="modelshelf-deploy-form"]')
    assert form.locator('[data-testid="modelshelf-deploy-name"]').input_value() == DEPLOYMENT
    form.locator('[data-testid="modelshelf-deploy-env"]').fill("")
    page.screenshot(path=str(shots / "5b-deploy-form.png"))
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Deploy").click()
    sidebar.locator(f'[data-testid="modelshelf-deployment"][data-name="{DEPLOYMENT}"]').wait_for()


def _try_deployment(page, shots: Path) -> None:
    """A ready deployment: a test request, the refused delete of its version, then Stop."""
    sidebar = page.locator("#modelshelf-sidebar")
    ready = f'[data-testid="modelshelf-deployment"][data-name="{DEPLOYMENT}"][data-status="ready"]'
    deployment = sidebar.locator(ready)
    deployment.wait_for()
    deployment.locator('[data-testid="modelshelf-invoke-payload"]').fill("[[1, 2], [3, 4]]")
    deployment.locator('[data-testid="modelshelf-invoke-send"]').click()
    answer = deployment.locator('[data-testid="modelshelf-invoke-answer"]')
    answer.filter(has_text="13").wait_for()
    assert json.loads(answer.inner_text()) == [13, 17], answer.inner_text()
    # Its live figures count the request (the server writes them each second, the
    # section polls every few).
    live = deployment.locator('[data-testid="modelshelf-deployment-live"]')
    live.filter(has_text="1 request").wait_for()
    assert "p99" in live.inner_text(), live.inner_text()

    # The mode filter: an asynchronous-only list has no room for it; all modes bring it back.
    mode = sidebar.locator('[data-testid="modelshelf-deployments-mode"]')
    mode.select_option("async")
    deployment.wait_for(state="detached")
    mode.select_option("")
    deployment.wait_for()

    # Deleting the deployed version (still selected) is refused; the dialog names the
    # deployment holding it.
    served = sidebar.locator(f'[data-model="{SERVED}"]')
    served.locator('[data-testid="modelshelf-delete-version"]').click()
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Delete").click()
    refusal = page.locator(".jp-Dialog", has_text="is in use")
    assert DEPLOYMENT in refusal.inner_text(), refusal.inner_text()
    page.screenshot(path=str(shots / "6-deployment-and-refused-delete.png"))
    refusal.locator(".jp-mod-reject").click()

    deployment.locator('[data-testid="modelshelf-deployment-stop"]').click()
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Stop").click()
    sidebar.locator(f'[data-testid="modelshelf-deployment"][data-name="{DEPLOYMENT}"]').wait_for(
        state="detached"
    )


def test_sidebar_shows_models_runs_a_job_and_tries_a_deployment(lab, browser, shots, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{lab}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=START_TIMEOUT * 1000)

    _browse_models(page, context, lab, shots)
    # Before the job's executed notebook opens: a notebook taking the keyboard focus while
    # it starts its kernel closes the command palette.
    _save_from_menu(page)
    _run_job(page, shots, tmp_path / "root")
    _deploy_from_the_sidebar(page, shots)
    _try_deployment(page, shots)

    sidebar = page.locator("#modelshelf-sidebar")
    assert sidebar.locator(".jp-modelshelf-error").count() == 0, sidebar.inner_text()
    assert not [e for e in errors if "modelshelf" in e.lower()], errors
    context.close()
