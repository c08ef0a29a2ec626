"""A loaded model as the serving apps hold it: :class:`ModelHandler`, whatever loaded it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.deploy.payloads import Payload, decode, encode
from modelshelf.core.deploy.user_code import user_traceback
from modelshelf.core.errors import PayloadError, ServingError


@dataclass(frozen=True)
class Loaded:
    """What a way of serving a folder made of it: the model and how to call and free it."""

    kind: str
    model: Any
    predict_fn: Callable[[Any, Payload], Any] | None
    handle_fn: Callable[[Any, Invocation], Answer] | None = None
    close_fn: Callable[[], None] | None = None


@dataclass
class ModelHandler:
    """A loaded model and the way to call it."""

    name: str
    kind: str
    model_dir: str
    model: Any
    # None for serving code that only answers whole requests (``handle_fn``).
    predict_fn: Callable[[Any, Payload], Any] | None
    load_seconds: float = 0.0
    # The folder's size on disk: the least a multi-model endpoint's memory budget counts
    # for the model (see memory.py: its own report, else the memory its load added).
    size_bytes: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    # Serving code that answers whole requests itself (status, content type, headers), as
    # handler services written for other servers do; None: decode, predict, encode.
    handle_fn: Callable[[Any, Invocation], Answer] | None = None
    # Called when the model is unloaded, to let go of what its loading registered.
    close_fn: Callable[[], None] | None = None

    def predict(self, payload: Payload) -> Any:
        """Run the model on a decoded payload; the model's errors become ServingError."""
        if self.predict_fn is None:
            raise PayloadError(
                f"{self.name} is served by a {self.kind}, which answers whole requests "
                "(POST /invocations) only, not decoded rows (KServe V2 infer)"
            )
        try:
            return self.predict_fn(self.model, payload)
        except Exception as exc:
            raise ServingError(
                f"{self.name}: predict failed: {type(exc).__name__}: {exc}", user_traceback(exc)
            ) from exc

    def handle(self, invocation: Invocation) -> Answer:
        """Answer one request: what ``/invocations`` does."""
        if self.handle_fn is not None:
            return self.handle_fn(self.model, invocation)
        payload = decode(invocation.body, invocation.content_type)
        body, media = encode(self.predict(payload), payload, accept=invocation.accept)
        return Answer(body, media)

    def invoke(self, body: bytes, content_type: str | None) -> tuple[bytes, str]:
        """The answer's body and content type, for callers with no HTTP to answer (batch,
        the async queue): an error status becomes a ServingError."""
        answer = self.handle(Invocation(body, content_type))
        if answer.status >= 400:
            text = answer.body[:500].decode("utf-8", errors="replace")
            raise ServingError(f"{self.name}: answered {answer.status}: {text}")
        return answer.body, answer.content_type

    def close(self) -> None:
        """Let go of what loading the model registered (the model itself goes with the
        last reference to this handler)."""
        if self.close_fn is not None:
            self.close_fn()


def find_params(model_dir: str, name: str) -> dict[str, Any]:
    """The model's parameters file, if it has one."""
    for candidate in ("params.json", f"{name}-params.json"):
        path = os.path.join(model_dir, candidate)
        if os.path.isfile(path):
            with open(path) as fh:
                return json.load(fh)
    extra = [f for f in os.listdir(model_dir) if f.endswith("-params.json")]
    if len(extra) == 1:
        with open(os.path.join(model_dir, extra[0])) as fh:
            return json.load(fh)
    return {}


def folder_size(folder: str) -> int:
    """The bytes of every file under ``folder``."""
    total = 0
    for base, _, names in os.walk(folder):
        for item in names:
            try:
                total += os.path.getsize(os.path.join(base, item))
            except OSError:
                continue
    return total
