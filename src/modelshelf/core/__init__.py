"""modelshelf's core: pure Python, no Jupyter imports (faces import the core, never back)."""

from modelshelf.core.errors import (
    IntegrityError,
    InvalidNameError,
    MissingDependencyError,
    ModelInUseError,
    ModelNotFoundError,
    ModelshelfError,
    SizeLimitError,
    SourceError,
    StoreBusyError,
    UnsafeArchiveError,
)
from modelshelf.core.progress import Progress
from modelshelf.core.store import (
    AliasMove,
    FileEntry,
    FsckReport,
    GcReport,
    Lease,
    ModelDiff,
    ModelSummary,
    ModelVersion,
    Shelf,
    default_model_path,
)

__all__ = [
    "AliasMove",
    "FileEntry",
    "FsckReport",
    "GcReport",
    "IntegrityError",
    "InvalidNameError",
    "Lease",
    "MissingDependencyError",
    "ModelDiff",
    "ModelInUseError",
    "ModelNotFoundError",
    "ModelSummary",
    "ModelVersion",
    "ModelshelfError",
    "Progress",
    "Shelf",
    "SizeLimitError",
    "SourceError",
    "StoreBusyError",
    "UnsafeArchiveError",
    "default_model_path",
]
