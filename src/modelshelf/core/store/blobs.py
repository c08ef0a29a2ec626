"""Content-addressed blobs: hash and copy in one pass, verify on every read."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from typing import Any, BinaryIO

from modelshelf.core.errors import IntegrityError, ModelNotFoundError
from modelshelf.core.store.backend import Backend, Entry
from modelshelf.core.store.fastcopy import copy_hashing, thread_buffer
from modelshelf.core.store.layout import BLOBS, blob_key, digest_from_blob_key

CHUNK = 4 * 2**20


class BlobStore:
    """The ``blobs/sha256`` area of a store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def new_hasher(self) -> Any:
        """A fresh hasher of the store's digest, for bytes hashed as they arrive (uploads),
        whose hexdigest :meth:`adopt` then takes."""
        return hashlib.sha256()

    def has(self, digest: str) -> bool:
        return self.backend.exists(blob_key(digest))

    def ingest(self, reader: BinaryIO, on_bytes=None) -> tuple[str, int, bool]:
        """Stream ``reader`` into the store while hashing it, in one pass.

        Returns ``(sha256, size, wrote)``; ``wrote`` is False when an identical blob was
        already stored (the temporary copy is then dropped).
        """
        sink = self.backend.temp_sink()
        digest = hashlib.sha256()
        size = 0
        view = thread_buffer(CHUNK)
        buffer = view
        try:
            readinto = getattr(reader, "readinto", None)
            while True:
                if readinto is not None:
                    n = readinto(buffer)
                    chunk = view[:n] if n else b""
                else:
                    chunk = reader.read(CHUNK)
                    n = len(chunk)
                if not n:
                    break
                digest.update(chunk)
                sink.write(chunk)
                size += n
                if on_bytes is not None:
                    on_bytes(n)
        except BaseException:
            sink.abort()
            raise
        hexdigest = digest.hexdigest()
        return hexdigest, size, sink.commit(blob_key(hexdigest))

    def ingest_path(self, path: str, on_bytes=None) -> tuple[str, int, bool]:
        """Like :meth:`ingest` for a local file, with a kernel-side copy into local stores."""
        sink = self.backend.temp_sink()
        fd = getattr(sink, "fd", None)
        if fd is None:
            sink.abort()
            with open(path, "rb", buffering=0) as fh:
                return self.ingest(fh, on_bytes)
        try:
            src = os.open(path, os.O_RDONLY)
            try:
                digest, size = copy_hashing(src, fd, on_bytes)
            finally:
                os.close(src)
        except BaseException:
            sink.abort()
            raise
        return digest, size, sink.commit(blob_key(digest))

    def adopt(self, path: str, digest: str) -> bool:
        """Make the local file ``path`` the blob ``digest`` without copying it (a hard link
        into a local store); True once the blob is stored, False when it cannot be linked
        (a remote store, another filesystem): :meth:`ingest_path` it then.

        The caller vouches for ``digest`` (a :meth:`new_hasher` one): it hashed the bytes as
        it wrote them (a browser upload's chunks), and nothing writes to ``path`` any more;
        the file becomes read-only.
        """
        link = getattr(self.backend, "link_into_place", None)
        if link is None:
            return False
        os.chmod(path, 0o444)  # a blob is immutable on disk, as every sink makes it
        if getattr(self.backend, "fsync", False):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            link(path, blob_key(digest))  # False: the same bytes are already stored
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                return False
            raise
        return True

    def local_path(self, digest: str) -> str | None:
        """Where the blob lives on this machine's disk, for local stores."""
        return self.backend.local_path(blob_key(digest))

    def open_raw(self, digest: str) -> BinaryIO:
        try:
            return self.backend.open_read(blob_key(digest))
        except FileNotFoundError as exc:
            raise IntegrityError(f"blob {digest} is missing from the store; run fsck") from exc

    def open_verified(self, digest: str, size: int) -> BinaryIO:
        """A reader that raises :class:`IntegrityError` at EOF if the bytes are damaged."""
        return io.BufferedReader(_VerifyingReader(self.open_raw(digest), digest, size), CHUNK)

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False when damaged; raises ModelNotFoundError if absent."""
        try:
            fh = self.backend.open_read(blob_key(digest))
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"blob {digest} is missing") from exc
        hasher = hashlib.sha256()
        with fh:
            while chunk := fh.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest() == digest

    def list(self) -> dict[str, Entry]:
        """Every stored blob by digest."""
        out = {}
        for entry in self.backend.list(BLOBS, recursive=True):
            digest = digest_from_blob_key(entry.key)
            if digest:
                out[digest] = entry
        return out

    def remove(self, digest: str) -> None:
        self.backend.remove(blob_key(digest))


class _VerifyingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, digest: str, size: int) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._hasher = hashlib.sha256()
        self._seen = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        if n:
            buffer[:n] = data
            self._hasher.update(data)
            self._seen += n
            if self._seen > self._size:
                self._fail()
        elif not self._checked:
            self._checked = True
            if self._seen != self._size or self._hasher.hexdigest() != self._digest:
                self._fail()
        return n

    def _fail(self) -> None:
        raise IntegrityError(
            f"blob {self._digest} is damaged (its bytes no longer match their sha256); "
            "it will not be served. Run `modelshelf fsck` to see which versions it hurts."
        )

    def close(self) -> None:
        self._raw.close()
        super().close()
