"""The checks an archive passes before anything of it is written: each entry's path is a safe
relative path, links stay inside the folder (also through other links of the archive), no
entry lies beneath a link, no device file or FIFO, and the declared sizes fit the limit.
:mod:`.archives` and :mod:`.tar_stream` extract only what these accept.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from collections import deque
from collections.abc import Iterable

from modelshelf.core.errors import InvalidNameError, UnsafeArchiveError
from modelshelf.core.names import validate_relpath
from modelshelf.core.sources.tree import check_size

_MAX_LINK_HOPS = 40  # as the Linux kernel's symlink limit


def unsafe_entry(display: str, entry: str, problem: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refused to extract archive {display!r}: entry {entry!r} {problem}; nothing was "
        "extracted (the archive is damaged or malicious: check where it came from)"
    )


def check_archive_size(total: int, limit: int, display: str) -> None:
    check_size(total, limit, f"archive {display!r} (uncompressed)")


def normalise_entry(raw: str, display: str, *, backslash_is_separator: bool) -> str:
    """The safe relative POSIX path of an entry, or ``""`` for the archive root."""
    name = raw.replace("\\", "/") if backslash_is_separator else raw
    # Backslashes count as separators for these checks even in tars: Windows tools read them so.
    if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
        raise unsafe_entry(display, raw, "has an absolute path")
    if ".." in re.split(r"[/\\]", raw):
        raise unsafe_entry(display, raw, "climbs out of the archive with '..'")
    rel = "/".join(part for part in name.split("/") if part not in ("", "."))
    if rel:
        try:
            validate_relpath(rel)
        except InvalidNameError:
            raise unsafe_entry(
                display, raw, "has a name that is not a safe path (backslash or control character)"
            ) from None
    return rel


def resolve_links(path: str, symlinks: dict[str, str]) -> list[str] | None:
    """Follow ``path`` through the archive's own symlinks; ``None`` if it escapes or loops.

    Checking each link on its own is not enough: with ``x -> .`` the link ``l -> x/..`` looks
    harmless but leads to the parent of the folder.
    """
    pending = deque(path.split("/"))
    out: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = symlinks.get("/".join(out))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS or target.startswith("/"):
            return None
        out.pop()
        pending.extendleft(reversed(target.split("/")))
    return out


def check_links(
    display: str, names: Iterable[str], symlinks: dict[str, str], hardlinks: dict[str, str]
) -> None:
    """Refuse entries beneath a link and links whose target leaves the folder."""
    for name in names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in symlinks:
                raise unsafe_entry(display, name, f"lies beneath the symbolic link {prefix!r}")
    for name, target in symlinks.items():
        if not target or target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:|.*\\", target):
            raise unsafe_entry(
                display, name, f"is a symbolic link to the absolute or Windows path {target!r}"
            )
        if resolve_links(posixpath.join(posixpath.dirname(name), target), symlinks) is None:
            raise unsafe_entry(
                display, name, f"is a symbolic link to {target!r}, outside the archive"
            )
    for name, target in hardlinks.items():
        seen = {name}
        linked = normalise_entry(target, display, backslash_is_separator=False)
        while linked in hardlinks and linked not in seen:  # GNU tar may chain hard links
            seen.add(linked)
            linked = normalise_entry(hardlinks[linked], display, backslash_is_separator=False)
        if linked in symlinks:
            raise unsafe_entry(display, name, f"is a hard link to the symbolic link {linked!r}")
        if not linked or resolve_links(linked, symlinks) is None:
            raise unsafe_entry(display, name, f"is a hard link to {target!r}, outside the archive")


def check_tar_member(member: tarfile.TarInfo, dest: str, display: str) -> str:
    """The safe relative path of a tar member (``""``: the root), or UnsafeArchiveError:
    no device file or FIFO, nothing PEP 706's data filter refuses."""
    rel = normalise_entry(member.name, display, backslash_is_separator=False)
    if member.ischr() or member.isblk() or member.isfifo():
        raise unsafe_entry(display, member.name, "is a device file or a FIFO")
    try:
        tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        raise unsafe_entry(
            display, member.name, f"is refused by the tar data filter: {exc}"
        ) from exc
    return rel


class TarPlan:
    """A tar's members added up one by one: their safe paths, their links, their size."""

    def __init__(self, dest: str, display: str) -> None:
        self.dest = dest
        self.display = display
        self.names: list[str] = []
        self.symlinks: dict[str, str] = {}
        self.hardlinks: dict[str, str] = {}
        self.total = 0  # bytes of the regular files

    def add(self, member: tarfile.TarInfo) -> str:
        """Check ``member`` (:func:`check_tar_member`) and count it; its safe relative path,
        ``""`` for the archive's root."""
        rel = check_tar_member(member, self.dest, self.display)
        if not rel:
            return rel
        self.names.append(rel)
        if member.issym():
            self.symlinks[rel] = member.linkname
        elif member.islnk():
            self.hardlinks[rel] = member.linkname
        elif member.isreg():
            self.total += member.size
        return rel

    def check_links(self) -> None:
        """Refuse the archive if a link leads out or an entry lies beneath a link."""
        check_links(self.display, self.names, self.symlinks, self.hardlinks)
