"""Lineage: the notebook's path and the job, recorded by ``%model save`` without being typed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelshelf import Shelf
from modelshelf.magics import lineage
from modelshelf.magics.lineage import (
    detect_lineage,
    is_watched,
    job_parameters,
    notebook_path,
    papermill_notebook,
    running_job,
)


@pytest.fixture
def no_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process's parent is no papermill; make sure of it."""
    monkeypatch.setattr(lineage, "_papermill_parent", lambda: None)


def test_notebook_path_prefers_what_the_frontend_set(monkeypatch, no_parent) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert notebook_path({}) is None
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/from-server.ipynb")
    assert notebook_path({}) == "/work/from-server.ipynb"
    assert notebook_path({"__session__": "/work/session.ipynb"}) == "/work/session.ipynb"
    both = {"__session__": "/work/session.ipynb", "__vsc_ipynb_file__": "/work/vscode.ipynb"}
    assert notebook_path(both) == "/work/vscode.ipynb"
    assert notebook_path({"__session__": ""}) == "/work/from-server.ipynb"


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        (["/venv/bin/python", "/venv/bin/papermill", "in.ipynb", "out.ipynb"], "/w/in.ipynb"),
        (
            ["python", "-m", "papermill", "-p", "a", "1", "sub/in.ipynb", "o.ipynb"],
            "/w/sub/in.ipynb",
        ),
        (["papermill", "--cwd", "x", "/abs/in.ipynb", "-"], "/abs/in.ipynb"),
        (["papermill", "s3://bucket/in.ipynb", "out.ipynb"], "s3://bucket/in.ipynb"),
        (["/usr/bin/python", "-m", "ipykernel_launcher", "-f", "k.json"], None),
        (["jupyter-lab"], None),
    ],
)
def test_papermill_command_lines(argv: list[str], found: str | None) -> None:
    assert papermill_notebook(argv, "/w") == found


def test_running_job_and_its_parameters(monkeypatch) -> None:
    for key in ("ML_JOB_ID", "ML_WORKER_INDEX", "ML_WORKER_COUNT", "MODELSHELF_JOB_PARAMETERS"):
        monkeypatch.delenv(key, raising=False)
    assert running_job() is None and job_parameters() == {}
    monkeypatch.setenv("ML_JOB_ID", "20250101-000000-abcdef")
    monkeypatch.setenv("ML_JOB_NAME", "train")
    monkeypatch.setenv("MODELSHELF_JOB_PARAMETERS", json.dumps({"lr": 0.5, "epochs": 2}))
    assert running_job() == {
        "id": "20250101-000000-abcdef",
        "name": "train",
        "parameters": {"lr": 0.5, "epochs": 2},
    }
    monkeypatch.setenv("ML_WORKER_INDEX", "2")
    monkeypatch.setenv("ML_WORKER_COUNT", "3")
    assert running_job()["worker"] == 2 and running_job()["workers"] == 3
    monkeypatch.setenv("MODELSHELF_JOB_PARAMETERS", "{mangled")
    assert job_parameters() == {}  # lineage never stops a save


def test_detect_lineage_uses_the_jobs_notebook_when_the_kernel_cannot_tell(
    monkeypatch, no_parent
) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setenv("ML_JOB_ID", "j1")
    monkeypatch.setenv("MODELSHELF_JOB_PARAMETERS", '{"lr": 1}')
    found = detect_lineage({}, job_notebook="/nb/train.ipynb")
    assert found.notebook == "/nb/train.ipynb" and found.params == {"lr": 1}
    assert found.job is not None and found.job["notebook"] == "/nb/train.ipynb"


def test_is_watched(monkeypatch, no_parent) -> None:
    monkeypatch.delenv("ML_JOB_ID", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not is_watched({})  # pytest's stdout is no TTY
    assert is_watched({"__vsc_ipynb_file__": "/a.ipynb"})
    monkeypatch.setenv("JPY_SESSION_NAME", "/a.ipynb")
    assert is_watched({})
    monkeypatch.setenv("ML_JOB_ID", "j1")
    assert not is_watched({})


def test_save_in_a_job_kernel_records_job_params_and_notebook(
    ip, folder: Path, store: Path, monkeypatch, no_parent
) -> None:
    monkeypatch.setenv("ML_JOB_ID", "20250101-000000-abcdef")
    monkeypatch.setenv("ML_JOB_NAME", "nightly")
    monkeypatch.setenv("MODELSHELF_JOB_PARAMETERS", json.dumps({"lr": 0.5, "label": "a"}))
    ip.user_ns["__session__"] = "/work/notebooks/train.ipynb"
    version = ip.run_line_magic("model", f"save churn --from {folder} --param lr=0.25")
    assert version.notebook == "/work/notebooks/train.ipynb"
    assert version.params == {"lr": 0.25, "label": "a"}  # --param wins over the job's
    assert version.job == {
        "id": "20250101-000000-abcdef",
        "name": "nightly",
        "parameters": {"lr": 0.5, "label": "a"},
    }
    with Shelf(store) as shelf:  # recorded in the manifest, not only on the object
        stored = shelf.show("churn:1")
    assert stored.job == version.job and stored.notebook == version.notebook
    assert "nightly (20250101-000000-abcdef)" in version._repr_html_()


def test_save_outside_a_job_records_only_the_notebook(ip, folder: Path, no_parent) -> None:
    assert "ML_JOB_ID" not in os.environ
    ip.user_ns["__vsc_ipynb_file__"] = "/work/vscode.ipynb"
    version = ip.run_line_magic("model", f"save churn --from {folder}")
    assert version.notebook == "/work/vscode.ipynb" and version.job is None
    assert version.params == {}
