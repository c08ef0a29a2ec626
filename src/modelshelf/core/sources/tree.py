"""The shape every source takes: a flat list of files, and a description safe to record."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit

from modelshelf.core.errors import SizeLimitError
from modelshelf.core.names import validate_relpath

URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*(://|::)")  # also chains (simplecache::s3://)
_SECRET_PARAM = re.compile(r"(?i)sig|token|key|secret|pass|credential|auth")


@dataclass(frozen=True)
class SourceFile:
    """One file to store: its path inside the model and how to read it."""

    relpath: str
    size: int
    local_path: str | None = None
    fs: Any = None
    fs_path: str | None = None
    mode: int = 0o644

    def open(self) -> BinaryIO:
        """Open the file for reading, wherever it lives."""
        if self.local_path is not None:
            return open(self.local_path, "rb")
        return self.fs.open(self.fs_path, "rb")


@dataclass
class SourceTree:
    """The files of a source, and the canonical description recorded in the manifest."""

    description: str
    files: list[SourceFile] = field(default_factory=list)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def expand_local(path: str) -> str:
    """Expand ``~`` and ``$VARS`` and make a local path absolute (relative to the cwd)."""
    return os.path.abspath(os.path.expanduser(os.path.expandvars(path)))


def check_size(total: int, max_size: int, what: str) -> None:
    """Refuse, before anything is written, a source larger than ``max_size`` bytes."""
    if max_size and total > max_size:
        raise SizeLimitError(
            f"{what} holds {total:,} bytes, over the limit of {max_size:,} bytes; "
            "raise Shelf.max_model_size (or MODELSHELF_MAX_MODEL_SIZE) if this is intended"
        )


def walk_local_folder(folder: str) -> list[SourceFile]:
    """List the regular files under ``folder``, following symlinks to files.

    Symlinked folders are not followed (they may loop); sockets, FIFOs and devices are
    skipped because they have no content to store.
    """
    files: list[SourceFile] = []
    stack = [(folder, "")]
    while stack:
        current, rel = stack.pop()
        with os.scandir(current) as scan:
            for item in scan:
                relpath = f"{rel}/{item.name}" if rel else item.name
                if item.is_dir(follow_symlinks=False):
                    stack.append((item.path, relpath))
                    continue
                try:
                    st = item.stat(follow_symlinks=True)
                except FileNotFoundError:
                    continue  # a dangling symlink has nothing to store
                if not stat.S_ISREG(st.st_mode):
                    continue
                files.append(
                    SourceFile(
                        relpath=validate_relpath(relpath),
                        size=st.st_size,
                        local_path=item.path,
                        mode=stat.S_IMODE(st.st_mode),
                    )
                )
    files.sort(key=lambda f: f.relpath)
    return files


def redact_url(url: str) -> str:
    """``url`` without its user info and with secret-looking query values masked."""
    return "::".join(_redact_one(part) for part in url.split("::"))


def _redact_one(url: str) -> str:
    prefix, body = ("git+", url[4:]) if url.startswith("git+") else ("", url)
    try:
        parts = urlsplit(body)
    except ValueError:
        return url
    if "://" not in body or not parts.scheme:
        return url
    netloc = parts.netloc
    # github://org:repo@sha/ puts the repository, not a secret, in the user info.
    if "@" in netloc and parts.scheme.lower() != "github":
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SECRET_PARAM.search(key) for key, _ in pairs):
        query = urlencode(
            [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # untouched, exactly as given (urlunsplit would drop the // of memory:///x)
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return prefix + rebuilt + (f"#{parts.fragment}" if parts.fragment else "")


def scrub_userinfo(text: str, source: str) -> str:
    """Remove the user info of ``source`` from an error text (tools may echo the URL)."""
    for part in re.findall(r"://([^/@\s]+)@", source):
        text = text.replace(part, "***")
    return text


def checked_tree(tree: SourceTree, max_size: int, source: str) -> SourceTree:
    check_size(tree.total_size, max_size, f"source {redact_url(source)!r}")
    return tree
