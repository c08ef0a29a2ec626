"""Which server-side paths and URLs a REST client may name.

A browser user can ask the server to read a folder (a save's source, a job's data) or a
notebook. They may name: paths under the server's root (as Jupyter's file browser shows
them), absolute paths under the configured source roots (``/opt/ml/models`` ...), and remote
URLs of the object stores and protocols modelshelf ingests. Everything else, including
``..`` tricks, symlinks out of a root, ``file://`` and fsspec chains such as
``simplecache::file:///etc``, is refused with a 400.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from modelshelf.core.deploy.handler_service import split_handler
from modelshelf.core.errors import ModelNotFoundError, ServerPathError
from modelshelf.core.sources.roots import SCHEME, checked_text, path_under_roots

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "http", "https", "ftp")


def is_remote(text: str) -> bool:
    """True for URLs modelshelf fetches over the network (never the server's own files)."""
    if "::" in text:
        return False
    if text.startswith("git+") or text.startswith("kaggle:"):
        return True
    match = SCHEME.match(text)
    return bool(match) and match.group(1).lower() in REMOTE_SCHEMES


def local_path(
    text: str, root_dir: str, extra_roots: Iterable[str] = (), what: str = "path"
) -> str:
    """The real path that ``text`` names, if it is under ``root_dir`` or an extra root.

    ``text`` is relative to ``root_dir`` (as Jupyter's contents API writes paths), or absolute;
    symlinks are resolved before the check, so a link out of a root is refused too.
    """
    return path_under_roots(
        text,
        [root_dir, *extra_roots],
        base=root_dir,
        what=what,
        widen="set c.ModelshelfApp.source_roots to allow more",
    )


def source_or_url(text: str, root_dir: str, extra_roots: Iterable[str]) -> str:
    """A save's source or a job's data: a remote URL as given, or a checked local path."""
    text = checked_text(text, "source")
    return text if is_remote(text) else local_path(text, root_dir, extra_roots, "source")


def handler_path(text: str, root_dir: str, extra_roots: Iterable[str]) -> str:
    """A handler service, ``FILE.py[:FUNC]``, its file checked as a local path; it must exist."""
    file, function = split_handler(checked_text(text, "handler"))
    path = local_path(file, root_dir, extra_roots, "handler")
    if not path.endswith(".py"):
        raise ServerPathError(f"the handler {text!r} is not a Python file (FILE.py[:FUNC])")
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"no handler file {file!r} under the server's root")
    return f"{path}:{function}" if function else path


def find_links_location(text: str, root_dir: str, extra_roots: Iterable[str]) -> str:
    """A wheel folder for a model environment's installer: an http(s) URL as given, or a
    checked local folder that exists."""
    text = checked_text(text, "find-links location")
    if text.lower().startswith(("http://", "https://")):
        return text
    path = local_path(text, root_dir, extra_roots, "find-links folder")
    if not os.path.isdir(path):
        raise ModelNotFoundError(f"no find-links folder {text!r} under the server's root")
    return path


def program_path(text: str, root_dir: str) -> str:
    """What a job runs, under the server's root: a notebook, a ``.py`` script, or a package
    folder (run with a pipeline); it must exist."""
    path = local_path(text, root_dir, (), "program")
    if os.path.isdir(path):
        return path
    if not path.endswith((".ipynb", ".py")):
        raise ServerPathError(
            f"{text!r} is not a notebook (.ipynb), a script (.py) or a package folder"
        )
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"no notebook or script {text!r} under the server's root")
    return path


def notebook_path(text: str, root_dir: str) -> str:
    """A notebook named by its path under the server's root; it must exist."""
    path = local_path(text, root_dir, (), "notebook")
    if not path.endswith(".ipynb"):
        raise ServerPathError(f"{text!r} is not a notebook (.ipynb)")
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"no notebook {text!r} under the server's root")
    return path
