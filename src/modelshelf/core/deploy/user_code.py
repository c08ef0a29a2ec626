"""Running a user's serving code: a Python file imported as a module of its own, once per
loaded model, with the folders it imports from on ``sys.path`` while it loads.

A multi-model endpoint loads many models in one process, and serving code keeps state at
module level (Multi Model Server handlers keep a singleton there, since MMS runs one worker
process per model). So each load executes the file afresh under a unique module name, and
the modules it imported from its own folders are dropped from the import cache afterwards:
the next model's ``import helpers`` runs that model's own helpers.py. The module keeps its
references, so code that imports at load time (module top, ``initialize``) keeps working;
an import of a local module first made while answering a request does not see the folders.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import itertools
import os
import site
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TypeVar

from modelshelf.core.errors import ServingError

T = TypeVar("T")

# sys.path and sys.modules belong to the whole process: two models loading at once in two
# threads would see each other's folders and could share a helper module.
_LOADING = threading.RLock()
_SERIAL = itertools.count(1)
# The modules import_file made that are still registered: never forgotten as "local".
_PRIVATE: set[str] = set()


def call_user(name: str, what: str, call: Callable[[], T]) -> T:
    """``call()``, the user's errors raised as a ServingError carrying their traceback."""
    try:
        return call()
    except Exception as exc:
        raise ServingError(
            f"{name}: {what} failed: {type(exc).__name__}: {exc}", user_traceback(exc)
        ) from exc


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback from the first frame of the user's own code (their serve.py,
    handler, inference.py, the helpers beside them) on; "" when no frame is theirs.

    The frames before theirs are modelshelf's way in, which tells a user nothing they can
    change; a failure with no frame of theirs (a broken pickle fails inside pickle, a
    library inside the library) is said by its one-line message alone.
    """
    tb = exc.__traceback__
    while tb is not None and not _is_users(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    if tb is None:
        return ""
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _is_users(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap> is Python's; <string> not
        return not filename.startswith("<frozen")
    path = os.path.realpath(filename)
    return not any(path.startswith(folder) for folder in _not_users_folders())


@functools.cache
def _not_users_folders() -> tuple[str, ...]:
    """modelshelf's own package, the standard library and the installed packages."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = sysconfig.get_paths()
    folders = [package, *(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))]
    folders.append(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(folder), "") for folder in folders)


@contextlib.contextmanager
def local_imports(roots: Sequence[str], owned: Sequence[str] = ()) -> Iterator[None]:
    """Put the existing ``roots`` first on ``sys.path`` for the block, loads serialised, and
    write no bytecode cache meanwhile.

    Afterwards the modules the block imported are forgotten if they came from a root (a
    top-level module or package found there, and its submodules) or lie anywhere under an
    ``owned`` folder (the model's own copy). Only the root itself counts, not what lies
    below it: a handler's folder may hold a virtualenv whose numpy must stay imported once.
    """
    folders = [os.path.abspath(f) for f in roots if os.path.isdir(f)]
    with _LOADING:
        before = set(sys.modules)
        # sys.path is rebound, never changed in place: another thread's import (uvicorn's
        # first getaddrinfo imports encodings.idna) iterates the list it read, and removing
        # entries from that list under it skips the stdlib's ("unknown encoding: idna").
        sys.path = [*folders, *sys.path]
        # No __pycache__ written into the folders: a model folder may be served in place (a
        # local folder on a multi-model endpoint, a submit directory) and is never changed.
        wrote_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            yield
        finally:
            sys.dont_write_bytecode = wrote_bytecode
            remaining = list(sys.path)
            for folder in folders:
                remaining.remove(folder)  # one occurrence each: the one put first above
            sys.path = remaining
            _forget_local(set(sys.modules) - before, folders, [os.path.abspath(f) for f in owned])


def import_file(path: str, prefix: str, name: str) -> ModuleType:
    """Execute ``path`` as a new module ``<prefix>_<digest>_<n>``, registered in sys.modules
    (dataclasses and pickle look classes up there); the user's errors are a ServingError."""
    digest = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:12]
    module_name = f"{prefix}_{digest}_{next(_SERIAL)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ServingError(f"{name}: cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    _PRIVATE.add(module_name)
    try:
        call_user(name, os.path.basename(path), lambda: spec.loader.exec_module(module))
    except BaseException:
        forget(module)
        raise
    return module


def forget(module: ModuleType) -> None:
    """Drop ``module`` from the import cache (when its model is unloaded), so it and what it
    holds can be freed once the last request using it ends."""
    _PRIVATE.discard(module.__name__)
    if sys.modules.get(module.__name__) is module:
        del sys.modules[module.__name__]


def _forget_local(new: set[str], roots: list[str], owned: list[str]) -> None:
    found = {key: sys.modules[key] for key in new - _PRIVATE if key in sys.modules}
    local_tops = {
        key for key, module in found.items() if "." not in key and _found_in(module, roots)
    }
    for key, module in found.items():
        if key.partition(".")[0] in local_tops or any(_under(p, owned) for p in _places(module)):
            del sys.modules[key]


def _places(module: ModuleType) -> list[str]:
    """Where a module lives: its file, or its package folders (a namespace package)."""
    file = getattr(module, "__file__", None)
    if file:
        return [os.path.abspath(file)]
    return [os.path.abspath(p) for p in getattr(module, "__path__", None) or []]


def _found_in(module: ModuleType, roots: list[str]) -> bool:
    """Whether a top-level module was found directly in one of ``roots`` (a sys.path entry)."""
    for place in _places(module):
        parent = os.path.dirname(place)
        if os.path.basename(place) == "__init__.py":
            parent = os.path.dirname(parent)
        if parent in roots:
            return True
    return False


def _under(place: str, folders: list[str]) -> bool:
    return any(place.startswith(os.path.join(folder, "")) for folder in folders)
