"""A store in a local (or mounted) folder, using plain system calls for speed.

Create-if-absent is ``os.link`` from a temporary file, which fails if the target exists.
Rewrite and remove exclude each other with an exclusive ``flock`` on the file itself, so a
renewal can never put back a record that was removed while it ran (see :func:`_locked`).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from modelshelf.core.store.backend import TMP_PREFIX, Backend, Entry, TempSink, Update

# Unique temporary names without a uuid per file: pid, a counter, and a per-process tag.
_COUNTER = itertools.count()
_RUN = uuid.uuid4().hex[:8]


class _LocalSink(TempSink):
    """A temporary file in ``<root>/tmp``, linked into place under its final key.

    Created read-only (0o444): the open descriptor may still write, and the blob is
    immutable on disk the moment it exists, with no chmod afterwards.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        self.path = os.path.join(backend.tmp_dir, f"{os.getpid()}-{next(_COUNTER)}-{_RUN}")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def commit(self, key: str) -> bool:
        if self._backend.fsync:
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        try:
            return self._backend.link_into_place(self.path, key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class LocalBackend(Backend):
    """A store in a local (or mounted, shared) folder, using plain system calls for speed."""

    is_local = True

    def __init__(self, root: str, fsync: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root
        self.fsync = fsync
        self.tmp_dir = os.path.join(self.root, TMP_PREFIX)
        os.makedirs(self.tmp_dir, exist_ok=True)

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/")) if key else self.root

    def local_path(self, key: str) -> str | None:
        return self._path(key)

    def link_into_place(self, tmp_path: str, key: str) -> bool:
        """Give ``tmp_path`` the name ``key`` unless it exists; True if it did not."""
        final = self._path(key)
        try:
            os.link(tmp_path, final)
        except FileExistsError:
            return False
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)  # first blob of its folder
            try:
                os.link(tmp_path, final)
            except FileExistsError:
                return False
        if self.fsync:
            _fsync_dir(os.path.dirname(final))
        return True

    def read_bytes(self, key: str) -> bytes:
        with open(self._path(key), "rb") as fh:
            return fh.read()

    def create(self, key: str, data: bytes) -> bool:
        sink = _LocalSink(self)
        try:
            sink.write(data)
        except BaseException:
            sink.abort()
            raise
        return sink.commit(key)

    def write(self, key: str, data: bytes) -> None:
        final = self._path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        _replace(final, data)

    def rewrite(self, key: str, update: Update) -> bool:
        path = self._path(key)
        with _locked(path) as fd:
            if fd is None:
                return False
            with open(fd, "rb", closefd=False) as fh:
                new = update(fh.read())
            if new is None:
                return False
            _replace(path, new)
            return True

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def list(self, prefix: str, recursive: bool = False) -> list[Entry]:
        base = self._path(prefix)
        out: list[Entry] = []
        stack = [(base, prefix)]
        while stack:
            folder, rel = stack.pop()
            try:
                scan = os.scandir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with scan:
                for item in scan:
                    key = f"{rel}/{item.name}" if rel else item.name
                    if item.is_dir(follow_symlinks=False):
                        if recursive:
                            stack.append((item.path, key))
                    else:
                        try:
                            st = item.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # removed since the scan (another save's lock record)
                        out.append(Entry(key, st.st_size, st.st_mtime))
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self._path(prefix)) as scan:
                return [item.name for item in scan if item.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, key: str) -> None:
        path = self._path(key)
        with _locked(path) as fd:
            if fd is not None:
                os.unlink(path)

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def temp_sink(self) -> TempSink:
        return _LocalSink(self)


def _replace(path: str, data: bytes) -> None:
    """Give ``path`` the contents ``data`` at once: readers see the old file or the new one."""
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int | None]:
    """The file at ``path``, opened and exclusively flock'ed; None when there is none.

    Whoever changes what the name points at (rewrite replaces the file, remove unlinks it)
    does so holding this lock on the very file the name still points at once locked: a
    rewrite that locked a file a remove unlinked meanwhile finds the name gone and writes
    nothing; a remove that locked a file a rewrite replaced meanwhile locks the new one.
    The lock is the kernel's, so a crashed holder never leaves it behind (on NFS it needs
    the lock service).
    """
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                named = os.stat(path)
            except FileNotFoundError:
                yield None
                return
            opened = os.fstat(fd)
            if (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino):
                yield fd
                return
        finally:
            os.close(fd)  # also releases the lock


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
