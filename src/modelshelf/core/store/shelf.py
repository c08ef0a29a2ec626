"""The model store: immutable, versioned, content-addressed models on any fsspec URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from modelshelf.core.errors import (
    IntegrityError,
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
from modelshelf.core.state import state_dir
from modelshelf.core.store import layout
from modelshelf.core.store.aliases import AliasBook, AliasMove
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.backends import open_backend
from modelshelf.core.store.blobs import BlobStore
from modelshelf.core.store.catalog import Catalog, ModelSummary
from modelshelf.core.store.deletion import delete_version
from modelshelf.core.store.diff import ModelDiff, diff_versions
from modelshelf.core.store.evaluations import Evaluation, EvaluationBook
from modelshelf.core.store.ingest import dataset_record, hash_files, ingest_files
from modelshelf.core.store.leases import DEFAULT_TTL, Lease, LeaseBook
from modelshelf.core.store.locks import StoreLocks
from modelshelf.core.store.maintenance import FsckReport, GcReport, check, collect_garbage
from modelshelf.core.store.manifest import FileEntry, ModelVersion, utcnow_iso
from modelshelf.core.store.materialize import materialize
from modelshelf.core.store.shelf_settings import ShelfSettings, default_model_path
from modelshelf.core.store.statcache import StatCache, cache_path
from modelshelf.core.store.storeformat import FormatBook


@dataclass(frozen=True)
class StagedFiles:
    """Files whose blobs are in the store but that no version references yet."""

    source: str
    files: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class Shelf(ShelfSettings):
    """A model store rooted at a local folder or any fsspec URL.

    Parameters
    ----------
    root:
        Folder or URL of the store; defaults to ``MODELSHELF_ROOT`` or ``~/.modelshelf``.
    storage_options:
        Passed to fsspec, e.g. ``{"endpoint_url": ...}`` for MinIO or Wasabi.
    """

    def __init__(
        self, root: str | os.PathLike | None = None, storage_options: dict | None = None, **kw: Any
    ) -> None:
        if root is not None:
            kw["root"] = os.fspath(root)
        if storage_options is not None:
            kw["storage_options"] = storage_options
        super().__init__(**kw)
        self.backend: Backend = open_backend(self.root, self.storage_options, fsync=self.fsync)
        self.formats = FormatBook(self.backend, self.new_store_digest)
        self.blobs = BlobStore(self.backend, self.formats)
        self.aliases = AliasBook(self.backend)
        self.catalog = Catalog(self.backend, self.aliases, self._workers, self.formats)
        self.leases = LeaseBook(self.backend)
        self.evaluation_book = EvaluationBook(self.backend)
        self.locks = StoreLocks(self.backend, wait=self.lock_wait)
        self.state_dir = state_dir(self.backend.url, self.backend.is_local)
        self._statcache_of: dict[str, StatCache] = {}

    def __repr__(self) -> str:
        return f"Shelf({self.backend.url!r})"

    def close(self) -> None:
        """Release local resources (the stat cache's database connection)."""
        for cache in self._statcache_of.values():
            cache.close()

    def __enter__(self) -> Shelf:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _workers(self) -> int:
        if self.workers > 0:
            return self.workers
        # Local copies are CPU-bound (sha256, memory): more threads than cores only contend.
        return (os.cpu_count() or 2) if self.backend.is_local else 16

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
        dataset: str | os.PathLike | dict[str, Any] | None = None,
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
        if parent:
            self.resolve(parent)  # fail before copying gigabytes, not after
        dataset_record = self.fingerprint(dataset) if dataset is not None else None
        with self.locks.shared(f"save {name}"):
            staged = self._stage(source, progress)
            return self.commit(
                name,
                staged,
                parent=parent,
                params=params,
                metrics=metrics,
                tags=tags,
                dataset=dataset_record,
                message=message,
                job=job,
                notebook=notebook,
                check_blobs=False,
            )

    def stage(
        self, source: str | os.PathLike, *, progress: ProgressCallback | None = None
    ) -> StagedFiles:
        """Store a source's files as blobs without creating a version (see :meth:`commit`).

        Used when the decision to keep files comes later, e.g. a job's workers each stage
        their output and the job commits them only if every worker succeeded. Blobs that
        are never committed are removed by ``gc``; hold ``locks.shared`` from stage to
        commit so that ``gc`` cannot run in between.
        """
        with self.locks.shared("stage"):
            return self._stage(source, progress)

    def _stage(self, source: str | os.PathLike, progress: ProgressCallback | None) -> StagedFiles:
        # Imported by the saves that need them, so that reading a store (`modelshelf ls`)
        # does not pay for every kind of source (archives, git, URLs).
        from modelshelf.core.sources import open_source

        with open_source(
            os.fspath(source), max_size=self.max_model_size, storage_options=self.storage_options
        ) as tree:
            self.formats.record()  # a new store's store.json, before its first blob
            tracker = ProgressTracker("save", tree.total_size, len(tree.files), progress)
            files = ingest_files(
                self.blobs,
                tree.files,
                workers=self._workers,
                cache=self._statcache,
                tracker=tracker,
            )
        return StagedFiles(tree.description, tuple(files))

    @property
    def _statcache(self) -> StatCache:
        # One cache per digest: a file's remembered digest is only good for its own kind.
        algorithm = self.blobs.algorithm
        if algorithm not in self._statcache_of:
            path = cache_path(self.state_dir, algorithm)
            self._statcache_of[algorithm] = StatCache(path)
        return self._statcache_of[algorithm]

    def commit(
        self,
        name: str,
        staged: StagedFiles,
        *,
        parent: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tags: list[str] | tuple[str, ...] | None = None,
        dataset: str | os.PathLike | dict[str, Any] | None = None,
        message: str | None = None,
        job: dict[str, Any] | None = None,
        notebook: str | None = None,
        check_blobs: bool = True,
    ) -> ModelVersion:
        """Create the next version of ``name`` from files already staged in the store."""
        from modelshelf.core.environment import capture_environment  # importlib.metadata

        validate_name(name)
        if check_blobs:
            missing = [f.path for f in staged.files if not self.blobs.has(f.digest)]
            if missing:
                raise IntegrityError(
                    f"staged files of {staged.source} are gone from the store ({missing[0]}, "
                    f"...): gc ran between stage and commit; stage them again"
                )
        draft = ModelVersion(
            name=name,
            version=0,
            created_at=utcnow_iso(),
            source=staged.source,
            files=staged.files,
            parent=self.show(parent).ref if parent else None,
            params=dict(params or {}),
            metrics=dict(metrics or {}),
            tags=tuple(tags or ()),
            dataset=self.fingerprint(dataset) if dataset is not None else None,
            message=message,
            job=job,
            notebook=notebook,
            environment=capture_environment(),
        )
        return self._commit(draft)

    def _commit(self, draft: ModelVersion) -> ModelVersion:
        """Create the manifest at the next free version number, atomically."""
        version = self.catalog.highest_number(draft.name) + 1
        while True:
            final = replace(draft, version=version)
            if self.backend.create(layout.manifest_key(draft.name, version), final.to_json()):
                if self.catalog.summaries is not None:
                    self.catalog.summaries.record(
                        final.name, version, final.created_at, final.tags, final.parent
                    )
                return final
            # Someone else took this number: look again rather than counting up blindly.
            version = max(version + 1, self.catalog.highest_number(draft.name) + 1)

    def fingerprint(self, dataset: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
        """A dataset record: its ref, a content hash over all its files, size and count.

        Files are hashed, not stored. A dict is taken as an already-made record.
        """
        if isinstance(dataset, dict):
            return dict(dataset)
        from modelshelf.core.sources import open_source

        with open_source(os.fspath(dataset), storage_options=self.storage_options) as tree:
            algorithm = self.blobs.algorithm
            entries = hash_files(
                tree.files, workers=self._workers, cache=self._statcache, algorithm=algorithm
            )
            return dataset_record(tree.description, entries, algorithm)

    # ---- reading --------------------------------------------------------------------------

    def resolve(self, ref: str | Ref) -> tuple[str, int]:
        """Turn ``name``, ``name:3`` or ``name@alias`` into ``(name, version)``."""
        return self.catalog.resolve(ref)

    def show(self, ref: str | Ref, *, evaluations: bool = False) -> ModelVersion:
        """The manifest of one version (with its evaluation records if ``evaluations``)."""
        manifest = self.catalog.show(ref)
        if not evaluations:
            return manifest
        found = self.evaluation_book.list(manifest.name, manifest.version)
        return replace(manifest, evaluations=tuple(found))

    # ---- evaluations ------------------------------------------------------------------------

    def evaluate(
        self,
        ref: str | Ref,
        score: float,
        *,
        data: str | None = None,
        data_hash: str | None = None,
        job: str | None = None,
        pipeline: str = "evaluate",
    ) -> Evaluation:
        """Keep ``score`` as an evaluation record of the version ``ref`` names.

        Versions are immutable, so the score is an append-only record beside it; deleting
        the version removes its records. ``pipeline`` is ``"evaluate"`` or ``"full"``.
        """
        name, version = self.resolve(ref)
        record = Evaluation(score, data, data_hash, 0.0, job, pipeline)
        return self.evaluation_book.add(name, version, record)

    def evaluations(self, ref: str | Ref) -> list[Evaluation]:
        """The evaluation records of one version, oldest first."""
        name, version = self.resolve(ref)
        return self.evaluation_book.list(name, version)

    def versions(self, name: str, *, evaluations: bool = False) -> list[ModelVersion]:
        """Every live version of ``name``, oldest first (with their evaluation records if
        ``evaluations``: one listing of the model's records)."""
        versions = self.catalog.versions(name)
        if not evaluations:
            return versions
        scores = self.evaluation_book.of_model(name)
        return [replace(v, evaluations=tuple(scores.get(v.version, ()))) for v in versions]

    def list(self) -> list[ModelSummary]:
        """Every model with its newest version, from one listing (no manifest is read)."""
        return self.catalog.list()

    def open(self, ref: str | Ref, path: str) -> BinaryIO:
        """Open one file of a version for reading, without copying the rest.

        Reading to the end verifies the file's hash and raises IntegrityError on damage.
        """
        manifest = self.show(ref)
        entry = manifest.file(validate_relpath(path))
        if entry is None:
            raise ModelNotFoundError(f"{manifest.ref} has no file {path!r}")
        self.blobs.check_algorithm(entry.path, entry.algorithm)
        return self.blobs.open_verified(entry.digest, entry.size)

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
            self.blobs,
            manifest.files,
            os.path.expanduser(target),
            workers=self._workers,
            tracker=tracker,
        )

    def materialize(self, staged: StagedFiles, dest: str | os.PathLike) -> str:
        """Copy staged files (not yet a version) into ``dest``, verifying their hashes."""
        tracker = ProgressTracker("load", staged.size, len(staged.files), None)
        return materialize(
            self.blobs, staged.files, os.fspath(dest), workers=self._workers, tracker=tracker
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
        if not history and not self.catalog.live_numbers(name):
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
        deleted = delete_version(self.catalog, self.leases, parse_ref(ref))
        # After the tombstone: an evaluation added meanwhile sees it and removes itself.
        self.evaluation_book.remove_all(deleted.name, deleted.version)
        return deleted

    def gc(self, dry_run: bool = False) -> GcReport:
        """Remove blobs no manifest references (never those a running save needs)."""
        with self.locks.exclusive("gc"):
            report = collect_garbage(
                self.backend, self.blobs, self._workers, dry_run, self.catalog.summaries
            )
            # Records a crash left behind a deleted version: nothing else would ever read them.
            orphans = self.evaluation_book.orphans()
            report.removed_evaluations = len(orphans)
            if not dry_run:
                for key in orphans:
                    self.backend.remove(key)
            return report

    def fsck(self) -> FsckReport:
        """Re-hash every referenced blob; report damaged or missing ones and whom they hurt."""
        return check(self.backend, self.blobs, self._workers, self.catalog.summaries)
