"""A form built from a notebook's ``parameters`` cell: one typed widget per parameter.

int -> IntText, float -> FloatText, bool -> Checkbox, str -> Text; list, dict, tuple and
untyped parameters get a Text holding a Python or JSON literal. Only the parameters the
user changed are sent, so an untouched one keeps the notebook's own default (which may be
an expression such as ``np.arange(3)`` that no widget could hold).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from modelshelf.core.jobs.parameters import NotebookParameter, check_parameters

_LITERAL_KINDS = ("list", "dict", "tuple", "any")
_STYLE = {"description_width": "10em"}
_LAYOUT = w.Layout(width="32em")


def parameter_widget(parameter: NotebookParameter) -> w.ValueWidget:
    """The input widget for one parameter, holding its default."""
    tip = f"{parameter.type}; default {parameter.default_source}"
    if parameter.help:
        tip = f"{parameter.help} ({tip})"
    common: dict[str, Any] = {
        "description": parameter.name,
        "tooltip": tip,
        "style": _STYLE,
        "layout": _LAYOUT,
    }
    default = parameter.default
    if parameter.type == "int":
        is_int = isinstance(default, int) and not isinstance(default, bool)
        return w.IntText(value=default if is_int else 0, **common)
    if parameter.type == "float":
        is_number = isinstance(default, (int, float)) and not isinstance(default, bool)
        return w.FloatText(value=float(default) if is_number else 0.0, **common)
    if parameter.type == "bool":
        return w.Checkbox(value=bool(default), indent=True, **common)
    if parameter.type == "str":
        return w.Text(value=default if isinstance(default, str) else "", **common)
    # Lists, dicts, tuples and untyped values: the literal as the notebook writes it.
    return w.Text(value=parameter.default_source, placeholder="a Python or JSON literal", **common)


class ParameterForm:
    """Widgets for a notebook's parameters; :meth:`values` returns the checked changes."""

    def __init__(self, declared: dict[str, NotebookParameter]) -> None:
        self.declared = declared
        self.fields: dict[str, w.ValueWidget] = {
            name: parameter_widget(p) for name, p in declared.items()
        }
        # What each widget held when built: a parameter is sent only once changed.
        self._initial = {name: field.value for name, field in self.fields.items()}
        body: list[w.Widget] = list(self.fields.values())
        if not body:
            body = [w.HTML("<i>this notebook has no parameters cell</i>")]
        self.widget = w.VBox(body)

    def changed(self) -> dict[str, Any]:
        """Raw values of the fields the user changed (literal fields still as text)."""
        return {
            name: field.value
            for name, field in self.fields.items()
            if field.value != self._initial[name]
        }

    def values(self) -> dict[str, Any]:
        """The changed parameters, converted and checked against the notebook's cell.

        Literal fields are read as the command line reads ``-p name value`` (JSON, then a
        Python literal); raises ParameterError naming the bad parameter.
        """
        raw = self.changed()
        literal = {n: v for n, v in raw.items() if self.declared[n].type in _LITERAL_KINDS}
        typed = {n: v for n, v in raw.items() if n not in literal}
        checked = check_parameters(self.declared, typed)
        # from_strings converts the literal texts and checks their types in one go.
        checked.update(check_parameters(self.declared, literal, from_strings=True))
        return checked

    def close(self) -> None:
        for field in self.fields.values():
            field.close()
        self.widget.close()
