"""Plain JSON data for what the core returns: one shape for the CLI's ``--json`` and the
server extension's REST answers."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from typing import Any

from modelshelf.core.store import FsckReport, ModelDiff, ModelVersion, VersionListing


def _pairs_json(pairs: dict[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    return {key: {"a": a, "b": b} for key, (a, b) in pairs.items()}


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data for any result a command returns."""
    if isinstance(obj, ModelVersion):
        body = json.loads(obj.to_json())
        # The manifest names each digest by its algorithm (``sha256`` or ``blake3``); the
        # answer also gives it under neutral names, so clients need not know which.
        for row, entry in zip(body["files"], obj.files, strict=True):
            row.update(digest=entry.digest, algorithm=entry.algorithm)
        body["evaluations"] = [e.to_json() for e in obj.evaluations]
        return body
    if isinstance(obj, VersionListing):
        return {
            "name": obj.name,
            "aliases": dict(sorted(obj.aliases.items())),
            "versions": [
                {
                    **v.summary(),
                    "version": v.version,
                    "aliases": obj.aliases_of(v.version),
                    "evaluations": [e.to_json() for e in v.evaluations],
                }
                for v in obj.versions
            ],
        }
    if isinstance(obj, ModelDiff):
        return {
            **asdict(obj),
            "params": _pairs_json(obj.params),
            "metrics": _pairs_json(obj.metrics),
            "same_files": obj.same_files,
        }
    if isinstance(obj, FsckReport):
        return {**asdict(obj), "ok": obj.ok}
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(item) for item in obj]
    return obj
