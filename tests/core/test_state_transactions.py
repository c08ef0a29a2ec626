"""A write transaction that fails rolls back and lets go of the write lock."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.jobs.job_book import QUEUED, JobBook, JobRecord
from modelshelf.core.state import connect, write_transaction


def _lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_a_failed_block_writes_nothing_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    conn = connect(str(path))
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), write_transaction(conn) as db:
        db.execute("INSERT INTO t VALUES (1)")
        assert not _lock_is_free(path)  # held while the block runs
        raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    assert _lock_is_free(path)
    with write_transaction(conn) as db:
        db.execute("INSERT INTO t VALUES (2)")
    assert [tuple(row) for row in conn.execute("SELECT x FROM t")] == [(2,)]


def test_claiming_a_slot_for_an_unknown_job_says_so_and_blocks_no_one(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    book = JobBook(str(path))
    with pytest.raises(ModelNotFoundError, match="no job 'ghost'"):
        book.claim_slot("ghost", 0, 1, "host")
    assert _lock_is_free(path)
    record = JobRecord("j1", "j", QUEUED, {}, str(tmp_path), time.time())
    JobBook(str(path)).insert(record)  # another process's write goes through at once
    assert book.get("j1").status == QUEUED


def test_a_deployment_update_names_only_its_own_columns(tmp_path: Path) -> None:
    from modelshelf.core.deploy.deployment_book import DeploymentBook

    book = DeploymentBook(str(tmp_path / "deployments.sqlite"))
    with pytest.raises(ValueError, match="not a deployment field: status = 'x'; --"):
        book.update("d", **{"status = 'x'; --": 1})
