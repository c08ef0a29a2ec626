"""Safe extraction of zip, tar and single compressed files into an empty folder.

Every archive is checked in full *before* anything is written, so a refused archive leaves
nothing behind: entries with absolute paths, drive letters or ``..``, links that lead outside
the folder (directly or through other links in the archive), entries stored beneath a link,
device files and FIFOs, and archives whose declared sizes exceed the limit. Tar members also go
through :func:`tarfile.data_filter` (PEP 706) at check time and at extraction time. Zip has no
such filter, so zip entries are written here, one by one, counting the bytes actually written
against the declared size (a lying header is refused, and the CRC check catches the rest).

Policy for links: symbolic links whose target stays inside the folder are created as links
(from zips too, after every file is written, so no entry is ever written through a link); a
hard link may not point at a symbolic link, because tarfile would copy the link itself to a
new place where its relative target could mean something else.

The checks themselves are in :mod:`.archive_checks`; this module opens and writes.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from modelshelf.core.errors import SourceError
from modelshelf.core.sources.archive_checks import (
    TarPlan,
    check_archive_size,
    check_links,
    normalise_entry,
    unsafe_entry,
)
from modelshelf.core.sources.zip_names import zip_entry_name

DEFAULT_EXTRACT_LIMIT = 50 * 10**9  # 50 GB: what an archive may unpack to when no limit is set
_CHUNK = 1 << 20
_MAX_LINK_TARGET = 4096
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_COMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# Errors a damaged compressed stream can raise while being read.
STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError)


def archive_kind(name: str) -> str | None:
    """``"zip"``, ``"tar"``, ``"compressed"`` (.gz/.bz2/.xz: a tar or one file) or ``None``."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(_TAR_SUFFIXES):
        return "tar"
    if lower.endswith(tuple(_COMPRESSED)):
        return "compressed"
    return None


def remove_tree(path: str) -> None:
    """Remove a folder even if an archive left read-only folders in it (or a file, or a
    link, itself: never what it points to)."""

    def retry(func: Callable[[str], Any], failed: str, *_: Any) -> None:
        # Deleting an entry needs write permission on its folder; grant it and try again.
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
            func(failed)
        except OSError:
            pass

    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):  # rmtree takes folders only
        os.unlink(path)
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


@contextmanager
def temporary_folder(prefix: str = "modelshelf-") -> Iterator[str]:
    """A fresh private folder (under ``$MODELSHELF_TMP_DIR`` if set), removed on exit."""
    parent = os.environ.get("MODELSHELF_TMP_DIR") or None
    if parent:
        parent = os.path.abspath(os.path.expanduser(parent))
        os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield path
    finally:
        remove_tree(path)


def extract_archive(archive: str, dest: str, *, limit: int = 0, name: str | None = None) -> None:
    """Extract the local file ``archive`` into the empty (or new) folder ``dest``.

    ``limit`` caps the total extracted size (0 means :data:`DEFAULT_EXTRACT_LIMIT`); ``name``
    is how the archive is called in messages (e.g. its URL). On any error ``dest`` is emptied
    again; :class:`UnsafeArchiveError` and :class:`SizeLimitError` are raised before anything
    is written whenever the archive's own headers reveal the problem.
    """
    limit = limit or DEFAULT_EXTRACT_LIMIT
    display = name or archive
    base = os.path.basename(archive)
    kind = archive_kind(base)
    if kind is None:
        raise SourceError(f"{display!r} is not a zip, tar, .gz, .bz2 or .xz archive")
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise ValueError(f"extraction folder {dest} must be empty")
    try:
        if kind == "zip":
            _extract_zip(archive, dest, limit, display)
        elif kind == "tar" or _is_tar(archive):
            _extract_tar(archive, dest, limit, display)
        else:
            suffix = next(s for s in _COMPRESSED if base.lower().endswith(s))
            _decompress_single(archive, dest, limit, display, base[: -len(suffix)], suffix)
    except BaseException:
        for entry in os.listdir(dest):
            remove_tree(os.path.join(dest, entry))
        raise


def _is_tar(path: str) -> bool:
    """Whether a .gz/.bz2/.xz holds a tar with at least one member.

    :func:`tarfile.is_tarfile` also says yes for any run of zero bytes (an empty tar).
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            return tar.next() is not None
    except STREAM_ERRORS:
        return False


def _extract_tar(path: str, dest: str, limit: int, display: str) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise SourceError(
            "extracting tar archives safely needs Python 3.10.12, 3.11.4 or later (PEP 706)"
        )
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except STREAM_ERRORS as exc:
        raise SourceError(f"{display!r} is not a readable tar archive: {exc}") from exc
    with tar:
        try:
            members = tar.getmembers()
        except STREAM_ERRORS as exc:
            raise SourceError(f"tar archive {display!r} is damaged: {exc}") from exc
        plan = TarPlan(dest, display)
        for member in members:
            plan.add(member)
        check_archive_size(plan.total, limit, display)
        plan.check_links()
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            entry = getattr(getattr(exc, "tarinfo", None), "name", "?")
            raise unsafe_entry(display, entry, f"is refused: {exc}") from exc
        except STREAM_ERRORS as exc:
            raise SourceError(f"could not extract tar archive {display!r}: {exc}") from exc


def _zip_plan(
    archive: zipfile.ZipFile, display: str, limit: int
) -> tuple[list[str], list[tuple[zipfile.ZipInfo, str, int]], dict[str, str]]:
    """Check every zip entry; return the folders, the files and the symlinks to create."""
    folders: list[str] = []
    files: list[tuple[zipfile.ZipInfo, str, int]] = []
    symlinks: dict[str, str] = {}
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = zip_entry_name(info)
        if info.flag_bits & 0x1:
            raise SourceError(
                f"zip archive {display!r} is encrypted (entry {name!r}); modelshelf "
                "cannot decrypt it: extract it yourself and save the folder"
            )
        rel = normalise_entry(name, display, backslash_is_separator=True)
        if not rel:
            continue
        if rel in seen:
            raise unsafe_entry(display, name, "appears twice")
        seen.add(rel)
        mode = info.external_attr >> 16  # the unix mode, when the zip was made on unix
        kind = stat.S_IFMT(mode)
        if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
            raise unsafe_entry(display, name, "is a device file, a FIFO or a socket")
        if kind == stat.S_IFLNK:
            if info.file_size > _MAX_LINK_TARGET:
                raise unsafe_entry(display, name, "is a symbolic link with a huge target")
            try:
                symlinks[rel] = archive.read(info).decode("utf-8")
            except (UnicodeDecodeError, *STREAM_ERRORS, zipfile.BadZipFile) as exc:
                raise unsafe_entry(
                    display, name, f"is an unreadable symbolic link ({exc})"
                ) from exc
        elif kind == stat.S_IFDIR or name.endswith(("/", "\\")):
            folders.append(rel)
        else:
            total += info.file_size
            files.append((info, rel, 0o755 if mode & stat.S_IXUSR else 0o644))
    check_archive_size(total, limit, display)
    check_links(display, sorted(seen), symlinks, {})
    return folders, files, symlinks


def _extract_zip(path: str, dest: str, limit: int, display: str) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{display!r} is not a readable zip archive: {exc}") from exc
    with archive:
        folders, files, symlinks = _zip_plan(archive, display, limit)
        for rel in folders:
            os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for info, rel, mode in files:
            _write_zip_member(archive, info, dest, rel, mode, display)
        # Links last, so that no file above was ever written through one.
        for rel, target in symlinks.items():
            link = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            try:
                os.symlink(target, link)
            except OSError as exc:
                raise unsafe_entry(display, rel, f"could not be created as a link ({exc})") from exc


def _write_zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: str, rel: str, mode: int, display: str
) -> None:
    """Write one entry as ``dest/rel``, refusing more bytes than its header declared."""
    try:
        with archive.open(info) as src:
            write_entry(src, dest, rel, mode, info.file_size, display)
    except NotImplementedError as exc:
        raise SourceError(
            f"zip archive {display!r} uses an unsupported compression for {rel!r}: "
            f"{exc}; re-create it with deflate, bzip2 or lzma"
        ) from exc
    except (zipfile.BadZipFile, *STREAM_ERRORS) as exc:
        raise unsafe_entry(
            display, rel, f"is damaged or its header lies about its content ({exc})"
        ) from exc


def write_entry(src: Any, dest: str, rel: str, mode: int, size: int, display: str) -> None:
    """Copy the readable ``src`` to the new file ``dest/rel`` (never through a link, never
    over a file), refusing more than the ``size`` bytes its header declared."""
    target = os.path.join(dest, rel)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd = os.open(target, flags, mode)
    except OSError as exc:
        raise unsafe_entry(display, rel, f"could not be written ({exc})") from exc
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > size:
                raise unsafe_entry(
                    display, rel, f"holds more than the {size:,} bytes its header declares"
                )
            out.write(chunk)


def _decompress_single(
    path: str, dest: str, limit: int, display: str, name: str, suffix: str
) -> None:
    """Decompress a .gz/.bz2/.xz that holds one file, stopping at ``limit`` bytes."""
    rel = normalise_entry(name or "data", display, backslash_is_separator=True)
    written = 0
    try:
        with _COMPRESSED[suffix](path, "rb") as src, open(os.path.join(dest, rel), "xb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                check_archive_size(written, limit, display)
                out.write(chunk)
    except STREAM_ERRORS as exc:
        raise SourceError(f"could not decompress {display!r}: {exc}") from exc
