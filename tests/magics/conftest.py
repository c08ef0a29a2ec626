"""A testing shell with ``%load_ext modelshelf`` on a fresh store, as jupysql tests its magics."""

from __future__ import annotations

from pathlib import Path

import pytest
from magic_helpers import TestingShell
from traitlets.config import Config

from modelshelf.magics import ModelshelfMagics


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def ip(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh shell per test, its magics on ``store``; cleared afterwards.

    IPython keeps one shell per process (a singleton) and its history in ~/.ipython: both
    are kept from leaking into other tests (history off, IPYTHONDIR in tmp_path).
    """
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "_ipython"))
    for key in ("JPY_SESSION_NAME", "ML_JOB_ID", "ML_JOB_NAME", "MODELSHELF_JOB_PARAMETERS"):
        monkeypatch.delenv(key, raising=False)
    config = Config()
    config.HistoryManager.enabled = False
    shell = TestingShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "modelshelf")
        shell.run_line_magic("config", f"ModelshelfMagics.root = {str(store)!r}")
        yield shell
    finally:
        for magics in [c for c in shell.configurables if isinstance(c, ModelshelfMagics)]:
            magics.close()
        TestingShell.clear_instance()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A small model folder: two files, one in a subfolder."""
    path = tmp_path / "model"
    (path / "sub").mkdir(parents=True)
    (path / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (path / "sub" / "config.json").write_text('{"layers": 2}')
    return path
