"""The job commands of ``modelshelf``: real notebooks in real kernels, through the CLI.

Each job takes a few seconds, so one trained job (module-scoped) serves most assertions.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelshelf import Shelf
from modelshelf.cli import main
from modelshelf.cli.commands import build_parser
from modelshelf.cli.commands.results import JobLog, JobRun
from modelshelf.cli.views import render
from modelshelf.core.jobs import Job, JobManager
from modelshelf.core.sizes import format_duration as duration_text
from support import wait_for

DATA = Path(__file__).parent / "data"
TRAIN, FAILS, SLEEPS = DATA / "train.ipynb", DATA / "fails.ipynb", DATA / "sleeps.ipynb"
JOB_ID = r"\d{8}-\d{6}-[0-9a-f]{6}"


def invoke(root: Path, *argv: str) -> tuple[int, str, str]:
    """``modelshelf --root ROOT ARGV...`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--root", str(root), *argv])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str) -> None:
    assert err.startswith("modelshelf: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@dataclass
class Trained:
    """The result of ``run train.ipynb --wait`` in a store shared by this module's tests."""

    root: Path
    state: Path
    code: int
    out: str
    err: str
    id: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    base = tmp_path_factory.mktemp("shared-jobs")
    root, state = base / "store", base / "state"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELSHELF_STATE_DIR", str(state))
        code, out, err = invoke(
            root, "run", str(TRAIN), "--name", "trained", "-p", "epochs", "5", "-p", "label", "x",
            "--wait",
        )  # fmt: skip
        listed = json.loads(invoke(root, "jobs", "--json")[1])
    return Trained(root, state, code, out, err, listed[0]["id"])


@pytest.fixture
def shared(trained: Trained, monkeypatch: pytest.MonkeyPatch):
    """Run commands against the shared store (its state dir holds the jobs database)."""
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(trained.state))
    return lambda *argv: invoke(trained.root, *argv)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def cli(root: Path):
    """Run commands against a fresh store (state in conftest's per-test state dir)."""
    yield lambda *argv: invoke(root, *argv)
    # A test that failed halfway must not leave a job sleeping for minutes.
    with Shelf(root) as shelf:
        manager = JobManager(shelf)
        for job in manager.list():
            if not job.finished:
                job.cancel()
        manager.close()


# ---- run --wait, and reading the job it made ----------------------------------------------------


def test_run_wait_prints_the_status_and_the_model(trained: Trained, shared) -> None:
    assert (trained.code, trained.err) == (0, "")
    head, outputs = trained.out.splitlines()
    assert re.fullmatch(rf"job trained \({trained.id}\) succeeded after \S+", head)
    assert outputs == "outputs: Job - trained:1"
    manifest = json.loads(shared("show", "Job - trained:1", "--json")[1])
    # -p values were strings, converted by the notebook's declared types.
    assert manifest["params"] == {
        "learning_rate": 0.5,
        "epochs": 5,
        "label": "x",
        "sleep_seconds": 0.0,
    }
    assert manifest["job"]["id"] == trained.id


def test_jobs_lists_it(trained: Trained, shared) -> None:
    code, out, _ = shared("jobs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "ELAPSED", "OUTPUTS"]
    row = next(line for line in lines if line.startswith(trained.id))
    assert row.split()[1:3] == ["trained", "succeeded"]
    assert row.endswith("Job - trained:1")
    listed = json.loads(shared("jobs", "--json")[1])
    mine = next(j for j in listed if j["id"] == trained.id)
    assert (mine["status"], mine["outputs"]) == ("succeeded", ["Job - trained:1"])
    assert shared("jobs", "--status", "running") == (
        0,
        "no jobs (`modelshelf run NOTEBOOK` starts one)\n",
        "",
    )
    assert len(json.loads(shared("jobs", "--limit", "1", "--json")[1])) == 1


def test_job_show_text_and_json(trained: Trained, shared) -> None:
    code, out, _ = shared("job", "show", trained.id)
    assert code == 0
    head, summary = out.split("\n\n")
    fields = dict(line.split(":", 1) for line in head.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["status"] == "succeeded"
    assert fields["notebook"] == str(TRAIN)
    assert fields["parameters"] == "learning_rate=0.5, epochs=5, label=x, sleep_seconds=0.0"
    assert fields["outputs"] == "Job - trained:1"
    assert "error" not in fields and "input model" not in fields
    assert summary.startswith("run summary (_results.json):\n")
    assert re.search(r"^outputs\.model +Job - trained:1$", summary, re.M)

    shown = json.loads(shared("job", "show", trained.id, "--json")[1])
    assert shown["parameters"]["epochs"] == 5 and shown["inputs"] == {"model": None, "data": None}
    assert shown["error"] is None and shown["outputs"] == ["Job - trained:1"]
    results = json.loads(Path(shown["workspace"], "_results.json").read_text())
    assert shown["results"] == results
    assert results["run_summary"]["outputs"]["model"] == "Job - trained:1"
    # --json before the action too
    assert json.loads(shared("job", "--json", "show", trained.id)[1])["id"] == trained.id


def test_job_logs_plain_followed_and_json(trained: Trained, shared) -> None:
    code, out, err = shared("job", "logs", trained.id)
    assert (code, err) == (0, "")
    assert "Executing Cell" in out and "trained weight=2.5 worker=1/1" in out
    # Following an ended job prints the whole log once, and nothing after it.
    assert shared("job", "logs", trained.id, "--follow") == (0, out, "")
    # With --json the followed lines go to stderr so that stdout stays one JSON document.
    code, json_out, streamed = shared("job", "logs", trained.id, "--follow", "--json")
    assert code == 0 and streamed == out
    assert json.loads(json_out)["log"] == out


def test_wait_and_cancel_of_an_ended_job(trained: Trained, shared) -> None:
    code, out, _ = shared("job", "wait", trained.id, "--timeout", "5")
    assert code == 0 and out.startswith(f"job trained ({trained.id}) succeeded")
    code, out, _ = shared("job", "cancel", trained.id)
    assert (code, out) == (
        0,
        f"job trained ({trained.id}) had already succeeded; nothing to cancel\n",
    )
    assert json.loads(shared("job", "show", trained.id, "--json")[1])["status"] == "succeeded"


def test_rerun_of_the_model_follows_the_new_job(trained: Trained, shared) -> None:
    code, out, err = shared("job", "rerun", "Job - trained:1", "--follow")
    assert (code, err) == (0, "")
    log, head, outputs = out.rsplit("\n", 3)[:3]
    assert "Executing Cell" in log and log.endswith("job succeeded")
    new_id = re.fullmatch(rf"job trained \(({JOB_ID})\) succeeded after \S+", head).group(1)
    assert new_id != trained.id
    assert outputs == "outputs: Job - trained:2"
    shown = json.loads(shared("job", "show", new_id, "--json")[1])
    assert shown["rerun_of"] == "Job - trained:1"
    first, again = (
        json.loads(shared("show", ref, "--json")[1])
        for ref in ("Job - trained:1", "Job - trained:2")
    )
    assert first["params"] == again["params"]


# ---- errors: no job is created ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["-p", "epochs", "many"], "parameter epochs must be an int, not 'many'"),
        (["-p", "learning_rate", "fast"], "parameter learning_rate must be a float"),
        (["-p", "nope", "1"], "the notebook has no parameter nope; its parameters are: "),
        (["--model", "ghost"], "no model named 'ghost'"),
        (["--executor", "dask"], "needs a scheduler address"),
        (["--data", "/no/such/data"], "does not exist"),
        (["--name", "a/b"], "invalid model name"),
    ],
)
def test_run_user_errors_exit_1_with_one_line_and_no_job(cli, argv, says) -> None:
    code, out, err = cli("run", str(TRAIN), *argv, "--wait")
    assert (code, out) == (1, "")
    assert_one_line_error(err)
    assert says in err
    assert json.loads(cli("jobs", "--json")[1]) == []


def test_other_user_errors(cli, tmp_path: Path) -> None:
    code, out, err = cli("run", str(tmp_path / "missing.ipynb"), "--wait")
    assert (code, out) == (1, "")
    assert_one_line_error(err)
    assert "missing.ipynb does not exist" in err
    for argv in (["job", "show", "nope"], ["job", "logs", "nope"], ["job", "cancel", "nope"]):
        code, _, err = cli(*argv)
        assert code == 1 and "no job 'nope'" in err
        assert_one_line_error(err)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "w.bin").write_bytes(b"w")
    assert cli("save", "plain", "--from", str(plain))[0] == 0
    code, _, err = cli("job", "rerun", "plain:1")
    assert code == 1 and "not produced by a job" in err
    assert_one_line_error(err)
    assert json.loads(cli("jobs", "--json")[1]) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", str(TRAIN), "-p", "epochs"],
        ["run", str(TRAIN), "--executor", "slurm"],
        ["run", str(TRAIN), "--timeout", "soon"],
        ["run", str(TRAIN), "--env", "NOEQUALS"],
        ["run", str(TRAIN), "--workers", "0"],
        ["jobs", "--status", "weird"],
        ["jobs", "--limit", "0"],
        ["job"],
        ["job", "nope"],
        ["job", "show"],
        ["job", "wait", "x", "--timeout", "later"],
        ["job", "prune", "--older-than", "-1d"],
        ["job", "rerun"],
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, argv: list[str]) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert_one_line_error(err)


# ---- failing and cancelled jobs -----------------------------------------------------------------


def test_failing_notebook_with_wait_exits_1_and_says_why(cli) -> None:
    code, out, err = cli("run", str(FAILS), "-p", "divisor", "7", "--wait")
    assert (code, err) == (1, "")
    head, error = out.splitlines()
    job_id = re.fullmatch(rf"job fails \(({JOB_ID})\) failed after \S+", head).group(1)
    assert re.fullmatch(r"error: ValueError: bad value: 7 in cell \d+", error)
    shown = json.loads(cli("job", "show", job_id, "--json")[1])
    assert shown["status"] == "failed" and "bad value: 7" in shown["error"]
    assert shown["outputs"] == [] and shown["results"]["status"] == "failed"
    assert "error:" in cli("job", "show", job_id)[1]
    code, out, _ = cli("job", "wait", job_id)  # waiting again says the same
    assert code == 1 and out.splitlines()[1] == error
    assert "ValueError" in cli("job", "logs", job_id)[1]


def test_run_returns_at_once_then_wait_times_out_and_cancel_stops_it(cli, tmp_path: Path) -> None:
    source = tmp_path / "base"
    source.mkdir()
    (source / "model.json").write_text('{"weight": 1}')
    assert cli("save", "base", "--from", str(source))[0] == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("1\n2\n")
    code, out, err = cli(
        "run", str(SLEEPS), "-p", "seconds", "120", "--name", "sleepy", "--model", "base",
        "--data", str(data), "--env", "GREETING=hi there", "--timeout", "10m",
        "--output", "none", "--kernel", "python3",
    )  # fmt: skip
    assert (code, err) == (0, "")
    job_id, status = re.fullmatch(rf"submitted job sleepy \(({JOB_ID})\): (\w+)\n", out).groups()
    assert status in ("queued", "running")
    shown = json.loads(cli("job", "show", job_id, "--json")[1])
    assert shown["parameters"] == {"seconds": 120.0}
    assert shown["inputs"] == {"model": "base:1", "data": str(data)}
    assert (shown["env"], shown["timeout"], shown["output"], shown["kernel"]) == (
        {"GREETING": "hi there"},
        600.0,
        None,
        "python3",
    )
    wait_for(Path(shown["workspace"], "models", "started").exists)  # the kernel runs the cells

    code, out, err = cli("job", "wait", job_id, "--timeout", "0.2")
    assert (code, out) == (1, "")
    assert_one_line_error(err)
    assert f"job sleepy ({job_id}) is still running after 0.2 s" in err

    assert cli("job", "cancel", job_id) == (0, f"cancelled job sleepy ({job_id})\n", "")
    code, out, _ = cli("job", "wait", job_id)
    assert code == 1 and out.startswith(f"job sleepy ({job_id}) cancelled after ")
    waited = json.loads(cli("job", "wait", job_id, "--json")[1])
    assert (waited["status"], waited["outputs"]) == ("cancelled", [])
    assert [j["id"] for j in json.loads(cli("jobs", "--status", "cancelled", "--json")[1])] == [
        job_id
    ]


# ---- the installed command, and prune ------------------------------------------------------------


def test_entry_point_runs_a_job_and_prune_removes_it(cli, root: Path) -> None:
    script = Path(sys.executable).with_name("modelshelf")
    env = {**os.environ, "MODELSHELF_ROOT": str(root)}  # MODELSHELF_STATE_DIR: conftest's
    assert env["MODELSHELF_STATE_DIR"]
    done = subprocess.run(
        [str(script), "run", str(TRAIN), "-p", "label", "shell", "--wait"],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    head, outputs = done.stdout.splitlines()
    job_id = re.fullmatch(rf"job train \(({JOB_ID})\) succeeded after \S+", head).group(1)
    assert outputs == "outputs: Job - train:1"
    done = subprocess.run(
        [str(script), "--json", "jobs"], capture_output=True, text=True, timeout=60, check=False,
        env=env,
    )  # fmt: skip
    [listed] = json.loads(done.stdout)
    assert (listed["id"], listed["status"]) == (job_id, "succeeded")
    workspace = Path(listed["workspace"])
    assert workspace.is_dir()

    # The in-process CLI with --root sees the same jobs.
    assert cli("job", "prune") == (0, "no jobs ended more than 7d ago\n", "")
    code, out, _ = cli("job", "prune", "--older-than", "0", "--json")
    assert (code, json.loads(out)) == (0, {"removed": [job_id], "older_than": "0"})
    assert not workspace.exists()
    assert cli("jobs")[1] == "no jobs (`modelshelf run NOTEBOOK` starts one)\n"
    assert json.loads(cli("show", "Job - train", "--json")[1])["job"]["id"] == job_id


# ---- the grammar the magics reuse ---------------------------------------------------------------


def test_handlers_return_core_objects_and_reuse_a_given_manager(
    trained: Trained, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(trained.state))
    parser = build_parser(prog="%model")
    with Shelf(trained.root) as shelf:
        manager = JobManager(shelf)
        args = parser.parse_args(["job", "show", trained.id])
        assert (args.command, args.job_manager, args.on_log) == ("job show", None, None)
        args.job_manager = manager
        job = args.handler(shelf, args)
        assert isinstance(job, Job) and job.status == "succeeded"
        args = parser.parse_args(["jobs", "--json"])
        args.job_manager = manager
        jobs = args.handler(shelf, args)
        assert trained.id in [j.id for j in jobs]
        # Without a sink, a followed log comes back whole; a given manager stays open.
        args = parser.parse_args(["job", "logs", trained.id, "--follow"])
        args.job_manager = manager
        log = args.handler(shelf, args)
        assert isinstance(log, JobLog) and not log.streamed and "Executing Cell" in log.text
        args = parser.parse_args(["job", "wait", trained.id])
        waited = args.handler(shelf, args)  # builds and closes its own manager
        assert isinstance(waited, JobRun) and waited.waited
        assert manager.get(trained.id).status == "succeeded"
        manager.close()
    assert capsys.readouterr() == ("", "")
    # Without a command, the view follows the result's type.
    assert render(job, as_json=False).startswith("id:")
    assert render(jobs, as_json=False).startswith("ID  ")
    assert render(log, as_json=False) == log.text.removesuffix("\n")
    assert render(waited, as_json=False).startswith(f"job trained ({trained.id}) succeeded")
    assert json.loads(render(jobs, as_json=True))[0]["id"] == jobs[0].id
    with pytest.raises(Exception, match="invalid choice"):
        parser.parse_args(["job", "frob"])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.04, "0.0s"), (2.25, "2.2s"), (65, "1m 05s"), (3600 * 2 + 61, "2h 01m")],
)
def test_duration_text(seconds, text) -> None:
    assert duration_text(seconds) == text


# ---- scripts and training pipelines -------------------------------------------------------------

# A package in UiPath AI Center's shape: its "model" is the mean of the numbers it trained on,
# its score the share of evaluation numbers within 2 of that mean.
PACKAGE_TRAIN_PY = """\
import json, os

def numbers(folder):
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as fh:
            out += [float(x) for x in fh.read().split()]
    return out

class Main:
    def __init__(self):
        self.mean = json.load(open("mean.json"))["mean"] if os.path.exists("mean.json") else None

    def train(self, training_directory):
        values = numbers(training_directory)
        self.mean = sum(values) / len(values) + float(os.environ.get("shift", "0"))

    def evaluate(self, evaluation_directory):
        values = numbers(evaluation_directory)
        return sum(abs(v - self.mean) <= 2 for v in values) / len(values)

    def save(self):
        json.dump({"mean": self.mean}, open("mean.json", "w"))
"""


def test_run_pipelines_and_scripts_from_the_command_line(cli, tmp_path: Path) -> None:
    package = tmp_path / "meanpkg"
    package.mkdir()
    (package / "train.py").write_text(PACKAGE_TRAIN_PY)
    data, held = tmp_path / "data", tmp_path / "held"
    data.mkdir()
    held.mkdir()
    (data / "n.txt").write_text("4 5 6")
    (held / "n.txt").write_text("1 4 6 9")
    code, out, err = cli("run", str(package), "--pipeline", "full", "--data", str(data),
                         "--eval-data", str(held), "-p", "shift", "1", "--wait")  # fmt: skip
    assert (code, err) == (0, ""), out
    assert out.splitlines()[1] == "outputs: Job - meanpkg:1"
    shown = json.loads(cli("show", "Job - meanpkg:1", "--json")[1])
    # mean 5 + shift 1 = 6: within 2 are 4 and 6 of 1, 4, 6, 9.
    assert shown["metrics"] == {"score": 0.5}
    assert [(e["score"], e["pipeline"], e["data"]) for e in shown["evaluations"]] == [
        (0.5, "full", str(held))
    ]
    assert shown["params"] == {"shift": 1}

    (held / "n.txt").write_text("5 6 7 20")
    code, out, err = cli("run", str(package), "--pipeline", "evaluate", "--model",
                         "Job - meanpkg:1", "--data", str(held), "--wait")  # fmt: skip
    assert (code, err) == (0, ""), out
    assert "outputs" not in out  # an evaluation makes no version
    code, text, _ = cli("show", "Job - meanpkg:1")
    assert code == 0 and "evaluations (2)" in text
    scores = [e["score"] for e in json.loads(cli("show", "Job - meanpkg:1", "--json")[1])[
        "evaluations"]]  # fmt: skip
    assert scores == [0.5, 0.75]
    assert [v["version"] for v in json.loads(cli("versions", "Job - meanpkg", "--json")[1])[
        "versions"]] == [1]  # fmt: skip

    script = tmp_path / "fit.py"
    script.write_text("import os, sys\nprint('args', sys.argv[1:], os.environ['ML_PARAMETERS'])\n")
    code, out, err = cli("run", str(script), "-p", "epochs", "3", "--follow")
    assert code == 0, err
    assert """args ['--epochs', '3'] {"epochs": 3}""" in out
    code, _, err = cli("run", str(package), "--pipeline", "evaluate", "--data", str(held))
    assert code == 1 and "the evaluate pipeline scores a version: give --model REF" in err
    assert_one_line_error(err)
    code, _, err = cli("run", str(package), "--pipeline", "tune", "--data", str(held))
    assert code == 2
    assert_one_line_error(err)
