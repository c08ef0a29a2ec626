"""KServe's V1 protocol on the real-time and multi-model apps.

- ``GET /v1/models``: ``{"models": [names]}``;
- ``GET /v1/models/{name}``: ``{"name": name, "ready": true}``, 503 while the model is not
  loaded, 404 for a model not served here;
- ``POST /v1/models/{name}:predict``: ``{"instances": [...]}`` or ``{"inputs": [...]}``
  -> ``{"predictions": [...]}``;
- ``POST /v1/models/{name}:explain``: the loaded model's own ``explain(rows)`` (a
  ``ModelAdapter`` method, say), 501 when it has none.

Errors are ``{"error": message}`` with the statuses of KServe's server, and its messages
for a model not found or not ready (``kserve/protocol/rest/v1_endpoints.py``,
``kserve/errors.py``). Answers are JSON whatever the Accept, as KServe's are (bytes or text
that serving code returns go back as they are). The model's name is a path segment before
``:predict``: Starlette's ``{name}`` matches anything but ``/``, so ``churn-v1.2`` and the
multi-model endpoint's refs (``churn:3``: ``/v1/models/churn:3:predict``) are names too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelshelf.core.deploy.adaptive_caller import AdaptiveCaller
from modelshelf.core.deploy.http import (
    JSON,
    Raw,
    error_response,
    json_error,
    json_response,
    read_asgi_body,
    send_bytes,
)
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.deploy.payloads import Payload, encode, jsonable
from modelshelf.core.deploy.user_code import call_user
from modelshelf.core.errors import ExplainerNotFoundError, PayloadError

if TYPE_CHECKING:  # the apps import this module to build their routes
    from modelshelf.core.deploy.multimodel import MultiModelEndpoint
    from modelshelf.core.deploy.realtime import RealtimeEndpoint


class Models(Protocol):
    """What the V1 routes need of an app: its models by name."""

    limit: int

    def names(self) -> list[str]:
        """The names ``GET /v1/models`` lists."""

    def ready(self, name: str) -> tuple[bool, str] | None:
        """Whether ``name`` is loaded (and why not, if it is not); None if not served here."""

    async def handler(self, name: str) -> ModelHandler | Response:
        """The loaded model, or the answer to give instead (not served, not loaded yet)."""

    def runner(self, name: str) -> AdaptiveCaller:
        """How to call the model (inline or in the threadpool)."""


def routes(models: Models) -> list[Route]:
    """The protocol's paths over ``models``; the inference routes first, as raw ASGI."""
    endpoint = V1Endpoint(models)
    return [
        Route("/v1/models/{name}:predict", Raw(endpoint.predict), methods=["POST"]),
        Route("/v1/models/{name}:explain", Raw(endpoint.explain), methods=["POST"]),
        Route("/v1/models", endpoint.list_models, methods=["GET"]),
        Route("/v1/models/{name}", endpoint.model_ready, methods=["GET"]),
    ]


class V1Endpoint:
    """The V1 routes over ``models``: one method per route."""

    def __init__(self, models: Models) -> None:
        self.models = models

    async def list_models(self, request: Request) -> Response:
        """``GET /v1/models``."""
        return json_response({"models": self.models.names()})

    async def model_ready(self, request: Request) -> Response:
        """``GET /v1/models/{name}``: 200 once loaded, 503 before, 404 if not served."""
        name = request.path_params["name"]
        state = self.models.ready(name)
        if state is None:
            return not_found(name)
        ready, why = state
        if not ready:
            return not_ready(name, why)
        return json_response({"name": name, "ready": True})

    async def predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/models/{name}:predict``."""
        await self._call(scope, receive, send, predict)

    async def explain(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/models/{name}:explain``."""
        await self._call(scope, receive, send, explain)

    async def _call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        verb: Callable[[ModelHandler, bytes], tuple[bytes, str]],
    ) -> None:
        name = scope["path_params"]["name"]
        try:
            handler = await self.models.handler(name)
            if isinstance(handler, Response):
                return await handler(scope, receive, send)
            body = await read_asgi_body(scope, receive, self.models.limit)
            data, media = await self.models.runner(name).run(verb, handler, body)
        except ExplainerNotFoundError as exc:
            return await json_error(501, str(exc))(scope, receive, send)
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, media)


def parse_request(body: bytes) -> Payload:
    """A V1 request's rows: its ``inputs``, else its ``instances`` (as KServe reads them)."""
    try:
        request = json.loads(body or b"null")
    except ValueError as exc:
        raise PayloadError(f"Unrecognized request format: {exc}") from None
    if not isinstance(request, dict) or not ("inputs" in request or "instances" in request):
        raise PayloadError('a V1 request is {"instances": [...]} or {"inputs": [...]}')
    key = "inputs" if "inputs" in request else "instances"
    if not isinstance(request[key], list):
        raise PayloadError(f'Expected "{key}" to be a list')
    return Payload(request[key], JSON, body, key)


def predict(handler: ModelHandler, body: bytes) -> tuple[bytes, str]:
    """The ``:predict`` answer: ``{"predictions": ...}``, the model's own object, or the
    bytes or text its serving code returned (as KServe answers those)."""
    payload = parse_request(body)
    return encode(handler.predict(payload), payload)


def explain(handler: ModelHandler, body: bytes) -> tuple[bytes, str]:
    """The ``:explain`` answer: what the model's ``explain(rows)`` returns, as JSON."""
    explainer = getattr(handler.model, "explain", None)
    if not callable(explainer):
        raise ExplainerNotFoundError(
            f"model {handler.name} has no explainer: give its serve.py ModelAdapter an "
            "explain(data) method"
        )
    rows = parse_request(body).data
    explanation = call_user(handler.name, "explain", lambda: explainer(rows))
    return json.dumps(jsonable(explanation)).encode(), JSON


def not_found(name: str) -> Response:
    return json_error(404, f"Model with name {name} does not exist.")


def not_ready(name: str, why: str = "") -> Response:
    return json_error(503, f"Model with name {name} is not ready. {why}".rstrip())


class RealtimeModels:
    """A real-time endpoint's one model, as the V1 routes see it."""

    def __init__(self, endpoint: RealtimeEndpoint) -> None:
        self.endpoint = endpoint
        self.limit = endpoint.limit

    def names(self) -> list[str]:
        return [self.endpoint.name]

    def ready(self, name: str) -> tuple[bool, str] | None:
        state = self.endpoint.state
        if name != state.name:
            return None
        if state.error is not None:
            return False, f"It failed to load: {state.error}"
        if state.handler is None:
            state.start()  # served without a lifespan (e.g. a test client): load on first use
            return False, "It is still loading."
        return True, ""

    async def handler(self, name: str) -> ModelHandler | Response:
        state = self.endpoint.state
        if name != state.name:
            return not_found(name)
        return state.handler or await state.wait() or state.not_ready()

    def runner(self, name: str) -> AdaptiveCaller:
        return self.endpoint.runner


class MultiModels:
    """A multi-model endpoint's registered models; a store ref is loaded on first predict,
    as ``/v2/models/{ref}/infer`` does."""

    def __init__(self, endpoint: MultiModelEndpoint) -> None:
        self.endpoint = endpoint
        self.limit = endpoint.limit

    def names(self) -> list[str]:
        return sorted(self.endpoint.cache.registered())

    def ready(self, name: str) -> tuple[bool, str] | None:
        cache = self.endpoint.cache
        if name not in cache:
            return None
        return cache.is_loaded(name), "It is loaded again on its next request."

    async def handler(self, name: str) -> ModelHandler | Response:
        return await self.endpoint._handler(name, True)

    def runner(self, name: str) -> AdaptiveCaller:
        return self.endpoint.models.runner(name)
