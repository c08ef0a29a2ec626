"""Store-wide locks so that gc never deletes a blob a save in progress is about to reference.

The scheme is restic's: every save holds a *shared* lock record for its duration, gc holds an
*exclusive* one. Each side first creates its own record, then lists the others; with a
strongly consistent store (local disks, S3 since 2020) at least one of two racing parties sees
the other and backs off. Records expire (and are refreshed while held), and a record whose
process died on this host is ignored at once, so a crashed save never blocks gc for long.
A lock that lapsed while held (not renewed in time) is not extended after the fact: the
holder fails with :class:`LockLostError` when it ends, since others may have ignored it.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator

from modelshelf.core.errors import LockLostError, StoreBusyError
from modelshelf.core.renewal import Renewer
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
        held_until = record["expires_at"]

        def renew() -> bool:
            nonlocal held_until
            if time.time() >= held_until:
                return False  # lapsed: others may have gone ahead; extending it would lie
            renewed = expiring.renew(self.backend, key, purpose, self.ttl, exclusive=exclusive)
            held_until = renewed or held_until
            return renewed is not None

        renewer = Renewer(self.ttl / 3, name=f"store lock renewal ({purpose})")
        kind = "exclusive" if exclusive else "shared"
        renewal = renewer.add(f"the {kind} store lock for {purpose}", renew)
        renewer.start()
        try:
            yield
        finally:
            renewer.stop()  # no renewal of ours is in flight once the record is removed
            self.backend.remove(key)
        if renewal.lost or time.time() >= held_until:
            # The holder cannot be stopped half way through; failing is how it learns.
            raise LockLostError(
                f"the store lock for {purpose} lapsed while it was held (it could not be "
                "renewed in time, or its record was removed), so a gc or a save may have run "
                "at the same time; check the store with `modelshelf fsck`"
            )
