"""Shelf configuration (arguments, traitlets, environment) and lock interplay."""

from __future__ import annotations

import os

import pytest
from store_helpers import make_model
from traitlets.config import Config

from modelshelf import Shelf, SizeLimitError, StoreBusyError


def test_root_from_argument_env_and_default(tmp_path, monkeypatch):
    assert Shelf(tmp_path / "a").backend.url == str(tmp_path / "a")
    monkeypatch.setenv("MODELSHELF_ROOT", str(tmp_path / "env"))
    assert Shelf().backend.url == str(tmp_path / "env")
    monkeypatch.delenv("MODELSHELF_ROOT")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Shelf().backend.url == str(tmp_path / "home" / ".modelshelf")


def test_root_with_user_and_vars_expands(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELF_BASE", str(tmp_path))
    assert Shelf("$SHELF_BASE/s").backend.url == os.path.join(str(tmp_path), "s")


def test_traitlets_config(tmp_path):
    config = Config()
    config.Shelf.root = str(tmp_path / "configured")
    config.Shelf.max_model_size = "1KB"
    shelf = Shelf(config=config)
    assert shelf.backend.url == str(tmp_path / "configured")
    assert shelf.max_model_size == 1000
    with pytest.raises(SizeLimitError, match="1,000 bytes"):
        shelf.save("big", make_model(tmp_path / "src", {"a.bin": b"x" * 2000}))


def test_max_model_size_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHELF_MAX_MODEL_SIZE", "2 MiB")
    assert Shelf(tmp_path / "s").max_model_size == 2 * 2**20


def test_save_waits_for_gc_then_gives_up_clearly(tmp_path):
    shelf = Shelf(tmp_path / "s", lock_wait=0.3)
    source = make_model(tmp_path / "src", {"a": "1"})
    with shelf.locks.exclusive("gc"), pytest.raises(StoreBusyError, match="gc"):
        shelf.save("m", source)
    assert shelf.list() == []
    assert shelf.save("m", source).version == 1


def test_missing_bucket_is_a_clear_storage_error(s3_endpoint, tmp_path):
    from modelshelf import StorageError

    options = {"endpoint_url": s3_endpoint, "key": "k", "secret": "s", "skip_instance_cache": True}
    shelf = Shelf("s3://no-such-bucket-here/root", storage_options=options)
    assert shelf.list() == []  # an empty store, as a new local folder would be
    with pytest.raises(StorageError, match="create the bucket"):
        shelf.save("m", make_model(tmp_path / "m", {"a": "1"}))


def test_closed_endpoint_is_a_storage_error(tmp_path):
    import socket

    from modelshelf import StorageError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "k",
        "secret": "s",
        "skip_instance_cache": True,
        "retries": 1,
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
    }
    shelf = Shelf("s3://bucket/root", storage_options=options)
    with pytest.raises(StorageError, match="check the URL"):
        shelf.list()
