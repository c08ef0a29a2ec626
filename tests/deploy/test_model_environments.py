"""Deployments of models that name their own requirements: real servers on 127.0.0.1 running
in environments built from wheels written here, offline (no package index is ever asked)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import httpx
import pytest
from deploy_helpers import managed

from modelshelf import Shelf
from modelshelf.cli import main
from modelshelf.core.errors import EnvironmentBuildError
from support import write_wheel

pytestmark = pytest.mark.timeout(240)

TARGET = "X-Amzn-SageMaker-Target-Model"
# Which tinydep the model sees, from where, in which interpreter.
SERVE_PY = """\
import sys

import {module}


def load(model_dir):
    return {{"version": {module}.__version__, "file": {module}.__file__,
             "python": sys.executable}}


def predict(model, data):
    return model
"""
INFERENCE_PY = """\
import sys

import tinydep


def model_fn(model_dir):
    return {"version": tinydep.__version__, "file": tinydep.__file__, "python": sys.executable}


def predict_fn(data, model):
    return model
"""


def model(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def needs(module: str, requirement: str) -> dict[str, str]:
    return {"serve.py": SERVE_PY.format(module=module), "requirements.txt": f"{requirement}\n"}


@pytest.fixture
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    for name, version in [("tinydep", "1.0"), ("tinydep", "2.0"), ("otherdep", "0.1"),
                          ("thirddep", "1.0")]:  # fmt: skip
        write_wheel(folder, name, version)
    return folder


@pytest.fixture
def shelf(tmp_path):
    assert importlib.util.find_spec("tinydep") is None  # the serving interpreter lacks it
    store = Shelf(tmp_path / "store")
    store.save("pinned", model(tmp_path / "pinned", needs("tinydep", "tinydep==1.0")))
    store.save("newer", model(tmp_path / "newer", needs("tinydep", "tinydep==2.0")))
    store.save("other", model(tmp_path / "other", needs("otherdep", "otherdep")))
    store.save("third", model(tmp_path / "third", needs("thirddep", "thirddep")))
    store.save("missing", model(tmp_path / "missing", needs("tinydep", "nosuchlib==3.1")))
    store.save("script", model(tmp_path / "script", {
        "code/inference.py": INFERENCE_PY, "code/requirements.txt": "tinydep>=2\n"}))  # fmt: skip
    yield store
    store.close()


@pytest.fixture
def manager(shelf, wheels):
    with managed(shelf) as deployments:
        deployments.find_links = [str(wheels)]
        deployments.offline = True
        yield deployments


@pytest.mark.parametrize(
    ("ref", "env_manager", "workers", "version", "installer"),
    [
        ("pinned", None, 1, "1.0", "uv"),  # auto: this interpreter lacks tinydep
        ("pinned", "virtualenv", 2, "1.0", "pip"),  # uvicorn's workers spawned in it too
        ("script", "uv", 1, "2.0", "uv"),  # SageMaker's code/requirements.txt
    ],
)
def test_a_model_is_served_from_its_own_environment(
    manager, ref, env_manager, workers, version, installer
):
    deployment = manager.deploy(ref, env_manager=env_manager, workers=workers)
    assert deployment.status == "ready", deployment.logs()
    facts = deployment.serving["python_env"]
    answers = [deployment.invoke([1]) for _ in range(4 * workers)]
    assert all(a == answers[0] for a in answers)
    answer = answers[0]
    assert answer["version"] == version
    assert answer["python"] == facts["interpreter"] != os.path.realpath(sys.executable)
    assert answer["file"].startswith(facts["path"] + os.sep)
    assert facts["built"] and facts["installer"] == installer
    assert facts["path"].startswith(manager.environments_root)
    assert f"{installer} environment" in dict(deployment.fields())["python environment"]


def test_a_second_deployment_of_the_same_set_reuses_the_environment(manager, shelf, tmp_path):
    first = manager.deploy("pinned")
    # Another model, the same requirements written differently.
    shelf.save("same", model(tmp_path / "same", needs("tinydep", "TinyDep == 1.0  # pinned")))
    second = manager.deploy("same")
    assert (first.status, second.status) == ("ready", "ready"), second.logs()
    one, two = first.serving["python_env"], second.serving["python_env"]
    assert (one["built"], two["built"]) == (True, False)
    assert one["key"] == two["key"] and one["path"] == two["path"]
    assert first.invoke([1])["file"] == second.invoke([1])["file"]


def test_a_library_that_cannot_be_installed_fails_before_any_server_starts(manager):
    with pytest.raises(EnvironmentBuildError) as caught:
        manager.deploy("missing")
    message = str(caught.value)
    assert "nosuchlib==3.1 (from missing:1 requirements.txt)" in message
    assert "uv could not install the requirements" in message  # and what uv said
    record = manager.get("missing")
    assert record.status == "failed" and record.pid is None  # no server was started
    assert "nosuchlib" in record.error
    assert [e for e in os.listdir(manager.environments_root) if not e.endswith(".lock")] == []
    assert not os.path.exists(os.path.join(manager.deployments_root, "missing", "server.log"))


def test_local_serves_in_this_interpreter_as_before(manager, shelf, tmp_path):
    failed = manager.deploy("pinned", env_manager="local")
    assert failed.status == "failed"  # tinydep is not installed here, and nothing installs it
    assert "No module named 'tinydep'" in failed.traceback
    assert failed.serving["python_env"]["manager"] == "local"
    assert not os.path.exists(manager.environments_root)
    # auto builds nothing when this interpreter already meets the requirements.
    shelf.save("met", model(tmp_path / "met", needs("yaml", "PyYAML>=5")))
    met = manager.deploy("met")
    assert met.status == "ready", met.logs()
    assert met.serving["python_env"]["met"] is True
    assert not os.path.exists(manager.environments_root)


def test_a_multi_model_endpoint_serves_from_its_models_union(manager):
    deployment = manager.deploy(["pinned", "other"], mode="multi", name="mme")
    assert deployment.status == "ready", deployment.logs()
    assert deployment.serving["python_env"]["requirements"] == ["otherdep", "tinydep==1.0"]
    assert deployment.invoke([1], model="pinned:1")["version"] == "1.0"
    assert deployment.invoke([1], model="other:1")["version"] == "0.1"
    # A model loaded later whose requirements the environment lacks is refused, named.
    headers = {"Content-Type": "application/json", TARGET: "third:1"}
    refused = httpx.post(deployment.url + "/invocations", content=b"[1]", headers=headers)
    assert refused.status_code == 424, refused.text
    assert "thirddep" in refused.json()["error"] and "deploy it with" in refused.json()["error"]
    added = httpx.post(deployment.url + "/models", json={"model_name": "t", "url": "third:1"})
    assert added.status_code == 424
    assert deployment.invoke([1], model="pinned:1")["version"] == "1.0"  # serving goes on


def test_conflicting_pins_on_one_endpoint_fail_naming_both_models(manager):
    with pytest.raises(EnvironmentBuildError) as caught:
        manager.deploy(["pinned", "newer"], mode="multi", name="clash")
    message = str(caught.value)
    assert "tinydep==1.0 (from pinned:1 requirements.txt)" in message
    assert "tinydep==2.0 (from newer:1 requirements.txt)" in message
    assert manager.get("clash").status == "failed"


def test_the_command_line_takes_the_environment_options(tmp_path, wheels, capsys):
    store = str(tmp_path / "cli-store")
    with Shelf(store) as shelf:
        shelf.save("pinned", model(tmp_path / "cli-pinned", needs("tinydep", "tinydep==1.0")))
        shelf.save("missing", model(tmp_path / "cli-missing", needs("tinydep", "nosuchlib")))
    base = ["--root", store]
    options = ["--env-manager", "uv", "--find-links", str(wheels), "--offline"]
    try:
        assert main([*base, "deploy", "pinned", *options]) == 0
        out = capsys.readouterr().out
        assert "python environment: pinned:1 requirements.txt: uv environment" in out, out
        assert main([*base, "invoke", "pinned", "[1]"]) == 0
        assert json.loads(capsys.readouterr().out)["version"] == "1.0"
        assert main([*base, "deploy", "missing", *options]) == 1
        captured = capsys.readouterr()
        assert "nosuchlib (from missing:1 requirements.txt)" in captured.err
        assert "Traceback" not in captured.err + captured.out
        assert main([*base, "deploy", "pinned", "--name", "p2", "--env-manager", "conda"]) == 2
        assert "invalid choice: 'conda'" in capsys.readouterr().err
    finally:
        main([*base, "undeploy", "pinned"])
