"""A real ``jupyter lab`` for the browser tests: started over a temporary store, stopped after.

Shared by every test under tests/ui (imported as a module; fixtures live in conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs import JobManager
from support import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "modelshelf-ui-test-token"
# Generous: a cold JupyterLab on 2 busy cores.
START_TIMEOUT = 90

# A model folder's serve.py: a model that can be deployed and answers sum(row) + 10.
ADDER = """\
def load(model_dir):
    return 10

def predict(model, data):
    return [sum(row) + model for row in data]
"""


def write_notebook(path: Path, parameters: str, body: str) -> None:
    """A python3 notebook: a cell tagged ``parameters``, then ``body``."""
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(
        cells=[cell, nbformat.v4.new_code_cell(body)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}},
    )  # fmt: skip
    nbformat.write(book, str(path))


def stop_leftovers(store: Path) -> None:
    """Deployments and jobs outlive the server on purpose: stop what a failure left running."""
    with Shelf(str(store)) as shelf:
        deployments, jobs = DeploymentManager(shelf), JobManager(shelf)
        try:
            for deployment in deployments.list():
                deployment.stop()
            for job in jobs.list():
                if not job.finished:
                    job.cancel()
        finally:
            jobs.close()
            deployments.close()


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@contextmanager
def running_lab(tmp_path: Path, store: Path, root: Path, *extra_args: str) -> Iterator[str]:
    """Run ``jupyter lab`` on ``root`` over ``store`` (MODELSHELF_ROOT already points there);
    yield its base URL, then stop it and whatever jobs and deployments it left running."""
    # Config, runtime, settings and workspaces in tmp; JUPYTER_PATH and the data dirs stay,
    # so the labextension installed in this environment is found.
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # No "would you like news?" toast over the UI, and no attempt to fetch any.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0", *extra_args,
    ]  # fmt: skip
    if os.getuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter-lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/api/status?token={TOKEN}", process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            stop_leftovers(store)
    print(f"jupyter lab log: {log}")
