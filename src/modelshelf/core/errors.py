"""The package's own error types.

Every error a user can cause derives from :class:`ModelshelfError`; its message says what was
wrong and what to do, so the CLI and the magics can print it as one line.
"""

from __future__ import annotations


class ModelshelfError(Exception):
    """Base class of every error modelshelf raises on purpose."""


class InvalidNameError(ModelshelfError, ValueError):
    """A model name, alias, reference or in-model path breaks the naming rules."""


class ModelNotFoundError(ModelshelfError, LookupError):
    """The model, version, alias or file asked for does not exist."""


class SourceError(ModelshelfError):
    """A save source is missing, unreachable or of an unsupported kind."""


class UnsafeArchiveError(SourceError):
    """An archive holds an entry that would escape the target or is too large."""


class SizeLimitError(ModelshelfError):
    """A model or an archive is larger than the configured limit."""


class ModelInUseError(ModelshelfError):
    """A version cannot be deleted while leases or aliases hold it."""

    def __init__(self, message: str, holders: list[str] | None = None) -> None:
        super().__init__(message)
        #: Who holds the version: lease owners, or ``alias <name>`` for aliases.
        self.holders = list(holders or [])


class IntegrityError(ModelshelfError):
    """Stored bytes do not match their recorded sha256: the blob is damaged."""


class StorageError(ModelshelfError):
    """The store's storage could not be reached or refused the request (credentials, network)."""


class StoreBusyError(ModelshelfError):
    """Another process holds a lock that this operation must wait for."""


class MissingDependencyError(ModelshelfError, ImportError):
    """An optional package is needed for this operation and is not installed."""
