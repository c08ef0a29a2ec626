"""``modelshelf deploy --handler FILE[:FUNC] --env KEY=VALUE``, against a real server."""

from __future__ import annotations

import json

import pytest

from modelshelf import Shelf
from modelshelf.cli import main

HANDLER = """\
import json
import os

STATE = {}


def serve(data, context):
    if data is None:  # the call at load
        path = os.path.join(context.system_properties["model_dir"], "params.json")
        with open(path) as fh:
            STATE.update(json.load(fh))
        return None
    rows = [float(x) for x in data[0]["body"].decode().split(",")]
    return [{
        "total": sum(rows) * STATE["scale"],
        "model": context.model_name,
        "env": [os.environ.get("GREETING"), os.environ.get("TARGET")],
    }]
"""


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "scaled"
    folder.mkdir()
    (folder / "params.json").write_text('{"scale": 5}')
    (tmp_path / "mms.py").write_text(HANDLER)
    with Shelf(tmp_path / "store") as shelf:
        shelf.save("scaled", folder)
    store = str(tmp_path / "store")
    yield store
    main(["--root", store, "undeploy", "scaled"])


def test_deploy_with_a_handler_and_env_then_invoke(root, tmp_path, capsys):
    handler = f"{tmp_path / 'mms.py'}:serve"
    args = ["--env", "GREETING=hello", "--env", "TARGET=a=b"]
    assert main(["--root", root, "deploy", "scaled", "--handler", handler, *args]) == 0
    out = capsys.readouterr().out
    card = dict(line.split(":", 1) for line in out.splitlines())
    assert card["status"].strip() == "ready"
    # The card says how it serves: the handler, and the variables set by name, never value.
    assert card["handler"].strip() == handler
    assert card["variables"].strip() == "GREETING, TARGET" and "hello" not in out
    assert main(["--root", root, "deployments", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["serving"] == {"handler": handler, "env": ["GREETING", "TARGET"]}
    (tmp_path / "rows.csv").write_text("1,2,3")
    invoke = ["invoke", "scaled", f"@{tmp_path / 'rows.csv'}", "--content-type", "text/csv"]
    assert main(["--root", root, *invoke]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"total": 30.0, "model": "scaled", "env": ["hello", "a=b"]}


def test_bad_handler_or_env_input_is_one_line(root, tmp_path, capsys):
    assert main(["--root", root, "deploy", "scaled", "--env", "NOEQUALS"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    missing = str(tmp_path / "missing.py")
    assert main(["--root", root, "deploy", "scaled", "--handler", missing]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelshelf: error:") and "missing.py does not exist" in err
    assert "Traceback" not in err
    handler = str(tmp_path / "mms.py")
    assert main(["--root", root, "deploy", "scaled", "--handler", handler, "--env", "9X=1"]) == 1
    assert "not a variable name" in capsys.readouterr().err


def test_the_deploy_magic_takes_the_same_options():
    from modelshelf.magics.grammar import MagicGrammar

    args = MagicGrammar("deploy").parse("scaled --handler h.py:serve --env A=1 --env B=2").args
    assert args is not None and args.refs == ["scaled"]
    assert (args.handler_service, args.env) == ("h.py:serve", [("A", "1"), ("B", "2")])
