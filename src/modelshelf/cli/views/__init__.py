"""Text and JSON views of what the commands return, one module per group of commands.

Handlers return core objects and never print; :func:`render` turns them into tables for
people or JSON for programs. The IPython magics reuse it so both faces look the same.
A view module is imported when a command of its group is rendered: ``ls`` never imports
the job or deployment classes that the other groups' views name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType

__all__ = ["command_of", "render"]


def _view_modules() -> Iterator[ModuleType]:
    """The view modules in the order their types are matched, each imported only when the
    ones before it did not serve."""
    from modelshelf.cli.views import models

    yield models
    from modelshelf.cli.views import jobs

    yield jobs
    from modelshelf.cli.views import deploy

    yield deploy
    from modelshelf.cli.views import schedules

    yield schedules


def _home(command: str) -> ModuleType:
    """The view module of ``command`` (every command has a text view)."""
    for module in _view_modules():
        if command in module.TEXT_VIEWS:
            return module
    raise KeyError(command)


def command_of(result: object) -> str:
    """The command whose view fits ``result`` when the caller does not say."""
    modules = list(_view_modules())
    if isinstance(result, list):
        if not result:
            return "ls"  # an empty list has no type; the model listing says "no models yet"
        kinds = {type(item) for item in result}
        listed = {kind: view for module in modules for kind, view in module.LISTED.items()}
        if len(kinds) == 1 and (view := listed.get(kinds.pop())) is not None:
            return view
        return command_of(result[0])  # JSON renders any list; text takes the item's view
    for module in modules:
        for kind, view in module.BY_TYPE:
            if isinstance(result, kind):
                return view
    raise TypeError(f"no view for {type(result).__name__}")


def render(result: object, as_json: bool, command: str | None = None) -> str:
    """The text (or JSON with ``as_json``) that ``command`` prints for ``result``.

    ``command`` picks the view where one type serves several commands (``save``, ``show``
    and ``rm`` all return a ModelVersion); without it the view follows the result's type.
    """
    view = command or command_of(result)
    module = _home(view)
    if as_json:
        from modelshelf.core.jsonable import to_jsonable

        return json.dumps(module.JSON_VIEWS.get(view, to_jsonable)(result), indent=2)
    return module.TEXT_VIEWS[view](result)
