"""One address for every deployment of a store, as SageMaker's runtime has.

``POST /endpoints/{name}/invocations`` and ``/endpoints/{name}/async-invocations`` are
forwarded, body and headers as they came, to the deployment called ``name``, which answers
them itself; so ``boto3.client("sagemaker-runtime", endpoint_url=GATEWAY)`` reaches every
deployment, and a client written for SageMaker changes only its ``endpoint_url``. Names are
looked up in the store's deployment records (every process sees the same), briefly cached.

Run as ``python -m modelshelf.core.deploy.gateway DEPLOYMENTS_DB HOST PORT`` (see
:mod:`.gateway_process`, which starts it with the first deployment).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelshelf.core.deploy.deployment_book import READY, DeploymentBook
from modelshelf.core.deploy.runtime_api import aws_error
from modelshelf.core.errors import ModelNotFoundError

# Seconds a name's address is reused before the records are read again: a redeployed name
# gets a new port, and a request sent meanwhile fails with 502 and is retried by clients.
_CACHE_SECONDS = 1.0
# Hop-by-hop headers (RFC 9110 7.6.1) and those the upstream connection sets itself.
_DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
            "proxy-connection", "content-length"}  # fmt: skip


class Gateway:
    """Forwards runtime requests to the deployment their path names."""

    def __init__(self, book: DeploymentBook) -> None:
        self.book = book
        self._addresses: dict[str, tuple[float, str]] = {}
        self.client: httpx.AsyncClient | None = None

    def address(self, name: str) -> str:
        """The URL of the ready deployment ``name`` (ModelNotFoundError if there is none)."""
        cached = self._addresses.get(name)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        record = self.book.get(name)  # ModelNotFoundError for an unknown name
        if record.status != READY:
            raise ModelNotFoundError(f"deployment {name!r} is {record.status}, not ready")
        self._addresses[name] = (time.monotonic(), record.url)
        return record.url

    async def forward(self, request: Request) -> Response:
        """``POST /endpoints/{name}/invocations`` (or ``async-invocations``)."""
        name = request.path_params["name"]
        try:
            base = self.address(name)
        except ModelNotFoundError as exc:
            return aws_error(404, "ValidationError", f"Endpoint {name} not found: {exc}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        assert self.client is not None  # set by the lifespan
        try:
            answer = await self.client.post(
                base + request.url.path, content=await request.body(), headers=headers
            )
        except httpx.HTTPError as exc:
            self._addresses.pop(name, None)
            return aws_error(502, "ServiceUnavailable", f"deployment {name} did not answer: {exc}")
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
        return Response(answer.content, answer.status_code, kept)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # One pooled client: a connection per request would cost more than a small predict.
        async with httpx.AsyncClient(timeout=None) as client:
            self.client = client
            yield


async def ping(request: Request) -> Response:
    """``GET /ping``: the gateway is up."""
    return Response(b'{"status": "ok"}', media_type="application/json")


def create_gateway_app(book_path: str) -> Starlette:
    """The gateway over the deployments recorded in ``book_path``."""
    gateway = Gateway(DeploymentBook(book_path))
    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/endpoints/{name}/invocations", gateway.forward, methods=["POST"]),
        Route("/endpoints/{name}/async-invocations", gateway.forward, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=gateway.lifespan)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    book_path, host, port = argv if argv is not None else sys.argv[1:4]
    app: Any = create_gateway_app(book_path)
    uvicorn.run(app, host=host, port=int(port), log_level="warning", ws="none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
