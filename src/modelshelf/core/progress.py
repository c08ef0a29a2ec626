"""Progress reporting: the core calls a callback; faces render it (tqdm, ipywidgets)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """A snapshot of a long operation: which phase, and how far in bytes and files."""

    phase: str
    done_bytes: int
    total_bytes: int
    done_files: int
    total_files: int


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Thread-safe counter that reports to an optional callback."""

    def __init__(
        self, phase: str, total_bytes: int, total_files: int, callback: ProgressCallback | None
    ) -> None:
        self._phase = phase
        self._total_bytes = total_bytes
        self._total_files = total_files
        self._callback = callback
        self._bytes = 0
        self._files = 0
        self._lock = threading.Lock()
        self._report()

    def advance(self, nbytes: int = 0, files: int = 0) -> None:
        if self._callback is None:
            return
        with self._lock:
            self._bytes += nbytes
            self._files += files
            self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(
                Progress(
                    self._phase, self._bytes, self._total_bytes, self._files, self._total_files
                )
            )
