"""Small JSON records with an owner and an expiry, shared by locks and leases."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from modelshelf.core.processes import pid_alive

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
