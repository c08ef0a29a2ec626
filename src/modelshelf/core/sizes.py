"""Human sizes, durations and times: parsed from what people type, formatted for them to read."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from modelshelf.core.errors import ModelshelfError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(value: int | str) -> int:
    """Bytes from an int or a string such as ``"50GB"`` or ``"1.5 GiB"``."""
    if isinstance(value, int):
        if value < 0:
            raise ModelshelfError(f"a size cannot be negative: {value}")
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise ModelshelfError(f"cannot read size {value!r}: write e.g. 50GB, 500MB or 2GiB")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(nbytes: int) -> str:
    """``1234567`` -> ``"1.2 MB"``."""
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


_SECONDS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number or a string such as ``"10ms"``, ``"90s"``, ``"15m"``, ``"2h"``
    or ``"7d"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ModelshelfError(f"a duration cannot be negative: {value}")
        return float(value)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SECONDS:
        raise ModelshelfError(
            f"cannot read duration {value!r}: write e.g. 10ms, 90s, 15m, 2h or 7d"
        )
    return float(match.group(1)) * _SECONDS[unit]


def format_duration(seconds: float | None) -> str:
    """``2.3s``, ``4m 05s``, ``1h 02m``; ``-`` when there is none yet."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_time(value: str | float | None) -> str:
    """An ISO timestamp or epoch seconds as ``2025-01-31 12:00:00Z`` (UTC)."""
    if value is None or value == "":
        return "-"
    try:
        if isinstance(value, (int, float)):
            moment = datetime.fromtimestamp(value, timezone.utc)
        else:
            # Python 3.10's fromisoformat does not accept a trailing "Z".
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
