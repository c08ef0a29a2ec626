"""The environment a model was saved from: Python, platform and installed packages.

Listing installed packages reads every ``*.dist-info`` (50-200 ms with a few hundred), and
a job's runner or a CLI call is a fresh process each time. So the record is cached on disk
per interpreter, keyed by the modification times of the ``sys.path`` folders: installing or
removing a package changes its folder, which makes the cache stale.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from typing import Any


def _fingerprint() -> str:
    stamps = [sys.executable, platform.python_version()]
    for entry in sys.path:
        with contextlib.suppress(OSError):
            stamps.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
    return hashlib.sha256("\n".join(stamps).encode()).hexdigest()


def _cache_file() -> str:
    base = os.environ.get("MODELSHELF_STATE_DIR") or os.path.expanduser("~/.cache/modelshelf")
    key = hashlib.sha256(sys.executable.encode()).hexdigest()[:16]
    return os.path.join(base, f"environment-{key}.json")


def _describe() -> dict[str, Any]:
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name.lower()] = dist.version
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": dict(sorted(packages.items())),
    }


@functools.lru_cache(maxsize=1)
def capture_environment() -> dict[str, Any]:
    """Describe this interpreter (cached in memory, and on disk across processes)."""
    fingerprint = _fingerprint()
    path = _cache_file()
    with contextlib.suppress(OSError, ValueError):
        with open(path) as fh:
            cached = json.load(fh)
        if cached.get("fingerprint") == fingerprint:
            return cached["environment"]
    environment = _describe()
    with contextlib.suppress(OSError):  # a cache: failing to write it changes nothing
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"fingerprint": fingerprint, "environment": environment}, fh)
        os.replace(tmp, path)
    return environment
