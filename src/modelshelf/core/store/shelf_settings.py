"""What a :class:`~modelshelf.core.store.shelf.Shelf` is configured by (traitlets:
``c.Shelf.root``, ``MODELSHELF_*`` variables), and where models go by default."""

from __future__ import annotations

import json
import os
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Integer, Unicode, Union, default, validate
from traitlets.config import Configurable

from modelshelf.core.sizes import parse_size
from modelshelf.core.store.digests import ALGORITHMS, DEFAULT

DEFAULT_MODEL_PATH = "/opt/ml/models"
DEFAULT_OUTPUT_PATH = "/opt/ml/output"


class ShelfSettings(Configurable):
    """The settings of a store; :class:`Shelf` is configured as ``c.Shelf.<setting>``."""

    root = Unicode(help="Store root: a local folder or an fsspec URL (s3://, gs://, ...).").tag(
        config=True
    )
    storage_options = Dict(help="fsspec storage options for the root URL.").tag(config=True)
    max_model_size = Union(
        [Integer(), Unicode()], help="Largest model accepted: bytes or a size like '50GB'."
    ).tag(config=True)
    workers = Integer(0, help="Parallel file transfers; 0 picks a default per backend.").tag(
        config=True
    )
    lock_wait = Float(60.0, help="Seconds a save or gc waits for a conflicting lock.").tag(
        config=True
    )
    shared = Bool(
        False,
        help="The local root is a network folder mounted at the same path on every machine "
        "(lets Dask workers use it).",
    ).tag(config=True)
    fsync = Bool(False, help="fsync blobs and manifests on local stores (slower, durable).").tag(
        config=True
    )
    new_store_digest = Enum(
        ALGORITHMS,
        DEFAULT,
        help="Digest of stores created from now on (an existing store keeps its own).",
    ).tag(config=True)

    @default("root")
    def _default_root(self) -> str:
        return os.environ.get("MODELSHELF_ROOT") or os.path.expanduser("~/.modelshelf")

    @default("storage_options")
    def _default_storage_options(self) -> dict:
        # Set for a job's processes, so code inside a job reaches the same store.
        text = os.environ.get("MODELSHELF_STORAGE_OPTIONS")
        return json.loads(text) if text else {}

    @default("max_model_size")
    def _default_max_size(self) -> int:
        return parse_size(os.environ.get("MODELSHELF_MAX_MODEL_SIZE") or "50GB")

    @validate("max_model_size")
    def _check_max_size(self, proposal: Any) -> int:
        return parse_size(proposal["value"])


def default_model_path() -> str:
    """Where models are loaded by default: ``ML_MODEL_PATH`` or /opt/ml/models."""
    return os.environ.get("ML_MODEL_PATH") or DEFAULT_MODEL_PATH


def default_output_path() -> str:
    """Where a notebook writes its output: ``ML_OUTPUT_PATH`` or /opt/ml/output."""
    return os.environ.get("ML_OUTPUT_PATH") or DEFAULT_OUTPUT_PATH
