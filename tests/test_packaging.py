"""The wheel's build of the sidebar installs from the lockfile (`npm ci`), never `npm install`.

The build function named in pyproject.toml runs here with its configured arguments, against a
stand-in ``npm`` that records its calls: the real one needs the npm registry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def builder_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]


def configured_build_function():
    """The build function, loaded as hatch-jupyter-builder loads it: a module of the root."""
    module_name, _, function_name = builder_config()["build-function"].rpartition(".")
    spec = importlib.util.spec_from_file_location(module_name, ROOT / f"{module_name}.py")
    assert spec is not None and spec.loader is not None, module_name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function_name)


@pytest.fixture
def recording_npm(tmp_path, monkeypatch) -> Path:
    """An ``npm`` first on PATH that appends its working folder and arguments to a file."""
    calls = tmp_path / "calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(calls)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps([os.getcwd(), sys.argv[1:]]) + '\\n')\n"
    )
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.mark.parametrize("version", ["standard", "editable"])
def test_sidebar_build_runs_npm_ci_then_the_build(recording_npm, monkeypatch, version):
    monkeypatch.chdir(ROOT)  # pip builds in the project folder
    kwargs = builder_config()["build-kwargs"]
    configured_build_function()("wheel", version, **kwargs)
    calls = [json.loads(line) for line in recording_npm.read_text().splitlines()]
    folder = str(ROOT / "labextension")
    assert calls == [[folder, ["ci", "--no-audit", "--no-fund"]], [folder, ["run", "build"]]]


def test_sidebar_build_without_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no npm
    kwargs = builder_config()["build-kwargs"]
    with pytest.raises(FileNotFoundError, match=r"needs Node\.js and npm; install them"):
        configured_build_function()("wheel", "standard", **kwargs)
