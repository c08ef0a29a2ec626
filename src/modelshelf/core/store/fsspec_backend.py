"""A store on any fsspec filesystem (s3://, gs://, az://, memory://, ...)."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import threading
import uuid
from typing import BinaryIO

import fsspec
from fsspec.core import url_to_fs

from modelshelf.core.errors import ModelshelfError, SourceError, StorageError
from modelshelf.core.store.backend import (
    SMALL_OBJECT,
    TMP_PREFIX,
    Backend,
    Entry,
    TempSink,
    Update,
)

log = logging.getLogger(__name__)

# The in-memory filesystem has no conditional writes: creates, rewrites and removes of one
# process take turns under this lock instead.
_MEMORY_LOCK = threading.Lock()
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
            try:
                self._spill.close()
            except Exception:  # the write already failed; removing the object is what matters
                log.warning("could not close the upload %s", self._spill_key, exc_info=True)
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
            with _MEMORY_LOCK:
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
    def rewrite(self, key: str, update: Update) -> bool:
        if self.protocol == "memory":
            with _MEMORY_LOCK:
                return super().rewrite(key, update)
        if self.protocol != "s3":
            return super().rewrite(key, update)  # read then write: see the base class
        path = self.full(key)
        self.fs.invalidate_cache(path)
        try:
            # The ETag first: if the object changes between the two reads, the put fails.
            etag = self.fs.info(path)["ETag"]
            new = update(self.fs.cat_file(path))
        except FileNotFoundError:
            return False
        if new is None:
            return False
        try:
            self.fs.pipe_file(path, new, IfMatch=etag)
        except FileNotFoundError:  # S3 answers 404 when the key was deleted since the read
            return False
        except OSError as exc:
            if not _is_precondition_failure(exc):
                raise
            # Changed or deleted since the read, unless a retried put of ours landed first.
            try:
                return self.fs.cat_file(path) == new
            except FileNotFoundError:
                return False
        return True

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
        # In memory, a remove must not land between a rewrite's read and its write.
        turn = _MEMORY_LOCK if self.protocol == "memory" else contextlib.nullcontext()
        with turn, contextlib.suppress(FileNotFoundError):
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
