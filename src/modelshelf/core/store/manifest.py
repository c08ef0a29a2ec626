"""The manifest of a model version: what it holds and where it came from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from modelshelf.core.facts import Card, Listed, Shown, Table, first_line, plural
from modelshelf.core.names import validate_name, validate_relpath
from modelshelf.core.sizes import format_size, format_time
from modelshelf.core.store.digests import ALGORITHMS, SHA256
from modelshelf.core.store.evaluations import Evaluation, evaluations_table

FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: path inside the model, size, digest and permission bits.

    ``algorithm`` names the digest (the store's: ``blake3``, or ``sha256`` in older stores);
    the manifest records the digest under that name, so older manifests read unchanged.
    """

    path: str
    size: int
    digest: str
    mode: int = 0o644
    algorithm: str = SHA256

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            self.algorithm: self.digest,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> FileEntry:
        algorithm = next((a for a in ALGORITHMS if a in body), None)
        if algorithm is None:
            raise ValueError(
                f"file {body.get('path')!r} records no digest ({', '.join(ALGORITHMS)})"
            )
        path = validate_relpath(body["path"])
        return cls(path, int(body["size"]), body[algorithm], int(body["mode"]), algorithm)


@dataclass(frozen=True)
class ModelVersion(Shown, Listed):
    """An immutable model version, as recorded in ``models/<name>/<n>.json``."""

    ROW_HEADERS = ("version", "created", "size", "files", "metrics", "message")

    name: str
    version: int
    created_at: str
    source: str
    files: tuple[FileEntry, ...]
    parent: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    dataset: dict[str, Any] | None = None
    message: str | None = None
    job: dict[str, Any] | None = None
    notebook: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    #: Scores recorded beside the version (``Shelf.show(ref, evaluations=True)``); never part
    #: of the immutable manifest, so empty when the version was read without them.
    evaluations: tuple[Evaluation, ...] = field(default=(), compare=False)

    @property
    def ref(self) -> str:
        """The exact reference of this version, ``name:n``."""
        return f"{self.name}:{self.version}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def file_count(self) -> int:
        return len(self.files)

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    def __repr__(self) -> str:
        # The dataclass repr would print every file and the whole environment.
        size = format_size(self.size)
        return f"<ModelVersion {self.ref}: {plural(self.file_count, 'file')}, {size}>"

    # ---- its facts, for every face --------------------------------------------------------

    def fields(self) -> list[tuple[str, Any]]:
        """What it holds and where it came from (parent, dataset, job, notebook, params)."""
        return [
            ("ref", self.ref),
            ("created", format_time(self.created_at)),
            ("size", f"{format_size(self.size)} ({plural(self.file_count, 'file')})"),
            ("source", self.source),
            ("parent", self.parent),
            ("dataset", dataset_text(self.dataset) if self.dataset else None),
            ("job", job_text(self.job) if self.job else None),
            ("notebook", self.notebook),
            ("params", self.params),
            ("metrics", self.metrics),
            ("tags", ", ".join(self.tags)),
            ("message", self.message),
        ]

    def files_table(self) -> Table:
        """Its files: path, size and the start of their digest (folded in HTML)."""
        rows = tuple((f.path, format_size(f.size), f.digest[:12]) for f in self.files)
        caption = plural(self.file_count, "file")
        algorithm = self.files[0].algorithm if self.files else SHA256
        return Table(("path", "size", algorithm), rows, caption=caption, collapsed=True)

    def card(self) -> Card:
        tables = [evaluations_table(list(self.evaluations))] if self.evaluations else []
        return Card.of(self.fields(), [*tables, self.files_table()])

    def row(self) -> tuple[Any, ...]:
        return (
            self.version,
            format_time(self.created_at),
            format_size(self.size),
            self.file_count,
            self.metrics,
            first_line(self.message),
        )

    def to_json(self) -> bytes:
        # Shallow: asdict would deep-copy every file entry only to have them replaced.
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        del body["evaluations"]  # records beside the manifest, not in it
        body["files"] = [f.to_dict() for f in self.files]
        body["tags"] = list(self.tags)
        body = {"format": FORMAT, **body, "size": self.size, "file_count": self.file_count}
        return json.dumps(body, indent=1, sort_keys=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> ModelVersion:
        body = json.loads(data)
        files = tuple(FileEntry.from_dict(f) for f in body["files"])
        return cls(
            name=validate_name(body["name"]),
            version=int(body["version"]),
            created_at=body["created_at"],
            source=body.get("source", ""),
            files=files,
            parent=body.get("parent"),
            params=body.get("params") or {},
            metrics=body.get("metrics") or {},
            tags=tuple(body.get("tags") or ()),
            dataset=body.get("dataset"),
            message=body.get("message"),
            job=body.get("job"),
            notebook=body.get("notebook"),
            environment=body.get("environment") or {},
        )

    def summary(self) -> dict[str, Any]:
        """The manifest without its file list and environment (for listings and the CLI)."""
        return {
            "ref": self.ref,
            "created_at": self.created_at,
            "size": self.size,
            "file_count": self.file_count,
            "source": self.source,
            "parent": self.parent,
            "params": self.params,
            "metrics": self.metrics,
            "tags": list(self.tags),
            "dataset": self.dataset,
            "message": self.message,
            "job": self.job,
            "notebook": self.notebook,
        }


def dataset_text(dataset: dict[str, Any]) -> str:
    """``ref (sha256 0123456789ab, 1.2 MB, 3 files)``; a dataset recorded otherwise as JSON."""
    if "sha256" not in dataset:
        return json.dumps(dataset, default=str)
    size = format_size(int(dataset.get("size") or 0))
    files = plural(int(dataset.get("file_count") or 0), "file")
    return f"{dataset.get('ref', '?')} (sha256 {str(dataset['sha256'])[:12]}, {size}, {files})"


def job_text(job: dict[str, Any]) -> str:
    """``name (id)``, and which worker when the job had several."""
    text = f"{job.get('name', '?')} ({job.get('id', '?')})"
    if int(job.get("workers") or 1) > 1:
        text += f", worker {job.get('worker')} of {job.get('workers')}"
    return text


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
