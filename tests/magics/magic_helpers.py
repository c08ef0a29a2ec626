"""Helpers of the magics tests: a testing shell, as jupysql tests its magics."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell

from modelshelf.magics import ModelshelfMagics


class TestingShell(InteractiveShell):
    """An InteractiveShell whose ``run_cell`` raises the cell's error instead of printing it.

    ``raise_on_error=False`` keeps IPython's own behaviour, to see what a user would see.
    """

    __test__ = False  # a helper, not a test class, for pytest

    def run_cell(self, raw_cell, *args, raise_on_error: bool = True, **kwargs):  # type: ignore[override]
        result = super().run_cell(raw_cell, *args, **kwargs)
        if raise_on_error:
            result.raise_error()
        return result


def magics_of(shell: InteractiveShell) -> ModelshelfMagics:
    """The shell's ModelshelfMagics instance (registered by %load_ext)."""
    [magics] = [c for c in shell.configurables if isinstance(c, ModelshelfMagics)]
    return magics
