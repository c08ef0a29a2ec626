"""Small JSON records with an owner and an expiry, shared by locks and leases."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from modelshelf.core.processes import pid_alive
from modelshelf.core.store.backend import Backend

HOST = socket.gethostname()


def new_record(owner: str, ttl: float, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "owner": owner,
        "host": HOST,
        "pid": os.getpid(),
        "created_at": now,
        "expires_at": now + ttl,
        **extra,
    }


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def decode(data: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def is_live(record: dict[str, Any], check_pid: bool, now: float | None = None) -> bool:
    """A record is live until it expires; with ``check_pid``, a dead local holder ends it too."""
    if float(record.get("expires_at", 0)) <= (now or time.time()):
        return False
    if check_pid and record.get("host") == HOST:
        return pid_alive(int(record.get("pid", 0)))
    return True


def extended(data: bytes, owner: str, ttl: float, **match: Any) -> dict[str, Any] | None:
    """The record in ``data`` with ``ttl`` more seconds from now; None unless it is
    ``owner``'s (and has the ``match`` fields), so a renewal only ever extends its own."""
    record = decode(data)
    if record is None or record.get("owner") != owner:
        return None
    if any(record.get(field) != value for field, value in match.items()):
        return None
    return {**record, "expires_at": time.time() + ttl}


def renew(backend: Backend, key: str, owner: str, ttl: float, **match: Any) -> float | None:
    """Extend the record at ``key``; its new expiry, or None when it is gone or not ours.

    Never recreates it: a record released (removed) before or during the renewal stays
    removed, as far as the backend's :meth:`~Backend.rewrite` guarantees.
    """
    expires_at = None

    def update(data: bytes) -> bytes | None:
        nonlocal expires_at
        record = extended(data, owner, ttl, **match)
        if record is None:
            return None
        expires_at = record["expires_at"]
        return encode(record)

    return expires_at if backend.rewrite(key, update) else None
