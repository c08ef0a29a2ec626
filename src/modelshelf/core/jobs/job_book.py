"""Job records in an embedded SQLite database beside the store's local state.

Every process (the launching kernel, another kernel, the CLI, the server extension, the job's
own runner) opens the same database, so they all see the same jobs. Status changes are
conditional updates, so two processes can never both move a job out of the same state.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.processes import pid_alive
from modelshelf.core.state import SqliteBook, column_list, write_transaction

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

# Version 1 is the schema of the databases written before versions existed: never edit it,
# add a step to JobBook.MIGRATIONS instead.
_VERSION_1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    workspace TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    runner_pid INTEGER,
    runner_host TEXT,
    error TEXT,
    results TEXT,
    outputs TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""


@dataclass
class JobRecord:
    """One row of the jobs table."""

    id: str
    name: str
    status: str
    spec: dict[str, Any]
    workspace: str
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    runner_pid: int | None = None
    runner_host: str | None = None
    error: str | None = None
    results: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


# Rows are read by name into the record's fields, so a new column cannot shift the others.
_COLUMNS = column_list(JobRecord)


def new_job_id() -> str:
    """A short, sortable, unique id: ``20261121-231500-ab12cd``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class JobBook(SqliteBook):
    """The jobs table of one store's local state."""

    MIGRATIONS = (_VERSION_1,)

    def insert(self, record: JobRecord) -> None:
        self.db.execute(
            "INSERT INTO jobs (id, name, status, spec, workspace, created_at) VALUES (?,?,?,?,?,?)",
            (
                record.id,
                record.name,
                record.status,
                json.dumps(record.spec),
                record.workspace,
                record.created_at,
            ),
        )

    def get(self, job_id: str) -> JobRecord:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise ModelNotFoundError(f"no job {job_id!r}; `modelshelf jobs` lists them")
        return _record(row)

    def list(self, limit: int = 200, status: str | None = None) -> list[JobRecord]:
        sql = f"SELECT {_COLUMNS} FROM jobs"
        args: tuple = ()
        if status:
            sql += " WHERE status = ?"
            args = (status,)
        rows = self.db.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [_record(row) for row in rows.fetchall()]

    def claim_slot(self, job_id: str, limit: int, pid: int, host: str) -> str | None:
        """Move a queued job to running if fewer than ``limit`` jobs run; return its status.

        Slots go first come, first served: a job waits while older queued jobs (whose runners
        are alive) would fill the free slots, so a queue drains in the order it was filled.
        Returns ``RUNNING`` when the slot was taken, ``QUEUED`` when it must wait, or the
        job's final status if it was cancelled while queued.
        """
        with write_transaction(self.db) as db:
            found = db.execute(
                "SELECT status, created_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if found is None:
                raise ModelNotFoundError(f"no job {job_id!r}; `modelshelf jobs` lists them")
            status, created_at = found
            if status != QUEUED:
                return status
            (running,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ?", (RUNNING,)
            ).fetchone()
            older = db.execute(
                "SELECT runner_pid, runner_host FROM jobs WHERE status = ? AND created_at < ?",
                (QUEUED, created_at),
            ).fetchall()
            # A queued job whose runner died never claims its slot: it must not block the rest.
            waiting = sum(1 for p, h in older if not (h == host and p and not pid_alive(p)))
            if limit > 0 and running + waiting >= limit:
                return QUEUED
            db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, runner_pid = ?, runner_host = ? "
                "WHERE id = ?",
                (RUNNING, time.time(), pid, host, job_id),
            )
            return RUNNING

    def set_runner(self, job_id: str, pid: int, host: str) -> None:
        self.db.execute(
            "UPDATE jobs SET runner_pid = ?, runner_host = ? WHERE id = ?", (pid, host, job_id)
        )

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        error: str | None = None,
        results: dict[str, Any] | None = None,
        outputs: list[str] | None = None,
    ) -> bool:
        """Record the end of a job unless it already ended; True if this call ended it.

        A job cancelled by the user keeps its status, but its runner, which ends after the
        cancel, still records the results and the time the work really stopped.
        """
        cursor = self.db.execute(
            "UPDATE jobs SET status = CASE WHEN status = ? THEN status ELSE ? END, "
            "ended_at = ?, error = COALESCE(error, ?), "
            "results = COALESCE(?, results), outputs = COALESCE(?, outputs) "
            "WHERE id = ? AND (status IN (?, ?) OR (status = ? AND results IS NULL))",
            (
                CANCELLED,
                status,
                time.time(),
                error,
                json.dumps(results) if results is not None else None,
                json.dumps(outputs) if outputs is not None else None,
                job_id,
                QUEUED,
                RUNNING,
                CANCELLED,
            ),
        )
        return cursor.rowcount == 1

    def delete(self, job_id: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def older_than(self, cutoff: float) -> list[JobRecord]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN (?, ?, ?) "
            "AND COALESCE(ended_at, created_at) < ?",
            (*FINISHED, cutoff),
        )
        return [_record(row) for row in rows.fetchall()]


def _record(row: sqlite3.Row) -> JobRecord:
    values = dict(row)  # the columns of _COLUMNS: the record's fields, by name
    values["spec"] = json.loads(values["spec"])
    values["results"] = json.loads(values["results"]) if values["results"] else None
    values["outputs"] = json.loads(values["outputs"]) if values["outputs"] else []
    return JobRecord(**values)
