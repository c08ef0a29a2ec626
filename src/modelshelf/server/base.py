"""The base handler: authentication, JSON bodies, work off the event loop, and the one place
where errors become HTTP statuses."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from http.client import responses
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ValidationError
from tornado.web import HTTPError

from modelshelf.core.errors import (
    DeploymentError,
    IntegrityError,
    ModelInUseError,
    ModelshelfError,
    SizeLimitError,
    StorageError,
    StoreBusyError,
    UploadStateError,
)
from modelshelf.server.schemas import Answer

BodyT = TypeVar("BodyT", bound=BaseModel)
T = TypeVar("T")

#: The resource name ``@authorized`` checks; an Authorizer can grant or refuse it.
AUTH_RESOURCE = "modelshelf"


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception stands for (4xx: the client's doing, 5xx: ours)."""
    if isinstance(exc, HTTPError):
        return exc.status_code
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, LookupError):  # ModelNotFoundError: models, versions, jobs, ...
        return 404
    if isinstance(exc, (ModelInUseError, StoreBusyError, DeploymentError, UploadStateError)):
        return 409
    if isinstance(exc, SizeLimitError):
        return 413
    if isinstance(exc, (StorageError, IntegrityError)):
        return 500
    if isinstance(exc, ModelshelfError):  # bad names, sources, parameters, sizes ...
        return 400
    return 500


def error_body(exc: BaseException, status: int) -> dict[str, Any]:
    """The JSON body of an error answer: a message a person can act on."""
    if isinstance(exc, HTTPError):
        reason = exc.reason or responses.get(status, "Error")
        if status == 403 and not exc.log_message:
            # What @authenticated and @authorized raise, with nothing to say why.
            return {"message": f"{reason}: log in to Jupyter or send its token, and check that "
                    "this user may use modelshelf", "reason": reason}  # fmt: skip
        return {"message": exc.log_message or reason, "reason": reason}
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        return {"message": f"invalid request body: {problems}", "reason": "Bad Request"}
    if isinstance(exc, ModelshelfError) or status < 500:
        body: dict[str, Any] = {"message": str(exc), "reason": type(exc).__name__}
        if isinstance(exc, ModelInUseError):
            body["holders"] = exc.holders
        return body
    return {
        "message": f"internal error ({type(exc).__name__}: {exc}); the server log has details",
        "reason": "Internal Server Error",
    }


class ModelshelfHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every modelshelf REST handler.

    Every verb of a subclass must carry ``@tornado.web.authenticated`` and ``@authorized``
    (tests/server/test_auth_and_spec.py fails the build otherwise).
    """

    auth_resource = AUTH_RESOURCE

    @property
    def app(self) -> Any:
        """The :class:`~modelshelf.server.app.ModelshelfApp` (shelf, managers, tasks)."""
        return self.settings["modelshelf"]

    def body(self, model: type[BodyT]) -> BodyT:
        """The request body parsed as ``model`` (400 with the reasons when it does not fit)."""
        try:
            return model.model_validate_json(self.request.body or b"")
        except ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                raise HTTPError(400, "the request body is not valid JSON") from None
            raise

    def int_argument(self, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
        text = self.get_query_argument(name, None)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise HTTPError(400, f"{name} must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise HTTPError(400, f"{name} must be between {low} and {high}, not {value}")
        return value

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a core call in a worker thread: store and process work never blocks the
        server's event loop (other users' requests, kernels' websockets)."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    def reply(self, answer: type[Answer] | None, data: Any, status: int = 200) -> None:
        """Send ``data`` shaped by the ``answer`` schema (None: JSON passed on as it is, such
        as an executed notebook)."""
        if answer is None:
            text = json.dumps(data, default=str)
        else:
            try:
                text = answer.model_validate(data).model_dump_json()
            except ValidationError as exc:  # the server's bug, not the client's: a 500
                raise RuntimeError(f"answer does not fit {answer.__name__}: {exc}") from None
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    # ---- errors, mapped once ------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else HTTPError(status_code)
        status = status_of(exc) if exc_info else status_code
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error_body(exc, status), default=str))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # A user's mistake is a warning line, not a traceback in the server log.
        if value is not None and status_of(value) < 500:
            self.log.warning("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)
