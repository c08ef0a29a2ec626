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
    predict_batch_fn: Callable[[Any, list[Payload]], list[Any]] | None = None
    handle_batch_fn: Callable[[Any, list[Invocation]], list[Answer | Exception]] | None = None


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
    # How the model takes a batch of requests in one call (see batching.py), when it can:
    # whole requests (handler services), or decoded payloads (serve.py's predict_batch).
    handle_batch_fn: Callable[[Any, list[Invocation]], list[Answer | Exception]] | None = None
    predict_batch_fn: Callable[[Any, list[Payload]], list[Any]] | None = None

    @property
    def takes_batches(self) -> bool:
        """Whether one call can answer many requests (else batching is not used)."""
        return self.handle_batch_fn is not None or self.predict_batch_fn is not None

    def handle_batch(self, invocations: list[Invocation]) -> list[Answer | Exception]:
        """Answer many requests in one call of the model: an answer, or the exception its
        own request failed with (a body that does not decode), for each, in order."""
        if self.handle_batch_fn is not None:
            return list(self.handle_batch_fn(self.model, invocations))
        if self.predict_batch_fn is None:
            return [self._answer_one(invocation) for invocation in invocations]
        results: list[Answer | Exception | None] = [None] * len(invocations)
        decoded: dict[int, Payload] = {}
        for i, invocation in enumerate(invocations):
            try:
                decoded[i] = decode(invocation.body, invocation.content_type)
            except PayloadError as exc:
                results[i] = exc  # this request alone: the others still go to the model
        if decoded:
            for i, result in zip(decoded, self._predict_batch(list(decoded.values())), strict=True):
                results[i] = (
                    result
                    if isinstance(result, Exception)
                    else self._encoded(result, decoded[i], invocations[i].accept)
                )
        return [r for r in results if r is not None]

    def _predict_batch(self, payloads: list[Payload]) -> list[Any]:
        """``predict_batch``'s predictions, or its failure once per payload."""
        try:
            predictions = list(self.predict_batch_fn(self.model, payloads))  # type: ignore[misc]
        except Exception as exc:
            failed = ServingError(
                f"{self.name}: predict_batch failed: {type(exc).__name__}: {exc}",
                user_traceback(exc),
            )
            return [failed] * len(payloads)
        if len(predictions) != len(payloads):
            wrong = ServingError(
                f"{self.name}: predict_batch returned {len(predictions)} results for "
                f"{len(payloads)} payloads"
            )
            return [wrong] * len(payloads)
        return predictions

    @staticmethod
    def _encoded(prediction: Any, payload: Payload, accept: str | None) -> Answer | Exception:
        try:
            body, media = encode(prediction, payload, accept=accept)
        except Exception as exc:  # a NotAcceptableError (406) for this request alone
            return exc
        return Answer(body, media)

    def _answer_one(self, invocation: Invocation) -> Answer | Exception:
        try:
            return self.handle(invocation)
        except Exception as exc:
            return exc

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
