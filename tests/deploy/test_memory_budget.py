"""A multi-model endpoint's memory budget counts what models take once loaded, not their folders.

The models here are a few hundred bytes of serve.py that allocate hundreds of MiB when
loaded (every page written, so it is resident). At most two of them are loaded at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from modelshelf import Shelf
from modelshelf.core.deploy import memory
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.deploy.model_cache import ModelCache
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.errors import ModelTooLargeError, ServingError

MiB = 2**20
TARGET = "X-Amzn-SageMaker-Target-Model"

HUNGRY = """\
MiB = 2 ** 20


class Weights:
    def __init__(self, mib):
        self.data = bytearray(mib * MiB)
        self.data[::4096] = b"\\x01" * len(range(0, len(self.data), 4096))  # resident
{report}

def load(model_dir):
    return Weights({mib})


def predict(model, data):
    return [len(model.data) // MiB]
"""

# What Weights may say of itself, as an attribute or a method.
ATTRIBUTE = "    memory_bytes = {says} * MiB\n"
METHOD = "    def memory_bytes(self):\n        return {says} * MiB\n"

ADAPTER = """\
MiB = 2 ** 20


class ModelAdapter:
    def load(self, model_dir):
        self.data = bytearray({mib} * MiB)
        self.data[::4096] = b"\\x01" * len(range(0, len(self.data), 4096))  # resident

    def memory_bytes(self):
        return {says} * MiB

    def predict(self, data):
        return [len(self.data) // MiB]
"""


def model_folder(root: Path, name: str, source: str, **files: bytes) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "serve.py").write_text(source)
    for file, content in files.items():
        (folder / file).write_bytes(content)
    return folder


def hungry(mib: int, report: str = "", says: int = 0) -> str:
    """serve.py of a model allocating ``mib`` MiB; ``report`` (says ``says`` MiB) if given."""
    return HUNGRY.format(mib=mib, report=report.format(says=says))


@pytest.fixture
def shelf(tmp_path):
    root = tmp_path / "models"
    store = Shelf(tmp_path / "store")
    store.save("hungry", model_folder(root, "hungry", hungry(200)))
    store.save("tiny", model_folder(root, "tiny", hungry(0)))
    vague = hungry(200, "    memory_bytes = 'lots'\n")
    store.save("vague", model_folder(root, "vague", vague))
    store.save("claims", model_folder(root, "claims", hungry(0, ATTRIBUTE, says=60)))
    store.save("boasts", model_folder(root, "boasts", hungry(0, METHOD, says=150)))
    store.save("modest", model_folder(root, "modest", ADAPTER.format(mib=200, says=10)))
    weights = {"weights.bin": b"\0" * 55 * MiB}  # never read by its serve.py
    store.save("lean", model_folder(root, "lean", hungry(0, ATTRIBUTE, says=1), **weights))
    yield store
    store.close()


@pytest.fixture
def endpoint(shelf):
    """``endpoint(budget)``: a running multi-model deployment and an HTTP client to it."""
    manager = DeploymentManager(shelf, ready_timeout=60)
    clients: list[httpx.Client] = []

    def start(memory_budget: str) -> tuple[httpx.Client, int]:
        deployment = manager.deploy([], mode="multi", name="mme", memory_budget=memory_budget)
        assert deployment.status == "ready", deployment.logs()
        clients.append(httpx.Client(base_url=deployment.url, timeout=60))
        return clients[-1], deployment.pid

    yield start
    for client in clients:
        client.close()
    for deployment in manager.list():
        deployment.stop()
    manager.close()


def add(client: httpx.Client, name: str, url: str) -> httpx.Response:
    return client.post("/models", json={"model_name": name, "url": url})


def states(client: httpx.Client) -> dict[str, str]:
    return {m["name"]: m["state"] for m in client.post("/v2/repository/index").json()}


def resident(pid: int) -> int:
    """The resident memory of the server process (one uvicorn worker: the process itself)."""
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_models_with_1_kb_folders_count_the_200_mib_they_allocate(endpoint, shelf):
    assert shelf.show("hungry").size < 1000
    client, pid = endpoint("300MiB")
    before = resident(pid)
    assert add(client, "a", "hungry").status_code == 200
    assert client.post("/models/a/invoke", json=[1]).json() == [200]
    assert add(client, "b", "hungry").status_code == 200
    # 200 + 200 MiB is over 300 MiB: the least recently used one went.
    assert states(client) == {"a": "UNAVAILABLE", "b": "READY"}
    assert client.post("/models/a/invoke", json=[1]).json() == [200]  # loaded again
    assert states(client) == {"a": "READY", "b": "UNAVAILABLE"}
    # What was unloaded was freed: one model's worth is resident, not two or three.
    assert resident(pid) - before < 300 * MiB


def test_a_model_over_the_whole_budget_is_refused_and_unloaded(endpoint, shelf):
    client, pid = endpoint("100MiB")
    before = resident(pid)
    refused = add(client, "big", "hungry")
    assert refused.status_code == 507
    assert "resident memory" in refused.json()["error"]
    assert "memory budget" in refused.json()["error"]
    assert client.get("/models/big").status_code == 404
    by_ref = client.post("/invocations", json=[1], headers={TARGET: "hungry:1"})
    assert by_ref.status_code == 507
    assert states(client) == {}
    assert shelf.leases.live("hungry", 1) == []
    # A model whose report is no number fails to load; it is unloaded just the same.
    vague = add(client, "vague", "vague")
    assert vague.status_code == 500 and "whole number of bytes" in vague.json()["error"]
    assert states(client) == {}
    assert resident(pid) - before < 100 * MiB  # their 200 MiB were handed back
    # A small model counts its folder (its load's few KiB are noise): it fits.
    assert add(client, "small", "tiny").status_code == 200


def test_what_a_model_reports_is_what_it_counts(endpoint):
    client, _ = endpoint("100MiB")
    # claims allocates nothing but reports 60 MiB: two of them do not fit in 100 MiB.
    assert add(client, "c1", "claims").status_code == 200
    assert add(client, "c2", "claims").status_code == 200
    assert states(client) == {"c1": "UNAVAILABLE", "c2": "READY"}
    # modest (a ModelAdapter) allocates 200 MiB but reports 10 MiB: its report wins.
    assert add(client, "modest", "modest").status_code == 200
    assert client.post("/models/modest/invoke", json=[1]).json() == [200]
    # lean's 55 MiB folder holds weights it never reads; it reports 1 MiB, twice fits.
    assert add(client, "l1", "lean").status_code == 200
    assert add(client, "l2", "lean").status_code == 200
    assert states(client) == {
        "c1": "UNAVAILABLE", "c2": "READY", "l1": "READY", "l2": "READY", "modest": "READY"
    }  # fmt: skip
    boasts = add(client, "boasts", "boasts")  # reports 150 MiB, allocates nothing
    assert boasts.status_code == 507 and "memory_bytes" in boasts.json()["error"]
    assert "boasts" not in states(client)


def test_the_counted_memory_of_each_model(tmp_path):
    folders = {
        "hungry": model_folder(tmp_path, "hungry", hungry(200)),
        "modest": model_folder(tmp_path, "modest", ADAPTER.format(mib=200, says=10)),
        "tiny": model_folder(tmp_path, "tiny", hungry(0), **{"w.bin": b"\0" * 5000}),
        "liar": model_folder(tmp_path, "liar", hungry(0, "    memory_bytes = -1\n")),
        "vague": model_folder(tmp_path, "vague", hungry(0, "    memory_bytes = 'lots'\n")),
    }
    dropped: list[str] = []

    def loader(name: str, url: str) -> ModelHandler:
        return load_handler(str(folders[url]), name)

    def unloaded(name: str, handler: ModelHandler) -> None:
        dropped.append(name)

    cache = ModelCache(loader, memory_budget=300 * MiB, on_unload=unloaded)
    for name in folders:
        cache.register(name, name)
    try:
        cache.load("hungry")
        assert abs(cache.memory_of("hungry") - 200 * MiB) < memory.NOISE_FLOOR
        cache.load("modest")
        assert cache.memory_of("modest") == 10 * MiB
        assert cache.loaded() == ["hungry", "modest"]
        cache.unload("hungry")
        cache.load("tiny")
        tiny = cache.get("tiny")
        assert cache.memory_of("tiny") == tiny.size_bytes > 5000
        assert cache.memory_used == 10 * MiB + tiny.size_bytes
        for bad in ("liar", "vague"):
            with pytest.raises(ServingError, match="whole number of bytes"):
                cache.load(bad)
            assert not cache.is_loaded(bad) and dropped[-1] == bad
        cache.memory_budget = 100 * MiB
        with pytest.raises(ModelTooLargeError, match="resident memory its load added"):
            cache.load("hungry")
        assert dropped[-1] == "hungry" and cache.loaded() == ["modest", "tiny"]
    finally:
        cache.close()


def test_where_memory_cannot_be_read_reports_and_folders_are_counted(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(memory, "resident_bytes", lambda: None)
    folders = {
        "claims": model_folder(tmp_path, "claims", hungry(0, ATTRIBUTE, says=60)),
        "tiny": model_folder(tmp_path, "tiny", hungry(0)),
    }
    cache = ModelCache(lambda name, url: load_handler(str(folders[url]), name), memory_budget=MiB)
    assert "cannot be read" in caplog.text
    for name in folders:
        cache.register(name, name)
    try:
        with pytest.raises(ModelTooLargeError, match="as its memory_bytes reports"):
            cache.load("claims")
        tiny = cache.load("tiny")
        assert cache.memory_of("tiny") == tiny.size_bytes
    finally:
        cache.close()
