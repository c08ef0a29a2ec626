"""The deployment commands, run through the CLI against real servers on 127.0.0.1."""

from __future__ import annotations

import json
import pickle
import re
import time

import pytest

from modelshelf import Shelf
from modelshelf.cli import main


def fields(card: str) -> dict[str, str]:
    """A printed card's fields by label."""
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in card.splitlines())}


@pytest.fixture
def root(tmp_path):
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "linear"
    folder.mkdir()
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])  # y = 2x + 1
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "serve.py").write_text(
        "def load(model_dir):\n    raise RuntimeError('weights are missing')\n\n"
        "def predict(model, data):\n    return data\n"
    )
    with Shelf(tmp_path / "store") as shelf:
        shelf.save("linear", folder)
        shelf.save("broken", broken)
    store = str(tmp_path / "store")
    yield store
    main(["--root", store, "undeploy", "linear"])


def test_deploy_invoke_list_undeploy(root, capsys):
    assert main(["--root", root, "deploy", "linear", "--token", "s3cret"]) == 0
    card = fields(capsys.readouterr().out)
    assert card["status"] == "ready" and card["url"].startswith("http://127.0.0.1:")
    assert card["mode"] == "realtime" and card["models"] == "linear:1"
    assert card["requests"] == "0 (0 in the last minute)"

    assert main(["--root", root, "--json", "deployments"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["status"] == "ready" and listed["refs"] == ["linear:1"]
    assert main(["--root", root, "--json", "deployments", "--mode", "multi"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--root", root, "deployments", "--mode", "nonsense"]) == 2
    assert "invalid choice" in capsys.readouterr().err

    assert main(["--root", root, "invoke", "linear", '{"instances": [[3.0]]}']) == 1
    assert "401" in capsys.readouterr().err  # the token is required
    args = ["--root", root, "invoke", "linear", '{"instances": [[3.0]]}', "--token", "s3cret"]
    assert main(args) == 0
    assert [round(x, 6) for x in json.loads(capsys.readouterr().out)["predictions"]] == [7.0]
    # Its card, with the two requests it answered (one refused for its token).
    deadline = time.monotonic() + 10
    while True:
        assert main(["--root", root, "deployment", "show", "linear"]) == 0
        card = fields(capsys.readouterr().out)
        if card["requests"].startswith("1 ") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert card["requests"] == "1 (1 in the last minute)" and card["errors"] == "0 server, 0 client"
    assert "resident" in card["resources"]

    assert main(["--root", root, "undeploy", "linear"]) == 0
    assert "stopped" in capsys.readouterr().out
    assert main(["--root", root, "deployments"]) == 0
    assert "no deployments" in capsys.readouterr().out


def test_failed_deploy_prints_the_serving_traceback(root, capsys):
    assert main(["--root", root, "deploy", "broken"]) == 1
    out = capsys.readouterr().out
    assert "name:      broken" in out and "status:    failed" in out
    assert "traceback:" in out and "weights are missing" in out
    assert "serve.py" in out and "RuntimeError" in out


def test_a_folder_it_cannot_serve_fails_with_one_line_and_no_traceback(root, tmp_path, capsys):
    """`modelshelf deploy demo` on a folder of weights only: the reason, not our frames."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "weights.txt").write_text("0.5 0.25")
    assert main(["--root", root, "save", "demo", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--root", root, "deploy", "demo"]) == 1
    out, err = capsys.readouterr()
    assert re.search(r"^status: +failed$", out, re.M)
    [error] = [line for line in out.splitlines() if line.startswith("error:")]
    assert "cannot serve demo: its folder has no serve.py" in error and "weights.txt" in error
    assert "traceback" not in out.lower() and "loaders.py" not in out and err == ""
    assert main(["--root", root, "--json", "deployments", "--all"]) == 0
    [failed] = [d for d in json.loads(capsys.readouterr().out) if d["name"] == "demo"]
    assert failed["status"] == "failed" and failed["traceback"] is None


def test_bad_deploy_input_is_one_line(root, capsys):
    assert main(["--root", root, "deploy", "ghost"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelshelf: error:") and "ghost" in err and "Traceback" not in err
    assert main(["--root", root, "deploy", "linear", "--mode", "lambda"]) == 2
    assert main(["--root", root, "invoke", "nobody", "{}"]) == 1


def test_deploy_with_a_range_of_workers(root, capsys):
    args = ["--root", root, "deploy", "linear", "--min-workers", "1", "--max-workers", "3"]
    assert main(args) == 0
    card = fields(capsys.readouterr().out)
    assert card["status"] == "ready" and card["workers"] == "1 (1 to 3)"
    assert main(["--root", root, "--json", "deployment", "show", "linear"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["workers"], shown["min_workers"], shown["max_workers"]) == (1, 1, 3)
    assert shown["serving"]["max_workers"] == 3
    assert main(["--root", root, "deployments"]) == 0
    assert "1 (1 to 3)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--workers", "2", "--max-workers", "3"], "not both"),
        (["--min-workers", "3", "--max-workers", "2"], "min_workers (3) is more than max_workers"),
        (["--max-workers", "65"], "from 1 to 64"),
        (["--mode", "async", "--max-workers", "2"], "give it workers=N"),
    ],
)
def test_a_range_of_workers_that_cannot_be_served_is_one_line(root, capsys, flags, fragment):
    assert main(["--root", root, "deploy", "linear", *flags]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelshelf: error:") and fragment in err and "Traceback" not in err
    assert main(["--root", root, "deploy", "linear", "--min-workers", "0"]) == 2  # argparse's


def test_batch_runs_as_a_job(root, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.json").write_text('{"instances": [[1.0]]}')
    (inputs / "b.json").write_text('{"instances": [[2.0]]}')
    out = tmp_path / "out"
    assert main(["--root", root, "batch", "linear", str(inputs), str(out), "--wait"]) == 0
    assert "succeeded" in capsys.readouterr().out
    answer = json.loads((out / "b.json.out").read_text())
    assert [round(x, 6) for x in answer["predictions"]] == [5.0]


def test_batch_on_dask_is_refused_first_when_its_workers_cannot_run_it(root, tmp_path, capsys):
    args = ["--root", root, "batch", "linear", str(tmp_path), str(tmp_path / "out")]
    assert main([*args, "--executor", "dask"]) == 1
    err = capsys.readouterr().err
    assert "needs a scheduler address" in err and "Traceback" not in err
    assert main([*args, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "is local to this machine, so Dask workers cannot read it" in err
    assert main([*args, "--shards", "2"]) == 1
    assert "shards= is for executor='dask'" in capsys.readouterr().err
    assert main([*args, "--executor", "dask", "--shards", "0"]) == 2
    assert not (tmp_path / "out").exists()


def test_invoke_with_a_payload_that_is_not_json(root, capsys):
    assert main(["--root", root, "deploy", "linear"]) == 0
    capsys.readouterr()
    assert main(["--root", root, "invoke", "linear", "{not json"]) == 1
    err = capsys.readouterr().err
    assert "PAYLOAD is not JSON" in err and "Traceback" not in err
