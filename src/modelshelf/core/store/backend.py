"""Storage backends: the few operations the store needs, over a local folder or any fsspec URL.

Every key is a relative POSIX path under the store root (``models/x/1.json``). The one
operation fsspec cannot give generically is *create if absent*: its generic ``mode="create"``
checks for the key, then writes (a race), and ``LocalFileSystem.put_file`` ignores the mode
and overwrites. So:

- the local backend uses ``os.link`` from a temporary file, which fails if the target exists;
- S3 uses ``PutObject`` with ``IfNoneMatch="*"`` (answered 412/409 when the key exists);
- the in-memory filesystem (tests, one process) serialises creates under a lock;
- other object stores use their library's exclusive-create mode (gcsfs and adlfs map
  ``mode="create"`` onto a generation-0 / If-None-Match precondition).

Lease and lock records are renewed with :meth:`Backend.rewrite`, which must never bring back
a record that a :meth:`Backend.remove` deleted, even when the two race:

- locally, both take an exclusive ``flock`` on the file the key names (and re-check the name
  still points at it once locked), so one waits for the other;
- S3 rewrites with ``PutObject`` ``IfMatch=<ETag read>``: a key deleted or changed since the
  read is answered 404/412 and nothing is written;
- the in-memory filesystem serialises creates, rewrites and removes under one lock;
- other fsspec filesystems fall back to read, then write: a remove landing between the two
  is undone (a window of one round trip), so holders stop renewing before they release.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

TMP_PREFIX = "tmp"
# Data smaller than this is sent as one put; larger blobs stream to a temporary object.
SMALL_OBJECT = 8 * 2**20

#: ``update(current bytes)`` for :meth:`Backend.rewrite`: the new bytes, or None to keep them.
Update = Callable[[bytes], bytes | None]


@dataclass(frozen=True)
class Entry:
    """One listed object: its key relative to the root, size and modification time."""

    key: str
    size: int
    mtime: float | None


class TempSink(ABC):
    """A place to stream bytes to before they get their final, content-addressed key."""

    @abstractmethod
    def write(self, data: bytes | memoryview) -> None: ...

    @abstractmethod
    def commit(self, key: str) -> bool:
        """Move the bytes to ``key``; return False when ``key`` already existed."""

    @abstractmethod
    def abort(self) -> None: ...


class Backend(ABC):
    """The storage operations the store is built on."""

    url: str
    is_local: bool = False

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; raise FileNotFoundError when absent."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> bool:
        """Atomically create ``key`` with ``data`` unless it exists; True if created."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Create or overwrite ``key`` (only for records with a single writer)."""

    def rewrite(self, key: str, update: Update) -> bool:
        """Overwrite an existing ``key`` with ``update(its bytes)``; never create it.

        False, with nothing written, when ``key`` is absent, ``update`` returns None, or the
        key was removed or changed before the write. This default reads, then writes; the
        backends override it with a conditional write (see the module docstring).
        """
        try:
            data = self.read_bytes(key)
        except FileNotFoundError:
            return False
        new = update(data)
        if new is None:
            return False
        self.write(key, new)
        return True

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str, recursive: bool = False) -> list[Entry]:
        """Objects under the folder ``prefix`` (files only); empty when it is absent."""

    @abstractmethod
    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the sub-folders directly under ``prefix``."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def temp_sink(self) -> TempSink: ...

    def local_path(self, key: str) -> str | None:
        """The key's path on the local disk, when the backend has one."""
        return None
