"""What a browser upload announced and what has arrived: its files, their checks, its record."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.errors import InvalidNameError, SizeLimitError
from modelshelf.core.names import validate_client_relpath

RECEIVING, COMMITTING, GONE = "receiving", "committing", "gone"
#: The folder of a staging folder that holds the files, at their paths inside the model.
FILES = "files"


@dataclass
class UploadFile:
    """One announced file: its path inside the model, its size and the bytes received."""

    path: str
    size: int
    received: int = 0
    #: The store's digest of the bytes received so far, fed in order as chunks arrive
    #: (set by the manager from ``BlobStore.new_hasher``).
    hasher: Any = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        return self.received == self.size


@dataclass
class Upload:
    """An upload in progress: what was announced, what arrived, where it is staged."""

    id: str
    name: str
    files: list[UploadFile]
    folder: str
    extract: bool
    save_options: dict[str, Any]
    created_at: float
    touched_at: float
    state: str = RECEIVING
    #: A chunk is being received (one at a time: a file's bytes come in order).
    writing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def received(self) -> int:
        return sum(f.received for f in self.files)

    def staged_path(self, index: int) -> str:
        return os.path.join(self.folder, FILES, *self.files[index].path.split("/"))

    def to_json(self, idle_timeout: float, chunk_size: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.state if self.state != GONE else "cancelled",
            "chunk_size": chunk_size,
            "files": [
                {"index": i, "path": f.path, "size": f.size, "received": f.received}
                for i, f in enumerate(self.files)
            ],
            "total_size": self.total_size,
            "received": self.received,
            "created_at": self.created_at,
            "expires_at": self.touched_at + idle_timeout,
        }


def plan_files(files: list[tuple[str, int]], max_files: int) -> list[UploadFile]:
    """The announced files, checked: safe distinct paths, sizes, no file that is also a folder."""
    if not files:
        raise InvalidNameError("an upload needs at least one file")
    if len(files) > max_files:
        raise SizeLimitError(
            f"an upload may hold {max_files:,} files, not {len(files):,}: upload an "
            "archive of the folder instead"
        )
    planned: list[UploadFile] = []
    seen: set[str] = set()
    for path, size in files:
        validate_client_relpath(path)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidNameError(f"{path}: a file's size is a whole number of bytes >= 0")
        if path in seen:
            raise InvalidNameError(f"{path} is announced twice: each path once")
        seen.add(path)
        planned.append(UploadFile(path, size))
    folders = {"/".join(p.split("/")[:i]) for p in seen for i in range(1, p.count("/") + 1)}
    clash = sorted(seen & folders)
    if clash:
        raise InvalidNameError(
            f"{clash[0]} is announced as a file and as a folder of other files: rename one"
        )
    return planned


def describe(upload: Upload) -> str:
    """The source a version made from ``upload`` records: what the user sent."""
    names = [f.path for f in upload.files]
    if len(names) == 1:
        return f"upload: {names[0]}"
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"upload: {len(names)} files ({shown})"


def newest_mtime(path: str) -> float:
    """The latest modification time of a folder or of anything under it."""
    newest = 0.0
    for folder, _, names in os.walk(path):
        for entry in (folder, *(os.path.join(folder, n) for n in names)):
            try:
                newest = max(newest, os.stat(entry, follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return newest
