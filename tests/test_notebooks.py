"""The example notebooks (``notebooks/*.ipynb``) run top to bottom in a real kernel, via nbval.

Each notebook runs as ``pytest --nbval-lax NOTEBOOK`` in a process of its own, on a fresh
store, state folder and ``ML_MODEL_PATH`` / ``ML_OUTPUT_PATH`` in ``tmp_path``, as CI would run
it by hand. ``--nbval-lax`` fails on any cell that raises, and compares the outputs of the
cells tagged ``nbval-check-output`` (the deterministic ones) with those saved in the notebook
(``python examples/tour.py --save notebooks`` refreshes them). A separate process keeps the
kernels, their jobs and servers away from this one, and this suite's ``-W error`` intact.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import environment, stop_leftovers

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXAMPLES = {
    "01-save-a-model.ipynb",
    "02-run-a-job.ipynb",
    "03-deploy.ipynb",
    "04-batch-and-async.ipynb",
    "train.ipynb",  # the training notebook 02 runs as a job; it runs on its own too
}


def test_every_example_is_tested() -> None:
    assert {path.name for path in NOTEBOOKS} >= EXAMPLES


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(tmp_path)
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
        left = stop_leftovers(env, monkeypatch)
    report = f"{run.stdout[-12000:]}\n{run.stderr[-4000:]}"
    assert run.returncode == 0, report
    assert " passed" in run.stdout.splitlines()[-1], report
    assert not left, f"{notebook.name} left running: {', '.join(left)}"
