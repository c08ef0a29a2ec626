"""How many workers a deployment runs now: ``<deployment folder>/workers.json``, written by
its supervisor whenever a worker starts, serves, retires or exits, read for its card."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field

CENSUS_FILE = "workers.json"


@dataclass(frozen=True)
class WorkerCensus:
    """The supervisor's workers, by what they do now."""

    serving: int = 0
    starting: int = 0  # spawned, not yet loaded and listening
    retiring: int = 0  # finishing their connections before they exit
    pids: list[int] = field(default_factory=list)

    @property
    def running(self) -> int:
        """The workers that count toward the range (a retiring one is on its way out)."""
        return self.serving + self.starting

    def note(self) -> str:
        """``", 1 starting, 2 stopping"``: what is on its way, if anything."""
        parts = [f"{n} {what}" for n, what in ((self.starting, "starting"),
                                               (self.retiring, "stopping")) if n]  # fmt: skip
        return "".join(f", {part}" for part in parts)


def write_census(folder: str, census: WorkerCensus) -> None:
    """Write ``census`` atomically (a reader never sees half of it)."""
    path = os.path.join(folder, CENSUS_FILE)
    partial = f"{path}.tmp"
    with open(partial, "w") as fh:
        json.dump(asdict(census), fh)
    os.replace(partial, path)


def read_census(folder: str) -> WorkerCensus | None:
    """The census in ``folder``; None when no supervisor wrote one (a single process)."""
    path = os.path.join(folder, CENSUS_FILE)
    with contextlib.suppress(OSError, ValueError, TypeError), open(path) as fh:
        return WorkerCensus(**json.load(fh))
    return None
