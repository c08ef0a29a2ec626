"""A multi-model deployment started as the scikit-learn container is in its own multi-model
test: local model folders, SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY for every model.

Real deployments by the DeploymentManager on 127.0.0.1, real HTTP as that test sends it
(``POST /models {"model_name", "url": <folder>}``, CSV rows to ``/models/{name}/invoke``),
and Multi Model Server's bodies checked as it checks them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from deploy_helpers import managed, rounded
from sklearn_container import ROW, SCRIPT, model_folders, snapshot, tarball

from modelshelf import Shelf
from modelshelf.cli import main
from modelshelf.core.deploy.client import http_request
from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.errors import DeploymentError

pytestmark = pytest.mark.timeout(180)
PROGRAM = {"SAGEMAKER_PROGRAM": "script.py"}


@pytest.fixture(autouse=True)
def _toolkit_env(monkeypatch):
    """No SageMaker variables from outside: each test gives its deployment those it uses."""
    for name in ("SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mounted(tmp_path) -> Path:
    """The folder mounted as /opt/ml/model: the container's two models."""
    root = tmp_path / "opt-ml-model"
    model_folders(root)
    return root


def call(url: str, method: str, path: str, body: dict | bytes | None = None, kind: str = ""):
    """One request as the container's test makes it: ``(status, parsed JSON body)``."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": kind or "application/json"} if data is not None else {}
    status, raw, _ = http_request(url + path, method=method, body=data, headers=headers)
    return status, json.loads(raw)


def load(url: str, name: str, folder: Path):
    return call(url, "POST", "/models", {"model_name": name, "url": str(folder)})


def invoke(url: str, name: str, row: bytes = ROW):
    return call(url, "POST", f"/models/{name}/invoke", row, "text/csv")


def own_script(scale: int) -> str:
    """A model's own script, as a SageMaker model archive carries it: it scales its answers."""
    return SCRIPT + f"\n\ndef predict_fn(data, model):\n    return model.predict(data) * {scale}\n"


def not_found(name: str) -> dict:
    message = f"Model not found: {name}"
    return {"code": 404, "type": "ModelNotFoundException", "message": message, "error": message}


def test_the_scikit_learn_containers_multi_model_test_as_it_runs(manager, mounted, tmp_path):
    module = tarball(tmp_path / "user_module" / "user_code.tar.gz", {"script.py": SCRIPT})
    env = {**PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": str(module)}
    before = snapshot(mounted)
    deployment = manager.deploy([], mode="multi", env=env, model_roots=[str(mounted)])
    assert deployment.status == "ready", deployment.logs()
    url = deployment.url
    assert http_request(url + "/ping")[0] == 200
    assert call(url, "GET", "/models") == (200, {"models": []})
    assert call(url, "DELETE", "/models/non-existing-model") == (
        404,
        not_found("non-existing-model"),
    )

    for name in ("pickled-model-1", "pickled-model-2"):
        status, body = load(url, name, mounted / name)
        assert (status, body["status"]) == (200, "Workers scaled"), body
    # script.py defines model_fn only: the scikit-learn container's defaults read the CSV
    # row (a flat array, made one row of float32), predict, and answer JSON.
    assert rounded(invoke(url, "pickled-model-1")[1]) == [1.5]
    assert rounded(invoke(url, "pickled-model-2")[1]) == [2.5]
    status, body = invoke(url, "pickled-model-1", b"1.0, 2.0, 0.0, 0.0, 0.5")
    assert (status, rounded(body)) == (200, [5.0])

    conflict = "Model pickled-model-1 is already registered."
    assert load(url, "pickled-model-1", mounted / "pickled-model-1") == (
        409,
        {"code": 409, "type": "ConflictStatusException", "message": conflict, "error": conflict},
    )
    for name in ("pickled-model-1", "pickled-model-2"):
        assert call(url, "DELETE", f"/models/{name}") == (
            200,
            {"status": f'Model "{name}" unregistered'},
        )
    assert invoke(url, "pickled-model-1") == (404, not_found("pickled-model-1"))
    instances = json.dumps({"instances": [1.0, 2.0, 5.0]}).encode()
    assert invoke(url, "half_plus_three", instances) == (404, not_found("half_plus_three"))
    assert call(url, "GET", "/models/half_plus_three") == (404, not_found("half_plus_three"))

    # The folders were served in place: read, never written, still there after unloading.
    assert snapshot(mounted) == before
    # The submit directory was extracted once, into the deployment's own folder.
    assert (Path(deployment._record.folder) / "code" / "script.py").read_text() == SCRIPT


def test_a_models_own_script_wins_over_the_endpoints(manager, mounted, tmp_path):
    code = tmp_path / "user_module"
    code.mkdir()
    (code / "script.py").write_text(SCRIPT)
    own = {"inference": mounted / "own-inference", "program": mounted / "own-program"}
    for folder in own.values():
        (folder / "code").mkdir(parents=True)
        folder.joinpath("sklearn-model").write_bytes(
            (mounted / "pickled-model-1" / "sklearn-model").read_bytes()
        )
    # code/inference.py, the script a model archive carries; code/script.py, the program's.
    (own["inference"] / "code" / "inference.py").write_text(own_script(100))
    (own["program"] / "code" / "script.py").write_text(own_script(1000))
    env = {**PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": str(code)}
    before = snapshot(mounted)
    deployment = manager.deploy([], mode="multi", env=env, model_roots=[str(mounted)])
    assert deployment.status == "ready", deployment.logs()
    url = deployment.url
    for name, folder in [("endpoint", mounted / "pickled-model-1"), *own.items()]:
        assert load(url, name, folder)[0] == 200
    assert rounded(invoke(url, "endpoint")[1]) == [1.5]
    assert rounded(invoke(url, "inference")[1]) == [150.0]
    assert rounded(invoke(url, "program")[1]) == [1500.0]
    # Imported in place, the scripts left no bytecode cache behind, in the models' folders
    # or in the submit directory (a folder, used where it is).
    assert snapshot(mounted) == before
    assert sorted(os.listdir(code)) == ["script.py"]


def test_a_real_time_deployment_imports_the_submit_directory_too(manager, shelf, mounted):
    shelf.save("pickled", mounted / "pickled-model-2")
    module = tarball(mounted.parent / "sourcedir.tar.gz", {"script.py": SCRIPT})
    env = {**PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": str(module)}
    deployment = manager.deploy("pickled:1", env=env)
    assert deployment.status == "ready", deployment.logs()
    status, body, _ = http_request(
        deployment.url + "/invocations",
        method="POST",
        body=ROW,
        headers={"Content-Type": "text/csv"},
    )
    assert (status, rounded(json.loads(body))) == (200, [2.5])


def test_a_submit_directory_on_s3_is_read_with_the_stores_options(s3_bucket, mounted):
    bucket, options, s3 = s3_bucket
    module = tarball(mounted.parent / "sourcedir.tar.gz", {"script.py": SCRIPT})
    s3.put_object(Bucket=bucket, Key="job/source/sourcedir.tar.gz", Body=module.read_bytes())
    env = {**PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/job/source/sourcedir.tar.gz"}
    with Shelf(f"s3://{bucket}/store", storage_options=options) as shelf, managed(shelf) as manager:
        deployment = manager.deploy([], mode="multi", env=env, model_roots=[str(mounted)])
        assert deployment.status == "ready", deployment.logs()
        assert load(deployment.url, "one", mounted / "pickled-model-1")[0] == 200
        assert rounded(invoke(deployment.url, "one")[1]) == [1.5]


def test_a_submit_directory_that_cannot_be_used_fails_the_deploy(manager, tmp_path):
    missing = tmp_path / "nowhere.tar.gz"
    env = {**PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": str(missing)}
    with pytest.raises(DeploymentError, match=r"SAGEMAKER_SUBMIT_DIRECTORY=.*does not exist"):
        manager.deploy([], mode="multi", env=env)
    evil = tmp_path / "evil.tar.gz"
    tarball(evil, {"../escaped.py": "print('out')\n"})
    env["SAGEMAKER_SUBMIT_DIRECTORY"] = str(evil)
    with pytest.raises(DeploymentError, match=r"SAGEMAKER_SUBMIT_DIRECTORY=.*escaped"):
        manager.deploy([], mode="multi", name="evil", env=env)
    assert not (tmp_path / "escaped.py").exists()
    assert manager.get("evil").status == "failed"
    with pytest.raises(DeploymentError, match="model_roots is for a multi-model"):
        manager.deploy("nothing:1", model_roots=[str(tmp_path)])


def test_the_cli_takes_model_roots(tmp_path, mounted, capsys):
    root = str(tmp_path / "store")
    command = ["--root", root, "deploy", "--mode", "multi", "--name", "cli-mme"]
    options = ["--model-root", str(mounted), "--model-root", str(tmp_path / "other")]
    options += ["--env", "SAGEMAKER_PROGRAM=script.py"]
    (mounted / "pickled-model-1" / "script.py").write_text(SCRIPT)  # its own, at its top
    try:
        assert main([*command, *options]) == 0, capsys.readouterr().err
        card = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
        assert card["status"].strip() == "ready"
        assert card["model roots"].strip() == f"{mounted}, {tmp_path / 'other'}"
        url = card["url"].strip()
        assert load(url, "one", mounted / "pickled-model-1")[0] == 200
        assert rounded(invoke(url, "one")[1]) == [1.5]
        assert load(url, "etc", Path("/etc"))[1]["type"] == "BadRequestException"
    finally:
        main(["--root", root, "undeploy", "cli-mme"])


def test_the_containers_defaults_apply_to_scikit_learn_models_only(tmp_path, mounted):
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(
        "def model_fn(model_dir):\n    return None\n\n"
        "def predict_fn(data, model):\n    return [data.dtype.kind, list(data.shape)]\n"
    )
    (tmp_path / "plain").mkdir()
    plain = load_handler(str(tmp_path / "plain"), "plain", code_dir=str(code))
    # Not a scikit-learn model: the toolkit's own default, genfromtxt's flat integer array.
    assert json.loads(plain.handle(Invocation(b"1, 2, 3", "text/csv")).body) == ["i", [3]]

    (code / "inference.py").write_text(SCRIPT)
    model = load_handler(str(mounted / "pickled-model-1"), "m", code_dir=str(code))
    assert model.kind == "inference.py (SAGEMAKER_SUBMIT_DIRECTORY)"
    for body, kind in ((b"[0, 0, 0, 0, 1]", "application/json"), (b"0,0,0,0,1\n", "text/csv")):
        answer = model.handle(Invocation(body, kind))
        assert (answer.status, rounded(json.loads(answer.body))) == (200, [2.5])


def test_which_script_serves_a_folder(tmp_path, mounted, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "script.py")
    code = tmp_path / "code"
    code.mkdir()
    (code / "script.py").write_text(SCRIPT)
    folder = mounted / "pickled-model-1"
    (folder / "model.pkl").write_bytes((folder / "sklearn-model").read_bytes())
    (folder / "code").mkdir()
    (folder / "code" / "inference.py").write_text(own_script(100))
    # Without an endpoint script, SAGEMAKER_PROGRAM names the model's own only, as before:
    # code/inference.py is not it, and the pickle serves.
    assert load_handler(str(folder), "m").kind == "pickle"
    # With one, the model's code/inference.py (what its archive carries) wins over it...
    assert load_handler(str(folder), "m", code_dir=str(code)).kind == "code/inference.py"
    # ...and the endpoint's serves a folder with no script of its own.
    (folder / "code" / "inference.py").unlink()
    assert load_handler(str(folder), "m", code_dir=str(code)).kind == (
        "script.py (SAGEMAKER_SUBMIT_DIRECTORY)"
    )
