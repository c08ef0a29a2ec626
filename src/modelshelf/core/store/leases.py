"""Leases: records naming the jobs and deployments that use a version, so it is not deleted
from under them. A lease expires unless renewed, so a crashed holder cannot block deletion
forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.store import expiring
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.layout import LEASES, lease_dir, lease_key, tombstone_key

DEFAULT_TTL = 900.0


@dataclass(frozen=True)
class Lease:
    """A live claim on ``name:version`` by ``owner`` (e.g. ``job 12`` or ``deployment api``)."""

    id: str
    name: str
    version: int
    owner: str
    expires_at: float

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class LeaseBook:
    """Acquire, renew, release and list leases in a store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def acquire(self, name: str, version: int, owner: str, ttl: float = DEFAULT_TTL) -> Lease:
        """Record a lease, then make sure the version was not deleted meanwhile.

        Delete does the mirror image (tombstone, then look for leases), so one of two racing
        parties always sees the other.
        """
        lease_id = uuid.uuid4().hex
        record = expiring.new_record(owner, ttl)
        key = lease_key(name, version, lease_id)
        self.backend.create(key, expiring.encode(record))
        if self.backend.exists(tombstone_key(name, version)):
            self.backend.remove(key)
            raise ModelNotFoundError(f"model {name}:{version} was deleted; it cannot be leased")
        return Lease(lease_id, name, version, owner, record["expires_at"])

    def renew(self, lease: Lease, ttl: float = DEFAULT_TTL) -> Lease:
        record = expiring.new_record(lease.owner, ttl)
        self.backend.write(lease_key(lease.name, lease.version, lease.id), expiring.encode(record))
        return Lease(lease.id, lease.name, lease.version, lease.owner, record["expires_at"])

    def release(self, lease: Lease) -> None:
        self.backend.remove(lease_key(lease.name, lease.version, lease.id))

    def live(self, name: str, version: int) -> list[Lease]:
        """Unexpired leases on one version."""
        return self._scan(lease_dir(name, version), recursive=False)

    def all_live(self) -> list[Lease]:
        return self._scan(LEASES, recursive=True)

    def _scan(self, prefix: str, recursive: bool) -> list[Lease]:
        out = []
        for entry in self.backend.list(prefix, recursive=recursive):
            parts = entry.key.split("/")
            if len(parts) != 4 or not parts[3].endswith(".json") or not parts[2].isdigit():
                continue
            try:
                record = expiring.decode(self.backend.read_bytes(entry.key))
            except FileNotFoundError:
                continue
            if record and expiring.is_live(record, check_pid=False):
                out.append(
                    Lease(
                        parts[3][:-5],
                        parts[1],
                        int(parts[2]),
                        record["owner"],
                        record["expires_at"],
                    )
                )
        return out
