"""Remembers the sha256 of local files by their stat, so re-saving a folder rehashes only
what changed (as git's index and borg's files cache do).

An entry is trusted only when size, mtime, ctime and inode all match and the file was last
changed well before it was hashed: a file modified in the same clock tick as its hashing
("racily clean", in git's words) is hashed again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time

from modelshelf.core.errors import StateVersionError
from modelshelf.core.state import SqliteBook, write_transaction

_RACY_MARGIN_NS = 2_000_000_000

_BATCH = 500
_COLUMNS = "path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns"
_SELECT = f"SELECT {_COLUMNS} FROM files"
# Version 1 is the schema of the caches written before versions existed: never edit it, add
# a step to StatCache.MIGRATIONS instead.
_VERSION_1 = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    inode INTEGER, sha256 TEXT, hashed_at_ns INTEGER
)
"""
# A cache written by a newer modelshelf is refused like any state database; here that only
# means saving without the cache, as when SQLite fails.
_FAILURES = (sqlite3.Error, StateVersionError)


class StatCache(SqliteBook):
    """A small SQLite table of path -> (stat fingerprint, sha256). Failures never matter."""

    MIGRATIONS = (_VERSION_1,)

    def _db(self) -> sqlite3.Connection:
        return self.db

    def preload(self, paths: list[str]) -> dict[str, tuple]:
        """The rows of many paths, fetched in a few queries (one per path costs ~40 us).

        Pass the result to :meth:`lookup`; it belongs to the caller, so saves running at
        once through one Shelf keep their own.
        """
        rows: dict[str, tuple] = {}
        try:
            db = self._db()
            for start in range(0, len(paths), _BATCH):
                batch = paths[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                for row in db.execute(f"{_SELECT} WHERE path IN ({marks})", batch):
                    rows[row[0]] = row[1:]
        except _FAILURES:
            rows = {}
        return rows

    def lookup(
        self, path: str, st: os.stat_result, preloaded: dict[str, tuple] | None = None
    ) -> str | None:
        """The remembered digest of ``path`` if its stat still matches, else None."""
        if preloaded is not None and path in preloaded:
            row = preloaded[path]
        else:
            try:
                found = self._db().execute(f"{_SELECT} WHERE path = ?", (path,)).fetchone()
            except _FAILURES:
                return None
            row = found[1:] if found else None
        if row is None:
            return None
        size, mtime_ns, ctime_ns, inode, digest, hashed_at = row
        if (size, mtime_ns, ctime_ns, inode) != (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
        ):
            return None
        if max(mtime_ns, ctime_ns) >= hashed_at - _RACY_MARGIN_NS:
            return None
        return digest

    def record(self, rows: list[tuple[str, os.stat_result, str, int]]) -> None:
        """Remember ``(path, stat taken before hashing, sha256, hashed_at_ns)`` rows."""
        if not rows:
            return
        values = [
            (p, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest, at)
            for p, st, digest, at in rows
        ]
        # The cache only saves rehashing: a failure to write it costs nothing but speed.
        with contextlib.suppress(*_FAILURES), write_transaction(self._db()) as db:
            db.executemany(
                f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", values
            )


def cache_path(state_dir: str, algorithm: str) -> str:
    """The cache of one digest's file digests (sha256 keeps the name it always had)."""
    name = "statcache.sqlite" if algorithm == "sha256" else f"statcache-{algorithm}.sqlite"
    return os.path.join(state_dir, name)


def now_ns() -> int:
    return time.time_ns()
