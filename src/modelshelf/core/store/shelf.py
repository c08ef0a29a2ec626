"""The model store: immutable, versioned, content-addressed models on any fsspec URL."""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from traitlets import Bool, Dict, Float, Integer, Unicode, Union, default, validate
from traitlets.config import Configurable

from modelshelf.core.environment import capture_environment
from modelshelf.core.errors import (
    InvalidNameError,
    ModelInUseError,
    ModelNotFoundError,
)
from modelshelf.core.names import (
    Ref,
    parse_ref,
    validate_alias,
    validate_name,
    validate_relpath,
)
from modelshelf.core.progress import ProgressCallback, ProgressTracker
from modelshelf.core.sizes import parse_size
from modelshelf.core.sources import open_source
from modelshelf.core.state import state_dir
from modelshelf.core.store import layout
from modelshelf.core.store.aliases import AliasBook, AliasMove
from modelshelf.core.store.backend import Backend, open_backend
from modelshelf.core.store.blobs import BlobStore
from modelshelf.core.store.diff import ModelDiff, diff_versions
from modelshelf.core.store.ingest import hash_files, ingest_files, tree_digest
from modelshelf.core.store.leases import DEFAULT_TTL, Lease, LeaseBook
from modelshelf.core.store.locks import StoreLocks
from modelshelf.core.store.maintenance import FsckReport, GcReport, check, collect_garbage
from modelshelf.core.store.manifest import ModelVersion, utcnow_iso
from modelshelf.core.store.materialize import materialize
from modelshelf.core.store.statcache import StatCache

DEFAULT_MODEL_PATH = "/opt/ml/models"
DEFAULT_OUTPUT_PATH = "/opt/ml/output"


@dataclass(frozen=True)
class ModelSummary:
    """One model in a listing: its newest version and how many versions it has."""

    name: str
    latest: int
    versions: int
    updated_at: float | None


class Shelf(Configurable):
    """A model store rooted at a local folder or any fsspec URL.

    Parameters
    ----------
    root:
        Folder or URL of the store; defaults to ``MODELSHELF_ROOT`` or ``~/.modelshelf``.
    storage_options:
        Passed to fsspec, e.g. ``{"endpoint_url": ...}`` for MinIO or Wasabi.
    """

    root = Unicode(help="Store root: a local folder or an fsspec URL (s3://, gs://, ...).").tag(
        config=True
    )
    storage_options = Dict(help="fsspec storage options for the root URL.").tag(config=True)
    max_model_size = Union(
        [Integer(), Unicode()], help="Largest model accepted: bytes or a size like '50GB'."
    ).tag(config=True)
    workers = Integer(0, help="Parallel file transfers; 0 picks a default per backend.").tag(
        config=True
    )
    lock_wait = Float(60.0, help="Seconds a save or gc waits for a conflicting lock.").tag(
        config=True
    )
    shared = Bool(
        False,
        help="The local root is a network folder mounted at the same path on every machine "
        "(lets Dask workers use it).",
    ).tag(config=True)
    fsync = Bool(False, help="fsync blobs and manifests on local stores (slower, durable).").tag(
        config=True
    )

    def __init__(
        self, root: str | os.PathLike | None = None, storage_options: dict | None = None, **kw: Any
    ) -> None:
        if root is not None:
            kw["root"] = os.fspath(root)
        if storage_options is not None:
            kw["storage_options"] = storage_options
        super().__init__(**kw)
        self.backend: Backend = open_backend(self.root, self.storage_options, fsync=self.fsync)
        self.blobs = BlobStore(self.backend)
        self.aliases = AliasBook(self.backend)
        self.leases = LeaseBook(self.backend)
        self.locks = StoreLocks(self.backend, wait=self.lock_wait)
        self.state_dir = state_dir(self.backend.url, self.backend.is_local)
        self._statcache = StatCache(os.path.join(self.state_dir, "statcache.sqlite"))

    @default("root")
    def _default_root(self) -> str:
        return os.environ.get("MODELSHELF_ROOT") or os.path.expanduser("~/.modelshelf")

    @default("max_model_size")
    def _default_max_size(self) -> int:
        return parse_size(os.environ.get("MODELSHELF_MAX_MODEL_SIZE") or "50GB")

    @validate("max_model_size")
    def _check_max_size(self, proposal: Any) -> int:
        return parse_size(proposal["value"])

    def __repr__(self) -> str:
        return f"Shelf({self.backend.url!r})"

    def close(self) -> None:
        """Release local resources (the stat cache's database connection)."""
        self._statcache.close()

    def __enter__(self) -> Shelf:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _workers(self) -> int:
        if self.workers > 0:
            return self.workers
        return min(8, 2 * (os.cpu_count() or 2)) if self.backend.is_local else 16

    # ---- saving -------------------------------------------------------------------------

    def save(
        self,
        name: str,
        source: str | os.PathLike,
        *,
        parent: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tags: list[str] | tuple[str, ...] | None = None,
        dataset: str | dict[str, Any] | None = None,
        message: str | None = None,
        job: dict[str, Any] | None = None,
        notebook: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ModelVersion:
        """Save a folder, URL or archive as the next version of ``name``.

        The new version becomes visible only once all of its files are stored; a save that
        dies half way leaves nothing listed and can simply be run again.
        """
        validate_name(name)
        parent_ref = self.show(parent).ref if parent else None
        dataset_record = self.fingerprint(dataset) if dataset is not None else None
        with open_source(
            os.fspath(source), max_size=self.max_model_size, storage_options=self.storage_options
        ) as tree:
            tracker = ProgressTracker("save", tree.total_size, len(tree.files), progress)
            with self.locks.shared(f"save {name}"):
                files = ingest_files(
                    self.blobs,
                    tree.files,
                    workers=self._workers,
                    cache=self._statcache,
                    tracker=tracker,
                )
                draft = ModelVersion(
                    name=name,
                    version=0,
                    created_at=utcnow_iso(),
                    source=tree.description,
                    files=tuple(files),
                    parent=parent_ref,
                    params=dict(params or {}),
                    metrics=dict(metrics or {}),
                    tags=tuple(tags or ()),
                    dataset=dataset_record,
                    message=message,
                    job=job,
                    notebook=notebook,
                    environment=capture_environment(),
                )
                return self._commit(draft)

    def _commit(self, draft: ModelVersion) -> ModelVersion:
        """Create the manifest at the next free version number, atomically."""
        version = self._highest_number(draft.name) + 1
        while True:
            final = replace(draft, version=version)
            if self.backend.create(layout.manifest_key(draft.name, version), final.to_json()):
                return final
            # Someone else took this number: look again rather than counting up blindly.
            version = max(version + 1, self._highest_number(draft.name) + 1)

    def fingerprint(self, dataset: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
        """A dataset record: its ref, a content hash over all its files, size and count.

        Files are hashed, not stored. A dict is taken as an already-made record.
        """
        if isinstance(dataset, dict):
            return dict(dataset)
        with open_source(os.fspath(dataset), storage_options=self.storage_options) as tree:
            entries = hash_files(tree.files, workers=self._workers, cache=self._statcache)
            return {
                "ref": tree.description,
                "sha256": tree_digest(entries),
                "size": sum(e.size for e in entries),
                "file_count": len(entries),
            }

    # ---- reading --------------------------------------------------------------------------

    def _numbers(self, name: str) -> tuple[set[int], set[int]]:
        """(versions with a manifest, versions with a tombstone) of ``name``."""
        manifests, tombstones = set(), set()
        for entry in self.backend.list(layout.model_dir(name)):
            parsed = layout.parse_version_file(entry.key.rsplit("/", 1)[-1])
            if parsed:
                (manifests if parsed[1] == "json" else tombstones).add(parsed[0])
        return manifests, tombstones

    def _highest_number(self, name: str) -> int:
        manifests, tombstones = self._numbers(name)
        return max(manifests | tombstones, default=0)

    def _live_numbers(self, name: str) -> list[int]:
        manifests, tombstones = self._numbers(name)
        return sorted(manifests - tombstones)

    def resolve(self, ref: str | Ref) -> tuple[str, int]:
        """Turn ``name``, ``name:3`` or ``name@alias`` into ``(name, version)``."""
        parsed = parse_ref(ref)
        live = self._live_numbers(parsed.name)
        if parsed.alias is not None:
            version = self.aliases.current(parsed.name, parsed.alias)
            if version is None:
                raise ModelNotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}")
            if version not in live:
                raise ModelNotFoundError(
                    f"alias {parsed} points at version {version}, which was deleted"
                )
            return parsed.name, version
        if not live:
            raise ModelNotFoundError(
                f"no model named {parsed.name!r} in {self.backend.url}; `modelshelf ls` lists them"
            )
        if parsed.version is None:
            return parsed.name, live[-1]
        if parsed.version not in live:
            raise ModelNotFoundError(
                f"model {parsed.name!r} has no version {parsed.version} "
                f"(versions: {', '.join(map(str, live))})"
            )
        return parsed.name, parsed.version

    def show(self, ref: str | Ref) -> ModelVersion:
        """The manifest of one version."""
        name, version = self.resolve(ref)
        return self._read_manifest(name, version)

    def _read_manifest(self, name: str, version: int) -> ModelVersion:
        try:
            return ModelVersion.from_json(
                self.backend.read_bytes(layout.manifest_key(name, version))
            )
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"model {name}:{version} does not exist") from exc

    def versions(self, name: str) -> list[ModelVersion]:
        """Every live version of ``name``, oldest first."""
        validate_name(name)
        numbers = self._live_numbers(name)
        if not numbers:
            raise ModelNotFoundError(f"no model named {name!r} in {self.backend.url}")
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return list(pool.map(lambda n: self._read_manifest(name, n), numbers))

    def list(self) -> list[ModelSummary]:
        """Every model with its newest version, from one listing (no manifest is read)."""
        found: dict[str, dict[int, float | None]] = defaultdict(dict)
        deleted: dict[str, set[int]] = defaultdict(set)
        for entry in self.backend.list(layout.MODELS, recursive=True):
            parts = entry.key.split("/")
            parsed = layout.parse_version_file(parts[-1]) if len(parts) == 3 else None
            if parsed is None:
                continue
            if parsed[1] == "json":
                found[parts[1]][parsed[0]] = entry.mtime
            else:
                deleted[parts[1]].add(parsed[0])
        out = []
        for name in sorted(found):
            live = {n: t for n, t in found[name].items() if n not in deleted[name]}
            if live:
                latest = max(live)
                out.append(ModelSummary(name, latest, len(live), live[latest]))
        return out

    def open(self, ref: str | Ref, path: str) -> BinaryIO:
        """Open one file of a version for reading, without copying the rest.

        Reading to the end verifies the file's hash and raises IntegrityError on damage.
        """
        manifest = self.show(ref)
        entry = manifest.file(validate_relpath(path))
        if entry is None:
            raise ModelNotFoundError(f"{manifest.ref} has no file {path!r}")
        return self.blobs.open_verified(entry.sha256, entry.size)

    def load(
        self,
        ref: str | Ref,
        dest: str | os.PathLike | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Copy a version's files into ``dest`` (default ``ML_MODEL_PATH`` or /opt/ml/models).

        Every file is verified against its sha256; a damaged blob raises IntegrityError and
        nothing is left half-written. Returns the destination folder.
        """
        manifest = self.show(ref)
        target = os.fspath(dest) if dest is not None else default_model_path()
        tracker = ProgressTracker("load", manifest.size, manifest.file_count, progress)
        return materialize(
            self.blobs, manifest, os.path.expanduser(target), workers=self._workers, tracker=tracker
        )

    def diff(self, ref_a: str | Ref, ref_b: str | Ref) -> ModelDiff:
        """Files added, removed and changed from ``ref_a`` to ``ref_b``; params and metrics."""
        return diff_versions(self.show(ref_a), self.show(ref_b))

    # ---- aliases and leases ---------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> AliasMove:
        """Point ``name@alias`` at a version; every move is kept in the alias history."""
        validate_alias(alias)
        _, number = self.resolve(f"{validate_name(name)}:{version}")
        return self.aliases.move(name, alias, number)

    def remove_alias(self, name: str, alias: str) -> AliasMove:
        """Remove ``name@alias`` (recorded in its history as a move to nothing)."""
        if self.aliases.current(validate_name(name), validate_alias(alias)) is None:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        return self.aliases.move(name, alias, None)

    def alias_history(self, name: str, alias: str) -> list[AliasMove]:
        """Every move of ``name@alias``, oldest first."""
        history = self.aliases.history(name, alias)
        if not history and not self._live_numbers(name):
            raise ModelNotFoundError(f"no model named {name!r} in {self.backend.url}")
        return history

    def lease(self, ref: str | Ref, owner: str, ttl: float = DEFAULT_TTL) -> Lease:
        """Keep a version from deletion while ``owner`` uses it; renew before ``ttl`` ends."""
        name, version = self.resolve(ref)
        return self.leases.acquire(name, version, owner, ttl)

    # ---- deleting and upkeep ----------------------------------------------------------------

    def delete(self, ref: str | Ref) -> ModelVersion:
        """Delete one version (``name:3`` or ``name@alias``).

        Refused while a live lease or an alias holds it. Its number is never reused; its
        blobs stay until ``gc`` finds nothing else references them.
        """
        parsed = parse_ref(ref)
        if parsed.version is None and parsed.alias is None:
            raise InvalidNameError(
                f"say which version to delete: {parsed.name}:N (see `modelshelf versions "
                f"{parsed.name}`)"
            )
        name, version = self.resolve(parsed)
        manifest = self._read_manifest(name, version)
        self._refuse_if_held(name, version)
        tombstone = layout.tombstone_key(name, version)
        self.backend.create(tombstone, utcnow_iso().encode())
        # A lease or alias that arrived between our check and the tombstone wins.
        try:
            self._refuse_if_held(name, version)
        except ModelInUseError:
            self.backend.remove(tombstone)
            raise
        self.backend.remove(layout.manifest_key(name, version))
        return manifest

    def _refuse_if_held(self, name: str, version: int) -> None:
        holders = [lease.owner for lease in self.leases.live(name, version)]
        if holders:
            raise ModelInUseError(
                f"{name}:{version} is in use by {', '.join(sorted(holders))}; stop them first "
                "(leases expire on their own if their holder crashed)"
            )
        aliases = [a for a, v in self.aliases.of_model(name).items() if v == version]
        if aliases:
            raise ModelInUseError(
                f"{name}:{version} is the target of alias {', '.join(sorted(aliases))}; move or "
                "remove the alias first"
            )

    def gc(self, dry_run: bool = False) -> GcReport:
        """Remove blobs no manifest references (never those a running save needs)."""
        with self.locks.exclusive("gc"):
            return collect_garbage(self.backend, self.blobs, self._workers, dry_run)

    def fsck(self) -> FsckReport:
        """Re-hash every referenced blob; report damaged or missing ones and whom they hurt."""
        return check(self.backend, self.blobs, self._workers)


def default_model_path() -> str:
    """Where models are loaded by default: ``ML_MODEL_PATH`` or /opt/ml/models."""
    return os.environ.get("ML_MODEL_PATH") or DEFAULT_MODEL_PATH


def default_output_path() -> str:
    """Where a notebook writes its output: ``ML_OUTPUT_PATH`` or /opt/ml/output."""
    return os.environ.get("ML_OUTPUT_PATH") or DEFAULT_OUTPUT_PATH
