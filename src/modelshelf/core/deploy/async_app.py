"""An asynchronous endpoint: requests are queued, answered 202, and run in the background.

``POST /async/invocations`` takes the request body, or its location in the
``X-Amzn-SageMaker-InputLocation`` header (or ``?InputLocation=``), as SageMaker's
asynchronous inference does, and answers ``{"inference_id", "output_location"}`` once the
request is durably queued (:class:`~modelshelf.core.deploy.async_queue.AsyncQueue`). Worker
threads write each result to ``<output_location>/<inference_id>.out`` with fsspec;
``GET /async/requests/{id}`` tells how a request is doing. A request accepted by a server
that stopped or died is run by the next server on the same queue database. boto3's
``invoke_endpoint_async`` reaches it at ``/endpoints/{name}/async-invocations``
(:mod:`.runtime_api`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import Any

import fsspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelshelf.core.deploy import runtime_api
from modelshelf.core.deploy.async_queue import COMPLETED, FAILED, AsyncQueue, output_url
from modelshelf.core.deploy.async_queue import Request as Queued
from modelshelf.core.deploy.batch import content_type_for
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.http import (
    ServingSettings,
    build_app,
    content_type,
    error_response,
    json_error,
    json_response,
    read_body,
)
from modelshelf.core.deploy.realtime import ModelState
from modelshelf.core.errors import ModelNotFoundError, ModelshelfError, ServingError
from modelshelf.core.sources.tree import URL_PATTERN, expand_local, redact_url
from modelshelf.core.store.expiring import HOST

log = logging.getLogger("modelshelf.serve")

INPUT_HEADER = "x-amzn-sagemaker-inputlocation"
# Input locations a client may name: object stores only. A local path or an http URL would
# let any client make the server read its own files or its private network.
INPUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})


class AsyncService:
    """The model, the queue and the worker threads behind one asynchronous app."""

    def __init__(
        self,
        state: ModelState,
        queue: AsyncQueue,
        output_location: str,
        storage_options: dict[str, Any],
        workers: int,
        poll_interval: float,
        shutdown_grace: float,
    ) -> None:
        self.state = state
        self.queue = queue
        self.output_location = output_location
        self.storage_options = storage_options
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        tag = uuid.uuid4().hex[:8]
        self.worker_ids = [f"{HOST}:{os.getpid()}:{tag}:{n}" for n in range(1, workers + 1)]
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set on each accepted request: no wait for the poll
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._running = 0
        self._released = False

    def start(self) -> None:
        self.state.start()
        if not URL_PATTERN.match(self.output_location):
            os.makedirs(self.output_location, exist_ok=True)
        for worker_id in self.worker_ids:
            thread = threading.Thread(
                target=self._work, args=(worker_id,), name=f"async {worker_id}", daemon=True
            )
            self.threads.append(thread)
        self._running = len(self.threads)
        for thread in self.threads:
            thread.start()
        beat = threading.Thread(target=self._heartbeat, name="async heartbeat", daemon=True)
        beat.start()

    def stop(self) -> None:
        """Let workers finish their request for ``shutdown_grace`` s, then give the rest back.

        A request still running is put back in line at once, for the next server, rather than
        after ``stale_after``; the thread running it is abandoned (a thread cannot be killed).
        """
        self.stopping.set()
        self.wake.set()
        deadline = time.monotonic() + self.shutdown_grace
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        released = self.queue.release(self.worker_ids)
        if released:
            log.warning("%d unfinished asynchronous requests left for the next server", released)
        self._worker_done(exiting=False)

    def _worker_done(self, exiting: bool) -> None:
        # The queue's connection closes with the last worker, which may be one abandoned
        # by stop() that returns from the model later.
        with self._lock:
            self._running -= int(exiting)
            self._released = self._released or not exiting
            last = self._released and self._running == 0
        if last:
            self.queue.close()

    def _heartbeat(self) -> None:
        while not self.stopping.wait(self.queue.stale_after / 4):
            try:
                self.queue.heartbeat(self.worker_ids)
            except Exception:  # a busy database: the next beat comes well before the timeout
                log.exception("asynchronous queue heartbeat failed")

    def _work(self, worker_id: str) -> None:
        try:
            self._serve(worker_id)
        finally:
            self._worker_done(exiting=True)

    def _serve(self, worker_id: str) -> None:
        # Requests wait in the queue until the model is loaded; a model that fails to load
        # leaves them there for a server that can load it.
        while self.state.handler is None:
            if self.state.error is not None or self.stopping.wait(self.poll_interval):
                return
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                request = self.queue.claim(worker_id)
            except Exception:  # a busy or unreachable database: this worker tries again later
                log.exception("could not claim an asynchronous request")
                request = None
            if request is None:
                self.wake.wait(self.poll_interval)
                continue
            self._run(request, worker_id)

    def _run(self, request: Queued, worker_id: str) -> None:
        handler = self.state.handler
        assert handler is not None
        try:
            body = request.body
            if request.input_location is not None:
                with fsspec.open(request.input_location, "rb", **self.storage_options) as fh:
                    body = fh.read()
            result, media = handler.invoke(body, request.content_type)
            if not self.queue.owns(request.id, worker_id):
                return  # stopped meanwhile: the request went back to the queue
            self._write(request.output_location, result)
            self.queue.complete(
                request.id, request.output_location, content_type=media, worker_id=worker_id
            )
        except ServingError as exc:
            self._fail(request.id, str(exc), exc.user_traceback, worker_id)
        except Exception as exc:
            # Our own errors (a missing input, ...) say enough; others need their type.
            known = isinstance(exc, ModelshelfError)
            detail = str(exc) if known else f"{type(exc).__name__}: {exc}"
            self._fail(request.id, detail, traceback.format_exc(), worker_id)

    def _fail(self, request_id: str, error: str, trace: str, worker_id: str) -> None:
        try:
            self.queue.fail(request_id, error, traceback=trace, worker_id=worker_id)
        except Exception:  # left in progress: another server retries it after stale_after
            log.exception("could not record the failure of request %s", request_id)

    def _write(self, location: str, data: bytes) -> None:
        """Write a result whole: a reader never sees half of it."""
        if URL_PATTERN.match(location):
            fs, path = fsspec.core.url_to_fs(location, **self.storage_options)
            fs.pipe_file(path, data)
            return
        temporary = f"{location}.tmp-{uuid.uuid4().hex[:8]}"
        with open(temporary, "wb") as fh:
            fh.write(data)
        os.replace(temporary, location)


def _input_location(request: Request) -> str | None:
    for key, value in request.scope["headers"]:
        if key == INPUT_HEADER.encode():
            return value.decode("latin-1").strip() or None
    return request.query_params.get("InputLocation") or None


def _check_input(location: str) -> str | None:
    """Why ``location`` is refused as an input location, or None."""
    protocol = fsspec.core.split_protocol(location)[0] if URL_PATTERN.match(location) else None
    if protocol not in INPUT_PROTOCOLS:
        allowed = ", ".join(f"{p}://" for p in sorted(INPUT_PROTOCOLS))
        return f"InputLocation {redact_url(location)!r} is not allowed: use one of {allowed}"
    return None


class AsyncEndpoint:
    """The routes of an asynchronous endpoint over ``service``: one method per route."""

    def __init__(self, service: AsyncService, settings: ServingSettings) -> None:
        self.service = service
        self.limit = settings.max_body

    async def invocations(self, request: Request) -> Response:
        """``POST /async/invocations``: queue the body (or its input location); 202."""
        service = self.service
        if service.state.error is not None:
            return json_error(503, f"the model failed to load: {service.state.error}")
        location = _input_location(request)
        kind = content_type(request)
        body: bytes | None = None
        if location is not None:
            problem = _check_input(location)
            if problem:
                return json_error(400, problem)
            kind = kind or content_type_for(location)
        else:
            try:
                body = await read_body(request, self.limit)
            except Exception as exc:
                return error_response(exc)
            if not body:
                return json_error(
                    400,
                    "the request has no body: send the input, or its location in the "
                    "X-Amzn-SageMaker-InputLocation header",
                )
        output_location = service.output_location
        inference_id = await run_in_threadpool(
            service.queue.put, body, kind, location, output_location
        )
        service.wake.set()
        where = output_url(output_location, inference_id)
        headers = {
            "X-Amzn-SageMaker-OutputLocation": where,
            "Location": f"/async/requests/{inference_id}",
        }
        return json_response({"inference_id": inference_id, "output_location": where}, 202, headers)

    async def describe(self, request: Request) -> Response:
        """``GET /async/requests/{inference_id}``: how the request is doing."""
        inference_id = request.path_params["inference_id"]
        try:
            queued = await run_in_threadpool(self.service.queue.get, inference_id)
        except ModelNotFoundError as exc:
            return json_error(404, str(exc))
        answer: dict[str, Any] = {
            "inference_id": queued.id,
            "status": queued.status,
            "output_location": queued.output_location,
            "created_at": queued.created_at,
            "ended_at": queued.ended_at,
        }
        if queued.status == COMPLETED:
            answer["content_type"] = queued.output_content_type
        if queued.status == FAILED:
            answer["error"] = queued.error
            if queued.traceback:
                answer["traceback"] = queued.traceback
        return json_response(answer)

    async def ping(self, request: Request) -> Response:
        """``GET /ping``; requests are accepted even while the model loads, so no wait."""
        return self.service.state.health()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        """Start the model's load and the workers; on shutdown, give unfinished work back."""
        self.service.start()
        try:
            yield {}
        finally:
            await run_in_threadpool(self.service.stop)


def create_async_app(
    model_dir: str,
    name: str,
    settings: ServingSettings,
    *,
    queue_db: str,
    output_location: str,
    storage_options: dict | None = None,
    workers: int = 1,
    poll_interval: float = 0.5,
    stale_after: float = 60.0,
    shutdown_grace: float = 10.0,
    handler: HandlerSpec | None = None,
    code_dir: str | None = None,
) -> Starlette:
    """The ASGI app serving ``model_dir`` asynchronously, with its queue in ``queue_db``
    (through ``handler``, a handler service, when given; ``code_dir`` is the submit
    directory, as for :func:`~.realtime.create_realtime_app`).

    ``output_location`` is a folder or URL prefix (``s3://bucket/out/``) written with
    ``storage_options``, which also serve to read input locations. ``workers`` threads run
    requests; a claim without a heartbeat for ``stale_after`` s is taken over by another
    server; on shutdown, running requests get ``shutdown_grace`` s to finish.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if not URL_PATTERN.match(output_location):
        output_location = expand_local(output_location)
    service = AsyncService(
        ModelState(model_dir, name, handler, code_dir),
        AsyncQueue(queue_db, stale_after=stale_after),
        output_location,
        dict(storage_options or {}),
        workers,
        poll_interval,
        shutdown_grace,
    )
    endpoint = AsyncEndpoint(service, settings)
    routes = [
        Route("/async/invocations", endpoint.invocations, methods=["POST"]),
        Route("/async/requests/{inference_id}", endpoint.describe, methods=["GET"]),
        Route("/ping", endpoint.ping, methods=["GET"]),
        *runtime_api.routes(runtime_api.deployment_name(name), invoke_async=endpoint.invocations),
    ]
    app = build_app(routes, settings, endpoint.lifespan)
    app.state.service = service
    return app
