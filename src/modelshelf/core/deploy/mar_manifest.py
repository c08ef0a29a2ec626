"""``context.manifest`` for a handler service: the model archive's own manifest, or one
written for the folder as TorchServe's model archiver would.

A folder unpacked from a ``.mar`` keeps ``MAR-INF/MANIFEST.json``; any other model folder
gets ``{"runtime": "python", "model": {"modelName", "serializedFile", "handler"}}``, naming
its one model file (``serializedFile`` is left out, as the archiver leaves it out, when
the folder has none or several that nothing tells apart).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from modelshelf.core.errors import ServingError

MANIFEST = os.path.join("MAR-INF", "MANIFEST.json")
# Files that are a model's weights rather than its code, parameters or notes.
WEIGHTS = (
    ".pt", ".pth", ".ts", ".onnx", ".so", ".bin", ".safetensors", ".pkl", ".pickle",
    ".joblib", ".h5", ".keras", ".pb", ".tflite", ".params", ".model", ".ubj", ".cbm",
)  # fmt: skip
NOT_WEIGHTS = (".py", ".pyc", ".md", ".txt", ".yaml", ".yml", ".cfg", ".toml", ".ipynb")


def read_manifest(model_dir: str, name: str, handler_path: str) -> dict[str, Any]:
    """The manifest of the model in ``model_dir``, served as ``name`` by ``handler_path``."""
    path = os.path.join(model_dir, MANIFEST)
    if os.path.isfile(path):
        try:
            with open(path) as fh:
                manifest = json.load(fh)
        except ValueError as exc:
            raise ServingError(f"{name}: {MANIFEST} is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise ServingError(f"{name}: {MANIFEST} must hold a JSON object")
        return manifest
    model: dict[str, Any] = {"modelName": name}
    serialized = model_file(model_dir)
    if serialized is not None:
        model["serializedFile"] = serialized
    model["handler"] = os.path.basename(handler_path)
    return {"createdOn": time.strftime("%d/%m/%Y %H:%M:%S"), "runtime": "python", "model": model}


def model_file(model_dir: str) -> str | None:
    """The folder's model file: its one candidate, else its one weights file, else the
    weights file called ``model.*``; None when nothing tells them apart."""
    names = sorted(
        f
        for f in os.listdir(model_dir)
        if os.path.isfile(os.path.join(model_dir, f))
        and not f.startswith(".")
        and not f.endswith(NOT_WEIGHTS)
        and not f.endswith("params.json")
    )
    for choice in (
        names,
        [f for f in names if f.endswith(WEIGHTS)],
        [f for f in names if f.endswith(WEIGHTS) and f.partition(".")[0] == "model"],
    ):
        if len(choice) == 1:
            return choice[0]
    return None
