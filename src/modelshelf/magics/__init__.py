"""IPython magics: ``%model``, ``%job``, ``%deploy`` and ``%shelf``.

``%load_ext modelshelf`` calls :func:`load_ipython_extension`. The magics speak the grammar
of the ``modelshelf`` command (``%model save NAME`` is ``modelshelf save NAME``) and return
core objects that show as tables in Jupyter and as the CLI's text elsewhere. Settings::

    %config ModelshelfMagics.root = "s3://bucket/models"
    %config ModelshelfMagics.max_rows = 100
    %config ModelshelfMagics.progress = False
"""

from __future__ import annotations

from typing import Any

from modelshelf.magics.magics import ModelshelfMagics

__all__ = ["ModelshelfMagics", "load_ipython_extension", "unload_ipython_extension"]


def _loaded(ipython: Any) -> list[ModelshelfMagics]:
    return [c for c in getattr(ipython, "configurables", []) if isinstance(c, ModelshelfMagics)]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython`` (one instance per shell)."""
    if _loaded(ipython):
        return  # `%load_ext` twice, or both `modelshelf` and `modelshelf.magics`
    # The instance adds itself to ipython.configurables (for %config) and reads ipython.config.
    ipython.register_magics(ModelshelfMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Close the magics' store databases and forget the instance (``%unload_ext``)."""
    for magics in _loaded(ipython):
        magics.close()
        ipython.configurables.remove(magics)
