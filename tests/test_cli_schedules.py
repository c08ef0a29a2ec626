"""The schedule commands of ``modelshelf`` (and ``%job schedule``, which shares the grammar),
in-process over a local store; ``schedule run`` and ``scheduler --once`` run a real job."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from modelshelf.cli import main
from modelshelf.magics.grammar import MagicGrammar

DATA = Path(__file__).parent / "data"
TRAIN = DATA / "train.ipynb"


def invoke(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--root", str(root), *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


def test_create_ls_update_show_pause_resume_rm(root):
    code, out, err = invoke(
        root, "schedule", "create", str(TRAIN), "--cron", "0 3 * * 1", "--timezone",
        "Europe/Paris", "--name", "weekly", "-p", "epochs", "4", "--max-retries", "2",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("created schedule weekly") and "cron 0 3 * * 1 (Europe/Paris)" in out
    code, out, _ = invoke(root, "schedule", "ls", "--json")
    listed = json.loads(out)
    assert [s["name"] for s in listed] == ["weekly"]
    assert listed[0]["template"]["parameters"] == {"epochs": 4} and listed[0]["max_retries"] == 2

    code, out, err = invoke(
        root, "schedule", "update", "weekly", "--every", "2h", "-p", "label", "x"
    )
    assert code == 0, err
    shown = json.loads(invoke(root, "schedule", "show", "weekly", "--json")[1])
    assert shown["every"] == 7200 and shown["template"]["parameters"] == {"epochs": 4, "label": "x"}

    assert invoke(root, "schedule", "pause", "weekly")[1].startswith("paused schedule weekly")
    assert "state:       paused" in invoke(root, "schedule", "show", "weekly")[1]
    assert invoke(root, "schedule", "resume", "weekly")[0] == 0
    assert "active" in invoke(root, "schedule", "ls")[1]
    assert invoke(root, "schedule", "rm", "weekly")[1].startswith("removed schedule weekly")
    assert "no schedules" in invoke(root, "schedule", "ls")[1]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["schedule", "create", str(TRAIN)], 2, "one of the arguments --cron --every is required"),
        (["schedule", "create", str(TRAIN), "--cron", "x", "--every", "1m"], 2, "not allowed"),
        (["schedule", "create", str(TRAIN), "--every", "0.5s"], 1, "at least 1s"),
        (["schedule", "create", str(TRAIN), "--every", "1m", "-p", "epochs", "x"], 1, "an int"),
        (["schedule", "create", str(TRAIN), "--every", "1m", "--missed", "x"], 2, "invalid choice"),
        (["schedule", "show", "nope"], 1, "no schedule 'nope'"),
        (["schedule", "run", "nope"], 1, "no schedule 'nope'"),
    ],
)
def test_mistakes_are_one_line_errors(root, argv, code, message):
    got, _, err = invoke(root, *argv)
    assert got == code and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_run_now_then_scheduler_once_records_the_run(root):
    invoke(root, "schedule", "create", str(TRAIN), "--cron", "0 3 1 1 *", "--name", "n")
    code, out, err = invoke(root, "schedule", "run", "n", "-p", "epochs", "5", "--wait")
    assert code == 0, err + out
    assert "succeeded" in out and "Job - n:1" in out
    code, out, err = invoke(root, "scheduler", "--once", "--json")
    assert code == 0, err
    assert [f["status"] for f in json.loads(out)["finished"]] == ["succeeded"]
    shown = json.loads(invoke(root, "schedule", "show", "n", "--json")[1])
    assert shown["runs"][0]["reason"] == "manual" and shown["last_status"] == "succeeded"


def test_the_job_magic_takes_the_same_grammar():
    args = MagicGrammar("job").parse("schedule create train.ipynb --every 15m -p epochs 3").args
    assert args.command == "schedule create" and args.every == "15m"
    assert args.parameters == [["epochs", "3"]]
    assert MagicGrammar("job").parse("schedule ls").args.command == "schedule ls"
