"""Text and JSON views of what the commands return, one module per group of commands.

Handlers return core objects and never print; :func:`render` turns them into tables for
people or JSON for programs. The IPython magics reuse it so both faces look the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelshelf.cli.views import deploy, jobs, models
from modelshelf.core.jsonable import to_jsonable

_VIEWS = (models, jobs, deploy)
_TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    name: view for module in _VIEWS for name, view in module.TEXT_VIEWS.items()
}
_JSON_VIEWS: dict[str, Callable[[Any], Any]] = {
    name: view for module in _VIEWS for name, view in module.JSON_VIEWS.items()
}

__all__ = ["command_of", "render"]


_BY_TYPE = [pair for module in _VIEWS for pair in module.BY_TYPE]
_LISTED = {kind: view for module in _VIEWS for kind, view in module.LISTED.items()}


def command_of(result: object) -> str:
    """The command whose view fits ``result`` when the caller does not say."""
    if isinstance(result, list):
        if not result:
            return "ls"  # an empty list has no type; the model listing says "no models yet"
        kinds = {type(item) for item in result}
        if len(kinds) == 1 and (view := _LISTED.get(kinds.pop())) is not None:
            return view
        return command_of(result[0])  # JSON renders any list; text takes the item's view
    for kind, view in _BY_TYPE:
        if isinstance(result, kind):
            return view
    raise TypeError(f"no view for {type(result).__name__}")


def render(result: object, as_json: bool, command: str | None = None) -> str:
    """The text (or JSON with ``as_json``) that ``command`` prints for ``result``.

    ``command`` picks the view where one type serves several commands (``save``, ``show``
    and ``rm`` all return a ModelVersion); without it the view follows the result's type.
    """
    view = command or command_of(result)
    if as_json:
        return json.dumps(_JSON_VIEWS.get(view, to_jsonable)(result), indent=2)
    return _TEXT_VIEWS[view](result)
