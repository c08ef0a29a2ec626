"""Progress bars for ``%model save`` and ``%model load``: a widget in Jupyter, text elsewhere."""

from __future__ import annotations

import warnings
from typing import Any

from modelshelf.cli.progress import TqdmProgress

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


def ProgressBars(**options: Any) -> TqdmProgress:
    """The CLI's progress callback, drawing tqdm.auto's bars (a widget in Jupyter)."""
    return TqdmProgress(bar_class=_bar_class(), **options)
