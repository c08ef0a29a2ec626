"""modelshelf: versioned models, notebook jobs and deployments from inside Jupyter.

>>> from modelshelf import Shelf
>>> shelf = Shelf()                      # MODELSHELF_ROOT or ~/.modelshelf
>>> v = shelf.save("churn", "/opt/ml/models", params={"C": 1.0})
>>> shelf.load("churn:1", "/tmp/churn")
"""

from modelshelf._version import __version__
from modelshelf.core import *  # noqa: F403 - the public API is the core's
from modelshelf.core import __all__ as _core_all

__all__ = ["__version__", *_core_all]
