"""A throw-away world for commands run in processes of their own (a plain module): its
environment, and what they left running in its store (tests/test_notebooks.py and
tests/test_readme.py run the examples users copy this way)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs import JobManager

# What would make a kernel believe it runs as a job, or under a Jupyter server.
FOREIGN = ("JPY_SESSION_NAME", "ML_JOB_ID", "ML_JOB_NAME", "MODELSHELF_JOB_PARAMETERS")


def environment(folder: Path) -> dict[str, str]:
    """This process's environment, with a fresh store, state folder, ``ML_MODEL_PATH`` /
    ``ML_OUTPUT_PATH`` and IPython folder under ``folder``."""
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN}
    env.update(
        MODELSHELF_ROOT=str(folder / "store"),
        MODELSHELF_STATE_DIR=str(folder / "state"),
        ML_MODEL_PATH=str(folder / "ml" / "model"),
        ML_OUTPUT_PATH=str(folder / "ml" / "output"),
        IPYTHONDIR=str(folder / "ipython"),  # no history in the user's ~/.ipython
    )
    return env


def stop_leftovers(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stop the deployments and jobs left running in ``env``'s store; return their names."""
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
