"""Turn a :class:`SourceTree` into stored blobs and manifest entries, in parallel."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from modelshelf.core.progress import ProgressTracker
from modelshelf.core.store.blobs import CHUNK, BlobStore
from modelshelf.core.store.digests import SHA256, new_hasher
from modelshelf.core.store.manifest import FileEntry
from modelshelf.core.store.parallel import largest_first
from modelshelf.core.store.statcache import StatCache, now_ns

if TYPE_CHECKING:  # the sources package is imported by the saves that open a source
    from modelshelf.core.sources.tree import SourceFile

_CacheRow = tuple[str, os.stat_result, str, int]


def _open(src: SourceFile) -> BinaryIO:
    # Unbuffered for local files: BlobStore.ingest reads with readinto into its own buffer.
    if src.local_path is not None:
        return open(src.local_path, "rb", buffering=0)
    return src.open()


def ingest_files(
    blobs: BlobStore,
    files: list[SourceFile],
    *,
    workers: int,
    cache: StatCache | None,
    tracker: ProgressTracker,
) -> list[FileEntry]:
    """Store every file's content as a blob; return manifest entries in ``files`` order.

    A local file whose stat matches the cache and whose blob is already stored is neither
    read nor copied. Any other file is hashed and copied in one pass.
    """

    def store(src: SourceFile) -> tuple[str, int]:
        if src.local_path is not None:
            digest, size, _ = blobs.ingest_path(src.local_path, tracker.advance)
        else:
            with src.open() as fh:
                digest, size, _ = blobs.ingest(fh, on_bytes=tracker.advance)
        tracker.advance(files=1)
        return digest, size

    def reuse(digest: str, st: os.stat_result) -> bool:
        if not blobs.has(digest):
            return False
        tracker.advance(st.st_size, 1)
        return True

    return _each_file(files, workers, cache, blobs.algorithm, "ingest", store, reuse)


def hash_files(
    files: list[SourceFile], *, workers: int, cache: StatCache | None, algorithm: str
) -> list[FileEntry]:
    """Hash files without storing them (for dataset fingerprints), with the store's digest
    (the stat cache remembers one digest per file)."""

    def digest_of(src: SourceFile) -> tuple[str, int]:
        hasher = new_hasher(algorithm, src.size)
        size = 0
        with _open(src) as fh:
            while chunk := fh.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        return hasher.hexdigest(), size

    return _each_file(files, workers, cache, algorithm, "hash", digest_of, lambda d, st: True)


def _each_file(
    files: list[SourceFile],
    workers: int,
    cache: StatCache | None,
    algorithm: str,
    name: str,
    compute: Callable[[SourceFile], tuple[str, int]],
    reuse: Callable[[str, os.stat_result], bool],
) -> list[FileEntry]:
    """Each file's entry: the cached digest of a local file whose stat matches (when
    ``reuse(digest, stat)`` agrees), else ``compute(file)`` -> ``(digest, size)``, which the
    cache then remembers."""
    preloaded = (
        cache.preload([f.local_path for f in files if f.local_path is not None]) if cache else {}
    )

    def one(src: SourceFile) -> tuple[FileEntry, _CacheRow | None]:
        st = os.stat(src.local_path) if src.local_path is not None else None
        if st is not None and cache is not None:
            known = cache.lookup(src.local_path, st, preloaded)
            if known is not None and reuse(known, st):
                return FileEntry(src.relpath, st.st_size, known, src.mode, algorithm), None
        hashed_at = now_ns()  # before reading: a change while hashing is caught next time
        digest, size = compute(src)
        row = (src.local_path, st, digest, hashed_at) if st is not None else None
        return FileEntry(src.relpath, size, digest, src.mode, algorithm), row

    results = largest_first(one, files, workers, name)
    if cache is not None:
        cache.record([row for _, row in results if row is not None])
    return [entry for entry, _ in results]


def tree_digest(entries: list[FileEntry]) -> str:
    """One sha256 for a whole folder: over the sorted (digest, size, path) of its files."""
    hasher = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        hasher.update(f"{entry.digest} {entry.size} {entry.path}\n".encode())
    return hasher.hexdigest()


def dataset_record(ref: str, entries: list[FileEntry], algorithm: str) -> dict[str, object]:
    """A dataset's fingerprint: its ref, :func:`tree_digest`, size and file count."""
    record: dict[str, object] = {
        "ref": ref,
        "sha256": tree_digest(entries),
        "size": sum(e.size for e in entries),
        "file_count": len(entries),
    }
    if algorithm != SHA256:  # the files' own digests, under the sha256 of the list
        record["file_digest"] = algorithm
    return record
