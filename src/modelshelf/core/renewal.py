"""Keeping expiring records (store leases and locks) alive from a background thread.

One loop with one error policy for every holder: a renewal that raises is logged with its
traceback, naming what it renews, and tried again next round (the interval is a fraction of
the record's TTL, so a missed round or two is harmless). A renewal that returns False says
the record is gone (released, expired or replaced elsewhere): that is logged once and the
record is no longer renewed, since renewing it again could only fail or bring it back.

Whether a renewal can bring a released record back is the renew callable's business (see
:func:`modelshelf.core.store.expiring.renew`); :meth:`Renewer.discard` and
:meth:`Renewer.stop` make sure no renewal of ours is still in flight when the holder then
releases the record itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

RenewFn = Callable[[], bool]


class Renewal:
    """One record kept alive by a :class:`Renewer`: what it is, and how it fared so far."""

    def __init__(self, what: str, renew: RenewFn) -> None:
        self.what = what
        self.renew = renew
        #: True once ``renew()`` said the record is gone; it is not renewed any more.
        self.lost = False
        #: Failed attempts in a row (reset by a success).
        self.failures = 0
        self._discarded = False
        # Held while renewing, so that discard() returns only once no renewal is in flight.
        self._busy = threading.Lock()

    def __repr__(self) -> str:
        return f"<Renewal {self.what!r} lost={self.lost} failures={self.failures}>"


class Renewer:
    """Calls each added record's ``renew()`` every ``interval`` seconds until stopped.

    Use it as a context manager (a daemon thread runs between enter and exit), or call
    :meth:`run` from a thread of your own and :meth:`stop` from elsewhere::

        with Renewer(ttl / 3) as renewer:
            renewer.add(f"the lease on {lease.ref}", lambda: book.renew(lease) is not None)
            ...
    """

    def __init__(self, interval: float, *, name: str = "renewal") -> None:
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._renewals: list[Renewal] = []
        self._thread: threading.Thread | None = None

    def add(self, what: str, renew: RenewFn) -> Renewal:
        """Renew a record from the next round on; ``what`` names it in log messages."""
        renewal = Renewal(what, renew)
        with self._lock:
            self._renewals.append(renewal)
        return renewal

    def discard(self, renewal: Renewal) -> None:
        """Stop renewing a record; returns once no renewal of it is in flight."""
        with self._lock:
            if renewal in self._renewals:
                self._renewals.remove(renewal)
        with renewal._busy:
            renewal._discarded = True

    def renew_now(self) -> None:
        """One round: renew every record once (the background loop calls this)."""
        with self._lock:
            renewals = list(self._renewals)
        for renewal in renewals:
            self._renew(renewal)

    def _renew(self, renewal: Renewal) -> None:
        with renewal._busy:
            if renewal._discarded or renewal.lost:
                return
            try:
                held = renewal.renew()
            except Exception:
                renewal.failures += 1
                log.warning(
                    "could not renew %s (%d failure(s) in a row); retrying in %.3g s",
                    renewal.what,
                    renewal.failures,
                    self.interval,
                    exc_info=True,
                )
                return
            if held:
                renewal.failures = 0
                return
            renewal.lost = True
        with self._lock:
            if renewal in self._renewals:
                self._renewals.remove(renewal)
        log.warning(
            "%s is gone (released, expired or replaced elsewhere); it is no longer renewed",
            renewal.what,
        )

    def run(self) -> None:
        """Renew every ``interval`` seconds until :meth:`stop` (blocks the calling thread)."""
        while not self._stop.wait(self.interval):
            self.renew_now()

    def start(self) -> Renewer:
        """Run :meth:`run` in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop at once (not after the current wait) and wait for our thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> Renewer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
