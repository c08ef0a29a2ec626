"""Where a model's files come from: a folder, a URL, an archive, git or kaggle.

:func:`open_source` turns whatever the user passed into a :class:`SourceTree`, a flat list of
files with their relative paths and sizes, without copying local folders. Remote folders are
read straight from their filesystem; archives are extracted safely into a temporary folder
that lives as long as the context.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from modelshelf.core.errors import (
    InvalidNameError,
    MissingDependencyError,
    ModelshelfError,
    SourceError,
)
from modelshelf.core.names import validate_relpath
from modelshelf.core.sources.archives import (
    DEFAULT_EXTRACT_LIMIT,
    archive_kind,
    extract_archive,
    temporary_folder,
)
from modelshelf.core.sources.tree import (
    URL_PATTERN,
    SourceFile,
    SourceTree,
    check_size,
    checked_tree,
    expand_local,
    redact_url,
    scrub_userinfo,
    walk_local_folder,
)
from modelshelf.core.sources.vcs import git_source, git_spec, kaggle_source

__all__ = [
    "SourceFile",
    "SourceTree",
    "check_size",
    "copy_source",
    "expand_local",
    "open_source",
    "redact_url",
    "walk_local_folder",
]

_CHUNK = 1 << 20
# The pip extra that brings each protocol's fsspec implementation.
_EXTRAS = {
    protocol: extra
    for extra, protocols in (
        ("s3", "s3 s3a"),
        ("gcs", "gs gcs"),
        ("azure", "az abfs abfss adl"),
        ("http", "http https"),
    )
    for protocol in protocols.split()
}


@contextmanager
def open_source(
    source: str,
    *,
    max_size: int = 0,
    storage_options: dict | None = None,
) -> Iterator[SourceTree]:
    """Resolve ``source`` into a :class:`SourceTree` for the duration of the context.

    ``source`` is a local folder, file or archive; an fsspec URL (``s3://``, ``gs://``,
    ``az://``, ``http(s)://``, ``memory://``, ...: a trailing ``/`` or a directory means the
    whole folder, an archive is downloaded and extracted); a git repository (``git+<url>[@rev]``,
    ``git://...`` or a URL ending in ``.git``); or ``kaggle:<owner>/<dataset>``.
    Temporary files are removed when the context exits.

    Raises :class:`SourceError` for a missing, unreachable or unsupported source,
    :class:`UnsafeArchiveError` for a dangerous archive, :class:`MissingDependencyError` when an
    optional package is needed and :class:`SizeLimitError` when it is larger than ``max_size``
    (0 means no limit for folders and 50 GB for what an archive may unpack to).
    """
    if not isinstance(source, str) or not source.strip():
        raise SourceError("no source given: pass a folder, a URL or an archive to save")
    source = source.strip()
    git = git_spec(source)
    if source.lower().startswith("kaggle:"):
        resolved = kaggle_source(source, max_size)
    elif git is not None:
        resolved = git_source(source, git[0], git[1], max_size)
    elif source.lower().startswith("file://"):
        resolved = _local_source(_file_url_path(source), source, max_size)
    elif URL_PATTERN.match(source):
        resolved = _remote_source(source, max_size, dict(storage_options or {}))
    else:
        resolved = _local_source(expand_local(source), source, max_size)
    with resolved as tree:
        yield tree


def copy_source(source: str, dest: str, storage_options: dict | None = None) -> None:
    """Copy the files of a folder, URL or archive (extracted safely) into ``dest``."""
    with open_source(source, storage_options=storage_options) as tree:
        for item in tree.files:
            target = os.path.join(dest, *item.relpath.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with item.open() as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 4 * 2**20)


def _file_url_path(source: str) -> str:
    parts = urlsplit(source)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"{source!r} names another host: file:// URLs must be local paths")
    return expand_local(unquote(parts.path))


@contextmanager
def _local_source(path: str, source: str, max_size: int) -> Iterator[SourceTree]:
    """A local folder as is, a local archive extracted, or a single local file."""
    if not os.path.exists(path):
        raise SourceError(f"source {source!r} does not exist (looked for {path}): check the path")
    if os.path.isdir(path):
        yield checked_tree(SourceTree(path, walk_local_folder(path)), max_size, source)
        return
    if archive_kind(path) is not None:
        with temporary_folder() as tmp:
            extract_archive(path, tmp, limit=max_size, name=path)
            yield checked_tree(SourceTree(path, walk_local_folder(tmp)), max_size, source)
        return
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"source {source!r} is neither a folder nor a regular file")
    name = validate_relpath(os.path.basename(path))
    one = SourceFile(name, st.st_size, local_path=path, mode=stat.S_IMODE(st.st_mode))
    yield checked_tree(SourceTree(path, [one]), max_size, source)


def _filesystem(source: str, options: dict, display: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``source``, with helpful errors."""
    import fsspec

    protocols = re.findall(r"([A-Za-z][A-Za-z0-9+.-]*)(?:://|::)", source)
    protocol = next((p for p in protocols if p.lower() in _EXTRAS), protocols[-1]).lower()
    try:
        return fsspec.core.url_to_fs(source, **options)
    except ImportError as exc:
        extra = _EXTRAS.get(protocol)
        hint = f"pip install 'modelshelf[{extra}]'" if extra else "install the package it names"
        raise MissingDependencyError(
            f"reading {protocol}:// sources needs an optional package ({exc}): {hint}"
        ) from exc
    except ValueError as exc:
        if "Protocol not known" not in str(exc):
            raise SourceError(f"could not open {display}: {exc}") from exc
        raise MissingDependencyError(
            f"no filesystem is known for {protocol}:// ({display}): check the URL, or install "
            "the fsspec implementation for it (s3: pip install 'modelshelf[s3]', gs: [gcs], "
            "az/abfs: [azure], http(s): [http])"
        ) from exc
    except Exception as exc:
        raise SourceError(f"could not open {display}: {scrub_userinfo(str(exc), source)}") from exc


def _connection_failure(exc: BaseException) -> BaseException | None:
    """The connection error behind ``exc`` (fsspec's http reports them as not found)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError) or "Connect" in type(current).__name__:
            return current
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def _remote_errors(source: str) -> Iterator[None]:
    """Turn a filesystem's errors into :class:`SourceError` saying what to check."""
    display = redact_url(source)
    try:
        yield
    except ModelshelfError:
        raise
    except Exception as exc:
        failure = _connection_failure(exc)
        if failure is not None:
            problem, hint = f"could not connect to {display}", "the host name, port and network"
            exc_text = str(failure)
        elif isinstance(exc, FileNotFoundError):
            raise SourceError(
                f"{display} does not exist: check the URL (bucket, prefix or file name)"
            ) from exc
        elif isinstance(exc, PermissionError):
            problem, hint = f"access to {display} was denied", "your credentials"
            exc_text = str(exc)
        else:
            problem, hint = f"could not read {display}", "the URL and your network"
            exc_text = f"{type(exc).__name__}: {exc}"
        raise SourceError(
            f"{problem} ({scrub_userinfo(exc_text, source)}): check {hint}, and storage_options"
        ) from exc


@contextmanager
def _remote_source(source: str, max_size: int, options: dict) -> Iterator[SourceTree]:
    """An fsspec folder read in place, or one file (an archive is downloaded and extracted)."""
    display = redact_url(source)
    fs, path = _filesystem(source, options, display)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    is_http = bool(protocols & {"http", "https"})
    info: dict | None = None
    with _remote_errors(source):
        if source.endswith("/"):
            is_folder = True
        elif is_http:  # http has no directories, only pages of links
            is_folder = False
        else:
            info = fs.info(path)
            is_folder = info.get("type") == "directory"
    if is_folder:
        files = _list_remote(fs, path, source, is_http)
        yield checked_tree(SourceTree(display, files), max_size, source)
        return
    name = posixpath.basename(urlsplit(path).path if is_http else path.rstrip("/"))
    try:
        name = validate_relpath(unquote(name) if is_http else name)
    except InvalidNameError as exc:
        raise SourceError(f"{display} does not name a file to store: {exc}") from exc
    size = info.get("size") if info else None
    if size is None and archive_kind(name) is None:
        with _remote_errors(source):
            size = fs.info(path).get("size")
    if size is not None and archive_kind(name) is None:
        one = SourceFile(name, int(size), fs=fs, fs_path=path)
        yield checked_tree(SourceTree(display, [one]), max_size, source)
        return
    with temporary_folder() as tmp:
        local = os.path.join(tmp, "download", name)
        if archive_kind(name) is None:  # no size announced: fetch it to know it
            _download(fs, path, local, max_size or DEFAULT_EXTRACT_LIMIT, source)
            one = SourceFile(name, os.path.getsize(local), local_path=local)
            yield checked_tree(SourceTree(display, [one]), max_size, source)
            return
        # Containers add headers and padding, so the download may be a bit larger than the
        # content; twice the limit still stops an endless or absurd download early.
        cap = 2 * max_size + (64 << 20) if max_size else DEFAULT_EXTRACT_LIMIT
        _download(fs, path, local, cap, source)
        folder = os.path.join(tmp, "files")
        extract_archive(local, folder, limit=max_size, name=display)
        yield checked_tree(SourceTree(display, walk_local_folder(folder)), max_size, source)


def _list_remote(fs: Any, path: str, source: str, is_http: bool) -> list[SourceFile]:
    """Every file under a remote folder, without downloading anything."""
    display = redact_url(source)
    with _remote_errors(source):
        found = fs.find(path, detail=True)
    root = path.rstrip("/") + "/"
    files: list[SourceFile] = []
    for name, info in sorted(found.items()):
        if info.get("type") == "directory" or name.endswith("/") or not name.startswith(root):
            continue  # folder markers, and links out of the folder on an http index page
        rel = name[len(root) :]
        if is_http:
            if "?" in rel or "#" in rel:
                continue  # sorting links of an index page
            rel = unquote(rel)
        try:
            rel = validate_relpath(rel)
        except InvalidNameError as exc:
            raise SourceError(f"{display} holds a file that cannot be stored: {exc}") from exc
        size = info.get("size")
        if size is None:  # http listings carry no sizes
            with _remote_errors(source):
                size = fs.info(name).get("size")
        if size is None:
            raise SourceError(f"{display}: the server does not say how large {rel!r} is")
        files.append(SourceFile(rel, int(size), fs=fs, fs_path=name))
    if not files:
        raise SourceError(f"no files found under {display}: check the URL and the prefix")
    return files


def _download(fs: Any, path: str, target: str, cap: int, source: str) -> None:
    """Copy one remote file to ``target``, stopping once it exceeds ``cap`` bytes."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    written = 0
    with _remote_errors(source), fs.open(path, "rb") as src, open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            check_size(written, cap, f"download of {redact_url(source)!r}")
            out.write(chunk)
