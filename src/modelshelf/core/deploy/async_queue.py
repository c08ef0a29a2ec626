"""The request queue of an asynchronous endpoint, persisted in SQLite.

A request is accepted (``pending``) once its row is committed, so a server that stops or
dies never loses it: the next server on the same database claims it. A claim records the
worker's id, pid and host and a heartbeat; an ``in_progress`` request is claimed again when
its worker's process is gone (same host) or its heartbeat is older than ``stale_after``
(any host). Delivery is therefore at least once: results go to a fixed location per request,
so a request run twice writes the same result twice.

Bodies up to :data:`INLINE_LIMIT` live in the database; larger ones in files beside it
(``<db>.bodies/<id>``). Both are dropped once the request has ended.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, replace

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.processes import pid_alive
from modelshelf.core.state import column_list, connect, migrate, write_transaction
from modelshelf.core.store.expiring import HOST

PENDING, IN_PROGRESS, COMPLETED, FAILED = "pending", "in_progress", "completed", "failed"
INLINE_LIMIT = 1 << 20

# Version 1 is the schema of the queues written before versions existed: never edit it, add
# a step to _MIGRATIONS instead.
_VERSION_1 = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    content_type TEXT,
    body BLOB,
    body_file TEXT,
    input_location TEXT,
    output_location TEXT NOT NULL,
    output_key TEXT,
    output_content_type TEXT,
    error TEXT,
    traceback TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    worker_pid INTEGER,
    worker_host TEXT,
    created_at REAL NOT NULL,
    claimed_at REAL,
    heartbeat_at REAL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS requests_status ON requests(status, created_at);
"""
_MIGRATIONS = (_VERSION_1,)


@dataclass(frozen=True)
class Request:
    """One queued inference request. ``body`` is filled in by :meth:`AsyncQueue.claim` only."""

    id: str
    status: str
    content_type: str | None
    input_location: str | None
    output_location: str
    output_key: str | None
    output_content_type: str | None
    error: str | None
    traceback: str | None
    attempts: int
    worker_id: str | None
    created_at: float
    claimed_at: float | None
    ended_at: float | None
    body: bytes | None = None

    @property
    def finished(self) -> bool:
        return self.status in (COMPLETED, FAILED)


# Read by name into the fields; the body is read apart (by claim only).
_FIELDS = column_list(Request, omit=("body",))


def output_url(prefix: str, inference_id: str) -> str:
    """Where a request's result goes: ``<prefix>/<inference_id>.out``."""
    return prefix.rstrip("/") + "/" + f"{inference_id}.out"


class AsyncQueue:
    """Requests of one asynchronous endpoint, shared by every server process using the db.

    ``stale_after`` is how long a claim lives without a heartbeat; ``max_attempts`` how many
    claims a request gets before it is failed (a request that kills its server every time
    must not kill every server after it).
    """

    def __init__(self, db_path: str, *, stale_after: float = 60.0, max_attempts: int = 3) -> None:
        self.path = os.path.abspath(db_path)
        self.bodies = self.path + ".bodies"
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        os.makedirs(self.bodies, exist_ok=True)
        self._conn = connect(self.path)
        try:
            migrate(self._conn, self.path, _MIGRATIONS)
        except BaseException:
            self._conn.close()
            raise
        # One connection for all threads: the lock keeps one thread's transaction from
        # swallowing another thread's statements.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self):
        with self._lock, write_transaction(self._conn) as conn:
            yield conn

    def put(
        self,
        body: bytes | None,
        content_type: str | None,
        input_location: str | None,
        output_location: str,
    ) -> str:
        """Accept a request; return its inference id once it is durably queued.

        ``output_location`` is the folder or URL prefix; the request's own location is
        ``<output_location>/<inference_id>.out``.
        """
        if (body is None) == (input_location is None):
            raise ValueError("a request needs either a body or an input location")
        inference_id = str(uuid.uuid4())
        inline, body_file = body, None
        if body is not None and len(body) > INLINE_LIMIT:
            body_file, inline = inference_id, None
            final = os.path.join(self.bodies, body_file)
            # Written and renamed before the row exists: a row never points at half a body.
            with open(final + ".tmp", "wb") as fh:
                fh.write(body)
            os.replace(final + ".tmp", final)
        with self._lock:
            self._conn.execute(
                "INSERT INTO requests (id, status, content_type, body, body_file, "
                "input_location, output_location, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    inference_id,
                    PENDING,
                    content_type,
                    inline,
                    body_file,
                    input_location,
                    output_url(output_location, inference_id),
                    time.time(),
                ),
            )
        return inference_id

    def claim(self, worker_id: str) -> Request | None:
        """Take the oldest pending request (or an abandoned one) for ``worker_id``."""
        now = time.time()
        with self._transaction() as db:
            self._reclaim(db, now)
            row = db.execute(
                "SELECT id FROM requests WHERE status = ? ORDER BY created_at LIMIT 1",
                (PENDING,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE requests SET status = ?, worker_id = ?, worker_pid = ?, worker_host = ?,"
                " claimed_at = ?, heartbeat_at = ?, attempts = attempts + 1 WHERE id = ?",
                (IN_PROGRESS, worker_id, os.getpid(), HOST, now, now, row[0]),
            )
            request = self._get(db, row[0])
            stored = db.execute(
                "SELECT body, body_file FROM requests WHERE id = ?", (row[0],)
            ).fetchone()
        body = stored[0]
        if stored[1]:
            try:
                with open(os.path.join(self.bodies, stored[1]), "rb") as fh:
                    body = fh.read()
            except OSError as exc:
                # Removed by hand? Without its body the request can never run: end it, or
                # the worker's heartbeat would keep it in progress for ever.
                self.fail(request.id, f"its body could not be read: {exc}", worker_id=worker_id)
                return self.claim(worker_id)
        return replace(request, body=body)

    def _reclaim(self, db: sqlite3.Connection, now: float) -> None:
        """Put requests whose worker is gone back in line (or fail them after many tries)."""
        rows = db.execute(
            "SELECT id, worker_pid, worker_host, heartbeat_at, attempts FROM requests "
            "WHERE status = ?",
            (IN_PROGRESS,),
        ).fetchall()
        for request_id, pid, host, heartbeat, attempts in rows:
            stale = (heartbeat or 0) < now - self.stale_after
            dead = host == HOST and not pid_alive(int(pid or 0))
            if not (stale or dead):
                continue
            if attempts >= self.max_attempts:
                error = (
                    f"its server stopped while running it, {attempts} times: giving up "
                    "(does it crash the model's process?)"
                )
                self._end(db, request_id, FAILED, error=error)
            else:
                db.execute(
                    "UPDATE requests SET status = ?, worker_id = NULL WHERE id = ?",
                    (PENDING, request_id),
                )

    def heartbeat(self, worker_ids: list[str]) -> None:
        """Tell other servers that these workers' claims are alive."""
        if not worker_ids:
            return
        marks = ",".join("?" * len(worker_ids))
        with self._lock:
            self._conn.execute(
                f"UPDATE requests SET heartbeat_at = ? WHERE status = ? AND worker_id IN ({marks})",
                (time.time(), IN_PROGRESS, *worker_ids),
            )

    def release(self, worker_ids: list[str]) -> int:
        """Put the claims of stopping workers back in line at once; return how many."""
        if not worker_ids:
            return 0
        marks = ",".join("?" * len(worker_ids))
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE requests SET status = ?, worker_id = NULL, attempts = MAX(attempts - 1,"
                f" 0) WHERE status = ? AND worker_id IN ({marks})",
                (PENDING, IN_PROGRESS, *worker_ids),
            )
        return cursor.rowcount

    def owns(self, request_id: str, worker_id: str) -> bool:
        """Whether ``worker_id`` still holds the claim on the request."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM requests WHERE id = ? AND status = ? AND worker_id = ?",
                (request_id, IN_PROGRESS, worker_id),
            ).fetchone()
        return row is not None

    def complete(
        self,
        request_id: str,
        output_key: str,
        *,
        content_type: str | None = None,
        worker_id: str | None = None,
    ) -> bool:
        """Mark a request completed; with ``worker_id``, only if that worker still holds it.

        Returns False when the claim was lost (another server took the request over).
        """
        with self._transaction() as db:
            return self._end(
                db,
                request_id,
                COMPLETED,
                worker_id=worker_id,
                output_key=output_key,
                output_content_type=content_type,
            )

    def fail(
        self,
        request_id: str,
        error: str,
        *,
        traceback: str | None = None,
        worker_id: str | None = None,
    ) -> bool:
        """Mark a request failed with ``error`` (see :meth:`complete` for ``worker_id``)."""
        with self._transaction() as db:
            return self._end(
                db, request_id, FAILED, worker_id=worker_id, error=error, traceback=traceback
            )

    def _end(
        self, db: sqlite3.Connection, request_id: str, status: str, worker_id=None, **values
    ) -> bool:
        where, args = "id = ? AND status IN (?, ?)", [request_id, PENDING, IN_PROGRESS]
        if worker_id is not None:
            where, args = (
                "id = ? AND status = ? AND worker_id = ?",
                [
                    request_id,
                    IN_PROGRESS,
                    worker_id,
                ],
            )
        row = db.execute(f"SELECT body_file FROM requests WHERE {where}", args).fetchone()
        if row is None:
            return False
        values = {**values, "status": status, "ended_at": time.time(), "body": None}
        assignments = ", ".join(f"{column} = ?" for column in values)
        db.execute(
            f"UPDATE requests SET {assignments}, body_file = NULL WHERE id = ?",
            (*values.values(), request_id),
        )
        if row[0]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.bodies, row[0]))
        return True

    def get(self, request_id: str) -> Request:
        """The request with this id (without its body); ModelNotFoundError if unknown."""
        with self._lock:
            return self._get(self._conn, request_id)

    def _get(self, db: sqlite3.Connection, request_id: str) -> Request:
        row = db.execute(f"SELECT {_FIELDS} FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise ModelNotFoundError(f"no asynchronous request {request_id!r}")
        return Request(**dict(row))

    def counts(self) -> dict[str, int]:
        """How many requests are in each status."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT status, COUNT(*) FROM requests GROUP BY status"
            ).fetchall()
        return {PENDING: 0, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 0, **dict(rows)}
