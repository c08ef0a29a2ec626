"""One HTTP request as Multi Model Server hands it to a handler: a ``data`` item and headers.

MMS's frontend turns a request into named parameters, and its worker
(``Service.retrieve_data_for_inference``) into one dict per request:

- each query-string parameter by its name;
- a form body (``multipart/form-data``, ``application/x-www-form-urlencoded``) as its
  fields by name (uploaded files as sent); any other body as ``"body"``;
- the request headers: each parameter's name maps to ``{"content-type": ...}`` (its media
  type, ``""`` for query and form fields), then every request header by its name.

Values are ``bytes``, as SageMaker's toolkit configures MMS (``decode_input_request=false``)
and as its handlers expect (``data[0].get("body").decode()``).
"""

from __future__ import annotations

import email.policy
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from modelshelf.core.deploy.invocation import Invocation
from modelshelf.core.deploy.payloads import media_type
from modelshelf.core.errors import PayloadError

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
BODY = "body"
# A parameter: its name, its value, and its media type ("" when the client gave none).
Parameter = tuple[str, bytes, str]


class RequestHeaders(dict):
    """A request's headers, looked up in any case (``"Content-Type"`` finds ``content-type``).

    uvicorn receives header names lower-cased, where MMS's frontend kept the client's
    spelling; a handler's ``get_request_header(0, "Accept")`` must find it either way. Exact
    names come first: parameter entries (``"body"``) are named as the client named them.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, str) and key.lower() != key and dict.__contains__(self, key.lower()):
            return dict.__getitem__(self, key.lower())
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        return isinstance(key, str) and dict.__contains__(self, key.lower())


def build_request(invocation: Invocation) -> tuple[dict[str, Any], RequestHeaders]:
    """The ``data`` item and the request headers MMS would give a handler for ``invocation``.

    A malformed form body is a PayloadError (400).
    """
    if not invocation.query and not _is_form(invocation.content_type):
        # The usual request: a body and no query, one parameter.
        kind = media_type(invocation.content_type) if invocation.content_type else ""
        headers = RequestHeaders({BODY: {"content-type": kind}})
        headers.update(invocation.headers)
        return {BODY: invocation.body}, headers
    parameters: list[Parameter] = [
        (name, value.encode("utf-8"), "") for name, value in invocation.query.items()
    ]
    parameters += _body_parameters(invocation.body, invocation.content_type)
    data = {name: value for name, value, _ in parameters}
    headers = RequestHeaders({name: {"content-type": kind} for name, _, kind in parameters})
    headers.update(invocation.headers)
    return data, headers


def _is_form(content_type: str | None) -> bool:
    return content_type is not None and media_type(content_type) in (FORM, MULTIPART)


def _body_parameters(body: bytes, content_type: str | None) -> list[Parameter]:
    kind = media_type(content_type) if content_type else ""
    if kind == MULTIPART:
        return _multipart(body, content_type or "")
    if kind == FORM:
        text = body.decode("utf-8", errors="replace")
        return [(k, v.encode("utf-8"), "") for k, v in parse_qsl(text, keep_blank_values=True)]
    return [(BODY, body, kind)]


def _multipart(body: bytes, content_type: str) -> list[Parameter]:
    """The fields of a ``multipart/form-data`` body, parsed by the standard library."""
    try:
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise PayloadError("the Content-Type header is not latin-1 text") from None
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise PayloadError(
            "the multipart/form-data body cannot be read (is its boundary the one its "
            "Content-Type names?)"
        )
    fields: list[Parameter] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue  # a part with no field name is no parameter
        fields.append((name, _payload(part), _part_type(part)))
    return fields


def _payload(part: Message) -> bytes:
    value = part.get_payload(decode=True)
    return value if isinstance(value, bytes) else b""


def _part_type(part: Message) -> str:
    """An uploaded file's media type; a plain field has none, as in MMS."""
    if part.get_filename() is None:
        return ""
    return part.get_content_type() if part.get("content-type") else "application/octet-stream"
