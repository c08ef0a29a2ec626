"""The model page, the job page and the deployment card in a real browser (Debian's Chromium
through Playwright) over a real ``jupyter lab`` and a temporary store.

A model with five versions made with different params, metrics and files: the versions table
lists them, each metric's chart has five points (counted in the rendered SVG) whose tooltip
names the version, a compare shows a changed param and a changed text file as a diff, and the
lineage graph shows the parent. A job run from the browser with the model as input ends with a
notification whose button opens the job's page (its log); its output model's lineage graph
shows the parent and the job, and the input version's graph shows the output model as made
from it. A deployment's card answers a test request. A model with 200 versions opens and its
time is printed (not asserted). Screenshots of each page in the light and the dark theme go
to the folder the test prints (``MODELSHELF_UI_SCREENSHOTS`` if set).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
from lab_helpers import ADDER, START_TIMEOUT, TOKEN, running_lab, write_notebook

from modelshelf import Shelf

pytestmark = pytest.mark.timeout(400)

MODEL = "churn"
BIG = "big-sweep"
BIG_VERSIONS = 200
SERVED = "adder"
DEPLOYMENT = "adder-card"
JOB = "ui-retrain"
JOB_TIMEOUT_MS = 150_000
CHART = '[data-testid="modelshelf-metric-chart"]'
GRAPH = '[data-testid="modelshelf-lineage-graph"]'
TABLE_ROW = '[data-testid="modelshelf-version-table-row"]'
MODEL_ROW = '[data-testid="modelshelf-model-row"]'
ALIAS_HISTORY = '[data-testid="modelshelf-alias-history"]'
UI_TIMEOUT_MS = 30_000
# Evaluation records come with the pipelines work; before it is merged there are none to draw.
EVALUATIONS = hasattr(Shelf, "evaluate")
# JupyterLab itself evaluates strings (its settings plugin compiles JSON schemas with ajv),
# so a CSP without 'unsafe-eval' stops JupyterLab before any extension loads. Checked
# instead: nothing in modelshelf's bundle (Vega included) ever calls `Function` on a string.
RECORD_EVALS = """
(() => {
  const Original = window.Function;
  const calls = (window.__modelshelfEvals = []);
  function Recorded(...args) {
    const stack = new Error().stack || '';
    if (stack.includes('/extensions/modelshelf/')) calls.push(stack.split('\\n', 4).join(' | '));
    return Original.apply(this, args);
  }
  Recorded.prototype = Original.prototype;
  window.Function = Recorded;
})();
"""

# Five versions: params, metrics and a text file that change from one to the next.
SWEEP = [
    {"C": 0.1, "max_depth": 3, "auc": 0.71, "loss": 0.62},
    {"C": 0.3, "max_depth": 4, "auc": 0.78, "loss": 0.55},
    {"C": 1.0, "max_depth": 3, "auc": 0.83, "loss": 0.49},
    {"C": 3.0, "max_depth": 4, "auc": 0.81, "loss": 0.51},
    {"C": 10.0, "max_depth": 5, "auc": 0.86, "loss": 0.44},
]

TRAIN = """\
import os, pathlib
out = pathlib.Path(os.environ["ML_OUTPUT_PATH"])
out.mkdir(parents=True, exist_ok=True)
(out / "weights.txt").write_text(f"epochs={epochs}")
print("retrained for", epochs, "epochs from", sorted(os.listdir(os.environ["ML_MODEL_PATH"])))
"""


def _save_models(store: Path, tmp_path: Path) -> None:
    folder, served, data = tmp_path / "src", tmp_path / "served", tmp_path / "train.csv"
    folder.mkdir()
    served.mkdir()
    data.write_text("x,y\n1,0\n2,1\n")
    (served / "serve.py").write_text(ADDER)
    with Shelf(str(store)) as shelf:
        parent = None
        for index, row in enumerate(SWEEP, start=1):
            params = {"C": row["C"], "max_depth": row["max_depth"]}
            (folder / "model.bin").write_bytes(bytes([index]) * 2048)
            (folder / "config.json").write_text(json.dumps(params, indent=2) + "\n")
            (folder / "README.txt").write_text("A churn classifier.\n")
            if index == 5:
                (folder / "extra.yaml").write_text("threshold: 0.5\n")
            saved = shelf.save(MODEL, folder, params=params, parent=parent, dataset=str(data),
                               metrics={"auc": row["auc"], "loss": row["loss"]})  # fmt: skip
            parent = saved.ref
        if EVALUATIONS:  # scores kept beside two versions (the pipelines work)
            shelf.evaluate(f"{MODEL}:3", 0.80, data="holdout.csv", pipeline="evaluate")
            shelf.evaluate(f"{MODEL}:5", 0.84, data="holdout.csv", pipeline="evaluate")
        shelf.set_alias(MODEL, "staging", 4)
        shelf.set_alias(MODEL, "production", 3)
        shelf.set_alias(MODEL, "production", 5)
        big = tmp_path / "big"
        big.mkdir()
        for n in range(1, BIG_VERSIONS + 1):
            (big / "model.bin").write_bytes(n.to_bytes(4, "big"))
            shelf.save(BIG, big, params={"lr": n / 1000, "layers": n % 4 + 1},
                       metrics={"accuracy": 0.5 + n / 500, "loss": 1 / n})  # fmt: skip
        shelf.save(SERVED, served)


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Iterator[str]:
    store, root = tmp_path / "store", tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MODELSHELF_ROOT", str(store))
    _save_models(store, tmp_path)
    write_notebook(root / "retrain.ipynb", "epochs = 2", TRAIN)
    with running_lab(tmp_path, store, root) as base:
        yield base


def _set_theme(page, dark: bool) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    label = "JupyterLab Dark" if dark else "JupyterLab Light"
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{label}$")).click()
    theme = "false" if dark else "true"
    page.locator(f'body[data-jp-theme-light="{theme}"]').wait_for(state="attached")
    page.wait_for_timeout(500)  # the charts redraw with the theme's colors


def _show_sidebar(page) -> None:
    """Bring the Models sidebar forward (a click on its tab when shown would close it)."""
    if not page.locator("#modelshelf-sidebar").is_visible():
        page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')
    page.locator("#modelshelf-sidebar").wait_for()


def _open_model_page(page, name: str):
    sidebar = page.locator("#modelshelf-sidebar")
    row = sidebar.locator(f'[data-model="{name}"] [data-testid="modelshelf-model-row"]')
    row.locator('[data-testid="modelshelf-open-model-page"]').click()
    model_page = page.locator(f'[data-testid="modelshelf-model-page"][data-model="{name}"]')
    model_page.wait_for()
    return model_page


def _tab(model_page, tab: str) -> None:
    model_page.locator(f'[data-testid="modelshelf-page-tab-{tab}"]').click()


def _check_versions_table(model_page) -> None:
    rows = model_page.locator('[data-testid="modelshelf-version-table-row"]')
    rows.nth(4).wait_for()
    assert rows.count() == 5
    # Newest first; the params and metrics are columns.
    shown = [rows.nth(i).get_attribute("data-version") for i in range(5)]
    assert shown == ["5", "4", "3", "2", "1"], shown
    first = rows.nth(0)
    assert first.locator('[data-column="params.C"]').inner_text() == "10"
    assert first.locator('[data-column="metrics.auc"]').inner_text() == "0.86"
    assert "@production" in first.locator('[data-column="aliases"]').inner_text()
    # Sort by auc (ascending, then descending).
    header = model_page.locator('th[data-column="metrics.auc"] button')
    header.click()
    assert rows.nth(0).get_attribute("data-version") == "1"
    header.click()
    assert rows.nth(0).get_attribute("data-version") == "5"
    assert rows.nth(1).get_attribute("data-version") == "3"  # 0.83 before 0.81
    # Hide a column through the chooser.
    model_page.locator('[data-testid="modelshelf-columns-button"]').click()
    model_page.locator('[data-testid="modelshelf-columns"] input[data-column="source"]').uncheck()
    assert model_page.locator('th[data-column="source"]').count() == 0
    model_page.locator('[data-testid="modelshelf-columns-button"]').click()


def _check_charts(page, model_page) -> None:
    _tab(model_page, "metrics")
    for metric in ("auc", "loss"):
        chart = model_page.locator(f'{CHART}[data-metric="{metric}"]')
        chart.locator("svg").wait_for()
        points = chart.locator("g.mark-symbol path")
        points.nth(4).wait_for()
        assert points.count() == 5, f"{metric}: {points.count()} points"
    # Evaluation scores beside the training metrics, when the store keeps any.
    evaluation = model_page.locator(f'{CHART}[data-metric="evaluation score"]')
    if EVALUATIONS:
        evaluation.locator("g.mark-symbol path").nth(1).wait_for()
        assert evaluation.locator("g.mark-symbol path").count() == 2
    else:
        assert evaluation.count() == 0
    # Hovering a point names its version.
    chart = model_page.locator(f'{CHART}[data-metric="auc"]')
    chart.locator("g.mark-symbol path").nth(2).hover()
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.filter(has_text=f"{MODEL}:3").wait_for()
    assert "0.83" in tooltip.inner_text(), tooltip.inner_text()
    page.mouse.move(0, 0)


def _check_compare(model_page) -> None:
    _tab(model_page, "compare")
    compare = model_page.locator('[data-testid="modelshelf-compare"]')
    compare.locator('[data-testid="modelshelf-compare-a"]').select_option("3")
    compare.locator('[data-testid="modelshelf-compare-b"]').select_option("5")
    result = compare.locator(f'[data-testid="modelshelf-compare-result"][data-a="{MODEL}:3"]')
    result.wait_for()
    files = result.locator('[data-testid="modelshelf-compare-files"]')
    assert files.locator('li[data-kind="added"][data-path="extra.yaml"]').count() == 1
    assert files.locator('li[data-kind="changed"][data-path="model.bin"]').count() == 1
    assert files.locator('li[data-path="README.txt"]').count() == 0  # unchanged
    config = files.locator('li[data-kind="changed"][data-path="config.json"]')
    diff = config.locator('[data-testid="modelshelf-text-diff"]')
    diff.wait_for()
    removed = diff.locator('[data-kind="removed"]').all_inner_texts()
    added = diff.locator('[data-kind="added"]').all_inner_texts()
    assert any('"C": 1.0' in line for line in removed), removed
    assert any('"C": 10.0' in line for line in added), added
    params = result.locator('[data-testid="modelshelf-compare-params"]')
    assert params.locator('tr[data-key="C"]').get_attribute("data-changed") == "true"
    assert params.locator('tr[data-key="max_depth"]').get_attribute("data-changed") == "true"
    metrics = result.locator('[data-testid="modelshelf-compare-metrics"]')
    assert "0.86" in metrics.locator('tr[data-key="auc"]').inner_text()


def _check_files(model_page, context, lab: str) -> None:
    """The newest version's file tree: every file with its size, each a working download."""
    _tab(model_page, "files")
    tree = model_page.locator('[data-testid="modelshelf-file-tree"]')
    rows = tree.locator('[data-testid="modelshelf-file-row"]')
    rows.nth(3).wait_for()
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.path)")) == [
        "README.txt", "config.json", "extra.yaml", "model.bin"]  # fmt: skip
    assert "2.0 KB" in tree.locator('tr[data-path="model.bin"]').inner_text()
    href = tree.locator('tr[data-path="config.json"] a').get_attribute("href")
    download = context.request.get(urljoin(lab, href))
    assert download.ok and json.loads(download.body()) == {"C": 10.0, "max_depth": 5}
    history = model_page.locator(f'{ALIAS_HISTORY} [data-alias="production"] li')
    assert (
        history.all_inner_texts()[0].startswith("→ v5") and "→ v3" in history.all_inner_texts()[1]
    )


def _open_from_the_menu(page, name: str) -> None:
    """The command "Open model page…" (the Models menu), picking a model by name."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Models").click()
    page.locator(".lm-Menu-itemLabel", has_text="Open model page…").click()
    page.locator(".jp-Dialog input").fill(name)
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(f'[data-testid="modelshelf-model-page"][data-model="{name}"]').wait_for()


def _graph_text(model_page) -> str:
    """The texts of the drawn lineage graph (its SVG's text marks)."""
    return " | ".join(model_page.locator(f"{GRAPH} svg text").all_text_contents())


def _lineage_nodes(model_page) -> list[str]:
    _tab(model_page, "lineage")
    graph = model_page.locator('[data-testid="modelshelf-lineage-graph"][data-drawn="true"]')
    graph.wait_for()
    return (graph.get_attribute("data-nodes") or "").split("\n")


def _run_job_from_the_browser(page) -> None:
    page.click('.jp-SideBar [data-id="filebrowser"]')
    page.locator(".jp-DirListing-item", has_text="retrain.ipynb").click(button="right")
    page.locator(".lm-Menu-item", has_text="Run notebook as job…").click()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-job-form"]')
    form.locator('[data-testid="modelshelf-param-epochs"]').fill("4")
    form.locator('[data-testid="modelshelf-job-name"]').fill(JOB)
    form.locator('[data-testid="modelshelf-job-model"]').fill(f"{MODEL}:5")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    # Away from the sidebar: the notification must come anyway.
    page.click('.jp-SideBar [data-id="filebrowser"]')


def _shoot(page, shots: Path, name: str, dark: bool) -> None:
    page.screenshot(path=str(shots / f"{name}-{'dark' if dark else 'light'}.png"))


def _pages_in_a_theme(page, shots: Path, dark: bool, output_model: str, job_id: str) -> None:
    """Every page once, for the screenshots of one theme."""
    _show_sidebar(page)
    row = page.locator(f'#modelshelf-sidebar [data-model="{MODEL}"] {MODEL_ROW}')
    if row.get_attribute("aria-expanded") != "true":
        # From the keyboard: the row takes the focus and Enter expands it.
        row.focus()
        page.keyboard.press("Enter")
    page.locator(f'#modelshelf-sidebar [data-ref="{MODEL}:5"]').wait_for()
    _shoot(page, shots, "sidebar", dark)
    model_page = _open_model_page(page, MODEL)
    for tab in ("versions", "metrics", "compare", "lineage", "files"):
        _tab(model_page, tab)
        if tab == "metrics":
            model_page.locator(f"{CHART} svg").first.wait_for()
        if tab == "lineage":
            model_page.locator(f'{GRAPH}[data-drawn="true"]').wait_for()
        if tab == "compare":
            model_page.locator('[data-testid="modelshelf-compare-result"]').wait_for()
        if tab == "files":
            model_page.locator(f"{ALIAS_HISTORY} [data-alias]").first.wait_for()
        page.wait_for_timeout(300)
        _shoot(page, shots, f"model-{tab}", dark)
    job_model = _open_model_page(page, output_model)
    _lineage_nodes(job_model)
    _shoot(page, shots, "job-output-lineage", dark)
    sidebar = page.locator("#modelshelf-sidebar")
    sidebar.locator(f'[data-job-id="{job_id}"] [data-testid="modelshelf-job-page-open"]').click()
    job_page = page.locator(f'[data-testid="modelshelf-job-page"][data-job-id="{job_id}"]')
    job_page.locator('[data-testid="modelshelf-logs-text"]').wait_for()
    _shoot(page, shots, "job-page", dark)
    deployment = sidebar.locator(f'[data-name="{DEPLOYMENT}"]')
    deployment.locator('[data-testid="modelshelf-deployment-card-open"]').click()
    card = page.locator(f'[data-testid="modelshelf-deployment-card"][data-name="{DEPLOYMENT}"]')
    card.locator('[data-testid="modelshelf-card-facts"]').wait_for()
    _shoot(page, shots, "deployment-card", dark)


def _try_the_deployment_card(page, context, lab: str) -> None:
    answer = context.request.post(
        f"{lab}/modelshelf/api/deployments",
        headers={"Authorization": f"token {TOKEN}"},
        data=json.dumps({"refs": [f"{SERVED}:1"], "name": DEPLOYMENT}),
    )
    assert answer.status == 202, answer.text()
    sidebar = page.locator("#modelshelf-sidebar")
    _show_sidebar(page)
    ready = f'[data-testid="modelshelf-deployment"][data-name="{DEPLOYMENT}"][data-status="ready"]'
    sidebar.locator(ready).wait_for(timeout=90_000)
    sidebar.locator(f'{ready} [data-testid="modelshelf-deployment-card-open"]').click()
    card = page.locator(f'[data-testid="modelshelf-deployment-card"][data-name="{DEPLOYMENT}"]')
    card.locator('[data-testid="modelshelf-card-status"]', has_text="ready").wait_for()
    assert f"{SERVED}:1" in card.locator('[data-testid="modelshelf-card-facts"]').inner_text()
    card.locator('[data-testid="modelshelf-card-payload"]').fill("[[1, 2], [3, 4]]")
    card.locator('[data-testid="modelshelf-card-send"]').click()
    response = card.locator('[data-testid="modelshelf-card-response"][data-status="200"]')
    response.wait_for()
    assert json.loads(response.locator("pre").inner_text()) == [13, 17]
    assert "HTTP 200" in response.inner_text()
    # Its live figures count the request (the server writes them each second, the card polls).
    requests = card.locator('[data-testid="modelshelf-card-live"] tr', has_text="Requests")
    requests.filter(has_text=re.compile(r"Requests\s*1$")).wait_for()
    # A bad payload is refused in the card itself, with the reason.
    card.locator('[data-testid="modelshelf-card-payload"]').fill("not json")
    card.locator('[data-testid="modelshelf-card-send"]').click()
    card.locator('[data-testid="modelshelf-card-response"]', has_text="Not JSON").wait_for()
    card.locator('[data-testid="modelshelf-card-payload"]').fill("[[5, 5]]")
    card.locator('[data-testid="modelshelf-card-send"]').click()
    card.locator(
        '[data-testid="modelshelf-card-response"][data-status="200"]', has_text="20"
    ).wait_for()


def test_model_page_job_page_and_deployment_card(lab, browser, shots):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(RECORD_EVALS)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=START_TIMEOUT * 1000)
    page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')

    # The 200-version model first, on a cold page: how long until its table is whole.
    sidebar = page.locator("#modelshelf-sidebar")
    sidebar.locator(f'[data-model="{BIG}"]').wait_for()
    started = time.perf_counter()
    big_page = _open_model_page(page, BIG)
    big_page.locator(TABLE_ROW).nth(BIG_VERSIONS - 1).wait_for()
    table_s = time.perf_counter() - started
    _tab(big_page, "metrics")
    big_page.locator('[data-metric="loss"] g.mark-symbol path').nth(BIG_VERSIONS - 1).wait_for()
    charts_s = time.perf_counter() - started
    print(f"\nmodel page of {BIG_VERSIONS} versions: table in {table_s:.2f} s, "
          f"table + charts in {charts_s:.2f} s (first open, local store)")  # fmt: skip
    big_tab = page.locator(f'.lm-TabBar-tab[data-id="{big_page.get_attribute("id")}"]')
    big_tab.locator(".lm-TabBar-tabCloseIcon").click()

    model_page = _open_model_page(page, MODEL)
    _check_versions_table(model_page)
    _check_charts(page, model_page)
    _check_compare(model_page)
    _check_files(model_page, context, lab)
    nodes = _lineage_nodes(model_page)  # churn:5, the newest
    assert f"{MODEL}:4" in nodes and "dataset" in nodes and "alias:production" in nodes, nodes
    svg_text = _graph_text(model_page)
    assert f"{MODEL}:4" in svg_text and "@production" in svg_text, svg_text
    assert "train.csv" in svg_text and "sha256 " in svg_text, svg_text  # the dataset, its hash

    # A job from the browser, with churn:5 as its input; the notification opens its page.
    _run_job_from_the_browser(page)
    toast = page.locator(".Toastify__toast", has_text=f"Job {JOB} succeeded")
    toast.wait_for(timeout=JOB_TIMEOUT_MS)
    page.wait_for_timeout(1000)  # the toast slides in
    _shoot(page, shots, "job-notification", False)
    toast.get_by_role("button", name="Open job page").click()
    job_page = page.locator('[data-testid="modelshelf-job-page"][data-status="succeeded"]')
    job_page.wait_for()
    job_id = job_page.get_attribute("data-job-id")
    log = job_page.locator('[data-testid="modelshelf-logs-text"]')
    log.filter(has_text="retrained for 4 epochs").wait_for()
    details = job_page.locator('[data-testid="modelshelf-job-page-details"]')
    assert f"{MODEL}:5" in details.inner_text() and f"Job - {JOB}:1" in details.inner_text()
    assert "epochs" in details.locator('[data-testid="modelshelf-job-page-params"]').inner_text()
    assert re.search(r"Duration\s*\d", details.inner_text()), details.inner_text()

    # Its output model's lineage: the parent (the input model) and the job.
    details.locator(f'a[data-ref="Job - {JOB}:1"]').click()
    output_page = page.locator(f'[data-testid="modelshelf-model-page"][data-model="Job - {JOB}"]')
    output_page.wait_for()
    nodes = _lineage_nodes(output_page)
    assert f"{MODEL}:5" in nodes and f"job:{job_id}" in nodes and "notebook" in nodes, nodes
    svg_text = _graph_text(output_page)
    assert f"job {JOB}" in svg_text and f"{MODEL}:5" in svg_text, svg_text
    # Its notebook's box opens the executed notebook; its job's button (the graph's boxes
    # as buttons, for the keyboard) the job's page.
    output_page.locator(f'{GRAPH} [aria-label="retrain.ipynb"]').click()
    page.locator(".jp-NotebookPanel .jp-Cell", has_text="retrained for 4 epochs").first.wait_for()
    button = output_page.locator(f'.jp-modelshelf-lineage-links button[data-node="job:{job_id}"]')
    page.locator(f'.lm-TabBar-tab[data-id="{output_page.get_attribute("id")}"]').click()
    button.focus()
    page.keyboard.press("Enter")
    page.locator(f'[data-testid="modelshelf-job-page"][data-job-id="{job_id}"]').wait_for()
    assert (
        page.locator(
            f'.lm-TabBar-tab.lm-mod-current[data-id="{job_page.get_attribute("id")}"]'
        ).count()
        == 1
    )

    # The input version's lineage, refreshed, now names the job's output model as made from it.
    page.locator(f'.lm-TabBar-tab[data-id="{model_page.get_attribute("id")}"]').click()
    model_page.locator('[data-testid="modelshelf-page-refresh"]').click()
    _tab(model_page, "lineage")
    model_page.locator(f'{GRAPH}[data-drawn="true"][data-nodes*="child:Job - {JOB}:1"]').wait_for()
    assert f"Job - {JOB}:1" in _graph_text(model_page)

    _try_the_deployment_card(page, context, lab)
    _open_from_the_menu(page, SERVED)

    for dark in (False, True):
        if dark:
            _set_theme(page, True)
        _pages_in_a_theme(page, shots, dark, f"Job - {JOB}", job_id)
    _set_theme(page, False)

    # No page shows an error (the card's refused "not json" is the one expected).
    pages = ":is(.jp-modelshelf-model-page, .jp-modelshelf-job-page)"
    shown = page.locator(f"{pages} .jp-modelshelf-error")
    assert shown.count() == 0, shown.all_inner_texts()
    assert not [e for e in errors if "modelshelf" in e.lower() or "vega" in e.lower()], errors
    # Charts and graphs were drawn (above) without evaluating a string.
    assert page.evaluate("window.__modelshelfEvals") == []
    context.close()
