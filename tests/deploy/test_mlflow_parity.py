"""MLflow models answer as `mlflow models serve` does: the same requests go to both servers.

Two tiny models, built here: a scikit-learn LinearRegression over columns ``a`` (long) and
``b`` (double) saved with ``mlflow.sklearn``, and a pyfunc whose signature has a ``scale``
param. Each is served by `mlflow models serve --env-manager local` (a real process on a free
127.0.0.1 port) and by a modelshelf real-time deployment of the same folder (saved to a
Shelf, deployed with DeploymentManager); every case compares status, content type and body.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from deploy_helpers import managed

from modelshelf import Shelf
from support import free_port

# make test installs both (the test extra): imported, not skipped, so a missing one fails.
# MLflow warns about its own type hints while it imports; that is not this test's concern.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
    import mlflow.pyfunc  # noqa: F401
    import pandas  # noqa: F401

# Neither server may reach out: MLflow 3 reports usage unless told not to. One hash seed
# for both: MLflow's messages list a set of input fields, in the order of string hashes.
SERVER_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONHASHSEED": "0"}
READY_TIMEOUT = 120.0

SCALED = '''\
import mlflow
from mlflow.pyfunc import PythonModel


class Scaled(PythonModel):
    """Each row's x times the request's ``scale`` param (1.0 when not sent)."""

    def predict(self, context, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        return [float(x) * scale for x in model_input["x"]]


mlflow.models.set_model(Scaled())
'''


@dataclass(frozen=True)
class Servers:
    """Base URLs of the same model folders behind each server."""

    mlflow: dict[str, str]
    ours: dict[str, str]


def save_models(root: Path) -> dict[str, Path]:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
    from sklearn.linear_model import LinearRegression

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its "pickle is unsafe" advice
    x = pd.DataFrame({"a": [0, 1, 2, 3], "b": [0.0, 0.5, 1.0, 4.0]})
    linear = LinearRegression().fit(x, 2 * x["a"] + 3 * x["b"] + 1)
    # Signatures spelled out, not inferred: `a` a long, so CSV reads it with that dtype.
    predictions = Schema([TensorSpec(np.dtype("float64"), (-1,))])
    folders = {"linear": root / "linear", "scaled": root / "scaled"}
    mlflow.sklearn.save_model(
        linear,
        str(folders["linear"]),
        signature=ModelSignature(
            Schema([ColSpec("long", "a"), ColSpec("double", "b")]), predictions
        ),
        serialization_format="pickle",
    )
    code = root / "scaled_model.py"
    code.write_text(SCALED)
    with warnings.catch_warnings():
        # MLflow 3 asks pyfunc models for an input example; the signature is given instead.
        warnings.filterwarnings("ignore", "(?s).*An input example was not provided", UserWarning)
        mlflow.pyfunc.save_model(
            str(folders["scaled"]),
            python_model=str(code),  # a model from code: no pickled class to import back
            signature=ModelSignature(
                Schema([ColSpec("double", "x")]),
                predictions,
                ParamSchema([ParamSpec("scale", "double", 1.0)]),
            ),
        )
    return folders


@contextlib.contextmanager
def mlflow_serve(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """`mlflow models serve` of ``folder`` as a real process; yields its URL."""
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_cli), "models", "serve", "-m", str(folder), "-p", str(port),
               "-h", "127.0.0.1", "--env-manager", "local", "--workers", "1"]  # fmt: skip
    log = folder.parent / f"mlflow-serve-{folder.name}.log"
    with open(log, "wb") as out:
        # Its own session, so the server and the workers it starts stop together.
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers_ping(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def _answers_ping(url: str) -> bool:
    try:
        return httpx.get(url + "/ping", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("mlflow-parity")
    with pytest.MonkeyPatch.context() as env, contextlib.ExitStack() as stack:
        env.setenv("MODELSHELF_STATE_DIR", str(root / "state"))
        for key, value in SERVER_ENV.items():
            env.setenv(key, value)
        folders = save_models(root / "models")
        # `mlflow models serve` runs `uvicorn` (MLflow 3) or `gunicorn` (2) from PATH.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        serve_env = {**os.environ, "PATH": path}
        theirs = {k: stack.enter_context(mlflow_serve(f, serve_env)) for k, f in folders.items()}
        shelf = Shelf(root / "store")
        stack.callback(shelf.close)
        deployments = stack.enter_context(managed(shelf))
        ours = {}
        for key, folder in folders.items():
            ref = shelf.save(key, folder).ref
            deployment = deployments.deploy(ref, mode="realtime", name=f"mlflow-{key}")
            assert deployment.status == "ready", deployment.logs()
            ours[key] = deployment.url
        yield Servers(theirs, ours)


CSV = "text/csv"
JSON = "application/json"
ROWS = [[1, 2.5], [3, 4.0]]
SPLIT = {"dataframe_split": {"columns": ["a", "b"], "data": ROWS}}

# (model, content type, body): the predictions' cases, then the errors' (the same statuses
# and bodies as MLflow's, stack traces included).
CASES = {
    "csv with a header row": ("linear", CSV, b"a,b\n1,2.5\n3,4\n"),
    "csv, columns in another order": ("linear", CSV, b"b,a\n2.5,1\n4,3\n"),
    "csv; charset=utf-8": ("linear", f"{CSV}; charset=utf-8", b"a,b\n1,2.5\n"),
    "dataframe_split": ("linear", JSON, SPLIT),
    "dataframe_records": ("linear", JSON, {"dataframe_records": [{"a": 1, "b": 2.5}]}),
    "instances as records": ("linear", JSON, {"instances": [{"a": 1, "b": 2.5}, {"a": 3, "b": 4}]}),
    "instances as columns": ("linear", JSON, {"instances": {"a": [1, 3], "b": [2.5, 4.0]}}),
    "inputs": ("linear", JSON, {"inputs": {"a": [1, 3], "b": [2.5, 4.0]}}),
    "params": (
        "scaled",
        JSON,
        {"dataframe_split": {"columns": ["x"], "data": [[1.5], [2]]}, "params": {"scale": 3.0}},
    ),
    "inputs with params": ("scaled", JSON, {"inputs": {"x": [1.0]}, "params": {"scale": -2.0}}),
    "params left out: the default": ("scaled", JSON, {"inputs": {"x": [1.0, 4.0]}}),
    "unsupported content type": ("linear", "text/plain", b"1,2.5\n"),
    "a charset other than utf-8": ("linear", f"{JSON}; charset=latin-1", SPLIT),
    "unknown content type parameter": ("linear", f"{JSON}; format=pandas-split", SPLIT),
    "malformed json": ("linear", JSON, b'{"dataframe_split": {"columns": ["a"'),
    "a json list": ("linear", JSON, ROWS),
    "no known input field": ("linear", JSON, {"data": ROWS}),
    "two input fields": ("linear", JSON, {**SPLIT, "inputs": {"a": [1], "b": [2.0]}}),
    "a column missing": ("linear", JSON, {"dataframe_split": {"columns": ["a"], "data": [[1]]}}),
    "csv without a header row": ("linear", CSV, b"1,2.5\n3,4\n"),
    "csv of the wrong type": ("linear", CSV, b"a,b\nx,2.5\n"),
    "a param of the wrong type": (
        "scaled",
        JSON,
        {"inputs": {"x": [1.0]}, "params": {"scale": "big"}},
    ),
}


def post(url: str, content_type: str, body: bytes | dict | list) -> tuple[int, str, object]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type}
    answer = httpx.post(url + "/invocations", content=data, headers=headers, timeout=60)
    media = answer.headers.get("content-type", "")
    parsed = answer.json() if media.startswith(JSON) else answer.text
    return answer.status_code, media, parsed


@pytest.mark.parametrize("case", list(CASES))
def test_answers_as_mlflow_models_serve(servers, case):
    model, content_type, body = CASES[case]
    theirs = post(servers.mlflow[model], content_type, body)
    ours = post(servers.ours[model], content_type, body)
    assert ours == theirs


def test_the_cases_cover_what_mlflow_answers(servers):
    """The parity above is not two servers failing alike: the cases get real answers."""
    statuses = {case: post(servers.mlflow[m], t, b)[0] for case, (m, t, b) in CASES.items()}
    assert statuses["csv with a header row"] == 200
    assert statuses["unsupported content type"] == 415
    assert statuses["malformed json"] == 400
    _, _, answer = post(servers.ours["linear"], CSV, b"a,b\n1,2.5\n3,4\n")
    assert [round(v, 6) for v in answer["predictions"]] == [10.5, 19.0]  # 2a + 3b + 1
    _, _, scaled = post(servers.ours["scaled"], *CASES["params"][1:])
    assert scaled == {"predictions": [4.5, 6.0]}


def test_no_content_type_is_unsupported_not_a_crash(servers):
    """MLflow's servers answer 500 here (they split a missing header); modelshelf 415s."""
    answer = httpx.post(servers.ours["linear"] + "/invocations", content=b"a,b\n1,2\n")
    assert answer.status_code == 415
    assert "only supports the following content types" in answer.text
