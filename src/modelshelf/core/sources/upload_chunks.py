"""One chunk of a browser upload, written to its staging file as its bytes arrive.

A server hands each piece of a request body to :meth:`ChunkWriter.write` as it comes off the
socket (as a plain streamed ``PUT`` would), instead of holding the whole chunk in memory
first. The chunk counts only once complete (:meth:`ChunkWriter.finish`); one cut short (the
page closed mid-request) is rolled back by :meth:`ChunkWriter.abort`: the file is truncated
to what had been received, and the client resends from there.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import CancelledError
from dataclasses import replace
from typing import Any

from modelshelf.core.errors import ModelNotFoundError, SizeLimitError, UploadStateError
from modelshelf.core.sources.upload_records import (
    COMMITTING,
    GONE,
    Upload,
    UploadFile,
)
from modelshelf.core.store.fastcopy import thread_buffer

#: The most bytes one chunk may carry, whatever chunk size the server proposes.
MAX_CHUNK = 64 * 2**20
# Received bytes handed to the hashing thread at once, and how many such batches may wait
# for it before the writer waits (so that the hash never lags far behind).
_HASH_BATCH = 4 * 2**20
_HASH_BACKLOG = 4


def check_receiving(upload: Upload) -> None:
    """Raise unless ``upload`` still takes chunks (it is not committed, cancelled, expired)."""
    if upload.state == GONE:
        raise ModelNotFoundError(f"upload {upload.id} was cancelled or expired")
    if upload.state == COMMITTING:
        raise UploadStateError(
            f"upload {upload.id} is being committed: it takes no more chunks or commits"
        )


def _hash_range(hasher: Any, path: str, offset: int, length: int) -> None:
    """Feed ``length`` bytes of ``path`` from ``offset`` on to ``hasher``, read back from the
    page cache: large reads and updates, both outside the GIL, so the hashing thread hardly
    competes with the server's event loop (and no received bytes wait in memory)."""
    buffer = thread_buffer(_HASH_BATCH)
    fd = os.open(path, os.O_RDONLY)
    try:
        while length > 0:
            count = os.preadv(fd, [buffer[: min(length, len(buffer))]], offset)
            if count == 0:
                raise EOFError(f"{path} is shorter than the bytes written to it")
            hasher.update(buffer[:count])
            offset, length = offset + count, length - count
    finally:
        os.close(fd)


class ChunkWriter:
    """Receives ``length`` bytes of file ``index`` of ``upload`` from ``offset`` on."""

    def __init__(self, upload: Upload, index: int, offset: int, length: int) -> None:
        with upload.lock:
            check_receiving(upload)
            if not 0 <= index < len(upload.files):
                raise ModelNotFoundError(
                    f"upload {upload.id} has no file number {index}: its files are numbered "
                    f"0 to {len(upload.files) - 1}"
                )
            item = upload.files[index]
            if length > MAX_CHUNK:
                raise SizeLimitError(
                    f"a chunk may carry {MAX_CHUNK:,} bytes at most, not {length:,}: send "
                    "chunks of the size the upload's chunk_size says"
                )
            if offset != item.received:
                raise UploadStateError(
                    f"{item.path}: the next chunk starts at offset {item.received}, not "
                    f"{offset}; send the bytes from there"
                )
            if offset + length > item.size:
                raise SizeLimitError(
                    f"{item.path} was announced as {item.size:,} bytes, and this chunk would "
                    f"make it {offset + length:,}: start a new upload with the right size"
                )
            if upload.writing:
                raise UploadStateError(
                    f"a chunk of upload {upload.id} is being received already: send the next "
                    "one when it is answered"
                )
            upload.writing = True
        self.upload, self.item, self.offset, self.length = upload, item, offset, length
        self.written = 0
        self._path = upload.staged_path(index)
        self._batched = 0  # written bytes not handed to the hashing thread yet
        self._done = False
        self._fd = os.open(self._path, os.O_WRONLY)

    def write(self, data: bytes) -> None:
        """Keep the next piece of the chunk (more than announced is refused at finish)."""
        if self._done or self.upload.state == GONE or self.written + len(data) > self.length:
            self.written += len(data)  # finish() says what went wrong
            return
        view = memoryview(data)
        position = self.offset + self.written
        while view:
            count = os.pwrite(self._fd, view, position)
            view, position = view[count:], position + count
        self.written += len(data)
        self.upload.touched_at = time.time()
        self._batched += len(data)
        if self._batched >= _HASH_BATCH:
            self._hand_over()

    def finish(self) -> UploadFile:
        """Count the chunk, once all its announced bytes arrived; the file's progress."""
        upload, item = self.upload, self.item
        with upload.lock:
            try:
                check_receiving(upload)
                if self.written != self.length:
                    raise UploadStateError(
                        f"{item.path}: the chunk carried {self.written:,} bytes, not the "
                        f"{self.length:,} announced; send it again from offset {item.received}"
                    )
                self._hand_over()
                item.received += self.length
                upload.touched_at = time.time()
                return replace(item)
            except BaseException:
                self._roll_back()
                raise
            finally:
                self._close()

    def abort(self) -> None:
        """Forget an unfinished chunk (its request was cut short)."""
        with self.upload.lock:
            if not self._done:
                self._roll_back()
                self._close()

    def _hand_over(self) -> None:
        """Have the upload's hashing thread hash the bytes written since the last hand-over,
        in order.

        Waits (on the server's event loop, when called from :meth:`write`) only while the
        hasher is more than a few batches behind the bytes received.
        """
        if not self._batched:
            return
        upload = self.upload
        start = self.offset + self.written - self._batched
        length, self._batched = self._batched, 0
        try:
            upload.pending.append(
                upload.hashing.submit(_hash_range, self.item.hasher, self._path, start, length)
            )
            while len(upload.pending) > _HASH_BACKLOG:
                upload.pending.popleft().result()
        except (RuntimeError, IndexError, CancelledError, OSError, EOFError):
            if upload.state != GONE:
                raise
            # Cancelled or expired meanwhile (its hasher stopped): the bytes are not kept.

    def _roll_back(self) -> None:
        # Bytes past what was received are not kept; the hash already saw some of them, so
        # the commit hashes this file again from disk.
        if self.written and self.upload.state != GONE:
            handed_any = self.written > self._batched
            os.ftruncate(self._fd, self.item.received)
            self.item.hash_valid = self.item.hash_valid and not handed_any
        self._batched = 0

    def _close(self) -> None:
        if not self._done:
            self._done = True
            os.close(self._fd)
            self.upload.writing = False
