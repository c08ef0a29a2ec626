"""REST over jobs: real notebooks run by papermill in a real kernel, submitted over HTTP."""

from __future__ import annotations

import pytest

from conftest import TRAIN, write_notebook

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def train_notebook(jp_root_dir):
    return write_notebook(jp_root_dir / "work" / "train.ipynb", "epochs = 2\nlr: float = 0.1",
                          TRAIN)  # fmt: skip


async def test_notebook_parameters_for_the_run_dialog(api, train_notebook):
    status, body = await api("GET", "notebook-parameters", params={"path": "work/train.ipynb"})
    assert status == 200
    declared = {p["name"]: p for p in body["parameters"]}
    assert declared["epochs"]["type"] == "int" and declared["epochs"]["default"] == 2
    assert declared["lr"]["type"] == "float"


@pytest.mark.parametrize(
    ("path", "status"),
    [("../train.ipynb", 400), ("/etc/passwd", 400), ("work/missing.ipynb", 404),
     ("work/%2e%2e/%2e%2e/x.ipynb", 404), ("work", 400), ("", 400)],
)  # fmt: skip
async def test_notebook_paths_stay_under_the_server_root(api, train_notebook, path, status):
    code, error = await api("GET", "notebook-parameters", params={"path": path})
    assert code == status, error


async def test_run_a_notebook_as_a_job_and_follow_it(api, wait_for, train_notebook, shelf):
    status, job = await api(
        "POST",
        "jobs",
        body={"notebook": "work/train.ipynb", "name": "ui-train", "parameters": {"epochs": 3}},
    )
    assert status == 201, job
    assert job["status"] in ("queued", "running") and job["parameters"]["epochs"] == 3
    job = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "succeeded", job
    assert job["outputs"] == ["Job - ui-train:1"]
    assert shelf.open("Job - ui-train:1", "weights.txt").read() == b"epochs=3 lr=0.1"
    _, listing = await api("GET", "jobs")
    assert listing["jobs"][0]["id"] == job["id"]
    _, succeeded = await api("GET", "jobs", params={"status": "succeeded"})
    assert [j["id"] for j in succeeded["jobs"]] == [job["id"]]

    # The log, whole and then incrementally from the cursor.
    _, logs = await api("GET", "jobs", job["id"], "logs")
    assert "trained for 3 epochs" in logs["text"] and logs["finished"] is True
    _, rest = await api("GET", "jobs", job["id"], "logs", params={"cursor": logs["cursor"]})
    assert rest["text"] == "" and rest["cursor"] == logs["cursor"]

    status, notebook = await api("GET", "jobs", job["id"], "notebook")
    assert status == 200 and notebook["nbformat"] == 4
    outputs = ["".join(o.get("text", "")) for c in notebook["cells"] for o in c.get("outputs", [])]
    assert any("trained for 3 epochs" in text for text in outputs)


async def test_a_running_job_is_cancelled(api, wait_for, jp_root_dir):
    write_notebook(jp_root_dir / "slow.ipynb", "seconds = 60", "import time; time.sleep(seconds)")
    _, job = await api("POST", "jobs", body={"notebook": "slow.ipynb"})
    await wait_for(("jobs", job["id"]), lambda j: j["status"] == "running")
    status, job = await api("POST", "jobs", job["id"], "cancel")
    assert status == 200 and job["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"notebook": "work/train.ipynb", "parameters": {"epoch": 3}}, "epoch"),
        ({"notebook": "work/train.ipynb", "parameters": {"epochs": "many"}}, "epochs"),
        ({"notebook": "work/train.ipynb", "model": "no-such-model"}, "no-such-model"),
        ({"notebook": "work/train.ipynb", "output": "/tmp/out"}, "output"),
        ({"notebook": "work/train.ipynb", "data": "/etc"}, "outside"),
        ({"notebook": "../train.ipynb"}, "outside"),
        ({"parameters": {}}, "notebook"),
        ({"notebook": "work/train.ipynb", "timeout": -1}, "timeout"),
    ],
)
async def test_bad_job_requests_are_refused_before_anything_runs(api, train_notebook, body,
                                                                 fragment):  # fmt: skip
    status, error = await api("POST", "jobs", body=body)
    assert status in (400, 404), error
    assert fragment in error["message"]
    _, listing = await api("GET", "jobs")
    assert listing["jobs"] == []


async def test_bad_log_cursor_and_status_filter_are_400(api):
    status, _ = await api("GET", "jobs", params={"status": "exploded"})
    assert status == 400
    status, _ = await api("GET", "jobs", "x", "logs", params={"cursor": "a,b"})
    assert status == 400


SCRIPT = """\
import argparse, json, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
args = parser.parse_args()
out = pathlib.Path(os.environ["ML_OUTPUT_PATH"])
out.mkdir(parents=True, exist_ok=True)
(out / "weights.txt").write_text(f"epochs={args.epochs} {json.loads(os.environ['ML_PARAMETERS'])}")
print("trained for", args.epochs, "epochs")
"""

PACKAGE = """\
import os

class Main:
    def train(self, training_directory):
        self.rows = sum(1 for _ in open(os.path.join(training_directory, "rows.csv")))

    def evaluate(self, evaluation_directory):
        return 1.0

    def save(self):
        open("rows.txt", "w").write(str(self.rows))
"""


async def test_a_script_and_a_training_package_run_as_jobs(api, wait_for, jp_root_dir, shelf):
    (jp_root_dir / "train.py").write_text(SCRIPT)
    status, job = await api(
        "POST", "jobs", body={"notebook": "train.py", "name": "script", "parameters": {"epochs": 4}}
    )
    assert status == 201, job
    job = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "succeeded" and job["kind"] == "script", job
    assert shelf.open("Job - script:1", "weights.txt").read() == b"epochs=4 {'epochs': 4}"

    package, data = jp_root_dir / "pkg", jp_root_dir / "data"
    package.mkdir()
    data.mkdir()
    (package / "train.py").write_text(PACKAGE)
    (data / "rows.csv").write_text("1\n2\n3\n")
    status, error = await api("POST", "jobs", body={"notebook": "pkg", "data": "data"})
    assert status == 400 and "--pipeline" in error["message"], error
    status, job = await api(
        "POST", "jobs", body={"notebook": "pkg", "pipeline": "train", "data": "data"}
    )
    assert status == 201, job
    job = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "succeeded" and job["pipeline"] == "train", job
    assert shelf.open("Job - pkg:1", "rows.txt").read() == b"3"
