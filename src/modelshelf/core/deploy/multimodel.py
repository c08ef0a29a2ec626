"""A multi-model endpoint: SageMaker's MME container contract and the V2 repository extension.

Models come from the store by ref (``churn:3``, ``churn@prod``): loading copies the version
into ``models_dir`` and loads its handler; while loaded, the version is leased (owner
``multi-model endpoint``) so it cannot be deleted from under the endpoint. The least
recently used models are unloaded when ``max_models`` or ``memory_budget`` would be exceeded;
a registered model that was unloaded is loaded again on its next request.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelshelf.core.deploy import v2
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
    read_body,
    read_json,
    send_bytes,
)
from modelshelf.core.deploy.loaders import ModelHandler
from modelshelf.core.deploy.model_cache import StoreModels
from modelshelf.core.errors import PayloadError
from modelshelf.core.names import parse_ref
from modelshelf.core.store import Shelf
from modelshelf.core.store.leases import DEFAULT_TTL

TARGET_HEADER = b"x-amzn-sagemaker-target-model"  # ASGI header names are lower-case
PAGE_SIZE = 100
PING_OK = Response(b'{"status":"ok"}', 200, media_type=JSON)


def create_multimodel_app(
    shelf: Shelf,
    settings: ServingSettings,
    *,
    max_models: int = 0,
    memory_budget: int = 0,
    models_dir: str | None = None,
    lease_ttl: float = DEFAULT_TTL,
) -> Starlette:
    """The ASGI app of a multi-model endpoint serving models from ``shelf``."""
    endpoint = StoreModels(
        shelf,
        max_models=max_models,
        memory_budget=memory_budget,
        models_dir=models_dir,
        lease_ttl=lease_ttl,
    )
    cache = endpoint.cache
    limit = settings.max_body

    async def handler_for(target: str, auto: bool) -> ModelHandler:
        handler = cache.peek(target)  # the warm path: a dict lookup under a lock
        if handler is not None:
            return handler
        return await run_in_threadpool(endpoint.handler, target, auto=auto)

    async def invoke(
        scope: Scope, receive: Receive, send: Send, target: str | None, auto: bool
    ) -> None:
        try:
            if not target:
                raise PayloadError("send the model to invoke in X-Amzn-SageMaker-Target-Model")
            handler = await handler_for(target, auto)
            body = await read_asgi_body(scope, receive, limit)
            runner = endpoint.runner(target)
            data, media = await runner.run(handler.invoke, body, header(scope, b"content-type"))
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, media)

    async def invocations(scope: Scope, receive: Receive, send: Send) -> None:
        # A target not registered yet is a store ref, loaded on first use.
        await invoke(scope, receive, send, header(scope, TARGET_HEADER), True)

    async def model_invoke(scope: Scope, receive: Receive, send: Send) -> None:
        await invoke(scope, receive, send, scope["path_params"]["name"], False)

    async def infer(scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        name = params["name"]
        target = _v2_target(endpoint, name, params.get("version"))
        try:
            handler = await handler_for(target, True)
            body = await read_asgi_body(scope, receive, limit)
            length = v2.header_length(scope["headers"])
            version = endpoint.versions.get(target)
            runner = endpoint.runner(target)
            data = await runner.run(v2.infer, handler, body, length, name, version)
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, JSON)

    async def list_models(request: Request) -> Response:
        query = request.query_params
        try:
            size = int(query.get("max_results") or PAGE_SIZE)
            after = _untoken(query.get("next_page_token") or "")
        except ValueError:
            return json_error(400, "max_results must be a number; next_page_token as given")
        if size < 1:
            return json_error(400, "max_results must be at least 1")
        names = sorted(n for n in cache.registered() if n > after)
        answer: dict[str, Any] = {"models": [endpoint.describe(n) for n in names[:size]]}
        if len(names) > size:
            answer["nextPageToken"] = _token(names[size - 1])
        return json_response(answer)

    async def add_model(request: Request) -> Response:
        try:
            spec = await read_json(request, limit)
        except Exception as exc:
            return error_response(exc)
        if not isinstance(spec, dict):
            return json_error(400, 'send {"model_name": ..., "url": <model ref>}')
        name, url = spec.get("model_name"), spec.get("url")
        if not (isinstance(name, str) and name and "/" not in name and isinstance(url, str)):
            return json_error(400, '"model_name" (no "/") and "url" (a model ref) are required')
        if cache.is_loaded(name):
            return json_error(409, f"model {name!r} is already loaded")
        try:
            parse_ref(url)
            await run_in_threadpool(endpoint.load_new, name, url)
        except Exception as exc:
            return error_response(exc)
        return json_response(endpoint.describe(name))

    async def get_model(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in cache:
            return json_error(404, f"model {name!r} is not loaded on this endpoint")
        return json_response(endpoint.describe(name))

    async def delete_model(request: Request) -> Response:
        name = request.path_params["name"]
        if not await run_in_threadpool(cache.unregister, name):
            return json_error(404, f"model {name!r} is not loaded on this endpoint")
        return json_response({})

    async def ping(request: Request) -> Response:
        return PING_OK

    async def live(request: Request) -> Response:
        return json_response({"live": True})

    async def ready(request: Request) -> Response:
        return json_response({"ready": True})

    async def server(request: Request) -> Response:
        return json_response(v2.server_metadata(["model_repository"]))

    async def metadata(request: Request) -> Response:
        name = request.path_params["name"]
        target = _v2_target(endpoint, name, request.path_params.get("version"))
        if target not in cache:
            return json_error(404, f"model {target!r} is not on this endpoint")
        version = endpoint.versions.get(target)
        return json_response(v2.model_metadata(name, [version] if version else []))

    async def model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        target = _v2_target(endpoint, name, request.path_params.get("version"))
        if target not in cache:
            return json_error(404, f"model {target!r} is not on this endpoint")
        if cache.is_loaded(target):
            return json_response({"name": name, "ready": True})
        return json_response({"name": name, "ready": False}, 503)

    async def repository_index(request: Request) -> Response:
        try:
            spec = await read_json(request, limit, b"{}")
        except Exception as exc:
            return error_response(exc)
        only_ready = isinstance(spec, dict) and bool(spec.get("ready"))
        index = []
        for name in sorted(cache.registered()):
            loaded = cache.is_loaded(name)
            if loaded or not only_ready:
                state = "READY" if loaded else "UNAVAILABLE"
                version = endpoint.versions.get(name, "")
                index.append({"name": name, "version": version, "state": state, "reason": ""})
        return json_response(index)

    async def repository_load(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            await read_body(request, limit)  # load parameters are not used
            await run_in_threadpool(endpoint.handler, name, auto=True)
        except Exception as exc:
            return error_response(exc)
        return Response(b"", 200)

    async def repository_unload(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in cache:
            return json_error(404, f"model {name!r} is not on this endpoint")
        await run_in_threadpool(cache.unload, name)
        return Response(b"", 200)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        renewer = threading.Thread(target=endpoint.renew_forever, name="lease renewal")
        renewer.daemon = True
        renewer.start()
        try:
            yield {}
        finally:
            await run_in_threadpool(endpoint.close)

    routes = [
        # The hot routes first: Starlette tries routes in order.
        Route("/invocations", Raw(invocations), methods=["POST"]),
        Route("/models/{name}/invoke", Raw(model_invoke), methods=["POST"]),
        *v2.routes(
            infer=Raw(infer),
            metadata=metadata,
            model_ready=model_ready,
            live=live,
            ready=ready,
            server=server,
        ),
        Route("/ping", ping, methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/models", add_model, methods=["POST"]),
        Route("/models/{name}", get_model, methods=["GET"]),
        Route("/models/{name}", delete_model, methods=["DELETE"]),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", repository_unload, methods=["POST"]),
    ]
    app = build_app(routes, settings, lifespan)
    app.state.endpoint = endpoint
    return app


def _v2_target(endpoint: StoreModels, name: str, version: str | None) -> str:
    """The registered name a V2 path means: ``name``, or ``name:version`` for another version."""
    if version is None or endpoint.versions.get(name) == version:
        return name
    return f"{name}:{version}"


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    except Exception as exc:
        raise ValueError("bad next_page_token") from exc
