"""A handle on one deployment: its status and URL; invoke it, read its log, stop it."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from modelshelf.core.deploy.client import decode_answer, encode_payload, http_request
from modelshelf.core.deploy.deployment_book import FAILED, READY, STARTING, DeploymentRecord
from modelshelf.core.deploy.live_figures import LiveFigures, read_live
from modelshelf.core.deploy.scaling import WorkerRange
from modelshelf.core.deploy.worker_census import WorkerCensus, read_census
from modelshelf.core.errors import DeploymentError
from modelshelf.core.facts import Block, Card, Link, Listed, Shown
from modelshelf.core.sizes import format_size

if TYPE_CHECKING:
    from modelshelf.core.deploy.manager import DeploymentManager


CENSUS_WAIT = 2.0  # seconds a ready deployment's supervisor may take to count its worker


class Deployment(Shown, Listed):
    """A deployment made by :class:`DeploymentManager`; attributes reflect its last refresh."""

    ROW_HEADERS = ("name", "mode", "status", "url", "models", "workers")

    def __init__(self, manager: DeploymentManager, record: DeploymentRecord) -> None:
        self._manager = manager
        self._record = record

    name = property(lambda self: self._record.name)
    mode = property(lambda self: self._record.mode)
    status = property(lambda self: self._record.status)
    url = property(lambda self: self._record.url)
    refs = property(lambda self: list(self._record.refs))
    workers = property(lambda self: self._record.workers)  # the fewest it runs
    error = property(lambda self: self._record.error)
    traceback = property(lambda self: self._record.traceback)
    pid = property(lambda self: self._record.pid)
    serving = property(lambda self: dict(self._record.serving))

    @property
    def worker_range(self) -> WorkerRange:
        """The fewest and the most workers it runs (the same when it does not scale)."""
        record = self._record
        return WorkerRange(record.workers, record.serving.get("max_workers", record.workers))

    def census(self) -> WorkerCensus | None:
        """Its workers now, as its supervisor counts them (None: one process, or stopped)."""
        return read_census(self._record.folder) if self._record.live else None

    def refresh(self) -> Deployment:
        self._record = self._manager.get(self.name)._record
        return self

    def wait_ready(self, timeout: float = 120.0) -> Deployment:
        """Poll the health check until the model is loaded (or loading failed), and, with
        several workers, until their supervisor counts the one that answered."""
        deadline = time.monotonic() + timeout
        while True:
            self._record = self._manager.check(self.name)
            if self.status != STARTING:
                break
            if time.monotonic() > deadline:
                self._record = self._manager.stop(
                    self.name, status="failed", error=f"not ready after {timeout:g} s"
                )._record
                return self
            time.sleep(0.05)
        # The census comes a tick later; one late by more than a moment is not waited for.
        counted_by = time.monotonic() + CENSUS_WAIT
        while self.status == READY and not self._counted() and time.monotonic() < counted_by:
            time.sleep(0.05)
        return self

    def invoke(
        self,
        payload: Any,
        content_type: str | None = None,
        *,
        model: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Send one request and return the decoded answer.

        Real-time: ``POST /invocations``. Multi-model: the same, with ``model`` (a name or
        ref) as the ``X-Amzn-SageMaker-Target-Model``. Async: ``POST /async/invocations``,
        returning ``{"inference_id", "output_location"}``.
        """
        if self.status != READY:
            raise DeploymentError(f"deployment {self.name} is {self.status}, not ready")
        body, kind = encode_payload(payload, content_type)
        headers = {"Content-Type": kind}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        path = "/async/invocations" if self.mode == "async" else "/invocations"
        if self.mode == "multi":
            if not model:
                raise DeploymentError("a multi-model endpoint needs model= (a name or ref)")
            headers["X-Amzn-SageMaker-Target-Model"] = model
        status, answer, answer_type = http_request(
            self.url + path, method="POST", body=body, headers=headers, timeout=timeout
        )
        decoded = decode_answer(answer, answer_type)
        if status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else decoded
            raise DeploymentError(f"{self.name} answered {status}: {message}")
        return decoded

    def logs(self) -> str:
        """The server's log."""
        try:
            with open(os.path.join(self._record.folder, "server.log"), errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    def stop(self) -> Deployment:
        """Stop every server process and release the leases on the deployed versions."""
        self._record = self._manager.stop(self.name)._record
        return self

    def describe(self) -> dict[str, Any]:
        """Everything known about the deployment, as a dict."""
        record = self._record
        return {
            "name": record.name,
            "mode": record.mode,
            "status": record.status,
            "url": record.url,
            "refs": record.refs,
            "workers": self._workers_now(),
            "min_workers": self.worker_range.min,
            "max_workers": self.worker_range.max,
            "pid": record.pid,
            "error": record.error,
            "traceback": record.traceback,
            "serving": record.serving,
            "live": self.live().to_json() if record.live else None,
            "created_at": record.created_at,
            "ready_at": record.ready_at,
            "stopped_at": record.stopped_at,
        }

    def live(self) -> LiveFigures:
        """What it has served and what its processes take now (nothing once stopped)."""
        record = self._record
        return read_live(record.folder, record.pid if record.live else None)

    def __repr__(self) -> str:
        error = f" ({self.error})" if self.error else ""
        return f"<Deployment {self.name} [{self.mode}] {self.status} at {self.url}{error}>"

    # ---- its facts, for every face --------------------------------------------------------

    def fields(self) -> list[tuple[str, Any]]:
        """Mode, status, address, the versions it serves, how (handler service, model-data
        prefix, the folders local models may come from, the names of the variables set for
        it, the Python environment of the models' requirements), and why it failed."""
        failed = self.status == FAILED and self.traceback
        serving = self._record.serving
        return [
            ("name", self.name),
            ("mode", self.mode),
            ("status", self.status),
            ("url", Link(self.url)),
            ("models", ", ".join(self.refs)),
            ("workers", self._workers_label()),
            ("handler", serving.get("handler")),
            ("model data", serving.get("model_data")),
            ("model data cache", _size(serving.get("model_data_cache"))),
            ("model roots", ", ".join(serving.get("model_roots", [])) or None),
            ("variables", ", ".join(serving.get("env", [])) or None),
            ("batching", _batching(serving)),
            ("python environment", _python_env(serving.get("python_env"))),
            *(self.live().fields() if self.status == READY else []),
            ("error", self.error),
            ("traceback", Block(self.traceback) if failed else None),
        ]

    def card(self) -> Card:
        return Card.of(self.fields())

    def row(self) -> tuple[Any, ...]:
        models = ", ".join(self.refs)
        return (self.name, self.mode, self.status, Link(self.url), models, self._workers_label())

    def _counted(self) -> bool:
        """Whether the workers now are known: one process, or a census with one serving
        (the supervisor writes it a tick after a worker starts serving)."""
        if self.worker_range.max == 1:
            return True
        census = self.census()
        return census is not None and census.serving > 0

    def _workers_now(self) -> int:
        """The workers serving now (the fewest it runs, before its supervisor counts)."""
        census = self.census()
        return census.serving if census is not None else self._record.workers

    def _workers_label(self) -> str:
        """``"2 (1 to 4)"``, and ``", 1 starting"`` while a worker is on its way."""
        census = self.census()
        if census is None:
            return self.worker_range.label()
        return self.worker_range.label(census.serving) + census.note()


def _python_env(facts: dict[str, Any] | None) -> str | None:
    """Where the models' requirements are served from, in a line."""
    if not facts:
        return None
    sources = ", ".join(facts.get("sources", []))
    if "key" not in facts:
        how = "met by" if facts.get("met") else "not read; served by"
        return f"{sources}: {how} {facts.get('interpreter')}"
    done = "built" if facts.get("built") else "reused"
    seconds = facts.get("seconds") or 0.0
    where = f"{facts['installer']} environment {facts['key'][:12]}"
    return f"{sources}: {where}, {done} in {seconds:.2f} s"


def _size(n: int | None) -> str | None:
    return format_size(n) if n else None


def _batching(serving: dict[str, Any]) -> str | None:
    if not serving.get("batch_size"):
        return None
    delay = serving.get("max_batch_delay", 0) * 1000
    return f"up to {serving['batch_size']} requests per call, filling for at most {delay:g} ms"
