"""Content-addressed blobs and immutable manifests on any fsspec URL."""

from modelshelf.core.store.aliases import AliasMove
from modelshelf.core.store.catalog import VersionListing
from modelshelf.core.store.diff import ModelDiff
from modelshelf.core.store.leases import Lease
from modelshelf.core.store.maintenance import FsckReport, GcReport
from modelshelf.core.store.manifest import FileEntry, ModelVersion
from modelshelf.core.store.shelf import ModelSummary, Shelf, StagedFiles
from modelshelf.core.store.shelf_settings import default_model_path, default_output_path

__all__ = [
    "AliasMove",
    "FileEntry",
    "FsckReport",
    "GcReport",
    "Lease",
    "ModelDiff",
    "ModelSummary",
    "ModelVersion",
    "Shelf",
    "StagedFiles",
    "VersionListing",
    "default_model_path",
    "default_output_path",
]
