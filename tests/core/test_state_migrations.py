"""State databases: versioned schemas, files written before versions existed, newer files.

The ``OLD_*`` statements are the on-disk format of every database written before schema
versions (commit 034ca33): copied here on purpose, since existing users' files have them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import modelshelf
from modelshelf.core.deploy.async_queue import PENDING, AsyncQueue
from modelshelf.core.deploy.deployment_book import DeploymentBook, DeploymentRecord
from modelshelf.core.errors import ModelshelfError
from modelshelf.core.jobs.job_book import QUEUED, RUNNING, SUCCEEDED, JobBook, JobRecord
from modelshelf.core.state import connect, migrate
from modelshelf.core.store.statcache import StatCache

OLD_JOBS = """
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
OLD_DEPLOYMENTS = """
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
OLD_REQUESTS = """
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
OLD_FILES = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    inode INTEGER, sha256 TEXT, hashed_at_ns INTEGER
)
"""


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection, as the old code opened it (WAL, autocommit)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        yield conn


def version_of(path: Path) -> int:
    with raw(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def old_jobs_db(path: Path) -> Path:
    """A jobs database as the old code left it: a finished job and a queued one."""
    with raw(path) as db:
        db.executescript(OLD_JOBS)
        insert = (
            "INSERT INTO jobs (id, name, status, spec, workspace, created_at) VALUES (?,?,?,?,?,?)"
        )
        db.execute(insert, ("j-done", "nightly", QUEUED, '{"notebook": "t.ipynb"}', "/w/1", 100.0))
        db.execute(insert, ("j-waiting", "later", QUEUED, '{"notebook": "u.ipynb"}', "/w/2", 200.0))
        db.execute(
            "UPDATE jobs SET status = ?, started_at = ?, runner_pid = ?, runner_host = ? "
            "WHERE id = ?",
            (RUNNING, 101.0, 4242, "old-host", "j-done"),
        )
        db.execute(
            "UPDATE jobs SET status = ?, ended_at = ?, error = COALESCE(error, ?), "
            "results = COALESCE(?, results), outputs = COALESCE(?, outputs) WHERE id = ?",
            (SUCCEEDED, 150.0, None, '{"loss": 0.25}', '["Job - nightly:1"]', "j-done"),
        )
    return path


def _count_run(db: sqlite3.Connection) -> None:
    """A migration step that leaves a trace of each run, and holds the write lock a while."""
    db.execute("CREATE TABLE IF NOT EXISTS migration_runs (pid INTEGER NOT NULL)")
    db.execute("INSERT INTO migration_runs VALUES (?)", (os.getpid(),))
    time.sleep(0.5)  # long enough for every other process to be waiting for the lock


class CountedJobBook(JobBook):
    """The jobs book with one more version, whose step is counted."""

    MIGRATIONS = (*JobBook.MIGRATIONS, _count_run)


def runs(book: JobBook) -> int:
    return book.db.execute("SELECT COUNT(*) FROM migration_runs").fetchone()[0]


def test_an_old_jobs_database_keeps_its_rows_and_takes_the_current_version(tmp_path):
    path = old_jobs_db(tmp_path / "jobs.sqlite")
    assert version_of(path) == 0
    with contextlib.closing(JobBook(str(path))) as book:
        assert book.get("j-done") == JobRecord(
            id="j-done",
            name="nightly",
            status=SUCCEEDED,
            spec={"notebook": "t.ipynb"},
            workspace="/w/1",
            created_at=100.0,
            started_at=101.0,
            ended_at=150.0,
            runner_pid=4242,
            runner_host="old-host",
            results={"loss": 0.25},
            outputs=["Job - nightly:1"],
        )
        assert [job.id for job in book.list()] == ["j-waiting", "j-done"]
        assert book.get("j-waiting").outputs == [] and book.get("j-waiting").results is None
        assert version_of(path) == len(JobBook.MIGRATIONS)

        # New writes work on the adopted file, and the old queued job still drains first.
        book.insert(JobRecord("j-new", "fresh", QUEUED, {"notebook": "v.ipynb"}, "/w/3", 300.0))
        assert book.claim_slot("j-new", limit=1, pid=os.getpid(), host="h") == QUEUED
        assert book.claim_slot("j-waiting", limit=1, pid=os.getpid(), host="h") == RUNNING
        assert book.finish("j-waiting", SUCCEEDED, results={"ok": True}, outputs=["m:1"])
        assert [job.id for job in book.older_than(time.time() + 1)] == ["j-done", "j-waiting"]
    with contextlib.closing(JobBook(str(path))) as reopened:
        assert reopened.get("j-waiting").results == {"ok": True}
        assert len(reopened.list()) == 3


def test_an_old_deployments_database_keeps_its_rows_and_takes_the_current_version(tmp_path):
    path = tmp_path / "deployments.sqlite"
    leases = [{"ref": "iris:3", "lease": "abc"}]
    with raw(path) as db:
        db.executescript(OLD_DEPLOYMENTS)
        db.execute(
            "INSERT OR REPLACE INTO deployments (name, mode, status, refs, url, folder, "
            "workers, leases, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ("iris", "realtime", "starting", '["iris:3"]', "http://h:1", "/d/iris", 2, "[]", 10.0),
        )
        db.execute(
            "UPDATE deployments SET status = ?, pid = ?, host = ?, leases = ?, ready_at = ? "
            "WHERE name = ?",
            ("ready", 77, "old-host", json.dumps(leases), 12.0, "iris"),
        )
    with contextlib.closing(DeploymentBook(str(path))) as book:
        assert book.get("iris") == DeploymentRecord(
            name="iris",
            mode="realtime",
            status="ready",
            refs=["iris:3"],
            url="http://h:1",
            folder="/d/iris",
            workers=2,
            pid=77,
            host="old-host",
            leases=leases,
            created_at=10.0,
            ready_at=12.0,
        )
        assert version_of(path) == len(DeploymentBook.MIGRATIONS)
        record = DeploymentRecord("iris", "multi", "starting", ["a:1"], "http://h:2", "/d", 1)
        assert not book.claim(record)  # the old row is live: its name is taken
        book.update("iris", status="stopped", stopped_at=13.0)
        assert book.claim(record)
        assert [(d.name, d.mode, d.refs) for d in book.list()] == [("iris", "multi", ["a:1"])]


def test_an_old_async_queue_keeps_its_requests(tmp_path):
    path = tmp_path / "queue.sqlite"
    with raw(path) as db:
        db.executescript(OLD_REQUESTS)
        db.execute(
            "INSERT INTO requests (id, status, content_type, body, body_file, input_location, "
            "output_location, created_at) VALUES (?,?,?,?,?,?,?,?)",
            ("r1", PENDING, "text/csv", b"1,2\n", None, None, "/out/r1.out", 5.0),
        )
    with contextlib.closing(AsyncQueue(str(path))) as queue:
        assert version_of(path) == 1
        assert queue.get("r1").output_location == "/out/r1.out"
        claimed = queue.claim("worker-1")
        assert claimed is not None and claimed.id == "r1" and claimed.body == b"1,2\n"
        assert queue.complete("r1", "/out/r1.out", worker_id="worker-1")
        assert queue.counts()["completed"] == 1


def test_an_old_stat_cache_is_still_trusted(tmp_path):
    path, model = tmp_path / "statcache.sqlite", tmp_path / "model.bin"
    model.write_bytes(b"weights")
    st = model.stat()
    later = st.st_ctime_ns + 10**10  # hashed well after its last change: not "racily clean"
    with raw(path) as db:
        db.executescript(OLD_FILES)
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(model), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "d1", later),
        )
    with contextlib.closing(StatCache(str(path))) as cache:
        assert cache.lookup(str(model), st) == "d1"
        assert version_of(path) == 1
        cache.record([(str(tmp_path / "other"), st, "d2", later)])
        assert cache.lookup(str(tmp_path / "other"), st) == "d2"


def test_a_column_added_later_moves_no_field(tmp_path):
    class JobBookWithNotes(JobBook):
        # Two statements, one with a ';' inside a string: the script is split as SQLite does.
        MIGRATIONS = (
            *JobBook.MIGRATIONS,
            "ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT 'a;b';"
            "CREATE INDEX jobs_note ON jobs(note)",
        )

    path = old_jobs_db(tmp_path / "jobs.sqlite")
    with contextlib.closing(JobBookWithNotes(str(path))) as book:
        assert book.get("j-done").runner_host == "old-host"
        assert book.get("j-done").outputs == ["Job - nightly:1"]
        assert version_of(path) == 2
        assert book.db.execute("SELECT note FROM jobs WHERE id = 'j-done'").fetchone()[0] == "a;b"
    # A book one version behind the file refuses it rather than misreading it, every time.
    behind = JobBook(str(path))
    for _ in range(2):
        with pytest.raises(ModelshelfError, match="schema version 2"):
            behind.list()


def test_migrations_continue_from_the_stored_version(tmp_path):
    path = old_jobs_db(tmp_path / "jobs.sqlite")
    with contextlib.closing(JobBook(str(path))) as book:
        book.list()  # the first connection adopts the file as version 1
    assert version_of(path) == 1
    with contextlib.closing(CountedJobBook(str(path))) as counted:
        assert len(counted.list()) == 2 and runs(counted) == 1
    with contextlib.closing(CountedJobBook(str(path))) as again:
        assert runs(again) == 1 and version_of(path) == 2


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path):
    def half_done(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE jobs ADD COLUMN priority INTEGER")
        raise RuntimeError("disk on fire")

    class Broken(JobBook):
        MIGRATIONS = (*JobBook.MIGRATIONS, half_done)

    path = old_jobs_db(tmp_path / "jobs.sqlite")
    with contextlib.closing(Broken(str(path))) as broken, pytest.raises(RuntimeError):
        broken.list()
    # Version 1 and the step ran in one transaction: neither is kept.
    assert version_of(path) == 0
    with raw(path) as db:
        assert "priority" not in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    with contextlib.closing(JobBook(str(path))) as book:
        assert len(book.list()) == 2 and version_of(path) == 1


def test_a_failed_step_is_rolled_back_on_a_connection_that_stays_open(tmp_path):
    # migrate() leaves the connection usable: the failed upgrade is undone, not half kept.
    path = str(tmp_path / "queue.sqlite")
    with contextlib.closing(connect(path)) as conn:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            migrate(conn, path, ("CREATE TABLE a (x)", "INSERT INTO missing VALUES (1)"))
        assert not conn.in_transaction
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
        migrate(conn, path, ("CREATE TABLE a (x)",))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path[:0] = sys.argv[1:3]
    from test_state_migrations import CountedJobBook
    from modelshelf.core.jobs.job_book import JobRecord
    path, go = sys.argv[3], sys.argv[4]
    while not os.path.exists(go):
        time.sleep(0.005)
    book = CountedJobBook(path)
    job_id = f"j-{os.getpid()}"
    book.insert(JobRecord(job_id, "child", "queued", {}, "/w", time.time()))
    print(book.get(job_id).id)
    book.close()
    """
)


def test_processes_opening_an_old_database_at_once_migrate_it_once(tmp_path):
    path, go = old_jobs_db(tmp_path / "jobs.sqlite"), tmp_path / "go"
    paths = [str(Path(modelshelf.__file__).parent.parent), str(Path(__file__).parent)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *paths, str(path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # let every interpreter start, then release them together
    go.touch()
    made = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        made.append(out.strip())
    assert version_of(path) == len(CountedJobBook.MIGRATIONS)
    with raw(path) as db:
        assert db.execute("SELECT COUNT(*) FROM migration_runs").fetchone()[0] == 1
        ids = {row[0] for row in db.execute("SELECT id FROM jobs")}
    assert ids == {"j-done", "j-waiting", *made} and len(made) == 3


OPENERS: dict[str, Callable[[str], object]] = {
    "jobs": lambda path: JobBook(path).list(),
    "deployments": lambda path: DeploymentBook(path).list(),
    "queue": lambda path: AsyncQueue(path),
}


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_a_database_from_a_newer_modelshelf_is_refused_with_what_to_do(kind, tmp_path):
    path = tmp_path / f"{kind}.sqlite"
    with raw(path) as db:
        db.execute("CREATE TABLE from_the_future (x)")
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(ModelshelfError) as refused:
        OPENERS[kind](str(path))
    message = str(refused.value)
    assert str(path) in message and "schema version 7" in message
    assert "newer modelshelf" in message and "Upgrade modelshelf" in message
    assert "MODELSHELF_STATE_DIR" in message
    assert version_of(path) == 7  # untouched


def test_a_stat_cache_from_a_newer_modelshelf_is_just_not_used(tmp_path):
    path, model = tmp_path / "statcache.sqlite", tmp_path / "model.bin"
    model.write_bytes(b"weights")
    st = model.stat()
    with raw(path) as db:
        db.execute("PRAGMA user_version = 5")
    with contextlib.closing(StatCache(str(path))) as cache:
        assert cache.preload([str(model)]) == {}
        cache.record([(str(model), st, "d1", st.st_ctime_ns + 10**10)])
        assert cache.lookup(str(model), st) is None
    assert version_of(path) == 5
