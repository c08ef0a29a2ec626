"""Local paths a client may name: only under allowed root folders, after resolving them.

A client of a server (a REST caller, a multi-model endpoint's ``POST /models``) may ask it to
read a local folder. The path is checked in the form that will be opened: ``file://`` URLs
are decoded first, relative paths joined to a base, then every symlink and ``..`` resolved
(``os.path.realpath``), and only then compared with the roots (resolved too). So ``..``
tricks, links out of a root and absolute paths elsewhere are all refused the same way, with
:class:`~modelshelf.core.errors.PathNotAllowedError`; a backslash, a NUL or an fsspec chain
(``simplecache::file:///etc``) is refused before anything is resolved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

from modelshelf.core.errors import PathNotAllowedError

SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
FILE_URL = "file://"


def checked_text(text: str, what: str) -> str:
    """``text`` stripped; PathNotAllowedError if it is empty or holds characters no path
    given here may have (NUL, a backslash, an fsspec chain's ``::``)."""
    text = (text or "").strip()
    if not text:
        raise PathNotAllowedError(f"the {what} is empty: give a path or a URL")
    if "\x00" in text or "\\" in text or "::" in text:
        raise PathNotAllowedError(f"the {what} {text!r} contains characters paths here cannot have")
    return text


def is_inside(path: str, roots: Iterable[str]) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` (resolved here) or lies under one."""
    for root in roots:
        base = os.path.realpath(root)
        if path == base or path.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def path_under_roots(
    text: str,
    roots: Sequence[str],
    *,
    base: str | None = None,
    what: str = "path",
    reader: str = "this server",
    widen: str = "",
) -> str:
    """The real path ``text`` names, if it lies under one of ``roots``.

    ``text`` is an absolute path or a ``file://`` URL, or relative to ``base`` when one is
    given. ``reader`` and ``widen`` finish the refusal: who may not read the path, and how
    to allow more folders.
    """
    text = checked_text(text, what)
    given = text
    if text.lower().startswith(FILE_URL):
        text = unquote(text[len(FILE_URL) :])
    if SCHEME.match(text):
        raise PathNotAllowedError(f"the {what} {given!r} is a URL {reader} does not read")
    if not os.path.isabs(text):
        if base is None:
            raise PathNotAllowedError(
                f"the {what} {given!r} is not an absolute path: name the folder from the root"
            )
        text = os.path.join(base, text)
    real = os.path.realpath(text)
    if not is_inside(real, roots):
        allowed = ", ".join(roots) or "none"
        raise PathNotAllowedError(
            f"the {what} {given!r} is outside the folders {reader} may read ({allowed})"
            + (f"; {widen}" if widen else "")
        )
    return real
