"""Helpers for building tiny model folders in tests."""

from __future__ import annotations

import os
from pathlib import Path


def make_model(folder: Path, files: dict[str, bytes | str]) -> Path:
    """Write ``files`` (relative path -> content) under ``folder`` and return it."""
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative POSIX path."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = Path(dirpath) / name
            out[full.relative_to(folder).as_posix()] = full.read_bytes()
    return out


def blob_path(root: Path, digest: str) -> Path:
    algorithm = "sha256" if (root / "blobs" / "sha256").is_dir() else "blake3"
    return root / "blobs" / algorithm / digest[:2] / digest[2:]
