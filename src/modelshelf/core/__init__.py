"""modelshelf's core: pure Python, no Jupyter imports (faces import the core, never back).

- :mod:`.store`: versioned models (blobs, manifests, aliases, leases); :mod:`.sources`: where
  a save's files come from; :mod:`.jobs`: notebooks run as jobs; :mod:`.deploy`: serving;
- :mod:`.errors`: every error type; :mod:`.facts` (with :mod:`.html`): each object's facts,
  stated once and rendered as text or HTML for every face; :mod:`.state`: the SQLite books
  of local runtime state; :mod:`.renewal`: the loop that keeps leases and locks alive.

Names are loaded on first use (PEP 562), so importing one module of the core stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelshelf.core.lazy import lazy_names

if TYPE_CHECKING:
    from modelshelf.core.errors import (
        IntegrityError,
        InvalidNameError,
        MissingDependencyError,
        ModelInUseError,
        ModelNotFoundError,
        ModelshelfError,
        SizeLimitError,
        SourceError,
        StorageError,
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
        default_output_path,
    )

_HOMES = {
    "IntegrityError": "modelshelf.core.errors",
    "InvalidNameError": "modelshelf.core.errors",
    "MissingDependencyError": "modelshelf.core.errors",
    "ModelInUseError": "modelshelf.core.errors",
    "ModelNotFoundError": "modelshelf.core.errors",
    "ModelshelfError": "modelshelf.core.errors",
    "SizeLimitError": "modelshelf.core.errors",
    "SourceError": "modelshelf.core.errors",
    "StorageError": "modelshelf.core.errors",
    "StoreBusyError": "modelshelf.core.errors",
    "UnsafeArchiveError": "modelshelf.core.errors",
    "Progress": "modelshelf.core.progress",
    "AliasMove": "modelshelf.core.store",
    "FileEntry": "modelshelf.core.store",
    "FsckReport": "modelshelf.core.store",
    "GcReport": "modelshelf.core.store",
    "Lease": "modelshelf.core.store",
    "ModelDiff": "modelshelf.core.store",
    "ModelSummary": "modelshelf.core.store",
    "ModelVersion": "modelshelf.core.store",
    "Shelf": "modelshelf.core.store",
    "default_model_path": "modelshelf.core.store",
    "default_output_path": "modelshelf.core.store",
}
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
    "StorageError",
    "StoreBusyError",
    "UnsafeArchiveError",
    "default_model_path",
    "default_output_path",
]


__getattr__ = lazy_names(__name__, _HOMES)
