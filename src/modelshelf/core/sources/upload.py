"""Uploads from the user's own computer (the browser's), received in chunks, kept as a version.

A client first announces what it will send: the model's name and each file's path and size.
The whole is refused at once, before a byte is kept, when it is over the store's size limit
(``Shelf.max_model_size``), when a path is unsafe (the core's one path rule, also after
percent-decoding) or when the staging disk cannot hold it. The bytes then arrive in chunks at
the offsets the client names, into one staging folder per upload under the store's local
state folder. Only once every file holds exactly its announced size is the folder saved,
through the same ingest as any local folder (a lone archive is extracted safely, as every
archive is): the version appears atomically, and the staging folder goes. A cancel, a failed
commit, or an upload idle for longer than ``idle_timeout`` (its page was closed) removes the
staging folder and leaves no version behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from dataclasses import replace
from typing import Any

from traitlets import Float, Integer
from traitlets.config import Configurable

from modelshelf.core.errors import (
    IntegrityError,
    ModelNotFoundError,
    SizeLimitError,
    UploadStateError,
)
from modelshelf.core.names import validate_name
from modelshelf.core.progress import ProgressCallback
from modelshelf.core.sources.archives import archive_kind, remove_tree
from modelshelf.core.sources.tree import check_size
from modelshelf.core.sources.upload_chunks import ChunkWriter, check_receiving
from modelshelf.core.sources.upload_records import (
    COMMITTING,
    FILES,
    GONE,
    RECEIVING,
    Upload,
    UploadFile,
    describe,
    newest_mtime,
    plan_files,
)
from modelshelf.core.store.manifest import FileEntry, ModelVersion
from modelshelf.core.store.shelf import Shelf, StagedFiles

MiB = 2**20


class UploadManager(Configurable):
    """Browser uploads into one store: begin, write chunks, commit or cancel; idle ones expire.

    Parameters
    ----------
    shelf:
        The store the versions go to; staging folders live under its ``state_dir``.
    """

    idle_timeout = Float(
        900.0,
        help="Seconds without a chunk after which an upload is abandoned (its page was closed) "
        "and its staged bytes removed.",
    ).tag(config=True)
    # Each chunk costs a request and a round trip in which no byte moves; 16 MiB makes
    # that small next to the bytes, and a lost chunk cheap to send again.
    chunk_size = Integer(16 * MiB, help="Bytes per chunk the server asks clients to send.").tag(
        config=True
    )
    max_files = Integer(100_000, help="The most files one upload may announce.").tag(config=True)

    def __init__(self, shelf: Shelf, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shelf = shelf
        self.root = os.path.join(shelf.state_dir, "uploads")
        os.makedirs(self.root, exist_ok=True)
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self.expire()  # what a previous server process left behind

    # ---- the steps of an upload -------------------------------------------------------

    def begin(
        self,
        name: str,
        files: list[tuple[str, int]],
        *,
        extract: bool = True,
        parent: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        message: str | None = None,
    ) -> Upload:
        """Announce an upload of ``files`` (``(path, size)`` pairs) as the next version of
        ``name``; refused before anything is kept when it cannot succeed."""
        validate_name(name)
        if parent:
            self.shelf.resolve(parent)  # fail now, not after gigabytes arrived
        planned = plan_files(files, self.max_files)
        for item in planned:
            item.hasher = self.shelf.blobs.new_hasher()
        total = sum(f.size for f in planned)
        check_size(total, self.shelf.max_model_size, f"the upload of {name!r}")
        free = shutil.disk_usage(self.root).free
        if total > free:
            raise SizeLimitError(
                f"the upload of {name!r} holds {total:,} bytes but its staging folder "
                f"({self.root}) has {free:,} bytes free: free some space, or point "
                "MODELSHELF_STATE_DIR at a larger disk"
            )
        now = time.time()
        upload_id = secrets.token_hex(16)  # unguessable: it is all a chunk's request names
        upload = Upload(
            id=upload_id,
            name=name,
            files=planned,
            folder=os.path.join(self.root, upload_id),
            extract=extract,
            save_options=dict(
                parent=parent, params=params, metrics=metrics, tags=tags, message=message
            ),
            created_at=now,
            touched_at=now,
        )
        try:
            for index in range(len(planned)):
                path = upload.staged_path(index)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                # Every file exists from the start, so an empty one needs no chunk at all.
                with open(path, "xb"):
                    pass
        except BaseException:
            remove_tree(upload.folder)
            raise
        with self._lock:
            self._uploads[upload.id] = upload
        self._start_sweeper()
        return upload

    def open_chunk(self, upload_id: str, index: int, offset: int, length: int) -> ChunkWriter:
        """Start receiving ``length`` bytes of file ``index`` from ``offset`` on; the writer
        takes the bytes as they arrive (see :mod:`.upload_chunks`).

        Chunks of a file come in order, one at a time: ``offset`` must be the count of bytes
        received so far (a client that lost track asks :meth:`get`), as tus and S3 multipart
        do.
        """
        return ChunkWriter(self.get(upload_id), index, offset, length)

    def write(self, upload_id: str, index: int, offset: int, data: bytes) -> UploadFile:
        """Keep ``data`` as the bytes of file ``index`` from ``offset`` on (one whole chunk)."""
        writer = self.open_chunk(upload_id, index, offset, len(data))
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def commit(self, upload_id: str, progress: ProgressCallback | None = None) -> ModelVersion:
        """Save the complete upload as the next version of its model; the staging folder goes
        whatever the outcome (a failed commit is not retried: upload again)."""
        return self.save_sealed(self.seal(upload_id), progress)

    def seal(self, upload_id: str) -> Upload:
        """Check that every byte arrived and take no more (the quick half of :meth:`commit`,
        so that a server can refuse at once and save in the background)."""
        upload = self.get(upload_id)
        with upload.lock:
            check_receiving(upload)
            if upload.writing:
                raise UploadStateError(
                    f"a chunk of upload {upload_id} is still being received: commit once it "
                    "is answered"
                )
            missing = [f for f in upload.files if not f.complete]
            if missing:
                first = missing[0]
                raise UploadStateError(
                    f"{len(missing)} of {len(upload.files)} files are incomplete ({first.path}: "
                    f"{first.received:,} of {first.size:,} bytes): send the rest, then commit"
                )
            upload.state = COMMITTING
        return upload

    def save_sealed(self, upload: Upload, progress: ProgressCallback | None = None) -> ModelVersion:
        """Save a sealed upload as the next version of its model; its staging folder goes."""
        if upload.state != COMMITTING:
            raise UploadStateError(f"upload {upload.id} is not sealed: call seal() first")
        try:
            if upload.extract and len(upload.files) == 1 and archive_kind(upload.files[0].path):
                # Extracted safely, as every archive source is.
                return self._save_source(upload, upload.staged_path(0), progress)
            if not self.shelf.backend.is_local:
                # Copied to the remote store by the save's parallel transfers.
                return self._save_source(upload, os.path.join(upload.folder, FILES), progress)
            return self._save_adopted(upload)
        finally:
            self._discard(upload)

    def _save_source(
        self, upload: Upload, source: str, progress: ProgressCallback | None
    ) -> ModelVersion:
        """Save the staged folder or archive as any local source is saved."""
        shelf = self.shelf
        # One shared lock from stage to commit, so that gc cannot take the new blobs.
        with shelf.locks.shared(f"upload {upload.name}"):
            staged = shelf.stage(source, progress=progress)
            staged = replace(staged, source=describe(upload))
            return shelf.commit(upload.name, staged, check_blobs=False, **upload.save_options)

    def _save_adopted(self, upload: Upload) -> ModelVersion:
        """Link the staged files into a local store under the digests computed as they
        arrived: no byte is read or copied again."""
        shelf = self.shelf
        entries = []
        with shelf.locks.shared(f"upload {upload.name}"):
            for index, item in enumerate(upload.files):
                path = upload.staged_path(index)
                if os.path.getsize(path) != item.size:
                    raise IntegrityError(f"the staged {item.path} changed size: upload again")
                digest = item.hasher.hexdigest()
                if not shelf.blobs.adopt(path, digest):  # another filesystem: copy it
                    copied, size, _ = shelf.blobs.ingest_path(path)
                    if (copied, size) != (digest, item.size):
                        raise IntegrityError(f"the staged {item.path} changed: upload again")
                entries.append(
                    FileEntry(item.path, item.size, digest, algorithm=shelf.blobs.algorithm)
                )
            staged = StagedFiles(describe(upload), tuple(entries))
            return shelf.commit(upload.name, staged, check_blobs=False, **upload.save_options)

    def cancel(self, upload_id: str) -> Upload:
        """Stop an upload and remove what it staged; refused once its commit has begun."""
        upload = self.get(upload_id)
        with upload.lock:
            if upload.state == COMMITTING:
                raise UploadStateError(
                    f"upload {upload_id} is being committed and cannot be cancelled: it becomes "
                    f"the next version of {upload.name!r}; delete that version if unwanted"
                )
            check_receiving(upload)
            upload.state = GONE
        self._discard(upload)
        return upload

    def get(self, upload_id: str) -> Upload:
        """The upload ``upload_id`` (ModelNotFoundError once it is committed, cancelled or
        expired)."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise ModelNotFoundError(
                f"no upload {upload_id!r} on this server: it was committed, cancelled or left "
                f"idle for over {self.idle_timeout:g} s; start a new one"
            )
        return upload

    def list(self) -> list[Upload]:
        with self._lock:
            return list(self._uploads.values())

    # ---- expiry -------------------------------------------------------------------------

    def expire(self, now: float | None = None) -> list[str]:
        """Remove uploads idle for longer than ``idle_timeout``, and staging folders no live
        upload owns (left by a server that stopped) once they are that old. Returns the ids."""
        now = time.time() if now is None else now
        removed: list[str] = []
        for upload in self.list():
            if upload.state != RECEIVING or now - upload.touched_at <= self.idle_timeout:
                continue
            if not upload.lock.acquire(blocking=False):
                continue  # a chunk is being written right now: not idle
            try:
                if upload.state != RECEIVING:
                    continue
                upload.state = GONE
            finally:
                upload.lock.release()
            self._discard(upload)
            removed.append(upload.id)
        try:
            leftovers = os.listdir(self.root)
        except FileNotFoundError:
            return removed
        with self._lock:
            known = set(self._uploads)
        for entry in leftovers:
            path = os.path.join(self.root, entry)
            if entry not in known and now - newest_mtime(path) > self.idle_timeout:
                remove_tree(path)
                removed.append(entry)
        return removed

    def close(self) -> None:
        """Stop the expiry thread (staged uploads stay until they expire)."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)

    # ---- internals ------------------------------------------------------------------------

    def _discard(self, upload: Upload) -> None:
        with self._lock:
            self._uploads.pop(upload.id, None)
        upload.state = GONE
        remove_tree(upload.folder)

    def _start_sweeper(self) -> None:
        with self._lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._sweeper = threading.Thread(
                target=self._sweep, name="modelshelf-upload-expiry", daemon=True
            )
            self._sweeper.start()

    def _sweep(self) -> None:
        # Often enough that an upload outlives its timeout by a quarter of it at most.
        interval = max(0.2, min(self.idle_timeout / 4, 60.0))
        while not self._stop.wait(interval):
            with contextlib.suppress(OSError):  # a folder vanished under us: next round
                self.expire()
            with self._lock:
                if not self._uploads:
                    self._sweeper = None
                    return
