"""Local runtime state beside a store: a folder per store, and SQLite databases in it.

A local store keeps its state in ``<root>/.state``; a remote store in
``~/.cache/modelshelf/stores/<hash of its URL>``. ``MODELSHELF_STATE_DIR`` overrides both.
State is a cache and a record of local activity, never the source of truth for models.

Every database carries its schema version in ``PRAGMA user_version`` and is brought up to
date by :func:`migrate` when first opened. The version is per file, so each file holds the
tables of one book only (jobs, deployments, an endpoint's queue and the stat cache each have
their own file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import ClassVar

from modelshelf.core.errors import StateVersionError

#: One step of a schema's history: SQL statements, or a function given the connection
#: inside the upgrade's transaction (it must not commit, roll back or use executescript,
#: which commits).
Migration = str | Callable[[sqlite3.Connection], None]


def state_dir(root_url: str, is_local: bool) -> str:
    """Return (and create) the local state folder for the store at ``root_url``."""
    override = os.environ.get("MODELSHELF_STATE_DIR")
    if override:
        key = hashlib.sha256(root_url.encode()).hexdigest()[:16]
        path = os.path.join(override, key)
    elif is_local:
        path = os.path.join(root_url, ".state")
    else:
        key = hashlib.sha256(root_url.encode()).hexdigest()[:16]
        path = os.path.join(os.path.expanduser("~/.cache/modelshelf/stores"), key)
    os.makedirs(path, exist_ok=True)
    return path


def connect(path: str) -> sqlite3.Connection:
    """Open a SQLite database shared by many processes (WAL, waits instead of failing).

    Rows come back as :class:`sqlite3.Row`, so callers read columns by name.
    """
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _schema_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database (0 for a file written before versions)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str, migrations: Sequence[Migration]) -> None:
    """Bring the database at ``path`` up to version ``len(migrations)``.

    ``migrations[0]`` makes version 1, and so on: a released step is never edited, a change
    is a new step at the end. Version 1 is the schema of the databases written before
    versions existed, with ``IF NOT EXISTS``, so it both creates a new file and adopts an
    existing one. Raises :class:`StateVersionError` for a database from a newer modelshelf.
    """
    target = len(migrations)
    version = _schema_version(conn)
    if version == target:
        return
    _refuse_newer(path, version, target)
    # IMMEDIATE takes the write lock before reading, waiting up to busy_timeout for it; a
    # deferred read-then-write transaction fails at once with SQLITE_BUSY instead.
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have upgraded while we waited.
        version = _schema_version(conn)
        _refuse_newer(path, version, target)
        for step in migrations[version:]:
            if callable(step):
                step(conn)
            else:
                # Not executescript: it commits first, which would end our transaction.
                for statement in _statements(step):
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target:d}")
    except BaseException:
        if conn.in_transaction:  # some errors (a full disk) have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _refuse_newer(path: str, version: int, target: int) -> None:
    if version > target:
        raise StateVersionError(
            f"the state database {path} has schema version {version}, but this modelshelf "
            f"knows versions up to {target}: a newer modelshelf wrote it. Upgrade modelshelf, "
            "or set MODELSHELF_STATE_DIR to another folder to keep this version's state apart."
        )


def _statements(script: str) -> Iterator[str]:
    """The statements of a SQL script, split where SQLite itself says one is complete."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        # A ';' inside a string literal or a trigger body does not end the statement.
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"an incomplete SQL statement in a migration: {pending[:-1]!r}")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises.

    The write lock is taken first: a deferred read-then-write transaction can fail with
    SQLITE_BUSY without honouring busy_timeout. A failed block must roll back, not commit
    half its writes, and must not leave the connection holding the lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def column_list(record_type: type, *, omit: Iterable[str] = ()) -> str:
    """The ``SELECT`` list for a dataclass whose fields are named as the table's columns."""
    skipped = set(omit)
    return ", ".join(f.name for f in dataclasses.fields(record_type) if f.name not in skipped)


class SqliteBook:
    """A table (or a few) in a SQLite file shared by processes and threads.

    Each thread gets its own connection (opened on first use): a SQLite connection used
    from several threads at once mixes their transactions. Subclasses list their schema's
    history in ``MIGRATIONS`` (see :func:`migrate`); the first connection upgrades the file.
    """

    MIGRATIONS: ClassVar[Sequence[Migration]] = ()

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # A database from a newer modelshelf stays newer: refuse it again without reopening.
        self._refused: StateVersionError | None = None

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to an up-to-date database."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._refused is not None:
                raise self._refused.with_traceback(None)
            conn = connect(self.path)
            try:
                migrate(conn, self.path, self.MIGRATIONS)
            except BaseException as exc:
                conn.close()
                if isinstance(exc, StateVersionError):
                    self._refused = exc
                raise
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (they reopen if the book is used again)."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
