"""A small HTTP client for deployments (the standard library's, so serving needs no extra)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http_request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, bytes, str]:
    """``(status, body, content type)``; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers.get("Content-Type", "")


def ping(base_url: str, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    """The health check: ``(status, JSON body)``; status 0 when nothing answers yet."""
    try:
        status, body, _ = http_request(f"{base_url}/ping", timeout=timeout)
    except (OSError, urllib.error.URLError):
        return 0, {}
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


def encode_payload(payload: Any, content_type: str | None) -> tuple[bytes, str]:
    """Bytes as they are (with their type); anything else as JSON."""
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload), content_type or "application/octet-stream"
    if isinstance(payload, str) and content_type and not content_type.endswith("json"):
        return payload.encode(), content_type
    return json.dumps(payload).encode(), content_type or "application/json"


def decode_answer(body: bytes, content_type: str) -> Any:
    if content_type.split(";")[0].strip().endswith("json"):
        return json.loads(body or b"null")
    if content_type.startswith("text/"):
        return body.decode("utf-8", errors="replace")
    return body
