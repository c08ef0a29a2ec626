"""What a serving process counts: requests by status, latency, batch sizes, loaded models.

Each worker counts in plain Python (a request costs a few dict and list updates, not a
Prometheus client call per metric) and, each second something changed, writes a snapshot to
``<deployment>/stats/<pid>.json``. Two readers merge the snapshots of all the workers:

- ``GET /metrics``, Prometheus text made by prometheus_client from a collector over the
  merged snapshots (the answering worker's own counts are read live), as TorchServe, KServe
  and Triton expose theirs;
- the deployment card's live figures (live_figures.py), read by the manager.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
WINDOW = 60  # seconds of latencies the card's p50 and p99 are taken over
# The card's latencies, counted per second in fine buckets (each 25 % wider than the last,
# 10 µs to 13 s) rather than kept one by one: a snapshot stays small at any request rate, so
# writing it each second never holds up requests, and a percentile is within a bucket.
FINE_BUCKETS = tuple(1e-5 * 1.25**i for i in range(64))
_WRITE_EVERY = 1.0


class ServingStats:
    """One serving process's counts, and its snapshots for the deployment's readers."""

    def __init__(self, stats_dir: str | None = None) -> None:
        self.stats_dir = stats_dir
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound
        self._seconds = 0.0
        self._batch_sizes: Counter[int] = Counter()
        # (second, counts per fine bucket) for the last WINDOW seconds that saw requests.
        self._window: deque[tuple[int, list[int]]] = deque(maxlen=WINDOW)
        self._models: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._writer: threading.Thread | None = None
        self._models_fn: Callable[[], dict[str, dict[str, Any]]] | None = None

    # ---- counting (the serving apps call these) -------------------------------------------

    def observe(self, status: int, seconds: float) -> None:
        """One inference request answered with ``status`` after ``seconds``."""
        with self._lock:
            self._statuses[status] += 1
            self._buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._seconds += seconds
            second = int(time.time())
            if not self._window or self._window[-1][0] != second:
                self._window.append((second, [0] * (len(FINE_BUCKETS) + 1)))
            self._window[-1][1][bisect.bisect_left(FINE_BUCKETS, seconds)] += 1
            self._dirty = True

    def batch(self, size: int) -> None:
        """One call of a model answered ``size`` requests."""
        with self._lock:
            self._batch_sizes[size] += 1
            self._dirty = True

    def models(self, loaded: dict[str, dict[str, Any]]) -> None:
        """The models loaded now, by name, each with what is known of it (memory, ...)."""
        with self._lock:
            self._models = {name: dict(info) for name, info in loaded.items()}
            self._dirty = True

    # ---- reading ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This process's counts, and the latencies of its last :data:`WINDOW` seconds."""
        cutoff = time.time() - WINDOW
        with self._lock:
            return {
                "pid": os.getpid(),
                "time": time.time(),
                "statuses": {str(k): v for k, v in self._statuses.items()},
                "latency_buckets": list(self._buckets),
                "latency_sum": self._seconds,
                "batch_sizes": {str(k): v for k, v in self._batch_sizes.items()},
                # Each recent second's non-empty fine buckets: {second: {bucket: count}}.
                "recent": {
                    str(sec): {str(i): n for i, n in enumerate(counts) if n}
                    for sec, counts in self._window
                    if sec >= cutoff
                },
                "models": self._models,
            }

    def all_workers(self) -> Totals:
        """Every worker's counts: the files of the others, this process's own live."""
        others = [s for s in read_snapshots(self.stats_dir) if s.get("pid") != os.getpid()]
        return Totals.of([*others, self.snapshot()])

    def metrics_text(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of the deployment's counts, and its media type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = CollectorRegistry()
        registry.register(_Collector(self))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    # ---- the snapshot file --------------------------------------------------------------

    def start_writing(self) -> None:
        """Write the snapshot now, then each second something changed (a daemon thread:
        the request path only marks it changed)."""
        if self.stats_dir is None or self._writer is not None:
            return
        self.write()
        self._writer = threading.Thread(target=self._write_changes, name="stats", daemon=True)
        self._writer.start()

    def watch_models(self, loaded: Callable[[], dict[str, dict[str, Any]]]) -> None:
        """Ask ``loaded()`` for the models loaded now each time the snapshot is due (a
        multi-model endpoint's models come and go without a request saying so)."""
        self._models_fn = loaded

    def _write_changes(self) -> None:
        while True:
            time.sleep(_WRITE_EVERY)
            if self._models_fn is not None:
                models = self._models_fn()
                if models != self._models:
                    self.models(models)
            if self._dirty:
                self.write()

    def write(self) -> None:
        """Write the snapshot for the readers (atomically: a reader never sees half)."""
        if self.stats_dir is None:
            return
        self._dirty = False
        os.makedirs(self.stats_dir, exist_ok=True)
        path = os.path.join(self.stats_dir, f"{os.getpid()}.json")
        partial = f"{path}.{threading.get_ident()}.tmp"
        with open(partial, "w") as fh:
            json.dump(self.snapshot(), fh)
        os.replace(partial, path)


def read_snapshots(stats_dir: str | None) -> list[dict[str, Any]]:
    """The snapshots in ``stats_dir`` (none if it does not exist yet)."""
    found: list[dict[str, Any]] = []
    if stats_dir is None:
        return found
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(stats_dir)):
            if not name.endswith(".json"):
                continue  # a snapshot being written
            path = os.path.join(stats_dir, name)
            with contextlib.suppress(OSError, ValueError), open(path) as fh:
                found.append(json.load(fh))
    return found


@dataclass
class Totals:
    """The counts of several workers, added up."""

    statuses: Counter[int] = field(default_factory=Counter)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    # The last minute's latencies: counts per fine bucket (FINE_BUCKETS, then one above).
    recent: list[int] = field(default_factory=lambda: [0] * (len(FINE_BUCKETS) + 1))
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshots: Iterable[dict[str, Any]]) -> Totals:
        totals = cls()
        cutoff = time.time() - WINDOW
        for snapshot in snapshots:
            totals.statuses.update({int(k): v for k, v in snapshot["statuses"].items()})
            for i, count in enumerate(snapshot["latency_buckets"]):
                totals.latency_buckets[i] += count
            totals.latency_sum += snapshot["latency_sum"]
            totals.batch_sizes.update({int(k): v for k, v in snapshot["batch_sizes"].items()})
            for second, counts in snapshot["recent"].items():
                if int(second) >= cutoff:
                    for i, count in counts.items():
                        totals.recent[int(i)] += count
            totals.models.update(snapshot["models"])
        return totals

    @property
    def last_minute(self) -> int:
        return sum(self.recent)

    def percentile(self, q: float) -> float | None:
        """The last minute's ``q`` latency (nearest rank), as its fine bucket's upper bound
        (the largest bound for what lies above them all); None with no requests."""
        total = self.last_minute
        if not total:
            return None
        rank, seen = max(1, math.ceil(q * total)), 0
        for i, count in enumerate(self.recent):
            seen += count
            if seen >= rank:
                return FINE_BUCKETS[min(i, len(FINE_BUCKETS) - 1)]
        return FINE_BUCKETS[-1]


class _Collector:
    """prometheus_client's view of :class:`Totals` (a custom collector, as its docs show)."""

    def __init__(self, stats: ServingStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        totals = self.stats.all_workers()
        requests = CounterMetricFamily(
            "modelshelf_requests", "Inference requests answered, by HTTP status.", labels=["status"]
        )
        for status, count in sorted(totals.statuses.items()):
            requests.add_metric([str(status)], count)
        yield requests
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        cumulative = [sum(totals.latency_buckets[: i + 1]) for i in range(len(bounds))]
        yield HistogramMetricFamily(
            "modelshelf_request_seconds", "Time from request to answer of inference requests.",
            buckets=list(zip(bounds, cumulative, strict=True)), sum_value=totals.latency_sum,
        )  # fmt: skip
        sizes = totals.batch_sizes
        yield HistogramMetricFamily(
            "modelshelf_batch_size", "Requests answered by one call of a model.",
            buckets=[*((str(b), sum(c for n, c in sizes.items() if n <= b))
                       for b in BATCH_BUCKETS), ("+Inf", sum(sizes.values()))],
            sum_value=sum(n * c for n, c in sizes.items()),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "modelshelf_loaded_models",
            "Models loaded in memory, ready to answer.",
            value=len(totals.models),
        )
