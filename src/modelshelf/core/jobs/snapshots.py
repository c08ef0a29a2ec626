"""A job's snapshot back out of the store, for ``rerun``: the notebook, the script, or every
file of the package folder, under ``runs/<job id>/``."""

from __future__ import annotations

import os

from modelshelf.core.names import validate_relpath
from modelshelf.core.store.backend import Backend

_PACKAGE = "package"


def snapshot_content(backend: Backend, key: str) -> dict[str, bytes]:
    """The snapshot at ``key`` as relative path -> bytes; FileNotFoundError when gone."""
    name = key.rsplit("/", 1)[-1]
    if name != _PACKAGE:
        return {name: backend.read_bytes(key)}
    entries = backend.list(key, recursive=True)
    if not entries:
        raise FileNotFoundError(key)
    prefix = key.rstrip("/") + "/"
    return {
        f"{_PACKAGE}/{validate_relpath(e.key[len(prefix) :])}": backend.read_bytes(e.key)
        for e in entries
    }


def fetch_snapshot(key: str, staging_dir: str, content: dict[str, bytes]) -> str:
    """Write ``content`` (from :func:`snapshot_content`) under ``staging_dir``; return the
    path to submit (the file, or the package folder), named as the kind it was."""
    for relative, data in content.items():
        target = os.path.join(staging_dir, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)
    return os.path.join(staging_dir, key.rsplit("/", 1)[-1])
