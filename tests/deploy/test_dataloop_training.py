"""Dataloop's model adapter: a ``train`` pipeline fine-tunes a parent version into a new one
naming it, and the same ModelAdapter class serves the new version over real HTTP."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
from deploy_helpers import write_model
from test_realtime import realtime, wait_ready

from modelshelf.core.errors import PipelineError

pytestmark = pytest.mark.timeout(240)

SERVE_PY = textwrap.dedent(
    """
    import json, os
    import numpy as np

    class ModelAdapter:
        def __init__(self):
            self.weights = None
            self.configuration = {"lr": 0.1, "epochs": 5}

        def load(self, local_path):
            with open(os.path.join(local_path, "weights.json")) as fh:
                self.weights = np.array(json.load(fh)["w"])

        def save(self, local_path):
            with open(os.path.join(local_path, "weights.json"), "w") as fh:
                json.dump({"w": self.weights.tolist()}, fh)

        def train(self, data_path, output_path):
            rows = np.loadtxt(os.path.join(data_path, "rows.csv"), delimiter=",", ndmin=2)
            X, y = np.c_[rows[:, :-1], np.ones(len(rows))], rows[:, -1]
            w = self.weights if self.weights is not None else np.zeros(X.shape[1])
            lr, epochs = float(self.configuration["lr"]), int(self.configuration["epochs"])
            losses = []
            for _ in range(epochs):
                w = w - lr * X.T @ (X @ w - y) / len(y)
                losses.append(float(np.mean((X @ w - y) ** 2)))
            self.weights = w
            with open(os.path.join(output_path, "losses.json"), "w") as fh:
                json.dump(losses, fh)
            print("final loss", round(losses[-1], 6))

        def predict(self, batch):
            return [float(np.dot(self.weights, [*item, 1.0])) for item in batch]
    """
)


def _descend(w, rows, lr, epochs):
    """The adapter's gradient descent, done here to know what it must produce."""
    X, y = np.c_[rows[:, :-1], np.ones(len(rows))], rows[:, -1]
    for _ in range(epochs):
        w = w - lr * X.T @ (X @ w - y) / len(y)
    return w


def _data(folder: Path, rows: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    np.savetxt(folder / "rows.csv", rows, delimiter=",")
    return folder


def test_train_fine_tunes_the_parent_and_the_same_adapter_serves_the_child(
    jobs, shelf, tmp_path, serve
):
    adapter = write_model(tmp_path / "adapter", {"serve.py": SERVE_PY})
    first = np.array([[x, 2 * x + 1] for x in np.linspace(-1, 1, 9)])
    second = np.array([[x, 2 * x + 1.5] for x in np.linspace(0, 1, 5)])

    base = jobs.submit(adapter, name="line", pipeline="train", data=_data(tmp_path / "a", first),
                       parameters={"epochs": 200, "lr": 0.5}).wait(180)  # fmt: skip
    assert base.status == "succeeded", base.logs()
    parent = shelf.show("Job - line:1")
    assert parent.parent is None and sorted(f.path for f in parent.files) == [
        "serve.py",
        "weights.json",
    ]
    with shelf.open(parent.ref, "weights.json") as fh:
        parent_w = np.array(json.load(fh)["w"])
    assert np.allclose(parent_w, _descend(np.zeros(2), first, 0.5, 200))

    tuned = jobs.submit(adapter, name="line", pipeline="train", model=parent.ref,
                        data=_data(tmp_path / "b", second)).wait(180)  # fmt: skip
    assert tuned.status == "succeeded", tuned.logs()
    assert tuned.outputs == ["Job - line:2"]
    child = shelf.show("Job - line:2")
    assert child.parent == parent.ref  # fine-tuning lineage
    assert child.job["pipeline"] == "train" and child.job["kind"] == "dataloop"
    with shelf.open(child.ref, "weights.json") as fh:
        child_w = np.array(json.load(fh)["w"])
    # Five steps of the adapter's own configuration, from the parent's weights (not from zero).
    assert np.allclose(child_w, _descend(parent_w, second, 0.1, 5))
    assert not np.allclose(child_w, _descend(np.zeros(2), second, 0.1, 5))
    log = tuned.logs()
    assert log.index("ModelAdapter.load(") < log.index("ModelAdapter.train(") < log.index(
        "ModelAdapter.save(")  # fmt: skip
    losses = json.loads(Path(tuned.workspace, "output", "losses.json").read_text())
    assert len(losses) == 5 and "final loss" in log

    folder = shelf.load(child.ref, tmp_path / "served")
    url = serve(realtime(folder, "line"))
    wait_ready(url)
    answer = httpx.post(url + "/invocations", json={"instances": [[0.25], [2.0]]})
    assert answer.status_code == 200
    expected = [float(np.dot(child_w, [x, 1.0])) for x in (0.25, 2.0)]
    assert answer.json()["predictions"] == pytest.approx(expected)


def test_an_adapter_runs_only_the_train_pipeline(jobs, tmp_path):
    adapter = write_model(tmp_path / "adapter", {"serve.py": SERVE_PY})
    data = _data(tmp_path / "d", np.array([[0.0, 1.0]]))
    with pytest.raises(PipelineError, match="a Dataloop ModelAdapter runs the pipelines train"):
        jobs.submit(adapter, pipeline="full", data=data)
    assert jobs.list() == []
