"""Jobs: real notebooks executed by papermill in real kernels, in their own processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from store_helpers import make_model

from modelshelf import ModelInUseError, ModelNotFoundError, Shelf, SourceError
from modelshelf.core.jobs import JobError, JobManager, ParameterError
from modelshelf.core.processes import pid_alive
from support import wait_for

DATA = Path(__file__).parent.parent / "data"
TRAIN, FAILS, SLEEPS = DATA / "train.ipynb", DATA / "fails.ipynb", DATA / "sleeps.ipynb"


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


def test_job_trains_and_its_output_becomes_a_model_with_lineage(jobs, shelf, tmp_path):
    data = make_model(tmp_path / "data", {"train.csv": "1,2\n3,4\n5,6\n"})
    base = shelf.save("base", make_model(tmp_path / "base", {"model.json": '{"weight": 10}'}))
    job = jobs.submit(
        TRAIN, name="nightly", parameters={"epochs": 4, "label": "big"}, model="base", data=data
    )
    assert job.status in ("queued", "running")
    job.wait(120)
    assert job.status == "succeeded", job.logs()
    assert job.outputs == ["Job - nightly:1"]

    version = shelf.show("Job - nightly")
    assert version.parent == base.ref
    assert version.params == {
        "learning_rate": 0.5,
        "epochs": 4,
        "label": "big",
        "sleep_seconds": 0.0,
    }
    assert version.dataset["ref"] == str(data)
    assert version.dataset["sha256"] == shelf.fingerprint(data)["sha256"]
    assert version.job["id"] == job.id and version.notebook == str(TRAIN)
    with shelf.open(version.ref, "model.json") as fh:
        trained = json.load(fh)
    # 10 (input model) + 0.5 * 4 (parameters) + 3 rows (data): every input reached the notebook.
    assert trained == {"weight": 15.0, "label": "big", "job": job.id, "worker": "1"}
    executed = shelf.backend.read_bytes(version.job["executed_notebook"])
    assert "trained weight=15.0" in executed.decode()

    results = json.loads(Path(job.workspace, "_results.json").read_text())
    assert results == job.results
    assert results["parameters"]["inputs"]["model"] == "base"
    assert results["parameters"]["inputs"]["version"] == 1
    assert results["parameters"]["inputs"]["data_sha256"] == version.dataset["sha256"]
    summary = results["run_summary"]
    assert summary["outputs"]["model"] == "Job - nightly:1"
    assert summary["execution_time"] > 0 and summary["start_at"] < summary["end_at"]
    assert Path(summary["outputs"]["artifacts"], "metrics.json").exists()
    assert "Executing Cell" in job.logs() and "trained weight=15.0" in job.logs()
    # The input model in the store is untouched by the job's changes to its copy.
    with shelf.open("base", "model.json") as fh:
        assert json.load(fh) == {"weight": 10}


def test_parameters_are_checked_before_the_job_starts(jobs):
    with pytest.raises(ParameterError, match="no parameter nope"):
        jobs.submit(TRAIN, parameters={"nope": 1})
    with pytest.raises(ParameterError, match="epochs must be an int"):
        jobs.submit(TRAIN, parameters={"epochs": "many"})
    with pytest.raises(ParameterError, match="learning_rate must be a float"):
        jobs.submit(TRAIN, parameters={"learning_rate": "0.1x"}, parameters_from_strings=True)
    assert jobs.list() == []


def test_bad_submissions_are_clear_errors(jobs, tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        jobs.submit(tmp_path / "missing.ipynb")
    (tmp_path / "not.ipynb").write_text("hello")
    with pytest.raises(JobError, match="not a notebook"):
        jobs.submit(tmp_path / "not.ipynb")
    with pytest.raises(JobError, match="workers"):
        jobs.submit(TRAIN, workers=0)
    with pytest.raises(JobError, match="unknown executor"):
        jobs.submit(TRAIN, executor="slurm")
    with pytest.raises(JobError, match="scheduler"):
        jobs.submit(TRAIN, executor="dask")
    with pytest.raises(JobError, match="local to this machine"):
        jobs.submit(TRAIN, executor="dask", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ModelNotFoundError):
        jobs.submit(TRAIN, model="ghost")
    with pytest.raises(SourceError, match="data"):
        jobs.submit(TRAIN, data=tmp_path / "no-data")
    assert jobs.list() == []


def test_two_workers_make_two_models_and_two_jobs_stay_apart(jobs, shelf):
    pair = jobs.submit(TRAIN, name="pair", workers=2, parameters={"label": "pair"})
    solo = jobs.submit(TRAIN, name="solo", parameters={"label": "solo"})
    pair.wait(120)
    solo.wait(120)
    assert pair.status == solo.status == "succeeded", pair.logs() + solo.logs()
    assert sorted(pair.outputs) == ["Job - pair Worker 1:1", "Job - pair Worker 2:1"]
    workers = set()
    for ref in pair.outputs:
        with shelf.open(ref, "model.json") as fh:
            body = json.load(fh)
        assert body["job"] == pair.id and body["label"] == "pair"
        workers.add(body["worker"])
    assert workers == {"1", "2"}
    with shelf.open("Job - solo", "model.json") as fh:
        assert json.load(fh)["job"] == solo.id
    assert "[worker 2]" in pair.logs()
    assert pair.workspace != solo.workspace


def test_failing_notebook_keeps_its_traceback_and_makes_no_model(jobs, shelf):
    job = jobs.submit(FAILS, name="broken", parameters={"divisor": 7}).wait(120)
    assert job.status == "failed"
    # Cell 3 of the user's notebook: papermill's injected parameters cell is not counted.
    assert job.error == "ValueError: bad value: 7 in cell 3"
    executed = nbformat.read(job.executed_notebook(), as_version=4)
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors and errors[0].evalue == "bad value: 7"
    assert "ValueError" in job.logs()
    assert not any(s.name.startswith("Job - broken") for s in shelf.list())
    assert (
        job.results["status"] == "failed" and job.results["run_summary"]["outputs"]["models"] == []
    )


def test_cancel_stops_the_kernel_and_leaves_no_process(jobs):
    job = jobs.submit(SLEEPS, name="sleepy", parameters={"seconds": 120})
    started_flag = Path(job.workspace, "models", "started")
    wait_for(started_flag.exists)
    kernel_pid = int(Path(job.workspace, "kernel.pid").read_text())
    runner_pid = job.refresh()._record.runner_pid
    job.cancel()
    assert job.status == "cancelled"
    wait_for(lambda: not pid_alive(kernel_pid) and not pid_alive(runner_pid), timeout=15)
    assert job.outputs == []
    # The runner, ending after the cancel, still leaves its run summary.
    assert job.refresh().status == "cancelled"
    assert job.results["status"] == "cancelled" and job.ended_at >= job.started_at
    assert job.cancel().status == "cancelled"  # cancelling again is harmless


def test_timeout_fails_the_job(jobs):
    job = jobs.submit(SLEEPS, name="slow", parameters={"seconds": 120}, timeout="2s").wait(60)
    assert job.status == "failed"
    assert "timed out after 2 s" in job.error


def test_lease_blocks_deleting_the_input_model_while_the_job_runs(jobs, shelf, tmp_path):
    shelf.save("input", make_model(tmp_path / "in", {"model.json": '{"weight": 1}'}))
    job = jobs.submit(SLEEPS, name="holder", parameters={"seconds": 120}, model="input:1")
    wait_for(Path(job.workspace, "models", "started").exists)
    with pytest.raises(ModelInUseError, match="holder"):
        shelf.delete("input:1")
    job.cancel()
    shelf.delete("input:1")


def test_logs_can_be_followed_live(jobs):
    job = jobs.submit(TRAIN, name="follow")
    lines = list(job.logs(follow=True))
    assert job.finished
    text = "".join(lines)
    assert "Executing Cell" in text and text.rstrip().endswith("job succeeded")


def test_rerun_runs_the_same_snapshot_with_the_same_inputs(jobs, shelf, tmp_path):
    notebook = tmp_path / "train.ipynb"
    notebook.write_bytes(TRAIN.read_bytes())
    first = jobs.submit(notebook, name="again", parameters={"epochs": 3}).wait(120)
    notebook.write_text("this file changed after the job: the snapshot must be used")
    second = jobs.rerun(first.outputs[0]).wait(120)
    assert second.status == "succeeded", second.logs()
    assert second.outputs == ["Job - again:2"]
    assert second.spec.rerun_of == "Job - again:1"
    a, b = shelf.show("Job - again:1"), shelf.show("Job - again:2")
    assert a.params == b.params and a.params["epochs"] == 3
    with pytest.raises(JobError, match="not produced by a job"):
        jobs.rerun(shelf.save("plain", make_model(tmp_path / "p", {"a": "1"})).ref)


def test_concurrency_limit_queues_the_rest(shelf):
    manager = JobManager(shelf, max_concurrent_jobs=1)
    first = manager.submit(SLEEPS, name="first", parameters={"seconds": 120})
    second = manager.submit(TRAIN, name="second")
    wait_for(lambda: first.refresh().status == "running")
    time.sleep(1.0)
    assert second.refresh().status == "queued"
    first.cancel()
    assert second.wait(120).status == "succeeded"
    manager.close()


def test_a_queued_job_can_be_cancelled_before_it_starts(shelf):
    manager = JobManager(shelf, max_concurrent_jobs=1)
    blocker = manager.submit(SLEEPS, name="blocker", parameters={"seconds": 120})
    waiting = manager.submit(TRAIN, name="never")
    waiting.cancel()
    blocker.cancel()
    assert waiting.refresh().status == "cancelled"
    assert not any(s.name == "Job - never" for s in shelf.list())
    manager.close()


def test_a_dead_runner_fails_the_job_instead_of_hanging(jobs):
    job = jobs.submit(SLEEPS, name="orphan", parameters={"seconds": 120})
    wait_for(Path(job.workspace, "models", "started").exists)
    runner = job.refresh()._record.runner_pid
    kernel = int(Path(job.workspace, "kernel.pid").read_text())
    os.kill(runner, 9)
    wait_for(lambda: not pid_alive(runner))
    assert job.refresh().status == "failed"
    assert "died" in job.error
    os.killpg(kernel, 9)  # the runner could not clean up after itself


def test_other_processes_see_the_same_jobs(jobs, shelf):
    job = jobs.submit(TRAIN, name="shared").wait(120)
    other = JobManager(Shelf(shelf.backend.url))
    assert [j.id for j in other.list()] == [job.id]
    assert other.get(job.id).status == "succeeded"
    other.close()


def test_prune_removes_old_workspaces_but_keeps_models(jobs, shelf):
    job = jobs.submit(TRAIN, name="old").wait(120)
    assert jobs.prune(older_than="1h") == []
    assert jobs.prune(older_than=0) == [job.id]
    assert not Path(job.workspace).exists()
    assert shelf.show("Job - old").job["id"] == job.id
    with pytest.raises(ModelNotFoundError):
        jobs.get(job.id)


def _notebook(path: Path, *cells: str) -> Path:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, path)
    return path


def test_a_kernel_that_dies_fails_the_job(jobs, tmp_path):
    notebook = _notebook(tmp_path / "dies.ipynb", "print('bye')", "import os\nos._exit(1)")
    job = jobs.submit(notebook, name="crash").wait(120)
    assert job.status == "failed"
    assert "kernel died" in job.error


def test_training_data_can_be_saved_with_the_output(jobs, shelf, tmp_path):
    data = make_model(tmp_path / "data", {"train.csv": "1,2\n"})
    job = jobs.submit(TRAIN, name="keep", data=data, save_training_data=True).wait(120)
    assert job.status == "succeeded", job.logs()
    output = shelf.show("Job - keep")
    assert output.dataset["model"] == "Job - keep Data:1"
    with shelf.open("Job - keep Data", "train.csv") as fh:
        assert fh.read() == b"1,2\n"


def test_output_can_go_to_a_url_or_nowhere(jobs, shelf, tmp_path):
    writes_output = _notebook(
        tmp_path / "writes.ipynb",
        "import os, pathlib\n"
        "out = pathlib.Path(os.environ['ML_OUTPUT_PATH'])\n"
        "assert out != pathlib.Path(os.environ['ML_MODEL_PATH'])\n"
        "(out / 'sub').mkdir()\n(out / 'sub' / 'predictions.csv').write_text('1\\n')",
    )
    target = tmp_path / "exported"
    to_url = jobs.submit(writes_output, name="export", output=f"file://{target}")
    nothing = jobs.submit(TRAIN, name="scratch", output=None)
    assert to_url.wait(120).status == "succeeded", to_url.logs()
    assert nothing.wait(120).status == "succeeded", nothing.logs()
    assert to_url.outputs == [f"file://{target}"]
    assert (target / "sub" / "predictions.csv").read_text() == "1\n"
    assert nothing.outputs == []
    assert not any(s.name in ("Job - export", "Job - scratch") for s in shelf.list())


LAUNCH_AND_EXIT = """
import sys
from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
job = JobManager(Shelf(sys.argv[1])).submit(sys.argv[2], name="orphaned-launcher")
print(job.id)
"""


def test_a_job_outlives_the_process_that_launched_it(shelf, tmp_path):
    import subprocess
    import sys

    launched = subprocess.run(
        [sys.executable, "-c", LAUNCH_AND_EXIT, shelf.backend.url, str(TRAIN)],
        capture_output=True,
        text=True,
        check=True,
    )
    manager = JobManager(shelf)
    job = manager.get(launched.stdout.strip()).wait(120)
    assert job.status == "succeeded", job.logs()
    assert job.outputs == ["Job - orphaned-launcher:1"]
    manager.close()
