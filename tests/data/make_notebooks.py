"""Rebuild the tiny notebooks the job tests run: ``python tests/data/make_notebooks.py``."""

from pathlib import Path

import nbformat

HERE = Path(__file__).parent


def notebook(parameters: str, *cells: str) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    book.cells = [tagged, *(nbformat.v4.new_code_cell(c) for c in cells)]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return book


TRAIN = notebook(
    "learning_rate = 0.5\nepochs: int = 2\nlabel = 'tiny'\nsleep_seconds = 0.0",
    """import json
import os
import pathlib

model_dir = pathlib.Path(os.environ["ML_MODEL_PATH"])
data_file = pathlib.Path(os.environ["ML_DATA_PATH"], "train.csv")
rows = data_file.read_text().split() if data_file.exists() else []
previous = model_dir / "model.json"
base = json.loads(previous.read_text())["weight"] if previous.exists() else 0.0""",
    """weight = base + learning_rate * epochs + len(rows)
worker = os.environ["ML_WORKER_INDEX"]
print(f"trained weight={weight} worker={worker}/{os.environ['ML_WORKER_COUNT']}")""",
    """body = {"weight": weight, "label": label, "job": os.environ["ML_JOB_ID"], "worker": worker}
(model_dir / "model.json").write_text(json.dumps(body))
artifacts = pathlib.Path(os.environ["artifacts_directory"])  # noqa: SIM112 - the seeds' name
(artifacts / "metrics.json").write_text(json.dumps({"weight": weight}))
print("saved to", model_dir)""",
)

FAILS = notebook(
    "divisor = 0",
    "print('about to fail')",
    "raise ValueError(f'bad value: {divisor}')",
    "print('never reached')",
)

SLEEPS = notebook(
    "seconds = 60.0",
    """import os
import pathlib
import time

pathlib.Path(os.environ["ML_MODEL_PATH"], "started").write_text("yes")
print("sleeping", flush=True)""",
    "time.sleep(seconds)",
)

if __name__ == "__main__":
    for name, book in (("train", TRAIN), ("fails", FAILS), ("sleeps", SLEEPS)):
        nbformat.write(book, HERE / f"{name}.ipynb")
