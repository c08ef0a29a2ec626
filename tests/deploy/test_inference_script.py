"""SageMaker inference scripts (``code/inference.py``) served under the toolkit's contract.

Real deployments on 127.0.0.1 through the DeploymentManager (real-time and multi-model),
real HTTP requests with the headers SageMaker clients send, and tiny models built here.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from pathlib import Path

import numpy
import pytest
from inference_scripts import (
    CONTEXT,
    DEFAULTS,
    FOUR_FUNCTIONS,
    TRANSFORM,
    TRANSFORM_AND_PREDICT,
)

from modelshelf import Shelf
from modelshelf.core.deploy.client import http_request
from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.errors import HandlerNotFoundError

TARGET = "X-Amzn-SageMaker-Target-Model"
NPY = "application/x-npy"


@pytest.fixture(autouse=True)
def _toolkit_env(monkeypatch):
    """No SageMaker variables from outside: each test sets those it is about."""
    monkeypatch.delenv("SAGEMAKER_PROGRAM", raising=False)
    monkeypatch.delenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", raising=False)


def linear_pickle() -> bytes:
    """A scikit-learn model of y = x1 + 2 * x2."""
    from sklearn.linear_model import LinearRegression

    rows = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    return pickle.dumps(LinearRegression().fit(rows, [r[0] + 2 * r[1] for r in rows]))


def folder(root: Path, files: dict[str, str | bytes]) -> Path:
    """A model folder holding ``files`` (paths relative to it)."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def saved(shelf: Shelf, tmp_path: Path, name: str, files: dict[str, str | bytes]) -> str:
    """Save a model folder holding ``files`` as ``name``; its ref."""
    shelf.save(name, folder(tmp_path / "folders" / name, files))
    return f"{name}:1"


def post(url, body: bytes, content_type: str, accept: str | None = None, **headers: str):
    """``POST /invocations``: ``(status, body, content type)``."""
    sent = {"Content-Type": content_type, **headers}
    if accept is not None:
        sent["Accept"] = accept
    return http_request(url + "/invocations", method="POST", body=body, headers=sent)


def npy(array) -> bytes:
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.asarray(array))
    return buffer.getvalue()


def rounded(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def test_a_script_with_all_four_functions(manager, shelf, tmp_path):
    files = {"code/inference.py": FOUR_FUNCTIONS, "model.pkl": linear_pickle()}
    deployment = manager.deploy(saved(shelf, tmp_path, "four", files))
    assert deployment.status == "ready", deployment.logs()
    rows = json.dumps([[1.0, 2.0], [3.0, 4.0]]).encode()

    status, body, kind = post(deployment.url, rows, "application/json", "application/json")
    assert status == 200
    # output_fn's (body, content_type) sets the answer's type.
    assert kind == "application/vnd.modelshelf.result+json"
    answer = json.loads(body)
    assert rounded(answer["predictions"]) == [5.0, 11.0]
    assert answer["input_data"] == "str" and answer["content_type"] == "application/json"

    # A charset suffix is not exactly application/json: input_fn gets bytes, and the
    # content type as sent.
    status, body, _ = post(deployment.url, rows, "application/json; charset=utf-8")
    assert status == 200
    answer = json.loads(body)
    assert answer["input_data"] == "bytes"
    assert answer["content_type"] == "application/json; charset=utf-8"

    # A body that is not a tuple goes back as the Accept type.
    status, body, kind = post(deployment.url, rows, "application/json", "text/plain")
    assert (status, kind) == (200, "text/plain")
    assert rounded(json.loads(body)) == [5.0, 11.0]


def test_a_model_error_answers_500_and_the_server_keeps_serving(manager, shelf, tmp_path):
    files = {"code/inference.py": FOUR_FUNCTIONS, "model.pkl": linear_pickle()}
    deployment = manager.deploy(saved(shelf, tmp_path, "four", files))
    status, body, _ = post(deployment.url, b'"fail"', "application/json")
    assert status == 500
    error = json.loads(body)
    assert "predict_fn failed: ValueError: the model refuses 'fail'" in error["error"]
    assert "inference.py" in error["traceback"]
    assert "the model refuses 'fail'" in deployment.logs()  # logged with its traceback
    status, body, _ = post(deployment.url, b"[[1.0, 1.0]]", "application/json")
    assert status == 200 and rounded(json.loads(body)["predictions"]) == [3.0]


def test_model_fn_and_predict_fn_alone_take_the_toolkit_defaults(
    manager, shelf, tmp_path, monkeypatch
):
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    files = {"code/inference.py": DEFAULTS, "model.pkl": linear_pickle()}
    deployment = manager.deploy(saved(shelf, tmp_path, "defaults", files))
    assert deployment.status == "ready", deployment.logs()
    url = deployment.url

    # JSON in: a numpy array for predict_fn; JSON out when asked for.
    status, body, kind = post(url, b"[[1, 2], [3, 4]]", "application/json", "application/json")
    assert (status, kind) == (200, "application/json")
    assert rounded(json.loads(body)) == [5.0, 11.0]
    # No Accept, or */*: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (text/csv here).
    for accept in (None, "*/*"):
        status, body, kind = post(url, b"[[1, 2]]", "application/json", accept)
        assert (status, kind, body) == (200, "text/csv", b"5.0\n")
    # CSV in, through numpy.genfromtxt; the first Accept type the default output_fn knows.
    status, body, kind = post(url, b"1,2\n3,4\n", "text/csv", "text/html, application/json")
    assert (status, kind) == (200, "application/json")
    assert rounded(json.loads(body)) == [5.0, 11.0]
    # NPY in and out.
    status, body, kind = post(url, npy([[1.0, 2.0], [0.5, 0.5]]), NPY, NPY)
    assert (status, kind) == (200, NPY)
    assert rounded(numpy.load(io.BytesIO(body), allow_pickle=False)) == [5.0, 1.5]

    # What the defaults cannot read is 415, what they cannot write 406.
    status, body, _ = post(url, b"1 2", "text/plain")
    assert status == 415 and "define input_fn" in json.loads(body)["error"]
    status, body, _ = post(url, b"[[1, 2]]", "application/json; charset=utf-8")
    assert status == 415 and "charset=utf-8" in json.loads(body)["error"]
    status, body, _ = post(url, b"[[1, 2]]", "application/json", "text/html")
    assert status == 406 and "define output_fn" in json.loads(body)["error"]
    # A body that is not what its type says is the client's error.
    status, body, _ = post(url, b"[[1, 2", "application/json")
    assert status == 400 and "not valid application/json" in json.loads(body)["error"]
    # An object array would need pickle, which requests do not get.
    status, body, _ = post(url, npy(numpy.array([{"x": 1}], dtype=object)), NPY)
    assert status == 400 and "allow_pickle" in json.loads(body)["error"]
    status, body, _ = post(url, b"[[1, 2]]", "application/json")
    assert status == 200


def test_a_script_with_transform_fn(manager, shelf, tmp_path):
    deployment = manager.deploy(saved(shelf, tmp_path, "whole", {"code/inference.py": TRANSFORM}))
    assert deployment.status == "ready", deployment.logs()
    status, body, kind = post(deployment.url, b"1,2", "text/csv", "*/*")
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == {
        "input_data": "str",
        "text": "1,2",
        "content_type": "text/csv",
        "accept": "application/json",  # */* became the default Accept before transform_fn
        "model": {"scale": 10},
    }
    # Bytes back, not a tuple: the answer's type is the Accept sent.
    status, body, kind = post(deployment.url, b"\x00\x01abc", "application/octet-stream", "x/rev")
    assert (status, body, kind) == (200, b"cba\x01\x00", "x/rev")


def test_transform_fn_with_predict_fn_fails_at_deploy(manager, shelf, tmp_path):
    files = {"code/inference.py": TRANSFORM_AND_PREDICT}
    deployment = manager.deploy(saved(shelf, tmp_path, "both", files))
    assert deployment.status == "failed"
    assert "transform_fn and predict_fn" in deployment.error
    assert "cannot use transform_fn in conjunction" in deployment.error


def test_sagemaker_program_names_the_script(manager, shelf, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "predictor.py")
    other = DEFAULTS.replace("return model.predict(data)", "return model.predict(data) * 100")
    files = {
        "code/inference.py": DEFAULTS,
        "code/predictor.py": other,
        "model.pkl": linear_pickle(),
    }
    deployment = manager.deploy(saved(shelf, tmp_path, "named", files))
    assert deployment.status == "ready", deployment.logs()
    status, body, _ = post(deployment.url, b"[[1, 2]]", "application/json", "application/json")
    assert status == 200 and rounded(json.loads(body)) == [500.0]


def test_context_and_local_modules_on_a_multi_model_endpoint(manager, shelf, tmp_path):
    refs = [
        saved(shelf, tmp_path, name, {"code/inference.py": CONTEXT, "code/helpers.py": helper})
        for name, helper in (("alpha", "WHO = 'alpha'\n"), ("beta", "WHO = 'beta'\n"))
    ]
    deployment = manager.deploy([], mode="multi", name="mme")
    assert deployment.status == "ready", deployment.logs()
    seen = {}
    for ref in refs:
        status, body, kind = post(
            deployment.url,
            b"[1, 2]",
            "application/json",
            **{TARGET: ref, "X-Amzn-SageMaker-Custom-Attributes": f"for={ref}"},
        )
        assert (status, kind) == (200, "application/json"), body
        seen[ref] = json.loads(body)
    alpha, beta = seen["alpha:1"], seen["beta:1"]
    # Each model imported its own code/helpers.py, though both are named helpers.
    assert (alpha["who"], beta["who"]) == ("alpha", "beta")
    for ref, answer in seen.items():
        assert answer["rows"] == [1, 2]
        assert answer["attributes"] == f"for={ref}"  # the request's headers, via context
        assert answer["predict_fn_had_context"] is True  # context=None counts as a parameter
        assert answer["model_fn_had_model_dir"] is True
        assert os.path.isfile(os.path.join(answer["model_dir"], "code", "inference.py"))
    assert alpha["model_dir"] != beta["model_dir"]


# ---- the contract's edges, on a handler loaded in this process --------------------------


def load(tmp_path: Path, files: dict[str, str | bytes], name: str = "m"):
    return load_handler(str(folder(tmp_path / name, files)), name)


def test_defaults_answer_json_when_no_default_accept_is_set(tmp_path):
    handler = load(tmp_path, {"inference.py": DEFAULTS, "model.pkl": linear_pickle()})
    assert handler.kind == "inference.py"  # at the folder's top, without code/
    answer = handler.handle(Invocation(b"[[1, 2]]", "application/json"))
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert rounded(json.loads(answer.body)) == [5.0]


def test_the_toolkit_looks_in_code_first_then_at_the_top(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "entry")
    top = DEFAULTS.replace("return model.predict(data)", "return model.predict(data) * 2")
    files = {"entry.py": top, "model.pkl": linear_pickle()}
    assert load(tmp_path, files, "top").kind == "entry.py"
    handler = load(tmp_path, {**files, "code/entry.py": DEFAULTS}, "both")
    assert handler.kind == os.path.join("code", "entry.py")


def test_serve_py_comes_first_and_pickles_after_the_script(tmp_path):
    serve_py = "def load(model_dir):\n    return 1\n\ndef predict(model, data):\n    return data\n"
    files = {"serve.py": serve_py, "code/inference.py": DEFAULTS, "model.pkl": linear_pickle()}
    assert load(tmp_path, files, "serve").kind == "serve.py"
    del files["serve.py"]
    assert load(tmp_path, files, "script").kind == os.path.join("code", "inference.py")


def test_without_predict_fn_the_model_predicts_as_in_the_scikit_learn_container(tmp_path):
    only_model_fn = (
        "import os, pickle\n\n"
        "def model_fn(model_dir):\n"
        "    with open(os.path.join(model_dir, 'model.pkl'), 'rb') as fh:\n"
        "        return pickle.load(fh)\n"
    )
    handler = load(tmp_path, {"code/inference.py": only_model_fn, "model.pkl": linear_pickle()})
    answer = handler.handle(Invocation(b"[[1, 2]]", "application/json"))
    assert answer.status == 200 and rounded(json.loads(answer.body)) == [5.0]


def test_scripts_that_cannot_work_are_refused_at_load(tmp_path):
    with pytest.raises(HandlerNotFoundError, match=r"neither predict_fn.*has no predict"):
        load(tmp_path, {"code/inference.py": "def model_fn(model_dir):\n    return 1\n"}, "a")
    with pytest.raises(HandlerNotFoundError, match="no model_fn"):
        load(tmp_path, {"code/inference.py": "def predict_fn(data, model):\n    return 1\n"}, "b")
    three = (
        "def model_fn(model_dir):\n    return 1\n\ndef predict_fn(data, model, c, d):\n    pass\n"
    )
    with pytest.raises(HandlerNotFoundError, match="predict_fn takes 4 parameters"):
        load(tmp_path, {"code/inference.py": three}, "c")


def test_helpers_from_code_do_not_stay_imported(tmp_path):
    files = {"code/inference.py": CONTEXT, "code/helpers.py": "WHO = 'one'\n"}
    handler = load(tmp_path, files)
    assert "helpers" not in sys.modules
    answer = handler.handle(Invocation(b"[3]", "application/json"))
    assert json.loads(answer.body)["who"] == "one"


def test_the_toolkits_own_errors_keep_their_status(tmp_path):
    script = (
        "class BaseInferenceToolkitError(Exception):\n"
        "    def __init__(self, status_code, message, phrase):\n"
        "        super().__init__(status_code, message, phrase)\n"
        "        self.status_code, self.message, self.phrase = status_code, message, phrase\n"
        "\n"
        "class UnsupportedFormatError(Exception):\n"
        "    pass\n"
        "\n"
        "def model_fn(model_dir):\n"
        "    return None\n"
        "\n"
        "def input_fn(input_data, content_type):\n"
        "    if content_type == 'text/plain':\n"
        "        raise UnsupportedFormatError(content_type)\n"
        "    return input_data\n"
        "\n"
        "def predict_fn(data, model):\n"
        "    raise BaseInferenceToolkitError(422, 'rows must be positive', 'Unprocessable')\n"
    )
    handler = load(tmp_path, {"code/inference.py": script})
    refused = handler.handle(Invocation(b"x", "text/plain"))
    assert refused.status == 415
    answer = handler.handle(Invocation(b"[1]", "application/json"))
    assert answer.status == 422 and "rows must be positive" in json.loads(answer.body)["error"]


def test_csv_columns_keep_their_own_types(tmp_path):
    # genfromtxt with dtype=None, as the toolkit calls it: whole numbers stay integers.
    script = (
        "def model_fn(model_dir):\n    return None\n\n"
        "def predict_fn(data, model):\n    return {'dtype': data.dtype.kind, 'rows': data}\n"
    )
    handler = load(tmp_path, {"code/inference.py": script})
    answer = handler.handle(Invocation(b"1,2\n3,4\n", "text/csv", "application/json"))
    assert json.loads(answer.body) == {"dtype": "i", "rows": [[1, 2], [3, 4]]}


def test_the_context_sets_the_answers_status_and_headers(tmp_path):
    script = (
        "def model_fn(model_dir):\n    return None\n\n"
        "def predict_fn(data, model):\n    return data\n\n"
        "def output_fn(prediction, accept, context):\n"
        "    context.set_response_status(201, 'Created')\n"
        "    context.set_response_header(0, 'X-Rows', str(len(prediction)))\n"
        "    context.set_response_content_type(0, 'text/ignored')  # the toolkit's choice wins\n"
        "    return b'made', 'application/x-made'\n"
    )
    answer = load(tmp_path, {"code/inference.py": script}).handle(
        Invocation(b"[1, 2, 3]", "application/json")
    )
    assert (answer.status, answer.content_type, answer.body) == (201, "application/x-made", b"made")
    assert answer.headers == {"X-Rows": "3"}
