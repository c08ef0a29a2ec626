"""The pieces of the Multi Model Server contract, in-process: the request a handler sees,
the context's signatures, one batch at a time, and answers that cannot be sent."""

from __future__ import annotations

import inspect
import json
import sys
import threading
import time

import pytest
from mms_handlers import write

from modelshelf.core.deploy.handler_service import parse_handler
from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.mms_context import Context
from modelshelf.core.deploy.mms_request import build_request
from modelshelf.core.errors import PayloadError


def test_a_form_body_becomes_its_fields_and_headers_are_found_in_any_case():
    invocation = Invocation(
        b"a=1&b=&c=x%20y",
        "application/x-www-form-urlencoded",
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/csv"},
        query={"q": "7"},
    )
    data, headers = build_request(invocation)
    assert data == {"q": b"7", "a": b"1", "b": b"", "c": b"x y"}
    assert headers["a"] == {"content-type": ""}
    assert headers.get("Accept") == headers["ACCEPT"] == "text/csv" and "Accept" in headers
    assert headers.get("X-Missing") is None and "X-Missing" not in headers
    # Any other body is "body", with its media type (without parameters), as MMS sends it.
    data, headers = build_request(Invocation(b"1,2", "text/csv; charset=utf-8"))
    assert data == {"body": b"1,2"} and headers["body"] == {"content-type": "text/csv"}
    assert build_request(Invocation(b"x"))[1]["body"] == {"content-type": ""}


def test_a_multipart_body_keeps_binary_files_and_a_broken_one_is_a_400():
    binary = b"\x00\r\n\xff\rX\n--not-a-boundary\r\n"
    body = (
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        b"Content-Type: application/x-thing\r\n\r\n" + binary + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="t"\r\n\r\nw\xc3\xb6rd\r\n--B--\r\n'
    )
    data, headers = build_request(Invocation(body, "multipart/form-data; boundary=B"))
    assert data == {"f": binary, "t": "wörd".encode()}
    assert headers["f"] == {"content-type": "application/x-thing"}
    assert headers["t"] == {"content-type": ""}
    with pytest.raises(PayloadError, match="boundary"):
        build_request(Invocation(body, "multipart/form-data; boundary=OTHER"))


def test_the_context_has_mms_s_signatures():
    def signature(name: str) -> list[tuple[str, object]]:
        parameters = inspect.signature(getattr(Context, name)).parameters.values()
        return [(p.name, p.default) for p in parameters][1:]

    empty = inspect.Parameter.empty
    assert signature("set_response_status") == [("code", 200), ("phrase", ""), ("idx", 0)]
    assert signature("set_response_content_type") == [("idx", empty), ("value", empty)]
    assert signature("set_response_header") == [("idx", empty), ("key", empty), ("value", empty)]
    assert signature("get_request_header") == [("idx", empty), ("key", empty)]
    assert signature("get_request_id") == [("idx", 0)]
    assert signature("__init__") == [
        ("model_name", empty), ("model_dir", empty), ("manifest", empty),
        ("batch_size", empty), ("gpu", empty), ("mms_version", Context.__init__.__defaults__[0]),
    ]  # fmt: skip


@pytest.fixture
def model(tmp_path):
    return str(write(tmp_path / "model", {"weights.bin": "w"}))


def _service(tmp_path, model: str, source: str, name: str = "m"):
    handler = write(tmp_path / "handler", {"h.py": source}) / "h.py"
    return load_handler(model, name, parse_handler(str(handler)))


def test_one_batch_at_a_time_as_in_an_mms_worker(tmp_path, model):
    handler = _service(
        tmp_path, model,
        "import time\nINSIDE = []\nMOST = [0]\n\n"
        "def handle(data, context):\n"
        "    if data is None:\n        return None\n"
        "    INSIDE.append(1)\n    MOST[0] = max(MOST[0], len(INSIDE))\n"
        "    time.sleep(0.02)\n    INSIDE.pop()\n"
        "    return [context.get_request_id(0)]\n",
    )  # fmt: skip
    answers: list[bytes] = []

    def ask(n: int) -> None:
        answers.append(handler.handle(Invocation(b"x", request_id=f"r{n}")).body)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [f"r{n}".encode() for n in range(6)]  # each its own context
    assert time.perf_counter() - started >= 6 * 0.02
    module = sys.modules[handler.model.entry.__module__]
    assert module.MOST == [1]


def test_answers_a_client_cannot_be_sent_are_a_clear_500(tmp_path, model):
    handler = _service(
        tmp_path, model,
        "def handle(data, context):\n"
        "    if data is None:\n        return None\n"
        "    what = data[0]['body']\n"
        "    if what == b'status':\n        context.set_response_status(42)\n"
        "    if what == b'header':\n        context.set_response_header(0, 'X-A', 'a\\r\\nb')\n"
        "    return ['ok']\n",
    )  # fmt: skip
    for body, fragment in ((b"status", "status 42"), (b"header", "header X-A")):
        answer = handler.handle(Invocation(body))
        assert answer.status == 500 and fragment in json.loads(answer.body)["error"]
    assert handler.handle(Invocation(b"fine")).status == 200


def test_a_handler_service_answers_requests_not_rows_and_unloads_its_module(tmp_path, model):
    handler = _service(tmp_path, model, "def handle(data, context):\n    return data\n")
    with pytest.raises(PayloadError, match="handler service"):
        handler.predict(None)
    name = handler.model.entry.__module__
    assert name in sys.modules
    handler.close()
    assert name not in sys.modules


def test_the_synthesized_manifest_names_the_one_model_file(tmp_path):
    from modelshelf.core.deploy.mar_manifest import model_file, read_manifest

    folder = write(tmp_path / "m", {"a.pt": "", "notes.md": "", "x-params.json": "{}"})
    assert model_file(str(folder)) == "a.pt"
    write(folder, {"model.onnx": "", "vocab.txt": ""})
    assert model_file(str(folder)) == "model.onnx"  # several weights: the one named model
    write(folder, {"model.pkl": ""})
    assert model_file(str(folder)) is None
    manifest = read_manifest(str(folder), "m", "/h/handler.py")
    assert manifest["model"] == {"modelName": "m", "handler": "handler.py"}


@pytest.mark.parametrize(
    "value",
    [
        [],
        [1, 2.5, -0.0, True, None],
        [float("nan"), float("inf"), -float("inf"), 10**30, 1e-300],
        [[1, 2], [3]],
        {"a": [1, 2], "b": "x, y"},
        ["a, b", 1],
        "text",
        3.0,
    ],
)
def test_answers_are_encoded_as_mms_encodes_them(value) -> None:
    from modelshelf.core.deploy.mms_encoding import _indented_json

    assert _indented_json(value) == json.dumps(value, indent=2)


def test_request_ids_are_random_version_4_uuids() -> None:
    import uuid

    from modelshelf.core.deploy.mms_encoding import new_request_id

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for text in list(ids)[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
