"""Deployment records in SQLite beside the store's local state, seen by every process."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.state import SqliteBook, column_list, write_transaction

STARTING, READY, FAILED, STOPPED = "starting", "ready", "failed", "stopped"
MODES = ("realtime", "multi", "async")

# Version 1 is the schema of the databases written before versions existed: never edit it,
# add a step to DeploymentBook.MIGRATIONS instead.
_VERSION_1 = """
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    refs TEXT NOT NULL,
    url TEXT NOT NULL,
    folder TEXT NOT NULL,
    workers INTEGER NOT NULL,
    pid INTEGER,
    host TEXT,
    leases TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    traceback TEXT,
    created_at REAL NOT NULL,
    ready_at REAL,
    stopped_at REAL
)
"""

# Version 2: how the server serves (its handler service, model-data prefix, the names of the
# variables set for it), shown on the deployment's card.
_VERSION_2 = "ALTER TABLE deployments ADD COLUMN serving TEXT NOT NULL DEFAULT '{}'"
_JSON = ("refs", "leases", "serving")


@dataclass
class DeploymentRecord:
    """One row of the deployments table."""

    name: str
    mode: str
    status: str
    refs: list[str]
    url: str
    folder: str
    workers: int
    pid: int | None = None
    host: str | None = None
    leases: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why it failed, in one line
    # The traceback of the user's own serving code when that is what failed (serve.py, a
    # handler, inference.py); never modelshelf's own frames, which stay in server.log.
    traceback: str | None = None
    created_at: float = 0.0
    ready_at: float | None = None
    stopped_at: float | None = None
    # {"handler": "path.py:function", "model_data": URL, "model_data_cache": bytes,
    # "env": [names]}: only what was asked for (never the variables' values).
    serving: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status in (STARTING, READY)


# Rows are read by name into the record's fields, so a new column cannot shift the others.
_COLUMNS = column_list(DeploymentRecord)
_FIELDS = {f.name for f in dataclass_fields(DeploymentRecord)}


class DeploymentBook(SqliteBook):
    """The deployments table of one store's local state."""

    MIGRATIONS = (_VERSION_1, _VERSION_2)

    def claim(self, record: DeploymentRecord) -> bool:
        """Insert ``record`` unless a live deployment has its name; True if inserted.

        A stopped or failed deployment's name may be reused: its row is replaced.
        """
        with write_transaction(self.db) as db:
            row = db.execute(
                "SELECT status FROM deployments WHERE name = ?", (record.name,)
            ).fetchone()
            if row is not None and row[0] in (STARTING, READY):
                return False
            db.execute(
                "INSERT OR REPLACE INTO deployments (name, mode, status, refs, url, folder, "
                "workers, leases, created_at, serving) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.name,
                    record.mode,
                    record.status,
                    json.dumps(record.refs),
                    record.url,
                    record.folder,
                    record.workers,
                    json.dumps(record.leases),
                    record.created_at or time.time(),
                    json.dumps(record.serving),
                ),
            )
            return True

    def update(self, name: str, **fields: Any) -> None:
        """Set ``fields`` (named as the record's) of deployment ``name``."""
        unknown = set(fields) - _FIELDS
        if unknown:  # the names go into the SQL text: only the table's own columns may
            raise ValueError(f"not a deployment field: {', '.join(sorted(unknown))}")
        encoded = {k: json.dumps(v) if k in _JSON else v for k, v in fields.items()}
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        self.db.execute(
            f"UPDATE deployments SET {assignments} WHERE name = ?", (*encoded.values(), name)
        )

    def get(self, name: str) -> DeploymentRecord:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM deployments WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise ModelNotFoundError(
                f"no deployment named {name!r}; `modelshelf deployments` lists them"
            )
        return _record(row)

    def list(self, include_stopped: bool = False) -> list[DeploymentRecord]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM deployments ORDER BY created_at")
        records = [_record(row) for row in rows.fetchall()]
        return records if include_stopped else [r for r in records if r.status != STOPPED]


def _record(row: sqlite3.Row) -> DeploymentRecord:
    values = dict(row)  # the columns of _COLUMNS: the record's fields, by name
    values["refs"] = json.loads(values["refs"])
    values["leases"] = json.loads(values["leases"] or "[]")
    values["serving"] = json.loads(values["serving"] or "{}")
    return DeploymentRecord(**values)
