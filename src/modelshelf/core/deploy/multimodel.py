"""A multi-model endpoint: SageMaker's MME container contract, KServe V1, V2 with its repository
extension, and the SageMaker Runtime API with ``TargetModel`` (:mod:`.runtime_api`).

Models come from the store by ref (``churn:3``, ``churn@prod``): loading copies the version
into ``models_dir`` and loads its handler; while loaded, the version is leased (owner
``multi-model endpoint``) so it cannot be deleted from under the endpoint. The least
recently used models are unloaded when ``max_models`` or ``memory_budget`` would be exceeded;
a registered model that was unloaded is loaded again on its next request.

``POST /models`` also takes a local folder as its ``url``, as SageMaker sends it (a path
under ``model_roots``, served in place: :mod:`.store_models`). The management routes and the
SageMaker invoke routes answer with Multi Model Server's bodies (:mod:`.mms_frontend`).

With a model-data prefix (:mod:`.model_data`), a target that is a key under it
(``DocSim-3.tar.gz``) is downloaded, extracted into a disk cache and loaded from there.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelshelf.core.deploy import runtime_api, v1, v2
from modelshelf.core.deploy.batching import BatchSettings
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.http import (
    JSON,
    PING_OK,
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
    send_answer,
    send_bytes,
)
from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.mms_frontend import (
    WORKERS_SCALED,
    already_registered,
    mms_error,
    mms_error_response,
    mms_json,
    model_not_found,
    status_response,
    unregistered,
)
from modelshelf.core.deploy.model_batchers import ModelBatchers, registered_settings
from modelshelf.core.deploy.model_data import ModelData
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.deploy.serving_stats import ServingStats
from modelshelf.core.deploy.store_models import DEFAULT_MODEL_ROOTS, StoreModels, is_local
from modelshelf.core.errors import PayloadError
from modelshelf.core.names import parse_ref
from modelshelf.core.store import Shelf
from modelshelf.core.store.leases import DEFAULT_TTL

TARGET_HEADER = b"x-amzn-sagemaker-target-model"  # ASGI header names are lower-case
PAGE_SIZE = 100


class MultiModelEndpoint:
    """The routes of a multi-model endpoint over ``models``: one method per route.

    ``invocations``, ``model_invoke`` and ``infer`` are raw ASGI endpoints (wrap them in
    :class:`~modelshelf.core.deploy.http.Raw`); the others take a Starlette Request.
    """

    def __init__(
        self,
        models: StoreModels,
        settings: ServingSettings,
        batching: BatchSettings | None = None,
        stats: ServingStats | None = None,
    ) -> None:
        self.models = models
        self.cache = models.cache
        self.limit = settings.max_body
        self.stats = stats or ServingStats()
        self.batchers = ModelBatchers(batching or BatchSettings(), self.stats.batch)

    async def _handler(self, target: str, auto: bool) -> ModelHandler:
        handler = self.cache.peek(target)  # the warm path: a dict lookup under a lock
        if handler is not None:
            return handler
        return await run_in_threadpool(self.models.handler, target, auto=auto)

    async def _invoke(
        self, scope: Scope, receive: Receive, send: Send, target: str | None, auto: bool
    ) -> None:
        started = time.perf_counter()
        try:
            if not target:
                raise PayloadError("send the model to invoke in X-Amzn-SageMaker-Target-Model")
            handler = await self._handler(target, auto)
            body = await read_asgi_body(scope, receive, self.limit)
            invocation = Invocation.from_scope(scope, body)
            batcher = self.batchers.get(target, handler)
            if batcher is not None:
                answer = await batcher.submit(invocation)
            else:
                answer = await self.models.runner(target).run(handler.handle, invocation)
        except Exception as exc:
            failed = mms_error_response(exc)
            self.stats.observe(failed.status_code, time.perf_counter() - started)
            return await failed(scope, receive, send)
        await send_answer(send, answer)
        self.stats.observe(answer.status, time.perf_counter() - started)

    def loaded(self) -> dict[str, dict[str, Any]]:
        """The models loaded now, with the memory each takes (the figures' "loaded")."""
        return {name: {"memory_bytes": self.cache.memory_of(name)} for name in self.cache.loaded()}

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus text of the endpoint's requests, batches and models."""
        self.stats.models(self.loaded())
        body, media_type = self.stats.metrics_text()
        return Response(body, media_type=media_type)

    # ---- SageMaker's multi-model contract ----------------------------------------------------

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /invocations`` to the model named in X-Amzn-SageMaker-Target-Model."""
        # A target not registered yet is a store ref, loaded on first use.
        await self._invoke(scope, receive, send, header(scope, TARGET_HEADER), True)

    async def model_invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /models/{name}/invoke``: only a registered model."""
        await self._invoke(scope, receive, send, scope["path_params"]["name"], False)

    async def list_models(self, request: Request) -> Response:
        """``GET /models``, a page of ``max_results`` after ``next_page_token``."""
        query = request.query_params
        try:
            size = int(query.get("max_results") or PAGE_SIZE)
            after = _untoken(query.get("next_page_token") or "")
        except ValueError:
            return mms_error(400, "max_results must be a number; next_page_token as given")
        if size < 1:
            return mms_error(400, "max_results must be at least 1")
        names = sorted(n for n in self.cache.registered() if n > after)
        answer: dict[str, Any] = {"models": [self.models.describe(n) for n in names[:size]]}
        if len(names) > size:
            answer["nextPageToken"] = _token(names[size - 1])
        return mms_json(answer)

    async def add_model(self, request: Request) -> Response:
        """``POST /models`` ``{"model_name", "url"}``: register and load a model folder (a
        local path) or a store ref; 200 ``Workers scaled`` once loaded, as MMS answers."""
        try:
            name, url, batching = await _registration(request, self.limit)
        except Exception as exc:
            return mms_error_response(exc)
        if self.cache.is_loaded(name):
            return already_registered(name)
        try:
            if not is_local(url):
                parse_ref(url)  # a bad ref is a 400, not a failed load
            await run_in_threadpool(self.models.load_new, name, url)
        except Exception as exc:
            return mms_error_response(exc)
        self.batchers.configure(name, batching)
        return status_response(WORKERS_SCALED, **self.models.describe(name))

    async def get_model(self, request: Request) -> Response:
        """``GET /models/{name}``."""
        name = request.path_params["name"]
        if name not in self.cache:
            return model_not_found(name)
        return mms_json(self.models.describe(name))

    async def delete_model(self, request: Request) -> Response:
        """``DELETE /models/{name}``: unload and forget it."""
        name = request.path_params["name"]
        if not await run_in_threadpool(self.cache.unregister, name):
            return model_not_found(name)
        self.batchers.configure(name, None)
        return unregistered(name)

    # ---- KServe V2, with the model repository extension --------------------------------------

    async def infer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v2/models/{name}[/versions/{version}]/infer``; loads the model if needed."""
        params = scope["path_params"]
        name = params["name"]
        target = self._v2_target(name, params.get("version"))
        try:
            handler = await self._handler(target, True)
            body = await read_asgi_body(scope, receive, self.limit)
            length = v2.header_length(scope["headers"])
            version = self.models.versions.get(target)
            runner = self.models.runner(target)
            data = await runner.run(v2.infer, handler, body, length, name, version)
        except Exception as exc:
            return await error_response(exc)(scope, receive, send)
        await send_bytes(send, data, JSON)

    async def metadata(self, request: Request) -> Response:
        """``GET /v2/models/{name}[/versions/{version}]``."""
        name = request.path_params["name"]
        target = self._v2_target(name, request.path_params.get("version"))
        if target not in self.cache:
            return json_error(404, f"model {target!r} is not on this endpoint")
        version = self.models.versions.get(target)
        return json_response(v2.model_metadata(name, [version] if version else []))

    async def model_ready(self, request: Request) -> Response:
        """``GET /v2/models/{name}[/versions/{version}]/ready``: 503 while unloaded."""
        name = request.path_params["name"]
        target = self._v2_target(name, request.path_params.get("version"))
        if target not in self.cache:
            return json_error(404, f"model {target!r} is not on this endpoint")
        if self.cache.is_loaded(target):
            return json_response({"name": name, "ready": True})
        return json_response({"name": name, "ready": False}, 503)

    async def repository_index(self, request: Request) -> Response:
        """``POST /v2/repository/index`` (``{"ready": true}`` lists loaded models only)."""
        try:
            spec = await read_json(request, self.limit, b"{}")
        except Exception as exc:
            return error_response(exc)
        only_ready = isinstance(spec, dict) and bool(spec.get("ready"))
        index = []
        for name in sorted(self.cache.registered()):
            loaded = self.cache.is_loaded(name)
            if loaded or not only_ready:
                state = "READY" if loaded else "UNAVAILABLE"
                version = self.models.versions.get(name, "")
                index.append({"name": name, "version": version, "state": state, "reason": ""})
        return json_response(index)

    async def repository_load(self, request: Request) -> Response:
        """``POST /v2/repository/models/{name}/load``: ``name`` is a registered name or a ref."""
        name = request.path_params["name"]
        try:
            await read_body(request, self.limit)  # load parameters are not used
            await run_in_threadpool(self.models.handler, name, auto=True)
        except Exception as exc:
            return error_response(exc)
        return Response(b"", 200)

    async def repository_unload(self, request: Request) -> Response:
        """``POST /v2/repository/models/{name}/unload``: it stays registered."""
        name = request.path_params["name"]
        if name not in self.cache:
            return json_error(404, f"model {name!r} is not on this endpoint")
        await run_in_threadpool(self.cache.unload, name)
        return Response(b"", 200)

    def _v2_target(self, name: str, version: str | None) -> str:
        """The registered name a V2 path means: ``name``, or ``name:version`` for another."""
        if version is None or self.models.versions.get(name) == version:
            return name
        return f"{name}:{version}"

    # ---- the app's life ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        """Renew the loaded models' leases while the app runs; unload them all at the end."""
        self.models.start_renewing()
        self.stats.watch_models(self.loaded)
        self.stats.start_writing()
        try:
            yield {}
        finally:
            await run_in_threadpool(self.models.close)
            self.stats.models({})
            self.stats.write()


async def ping(request: Request) -> Response:
    """``GET /ping``: the endpoint is up with no model loaded."""
    return PING_OK


async def ready(request: Request) -> Response:
    """``GET /v2/health/ready``: the endpoint is ready with no model loaded."""
    return json_response({"ready": True})


async def server(request: Request) -> Response:
    """``GET /v2``."""
    return json_response(v2.server_metadata(["model_repository"]))


def create_multimodel_app(
    shelf: Shelf,
    settings: ServingSettings,
    *,
    max_models: int = 0,
    memory_budget: int = 0,
    models_dir: str | None = None,
    lease_ttl: float = DEFAULT_TTL,
    handler: HandlerSpec | None = None,
    model_data: ModelData | None = None,
    check_requirements: bool = False,
    model_roots: Sequence[str] = DEFAULT_MODEL_ROOTS,
    code_dir: str | None = None,
    batching: BatchSettings | None = None,
    stats: ServingStats | None = None,
) -> Starlette:
    """The ASGI app of a multi-model endpoint serving models from ``shelf`` (each through
    ``handler``, a handler service, when given, else its own code or ``code_dir``'s inference
    script), keys under ``model_data``'s prefix and local folders under ``model_roots``;
    with ``check_requirements``, a model whose requirements the server's environment does
    not meet is refused at load (424)."""
    models = StoreModels(
        shelf,
        max_models=max_models,
        memory_budget=memory_budget,
        models_dir=models_dir,
        lease_ttl=lease_ttl,
        handler=handler,
        model_data=model_data,
        check_requirements=check_requirements,
        model_roots=model_roots,
        code_dir=code_dir,
    )
    endpoint = MultiModelEndpoint(models, settings, batching, stats)
    routes = [
        # The hot routes first: Starlette tries routes in order.
        Route("/invocations", Raw(endpoint.invocations), methods=["POST"]),
        Route("/models/{name}/invoke", Raw(endpoint.model_invoke), methods=["POST"]),
        *v2.routes(
            infer=Raw(endpoint.infer),
            metadata=endpoint.metadata,
            model_ready=endpoint.model_ready,
            ready=ready,
            server=server,
        ),
        Route("/ping", ping, methods=["GET"]),
        Route("/metrics", endpoint.metrics, methods=["GET"]),
        Route("/models", endpoint.list_models, methods=["GET"]),
        Route("/models", endpoint.add_model, methods=["POST"]),
        Route("/models/{name}", endpoint.get_model, methods=["GET"]),
        Route("/models/{name}", endpoint.delete_model, methods=["DELETE"]),
        Route("/v2/repository/index", endpoint.repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", endpoint.repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", endpoint.repository_unload, methods=["POST"]),
        *v1.routes(v1.MultiModels(endpoint)),
        # The deployment manager's default name for a multi-model deployment.
        *runtime_api.routes(
            runtime_api.deployment_name("multi-model"), invoke=endpoint.invocations
        ),
    ]
    app = build_app(routes, settings, endpoint.lifespan)
    app.state.endpoint = endpoint
    return app


async def _registration(request: Request, limit: int) -> tuple[str, str, BatchSettings | None]:
    """``POST /models``'s model name, URL and batching: from its JSON body, or from the query
    string, as MMS and TorchServe take them too (``POST /models?model_name=...&url=...``)."""
    spec = await read_json(request, limit, b"{}")
    if spec == {} and request.query_params:
        spec = dict(request.query_params)
    if not isinstance(spec, dict):
        raise PayloadError('send {"model_name": ..., "url": <a model folder or a store ref>}')
    name, url = spec.get("model_name"), spec.get("url")
    if not (isinstance(url, str) and url):
        raise PayloadError("Parameter url is required: a model folder's path or a store ref")
    if not (isinstance(name, str) and name and "/" not in name):
        raise PayloadError("Parameter model_name is required: a name without '/'")
    return name, url, registered_settings(spec)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    except Exception as exc:
        raise ValueError("bad next_page_token") from exc
