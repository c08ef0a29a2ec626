"""Endpoint-level handler services, run as Multi Model Server runs them (SageMaker's
``start_model_server(handler_service=...)``), TorchServe-style handler classes included.

``handler="FILE[:FUNC]"`` names one Python file that serves every model of the endpoint.
For each model loaded, the file runs as a module of its own (MMS runs a worker process per
model, so handlers keep a module-level singleton), with the file's folder, the model's
``code/`` and the model folder importable while it loads (:mod:`.user_code`). Its entry is
found as MMS's model loader finds it:

- the module-level function ``FUNC`` (default ``handle``), called once at load as
  ``handle(None, context)``, then ``handle(data, context)`` for each batch;
- else the module's one class, instantiated and given ``initialize(context)``, then its
  ``handle(data, context)``; a class with no ``handle`` but TorchServe's ``preprocess``,
  ``inference`` and ``postprocess`` has them run in turn, as TorchServe's BaseHandler does.

``data`` holds one dict per request (:mod:`.mms_request`), ``context`` is a
:class:`~.mms_context.Context`; ``handle`` returns a list as long as ``data``, each item
sent raw (bytes), as UTF-8 (str) or as JSON. Failures are answered as MMS answers them:
an exception with an ``error_code`` (MMS's and TorchServe's PredictionException) with that
code, MemoryError 507, anything else 503, a return of the wrong shape 503; each with MMS's
JSON body (``code``, ``type``, ``message``) plus ``error`` naming the failure, and the
traceback in the server's log.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.deploy.mar_manifest import read_manifest
from modelshelf.core.deploy.mms_context import Context, Metrics, RequestProcessor
from modelshelf.core.deploy.mms_encoding import encode_value, new_request_id
from modelshelf.core.deploy.mms_request import build_request
from modelshelf.core.deploy.model_handler import ModelHandler, find_params, folder_size
from modelshelf.core.deploy.user_code import call_user, forget, import_file, local_imports
from modelshelf.core.errors import DeploymentError, HandlerNotFoundError, PayloadError

log = logging.getLogger("modelshelf.serve")

DEFAULT_ENTRY = "handle"
KIND = "handler service"
# Requests per call of handle: one until the endpoint batches requests.
BATCH_SIZE = 1
JSON = "application/json"
ERROR_TYPE = "InternalServerException"  # the type MMS's frontend names every worker error
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name
# Headers that frame the body: the server sets them for the body it sends.
_FRAMING = frozenset({"content-length", "transfer-encoding"})

TORCHSERVE_STEPS = ("preprocess", "inference", "postprocess")

Entry = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class HandlerSpec:
    """A handler service: a Python file and its entry function (None: MMS's choice)."""

    path: str
    function: str | None = None

    def __str__(self) -> str:
        return self.path + (f":{self.function}" if self.function else "")


def split_handler(text: str) -> tuple[str, str | None]:
    """``FILE[:FUNC]`` as its file and function (None when not given)."""
    text = text.strip()
    head, colon, tail = text.rpartition(":")
    if colon and head and tail.isidentifier():
        return head, tail
    return text, None


def parse_handler(given: str | HandlerSpec) -> HandlerSpec:
    """``FILE[:FUNC]``, the file made absolute and checked; DeploymentError if unusable."""
    if isinstance(given, HandlerSpec):
        path, function = given.path, given.function
    elif os.path.isfile(given):  # a file whose name holds a colon
        path, function = given, None
    else:
        path, function = split_handler(given)
    if function is not None and not function.isidentifier():
        raise DeploymentError(f"the handler's function {function!r} is not a Python name")
    path = os.path.abspath(os.path.expanduser(path))
    if not path.endswith(".py"):
        raise DeploymentError(f"the handler must be a Python file, FILE.py[:FUNC], not {given!s}")
    if not os.path.isfile(path):
        raise DeploymentError(f"the handler file {path} does not exist")
    return HandlerSpec(path, function)


def load_service(model_dir: str, name: str, spec: HandlerSpec) -> ModelHandler:
    """Load the model in ``model_dir`` as ``name`` behind the handler service ``spec``."""
    if not os.path.isfile(spec.path):
        raise HandlerNotFoundError(f"{name}: the handler file {spec.path} is not there")
    started = time.perf_counter()
    manifest = read_manifest(model_dir, name, spec.path)
    context = Context(name, model_dir, manifest, BATCH_SIZE, None)
    folders = [os.path.dirname(spec.path), os.path.join(model_dir, "code"), model_dir]
    with local_imports(folders, owned=[model_dir]):
        module = import_file(spec.path, "modelshelf_handler", name)
        try:
            entry = _entry(module, spec, name, context)
        except BaseException:
            forget(module)
            raise
    return ModelHandler(
        name=name,
        kind=KIND,
        model_dir=model_dir,
        model=HandlerService(name, entry, context),
        predict_fn=None,
        load_seconds=time.perf_counter() - started,
        size_bytes=folder_size(model_dir),
        params=find_params(model_dir, name),
        handle_fn=_handle_one,
        handle_batch_fn=_handle_batch,
        close_fn=lambda: forget(module),
    )


def _entry(module: ModuleType, spec: HandlerSpec, name: str, context: Context) -> Entry:
    """The entry MMS's loader would call, initialised as MMS initialises it."""
    function = spec.function or DEFAULT_ENTRY
    file = os.path.basename(spec.path)
    if hasattr(module, function):
        entry = getattr(module, function)
        if not callable(entry):
            raise HandlerNotFoundError(
                f"{name}: {function} in {file} is a {type(entry).__name__}, not a function "
                f"{function}(data, context)"
            )
        call_user(name, f"{function}(None, context)", lambda: entry(None, context))
        return entry
    classes = [
        c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found = ", ".join(sorted(c.__name__ for c in classes)) or "none"
        raise HandlerNotFoundError(
            f"{name}: {file} must define a function {function}(data, context) or exactly one "
            f"class with handle(data, context) (classes found: {found})"
        )
    cls = classes[0]
    instance = call_user(name, f"{cls.__name__}()", cls)
    entry = _class_entry(instance, f"{name}: class {cls.__name__} in {file}")
    if callable(getattr(instance, "initialize", None)):
        call_user(name, f"{cls.__name__}.initialize(context)", lambda: instance.initialize(context))
    return entry


def _class_entry(instance: Any, what: str) -> Entry:
    handle = getattr(instance, "handle", None)
    if callable(handle):
        return handle
    if all(callable(getattr(instance, step, None)) for step in TORCHSERVE_STEPS):

        def pipeline(data: Any, context: Context) -> Any:
            instance.context = context  # as TorchServe's BaseHandler.handle keeps it
            return instance.postprocess(instance.inference(instance.preprocess(data)))

        return pipeline
    raise HandlerNotFoundError(
        f"{what} has no handle(data, context), nor TorchServe's preprocess, inference and "
        "postprocess"
    )


def _handle_one(service: HandlerService, invocation: Invocation) -> Answer:
    return service.handle([invocation])[0]


def _handle_batch(service: HandlerService, invocations: list[Invocation]) -> list[Answer]:
    return service.handle(invocations)


class HandlerService:
    """One loaded model's handler entry, called one batch at a time as MMS's worker does."""

    def __init__(self, name: str, entry: Entry, context: Context) -> None:
        self.name = name
        self.entry = entry
        self.context = context
        # MMS gives each model one worker, one batch at a time: handlers keep state (their
        # singleton, the context's current requests) that no two calls may change at once.
        self._lock = threading.Lock()

    def handle(self, invocations: Sequence[Invocation]) -> list[Answer]:
        """Answer a batch of requests: one answer each, in order.

        A request whose form body cannot be read is answered 400 alone; the handler gets
        the others (the whole batch, if it was alone: a PayloadError, as before).
        """
        ids = [invocation.request_id or new_request_id() for invocation in invocations]
        try:
            requests = [build_request(invocation) for invocation in invocations]
        except PayloadError:
            if len(invocations) == 1:
                raise
            return self._handle_readable(invocations, ids)
        with self._lock:
            context = self.context
            context.request_ids = dict(enumerate(ids))
            processors = [RequestProcessor(headers) for _, headers in requests]
            context.request_processor = processors
            context.metrics = Metrics(context.request_ids, self.name)
            try:
                result = self.entry([data for data, _ in requests], context)
            except MemoryError as exc:
                return self._failed(ids, 507, "Out of resources", exc)
            except Exception as exc:
                return self._failed(ids, *_error_status(exc), exc)
            return self._answers(result, processors, ids)

    def _handle_readable(self, invocations: Sequence[Invocation], ids: list[str]) -> list[Answer]:
        """A batch where some bodies cannot be read: those answered 400, the rest handled."""
        answers: dict[int, Answer] = {}
        readable = []
        for i, invocation in enumerate(invocations):
            try:
                build_request(invocation)
                readable.append(i)
            except PayloadError as exc:
                answers[i] = _error(400, "Bad request", str(exc), ids[i])
        if readable:
            given = [replace(invocations[i], request_id=ids[i]) for i in readable]
            answers.update(zip(readable, self.handle(given), strict=True))
        return [answers[i] for i in range(len(invocations))]

    def _answers(
        self, result: Any, processors: list[RequestProcessor], ids: list[str]
    ) -> list[Answer]:
        if not isinstance(result, list):
            problem = f"handle returned a {type(result).__name__}, not a list of answers"
            return self._failed(ids, 503, "Invalid model predict output", problem)
        if len(result) != len(ids):
            problem = f"handle returned {len(result)} answers for {len(ids)} requests"
            return self._failed(ids, 503, "number of batch response mismatched", problem)
        answers = []
        for idx, value in enumerate(result):
            try:
                body, default_type = encode_value(value)
            except (TypeError, ValueError) as exc:
                problem = f"answer {idx} cannot be sent: {type(exc).__name__}: {exc}"
                return self._failed(ids, 503, "Unsupported model output data type.", problem)
            answers.append(self._answer(processors[idx], body, default_type, ids[idx]))
        return answers

    def _answer(
        self, processor: RequestProcessor, body: bytes, content_type: str, request_id: str
    ) -> Answer:
        """The answer with the status and headers the handler set for its request."""
        status = processor.get_response_status_code()
        set_headers = processor.get_response_headers()
        if not set_headers and type(status) is int and status == 200:
            # The common case: the handler set nothing, so there is nothing to check (the
            # content type is ours; the request id is ours or arrived in a header).
            return Answer(body, content_type, 200, {"x-request-id": request_id})
        headers: dict[str, str] = {}
        for key, value in set_headers.items():
            lower = str(key).lower()
            if lower == "content-type":
                content_type = str(value) or content_type
            elif lower not in _FRAMING:
                headers[str(key)] = str(value)
        if not any(key.lower() == "x-request-id" for key in headers):
            headers["x-request-id"] = request_id  # as MMS's frontend adds to every answer
        problem = _bad_response(status, content_type, headers)
        if problem is not None:
            log.error("%s: %s", self.name, problem)
            return _error(500, "Invalid response", f"{self.name}: {problem}", request_id)
        return Answer(body, content_type, status, headers)

    def _failed(
        self, ids: list[str], status: int, message: str, cause: BaseException | str
    ) -> list[Answer]:
        """Every request of the batch answered with the same error, as MMS answers them."""
        if isinstance(cause, BaseException):
            detail = f"{self.name}: handle failed: {type(cause).__name__}: {cause}"
            log.error("%s (%s)", detail, message, exc_info=cause)
        else:
            detail = f"{self.name}: {cause}"
            log.error("%s (%s)", detail, message)
        return [_error(status, message, detail, request_id) for request_id in ids]


def _error_status(exc: Exception) -> tuple[int, str]:
    """MMS's status and message for an exception raised by ``handle``."""
    code = getattr(exc, "error_code", None)
    if isinstance(code, int) and not isinstance(code, bool):  # a PredictionException
        return (code if 200 <= code <= 599 else 500), str(getattr(exc, "message", exc))
    if "CUDA" in str(exc):  # TorchServe's reading of a GPU out of memory
        return 507, "Out of resources"
    return 503, "Prediction failed"


def _error(status: int, message: str, detail: str, request_id: str) -> Answer:
    body = {"code": status, "type": ERROR_TYPE, "message": message, "error": detail}
    return Answer(json.dumps(body).encode(), JSON, status, {"x-request-id": request_id})


def _bad_response(status: Any, content_type: str, headers: dict[str, str]) -> str | None:
    """Why the status or headers a handler set cannot be sent, if they cannot."""
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        return f"the handler set the response status {status!r} (not 200 to 599)"
    for key, value in [("content-type", content_type), *headers.items()]:
        problem = _bad_header(key, value)
        if problem is not None:
            return problem
    return None


def _bad_header(key: str, value: str) -> str | None:
    """Why one response header cannot be sent, if it cannot."""
    if not _TOKEN.match(key):
        return f"the handler set a response header named {key!r}"
    if "\r" in value or "\n" in value or not _latin1(value):
        return f"the handler set the response header {key} to {value!r}"
    return None


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
