"""Models straight from a model-data prefix, as SageMaker multi-model endpoints take them.

A multi-model endpoint given ``model_data="s3://bucket/prefix/"`` (any fsspec URL, a local
folder too) serves ``X-Amzn-SageMaker-Target-Model: DocSim-3.tar.gz`` from the object
``prefix/DocSim-3.tar.gz``: on first use it is downloaded once, extracted with the store's
safe extraction (:func:`~modelshelf.core.sources.archives.extract_archive`) into a disk
cache, and loaded from there as the model ``DocSim-3`` (the key's file name without its
archive suffix, so an MMS handler reads ``DocSim-3-params.json``).

Which targets are keys: SageMaker's TargetModel is always a key, and modelshelf serves store
refs beside them. A target is a key when it names an archive (``.tar.gz``, ``.tgz``, ``.zip``
...) or an object that exists under the prefix; anything else is a store ref, so a key wins
over a ref spelt the same. A target that would leave the prefix (``..``, an absolute path,
a URL, a backslash, or any of these percent-encoded) is refused with
:class:`~modelshelf.core.errors.ModelKeyError` (400) before anything is read.

The disk cache holds extracted artifacts up to ``cache_bytes`` (0: no bound). An artifact
stays on disk after its model is unloaded, so loading it again does not download it again;
when a new one does not fit, the least recently used artifacts whose models are not loaded
are deleted, as SageMaker drops artifacts under disk pressure. If that is not room enough,
the load fails with :class:`~modelshelf.core.errors.DiskCacheFullError` (507) and nothing is
kept. The cache lives in one process's memory: a model-data deployment runs one worker.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.model_handler import ModelHandler, folder_size
from modelshelf.core.errors import (
    DiskCacheFullError,
    ModelDataError,
    ModelKeyError,
    ModelNotFoundError,
    SizeLimitError,
    SourceError,
)
from modelshelf.core.sources.archives import archive_kind, extract_archive, remove_tree
from modelshelf.core.sources.tar_stream import extract_tar_stream

log = logging.getLogger("modelshelf.serve")

MAX_KEY = 1024  # S3's longest key, in bytes
_DECODINGS = 3  # "%252e%252e" is ".." decoded twice: check a few decodings, not just one
_DRIVE = re.compile(r"^[A-Za-z]:([/\\]|$)")
_ARCHIVE_SUFFIX = re.compile(r"(\.tar)?\.[^.]+$")
# How a tar archive is read while it is extracted: in 32 MiB ranges, the next one fetched in
# the background (fsspec's BackgroundBlockCache) while this one is unpacked: two ranges in
# memory at most. Smaller ranges cost more requests: against moto, 8 MiB ranges read a
# 100 MB object in twice the time of 32 MiB ones.
_STREAMING: dict[str, Any] = {"block_size": 32 * 2**20, "cache_type": "background"}


def check_key(target: str) -> str:
    """``target`` if, as a key, it stays under the prefix; ModelKeyError if it would not."""
    form = target
    for _ in range(_DECODINGS + 1):
        problem = _escape(form)
        if problem:
            raise ModelKeyError(
                f"target model {target!r} {problem}: name a key relative to the model-data "
                "prefix, such as DocSim-3.tar.gz"
            )
        decoded = unquote(form)
        if decoded == form:
            break
        form = decoded
    return target


def _escape(key: str) -> str | None:
    """How ``key`` would leave the prefix (or name nothing), or None if it stays under it."""
    if not key:
        return "is empty"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY:
        return f"is longer than {MAX_KEY} bytes"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "holds a control character"
    if "\\" in key:
        return "holds a backslash"
    if key.startswith(("/", "~")) or _DRIVE.match(key):
        return "is an absolute path"
    if "://" in key:
        return "is a URL"
    segments = key.split("/")
    if ".." in segments:
        return "climbs out of the prefix with '..'"
    if "." in segments or "" in segments:
        return "has an empty or '.' path segment"
    return None


def model_name(key: str) -> str:
    """The name a key's model is loaded as: its file name without the archive suffix."""
    base = posixpath.basename(key)
    return _ARCHIVE_SUFFIX.sub("", base) if archive_kind(base) else base


@dataclass
class _Artifact:
    folder: str
    size: int
    users: int = 0  # loaded models using the folder: never evicted while above 0


class ModelData:
    """A model-data prefix and the disk cache of the artifacts extracted from it."""

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str,
        cache_bytes: int = 0,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        import fsspec

        self.url = url.rstrip("/") + "/"
        self.fs, root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.root = root.rstrip("/")
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes
        # The cache's index lives in memory: what an earlier process left there is unknown.
        remove_tree(cache_dir)
        os.makedirs(cache_dir)
        self._lock = threading.Lock()
        self._artifacts: OrderedDict[str, _Artifact] = OrderedDict()  # least recent first
        self._fetching: dict[str, threading.Lock] = {}
        self._loaded: dict[int, str] = {}  # id(handler) -> the key it was loaded from
        self._used = 0

    # ---- keys ---------------------------------------------------------------------------

    def key(self, target: str) -> str | None:
        """The key ``target`` names under the prefix, or None if it is not one (a store ref).

        ModelKeyError if it would leave the prefix.
        """
        check_key(target)
        if archive_kind(target) is not None:
            return target
        try:
            return target if self.fs.isfile(self._path(target)) else None
        except Exception:  # unreachable or not allowed: not known as a key; a ref, then
            log.warning("could not look for %s under %s", target, self.url, exc_info=True)
            return None

    def url_of(self, key: str) -> str:
        return self.url + key

    def key_of(self, url: str) -> str | None:
        """The key of a URL :meth:`url_of` made, None for any other (a store ref)."""
        return url[len(self.url) :] if url.startswith(self.url) else None

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    # ---- loading ------------------------------------------------------------------------

    def load(
        self,
        key: str,
        service: HandlerSpec | None = None,
        unload_one: Callable[[], bool] | None = None,
        code_dir: str | None = None,
        *,
        check_requirements: bool = False,
    ) -> ModelHandler:
        """Load ``key``'s model from its cached folder (through ``service`` when given, else
        its own code or ``code_dir``'s inference script, the endpoint's submit directory;
        ``check_requirements`` as :func:`.loaders.load_handler` takes it).

        When the disk cache is full of loaded models' artifacts, ``unload_one()`` is asked
        to unload one (False: there is none) and the fetch is tried again.
        """
        while True:
            try:
                folder = self.fetch(key)
                break
            except DiskCacheFullError:
                # As SageMaker does under disk pressure: unload a model to free its artifact.
                if unload_one is None or not unload_one():
                    raise
        try:
            handler = load_handler(folder, model_name(key), service, code_dir,
                                   check_requirements=check_requirements)  # fmt: skip
        except BaseException:
            self.release(key)
            raise
        with self._lock:
            self._loaded[id(handler)] = key
        return handler

    def unloaded(self, handler: ModelHandler) -> bool:
        """Release the folder of a model :meth:`load` loaded; False for any other model."""
        with self._lock:
            key = self._loaded.pop(id(handler), None)
        if key is None:
            return False
        self.release(key)
        return True

    # ---- the disk cache -----------------------------------------------------------------

    @property
    def disk_used(self) -> int:
        """Bytes of the extracted artifacts on disk."""
        return self._used

    def cached(self) -> list[str]:
        """The keys on disk, least recently used first."""
        with self._lock:
            return list(self._artifacts)

    def fetch(self, key: str) -> str:
        """The folder ``key`` is extracted in, downloaded once; in use until :meth:`release`."""
        with self._lock:
            gate = self._fetching.setdefault(key, threading.Lock())
        try:
            with gate:  # one download per key, however many threads ask
                return self._fetch(key)
        finally:
            with self._lock:  # unknown keys must not pile up here
                self._fetching.pop(key, None)

    def _fetch(self, key: str) -> str:
        with self._lock:
            artifact = self._artifacts.get(key)
            if artifact is not None:
                artifact.users += 1
                self._artifacts.move_to_end(key)
                return artifact.folder
        folder = self._download(key)
        size = folder_size(folder)
        with self._lock:
            evicted = self._make_room(size)
            if evicted is not None:
                self._artifacts[key] = _Artifact(folder, size, users=1)
                self._used += size
        if evicted is None:
            remove_tree(folder)
            raise DiskCacheFullError(self._full(key, size))
        for old in evicted:  # out of the index already: no one can be handed them
            log.info("model data: deleted %s from the disk cache to make room", old)
            remove_tree(old)
        return folder

    def release(self, key: str) -> None:
        """A model loaded from ``key`` was unloaded; its folder stays cached until evicted."""
        with self._lock:
            artifact = self._artifacts.get(key)
            if artifact is not None and artifact.users:
                artifact.users -= 1

    def close(self) -> None:
        """Delete the disk cache."""
        with self._lock:
            self._artifacts.clear()
            self._used = 0
        remove_tree(self.cache_dir)

    def _make_room(self, size: int) -> list[str] | None:
        """Evict unused artifacts, least recent first, until ``size`` fits; the folders to
        delete, or None (nothing evicted) if it cannot fit. Called with the lock held."""
        if not self.cache_bytes:
            return []
        unused = [k for k, a in self._artifacts.items() if not a.users]
        free = self.cache_bytes - self._used
        if size > free + sum(self._artifacts[k].size for k in unused):
            return None
        evicted = []
        for key in unused:
            if size <= free:
                break
            artifact = self._artifacts.pop(key)
            self._used -= artifact.size
            free += artifact.size
            evicted.append(artifact.folder)
        return evicted

    def _full(self, key: str, size: int) -> str:
        return (
            f"model {key!r} takes {size} bytes on disk once extracted, more than the "
            f"model-data disk cache of {self.cache_bytes} bytes can free (the rest holds "
            "loaded models): unload some models or raise model_data_cache"
        )

    def _download(self, key: str) -> str:
        """Download and extract ``key`` into a new folder of the cache; its path."""
        url = self.url_of(key)
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            raise ModelNotFoundError(
                f"no model {key!r} under the model-data prefix {self.url}"
            ) from None
        except Exception as exc:
            raise ModelDataError(f"could not read {url}: {type(exc).__name__}: {exc}") from exc
        if info.get("type") != "file":
            raise ModelNotFoundError(f"{key!r} under {self.url} is a folder, not a model archive")
        size = int(info.get("size") or 0)
        if self.cache_bytes and size > self.cache_bytes:
            raise DiskCacheFullError(self._full(key, size))
        folder = os.path.join(self.cache_dir, f"{folder_name(key)}-{uuid.uuid4().hex[:8]}")
        work = None
        try:
            started = time.perf_counter()
            if archive_kind(posixpath.basename(key)) == "tar":
                # Extracted as it downloads: the archive itself never touches the disk, and
                # the next block downloads while this one is unpacked.
                with self.fs.open(self._path(key), "rb", **_STREAMING) as remote:
                    extract_tar_stream(remote, folder, limit=self.cache_bytes, name=url)
                log.info(
                    "model data: %s: downloaded and extracted %d bytes in %.3f s",
                    key, size, time.perf_counter() - started,
                )  # fmt: skip
            else:  # a zip (read from its end) or a lone compressed file
                work = tempfile.mkdtemp(prefix=".download-", dir=self.cache_dir)
                archive = os.path.join(work, posixpath.basename(key))
                self.fs.get_file(self._path(key), archive)
                downloaded = time.perf_counter()
                # Bounded by the cache: an archive declaring more is refused before it is
                # written.
                extract_archive(archive, folder, limit=self.cache_bytes, name=url)
                log.info(
                    "model data: %s: downloaded %d bytes in %.3f s, extracted in %.3f s",
                    key, size, downloaded - started, time.perf_counter() - downloaded,
                )  # fmt: skip
        except BaseException as exc:
            remove_tree(folder)
            if isinstance(exc, SizeLimitError):  # its hint names the store's limit, not ours
                raise DiskCacheFullError(
                    f"model {key!r} unpacks to more than the whole model-data disk cache of "
                    f"{self.cache_bytes} bytes: raise model_data_cache"
                ) from exc
            if isinstance(exc, SourceError):
                raise ModelDataError(f"model {key!r}: {exc}") from exc
            if isinstance(exc, Exception):
                raise ModelDataError(
                    f"could not download {url}: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        finally:
            if work is not None:
                remove_tree(work)
        return folder


def folder_name(name: str) -> str:
    """A safe folder name for any model name, ref or key."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "model"
