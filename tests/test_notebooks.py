"""The example notebooks (``notebooks/*.ipynb``) run top to bottom in a real kernel, via nbval.

Each notebook runs as ``pytest --nbval-lax NOTEBOOK`` in a process of its own, on a fresh
store, state folder and ``ML_MODEL_PATH`` / ``ML_OUTPUT_PATH`` in ``tmp_path``, as CI would run
it by hand. ``--nbval-lax`` fails on any cell that raises, and compares the outputs of the
cells tagged ``nbval-check-output`` (the deterministic ones) with those saved in the notebook
(``python examples/tour.py --save notebooks`` refreshes them). A separate process keeps the
kernels, their jobs and servers away from this one, and this suite's ``-W error`` intact.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs import JobManager

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXAMPLES = {
    "01-save-a-model.ipynb",
    "02-run-a-job.ipynb",
    "03-deploy.ipynb",
    "04-batch-and-async.ipynb",
    "train.ipynb",  # the training notebook 02 runs as a job; it runs on its own too
}
# What would make a kernel believe it runs as a job, or under a Jupyter server.
FOREIGN = ("JPY_SESSION_NAME", "ML_JOB_ID", "ML_JOB_NAME", "MODELSHELF_JOB_PARAMETERS")


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN}
    env.update(
        MODELSHELF_ROOT=str(tmp_path / "store"),
        MODELSHELF_STATE_DIR=str(tmp_path / "state"),
        ML_MODEL_PATH=str(tmp_path / "ml" / "model"),
        ML_OUTPUT_PATH=str(tmp_path / "ml" / "output"),
        IPYTHONDIR=str(tmp_path / "ipython"),  # no history in the user's ~/.ipython
    )
    return env


def _stop_leftovers(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stop the deployments and jobs a failed notebook left running; return their names."""
    monkeypatch.setenv("MODELSHELF_STATE_DIR", env["MODELSHELF_STATE_DIR"])
    left: list[str] = []
    with Shelf(env["MODELSHELF_ROOT"]) as shelf:
        deployments, jobs = DeploymentManager(shelf), JobManager(shelf)
        try:
            for deployment in deployments.list():
                left.append(f"deployment {deployment.name}")
                deployment.stop()
            for job in jobs.list():
                if not job.finished:
                    left.append(f"job {job.name}")
                    job.cancel()
        finally:
            jobs.close()
            deployments.close()
    return left


def test_every_example_is_tested() -> None:
    assert {path.name for path in NOTEBOOKS} >= EXAMPLES


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _environment(tmp_path)
    command = [
        sys.executable, "-m", "pytest", "--nbval-lax", str(notebook),
        "--nbval-current-env",  # this interpreter's kernel, whatever kernelspecs the machine has
        "--nbval-cell-timeout=300", "-p", "no:cacheprovider", "-q", "--color=no",
    ]  # fmt: skip
    try:
        run = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540
        )
    finally:
        left = _stop_leftovers(env, monkeypatch)
    report = f"{run.stdout[-12000:]}\n{run.stderr[-4000:]}"
    assert run.returncode == 0, report
    assert " passed" in run.stdout.splitlines()[-1], report
    assert not left, f"{notebook.name} left running: {', '.join(left)}"
