"""One chunk of a browser upload, written to its staging file as its bytes arrive.

A server hands each piece of a request body to :meth:`ChunkWriter.write` as it comes off the
socket (as a plain streamed ``PUT`` would), instead of holding the whole chunk in memory
first. The chunk counts only once complete (:meth:`ChunkWriter.finish`); one cut short (the
page closed mid-request) is rolled back by :meth:`ChunkWriter.abort`: the file is truncated
to what had been received, and the client resends from there.

Each piece is hashed as it is written, on the same thread: the bytes are still in the CPU's
cache, and a piece (64 KiB from tornado) takes BLAKE3 about 10 µs. Handing batches to a
hashing thread that read them back from the page cache cost a second copy of every byte and
a thread hop per batch: the server spent 1.6-1.9x the CPU of a plain ``PUT`` of the same
bytes that way, 1.1-1.3x this way (bench/upload.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from modelshelf.core.errors import ModelNotFoundError, SizeLimitError, UploadStateError
from modelshelf.core.sources.upload_records import (
    COMMITTING,
    GONE,
    Upload,
    UploadFile,
)

#: The most bytes one chunk may carry, whatever chunk size the server proposes.
MAX_CHUNK = 64 * 2**20


def check_receiving(upload: Upload) -> None:
    """Raise unless ``upload`` still takes chunks (it is not committed, cancelled, expired)."""
    if upload.state == GONE:
        raise ModelNotFoundError(f"upload {upload.id} was cancelled or expired")
    if upload.state == COMMITTING:
        raise UploadStateError(
            f"upload {upload.id} is being committed: it takes no more chunks or commits"
        )


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
        # The file's hash goes on from a copy: a chunk cut short is forgotten with its copy,
        # and the file's hash stays that of the bytes received.
        self._hasher = item.hasher.copy()
        self._done = False
        self._fd = os.open(upload.staged_path(index), os.O_WRONLY)

    def write(self, data: bytes) -> None:
        """Keep the next piece of the chunk (more than announced is refused at finish)."""
        if self._done or self.upload.state == GONE or self.written + len(data) > self.length:
            self.written += len(data)  # finish() says what went wrong
            return
        view = memoryview(data)
        self._hasher.update(view)
        position = self.offset + self.written
        while view:
            count = os.pwrite(self._fd, view, position)
            view, position = view[count:], position + count
        self.written += len(data)
        self.upload.touched_at = time.time()

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
                item.hasher = self._hasher
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

    def _roll_back(self) -> None:
        # Bytes past what was received are not kept (nor is the hash that saw them).
        if self.written and self.upload.state != GONE:
            os.ftruncate(self._fd, self.item.received)

    def _close(self) -> None:
        if not self._done:
            self._done = True
            os.close(self._fd)
            self.upload.writing = False
