"""A notebook's parameters (its cell tagged ``parameters``), typed and checked before a job.

papermill reports a type only for annotated parameters (``epochs: int = 3``); for the others
the type is inferred from the default's literal, as a user reading the cell would.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from modelshelf.core.errors import ParameterError

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
    "tuple": (tuple, list),
}


@dataclass(frozen=True)
class NotebookParameter:
    """One parameter of a notebook: its name, type (``"any"`` if unknown), default and help."""

    name: str
    type: str
    default: Any
    default_source: str
    help: str = ""


def notebook_parameters(notebook_path: str) -> dict[str, NotebookParameter]:
    """The parameters declared in a notebook's ``parameters`` cell, in order."""
    try:
        declared = _declared_parameters(notebook_path)
    except Exception as exc:
        raise ParameterError(f"cannot read the parameters of {notebook_path}: {exc}") from exc
    out = {}
    for name, info in declared.items():
        source = info.get("default") or "None"
        try:
            default = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            default = None  # an expression such as np.arange(3): no literal default
        annotated = info.get("inferred_type_name") or "None"
        kind = annotated if annotated in _TYPES else _literal_type(default)
        out[name] = NotebookParameter(name, kind, default, source, info.get("help") or "")
    return out


def _declared_parameters(notebook_path: str) -> dict[str, dict[str, Any]]:
    """papermill's view of the parameters cell, for notebooks that name no kernel too.

    papermill picks the language of the cell from the notebook's kernelspec and fails
    without one; such a notebook runs on python3 as a job, so it is read as python3 here.
    """
    import nbformat
    import papermill
    from papermill.iorw import load_notebook_node

    nb = load_notebook_node(notebook_path)
    if nb.metadata.get("kernelspec", {}).get("name"):
        return papermill.inspect_notebook(notebook_path)
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    with tempfile.TemporaryDirectory(prefix="modelshelf-params-") as folder:
        copy = os.path.join(folder, "notebook.ipynb")
        nbformat.write(nb, copy)
        return papermill.inspect_notebook(copy)


def _literal_type(value: Any) -> str:
    if value is None:
        return "any"
    for kind in ("bool", "int", "float", "str", "list", "dict", "tuple"):
        if type(value) is _TYPES[kind][0]:
            return kind
    return "any"


def effective_parameters(
    declared: dict[str, NotebookParameter], given: dict[str, Any]
) -> dict[str, Any]:
    """Every parameter the run will see: literal defaults overridden by ``given``.

    Recorded as lineage so a model says exactly what it was trained with. Defaults that are
    expressions (``np.arange(3)``) cannot be known without running the cell and are left out.
    """
    values = {
        p.name: p.default
        for p in declared.values()
        if p.default is not None or p.default_source.strip() == "None"
    }
    return {**values, **given}


def check_parameters(
    declared: dict[str, NotebookParameter], given: dict[str, Any], *, from_strings: bool = False
) -> dict[str, Any]:
    """Return ``given`` checked against ``declared`` (and converted, for command-line strings).

    Raises :class:`ParameterError` naming every unknown parameter or wrong type, before the
    job starts, instead of a failed job later.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(f"{p.name} ({p.type})" for p in declared.values()) or "none"
        raise ParameterError(
            f"the notebook has no parameter {', '.join(unknown)}; its parameters are: {known}"
        )
    out = {}
    for name, value in given.items():
        kind = declared[name].type
        if from_strings and isinstance(value, str):
            value = _convert(name, kind, value)
        if kind in _TYPES and not _matches(kind, value):
            raise ParameterError(
                f"parameter {name} must be {_article(kind)} {kind} (its default is "
                f"{declared[name].default_source}), not {type(value).__name__} {value!r}"
            )
        out[name] = value
    return out


def _matches(kind: str, value: Any) -> bool:
    if kind in ("int", "float") and isinstance(value, bool):
        return False  # True is an int to Python, but not to someone setting epochs
    return isinstance(value, _TYPES[kind])


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind in ("list", "dict", "tuple"):
            return literal_value(text)
    except (ValueError, SyntaxError) as exc:
        raise ParameterError(
            f"parameter {name} must be {_article(kind)} {kind}, not {text!r}"
        ) from exc
    try:
        return literal_value(text)  # untyped: read it as papermill's CLI would
    except (ValueError, SyntaxError):
        return text


def literal_value(text: str) -> Any:
    """``text`` read as JSON, else as a Python literal (raises ValueError or SyntaxError)."""
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
