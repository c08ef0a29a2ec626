"""Which backend serves a store root: a lazy builder per URL scheme.

The base class module (:mod:`.backend`) imports no implementation; this registry names each
implementation by module path and imports it only when a root of its scheme is opened, the
way MLflow's store registry and fsspec's ``registry.py`` do. A plain path (or ``file://``)
gets the local backend; every other scheme goes to fsspec, which knows its own filesystems.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from urllib.parse import urlsplit

from modelshelf.core.store.backend import Backend

BackendBuilder = Callable[[str, "dict | None", bool], Backend]


def _local(url: str, storage_options: dict | None, fsync: bool) -> Backend:
    module = importlib.import_module("modelshelf.core.store.local_backend")
    path = url[len("file://") :] if url.startswith("file://") else url
    return module.LocalBackend(os.path.expanduser(os.path.expandvars(path)), fsync=fsync)


def _fsspec(url: str, storage_options: dict | None, fsync: bool) -> Backend:
    module = importlib.import_module("modelshelf.core.store.fsspec_backend")
    return module.FsspecBackend(url, storage_options)


_BUILDERS: dict[str, BackendBuilder] = {"": _local, "file": _local}


def register_backend(scheme: str, builder: BackendBuilder) -> None:
    """Serve roots of ``scheme`` with ``builder(url, storage_options, fsync)``."""
    _BUILDERS[scheme.lower()] = builder


def _scheme(url: str) -> str:
    if "://" not in url:
        return ""  # a path, even a Windows one such as C:\\models
    return urlsplit(url).scheme.lower()


def open_backend(url: str, storage_options: dict | None = None, fsync: bool = False) -> Backend:
    """The backend for a store root: local paths get the local backend, URLs fsspec's."""
    builder = _BUILDERS.get(_scheme(url), _fsspec)
    return builder(url, storage_options, fsync)
