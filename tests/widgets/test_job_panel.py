"""The Jobs panel: a form from the notebook's parameters cell, real jobs launched by clicks."""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as w
import nbformat
import pytest
from widget_helpers import text

from modelshelf.core.jobs.parameters import notebook_parameters
from modelshelf.widgets import JobPanel
from modelshelf.widgets.params import ParameterForm
from support import wait_for

DATA = Path(__file__).parent.parent / "data"
TRAIN, SLEEPS = DATA / "train.ipynb", DATA / "sleeps.ipynb"


@pytest.fixture
def panel(jobs):
    widget = JobPanel(jobs, notebook=TRAIN, auto_refresh=False)
    yield widget
    widget.wait()
    widget.close()


def typed_notebook(path: Path) -> Path:
    """A notebook with every kind of parameter the form knows."""
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "layers = [64, 32]\noptions = {'seed': 1}\nshape = (2, 3)\nverbose = False\n"
        "anything = None\nwhen = sorted([3, 1])"
    )
    cell.metadata["tags"] = ["parameters"]
    book.cells = [cell, nbformat.v4.new_code_cell("print(layers)")]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, path)
    return path


def test_the_form_comes_from_the_parameters_cell(panel):
    fields = panel.form.fields
    assert list(fields) == ["learning_rate", "epochs", "label", "sleep_seconds"]
    assert type(fields["epochs"]) is w.IntText and fields["epochs"].value == 2
    assert type(fields["learning_rate"]) is w.FloatText and fields["learning_rate"].value == 0.5
    assert type(fields["label"]) is w.Text and fields["label"].value == "tiny"
    assert type(fields["sleep_seconds"]) is w.FloatText
    assert "int" in fields["epochs"].tooltip
    assert panel.form.values() == {}  # nothing changed: the notebook's defaults apply


def test_literal_kinds_get_text_holding_the_literal(tmp_path):
    form = ParameterForm(notebook_parameters(str(typed_notebook(tmp_path / "typed.ipynb"))))
    fields = form.fields
    assert type(fields["verbose"]) is w.Checkbox and fields["verbose"].value is False
    for name, literal in [("layers", "[64, 32]"), ("options", "{'seed': 1}"), ("shape", "(2, 3)")]:
        assert type(fields[name]) is w.Text and fields[name].value == literal
    assert fields["anything"].value == "None"
    assert fields["when"].value == "sorted([3, 1])"  # an expression: shown, never sent as is

    fields["layers"].value = "[8]"
    fields["options"].value = '{"seed": 2}'  # JSON works too
    fields["shape"].value = "(4, 4)"
    fields["verbose"].value = True
    fields["anything"].value = "hello"  # untyped: read as the command line reads -p
    assert form.values() == {
        "layers": [8],
        "options": {"seed": 2},
        "shape": (4, 4),
        "verbose": True,
        "anything": "hello",
    }
    form.close()


def test_a_bad_value_is_refused_without_submitting(jobs, tmp_path):
    panel = JobPanel(jobs, notebook=typed_notebook(tmp_path / "typed.ipynb"), auto_refresh=False)
    try:
        panel.form.fields["layers"].value = "{'a': 1}"
        panel.launch_button.click()
        assert "parameter layers must be a list" in panel.launch_status.value
        panel.form.fields["layers"].value = "[1, 2"
        panel.launch_button.click()
        assert "parameter layers must be a list" in panel.launch_status.value
        assert jobs.list() == []
        assert panel.job_list.options == ()
    finally:
        panel.close()


def test_submit_errors_are_shown_without_a_job(panel, jobs):
    panel.model.value = "no-such-model"
    panel.launch_button.click()
    assert "no model named 'no-such-model'" in text(panel.launch_status)
    panel.model.value = ""
    panel.notebook.value = str(DATA / "missing.ipynb")
    panel.launch_button.click()
    assert "cannot read the parameters" in panel.launch_status.value
    assert jobs.list() == []


def test_a_launch_runs_a_real_job_that_appears_in_the_list(panel, jobs, shelf):
    panel.form.fields["epochs"].value = 3
    panel.form.fields["label"].value = "from-widget"
    panel.name.value = "widget-run"
    panel.launch_button.click()
    assert "submitted widget-run" in panel.launch_status.value, panel.launch_status.value
    (job,) = jobs.list()
    assert panel.job_list.value == job.id
    assert job.id in panel.job_list.options[0][0]

    job.wait(180)
    panel.refresh()
    assert job.status == "succeeded", job.logs()
    assert "succeeded" in panel.job_list.options[0][0]
    assert "Job - widget-run:1" in panel.details.value
    # The log's tail is shown; its last lines are the runner's, and a loaded machine may add
    # kernel warnings in between, so the notebook's own output is checked in the whole log.
    assert "modelshelf: job succeeded" in panel.details.value
    assert "trained weight=1.5" in str(job.logs())  # 0.5 * 3 epochs
    version = shelf.show("Job - widget-run")
    assert version.params["epochs"] == 3 and version.params["label"] == "from-widget"
    with shelf.open(version.ref, "model.json") as fh:
        assert json.load(fh)["label"] == "from-widget"


def test_cancel_stops_a_sleeping_job(jobs):
    panel = JobPanel(jobs, notebook=SLEEPS, auto_refresh=False)
    try:
        panel.launch_button.click()
        (job,) = jobs.list()
        wait_for(lambda: job.refresh().status == "running" and "sleeping" in job.logs(), 120)
        panel.refresh()
        assert "running" in panel.job_list.options[0][0]
        assert "sleeping" in panel.details.value

        panel.cancel_button.click()
        assert panel.wait(60)
        assert job.refresh().status == "cancelled"
        assert "is cancelled" in panel.status.value
        assert "cancelled" in panel.job_list.options[0][0]
        assert not panel.cancel_button.disabled
    finally:
        panel.close()
