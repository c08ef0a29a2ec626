"""Evaluation records: scores kept beside a version, since the version itself is immutable.

A score (UiPath AI Center's ``evaluate()`` result) is an append-only record
``evaluations/<name>/<n>/<id>.json`` created with the backend's atomic create. Adding one
mirrors taking a lease: write the record, then look for the version's tombstone, so an
evaluation racing a delete never outlives the version (delete removes them after its
tombstone; ``gc`` sweeps any left by a crash in between).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from modelshelf.core.errors import EvaluationError, ModelNotFoundError
from modelshelf.core.facts import Table
from modelshelf.core.sizes import format_time
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.layout import (
    EVALUATIONS,
    evaluation_dir,
    evaluation_key,
    manifest_key,
    model_evaluations_dir,
    tombstone_key,
)

PIPELINES = ("evaluate", "full")


@dataclass(frozen=True)
class Evaluation:
    """One score of a version: on which data (ref and content hash), when, by which job."""

    score: float
    data: str | None = None
    data_hash: str | None = None
    created: float = 0.0
    job: str | None = None
    pipeline: str = "evaluate"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Evaluation:
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def row(self) -> tuple[Any, ...]:
        return (
            f"{self.score:g}",
            format_time(self.created),
            self.pipeline,
            self.data or "-",
            (self.data_hash or "")[:12] or "-",
            self.job or "-",
        )


EVALUATION_HEADERS = ("score", "created", "pipeline", "data", "data sha256", "job")


def evaluations_table(evaluations: list[Evaluation]) -> Table:
    """A version's scores, oldest first (a table on its card)."""
    rows = tuple(e.row() for e in evaluations)
    return Table(EVALUATION_HEADERS, rows, caption=f"evaluations ({len(rows)})")


def checked_score(score: Any) -> float:
    """A score as a finite float; anything else is refused with what was returned."""
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise EvaluationError(
            f"a score must be a number (evaluate() returned {type(score).__name__} {score!r})"
        )
    if not math.isfinite(score):
        raise EvaluationError(f"a score must be a finite number, not {score!r}")
    return float(score)


class EvaluationBook:
    """Add, list and remove the evaluation records of a store's versions."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def add(self, name: str, version: int, evaluation: Evaluation) -> Evaluation:
        """Record ``evaluation`` for ``name:version``, which must exist and stay undeleted."""
        if evaluation.pipeline not in PIPELINES:
            raise EvaluationError(
                f"unknown pipeline {evaluation.pipeline!r}: use one of {', '.join(PIPELINES)}"
            )
        record = Evaluation(
            score=checked_score(evaluation.score),
            data=evaluation.data,
            data_hash=evaluation.data_hash,
            created=evaluation.created or time.time(),
            job=evaluation.job,
            pipeline=evaluation.pipeline,
        )
        if not self.backend.exists(manifest_key(name, version)):
            raise ModelNotFoundError(f"no version {name}:{version} to record an evaluation for")
        # Named by time first, so the keys alone say which record is older.
        record_id = f"{int(record.created * 1e6):018d}-{uuid.uuid4().hex[:8]}"
        key = evaluation_key(name, version, record_id)
        self.backend.create(key, json.dumps(record.to_json()).encode())
        if self.backend.exists(tombstone_key(name, version)):
            self.backend.remove(key)
            raise ModelNotFoundError(f"{name}:{version} was deleted; it cannot be evaluated")
        return record

    def list(self, name: str, version: int) -> list[Evaluation]:
        """The version's evaluations, oldest first; a damaged record is skipped, not fatal."""
        out = []
        for entry in sorted(self.backend.list(evaluation_dir(name, version)), key=lambda e: e.key):
            try:
                out.append(Evaluation.from_json(json.loads(self.backend.read_bytes(entry.key))))
            except (FileNotFoundError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda e: e.created)  # stable: same-microsecond keep key order

    def of_model(self, name: str) -> dict[int, list[Evaluation]]:
        """Every version's evaluations of ``name``, oldest first: one listing of the model's
        records (and a read of each), not one listing per version."""
        found: dict[int, list[Evaluation]] = {}
        prefix = model_evaluations_dir(name)
        for entry in sorted(self.backend.list(prefix, recursive=True), key=lambda e: e.key):
            number = entry.key[len(prefix) :].strip("/").split("/", 1)[0]
            if not number.isdigit():
                continue
            try:
                record = Evaluation.from_json(json.loads(self.backend.read_bytes(entry.key)))
            except (FileNotFoundError, ValueError, TypeError):
                continue
            found.setdefault(int(number), []).append(record)
        return {n: sorted(records, key=lambda e: e.created) for n, records in found.items()}

    def remove_all(self, name: str, version: int) -> int:
        """Remove every evaluation of ``name:version`` (when it is deleted); return how many."""
        entries = self.backend.list(evaluation_dir(name, version))
        for entry in entries:
            self.backend.remove(entry.key)
        return len(entries)

    def orphans(self) -> list[str]:
        """Keys of evaluations whose version has no manifest (deleted, or a race lost)."""
        found = []
        live: dict[tuple[str, int], bool] = {}
        for entry in self.backend.list(EVALUATIONS, recursive=True):
            parts = entry.key.split("/")
            if len(parts) < 4 or not parts[-2].isdigit():
                continue
            name, version = "/".join(parts[1:-2]), int(parts[-2])
            if (name, version) not in live:
                live[(name, version)] = self.backend.exists(manifest_key(name, version))
            if not live[(name, version)]:
                found.append(entry.key)
        return found


__all__ = [
    "EVALUATION_HEADERS",
    "Evaluation",
    "EvaluationBook",
    "checked_score",
    "evaluations_table",
]
