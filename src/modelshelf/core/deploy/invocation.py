"""One inference request as the serving apps receive it, and the answer a handler gives.

Every way of serving a model (a folder's ``serve.py``, a pickle, MLflow, and serving code
written for other servers) answers an :class:`Invocation` with an :class:`Answer`, so the
apps (real-time, multi-model, async, batch) need not know which kind they call. Serving
code that decides its own status, content type or headers (Multi Model Server handler
services, SageMaker's ``output_fn``) sets them on the answer; the rest get the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.types import Scope


@dataclass(frozen=True)
class Invocation:
    """A request body with what its client said about it.

    ``headers`` are lower-cased names (``x-amzn-sagemaker-custom-attributes``) as received;
    ``query`` the URL's query parameters.
    """

    body: bytes
    content_type: str | None = None
    accept: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes) -> Invocation:
        """The invocation an ASGI request carries (its headers decoded as latin-1)."""
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        raw_query = scope.get("query_string") or b""
        query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
        return cls(
            body,
            headers.get("content-type"),
            headers.get("accept"),
            headers,
            query,
            headers.get("x-amzn-sagemaker-inference-id") or headers.get("x-request-id"),
        )


@dataclass
class Answer:
    """What goes back: a body, its content type, a status and any extra headers."""

    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
