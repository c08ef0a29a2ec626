"""UiPath AI Center's training pipelines (train, evaluate, full) over a real package folder,
run as jobs in real processes, training a real scikit-learn model."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from store_helpers import make_model, tree

from modelshelf import Shelf
from modelshelf.core.errors import PipelineError

pytestmark = pytest.mark.timeout(240)

TRAIN_PY = textwrap.dedent(
    """
    import os
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from features import read_rows

    class Main:
        def __init__(self):
            # As AI Center runs it: from the package root, where save() put the model.
            self.model = joblib.load("model.joblib") if os.path.exists("model.joblib") else None

        def process_data(self, input_directory):
            rows = np.loadtxt(os.path.join(input_directory, "data.csv"), delimiter=",")
            cut = int(len(rows) * 0.75)
            np.savetxt(os.path.join(os.environ["training_data_directory"], "data.csv"),
                       rows[:cut], delimiter=",")
            np.savetxt(os.path.join(os.environ["evaluation_data_directory"], "held.csv"),
                       rows[cut:], delimiter=",")

        def train(self, training_directory):
            X, y = read_rows(training_directory)
            self.model = LogisticRegression(C=float(os.environ["C"])).fit(X, y)
            print("trained on", len(y), "rows from", training_directory)

        def evaluate(self, evaluation_directory):
            X, y = read_rows(evaluation_directory)
            return float(self.model.score(X, y))

        def save(self):
            joblib.dump(self.model, "model.joblib")
            with open(os.path.join(os.environ["artifacts_directory"], "saved.txt"), "w") as fh:
                fh.write(os.getcwd())
    """
)
FEATURES_PY = textwrap.dedent(
    """
    import glob, os
    import numpy as np

    def read_rows(folder):
        rows = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2)
                          for f in sorted(glob.glob(os.path.join(folder, "*.csv")))])
        return rows[:, :-1], rows[:, -1]
    """
)
MAIN_PY = textwrap.dedent(
    """
    import joblib

    class Main:
        def __init__(self):
            self.model = joblib.load("model.joblib")

        def predict(self, input):
            return str(self.model.predict([[float(input)]])[0])
    """
)


def _rows(xs, flipped=()):
    return np.array([[x, float(x >= 10) if i not in flipped else float(x < 10)]
                     for i, x in enumerate(xs)])  # fmt: skip


def _csv(folder: Path, name: str, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / name, rows, delimiter=",")
    return folder


def _expected_score(train_rows, eval_rows, C=1.0) -> float:
    """What the package should score, computed here with the same library."""
    model = LogisticRegression(C=C).fit(train_rows[:, :-1], train_rows[:, -1])
    return float(model.score(eval_rows[:, :-1], eval_rows[:, -1]))


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


@pytest.fixture
def package(tmp_path):
    return make_model(tmp_path / "churn-pkg", {
        "train.py": TRAIN_PY, "features.py": FEATURES_PY, "main.py": MAIN_PY,
        "requirements.txt": "scikit-learn\n",
    })  # fmt: skip


TRAIN_ROWS = _rows(range(0, 20))
EVAL_ROWS = _rows([1, 4, 8, 9.4, 11, 13, 15, 19], flipped=(1, 5))


def test_train_makes_a_new_version_holding_the_package_as_the_run_left_it(
    jobs, shelf, package, tmp_path
):
    data = _csv(tmp_path / "train-data", "data.csv", TRAIN_ROWS)
    job = jobs.submit(package, pipeline="train", data=data, parameters={"C": 0.5},
                      save_training_data=True).wait(180)  # fmt: skip
    assert job.status == "succeeded", job.logs()
    assert job.outputs == ["Job - churn-pkg:1"]
    version = shelf.show("Job - churn-pkg:1")
    assert sorted(f.path for f in version.files) == [
        "features.py",
        "main.py",
        "model.joblib",
        "requirements.txt",
        "train.py",
    ]  # its code and what save() wrote; no __pycache__ left by importing train.py
    assert version.metrics == {} and shelf.evaluations(version.ref) == []
    assert version.job["kind"] == "uipath" and version.job["pipeline"] == "train"
    assert version.params == {"C": 0.5}
    loaded = Path(shelf.load(version.ref, tmp_path / "loaded"))
    model = joblib.load(loaded / "model.joblib")
    assert model.C == 0.5  # the parameter reached train() as an environment variable
    expected = LogisticRegression(C=0.5).fit(TRAIN_ROWS[:, :-1], TRAIN_ROWS[:, -1])
    assert (model.coef_ == expected.coef_).all()
    assert "trained on 20 rows from " + str(job.workspace) in job.logs()
    assert "Main.train(" in job.logs() and "Main.save()" in job.logs()
    # The package's serving side loads what save() wrote, from the version's own folder.
    cwd = os.getcwd()
    try:
        os.chdir(loaded)
        namespace: dict = {}
        exec((loaded / "main.py").read_text(), namespace)
        assert namespace["Main"]().predict("15") == "1.0"
    finally:
        os.chdir(cwd)
    summary = job.results["run_summary"]
    assert Path(summary["outputs"]["artifacts"], "saved.txt").read_text().endswith("models")
    saved_data = shelf.show("Job - churn-pkg Data")  # save_training_data
    assert tree(Path(shelf.load(saved_data.ref, tmp_path / "d"))) == tree(data)
    assert job.results["parameters"]["pipeline"] == "train"
    # The original package is untouched: the run worked in its own copy.
    assert sorted(p.name for p in package.iterdir()) == [
        "features.py",
        "main.py",
        "requirements.txt",
        "train.py",
    ]


def test_evaluate_keeps_the_score_with_the_version_and_makes_none(jobs, shelf, package, tmp_path):
    data = _csv(tmp_path / "train-data", "data.csv", TRAIN_ROWS)
    assert jobs.submit(package, pipeline="train", data=data, parameters={"C": 1.0}).wait(
        180).status == "succeeded"  # fmt: skip
    evaluation = _csv(tmp_path / "eval-data", "data.csv", EVAL_ROWS)
    manifest = shelf.backend.read_bytes("models/Job - churn-pkg/1.json")
    job = jobs.submit(package, pipeline="evaluate", model="Job - churn-pkg:1", data=evaluation,
                      parameters={"C": 1.0}).wait(180)  # fmt: skip
    assert job.status == "succeeded", job.logs()
    assert job.outputs == [] and shelf.versions("Job - churn-pkg") == [shelf.show(
        "Job - churn-pkg:1")]  # fmt: skip
    assert shelf.backend.read_bytes("models/Job - churn-pkg/1.json") == manifest
    expected = _expected_score(TRAIN_ROWS, EVAL_ROWS)
    assert 0 < expected < 1
    [record] = shelf.evaluations("Job - churn-pkg:1")
    assert record.score == pytest.approx(expected)
    assert record.pipeline == "evaluate" and record.job == job.id
    assert record.data == str(evaluation)
    assert record.data_hash == shelf.fingerprint(evaluation)["sha256"]
    assert job.results["run_summary"]["outputs"]["evaluation"]["score"] == record.score
    shown = shelf.show("Job - churn-pkg:1", evaluations=True).card().text()
    assert f"{record.score:g}" in shown and "evaluate" in shown

    # Rerun runs the train job's package snapshot again, on the same data, as the same pipeline.
    again = jobs.rerun("Job - churn-pkg:1").wait(180)
    assert again.status == "succeeded", again.logs()
    assert again.spec.pipeline == "train" and again.outputs == ["Job - churn-pkg:2"]
    with (
        shelf.open("Job - churn-pkg:1", "model.joblib") as a,
        shelf.open("Job - churn-pkg:2", "model.joblib") as b,
    ):
        assert (joblib.load(a).coef_ == joblib.load(b).coef_).all()


def test_full_processes_trains_scores_and_saves_a_version_carrying_its_score(
    jobs, shelf, package, tmp_path
):
    data = _csv(tmp_path / "all-data", "data.csv", _rows(range(0, 20), flipped=(16, 17)))
    job = jobs.submit(package, pipeline="full", data=data, parameters={"C": 1.0}).wait(180)
    assert job.status == "succeeded", job.logs()
    assert job.outputs == ["Job - churn-pkg:1"]
    rows = np.loadtxt(data / "data.csv", delimiter=",")
    expected = _expected_score(rows[:15], rows[15:])  # process_data's 75/25 split
    version = shelf.show("Job - churn-pkg:1")
    assert version.metrics == {"score": pytest.approx(expected)}
    [record] = shelf.evaluations(version.ref)
    assert record.pipeline == "full" and record.score == version.metrics["score"]
    assert record.data is None  # process_data wrote it
    held = Path(job.workspace, "evaluation_data")
    assert record.data_hash == shelf.fingerprint(held)["sha256"]
    assert "trained on 15 rows" in job.logs()
    log = job.logs()
    assert log.index("Main.process_data(") < log.index("Main.train(") < log.index(
        "Main.evaluate(") < log.index("Main.save()")  # fmt: skip

    # With evaluation data given, evaluate() sees it (beside what process_data adds there).
    extra = _csv(tmp_path / "extra-eval", "extra.csv", EVAL_ROWS)
    again = jobs.submit(package, pipeline="full", data=data, eval_data=extra,
                        parameters={"C": 1.0}).wait(180)  # fmt: skip
    assert again.status == "succeeded", again.logs()
    second = shelf.show("Job - churn-pkg:2", evaluations=True)
    expected = _expected_score(rows[:15], np.vstack([EVAL_ROWS, rows[15:]]))
    assert second.metrics["score"] == pytest.approx(expected)
    assert second.evaluations[0].data == str(extra)


def test_pipelines_are_refused_when_the_package_or_inputs_cannot_run_them(jobs, tmp_path, package):
    data = _csv(tmp_path / "d", "data.csv", TRAIN_ROWS)
    with pytest.raises(PipelineError, match="is a folder: run it as a training pipeline"):
        jobs.submit(package, data=data)
    with pytest.raises(PipelineError, match="evaluate pipeline scores a version: give --model"):
        jobs.submit(package, pipeline="evaluate", data=data)
    with pytest.raises(PipelineError, match="needs --data"):
        jobs.submit(package, pipeline="train")
    with pytest.raises(PipelineError, match="runs the pipelines train, evaluate, full, not 'x'"):
        jobs.submit(package, pipeline="x", data=data)
    with pytest.raises(PipelineError, match="--eval-data is for the full pipeline"):
        jobs.submit(package, pipeline="train", data=data, eval_data=data)
    empty = make_model(tmp_path / "nothing", {"notes.txt": "hi"})
    with pytest.raises(PipelineError, match=r"needs train\.py defining class Main"):
        jobs.submit(empty, pipeline="train", data=data)
    assert jobs.list() == []


def test_a_pipeline_whose_evaluate_returns_no_number_fails_and_keeps_nothing(jobs, shelf, tmp_path):
    package = make_model(tmp_path / "bad-pkg", {"train.py": textwrap.dedent("""
        class Main:
            def __init__(self): pass
            def train(self, training_directory): pass
            def evaluate(self, evaluation_directory): return "great"
            def save(self): open("model.bin", "w").write("x")
    """)})  # fmt: skip
    data = make_model(tmp_path / "d", {"x.csv": "1\n"})
    job = jobs.submit(package, pipeline="full", data=data).wait(180)
    assert job.status == "failed"
    assert "a score must be a number (evaluate() returned str 'great')" in job.error
    assert shelf.list() == []
    assert json.loads(Path(job.workspace, "_results.json").read_text())["status"] == "failed"
