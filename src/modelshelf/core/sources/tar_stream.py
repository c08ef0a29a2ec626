"""Safe extraction of a tar (plain or compressed) read once, front to back, as it arrives.

:func:`~modelshelf.core.sources.archives.extract_archive` checks a whole archive before it
writes anything, which needs the archive on disk (it reads a tar twice). A model-data
archive is extracted while it downloads instead, so it is never written to disk whole and
its download overlaps its extraction. The rules are the same; only when they apply differs:

- each member is checked as it arrives (its path, no device file or FIFO, PEP 706's data
  filter), the running total against the size limit before its bytes are written, and each
  file is written with ``O_EXCL | O_NOFOLLOW``, never through a link or over a file;
- links are created last, once the whole archive's links have been checked as
  ``extract_archive`` checks them (an entry beneath a link, a link leading out);
- on any refusal or error the folder is emptied again: a refused archive leaves nothing
  behind, though some of it was written before the refusal was known.
"""

from __future__ import annotations

import os
import tarfile
from typing import BinaryIO

from modelshelf.core.errors import SourceError
from modelshelf.core.sources.archive_checks import TarPlan, check_archive_size, unsafe_entry
from modelshelf.core.sources.archives import (
    DEFAULT_EXTRACT_LIMIT,
    STREAM_ERRORS,
    remove_tree,
    write_entry,
)

# What the stream is read (and decompressed) in: tarfile's own 10 KiB record makes a
# download's extraction several times slower in Python-level calls.
_BUFFER = 1 << 20


def extract_tar_stream(
    stream: BinaryIO, dest: str, *, limit: int = 0, name: str = "archive"
) -> None:
    """Extract the tar read from ``stream`` (gzip, bzip2 or xz compressed, or not) into the
    empty (or new) folder ``dest``; ``limit`` caps the total size (0: the default limit),
    ``name`` is how messages call the archive. UnsafeArchiveError, SizeLimitError or
    SourceError leave ``dest`` empty."""
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise ValueError(f"extraction folder {dest} must be empty")
    try:
        _extract(stream, dest, limit or DEFAULT_EXTRACT_LIMIT, name)
    except BaseException:
        for entry in os.listdir(dest):
            remove_tree(os.path.join(dest, entry))
        raise


def _extract(stream: BinaryIO, dest: str, limit: int, display: str) -> None:
    plan = TarPlan(dest, display)
    try:
        # "r|*": a stream of blocks, read once, its compression detected from its first bytes.
        with tarfile.open(fileobj=stream, mode="r|*", bufsize=_BUFFER) as tar:
            for member in tar:
                rel = plan.add(member)
                if not rel:
                    continue
                if member.isdir():
                    os.makedirs(os.path.join(dest, rel), exist_ok=True)
                elif member.isreg():
                    check_archive_size(plan.total, limit, display)
                    _write_file(tar, member, dest, rel, display)
    except STREAM_ERRORS as exc:
        raise SourceError(f"could not extract tar archive {display!r}: {exc}") from exc
    plan.check_links()
    _make_links(dest, plan.symlinks, plan.hardlinks, display)


def _write_file(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str, rel: str, display: str
) -> None:
    source = tar.extractfile(member)
    if source is None:  # a regular file always has a reader; be safe all the same
        raise unsafe_entry(display, member.name, "could not be read")
    # The data filter's mode: no setuid, setgid or sticky bit, no group or other write.
    mode = (tarfile.data_filter(member, dest).mode or 0o644) & 0o755
    with source:
        write_entry(source, dest, rel, mode | 0o600, member.size, display)
    os.utime(os.path.join(dest, rel), (member.mtime, member.mtime))


def _make_links(
    dest: str, symlinks: dict[str, str], hardlinks: dict[str, str], display: str
) -> None:
    """Create the checked links: symbolic ones as they are, hard ones to their extracted
    target (a hard link in a tar always names an earlier member; its checked name is a
    relative path inside the folder)."""
    for rel, target in [*symlinks.items(), *hardlinks.items()]:
        path = os.path.join(dest, rel)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if rel in symlinks:
                os.symlink(target, path)
            else:
                os.link(os.path.join(dest, target), path, follow_symlinks=False)
        except OSError as exc:
            raise unsafe_entry(display, rel, f"could not be created as a link ({exc})") from exc
