"""Script jobs: a plain ``train.py`` run as a job, in a real process, with the notebook's
workspace, ML_* environment, logs, outputs, models and ``_results.json``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from store_helpers import make_model

from modelshelf import Shelf
from modelshelf.core.errors import ModelNotFoundError, PipelineError
from support import wait_for

pytestmark = pytest.mark.timeout(180)

# Reads its hyperparameters as a SageMaker training script does (argparse), checks they match
# ML_PARAMETERS, fits a least-squares line to the job's data with numpy, and saves it.
TRAIN_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, sys
    import numpy as np
    from helpers import describe

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--label")
    parser.add_argument("--layers", type=json.loads)
    args = parser.parse_args()
    print("argv:", sys.argv[1:])
    given = json.loads(os.environ["ML_PARAMETERS"])
    rows = np.loadtxt(os.path.join(os.environ["ML_DATA_PATH"], "train.csv"), delimiter=",")
    slope, intercept = np.polyfit(rows[:, 0], rows[:, 1], 1)
    with open(os.path.join(os.environ["ML_MODEL_PATH"], "model.json"), "w") as fh:
        json.dump({"slope": round(float(slope), 6), "intercept": round(float(intercept), 6),
                   "epochs": args.epochs, "lr": args.lr, "label": args.label,
                   "layers": args.layers, "given": given, "cwd": os.getcwd(),
                   "job": os.environ["ML_JOB_ID"]}, fh)
    with open(os.path.join(os.environ["artifacts_directory"], "notes.txt"), "w") as fh:
        fh.write(describe(args.epochs))
    print("trained slope", round(float(slope), 3))
    """
)


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


@pytest.fixture
def script(tmp_path):
    folder = make_model(tmp_path / "code", {
        "train.py": TRAIN_SCRIPT,
        "helpers.py": "def describe(epochs):\n    return f'{epochs} epochs'\n",
    })  # fmt: skip
    return folder / "train.py"


@pytest.fixture
def data(tmp_path):
    return make_model(tmp_path / "data", {"train.csv": "0,1\n1,3\n2,5\n3,7\n"})


def test_a_script_job_gets_its_parameters_as_arguments_and_ml_parameters(jobs, shelf, script, data):
    job = jobs.submit(
        script,
        parameters={"epochs": "5", "lr": "0.01", "label": "line", "layers": "[4, 2]"},
        parameters_from_strings=True,
        data=data,
    )
    job.wait(120)
    assert job.status == "succeeded", job.logs()
    assert job.name == "train" and job.outputs == ["Job - train:1"]
    with shelf.open("Job - train:1", "model.json") as fh:
        model = json.load(fh)
    assert (model["slope"], model["intercept"]) == (2.0, 1.0)  # fitted to the job's data
    assert (model["epochs"], model["lr"], model["label"], model["layers"]) == (5, 0.01, "line",
                                                                               [4, 2])  # fmt: skip
    assert model["given"] == {"epochs": 5, "lr": 0.01, "label": "line", "layers": [4, 2]}
    assert model["cwd"] == job.workspace and model["job"] == job.id
    log = job.logs()
    assert "argv: ['--epochs', '5', '--lr', '0.01', '--label', 'line', '--layers', '[4, 2]']" in log
    assert "trained slope 2.0" in log

    version = shelf.show("Job - train:1")
    assert version.params == model["given"]
    assert version.dataset["sha256"] == shelf.fingerprint(data)["sha256"]
    assert version.notebook is None
    assert version.job["kind"] == "script" and version.job["executed_notebook"] is None
    assert shelf.backend.read_bytes(version.job["snapshot"]).decode() == TRAIN_SCRIPT
    assert b"trained slope 2.0" in shelf.backend.read_bytes(version.job["log"])
    results = json.loads(Path(job.workspace, "_results.json").read_text())
    assert results == job.results
    assert results["parameters"]["program"] == {"kind": "script", "path": str(script),
                                                "pipeline": None}  # fmt: skip
    assert results["parameters"]["notebook"] is None
    assert results["run_summary"]["outputs"]["model"] == "Job - train:1"
    assert results["run_summary"]["outputs"]["executed_notebook"].startswith("none: a script")
    assert Path(results["run_summary"]["outputs"]["artifacts"], "notes.txt").read_text() == (
        "5 epochs"
    )
    with pytest.raises(ModelNotFoundError, match="no executed notebook"):
        job.executed_notebook()
    assert "executed notebook" in job.card().text() and "script" in job.card().text()

    # Rerun runs the snapshot again, with the same parameters and data.
    again = jobs.rerun("Job - train:1").wait(120)
    assert again.status == "succeeded", again.logs()
    assert shelf.show("Job - train:2").params == model["given"]
    assert (
        shelf.show("Job - train:2").job["rerun_of"]
        if False
        else again.spec.rerun_of == ("Job - train:1")
    )


def test_a_failing_script_fails_its_job_with_the_error_and_saves_nothing(jobs, shelf, tmp_path):
    code = "import sys\nprint('starting')\nraise ValueError('no data here')\n"
    script = make_model(tmp_path / "bad", {"boom.py": code}) / "boom.py"
    job = jobs.submit(script).wait(120)
    assert job.status == "failed"
    assert job.error == "ValueError: no data here"
    # Its output and the traceback from its own frame (the job's snapshot of boom.py) on.
    assert "starting\nTraceback" in job.logs() and 'script.py", line 3' in job.logs()
    assert job.outputs == [] and shelf.list() == []

    exits = make_model(tmp_path / "exit", {"quits.py": "import sys\nsys.exit(3)\n"}) / "quits.py"
    assert jobs.submit(exits).wait(120).error == "SystemExit: the script exited with status 3"


def test_what_is_not_a_runnable_script_is_refused_before_a_job_exists(jobs, tmp_path):
    broken = make_model(tmp_path / "s", {"broken.py": "def (:\n"}) / "broken.py"
    with pytest.raises(PipelineError, match="not valid Python"):
        jobs.submit(broken)
    good = make_model(tmp_path / "g", {"ok.py": "print(1)\n"}) / "ok.py"
    with pytest.raises(PipelineError, match="cannot be a parameter name"):
        jobs.submit(good, parameters={"no spaces": 1})
    with pytest.raises(PipelineError, match=r"\(--eval-data\) is for --pipeline full only"):
        jobs.submit(good, eval_data=tmp_path)
    with pytest.raises(PipelineError, match="runs a package folder"):
        jobs.submit(good, pipeline="train")
    assert jobs.list() == []


def test_a_script_job_is_stopped_by_cancel_and_by_its_timeout(jobs, shelf, tmp_path):
    sleeper = make_model(tmp_path / "z", {"sleeps.py": (
        "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
    )}) / "sleeps.py"  # fmt: skip
    job = jobs.submit(sleeper)
    wait_for(lambda: "sleeping" in job.logs(), timeout=60)
    assert job.cancel().status == "cancelled"
    assert "the job was cancelled" in job.logs()
    timed = jobs.submit(sleeper, timeout=2).wait(60)
    assert timed.status == "failed" and timed.error == "the job timed out after 2 s"
    assert shelf.list() == []
