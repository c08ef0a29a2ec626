"""Where a model's files come from, one module per kind of source.

:func:`open_source` (in :mod:`.resolve`) picks the kind from what the user passed, in one
place: local folders and fsspec URLs there, git and Kaggle in :mod:`.vcs`, archives in
:mod:`.archives`; every kind ends as a :class:`~.tree.SourceTree`.
"""

from modelshelf.core.sources.resolve import copy_source, open_source, redact_url
from modelshelf.core.sources.tree import SourceTree

__all__ = ["SourceTree", "copy_source", "open_source", "redact_url"]
