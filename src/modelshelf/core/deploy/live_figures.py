"""A deployment's live figures, read where its server leaves them: the snapshots its workers
write (serving_stats.py) and, from ``/proc``, the CPU and memory of its processes."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from modelshelf.core.deploy.serving_stats import Totals, read_snapshots
from modelshelf.core.sizes import format_size

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class LiveFigures:
    """What a deployment has served, and what its processes take now."""

    requests: int = 0
    server_errors: int = 0  # answered 5xx
    client_errors: int = 0  # answered 4xx
    last_minute: int = 0  # requests answered in the last minute
    p50_ms: float | None = None  # over the last minute
    p99_ms: float | None = None
    batch_sizes: dict[int, int] = field(default_factory=dict)  # calls by requests per call
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # loaded, by name
    processes: int = 0
    cpu_seconds: float = 0.0  # user + system, all its processes since they started
    rss_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = {str(k): v for k, v in self.batch_sizes.items()}
        return data

    def fields(self) -> list[tuple[str, Any]]:
        """The card's rows: requests, errors, latency, batches, loaded models, resources."""
        latency = None
        if self.p50_ms is not None:
            latency = f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms (last minute)"
        batches = ", ".join(f"{n}: {count}" for n, count in sorted(self.batch_sizes.items()))
        loaded = ", ".join(
            name + (f" ({format_size(info['memory_bytes'])})" if info.get("memory_bytes") else "")
            for name, info in sorted(self.models.items())
        )
        resources = None
        if self.processes:
            resources = (
                f"{self.processes} process{'es' if self.processes > 1 else ''}, "
                f"{format_size(self.rss_bytes)} resident, {self.cpu_seconds:.1f} s CPU"
            )
        return [
            ("requests", f"{self.requests} ({self.last_minute} in the last minute)"),
            ("errors", f"{self.server_errors} server, {self.client_errors} client"),
            ("latency", latency),
            ("batch sizes", batches or None),
            ("loaded", loaded or None),
            ("resources", resources),
        ]


def read_live(folder: str, session: int | None) -> LiveFigures:
    """The figures of the deployment whose files are in ``folder`` and whose processes are
    ``session``'s (the server's process group), merged over all its workers."""
    totals = Totals.of(read_snapshots(os.path.join(folder, "stats")))
    statuses = totals.statuses
    figures = LiveFigures(
        requests=sum(statuses.values()),
        server_errors=sum(v for k, v in statuses.items() if k >= 500),
        client_errors=sum(v for k, v in statuses.items() if 400 <= k < 500),
        last_minute=totals.last_minute,
        batch_sizes=dict(totals.batch_sizes),
        models=totals.models,
    )
    if totals.last_minute:
        figures.p50_ms = (totals.percentile(0.50) or 0) * 1000
        figures.p99_ms = (totals.percentile(0.99) or 0) * 1000
    if session:
        figures.processes, figures.cpu_seconds, figures.rss_bytes = _session_use(session)
    return figures


def _session_use(session: int) -> tuple[int, float, int]:
    """How many processes ``session`` has, their CPU seconds and resident bytes (Linux)."""
    count, ticks, pages = 0, 0, 0
    with contextlib.suppress(OSError):
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
        for pid in entries:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            # fields[0] is proc(5)'s field 3 (state): session is 6, times 14-15, rss 24.
            if int(fields[3]) != session or fields[0] == "Z":
                continue
            count += 1
            ticks += int(fields[11]) + int(fields[12])
            pages += int(fields[21])
    return count, ticks / _TICKS, pages * _PAGE
