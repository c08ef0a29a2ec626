"""Progress bars for ``%model save`` and ``%model load``: a widget in Jupyter, text elsewhere."""

from __future__ import annotations

import warnings
from typing import Any

from modelshelf.core.progress import Progress

__all__ = ["ProgressBars"]


def _bar_class() -> Any:
    """tqdm.auto's pick: the notebook widget bar in a kernel with ipywidgets, else text.

    Without ipywidgets tqdm.auto warns (once, at import) before falling back to the text bar;
    the fallback is what we want, so that one warning is silenced here.
    """
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


class ProgressBars:
    """A :data:`~modelshelf.core.progress.ProgressCallback` drawing one bar per phase.

    Use as a context manager so the last bar is closed when the command ends.
    """

    def __init__(self, **options: Any) -> None:
        """``options`` go to each tqdm bar (e.g. ``file``, ``mininterval``)."""
        self._options = options
        self._bar: Any = None
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        if self._bar is None or progress.phase != self._phase:
            self.close()
            self._phase = progress.phase
            self._bar = _bar_class()(
                total=progress.total_bytes,
                desc=progress.phase,
                unit="B",
                unit_scale=True,
                leave=False,  # the result shown after the command says the same, for good
                **self._options,
            )
        self._bar.set_postfix_str(
            f"{progress.done_files}/{progress.total_files} files", refresh=False
        )
        self._bar.update(progress.done_bytes - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
