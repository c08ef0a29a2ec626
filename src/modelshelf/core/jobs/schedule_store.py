"""Schedule definitions and run claims, kept in the store itself.

Machines that share a store (through S3, GCS, ...) each have their own local state folder,
so what they must agree on lives in the store, next to the models:

```
schedules/<name>/definition.json    the job template and its timing (rewritten on change)
schedules/<name>/next.json          a hint: the due time after the last claimed run
schedules/<name>/runs/<key>.json    one per fired run, created if absent: the claim
schedules/changed.json              a token rewritten on every definition change
```

A run's key is its due time in milliseconds (``000001764590400000``), or that time with
``-manual-<token>`` for a "run now". Creating the key with the backend's atomic
create-if-absent (the primitive that commits manifests) is the claim: of any number of
schedulers on any number of machines, exactly one creates it, and only that one submits the
job. The owner then rewrites the record with the run's attempts and final status.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from modelshelf.core.errors import ScheduleError, ScheduleNotFoundError
from modelshelf.core.jobs.schedule_timing import Timing
from modelshelf.core.store.backend import Backend

ROOT = "schedules"
CHANGED = f"{ROOT}/changed.json"
MISSED_POLICIES = ("skip", "once", "all")
NOTIFY_ON = ("failure", "always")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def validate_schedule_name(name: str) -> str:
    """``name`` if it can name a schedule (it is a folder in the store and a URL segment)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ScheduleError(
            f"invalid schedule name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def due_key(due: float) -> str:
    """The sortable key of a due time: milliseconds since the epoch, zero-padded."""
    return f"{round(due * 1000):018d}"


def manual_key(at: float) -> str:
    """The key of a "run now" made at ``at``: sorts among the due runs by its time."""
    return f"{due_key(at)}-manual-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ScheduleDefinition:
    """What a schedule runs (``template``: :meth:`JobManager.submit`'s arguments) and when.

    ``since`` is when due times start to count: creation, the last resume or the last change
    of timing. Runs due while paused are not missed runs; they were not wanted.
    """

    name: str
    template: dict[str, Any]
    timing: Timing
    since: float
    missed: str = "skip"
    max_staleness: float = 86400.0
    max_retries: int = 0
    retry_backoff: float = 60.0
    notify: str | None = None
    notify_on: str = "failure"
    paused: bool = False
    created_at: float = field(default_factory=time.time)
    revision: int = 1
    uid: str = field(default_factory=lambda: secrets.token_hex(8))

    def to_json(self) -> bytes:
        data = asdict(self)
        data["timing"] = self.timing.to_dict()
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ScheduleDefinition:
        data = json.loads(raw)
        data["timing"] = Timing.from_dict(data["timing"])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def changed(self, **fields: Any) -> ScheduleDefinition:
        """A copy with ``fields`` changed and the next revision number."""
        return replace(self, revision=self.revision + 1, **fields)


class ScheduleStore:
    """Definitions, hints and run claims of one store (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @staticmethod
    def _definition_key(name: str) -> str:
        return f"{ROOT}/{validate_schedule_name(name)}/definition.json"

    @staticmethod
    def _run_key(name: str, key: str) -> str:
        return f"{ROOT}/{name}/runs/{key}.json"

    # ---- definitions ---------------------------------------------------------------------

    def create(self, definition: ScheduleDefinition) -> None:
        """Add a new schedule; refuse a name already taken."""
        if not self.backend.create(self._definition_key(definition.name), definition.to_json()):
            raise ScheduleError(
                f"a schedule named {definition.name!r} exists already: pick another --name, "
                "or change it with update"
            )
        self.touch()

    def get(self, name: str) -> ScheduleDefinition:
        try:
            return ScheduleDefinition.from_json(self.backend.read_bytes(self._definition_key(name)))
        except FileNotFoundError:
            raise ScheduleNotFoundError(
                f"no schedule {name!r}; `modelshelf schedule ls` lists them"
            ) from None

    def names(self) -> list[str]:
        return sorted(self.backend.list_dirs(ROOT))

    def all(self) -> list[ScheduleDefinition]:
        """Every definition (a schedule removed while listing is left out)."""
        found = []
        for name in self.names():
            try:
                found.append(self.get(name))
            except (ScheduleError, FileNotFoundError, ValueError):
                continue
        return found

    def update(self, name: str, change: Any) -> ScheduleDefinition:
        """Apply ``change(definition) -> definition`` as one conditional rewrite.

        Two machines changing one schedule at once cannot lose either change silently: the
        rewrite fails when the record changed since it was read, and is tried again.
        """
        key = self._definition_key(name)
        for _ in range(20):
            current = self.get(name)
            new = change(current)
            if self.backend.rewrite(key, lambda raw, c=current, n=new: _if_same(raw, c, n)):
                self.touch()
                return new
        raise ScheduleError(f"schedule {name!r} kept changing while being updated; try again")

    def delete(self, name: str) -> None:
        self.get(name)  # a clear error for an unknown name
        self.backend.remove(self._definition_key(name))
        for entry in self.backend.list(f"{ROOT}/{name}", recursive=True):
            self.backend.remove(entry.key)
        self.touch()

    def touch(self) -> None:
        """Tell every scheduler the definitions changed (they re-read them when they see it)."""
        self.backend.write(CHANGED, secrets.token_hex(8).encode())

    def change_token(self) -> bytes:
        try:
            return self.backend.read_bytes(CHANGED)
        except FileNotFoundError:
            return b""

    # ---- hints ---------------------------------------------------------------------------

    def next_hint(self, name: str) -> float | None:
        """The due time after the last run any machine claimed (None before the first)."""
        try:
            return float(json.loads(self.backend.read_bytes(f"{ROOT}/{name}/next.json"))["due"])
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def set_next_hint(self, name: str, due: float) -> None:
        self.backend.write(f"{ROOT}/{name}/next.json", json.dumps({"due": due}).encode())

    # ---- runs ----------------------------------------------------------------------------

    def claim(self, name: str, key: str, record: dict[str, Any]) -> bool:
        """Create the run's record unless it exists: True when this caller owns the run."""
        return self.backend.create(self._run_key(name, key), json.dumps(record).encode())

    def record_run(self, name: str, key: str, record: dict[str, Any]) -> None:
        """The owner's update of a run it claimed (attempts, status)."""
        self.backend.rewrite(self._run_key(name, key), lambda _old: json.dumps(record).encode())

    def run(self, name: str, key: str) -> dict[str, Any] | None:
        """One run's record (None when absent)."""
        try:
            return json.loads(self.backend.read_bytes(self._run_key(name, key)))
        except (FileNotFoundError, ValueError):
            return None

    def runs(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        """The latest ``limit`` runs of a schedule, newest first."""
        entries = sorted(
            (e for e in self.backend.list(f"{ROOT}/{name}/runs") if e.key.endswith(".json")),
            key=lambda e: e.key,
            reverse=True,
        )
        out = []
        for entry in entries[:limit]:
            try:
                out.append(json.loads(self.backend.read_bytes(entry.key)))
            except (FileNotFoundError, ValueError):
                continue
        return out

    def run_keys(self, name: str) -> list[str]:
        """Keys of every run record of a schedule, oldest first."""
        keys = [e.key.rsplit("/", 1)[-1] for e in self.backend.list(f"{ROOT}/{name}/runs")]
        return sorted(k.removesuffix(".json") for k in keys if k.endswith(".json"))


def _if_same(raw: bytes, read: ScheduleDefinition, new: ScheduleDefinition) -> bytes | None:
    """The new record if the stored one is still the one read (its revision), else None."""
    try:
        current = ScheduleDefinition.from_json(raw)
    except ValueError:
        return None
    return new.to_json() if current.revision == read.revision else None
