"""Copy a local file while computing the digest of what was written, as fast as the OS allows.

Large files are copied inside the kernel (``copy_file_range``: no trip through Python's
memory, and a reflink on filesystems that have them) one step at a time, and each step of
the *destination* is hashed through a small ``mmap`` window right after it was written,
on a helper thread while the kernel copies the next step: copying and hashing overlap on
two cores even when a model is one large file. Hashing what was written, not what was read,
keeps the digest true to the stored bytes even if the source changes during the copy; the
window keeps the process's memory bounded whatever the file's size (mapping a whole
5 GiB file would count it all in the resident set). Small files, and filesystems without
``copy_file_range``, take one read/hash/write pass through a reused buffer.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from modelshelf.core.store.digests import Hasher, new_hasher

SMALL_FILE = 2**20
# One copy-and-hash step: large enough for BLAKE3 to spread over the cores, small enough
# that two workers stay well under the memory budget.
_STEP = 32 * 2**20
_local = threading.local()
_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _hashing_pool() -> ThreadPoolExecutor:
    """Threads that hash one step of a file while its copier copies the next (shared by all
    copies in the process, made on first use; idle threads cost nothing)."""
    global _pool
    with _pool_lock:
        # A forked child inherits the pool object but none of its threads: make its own.
        if _pool is None or _pool[0] != os.getpid():
            workers = max(2, os.cpu_count() or 2)
            _pool = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="hash"))
        return _pool[1]


def thread_buffer(size: int) -> memoryview:
    """A per-thread buffer (allocating and zero-filling 4 MiB per file costs more than it
    seems when a model has thousands of small files)."""
    buf = getattr(_local, "buffer", None)
    if buf is None or len(buf) < size:
        buf = _local.buffer = bytearray(max(size, 4 * 2**20))
    return memoryview(buf)


def copy_hashing(
    src_fd: int, dst_fd: int, algorithm: str, on_bytes: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Copy ``src_fd`` to ``dst_fd`` (opened read-write); return ``(digest, size)``."""
    size = os.fstat(src_fd).st_size
    if size > SMALL_FILE and hasattr(os, "copy_file_range"):
        try:
            return _kernel_copy(src_fd, dst_fd, new_hasher(algorithm, size), on_bytes)
        except OSError:
            # EXDEV, ENOSYS, EINVAL: this filesystem pair cannot; start over the slow way.
            os.lseek(src_fd, 0, os.SEEK_SET)
            os.lseek(dst_fd, 0, os.SEEK_SET)
            os.ftruncate(dst_fd, 0)
    return _user_copy(src_fd, dst_fd, new_hasher(algorithm, size), on_bytes)


def _kernel_copy(
    src_fd: int, dst_fd: int, hasher: Hasher, on_bytes: Callable[[int], None] | None
) -> tuple[str, int]:
    copied = 0
    pending: Future | None = None  # the hash of the previous step, running meanwhile
    try:
        while True:
            n = os.copy_file_range(src_fd, dst_fd, _STEP)
            if pending is not None:
                pending.result()  # steps reach the hasher in order, one at a time
                pending = None
            if n == 0:
                break
            # Steps start at multiples of _STEP (a multiple of the page size) unless the
            # kernel copied less than asked; the window then starts at the page below.
            pending = _hashing_pool().submit(hash_range, dst_fd, copied, n, hasher)
            copied += n
            if on_bytes is not None:
                on_bytes(n)
    finally:
        if pending is not None:  # the copy failed: let the hash end before the fd closes
            pending.exception()
    return hasher.hexdigest(), copied


def hash_range(fd: int, start: int, length: int, hasher: Hasher) -> None:
    """Feed bytes ``[start, start + length)`` of ``fd`` to ``hasher`` through one mmap window."""
    if length <= 0:
        return
    base = start - start % mmap.ALLOCATIONGRANULARITY
    with mmap.mmap(fd, length + start - base, access=mmap.ACCESS_READ, offset=base) as mapped:
        view = memoryview(mapped)
        try:
            hasher.update(view[start - base :])
        finally:
            view.release()


def _user_copy(
    src_fd: int, dst_fd: int, hasher: Hasher, on_bytes: Callable[[int], None] | None
) -> tuple[str, int]:
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
