"""The SageMaker Runtime API on a deployment's own address, for boto3's ``sagemaker-runtime``.

- ``POST /endpoints/{name}/invocations`` (InvokeEndpoint), on real-time and multi-model
  deployments: the app's own ``/invocations``, so SageMaker's request headers reach it as
  they are (``X-Amzn-SageMaker-Target-Model`` picks a multi-model endpoint's model; the
  serving code sees ``-Custom-Attributes`` and ``-Inference-Id``). The answer carries
  ``x-Amzn-Invoked-Production-Variant`` and ``X-Amzn-SageMaker-Custom-Attributes``: the
  serving code's, else the request's own, echoed.
- ``POST /endpoints/{name}/async-invocations`` (InvokeEndpointAsync), on asynchronous
  deployments: the app's ``/async/invocations``, with the body's type taken from
  ``X-Amzn-SageMaker-Content-Type`` and the input from the body or
  ``X-Amzn-SageMaker-InputLocation``; 202 with ``{"InferenceId"}`` and
  ``X-Amzn-SageMaker-OutputLocation``, as botocore's service model reads them.

``{name}`` is the deployment's name. Errors have the shape botocore parses for this
rest-json service (the code in ``x-amzn-ErrorType``, ``{"Message"}``), so boto3 raises a
ClientError: an endpoint of another name is a ``ValidationError`` with status 404 (SageMaker
answers 400; 404 tells plain HTTP clients the same), the other operation's path or another
``TargetVariant`` a ``ValidationError`` (400), and a failing answer of the model a
``ModelError`` (424) with SageMaker's ``OriginalStatusCode`` and ``OriginalMessage``.

SigV4 ``Authorization`` headers are accepted unchecked: a deployment holds no AWS secret
to check them with. A deployment's bearer token guards these paths like every other but
the health checks; a boto3 client sends it in place of the signature::

    client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                          config=botocore.config.Config(signature_version=botocore.UNSIGNED))

    def bearer(request, **kwargs):
        request.headers["Authorization"] = f"Bearer {token}"

    client.meta.events.register("before-send.sagemaker-runtime", bearer)
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from modelshelf.core.deploy.http import CONFIG_ENV, JSON, Raw, header, send_bytes

# The variant SageMaker's SDKs create for an endpoint of one model: its clients expect it.
VARIANT = "AllTraffic"
INVOKED_VARIANT = (b"x-amzn-invoked-production-variant", VARIANT.encode())
ERROR_TYPE = "x-amzn-ErrorType"
CUSTOM = b"x-amzn-sagemaker-custom-attributes"
TARGET_VARIANT = b"x-amzn-sagemaker-target-variant"
ASYNC_CONTENT_TYPE = b"x-amzn-sagemaker-content-type"


RawEndpoint = Callable[[Scope, Receive, Send], Awaitable[None]]
RequestEndpoint = Callable[[Request], Awaitable[Response]]


def deployment_name(default: str) -> str:
    """The name of the deployment this process serves (from the config its server was
    started with, see :mod:`~modelshelf.core.deploy.serve`), else ``default``."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return default
    with open(path) as fh:
        return json.load(fh).get("name") or default


def routes(
    name: str, *, invoke: RawEndpoint | None = None, invoke_async: RequestEndpoint | None = None
) -> list[Route]:
    """Both operations' paths for the deployment ``name``, answered by the app's ``invoke``
    (a raw ``/invocations``) or ``invoke_async`` (``/async/invocations``)."""
    api = RuntimeApi(name, invoke, invoke_async)
    return [
        Route("/endpoints/{name}/invocations", Raw(api.invoke_endpoint), methods=["POST"]),
        Route("/endpoints/{name}/async-invocations", api.invoke_endpoint_async, methods=["POST"]),
    ]


class RuntimeApi:
    """InvokeEndpoint and InvokeEndpointAsync over one app's own routes."""

    def __init__(
        self, name: str, invoke: RawEndpoint | None, invoke_async: RequestEndpoint | None
    ) -> None:
        self.name = name
        self.invoke = invoke
        self.invoke_async = invoke_async

    async def invoke_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /endpoints/{name}/invocations``."""
        refused = self._refused(scope, self.invoke, "an asynchronous", "InvokeEndpointAsync")
        if refused is not None:
            return await refused(scope, receive, send)
        assert self.invoke is not None
        relay = ModelAnswer(send, self.name, header(scope, CUSTOM))
        await self.invoke(scope, receive, relay)

    async def invoke_endpoint_async(self, request: Request) -> Response:
        """``POST /endpoints/{name}/async-invocations``: 202 once queued."""
        scope = request.scope
        refused = self._refused(scope, self.invoke_async, "a real-time", "InvokeEndpoint")
        if refused is not None:
            return refused
        assert self.invoke_async is not None
        # SageMaker's asynchronous requests name their type in a header of their own.
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        kind = header(scope, ASYNC_CONTENT_TYPE)
        if kind:
            headers.append((b"content-type", kind.encode("latin-1")))
        answer = await self.invoke_async(Request({**scope, "headers": headers}, request.receive))
        reply = json.loads(answer.body)
        status = answer.status_code
        if status != 202:  # the errors InvokeEndpointAsync has in the service model
            code = "ValidationError" if status < 500 else "InternalFailure"
            code = "ServiceUnavailable" if status == 503 else code
            return aws_error(status, code, reply.get("error", ""))
        where = reply["output_location"]
        return Response(
            json.dumps({"InferenceId": reply["inference_id"]}).encode(),
            202,
            {"X-Amzn-SageMaker-OutputLocation": where, "Location": answer.headers["location"]},
            JSON,
        )

    def _refused(self, scope: Scope, served: object, kind: str, operation: str) -> Response | None:
        """Why a request is not for this deployment's app, as botocore reads errors."""
        name = scope["path_params"]["name"]
        if name != self.name:
            return aws_error(404, "ValidationError", f"Endpoint {name} not found.")
        if served is None:
            message = f"Endpoint {name} is {kind} endpoint: call {operation}."
            return aws_error(400, "ValidationError", message)
        variant = header(scope, TARGET_VARIANT)
        if variant is not None and variant != VARIANT:
            message = f"Endpoint {name} has no variant {variant}: its one variant is {VARIANT}."
            return aws_error(400, "ValidationError", message)
        return None


class ModelAnswer:
    """The ``send`` of an app's ``/invocations`` under InvokeEndpoint: a success goes on
    with SageMaker's headers; a failure (status 400 and up) becomes a ModelError."""

    __slots__ = ("body", "custom", "name", "send", "status")

    def __init__(self, send: Send, name: str, custom: str | None) -> None:
        self.send = send
        self.name = name
        self.custom = custom.encode("latin-1") if custom is not None else None
        self.status = 0
        self.body: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.status < 400:
                headers = [*message["headers"], INVOKED_VARIANT]
                if self.custom is not None and all(k != CUSTOM for k, _ in headers):
                    headers.append((CUSTOM, self.custom))
                await self.send({**message, "headers": headers})
            return
        if self.status < 400:
            await self.send(message)
            return
        self.body.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self._model_error(b"".join(self.body).decode("utf-8", errors="replace"))

    async def _model_error(self, original: str) -> None:
        side = "client" if self.status < 500 else "server"
        message = (
            f"Received {side} error ({self.status}) from {self.name} with message "
            f'"{original}". See the deployment\'s server log for more information.'
        )
        body = error_body(message, OriginalStatusCode=self.status, OriginalMessage=original)
        await send_bytes(self.send, body, JSON, 424, {ERROR_TYPE: "ModelError"})


def aws_error(status: int, code: str, message: str) -> Response:
    """An error as botocore parses a rest-json service's: ``x-amzn-ErrorType`` names it."""
    return Response(error_body(message), status, {ERROR_TYPE: code}, JSON)


def error_body(message: str, **fields: object) -> bytes:
    """An error's body: its message, and the fields its shape in the service model has."""
    return json.dumps({"Message": message, **fields}).encode()
