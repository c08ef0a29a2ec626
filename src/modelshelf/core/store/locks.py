"""Store-wide locks so that gc never deletes a blob a save in progress is about to reference.

The scheme is restic's: every save holds a *shared* lock record for its duration, gc holds an
*exclusive* one. Each side first creates its own record, then lists the others; with a
strongly consistent store (local disks, S3 since 2020) at least one of two racing parties sees
the other and backs off. Records expire (and are refreshed while held), and a record whose
process died on this host is ignored at once, so a crashed save never blocks gc for long.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Iterator

from modelshelf.core.errors import StoreBusyError
from modelshelf.core.store import expiring
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.layout import LOCKS, lock_key


class StoreLocks:
    """Shared and exclusive locks stored as records under ``locks/``."""

    def __init__(self, backend: Backend, ttl: float = 600.0, wait: float = 60.0) -> None:
        self.backend = backend
        self.ttl = ttl
        self.wait = wait

    @contextlib.contextmanager
    def shared(self, purpose: str) -> Iterator[None]:
        """Hold a shared lock (saves): waits while an exclusive holder (gc) is live."""
        with self._hold(purpose, exclusive=False):
            yield

    @contextlib.contextmanager
    def exclusive(self, purpose: str, wait: float | None = None) -> Iterator[None]:
        """Hold the exclusive lock (gc): waits while any other holder is live."""
        with self._hold(purpose, exclusive=True, wait=wait):
            yield

    def holders(self) -> list[dict]:
        """Live lock records, for messages and tests."""
        out = []
        for entry in self.backend.list(LOCKS):
            try:
                record = expiring.decode(self.backend.read_bytes(entry.key))
            except FileNotFoundError:
                continue
            if record and expiring.is_live(record, check_pid=True):
                out.append({**record, "id": entry.key.rsplit("/", 1)[-1][: -len(".json")]})
        return out

    @contextlib.contextmanager
    def _hold(self, purpose: str, exclusive: bool, wait: float | None = None) -> Iterator[None]:
        lock_id = uuid.uuid4().hex
        key = lock_key(lock_id)
        deadline = time.monotonic() + (self.wait if wait is None else wait)
        while True:
            record = expiring.new_record(purpose, self.ttl, exclusive=exclusive)
            self.backend.create(key, expiring.encode(record))
            blockers = [
                h
                for h in self.holders()
                if h["id"] != lock_id and (exclusive or h.get("exclusive"))
            ]
            if not blockers:
                break
            self.backend.remove(key)
            if time.monotonic() >= deadline:
                who = ", ".join(f"{h['owner']} (pid {h['pid']} on {h['host']})" for h in blockers)
                raise StoreBusyError(
                    f"the store is busy: {who} holds a lock; try again when it has finished"
                )
            time.sleep(random.uniform(0.05, 0.25))
        stop = threading.Event()
        refresher = threading.Thread(
            target=self._refresh, args=(key, purpose, exclusive, stop), daemon=True
        )
        refresher.start()
        try:
            yield
        finally:
            stop.set()
            refresher.join()
            self.backend.remove(key)

    def _refresh(self, key: str, purpose: str, exclusive: bool, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            with contextlib.suppress(Exception):
                self.backend.write(
                    key,
                    expiring.encode(expiring.new_record(purpose, self.ttl, exclusive=exclusive)),
                )
