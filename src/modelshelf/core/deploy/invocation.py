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


@dataclass
class Invocation:
    """A request body with what its client said about it (read-only by convention).

    ``headers`` are lower-cased names (``x-amzn-sagemaker-custom-attributes``) as received;
    ``query`` the URL's query parameters. Not a frozen dataclass: its ``__init__`` costs four
    times a plain one's, once per request.
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
        names = _NAMES
        headers = {
            (names.get(key) or _name(key)): value.decode("latin-1")
            for key, value in scope["headers"]
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


# Header names decoded once: the same few dozen arrive on every request.
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 512  # a client sending a new name each time must not grow it without end


def _name(key: bytes) -> str:
    name = key.decode("latin-1")
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[key] = name
    return name
