"""A headless tour of modelshelf through its CLI: models, then a job, in a throw-away store.

Run with ``make demo``. Each step prints the command it runs and what it answered.
"""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def train(folder: Path, weight: float) -> None:
    """A tiny "model": a pickled dict and its config, as a notebook would leave them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pkl").write_bytes(pickle.dumps({"weight": weight, "bias": 0.5}))
    (folder / "config.json").write_text(f'{{"weight": {weight}}}\n')


def training_notebook(path: Path) -> None:
    """A parameterised notebook that "trains" from its input model into ML_MODEL_PATH."""
    import nbformat

    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("boost = 0.5")
    params.metadata["tags"] = ["parameters"]
    train = nbformat.v4.new_code_cell(
        "import os, pickle, pathlib\n"
        "folder = pathlib.Path(os.environ['ML_MODEL_PATH'])\n"
        "model = pickle.loads((folder / 'model.pkl').read_bytes())\n"
        "model['weight'] += boost\n"
        "(folder / 'model.pkl').write_bytes(pickle.dumps(model))\n"
        "print('trained:', model)"
    )
    book.cells = [params, train]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, path)


def run(*args: str) -> None:
    command = ["modelshelf", *args]
    print(f"\n$ {shlex.join(command)}", flush=True)
    subprocess.run([sys.executable, "-m", "modelshelf", *args], check=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="modelshelf-tour-") as work:
        work_dir = Path(work)
        os.environ["MODELSHELF_ROOT"] = str(work_dir / "store")
        os.environ["ML_MODEL_PATH"] = str(work_dir / "opt-ml-models")
        print(f"store: {os.environ['MODELSHELF_ROOT']}")

        train(Path(os.environ["ML_MODEL_PATH"]), weight=1.0)
        run("save", "churn", "--param", "weight=1.0", "--metric", "auc=0.81", "-m", "baseline")
        train(Path(os.environ["ML_MODEL_PATH"]), weight=2.0)
        run("save", "churn", "--param", "weight=2.0", "--metric", "auc=0.86", "--parent", "churn:1")
        run("ls")
        run("versions", "churn")
        run("show", "churn:2")
        run("diff", "churn:1", "churn:2")
        run("alias", "churn@production", "2")
        run("load", "churn@production", "--to", str(work_dir / "serving"))
        run("fsck")

        notebook = work_dir / "train.ipynb"
        training_notebook(notebook)
        run(
            "run",
            str(notebook),
            "-p",
            "boost",
            "0.25",
            "--model",
            "churn@production",
            "--name",
            "fine-tune",
            "--follow",
        )
        run("show", "Job - fine-tune")
        run("jobs")
        print("\nThe tour is over; its store was temporary and is gone.")


if __name__ == "__main__":
    main()
