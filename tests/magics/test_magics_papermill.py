"""A notebook that uses the magics, executed with the ``papermill`` CLI, produces a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from modelshelf import Shelf

PAPERMILL = Path(sys.executable).parent / "papermill"

CELLS = [
    "%load_ext modelshelf",
    """import os, pathlib
folder = pathlib.Path(os.environ["ML_MODEL_PATH"])
folder.mkdir(parents=True, exist_ok=True)
(folder / "model.txt").write_text("trained")""",
    "m = %model save from-papermill --metric score=0.5 -m 'made by papermill'\nm",
    "%model ls",
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def test_papermill_run_saves_a_model_with_its_notebook(tmp_path: Path) -> None:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    book.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(book, tmp_path / "in.ipynb")
    store = tmp_path / "store"
    env = {
        **os.environ,
        "MODELSHELF_ROOT": str(store),
        "ML_MODEL_PATH": str(tmp_path / "ml-model"),
        "MODELSHELF_STATE_DIR": str(tmp_path / "state"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    for key in ("JPY_SESSION_NAME", "ML_JOB_ID", "MODELSHELF_JOB_PARAMETERS"):
        env.pop(key, None)
    # Relative paths, as a user types them: the recorded path is made absolute.
    run = subprocess.run(
        [str(PAPERMILL), "in.ipynb", "out.ipynb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr

    with Shelf(store) as shelf:
        version = shelf.show("from-papermill")
    assert version.ref == "from-papermill:1" and [f.path for f in version.files] == ["model.txt"]
    assert version.notebook == str(tmp_path / "in.ipynb")
    assert version.metrics == {"score": 0.5} and version.job is None

    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    saved, listed = executed.cells[2].outputs, executed.cells[3].outputs
    # Plain text for papermill's output, and no progress bars or warnings in it.
    assert [o["output_type"] for o in saved] == ["execute_result"]
    # The version's card, as the CLI prints it: the lineage survives in the executed notebook.
    plain = saved[0]["data"]["text/plain"]
    assert plain == version.card().text()
    assert "ref:      from-papermill:1" in plain and "metrics:  score=0.5" in plain
    assert "<table" in saved[0]["data"]["text/html"]
    assert listed[0]["data"]["text/plain"].splitlines()[1].split()[:3] == [
        "from-papermill",
        "1",
        "1",
    ]
    for cell in executed.cells:
        assert all(o.get("name") != "stderr" for o in cell.outputs), cell.outputs


def test_a_job_notebook_records_its_job_and_parameters(ip, tmp_path: Path) -> None:
    from magic_helpers import magics_of

    book = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("lr = 0.1\nlabel = 'default'")
    parameters.metadata["tags"] = ["parameters"]
    book.cells = [
        parameters,
        nbformat.v4.new_code_cell("%load_ext modelshelf"),
        nbformat.v4.new_code_cell(CELLS[1]),
        nbformat.v4.new_code_cell("%model save from-job --param label=typed"),
    ]
    book.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(book, tmp_path / "job.ipynb")
    job = ip.run_line_magic("job", f"run {tmp_path / 'job.ipynb'} -p lr 0.3 --name nightly --wait")
    try:
        assert job.status == "succeeded", job.error
        version = ip.run_line_magic("model", "show from-job")
    finally:
        for running in magics_of(ip).jobs.list():
            if not running.finished:
                running.cancel()
    assert version.params == {"lr": 0.3, "label": "typed"}  # --param wins over the job's
    assert version.job is not None
    assert (version.job["id"], version.job["name"]) == (job.id, "nightly")
    assert version.job["parameters"] == {"lr": 0.3, "label": "default"}
    # The kernel ran the job's snapshot; the job's record gave the notebook's real path.
    assert version.notebook == str(tmp_path / "job.ipynb")
