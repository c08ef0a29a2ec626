"""One strict rule for model names, aliases, references and in-model paths.

Names end up as path components on local disks and object stores, so they are checked here,
in the core, after any decoding, before they touch storage (MLflow's path-traversal CVEs came
from ``../``, backslashes, ``%2e`` and friends slipping past a face's check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from modelshelf.core.errors import InvalidNameError

# Spaces are allowed because job outputs are named "Job - <job name> Worker <n>".
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_MAX_PATH = 1024


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError("a model name cannot be empty")
    if not _NAME.fullmatch(name) or ".." in name or name.endswith((" ", ".")) or "  " in name:
        raise InvalidNameError(
            f"invalid model name {name!r}: use 1-128 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit (no '..', '/', ':', '@' or '%')"
        )
    return name


def validate_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias (e.g. ``production``)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias == "latest":
        raise InvalidNameError(
            f"invalid alias {alias!r}: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter ('latest' is reserved)"
        )
    return alias


def validate_relpath(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside a model.

    Refuses absolute paths, drive letters, backslashes, ``.``/``..`` and empty components,
    and control characters, so a manifest can never name a file outside its model folder.
    """
    if not isinstance(path, str) or not path:
        raise InvalidNameError("a file path inside a model cannot be empty")
    bad = (
        len(path) > _MAX_PATH
        or path.startswith("/")
        or "\\" in path
        or re.match(r"^[A-Za-z]:", path) is not None
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in path)
        or any(part in ("", ".", "..") for part in path.split("/"))
    )
    if bad:
        raise InvalidNameError(
            f"unsafe file path {path!r}: paths inside a model must be relative, use '/' as "
            "separator and contain no '.', '..' or empty parts"
        )
    return path


def validate_client_relpath(path: str, decodings: int = 3) -> str:
    """:func:`validate_relpath` for a path a client sent, also after percent-decoding it.

    A path from a browser or an HTTP client may be decoded again later by some tool, so
    ``%2e%2e/x`` and ``%252e%252e`` (``..`` decoded once or twice) are refused as well.
    """
    form = validate_relpath(path)
    for _ in range(decodings):
        decoded = unquote(form)
        if decoded == form:
            break
        try:
            form = validate_relpath(decoded)
        except InvalidNameError:
            raise InvalidNameError(
                f"unsafe file path {path!r}: percent-decoded it reads {decoded!r}; rename the "
                "file so that its name holds no '%' escapes"
            ) from None
    return path


@dataclass(frozen=True)
class Ref:
    """A parsed model reference: ``name``, ``name:3`` or ``name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str | Ref) -> Ref:
    """Parse a model reference; raise :class:`InvalidNameError` on a malformed one."""
    if isinstance(ref, Ref):
        return ref
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidNameError(
            "a model reference cannot be empty: use NAME, NAME:VERSION or NAME@ALIAS"
        )
    if "@" in ref:
        name, _, alias = ref.rpartition("@")
        return Ref(validate_name(name), alias=validate_alias(alias))
    if ":" in ref:
        name, _, version = ref.rpartition(":")
        if version == "latest":
            return Ref(validate_name(name))
        if not version.isdigit() or int(version) < 1:
            raise InvalidNameError(
                f"invalid version in {ref!r}: a version is a whole number starting at 1"
            )
        return Ref(validate_name(name), version=int(version))
    return Ref(validate_name(ref))
