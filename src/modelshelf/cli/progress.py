"""tqdm progress bars for the core's progress callback (the magics reuse them)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from modelshelf.core.progress import Progress


class TqdmProgress:
    """A ProgressCallback drawing one tqdm bar per phase (``save``, ``load``) on stderr."""

    def __init__(self, file: Any = None, bar_class: Any = None, **options: Any) -> None:
        """``options`` go to each tqdm bar (e.g. ``mininterval``); ``bar_class`` replaces
        tqdm (the magics pass tqdm.auto's, a widget in Jupyter)."""
        self._file = file
        self._bar_class = bar_class or tqdm
        self._options = options
        self._bar: tqdm | None = None
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        if self._bar is None or progress.phase != self._phase:
            self.close()
            self._phase = progress.phase
            self._bar = self._bar_class(
                total=progress.total_bytes,
                desc=progress.phase,
                unit="B",
                unit_scale=True,
                file=self._file if self._file is not None else sys.stderr,
                leave=False,  # the result line that follows says the same, for good
                **self._options,
            )
        # No refresh here: update() redraws at most every mininterval, even for tiny files.
        self._bar.set_postfix_str(
            f"{progress.done_files}/{progress.total_files} files", refresh=False
        )
        self._bar.update(progress.done_bytes - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
