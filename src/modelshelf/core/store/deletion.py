"""Deleting a version without pulling it from under a job, a deployment or an alias.

Delete writes a tombstone, then looks for leases and aliases; a lease is taken by writing it,
then looking for a tombstone (:meth:`LeaseBook.acquire`). With strongly consistent storage,
one of two racing parties always sees the other, so a leased version is never deleted.
"""

from __future__ import annotations

from modelshelf.core.errors import InvalidNameError, ModelInUseError
from modelshelf.core.names import Ref
from modelshelf.core.store import layout
from modelshelf.core.store.catalog import Catalog
from modelshelf.core.store.leases import LeaseBook
from modelshelf.core.store.manifest import ModelVersion, utcnow_iso


def delete_version(catalog: Catalog, leases: LeaseBook, ref: Ref) -> ModelVersion:
    """Delete the version ``ref`` names (it must name one: ``name:N`` or ``name@alias``)."""
    if ref.version is None and ref.alias is None:
        raise InvalidNameError(
            f"say which version to delete: {ref.name}:N (see `modelshelf versions {ref.name}`)"
        )
    name, version = catalog.resolve(ref)
    manifest = catalog.read_manifest(name, version)
    refuse_if_held(catalog, leases, name, version)
    backend = catalog.backend
    tombstone = layout.tombstone_key(name, version)
    backend.create(tombstone, utcnow_iso().encode())
    # A lease or alias that arrived between our check and the tombstone wins.
    try:
        refuse_if_held(catalog, leases, name, version)
    except ModelInUseError:
        backend.remove(tombstone)
        raise
    backend.remove(layout.manifest_key(name, version))
    if catalog.summaries is not None:
        catalog.summaries.forget(name, version)
    return manifest


def refuse_if_held(catalog: Catalog, leases: LeaseBook, name: str, version: int) -> None:
    """Raise :class:`ModelInUseError` naming whoever holds ``name:version``."""
    holders = [lease.owner for lease in leases.live(name, version)]
    if holders:
        raise ModelInUseError(
            f"{name}:{version} is in use by {', '.join(sorted(holders))}; stop them first "
            "(leases expire on their own if their holder crashed)",
            holders=sorted(holders),
        )
    aliases = [a for a, v in catalog.aliases.of_model(name).items() if v == version]
    if aliases:
        raise ModelInUseError(
            f"{name}:{version} is the target of alias {', '.join(sorted(aliases))}; move or "
            "remove the alias first",
            holders=[f"alias {alias}" for alias in sorted(aliases)],
        )
