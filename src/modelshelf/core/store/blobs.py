"""Content-addressed blobs: hash and copy in one pass, verify on every read."""

from __future__ import annotations

import errno
import io
import os
from typing import BinaryIO

from modelshelf.core.errors import IntegrityError, ModelNotFoundError
from modelshelf.core.store.backend import Backend, Entry
from modelshelf.core.store.digests import Hasher, new_hasher
from modelshelf.core.store.fastcopy import copy_hashing, thread_buffer
from modelshelf.core.store.layout import blob_key, blobs_dir, digest_from_blob_key
from modelshelf.core.store.storeformat import FormatBook

CHUNK = 4 * 2**20


class BlobStore:
    """The ``blobs/<algorithm>`` area of a store: blobs keyed by the store's one digest."""

    def __init__(self, backend: Backend, formats: FormatBook) -> None:
        self.backend = backend
        self._formats = formats

    @property
    def algorithm(self) -> str:
        """The store's digest (``blake3``, or ``sha256`` in older stores)."""
        return self._formats.current.digest

    def key(self, digest: str) -> str:
        return blob_key(digest, self.algorithm)

    def new_hasher(self, size_hint: int = 0) -> Hasher:
        """A fresh hasher of the store's digest, for bytes hashed as they arrive (uploads),
        whose hexdigest :meth:`adopt` then takes.

        A new store's ``store.json`` is written first: the digest is then fixed, and the
        blob adopted later cannot make the store look like an older sha256 one."""
        return new_hasher(self._formats.record().digest, size_hint)

    def check_algorithm(self, path: str, algorithm: str) -> None:
        """Refuse a manifest entry whose digest is not the store's (its blob cannot be here)."""
        if algorithm != self.algorithm:
            raise IntegrityError(
                f"{path} is recorded with a {algorithm} digest but this store keys its "
                f"blobs by {self.algorithm}: the manifest does not belong to this store; run fsck"
            )

    def has(self, digest: str) -> bool:
        return self.backend.exists(self.key(digest))

    def ingest(self, reader: BinaryIO, on_bytes=None) -> tuple[str, int, bool]:
        """Stream ``reader`` into the store while hashing it, in one pass.

        Returns ``(digest, size, wrote)``; ``wrote`` is False when an identical blob was
        already stored (the temporary copy is then dropped).
        """
        sink = self.backend.temp_sink()
        digest = new_hasher(self.algorithm)
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
        return hexdigest, size, sink.commit(self.key(hexdigest))

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
                digest, size = copy_hashing(src, fd, self.algorithm, on_bytes)
            finally:
                os.close(src)
        except BaseException:
            sink.abort()
            raise
        return digest, size, sink.commit(self.key(digest))

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
            link(path, self.key(digest))  # False: the same bytes are already stored
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                return False
            raise
        return True

    def local_path(self, digest: str) -> str | None:
        """Where the blob lives on this machine's disk, for local stores."""
        return self.backend.local_path(self.key(digest))

    def open_raw(self, digest: str) -> BinaryIO:
        try:
            return self.backend.open_read(self.key(digest))
        except FileNotFoundError as exc:
            raise IntegrityError(f"blob {digest} is missing from the store; run fsck") from exc

    def open_verified(self, digest: str, size: int) -> BinaryIO:
        """A reader that raises :class:`IntegrityError` at EOF if the bytes are damaged."""
        return io.BufferedReader(
            _VerifyingReader(self.open_raw(digest), digest, size, self.algorithm), CHUNK
        )

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False when damaged; raises ModelNotFoundError if absent."""
        try:
            fh = self.backend.open_read(self.key(digest))
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"blob {digest} is missing") from exc
        hasher = new_hasher(self.algorithm)
        with fh:
            while chunk := fh.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest() == digest

    def list(self) -> dict[str, Entry]:
        """Every stored blob by digest."""
        out = {}
        for entry in self.backend.list(blobs_dir(self.algorithm), recursive=True):
            digest = digest_from_blob_key(entry.key, self.algorithm)
            if digest:
                out[digest] = entry
        return out

    def remove(self, digest: str) -> None:
        self.backend.remove(self.key(digest))


def damaged(digest: str, algorithm: str, path: str | None = None) -> IntegrityError:
    """The error for a blob whose bytes no longer match their digest."""
    which = f"blob {digest} ({path})" if path else f"blob {digest}"
    return IntegrityError(
        f"{which} is damaged (its bytes no longer match their {algorithm}); it will not be "
        "served. Run `modelshelf fsck` to see which versions it hurts."
    )


class _VerifyingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, digest: str, size: int, algorithm: str) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._algorithm = algorithm
        self._hasher = new_hasher(algorithm, size)
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
        raise damaged(self._digest, self._algorithm)

    def close(self) -> None:
        self._raw.close()
        super().close()
