"""A real-time endpoint for one model: SageMaker's ``/ping`` + ``/invocations`` and KServe V2.

The model loads in a background thread started with the app, so ``/ping`` answers within
``LOAD_WAIT``: 503 while loading, 200 once loaded, 500 with the user's traceback if loading
failed. Requests arriving during the load wait for it up to ``LOAD_WAIT``, then get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelshelf.core.deploy import v2
from modelshelf.core.deploy.adaptive_caller import AdaptiveCaller
from modelshelf.core.deploy.http import (
    JSON,
    Raw,
    ServingSettings,
    build_app,
    error_response,
    header,
    json_error,
    json_response,
    read_asgi_body,
    send_bytes,
)
from modelshelf.core.deploy.loaders import ModelHandler, load_handler
from modelshelf.core.errors import ServingError

log = logging.getLogger("modelshelf.serve")

# How long a request waits for a load in progress before answering 503: under SageMaker's
# 2 s /ping budget, and long enough that a fast model's other uvicorn workers (each loads
# its own copy) are not seen still loading just after the first one said it was ready.
LOAD_WAIT = 1.0

PING_OK = Response(b'{"status":"ok"}', 200, media_type=JSON)


class ModelState:
    """One model being loaded in the background, then served."""

    def __init__(self, model_dir: str, name: str) -> None:
        self.model_dir = model_dir
        self.name = name
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
            self.handler = load_handler(self.model_dir, self.name)
        except ServingError as exc:
            self.error, self.traceback = str(exc), exc.user_traceback
        except Exception as exc:
            self.error, self.traceback = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        if self.error is not None:
            log.error("model %s failed to load: %s\n%s", self.name, self.error, self.traceback)

    async def wait(self, seconds: float = LOAD_WAIT) -> ModelHandler | None:
        """The handler, waiting up to ``seconds`` for a load in progress to end."""
        self.start()  # served without a lifespan (e.g. a test client): load on first use
        deadline = time.monotonic() + seconds
        while self.handler is None and self.error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.handler

    def not_ready(self) -> Response:
        """What a request for the model answers before it is loaded (logged once, at load)."""
        if self.error is not None:
            return json_error(
                500, f"the model failed to load: {self.error}", traceback=self.traceback
            )
        return json_error(503, f"model {self.name} is still loading")


def create_realtime_app(
    model_dir: str, name: str, settings: ServingSettings, *, version: str | None = None
) -> Starlette:
    """The ASGI app serving the model in ``model_dir`` as ``name``."""
    state = ModelState(model_dir, name)
    runner = AdaptiveCaller()
    limit = settings.max_body
    versions = [str(version)] if version is not None else []

    async def invocations(scope: Scope, receive: Receive, send: Send) -> None:
        handler = state.handler or await state.wait()
        if handler is None:
            return await state.not_ready()(scope, receive, send)
        try:
            body = await read_asgi_body(scope, receive, limit)
            data, media = await runner.run(handler.invoke, body, header(scope, b"content-type"))
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, media)

    async def ping(request: Request) -> Response:
        if state.handler is not None or await state.wait() is not None:
            return PING_OK
        if state.error is not None:
            return json_response(
                {"status": "failed", "error": state.error, "traceback": state.traceback}, 500
            )
        return json_response({"status": "loading"}, 503)

    def known(params: dict[str, Any]) -> bool:
        if params["name"] != name:
            return False
        return "version" not in params or params["version"] in versions

    async def infer(scope: Scope, receive: Receive, send: Send) -> None:
        if not known(scope["path_params"]):
            return await _unknown(scope["path_params"])(scope, receive, send)
        handler = state.handler or await state.wait()
        if handler is None:
            return await state.not_ready()(scope, receive, send)
        try:
            body = await read_asgi_body(scope, receive, limit)
            length = v2.header_length(scope["headers"])
            data = await runner.run(v2.infer, handler, body, length, name, version)
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, JSON)

    async def live(request: Request) -> Response:
        return json_response({"live": True})

    async def ready(request: Request) -> Response:
        if state.handler is not None:
            return json_response({"ready": True})
        if state.error is None:
            state.start()
        return json_response({"ready": False}, 503)

    async def model_ready(request: Request) -> Response:
        if not known(request.path_params):
            return _unknown(request.path_params)
        return await ready(request)

    async def metadata(request: Request) -> Response:
        if not known(request.path_params):
            return _unknown(request.path_params)
        return json_response(v2.model_metadata(name, versions))

    async def server(request: Request) -> Response:
        return json_response(v2.server_metadata([]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        state.start()
        yield {}

    routes = [
        # The hot routes first: Starlette tries routes in order.
        Route("/invocations", Raw(invocations), methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
        *v2.routes(
            infer=Raw(infer),
            metadata=metadata,
            model_ready=model_ready,
            live=live,
            ready=ready,
            server=server,
        ),
    ]
    app = build_app(routes, settings, lifespan)
    app.state.model = state
    return app


def _unknown(params: dict[str, Any]) -> Response:
    what = params["name"] + (f" version {params['version']}" if "version" in params else "")
    return json_error(404, f"no model {what} is served here")
