"""A real-time endpoint for one model: SageMaker's ``/ping`` + ``/invocations``, KServe V1 and
V2, and the SageMaker Runtime API (``/endpoints/{name}/invocations``, :mod:`.runtime_api`).

The model loads in a background thread started with the app, so ``/ping`` answers within
``LOAD_WAIT``: 503 while loading, 200 once loaded, 500 if loading failed (with the user's
traceback when their code failed). Requests arriving during the load wait for it up to
``LOAD_WAIT``, then get 503. A worker started beside others already serving
(``load_first``) loads before it takes any connection instead: it never holds a request it
cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelshelf.core.deploy import runtime_api, v1, v2
from modelshelf.core.deploy.adaptive_caller import AdaptiveCaller
from modelshelf.core.deploy.batching import Batcher, BatchSettings
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.http import (
    JSON,
    PING_OK,
    Raw,
    ServingSettings,
    build_app,
    error_response,
    json_error,
    json_response,
    read_asgi_body,
    send_answer,
    send_bytes,
)
from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.deploy.serving_stats import ServingStats
from modelshelf.core.errors import ModelshelfError, ServingError

log = logging.getLogger("modelshelf.serve")

# How long a request waits for a load in progress before answering 503: under SageMaker's
# 2 s /ping budget. (A deployment's other workers never answer while loading: they take
# connections only once loaded, see supervisor.py.)
LOAD_WAIT = 1.0


def load_failure(exc: Exception) -> tuple[str, str]:
    """Why a model failed to load, in one line, and the traceback to show with it: the
    user's own (their serve.py, handler or inference.py failed), else none, since frames
    of modelshelf's own code tell a user nothing they can change."""
    if isinstance(exc, ServingError):
        return str(exc), exc.user_traceback
    if isinstance(exc, ModelshelfError):  # its message says what was wrong and what to do
        return str(exc), ""
    return f"{type(exc).__name__}: {exc}", ""


class ModelState:
    """One model being loaded in the background, then served."""

    def __init__(
        self,
        model_dir: str,
        name: str,
        handler: HandlerSpec | None = None,
        code_dir: str | None = None,
        on_loaded: Callable[[ModelHandler], None] | None = None,
    ) -> None:
        self.on_loaded = on_loaded  # told of the loaded model before it serves
        self.model_dir = model_dir
        self.name = name
        self.service = handler  # the endpoint's handler service, if it has one
        self.code_dir = code_dir  # and its submit directory
        self.handler: ModelHandler | None = None
        self.error: str | None = None
        self.traceback = ""
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start loading (once) in a daemon thread."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name=f"load {self.name}", daemon=True).start()

    def _load(self) -> None:
        try:
            handler = load_handler(self.model_dir, self.name, self.service, self.code_dir)
            if self.on_loaded is not None:
                self.on_loaded(handler)
            self.handler = handler
        except Exception as exc:
            self.error, self.traceback = load_failure(exc)
            # The log keeps the whole story: the user's traceback, or else modelshelf's own.
            whole = self.traceback or traceback.format_exc()
            log.error("model %s failed to load: %s\n%s", self.name, self.error, whole)

    async def wait(self, seconds: float = LOAD_WAIT) -> ModelHandler | None:
        """The handler, waiting up to ``seconds`` for a load in progress to end."""
        self.start()  # served without a lifespan (e.g. a test client): load on first use
        deadline = time.monotonic() + seconds
        while self.handler is None and self.error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.handler

    def health(self) -> Response:
        """``/ping``'s answer now: 200 loaded, 500 failed (with the traceback), 503 loading."""
        if self.handler is not None:
            return PING_OK
        if self.error is not None:
            return json_response(
                {"status": "failed", "error": self.error, "traceback": self.traceback}, 500
            )
        return json_response({"status": "loading"}, 503)

    def not_ready(self) -> Response:
        """What a request for the model answers before it is loaded (logged once, at load)."""
        if self.error is not None:
            return json_error(
                500, f"the model failed to load: {self.error}", traceback=self.traceback
            )
        return json_error(503, f"model {self.name} is still loading")


class RealtimeEndpoint:
    """The routes of a real-time endpoint serving ``state``'s model: one method per route.

    ``invocations`` and ``infer`` are raw ASGI endpoints (wrap them in
    :class:`~modelshelf.core.deploy.http.Raw`); the others take a Starlette Request.
    """

    def __init__(
        self,
        state: ModelState,
        settings: ServingSettings,
        version: str | None = None,
        batching: BatchSettings | None = None,
        stats: ServingStats | None = None,
        load_first: bool = False,
    ) -> None:
        self.state = state
        self.load_first = load_first
        self.name = state.name
        self.version = version
        self.versions = [str(version)] if version is not None else []
        self.limit = settings.max_body
        self.runner = AdaptiveCaller()
        self.batching = batching or BatchSettings()
        self._batcher: Batcher | None = None
        self.stats = stats or ServingStats()

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /invocations``."""
        started = time.perf_counter()
        state = self.state
        handler = state.handler or await state.wait()
        if handler is None:
            refused = state.not_ready()
            self.stats.observe(refused.status_code, time.perf_counter() - started)
            return await refused(scope, receive, send)
        try:
            body = await read_asgi_body(scope, receive, self.limit)
            invocation = Invocation.from_scope(scope, body)
            batcher = self._batcher or self._batcher_for(handler)
            if batcher is not None:
                answer = await batcher.submit(invocation)
            else:
                answer = await self.runner.run(handler.handle, invocation)
        except Exception as exc:
            failed = error_response(exc)
            self.stats.observe(failed.status_code, time.perf_counter() - started)
            return await failed(scope, receive, send)
        await send_answer(send, answer)
        self.stats.observe(answer.status, time.perf_counter() - started)

    def _batcher_for(self, handler: ModelHandler) -> Batcher | None:
        """The model's batcher, when batching was asked for and the model takes batches."""
        if not self.batching.batching or not handler.takes_batches:
            return None
        self._batcher = Batcher(handler.handle_batch, self.batching, self.stats.batch)
        return self._batcher

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus text of the deployment's requests and batches."""
        body, media_type = self.stats.metrics_text()
        return Response(body, media_type=media_type)

    async def ping(self, request: Request) -> Response:
        """``GET /ping``, waiting up to ``LOAD_WAIT`` for a load in progress."""
        if self.state.handler is None:
            await self.state.wait()
        return self.state.health()

    async def infer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v2/models/{name}[/versions/{version}]/infer``."""
        if not self._known(scope["path_params"]):
            return await _unknown(scope["path_params"])(scope, receive, send)
        state = self.state
        handler = state.handler or await state.wait()
        if handler is None:
            return await state.not_ready()(scope, receive, send)
        try:
            body = await read_asgi_body(scope, receive, self.limit)
            length = v2.header_length(scope["headers"])
            data = await self.runner.run(v2.infer, handler, body, length, self.name, self.version)
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, JSON)

    async def ready(self, request: Request) -> Response:
        """``GET /v2/health/ready``: 503 until the model is loaded (starting the load)."""
        if self.state.handler is not None:
            return json_response({"ready": True})
        if self.state.error is None:
            self.state.start()
        return json_response({"ready": False}, 503)

    async def model_ready(self, request: Request) -> Response:
        """``GET /v2/models/{name}[/versions/{version}]/ready``."""
        if not self._known(request.path_params):
            return _unknown(request.path_params)
        return await self.ready(request)

    async def metadata(self, request: Request) -> Response:
        """``GET /v2/models/{name}[/versions/{version}]``."""
        if not self._known(request.path_params):
            return _unknown(request.path_params)
        return json_response(v2.model_metadata(self.name, self.versions))

    def _known(self, params: dict[str, Any]) -> bool:
        if params["name"] != self.name:
            return False
        return "version" not in params or params["version"] in self.versions

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        """Start loading the model with the app (and, ``load_first``, wait for it: uvicorn
        listens only once the lifespan has started); leave the last figures at its end."""
        self.state.start()
        self.stats.start_writing()
        if self.load_first and await self.state.wait(math.inf) is None:
            # uvicorn ends this worker on the error; the supervisor logs its exit.
            raise ServingError(f"model {self.name} failed to load: {self.state.error}")
        try:
            yield {}
        finally:
            self.stats.write()


async def server(request: Request) -> Response:
    """``GET /v2``: no protocol extensions."""
    return json_response(v2.server_metadata([]))


def create_realtime_app(
    model_dir: str,
    name: str,
    settings: ServingSettings,
    *,
    version: str | None = None,
    handler: HandlerSpec | None = None,
    batching: BatchSettings | None = None,
    stats: ServingStats | None = None,
    code_dir: str | None = None,
    load_first: bool = False,
) -> Starlette:
    """The ASGI app serving the model in ``model_dir`` as ``name`` (through ``handler``,
    a handler service, when given; with ``code_dir``'s inference script, the submit
    directory's, when the folder has no serving code of its own; concurrent requests
    batched as ``batching`` says; serving only once the model is loaded when
    ``load_first``)."""
    stats = stats or ServingStats()
    state = ModelState(
        model_dir, name, handler, code_dir, on_loaded=lambda h: stats.models(_loaded(h))
    )
    endpoint = RealtimeEndpoint(state, settings, version, batching, stats, load_first)
    routes = [
        # The hot routes first: Starlette tries routes in order.
        Route("/invocations", Raw(endpoint.invocations), methods=["POST"]),
        Route("/ping", endpoint.ping, methods=["GET"]),
        Route("/metrics", endpoint.metrics, methods=["GET"]),
        *v2.routes(
            infer=Raw(endpoint.infer),
            metadata=endpoint.metadata,
            model_ready=endpoint.model_ready,
            ready=endpoint.ready,
            server=server,
        ),
        *v1.routes(v1.RealtimeModels(endpoint)),
        *runtime_api.routes(runtime_api.deployment_name(name), invoke=endpoint.invocations),
    ]
    app = build_app(routes, settings, endpoint.lifespan)
    app.state.model = endpoint.state
    return app


def _unknown(params: dict[str, Any]) -> Response:
    what = params["name"] + (f" version {params['version']}" if "version" in params else "")
    return json_error(404, f"no model {what} is served here")


def _loaded(handler: ModelHandler) -> dict[str, dict[str, Any]]:
    """What the deployment's figures say of its loaded model."""
    return {handler.name: {"kind": handler.kind, "load_seconds": handler.load_seconds,
                           "size_bytes": handler.size_bytes}}  # fmt: skip
