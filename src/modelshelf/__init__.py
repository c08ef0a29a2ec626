"""modelshelf: versioned models, notebook jobs and deployments from inside Jupyter.

>>> from modelshelf import Shelf
>>> shelf = Shelf()                      # MODELSHELF_ROOT or ~/.modelshelf
>>> v = shelf.save("churn", "/opt/ml/models", params={"C": 1.0})
>>> shelf.load("churn:1", "/tmp/churn")

Names are loaded on first use (PEP 562), so that processes needing one corner of the
package (a job's executor, the CLI's --help) do not pay for importing all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelshelf._version import __version__
from modelshelf.core import __all__ as _core_all

if TYPE_CHECKING:
    from modelshelf.core import *  # noqa: F403

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", *_core_all]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext modelshelf``: register the %model, %job, %deploy and %shelf magics."""
    from modelshelf.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext modelshelf``."""
    from modelshelf.magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Where jupyter_server finds the ``modelshelf`` server extension (REST for the sidebar)."""
    from modelshelf.server.app import extension_points

    return extension_points()


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt sidebar (also in editable installs)."""
    return [{"src": "labextension", "dest": "modelshelf"}]


def __getattr__(name: str) -> Any:
    if name in _core_all:
        import modelshelf.core

        return getattr(modelshelf.core, name)
    raise AttributeError(f"module 'modelshelf' has no attribute {name!r}")
