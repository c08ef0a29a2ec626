"""The bodies Multi Model Server's frontend answers with, for a multi-model endpoint.

SageMaker drives a multi-model container through MMS's management API, and clients (the
SageMaker containers' own test suites among them) read MMS's bodies, as its frontend writes
them (``ManagementRequestHandler``, ``HttpRequestHandler``, ``NettyUtils``):

- ``StatusResponse``, ``{"status": ...}``: ``Workers scaled`` once ``POST /models`` has
  loaded a model, ``Model "NAME" unregistered`` after ``DELETE /models/NAME``;
- ``ErrorResponse``, ``{"code", "type", "message"}``: ``type`` the simple name of the
  exception the status comes from (``ModelNotFoundException`` for 404 with ``Model not
  found: NAME``, ``ConflictStatusException`` for 409 with ``Model NAME is already
  registered.``, ``BadRequestException`` for 400 ...).

Both are Gson's pretty printing (two spaces) with a final newline. Error bodies keep
modelshelf's own ``error`` field too (the same text, and a ``traceback`` when the model's
code failed), for the clients that read it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from modelshelf.core.deploy.http import JSON, error_response

# The exception MMS's frontend answers each status with (HttpRequestHandler.channelRead0).
TYPES = {
    400: "BadRequestException",
    404: "ModelNotFoundException",
    405: "MethodNotAllowedException",
    408: "RequestTimeoutException",
    409: "ConflictStatusException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    507: "OutOfMemoryError",
}
WORKERS_SCALED = "Workers scaled"


def mms_json(data: Any, status: int = 200) -> Response:
    """``data`` as MMS sends JSON: pretty-printed with two spaces, then a newline."""
    return Response(json.dumps(data, indent=2).encode() + b"\n", status, media_type=JSON)


def status_response(status: str, **extra: Any) -> Response:
    """MMS's ``StatusResponse`` (200), with modelshelf's ``extra`` fields after it."""
    return mms_json({"status": status, **extra})


def mms_error(status: int, message: str, **extra: Any) -> Response:
    """MMS's ``ErrorResponse`` for ``status``, with ``error`` (and ``extra``) kept."""
    kind = TYPES.get(status) or ("BadRequestException" if status < 500 else TYPES[500])
    body = {"code": status, "type": kind, "message": message, "error": message, **extra}
    return mms_json(body, status)


def mms_error_response(exc: BaseException) -> Response:
    """The answer to an exception raised while serving (as :func:`~.http.error_response`
    maps it), in MMS's shape."""
    return error_response(exc, mms_error)


def model_not_found(name: str) -> Response:
    """404, as MMS answers a model it does not have."""
    return mms_error(404, not_found_message(name))


def not_found_message(name: str) -> str:
    return f"Model not found: {name}"


def already_registered(name: str) -> Response:
    """409, as MMS answers ``POST /models`` for a name it has."""
    return mms_error(409, f"Model {name} is already registered.")


def unregistered(name: str) -> Response:
    """200, as MMS answers ``DELETE /models/NAME``."""
    return status_response(f'Model "{name}" unregistered')
