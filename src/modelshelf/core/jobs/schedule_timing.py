"""When a schedule is due: a cron expression in a time zone, or a fixed rate.

Cron times are computed by croniter in the schedule's own time zone, so daylight saving is
handled as cron does: a 02:30 run happens at 03:00 on the spring-forward night (the hour
that does not exist), and once, not twice, on the autumn night that repeats 02:00-03:00.
A rate (``every="15m"``, SageMaker's ``rate(15 minutes)``) counts from an anchor (the
schedule's creation), so its due times do not drift with the scheduler's ticks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from modelshelf.core.errors import ScheduleError
from modelshelf.core.sizes import format_duration, parse_duration

# SageMaker's rate(value unit) expressions, as well as our own "15m".
_RATE = re.compile(r"rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)", re.IGNORECASE)
_RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
#: The shortest rate a schedule may have (tests use seconds-level rates).
MIN_RATE = 1.0


def parse_rate(every: float | str) -> float:
    """Seconds between runs from ``"15m"``, ``"30s"``, ``90`` or ``"rate(5 minutes)"``."""
    match = _RATE.fullmatch(every.strip()) if isinstance(every, str) else None
    try:
        seconds = (
            int(match.group(1)) * _RATE_UNITS[match.group(2).lower()]
            if match
            else parse_duration(every)
        )
    except Exception as exc:
        raise ScheduleError(
            f"cannot read the rate {every!r}: write e.g. 30s, 15m, 2h, 1d or rate(5 minutes)"
        ) from exc
    if seconds < MIN_RATE:
        raise ScheduleError(f"a schedule's rate must be at least {MIN_RATE:g}s, not {every!r}")
    return float(seconds)


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``, ``UTC``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
        ) from exc


def _repeated(t: float, zone: ZoneInfo) -> bool:
    """True when ``t`` is the second occurrence of its local wall-clock time (DST's end)."""
    local = datetime.fromtimestamp(t, zone)
    return local.replace(fold=0).timestamp() != local.timestamp()


@dataclass(frozen=True)
class Timing:
    """A schedule's "when": exactly one of ``cron`` (with ``timezone``) or ``every``."""

    cron: str | None = None
    timezone: str = "UTC"
    every: float | None = None
    anchor: float = 0.0

    @classmethod
    def make(
        cls,
        *,
        cron: str | None = None,
        timezone: str | None = None,
        every: float | str | None = None,
        anchor: float = 0.0,
    ) -> Timing:
        """A checked timing; raises :class:`ScheduleError` for a bad expression."""
        if (cron is None) == (every is None):
            raise ScheduleError("a schedule needs exactly one of --cron EXPR or --every DURATION")
        if every is not None:
            if timezone not in (None, "UTC"):
                raise ScheduleError("--timezone goes with --cron; a rate counts real seconds")
            return cls(every=parse_rate(every), anchor=anchor)
        zone = timezone or "UTC"
        check_timezone(zone)
        if not croniter.is_valid(cron):
            raise ScheduleError(
                f"cannot read the cron expression {cron!r}: five fields, minute hour "
                "day-of-month month day-of-week, e.g. '0 3 * * 1' (03:00 every Monday)"
            )
        return cls(cron=cron, timezone=zone, anchor=anchor)

    def next_after(self, t: float) -> float:
        """The first due time strictly after ``t`` (seconds since the epoch)."""
        if self.every is not None:
            steps = math.floor((t - self.anchor) / self.every) + 1
            return self.anchor + max(steps, 0) * self.every
        zone = check_timezone(self.timezone)
        due = float(croniter(self.cron, datetime.fromtimestamp(t, zone)).get_next(float))
        if self._hour_is_fixed() and _repeated(due, zone):
            # The autumn hour that happens twice: a job at a fixed hour runs at its first
            # occurrence only, as cron does (jobs every hour or minute run in both).
            return self.next_after(due)
        return due

    def _hour_is_fixed(self) -> bool:
        fields = str(self.cron).split()
        return len(fields) >= 2 and "*" not in fields[1]

    def due_between(self, start: float, end: float, limit: int = 10_000) -> Iterator[float]:
        """Due times ``d`` with ``start <= d <= end``, oldest first (at most ``limit``)."""
        due = self.next_after(start - 1e-6)
        count = 0
        while due <= end and count < limit:
            yield due
            count += 1
            due = self.next_after(due)

    def period_hint(self) -> float:
        """About how long between two runs (a rate's period; a cron's next gap)."""
        if self.every is not None:
            return self.every
        first = self.next_after(self.anchor)
        return self.next_after(first) - first

    def describe(self) -> str:
        """``every 15m 00s`` or ``cron 0 3 * * 1 (Europe/Paris)``."""
        if self.every is not None:
            return f"every {format_duration(self.every)}"
        return f"cron {self.cron} ({self.timezone})"

    def to_dict(self) -> dict[str, object]:
        return {
            "cron": self.cron,
            "timezone": self.timezone,
            "every": self.every,
            "anchor": self.anchor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Timing:
        return cls(
            cron=data.get("cron"),  # type: ignore[arg-type]
            timezone=str(data.get("timezone") or "UTC"),
            every=data.get("every"),  # type: ignore[arg-type]
            anchor=float(data.get("anchor") or 0.0),  # type: ignore[arg-type]
        )
