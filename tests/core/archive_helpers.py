"""Tar archives built for the extraction tests, entry by entry."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def make_tar(path: Path, entries: list[tuple[str, str, bytes | str]], mode: str = "w") -> Path:
    """Entries are (name, kind, payload): kind is file, dir, sym, lnk, chr or fifo."""
    kinds = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "sym": tarfile.SYMTYPE,
        "lnk": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(path, mode) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind in ("sym", "lnk"):
                info.linkname = str(payload)
                tar.addfile(info)
            elif kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path
