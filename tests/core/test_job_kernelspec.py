"""A notebook whose metadata names no kernel runs as a job on python3, as nbclient runs it."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from modelshelf import Shelf
from modelshelf.core.jobs.parameters import notebook_parameters

NO_KERNEL = "the notebook names no kernel; running it on python3"

# Which kernel ran: the custom kernelspec below sets this variable, python3 does not.
SAVE = """\
import json, os, pathlib
which = os.environ.get("MODELSHELF_TEST_KERNEL", "python3")
body = {"answer": answer, "kernel": which}
(pathlib.Path(os.environ["ML_MODEL_PATH"]) / "model.json").write_text(json.dumps(body))
print("ran on", which)
"""


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


def bare_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    """A notebook as ``nbformat.v4.new_notebook()`` writes it: no kernelspec, no language."""
    nb = nbformat.v4.new_notebook(cells=list(cells))
    assert "kernelspec" not in nb.metadata and "language_info" not in nb.metadata
    nbformat.write(nb, path)
    return path


@pytest.fixture
def custom_kernel(tmp_path, monkeypatch) -> str:
    """A second Python kernelspec, found through JUPYTER_PATH, that marks its environment."""
    folder = tmp_path / "jupyter" / "kernels" / "modelshelf-custom"
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "modelshelf test kernel",
        "language": "python",
        "env": {"MODELSHELF_TEST_KERNEL": "modelshelf-custom"},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "modelshelf-custom"


def output(shelf: Shelf, job) -> dict:
    with shelf.open(job.outputs[0], "model.json") as fh:
        return json.load(fh)


def test_notebook_without_kernelspec_runs_on_python3(jobs, shelf, tmp_path):
    notebook = bare_notebook(
        tmp_path / "bare.ipynb",
        nbformat.v4.new_code_cell("answer = 6 * 7"),
        nbformat.v4.new_code_cell(SAVE),
    )
    job = jobs.submit(notebook, name="bare")
    job.wait(120)
    assert job.status == "succeeded", job.logs()
    assert output(shelf, job) == {"answer": 42, "kernel": "python3"}
    logs = job.logs()
    assert logs.count(NO_KERNEL) == 1, logs
    assert "ran on python3" in logs


def test_an_explicit_kernel_still_wins(jobs, shelf, tmp_path, custom_kernel):
    notebook = bare_notebook(
        tmp_path / "bare.ipynb",
        nbformat.v4.new_code_cell("answer = 1"),
        nbformat.v4.new_code_cell(SAVE),
    )
    job = jobs.submit(notebook, name="custom", kernel=custom_kernel)
    job.wait(120)
    assert job.status == "succeeded", job.logs()
    assert output(shelf, job) == {"answer": 1, "kernel": custom_kernel}
    assert NO_KERNEL not in job.logs()


def run_notebook_process(
    tmp_path: Path, notebook: Path, parameters: dict, *extra: str
) -> tuple[subprocess.CompletedProcess, Path]:
    executed, error = tmp_path / "executed.ipynb", tmp_path / "error.json"
    command = [sys.executable, "-m", "modelshelf.core.jobs.notebook_process", str(notebook)]
    command += [str(executed), "--parameters", json.dumps(parameters), "--error-file", str(error)]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=120)
    return done, executed


def test_parameters_are_injected_into_a_notebook_without_kernelspec(tmp_path):
    # papermill needs a language to write the parameters cell, which a bare notebook lacks.
    parameters = nbformat.v4.new_code_cell("epochs = 2")
    parameters.metadata["tags"] = ["parameters"]
    notebook = bare_notebook(
        tmp_path / "bare.ipynb", parameters, nbformat.v4.new_code_cell("print('got', epochs)")
    )
    done, executed = run_notebook_process(tmp_path, notebook, {"epochs": 5})
    assert done.returncode == 0, done.stdout + done.stderr
    assert NO_KERNEL in done.stdout and "got 5" in done.stdout
    outputs = nbformat.read(executed, as_version=4).cells[-1].outputs
    assert [o.get("text") for o in outputs] == ["got 5\n"]


def test_a_parametrised_notebook_without_kernelspec_runs_as_a_job(jobs, shelf, tmp_path):
    parameters = nbformat.v4.new_code_cell("answer: int = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook = bare_notebook(tmp_path / "bare.ipynb", parameters, nbformat.v4.new_code_cell(SAVE))
    assert notebook_parameters(str(notebook))["answer"].type == "int"
    job = jobs.submit(notebook, name="bare-params", parameters={"answer": 7})
    job.wait(120)
    assert job.status == "succeeded", job.logs()
    assert output(shelf, job) == {"answer": 7, "kernel": "python3"}
    assert NO_KERNEL in job.logs()


def test_an_unknown_kernel_is_named(tmp_path):
    notebook = bare_notebook(tmp_path / "bare.ipynb", nbformat.v4.new_code_cell("x = 1"))
    done, _ = run_notebook_process(tmp_path, notebook, {"x": 2}, "--kernel", "no-such-kernel")
    assert done.returncode == 1
    assert "No such kernel named no-such-kernel" in done.stdout
    error = json.loads((tmp_path / "error.json").read_text())
    assert error["ename"] == "NoSuchKernel"


# -- the Dask worker's cancel poll (dask_executor._store_flag) -----------------------------------


def test_dask_cancel_poll_logs_an_unreachable_store_once(tmp_path, caplog):
    from modelshelf.core.jobs.dask_executor import _CANCEL_POLL, _store_flag

    key = "runs/job-1/cancel"
    with Shelf(tmp_path / "store") as reachable:
        reachable.backend.write(key, b"cancelled")
        assert _store_flag(reachable, key)() is True

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing answers there
    options = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
    }
    with Shelf("s3://unreachable/root", storage_options=options) as unreachable:
        check = _store_flag(unreachable, key)
        with caplog.at_level(logging.WARNING, logger="modelshelf.core.jobs.dask_executor"):
            assert check() is False  # the worker runs on
            time.sleep(_CANCEL_POLL)
            assert check() is False
    warnings = [r for r in caplog.records if r.name == "modelshelf.core.jobs.dask_executor"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert key in warnings[0].getMessage() and warnings[0].exc_info is not None
    assert f"127.0.0.1:{port}" in str(warnings[0].exc_info[1])
