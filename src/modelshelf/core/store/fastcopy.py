"""Copy a local file while computing the sha256 of what was written, as fast as the OS allows.

Large files are copied inside the kernel (``copy_file_range``: no trip through Python's
memory, and a reflink on filesystems that have them), then the *destination* is hashed
through ``mmap``. Hashing what was written, not what was read, keeps the digest true to the
stored bytes even if the source changes during the copy. Small files, and filesystems
without ``copy_file_range``, take one read/hash/write pass through a reused buffer.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Callable

SMALL_FILE = 2**20
_STEP = 64 * 2**20
_HASH_STEP = 8 * 2**20
_local = threading.local()


def thread_buffer(size: int) -> memoryview:
    """A per-thread buffer (allocating and zero-filling 4 MiB per file costs more than it
    seems when a model has thousands of small files)."""
    buf = getattr(_local, "buffer", None)
    if buf is None or len(buf) < size:
        buf = _local.buffer = bytearray(max(size, 4 * 2**20))
    return memoryview(buf)


def copy_hashing(
    src_fd: int, dst_fd: int, on_bytes: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Copy ``src_fd`` to ``dst_fd`` (opened read-write); return ``(sha256, size)``."""
    size = os.fstat(src_fd).st_size
    if size > SMALL_FILE and hasattr(os, "copy_file_range"):
        try:
            return _kernel_copy(src_fd, dst_fd, on_bytes)
        except OSError:
            # EXDEV, ENOSYS, EINVAL: this filesystem pair cannot; start over the slow way.
            os.lseek(src_fd, 0, os.SEEK_SET)
            os.lseek(dst_fd, 0, os.SEEK_SET)
            os.ftruncate(dst_fd, 0)
    return _user_copy(src_fd, dst_fd, on_bytes)


def _kernel_copy(
    src_fd: int, dst_fd: int, on_bytes: Callable[[int], None] | None
) -> tuple[str, int]:
    copied = 0
    while True:
        n = os.copy_file_range(src_fd, dst_fd, _STEP)
        if n == 0:
            break
        copied += n
        if on_bytes is not None:
            on_bytes(n)
    return _hash_fd(dst_fd, copied), copied


def _hash_fd(fd: int, size: int) -> str:
    hasher = hashlib.sha256()
    if size == 0:
        return hasher.hexdigest()
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
        mapped.madvise(mmap.MADV_SEQUENTIAL)
        view = memoryview(mapped)
        try:
            for start in range(0, size, _HASH_STEP):
                hasher.update(view[start : start + _HASH_STEP])
        finally:
            view.release()
    return hasher.hexdigest()


def _user_copy(src_fd: int, dst_fd: int, on_bytes: Callable[[int], None] | None) -> tuple[str, int]:
    hasher = hashlib.sha256()
    view = thread_buffer(SMALL_FILE)
    copied = 0
    while n := os.readv(src_fd, [view]):
        chunk = view[:n]
        hasher.update(chunk)
        while chunk:
            chunk = chunk[os.write(dst_fd, chunk) :]
        copied += n
        if on_bytes is not None:
            on_bytes(n)
    return hasher.hexdigest(), copied
