"""Renewing leases and locks: one background helper, and no renewal that revives a release."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from store_helpers import make_model

from modelshelf.core.deploy.serve import lease_renewer
from modelshelf.core.deploy.store_models import StoreModels
from modelshelf.core.errors import LockLostError
from modelshelf.core.jobs.lifecycle import held_lease
from modelshelf.core.renewal import Renewer
from modelshelf.core.store import expiring, locks
from modelshelf.core.store.layout import lease_key, lock_key
from modelshelf.core.store.locks import StoreLocks
from support import wait_for

RENEWAL_LOG = "modelshelf.core.renewal"
ECHO = "def load(model_dir):\n    return None\n\ndef predict(model, data):\n    return data\n"


class Background:
    """Run ``fn`` in a thread, keeping its result or exception for the test to check."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = fn()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float | None = 60) -> Background:
        self.thread.join(timeout)
        return self

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def value(self) -> Any:
        self.join()
        assert self.done, "the background call never returned"
        if self.error is not None:
            raise self.error
        return self.result


def warnings_about(caplog, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == RENEWAL_LOG and r.levelno == logging.WARNING and text in r.getMessage()
    ]


@pytest.fixture
def saved(shelf, tmp_path):
    """``shelf`` holding model ``m:1``."""
    shelf.save("m", make_model(tmp_path / "model", {"weights.bin": b"w" * 100}))
    return shelf


# ---- the helper -------------------------------------------------------------------------------


def test_renewer_renews_every_interval_until_stopped():
    calls = []
    renewer = Renewer(0.01, name="test renewal every interval")
    renewer.add("the thing", lambda: calls.append(time.monotonic()) or True)
    with renewer:
        wait_for(lambda: len(calls) >= 3, timeout=30)
    # Joined on exit: nothing renews once the holder goes on to release.
    assert not any(t.name == "test renewal every interval" for t in threading.enumerate())


def test_renewer_stops_at_once_not_after_its_interval():
    calls = []
    renewer = Renewer(3600).start()
    renewer.add("the thing", lambda: calls.append(1) or True)
    started = time.monotonic()
    renewer.stop()
    assert time.monotonic() - started < 60  # an hour if it waited for the interval
    assert calls == []


def test_renewer_can_run_in_a_callers_thread():
    calls = []
    renewer = Renewer(0.01)
    renewer.add("the thing", lambda: calls.append(1) or True)
    runner = Background(renewer.run)
    wait_for(lambda: len(calls) >= 2, timeout=30)
    renewer.stop()
    assert runner.value() is None


def test_a_failing_renewal_is_logged_with_its_error_and_retried(caplog):
    outcomes = [RuntimeError("the store is down"), RuntimeError("still down"), True, True]

    def renew() -> bool:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    renewer = Renewer(100)
    renewal = renewer.add("the lease on m:1 (job 7)", renew)
    renewer.renew_now()
    renewer.renew_now()
    assert renewal.failures == 2
    logged = warnings_about(caplog, "could not renew the lease on m:1 (job 7)")
    assert [str(r.exc_info[1]) for r in logged] == ["the store is down", "still down"]
    assert "2 failure(s) in a row" in logged[1].getMessage()
    renewer.renew_now()
    assert renewal.failures == 0 and not renewal.lost
    renewer.renew_now()
    assert outcomes == []  # retried every round, never given up on


def test_failures_are_retried_on_schedule_in_the_background(caplog):
    calls = []

    def renew() -> bool:
        calls.append(1)
        raise OSError("no route to host")

    renewer = Renewer(0.01)
    renewer.add("the lock for gc", renew)
    with renewer:
        wait_for(lambda: len(calls) >= 3, timeout=30)
    logged = warnings_about(caplog, "could not renew the lock for gc")
    assert len(logged) == len(calls)
    assert all(isinstance(r.exc_info[1], OSError) for r in logged)


def test_a_record_that_is_gone_is_logged_once_and_no_longer_renewed(caplog):
    calls = []
    renewer = Renewer(100)
    renewal = renewer.add("the lease on m:1 (job 7)", lambda: calls.append(1) or False)
    other = renewer.add("the lease on m:2 (job 7)", lambda: True)
    renewer.renew_now()
    renewer.renew_now()
    assert calls == [1] and renewal.lost and not other.lost
    assert len(warnings_about(caplog, "the lease on m:1 (job 7) is gone")) == 1


def test_discard_waits_for_a_renewal_in_flight():
    entered, finish = threading.Event(), threading.Event()
    calls = []

    def renew() -> bool:
        calls.append(1)
        entered.set()
        finish.wait(60)
        return True

    renewer = Renewer(100)
    renewal = renewer.add("the lease on m:1", renew)
    renewing = Background(renewer.renew_now)
    assert entered.wait(60)
    discarding = Background(lambda: renewer.discard(renewal))
    assert not discarding.join(0.2).done  # still renewing: the caller may not release yet
    finish.set()
    renewing.value()
    discarding.value()
    renewer.renew_now()
    assert calls == [1]


# ---- leases: renewing never brings a released one back ----------------------------------------


def test_renewing_extends_a_held_lease(saved):
    lease = saved.lease("m:1", owner="job 7", ttl=60)
    renewed = saved.leases.renew(lease, ttl=600)
    assert renewed is not None and renewed.expires_at > lease.expires_at + 500
    assert [live.expires_at for live in saved.leases.live("m", 1)] == [renewed.expires_at]


def test_a_released_lease_is_not_renewed_back(saved):
    lease = saved.lease("m:1", owner="job 7", ttl=60)
    saved.leases.release(lease)
    assert saved.leases.renew(lease, ttl=600) is None
    assert saved.leases.live("m", 1) == []
    assert not saved.backend.exists(lease_key("m", 1, lease.id))


def test_a_renewal_only_extends_its_owners_record(saved):
    lease = saved.lease("m:1", owner="job 7", ttl=60)
    impostor = dataclasses.replace(lease, owner="job 8")
    assert saved.leases.renew(impostor, ttl=600) is None
    assert [live.owner for live in saved.leases.live("m", 1)] == ["job 7"]


def lease_record(shelf) -> tuple[str, Callable[[], object], Callable[[], None]]:
    lease = shelf.lease("m:1", owner="job 7", ttl=60)
    key = lease_key("m", 1, lease.id)
    return key, lambda: shelf.leases.renew(lease, ttl=600), lambda: shelf.leases.release(lease)


def lock_record(shelf) -> tuple[str, Callable[[], object], Callable[[], None]]:
    key = lock_key("0123abcd")
    shelf.backend.create(key, expiring.encode(expiring.new_record("save m", 60, exclusive=False)))

    def renew() -> float | None:
        return expiring.renew(shelf.backend, key, "save m", 600, exclusive=False)

    return key, renew, lambda: shelf.backend.remove(key)


@pytest.mark.parametrize("record", [lease_record, lock_record], ids=["lease", "lock"])
def test_a_release_between_a_renewals_read_and_write_wins(saved, record, monkeypatch):
    """The old renewal wrote blindly; here it reads the record, the release deletes it, and
    only then does the renewal try to write: the record must stay deleted."""
    key, renew, release = record(saved)
    read, go = threading.Event(), threading.Event()
    extended = expiring.extended

    def extended_after_a_pause(*args: Any, **kwargs: Any):
        read.set()  # the renewal has read the record...
        go.wait(60)  # ...and writes only once the test says so
        return extended(*args, **kwargs)

    monkeypatch.setattr(expiring, "extended", extended_after_a_pause)
    renewing = Background(renew)
    assert read.wait(30)
    releasing = Background(release)
    if saved.backend.url.startswith("s3://"):
        # S3 has no lock: the release deletes the object, the conditional put then fails.
        assert releasing.join().done
        go.set()
        assert renewing.value() is None
    else:
        # Locally (flock) and in memory (a lock) the release waits for the renewal to end.
        assert not releasing.join(0.2).done
        go.set()
        assert renewing.value() is not None
    releasing.value()
    assert not saved.backend.exists(key)


@pytest.mark.parametrize("ours", [False, True], ids=["changed", "our-own-retry"])
def test_s3_rewrite_is_refused_when_the_object_changed_since_it_was_read(s3_bucket, ours):
    from modelshelf.core.store.fsspec_backend import FsspecBackend

    bucket, options, _ = s3_bucket
    backend = FsspecBackend(f"s3://{bucket}/root", options)
    backend.write("locks/x.json", b"first")
    meanwhile = b"ours" if ours else b"someone else's"

    def update(data: bytes) -> bytes:
        assert data == b"first"
        backend.write("locks/x.json", meanwhile)  # lands between the read and the put
        return b"ours"

    # A put of ours retried after its first attempt landed also fails its precondition.
    assert backend.rewrite("locks/x.json", update) is ours
    assert backend.read_bytes("locks/x.json") == meanwhile


# ---- store locks ------------------------------------------------------------------------------


def only_lock_key(store_locks: StoreLocks) -> str:
    [holder] = store_locks.holders()
    return lock_key(holder["id"])


def test_a_held_lock_is_renewed_in_the_background(shelf):
    store_locks = StoreLocks(shelf.backend, ttl=1.5)  # renewed every half second
    with store_locks.shared("save m"):
        [first] = store_locks.holders()
        wait_for(lambda: store_locks.holders()[0]["expires_at"] > first["expires_at"], timeout=30)
    assert store_locks.holders() == []


def test_a_lock_removed_while_held_is_not_recreated_and_fails_its_holder(shelf, caplog):
    store_locks = StoreLocks(shelf.backend, ttl=1.5)
    lapsed = pytest.raises(LockLostError, match="lock for save m lapsed")
    with lapsed, store_locks.shared("save m"):
        key = only_lock_key(store_locks)
        shelf.backend.remove(key)  # e.g. an operator clearing locks by hand
        wait_for(lambda: warnings_about(caplog, "shared store lock for save m is gone"), 30)
        assert not shelf.backend.exists(key)


def test_a_lock_that_lapsed_is_not_extended_and_fails_its_holder(local_shelf, caplog, monkeypatch):
    def store_down(*args: Any, **kwargs: Any) -> float:
        raise OSError("the store is unreachable")

    monkeypatch.setattr(locks.expiring, "renew", store_down)
    store_locks = StoreLocks(local_shelf.backend, ttl=0.3)
    with pytest.raises(LockLostError, match="lapsed"), store_locks.exclusive("gc"):
        [held] = store_locks.holders()
        wait_for(lambda: warnings_about(caplog, "could not renew the exclusive store lock"))
        wait_for(lambda: time.time() > held["expires_at"], timeout=30)
    assert local_shelf.backend.list("locks") == []


# ---- the holders: jobs, deployments, multi-model endpoints ------------------------------------


def test_a_job_holds_its_lease_for_its_life_then_releases_it(saved):
    with held_lease(saved, "m:1", owner="job 7") as lease:
        assert [live.id for live in saved.leases.live("m", 1)] == [lease.id]
    assert saved.leases.live("m", 1) == []


def test_a_deployment_released_by_its_manager_is_not_renewed_back(saved, caplog):
    lease = saved.lease("m:1", owner="deployment api", ttl=60)
    config = {
        "root": saved.root,
        "storage_options": saved.storage_options,
        "leases": [dataclasses.asdict(lease)],
    }
    renewer = lease_renewer(config)  # what the server process runs
    renewer.renew_now()
    [live] = saved.leases.live("m", 1)
    assert live.expires_at > lease.expires_at
    saved.leases.release(lease)  # the manager stopping the deployment, from its own process
    renewer.renew_now()
    assert saved.leases.live("m", 1) == []
    assert warnings_about(caplog, "the lease on m:1 (deployment api) is gone")


def test_a_multi_model_endpoint_stops_renewing_a_model_it_unloads(saved, tmp_path, caplog):
    model = make_model(tmp_path / "echo", {"serve.py": ECHO})
    saved.save("echo", model)
    endpoint = StoreModels(
        saved, max_models=0, memory_budget=0, models_dir=str(tmp_path / "loaded"), lease_ttl=60
    )
    try:
        endpoint.load_new("e", "echo:1")
        [before] = saved.leases.live("echo", 1)
        endpoint._renewer.renew_now()
        [after] = saved.leases.live("echo", 1)
        assert after.expires_at > before.expires_at
        endpoint.cache.unload("e")
        endpoint._renewer.renew_now()
        assert saved.leases.live("echo", 1) == []
        assert not warnings_about(caplog, "echo:1")  # discarded before release, not lost
    finally:
        endpoint.close()
