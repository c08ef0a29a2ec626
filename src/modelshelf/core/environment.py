"""The environment a model was saved from: Python, platform and installed packages."""

from __future__ import annotations

import functools
import platform
import sys
from importlib import metadata
from typing import Any


@functools.lru_cache(maxsize=1)
def capture_environment() -> dict[str, Any]:
    """Describe this interpreter; computed once per process (listing packages takes ~50 ms)."""
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
