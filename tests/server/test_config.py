"""The extension is configured by traitlets: its own settings and the core's limits."""

from __future__ import annotations

import pytest

from conftest import extension_config


@pytest.fixture
def jp_server_config(store_root):
    config = extension_config(str(store_root))
    config["ModelshelfApp"].update(executor="dask", task_threads=2, source_roots=["/srv/models"])
    config["Shelf"] = {"max_model_size": "1KB"}
    config["JobManager"] = {"max_concurrent_jobs": 3, "kernel_pool": 1}
    return config


def test_settings_reach_the_extension_and_the_core(jp_serverapp, store_root):
    app = jp_serverapp.web_app.settings["modelshelf"]
    assert app.executor == "dask" and app.source_roots == ["/srv/models"]
    assert app.shelf.backend.url.endswith(str(store_root))
    assert app.shelf.max_model_size == 1000
    assert app.jobs.max_concurrent_jobs == 3
    assert app.jobs.pool is not None and app.jobs.pool.size == 1  # as configured


async def test_a_save_over_the_size_limit_fails_with_the_limit(api, jp_root_dir, wait_for):
    (jp_root_dir / "big").mkdir()
    (jp_root_dir / "big" / "weights.bin").write_bytes(b"w" * 5000)
    _, task = await api("POST", "models", body={"name": "big", "source": "big"})
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "failed"
    assert "over the limit of 1,000 bytes" in task["error"], task["error"]
    _, page = await api("GET", "models")
    assert page["total"] == 0


def test_the_server_keeps_one_job_runner_ready_unless_told_otherwise(monkeypatch):
    from traitlets.config import Config

    from modelshelf.server.app import ModelshelfApp

    monkeypatch.delenv("MODELSHELF_KERNEL_POOL", raising=False)
    assert ModelshelfApp()._job_pool_default() == {"kernel_pool": 1}
    told = Config({"JobManager": {"kernel_pool": 0}})
    assert ModelshelfApp(config=told)._job_pool_default() == {}
    monkeypatch.setenv("MODELSHELF_KERNEL_POOL", "3")
    assert ModelshelfApp()._job_pool_default() == {}
