"""What every serving app shares: settings, bearer auth, bounded body reads, error answers.

The apps are plain Starlette with no per-request logging, no validation layer and no
``BaseHTTPMiddleware`` (each costs a large share of a tiny model's request budget).
"""

from __future__ import annotations

import hmac
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelshelf.core.deploy.invocation import Answer
from modelshelf.core.errors import (
    BodyTooLargeError,
    HandlerNotFoundError,
    InvalidNameError,
    ModelDataError,
    ModelNotFoundError,
    ModelTooLargeError,
    NotAcceptableError,
    PayloadError,
    RequirementsError,
    RequirementsNotMetError,
    ServingError,
)

log = logging.getLogger("modelshelf.serve")

HEALTH_PATHS = frozenset({"/ping", "/v2/health/live", "/v2/health/ready"})
JSON = "application/json"
PING_OK = Response(b'{"status":"ok"}', 200, media_type=JSON)
T = TypeVar("T")
# How an app shapes an error's body: (status, message, **extra fields) -> Response.
ErrorAnswer = Callable[..., Response]


# Where a deployment's server process finds its config file (set by serve.py's main, read by
# every worker's app).
CONFIG_ENV = "MODELSHELF_DEPLOY_CONFIG"


@dataclass(frozen=True)
class ServingSettings:
    """How a serving app guards itself: an optional bearer token and a body size limit."""

    token: str | None = None
    max_body: int = 6 * 2**20


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response without JSONResponse's extra work (plain ``json.dumps``)."""
    return Response(json.dumps(data).encode(), status, headers, JSON)


def json_error(status: int, message: str, **extra: Any) -> Response:
    """``{"error": message, **extra}`` with ``status``."""
    return json_response({"error": message, **extra}, status)


def error_response(exc: BaseException, answer: ErrorAnswer = json_error) -> Response:
    """Map an exception raised while serving to its HTTP answer; the server keeps going.

    ``answer(status, message, **extra)`` shapes the body: :func:`json_error` by default.
    """
    if isinstance(exc, ClientDisconnect):
        return Response(b"", 400)  # nobody is listening any more
    if isinstance(exc, NotAcceptableError):  # a PayloadError too: before the 400s
        return answer(406, str(exc))
    if isinstance(exc, ModelDataError):  # a bad artifact is not the server's own failure
        return answer(exc.status, str(exc))
    if isinstance(exc, (PayloadError, InvalidNameError)):
        return answer(400, str(exc))
    if isinstance(exc, BodyTooLargeError):
        return answer(413, str(exc))
    if isinstance(exc, ModelTooLargeError):
        return answer(507, str(exc))
    if isinstance(exc, (RequirementsNotMetError, RequirementsError)):
        return answer(424, str(exc))  # Failed Dependency: what the model needs is missing
    if isinstance(exc, ModelNotFoundError):
        return answer(404, str(exc))
    if isinstance(exc, ServingError):
        # Logged once here, with the user's own traceback: the line of serve.py that failed.
        log.error("%s\n%s", exc, exc.user_traceback)
        return answer(500, str(exc), traceback=exc.user_traceback)
    if isinstance(exc, HandlerNotFoundError):
        return answer(500, str(exc))
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("internal error: %s: %s\n%s", type(exc).__name__, exc, detail)
    return answer(500, f"internal error: {type(exc).__name__}: {exc}", traceback=detail)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (declared or, if chunked, counted)."""
    return await read_asgi_body(request.scope, request.receive, limit)


async def read_json(request: Request, limit: int, empty: bytes = b"null") -> Any:
    """The body parsed as JSON (``empty`` stands for no body); PayloadError (400) if it is not."""
    body = await read_body(request, limit)
    try:
        return json.loads(body or empty)
    except ValueError:
        raise PayloadError("the body is not valid JSON") from None


async def read_asgi_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """:func:`read_body` for a raw ASGI endpoint."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise PayloadError("Content-Length is not a number") from None
            if declared > limit:
                raise BodyTooLargeError(_too_large(limit))
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(_too_large(limit))
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


def content_type(request: Request) -> str | None:
    """The request's Content-Type."""
    return header(request.scope, b"content-type")


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (``name`` lower-case), read straight from the ASGI scope."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def send_bytes(
    send: Send,
    body: bytes,
    media_type: str,
    status: int = 200,
    extra: dict[str, str] | None = None,
) -> None:
    """Answer with ``body`` (and ``extra`` headers): two ASGI messages, nothing else."""
    headers = [(b"content-type", media_type.encode()), (b"content-length", b"%d" % len(body))]
    if extra:
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_answer(send: Send, answer: Answer) -> None:
    """Send a handler's :class:`~modelshelf.core.deploy.invocation.Answer`."""
    await send_bytes(send, answer.body, answer.content_type, answer.status, answer.headers)


class Raw:
    """Mark ``async fn(scope, receive, send)`` as a raw ASGI endpoint for a Starlette Route.

    Starlette then skips the Request object and exception wrapper it builds around a
    function endpoint: used for the hot routes (invocations, infer).
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.fn = fn

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.fn(scope, receive, send)


class BearerAuth:
    """Pure ASGI middleware: every path but the health checks needs ``Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(scope, self.token) if scope["type"] == "http" else None
        if refused is not None:
            return await refused(scope, receive, send)
        await self.app(scope, receive, send)


def refusal(scope: Scope, token: bytes) -> Response | None:
    """The 401 for a request without ``Bearer <token>`` (health checks need none), or None."""
    if scope["path"] in HEALTH_PATHS:
        return None
    problem = "missing bearer token (send 'Authorization: Bearer <token>')"
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token):
                return None
            problem = "invalid bearer token"
            break
    response = json_error(401, problem)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class ServingApp(Starlette):
    """Starlette whose hot routes skip its middleware stack and router.

    Every ``POST`` route to a fixed path with a :class:`Raw` endpoint (``/invocations``) is
    called straight from ``__call__``, after the same bearer check: Starlette's error
    middleware, exception middleware and route matching cost about a tenth of a small
    model's whole request. Everything else (and the lifespan) goes through Starlette.
    """

    def __init__(self, routes: Sequence[Any], settings: ServingSettings, lifespan: Any) -> None:
        middleware = [Middleware(BearerAuth, token=settings.token)] if settings.token else []
        super().__init__(routes=list(routes), middleware=middleware, lifespan=lifespan)
        self._token = settings.token.encode() if settings.token else None
        self._hot: dict[str, Raw] = {
            route.path: route.endpoint
            for route in routes
            if isinstance(route, Route)
            and isinstance(route.endpoint, Raw)
            and route.methods == {"POST"}
            and not route.param_convertors
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            endpoint = self._hot.get(scope["path"])
            if endpoint is not None:
                refused = refusal(scope, self._token) if self._token is not None else None
                if refused is not None:
                    return await refused(scope, receive, send)
                scope["app"] = self
                scope["path_params"] = {}
                return await endpoint.fn(scope, receive, send)
        await super().__call__(scope, receive, send)


def build_app(routes: Sequence[Any], settings: ServingSettings, lifespan: Any) -> Starlette:
    """The serving app of ``routes``: auth only when a token is set, hot routes direct."""
    return ServingApp(routes, settings, lifespan)
