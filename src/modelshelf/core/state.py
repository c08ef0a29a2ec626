"""Local runtime state beside a store: a folder per store, and SQLite databases in it.

A local store keeps its state in ``<root>/.state``; a remote store in
``~/.cache/modelshelf/stores/<hash of its URL>``. ``MODELSHELF_STATE_DIR`` overrides both.
State is a cache and a record of local activity, never the source of truth for models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable


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


def column_list(record_type: type, *, omit: Iterable[str] = ()) -> str:
    """The ``SELECT`` list for a dataclass whose fields are named as the table's columns."""
    skipped = set(omit)
    return ", ".join(f.name for f in dataclasses.fields(record_type) if f.name not in skipped)


class SqliteBook:
    """A table (or a few) in a SQLite file shared by processes and threads.

    Each thread gets its own connection (opened on first use): a SQLite connection used
    from several threads at once mixes their transactions. Subclasses set ``SCHEMA``
    (statements run once per connection, ``IF NOT EXISTS``).
    """

    SCHEMA = ""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.executescript(self.SCHEMA)
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
