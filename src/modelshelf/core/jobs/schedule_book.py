"""The local side of the scheduler: next due times and runs in progress, in SQLite.

Every scheduler process on this machine opens the same file (beside the jobs database), so
they share one copy of the stored next due time. Advancing it is a compare-and-set inside
``BEGIN IMMEDIATE`` (update where the due time is still the one read): of several processes
that see a run due, one advances it and goes on to claim the run in the store; the others
see zero rows changed and leave it. That keeps the store's create-if-absent, the arbiter
between machines, to one attempt per machine and due time.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from modelshelf.core.jobs.schedule_store import ScheduleDefinition
from modelshelf.core.state import SqliteBook, column_list, write_transaction

# Run states, local to this machine: claimed (advanced here, job not yet submitted), running
# (a job is out), retrying (waiting for its backoff), then succeeded or failed.
CLAIMED, RUNNING, RETRYING, SUCCEEDED, FAILED = (
    "claimed",
    "running",
    "retrying",
    "succeeded",
    "failed",
)
ACTIVE = (CLAIMED, RUNNING, RETRYING)

_VERSION_1 = """
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    revision INTEGER NOT NULL,
    since REAL NOT NULL,
    next_due REAL,
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    due REAL NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    job_id TEXT,
    retry_at REAL,
    overrides TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
"""


@dataclass
class RunRow:
    """One run this machine owns: its key in the store, attempt, job and state."""

    key: str
    schedule: str
    due: float
    reason: str
    status: str
    attempt: int
    job_id: str | None
    retry_at: float | None
    overrides: dict[str, Any] | None
    record: dict[str, Any]


_RUN_COLUMNS = column_list(RunRow)


@dataclass
class CachedSchedule:
    """A definition as this machine last read it, with its stored next due time."""

    definition: ScheduleDefinition
    next_due: float | None


class ScheduleBook(SqliteBook):
    """The schedules cache and the runs table of one store's local state."""

    MIGRATIONS = (_VERSION_1,)

    # ---- the definitions cache -----------------------------------------------------------

    def cached(self) -> dict[str, CachedSchedule]:
        rows = self.db.execute("SELECT definition, next_due FROM schedules").fetchall()
        out = {}
        for row in rows:
            definition = ScheduleDefinition.from_json(row["definition"].encode())
            out[definition.name] = CachedSchedule(definition, row["next_due"])
        return out

    def cached_one(self, name: str) -> CachedSchedule | None:
        row = self.db.execute(
            "SELECT definition, next_due FROM schedules WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        return CachedSchedule(ScheduleDefinition.from_json(row["definition"].encode()), row[1])

    def sync(self, definitions: list[ScheduleDefinition], first_due: Any) -> None:
        """Make the cache match the store's definitions.

        A schedule new here, recreated (another uid) or with a new ``since`` (resumed,
        retimed) gets ``first_due(definition)`` as its next due time; any other change keeps
        the stored one, so a restart never forgets what is due.
        """
        with write_transaction(self.db) as db:
            known = {
                row["name"]: row
                for row in db.execute("SELECT name, uid, revision, since FROM schedules")
            }
            for d in definitions:
                row = known.pop(d.name, None)
                if row is not None and row["uid"] == d.uid and row["since"] == d.since:
                    if row["revision"] != d.revision:
                        db.execute(
                            "UPDATE schedules SET revision = ?, definition = ? WHERE name = ?",
                            (d.revision, d.to_json().decode(), d.name),
                        )
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, ?, ?)",
                    (d.name, d.uid, d.revision, d.since, first_due(d), d.to_json().decode()),
                )
            for name in known:  # deleted from the store
                db.execute("DELETE FROM schedules WHERE name = ?", (name,))

    def advance(self, name: str, old_due: float, new_due: float, runs: list[RunRow]) -> bool:
        """Move ``name``'s next due time from ``old_due`` to ``new_due`` and record ``runs`` as
        claimed here, if no other process moved it first. True when this call did."""
        with write_transaction(self.db) as db:
            cursor = db.execute(
                "UPDATE schedules SET next_due = ? WHERE name = ? AND next_due = ?",
                (new_due, name, old_due),
            )
            if cursor.rowcount != 1:
                return False
            for run in runs:
                self._insert(db, run)
            return True

    # ---- runs ----------------------------------------------------------------------------

    def add_run(self, run: RunRow) -> None:
        with write_transaction(self.db) as db:
            self._insert(db, run)

    @staticmethod
    def _insert(db: sqlite3.Connection, run: RunRow) -> None:
        db.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.key,
                run.schedule,
                run.due,
                run.reason,
                run.status,
                run.attempt,
                run.job_id,
                run.retry_at,
                json.dumps(run.overrides) if run.overrides is not None else None,
                json.dumps(run.record),
            ),
        )

    def active(self) -> list[RunRow]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN (?, ?, ?) ORDER BY due", ACTIVE
        )
        return [_run(row) for row in rows.fetchall()]

    def move(self, run: RunRow, status: str, **changes: Any) -> bool:
        """Change a run's state if it is still as read (state and attempt); True if moved.

        Several schedulers watch the same runs: this is how one of them, not all, retries a
        failed attempt or sends the notification.
        """
        values = {"status": status, **changes}
        if "record" in values:
            values["record"] = json.dumps(values["record"])
        sets = ", ".join(f"{column} = ?" for column in values)
        cursor = self.db.execute(
            f"UPDATE runs SET {sets} WHERE key = ? AND status = ? AND attempt = ?",
            (*values.values(), run.key, run.status, run.attempt),
        )
        return cursor.rowcount == 1

    def take_over(self, run: RunRow, record: dict[str, Any]) -> bool:
        """Make a claimed run this process's (``record`` names it) if its record is still
        the one read: of several schedulers that find a dead one's claim, one takes it."""
        cursor = self.db.execute(
            "UPDATE runs SET record = ? WHERE key = ? AND status = ? AND record = ?",
            (json.dumps(record), run.key, CLAIMED, json.dumps(run.record)),
        )
        return cursor.rowcount == 1

    def forget(self, key: str) -> None:
        self.db.execute("DELETE FROM runs WHERE key = ?", (key,))


def _run(row: sqlite3.Row) -> RunRow:
    values = dict(row)
    values["overrides"] = json.loads(values["overrides"]) if values["overrides"] else None
    values["record"] = json.loads(values["record"])
    return RunRow(**values)
