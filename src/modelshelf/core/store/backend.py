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

import contextlib
import functools
import io
import os
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import fsspec
from fsspec.core import url_to_fs

from modelshelf.core.errors import ModelshelfError, SourceError, StorageError

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


class _LocalSink(TempSink):
    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        tmp_dir = os.path.join(backend.root, TMP_PREFIX)
        os.makedirs(tmp_dir, exist_ok=True)
        self.path = os.path.join(tmp_dir, uuid.uuid4().hex)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def commit(self, key: str) -> bool:
        os.close(self._fd)
        self._fd = -1
        # Blobs and manifests are read-only on disk: immutability is enforced by the OS too.
        os.chmod(self.path, 0o444)
        try:
            return self._backend.link_into_place(self.path, key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class LocalBackend(Backend):
    """A store in a local (or mounted, shared) folder, using plain system calls for speed."""

    is_local = True

    def __init__(self, root: str, fsync: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root
        self.fsync = fsync
        os.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/")) if key else self.root

    def local_path(self, key: str) -> str | None:
        return self._path(key)

    def link_into_place(self, tmp_path: str, key: str) -> bool:
        final = self._path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
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
            if self.fsync:
                os.fsync(sink._fd)
        except BaseException:
            sink.abort()
            raise
        return sink.commit(key)

    def write(self, key: str, data: bytes) -> None:
        final = self._path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = f"{final}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, final)

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
                        st = item.stat(follow_symlinks=False)
                        out.append(Entry(key, st.st_size, st.st_mtime))
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self._path(prefix)) as scan:
                return [item.name for item in scan if item.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def temp_sink(self) -> TempSink:
        return _LocalSink(self)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_MEMORY_CREATE_LOCK = threading.Lock()
# Errors that are answers, not failures: callers act on them.
_ANSWERS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def _storage_errors(method):
    """Turn a cloud library's own exceptions (no credentials, endpoint down, access denied)
    into :class:`StorageError`, so users see one clear line instead of botocore's traceback."""

    # On the write path "not found" means the bucket or container itself is missing.
    writes = method.__name__ in ("create", "write", "commit")

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except FileNotFoundError as exc:
            if not writes:
                raise
            url = getattr(self, "url", None) or self._backend.url
            raise StorageError(
                f"cannot write to the store {url}: {exc}; create the bucket or folder first"
            ) from exc
        except (*_ANSWERS, ModelshelfError):
            raise
        except Exception as exc:
            url = getattr(self, "url", None) or self._backend.url
            raise StorageError(
                f"the store {url} failed: {type(exc).__name__}: {exc}; check the URL, your "
                "credentials and storage_options (e.g. endpoint_url)"
            ) from exc

    return wrapper


class _BufferSink(TempSink):
    """Buffers small data in memory and spills to a temporary object when it grows."""

    def __init__(self, backend: FsspecBackend) -> None:
        self._backend = backend
        self._buffer = io.BytesIO()
        self._spill: BinaryIO | None = None
        self._spill_key = ""

    @_storage_errors
    def write(self, data: bytes | memoryview) -> None:
        if self._spill is None and self._buffer.tell() + len(data) <= SMALL_OBJECT:
            self._buffer.write(data)
            return
        if self._spill is None:
            self._spill_key = f"{TMP_PREFIX}/{uuid.uuid4().hex}"
            self._spill = self._backend.fs.open(self._backend.full(self._spill_key), "wb")
            self._spill.write(self._buffer.getvalue())
            self._buffer = io.BytesIO()
        self._spill.write(data)

    @_storage_errors
    def commit(self, key: str) -> bool:
        backend = self._backend
        if self._spill is None:
            if backend.exists(key):
                return False
            # Content-addressed: a concurrent writer of the same key writes the same bytes.
            backend.write(key, self._buffer.getvalue())
            return True
        self._spill.close()
        try:
            if backend.exists(key):
                return False
            backend.fs.mv(backend.full(self._spill_key), backend.full(key))
            return True
        finally:
            backend.remove(self._spill_key)

    @_storage_errors
    def abort(self) -> None:
        if self._spill is not None:
            with contextlib.suppress(Exception):
                self._spill.close()
            self._backend.remove(self._spill_key)


class FsspecBackend(Backend):
    """A store on any fsspec filesystem (s3://, gs://, az://, memory://, ...)."""

    def __init__(self, url: str, storage_options: dict | None = None) -> None:
        try:
            fs, path = url_to_fs(url, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise SourceError(f"cannot open store {url!r}: {exc}") from exc
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = path.rstrip("/")
        self.url = url.rstrip("/")
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]

    def full(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    @_storage_errors
    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.full(key))

    @_storage_errors
    def create(self, key: str, data: bytes) -> bool:
        path = self.full(key)
        if self.protocol == "memory":
            with _MEMORY_CREATE_LOCK:
                if self.fs.exists(path):
                    return False
                self.fs.pipe_file(path, data)
                return True
        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:
            if _is_precondition_failure(exc):
                return False
            raise
        self.fs.invalidate_cache(path)
        return True

    @_storage_errors
    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.full(key), data)

    @_storage_errors
    def exists(self, key: str) -> bool:
        return self.fs.exists(self.full(key))

    @_storage_errors
    def list(self, prefix: str, recursive: bool = False) -> list[Entry]:
        base = self.full(prefix)
        self.fs.invalidate_cache(base)
        try:
            if recursive:
                infos = self.fs.find(base, detail=True).values()
            else:
                infos = [i for i in self.fs.ls(base, detail=True) if i["type"] == "file"]
        except FileNotFoundError:
            return []
        cut = len(self.root) + 1
        out = []
        for info in infos:
            name = info["name"].rstrip("/")
            if info.get("type") == "directory" or not name.startswith(self.root + "/"):
                continue
            out.append(Entry(name[cut:], int(info.get("size") or 0), _mtime(info)))
        return out

    @_storage_errors
    def list_dirs(self, prefix: str) -> list[str]:
        base = self.full(prefix)
        self.fs.invalidate_cache(base)
        try:
            infos = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return []
        return [i["name"].rstrip("/").rsplit("/", 1)[-1] for i in infos if i["type"] == "directory"]

    @_storage_errors
    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.full(key))

    @_storage_errors
    def open_read(self, key: str) -> BinaryIO:
        return self.fs.open(self.full(key), "rb")

    @_storage_errors
    def temp_sink(self) -> TempSink:
        return _BufferSink(self)


def _is_precondition_failure(exc: BaseException) -> bool:
    """True when an object store refused a conditional create because the key exists."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return True
        text = str(seen)
        if "PreconditionFailed" in text or "ConditionalRequestConflict" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _mtime(info: dict) -> float | None:
    value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def open_backend(url: str, storage_options: dict | None = None, fsync: bool = False) -> Backend:
    """Return the backend for a store root: local paths get :class:`LocalBackend`."""
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" not in url:
        return LocalBackend(os.path.expanduser(os.path.expandvars(url)), fsync=fsync)
    return FsspecBackend(url, storage_options)


def iter_chunks(fh: BinaryIO, size: int = 2**20) -> Iterator[bytes]:
    """Yield a file's content in chunks."""
    while chunk := fh.read(size):
        yield chunk
