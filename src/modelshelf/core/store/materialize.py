"""Copy a version's files out of the store, verifying every hash on the way.

Files are written next to their destination under a temporary name and renamed into place
only once every file has been copied and verified, so a failed load leaves no half-written
file behind. Files are copied, never hard-linked: changing the copy never touches the store.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence

from modelshelf.core.errors import IntegrityError, InvalidNameError
from modelshelf.core.names import validate_relpath
from modelshelf.core.progress import ProgressTracker
from modelshelf.core.store.blobs import CHUNK, BlobStore, damaged
from modelshelf.core.store.fastcopy import copy_hashing
from modelshelf.core.store.manifest import FileEntry
from modelshelf.core.store.parallel import largest_first


def _target(dest: str, real_dest: str, entry: FileEntry, checked: set[str]) -> str:
    relpath = validate_relpath(entry.path)
    final = os.path.join(dest, *relpath.split("/"))
    parent = os.path.dirname(final)
    if parent in checked:  # a model's files share few folders: check each folder once
        return final
    os.makedirs(parent, exist_ok=True)
    # A symlinked sub-folder in an existing destination must not redirect writes elsewhere.
    real_parent = os.path.realpath(parent)
    if os.path.commonpath([real_parent, real_dest]) != real_dest:
        raise InvalidNameError(f"refusing to write {relpath!r}: {parent} leads outside {dest}")
    checked.add(parent)
    return final


def _copy_local_blob(blob: str, part: str, entry: FileEntry, tracker: ProgressTracker) -> None:
    """Kernel-side copy out of a local store, verified by hashing the copy itself."""
    try:
        src = os.open(blob, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise IntegrityError(f"blob {entry.digest} is missing from the store; run fsck") from exc
    try:
        dst = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            digest, size = copy_hashing(src, dst, entry.algorithm, tracker.advance)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if digest != entry.digest or size != entry.size:
        raise damaged(entry.digest, entry.algorithm, entry.path)


def materialize(
    blobs: BlobStore,
    files: Sequence[FileEntry],
    dest: str,
    *,
    workers: int,
    tracker: ProgressTracker,
) -> str:
    """Copy ``files`` into ``dest`` (created if needed); return the absolute ``dest``."""
    dest = os.path.abspath(dest)
    os.makedirs(dest, exist_ok=True)
    real_dest = os.path.realpath(dest)
    checked: set[str] = set()
    staged: list[tuple[str, str]] = []

    def one(entry: FileEntry) -> tuple[str, str]:
        final = _target(dest, real_dest, entry, checked)
        part = f"{final}.{uuid.uuid4().hex[:8]}.modelshelf-part"
        staged.append((part, final))
        blobs.check_algorithm(entry.path, entry.algorithm)
        local = blobs.local_path(entry.digest)
        if local is not None:
            _copy_local_blob(local, part, entry, tracker)
        else:
            with blobs.open_verified(entry.digest, entry.size) as src, open(part, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    tracker.advance(len(chunk))
        # The copy belongs to the user: keep the recorded bits but always owner-writable.
        os.chmod(part, (entry.mode & 0o777) | 0o600)
        tracker.advance(files=1)
        return part, final

    try:
        done = largest_first(one, files, workers, "load")
    except BaseException:
        for part, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
        raise
    for part, final in done:
        os.replace(part, final)
    return dest
