"""Commands that only read the store start fast: each imports what it needs when it runs.

A command's start-up time is mostly the modules it imports, so this checks those, in a fresh
interpreter per command (a count that does not vary with the machine's load, unlike a
timing); bench/cli_startup.py measures the wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# What reading a store never needs: serving, jobs, sources to save from, the faces' libraries.
HEAVY = (
    "modelshelf.core.deploy.manager",
    "modelshelf.core.deploy.deployment",
    "modelshelf.core.jobs.manager",
    "modelshelf.core.jobs.job",
    "modelshelf.core.sources",
    "modelshelf.core.environment",
    "modelshelf.cli.views.jobs",
    "modelshelf.cli.views.deploy",
    "asyncio",
    "urllib.request",
    "importlib.metadata",
    "fsspec",
    "starlette",
    "uvicorn",
    "httpx",
    "papermill",
    "tqdm",
    "IPython",
    "ipywidgets",
    "jupyter_server",
)
# What --help does not need either: the store itself and its configuration.
STORE = ("modelshelf.core.store", "traitlets")

_PROBE = """
import json, sys
from modelshelf.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def imported_by(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    """The exit code of ``modelshelf ARGV...`` run in a fresh interpreter, and every module
    it had imported when it ended."""
    report = tmp_path / "imported.json"
    root = tmp_path / "store"
    command = [sys.executable, "-c", _PROBE, str(report), "--root", str(root), *argv]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    done = json.loads(report.read_text())
    return done["code"], set(done["modules"])


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["ls"], 0), (["ls", "--json"], 0), (["show", "ghost"], 1), (["versions", "ghost"], 1)],
    ids=["ls", "ls --json", "show", "versions"],
)
def test_reading_the_store_imports_no_serving_jobs_or_sources(tmp_path, argv, code) -> None:
    exit_code, modules = imported_by(tmp_path, *argv)
    assert exit_code == code
    assert "modelshelf.core.store.shelf" in modules  # it did read the store
    assert sorted(m for m in HEAVY if m in modules) == []


@pytest.mark.parametrize("argv", [["--help"], ["save", "--help"], ["deploy", "--help"]])
def test_help_imports_only_the_grammar(tmp_path, argv) -> None:
    exit_code, modules = imported_by(tmp_path, *argv)
    assert exit_code == 0
    assert sorted(m for m in (*HEAVY, *STORE) if m in modules) == []


def test_a_save_still_imports_what_it_needs_when_it_runs(tmp_path) -> None:
    """The other side: lazy imports are imported, and work, when a command uses them."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"abc")
    exit_code, modules = imported_by(tmp_path, "save", "demo", str(folder))
    assert exit_code == 0
    assert {"modelshelf.core.sources", "modelshelf.core.environment"} <= modules
    exit_code, _ = imported_by(tmp_path, "show", "demo:1")
    assert exit_code == 0
