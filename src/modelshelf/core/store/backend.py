"""Storage backends: the few operations the store needs, over a local folder or any fsspec URL.

Every key is a relative POSIX path under the store root (``models/x/1.json``). The one
operation fsspec cannot give generically is *create if absent*: its ``mode="create"`` is a
check-then-write race on most filesystems (see shared/notes/pitfalls.md). So:

- the local backend uses ``os.link`` from a temporary file, which fails if the target exists;
- S3 uses ``PutObject`` with ``IfNoneMatch="*"`` (answered 412/409 when the key exists);
- the in-memory filesystem (tests, one process) serialises creates under a lock;
- other object stores use their library's exclusive-create mode (gcsfs and adlfs map
  ``mode="create"`` onto a generation-0 / If-None-Match precondition).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO

TMP_PREFIX = "tmp"
# Data smaller than this is sent as one put; larger blobs stream to a temporary object.
SMALL_OBJECT = 8 * 2**20


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
