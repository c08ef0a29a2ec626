"""The layout keeps its shape: no import cycles, and the core imports no face.

The graph is built from the code itself: every import counts, including those inside
functions (a lazy import is still an arrow a reader must follow); imports under
``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "modelshelf"
PACKAGE = SRC.name
FACES = ("cli", "magics", "widgets", "server")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return skipped


def _imported_names(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if path.name != "__init__.py":
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import name`: name may be a submodule (an arrow to it) or an attribute
            # (an arrow to pkg).
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (not its own parent packages)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(n) for n in _imported_names(module, path) if n.startswith(PACKAGE)}
        # A module's own ancestors run first anyway, and the top-level facade re-exports for
        # users: neither is an arrow of code.
        graph[module] = {
            t for t in targets if t and t != module and t != PACKAGE and not module.startswith(t)
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    """The checker itself: a circle closed by an import inside a function is found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b"]]
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from modelshelf.core.jobs.job import Job
        def f():
            from modelshelf.core.store import shelf
        """
    )
    path = tmp_path / "m.py"
    path.write_text(source)
    names = _imported_names("modelshelf.core.x", path)
    assert "modelshelf.core.store.shelf" in names
    assert not any(n.startswith("modelshelf.core.jobs") for n in names)


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_core_imports_no_face() -> None:
    graph = import_graph()
    faces = tuple(f"{PACKAGE}.{face}" for face in FACES)
    arrows = [
        (module, target)
        for module, targets in graph.items()
        if module.startswith(f"{PACKAGE}.core")
        for target in targets
        if target.startswith(faces)
    ]
    assert arrows == []


# Run in a fresh interpreter where the faces' libraries cannot be imported at all.
_WITHOUT_FACES = r"""
import importlib.abc, sys

BLOCKED = ("IPython", "ipywidgets", "jupyter_server", "ipykernel")


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocker())
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]

import json, pathlib, pickle
from modelshelf.core import Shelf
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs.manager import JobManager

work = pathlib.Path(sys.argv[1])
model = work / "model"
model.mkdir()
(model / "serve.py").write_text(
    "def load(model_dir):\n    return 2\n\n"
    "def predict(model, payload):\n    return {'doubled': [model * x for x in payload]}\n"
)
shelf = Shelf(str(work / "store"))
version = shelf.save("doubler", str(model))

jobs = JobManager(shelf)
try:
    job = jobs.submit(sys.argv[2], name="plain", output=None).wait(240)
    assert job.status == "succeeded", (job.status, job.error)
finally:
    jobs.close()

deployments = DeploymentManager(shelf)
try:
    deployment = deployments.deploy([version.ref])
    assert deployment.status == "ready", deployment.error
    answer = deployment.invoke([1, 2])
    deployment.stop()
finally:
    deployments.close()
blocked = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
print(json.dumps({"answer": answer, "blocked_loaded": blocked}))
"""


@pytest.mark.timeout(300)
def test_the_core_works_without_ipython_widgets_or_jupyter_server(tmp_path: Path) -> None:
    import nbformat

    notebook = tmp_path / "plain.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1 + 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, notebook)
    script = tmp_path / "core_only.py"
    script.write_text(_WITHOUT_FACES)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(notebook)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr
    report = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert report == {"answer": {"doubled": [2, 4]}, "blocked_loaded": []}
