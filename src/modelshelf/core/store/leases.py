"""Leases: records naming the jobs and deployments that use a version, so it is not deleted
from under them. A lease expires unless renewed, so a crashed holder cannot block deletion
forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.renewal import Renewal, Renewer
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

    def renew(self, lease: Lease, ttl: float = DEFAULT_TTL) -> Lease | None:
        """Extend a lease by ``ttl`` from now; None when it is gone (released) or not its owner's.

        Only an existing record of the same owner is extended, never recreated: a release
        racing the renewal wins (see :meth:`Backend.rewrite` for each backend's guarantee).
        """
        key = lease_key(lease.name, lease.version, lease.id)
        expires_at = expiring.renew(self.backend, key, lease.owner, ttl)
        if expires_at is None:
            return None
        return Lease(lease.id, lease.name, lease.version, lease.owner, expires_at)

    def keep_renewed(self, renewer: Renewer, lease: Lease, ttl: float = DEFAULT_TTL) -> Renewal:
        """Have ``renewer`` renew ``lease`` each round, until discarded or the lease is gone."""
        return renewer.add(
            f"the lease on {lease.ref} ({lease.owner})",
            lambda: self.renew(lease, ttl) is not None,
        )

    def release(self, lease: Lease) -> None:
        """Delete the lease for good: a renewal racing the release does not bring it back."""
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
