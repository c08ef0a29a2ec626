"""The deployment manager: real server processes on 127.0.0.1, started, invoked and stopped."""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import time
from pathlib import Path

import pytest

from modelshelf import ModelInUseError, Shelf
from modelshelf.core.deploy.client import http_request
from modelshelf.core.deploy.manager import PORT_ATTEMPTS, DeploymentManager
from modelshelf.core.errors import DeploymentError, StorageError
from modelshelf.core.processes import pid_alive
from support import session_members


@pytest.fixture
def shelf(tmp_path):
    from sklearn.linear_model import LinearRegression

    store = Shelf(tmp_path / "store")
    sk = tmp_path / "sk"
    sk.mkdir()
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])  # y = 2x + 1
    (sk / "model.pkl").write_bytes(pickle.dumps(model))
    store.save("linear", sk)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "serve.py").write_text(
        "def load(model_dir):\n    raise RuntimeError('weights are missing')\n\n"
        "def predict(model, data):\n    return data\n"
    )
    store.save("broken", broken)
    yield store
    store.close()


def test_realtime_deployment_serves_until_stopped(manager, shelf):
    deployment = manager.deploy("linear", workers=2)
    assert deployment.status == "ready", deployment.logs()
    assert deployment.url.startswith("http://127.0.0.1:")
    answer = deployment.invoke({"instances": [[3.0], [4.0]]})
    assert [round(x, 6) for x in answer["predictions"]] == [7.0, 9.0]
    status, _, _ = http_request(deployment.url + "/ping")
    assert status == 200
    # Two uvicorn workers and their supervisor share the server's session.
    processes = session_members(deployment.pid)
    assert len(processes) >= 3
    # The deployed version is leased: it cannot be deleted while served.
    with pytest.raises(ModelInUseError, match="deployment linear"):
        shelf.delete("linear:1")
    assert [d.name for d in manager.list()] == ["linear"]

    deployment.stop()
    assert deployment.status == "stopped"
    assert not any(pid_alive(p) for p in processes)
    shelf.delete("linear:1")  # the lease went with the deployment


def test_a_model_that_cannot_load_fails_with_its_traceback(manager):
    deployment = manager.deploy("broken")
    assert deployment.status == "failed"
    assert "weights are missing" in deployment.error
    assert "RuntimeError" in deployment.traceback and "serve.py" in deployment.traceback
    assert not pid_alive(deployment.pid)


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"weights.txt": b"not a model"}, "cannot serve odd: its folder has no serve.py"),
        ({"model.pkl": b"not a pickle"}, "UnpicklingError"),
    ],
    ids=["nothing it can serve", "a broken pickle"],
)
def test_a_folder_it_cannot_serve_fails_with_the_reason_and_no_traceback(
    manager, shelf, tmp_path, files, why
):
    """Frames of modelshelf's own loaders tell a user nothing: only their code's are shown."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    shelf.save("odd", folder)
    deployment = manager.deploy("odd")
    assert deployment.status == "failed" and why in deployment.error
    assert deployment.error.count("\n") == 0 and "HandlerNotFoundError" not in deployment.error
    assert deployment.traceback is None
    assert deployment.describe()["traceback"] is None
    assert (
        deployment.card().value("traceback") is None and "traceback" not in deployment.card().text()
    )
    # The server's log keeps modelshelf's own traceback, for whoever debugs modelshelf.
    assert "Traceback (most recent call last)" in deployment.logs()
    assert "loaders.py" in deployment.logs()


def test_names_are_unique_while_live_and_bad_input_is_clear(manager):
    manager.deploy("linear", name="api")
    with pytest.raises(DeploymentError, match="already running"):
        manager.deploy("linear", name="api")
    with pytest.raises(DeploymentError, match="unknown mode"):
        manager.deploy("linear", mode="serverless")
    with pytest.raises(DeploymentError, match="exactly one"):
        manager.deploy(["linear", "broken"], mode="realtime")
    manager.stop("api")
    assert manager.deploy("linear", name="api").status == "ready"


def test_other_processes_see_the_deployment_and_a_dead_server_is_failed(manager, shelf):
    deployment = manager.deploy("linear", name="seen")
    other = DeploymentManager(Shelf(shelf.backend.url))
    assert other.get("seen").url == deployment.url
    os.killpg(deployment.pid, 9)
    deadline = time.monotonic() + 10
    while pid_alive(deployment.pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    dead = other.get("seen")
    assert dead.status == "failed" and dead.traceback is None
    assert dead.error.startswith("the server process died") and "server.log" in dead.error
    other.close()


def test_multi_model_endpoint_loads_models_on_demand(manager, shelf, tmp_path):
    deployment = manager.deploy([], mode="multi", name="mme", max_models=1)
    assert deployment.status == "ready", deployment.logs()
    first = deployment.invoke([[2.0]], model="linear:1")
    assert [round(x, 6) for x in first] == [5.0]
    status, body, _ = http_request(deployment.url + "/models")
    assert status == 200 and json.loads(body)["models"][0]["modelUrl"] == "linear:1"


def test_async_deployment_writes_results(manager, tmp_path):
    deployment = manager.deploy("linear", mode="async", name="batchy")
    accepted = deployment.invoke({"instances": [[10.0]]})
    output = Path(accepted["output_location"])
    deadline = time.monotonic() + 30
    while True:
        _, body, _ = http_request(f"{deployment.url}/async/requests/{accepted['inference_id']}")
        state = json.loads(body)["status"]
        if state in ("completed", "failed"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state == "completed"
    assert [round(x, 6) for x in json.loads(output.read_bytes())["predictions"]] == [21.0]


def test_serve_py_helpers_and_dataclasses_stay_per_model(tmp_path):
    from modelshelf.core.deploy.loaders import load_handler
    from modelshelf.core.deploy.payloads import decode

    handlers = []
    for value in (1, 2):
        folder = tmp_path / f"m{value}"
        folder.mkdir()
        (folder / "helpers.py").write_text(f"VALUE = {value}\n")
        (folder / "serve.py").write_text(
            "from __future__ import annotations\n"
            "import dataclasses\nimport helpers\n\n"
            "@dataclasses.dataclass\nclass Model:\n    value: int\n\n"
            "def load(model_dir):\n    return Model(helpers.VALUE)\n\n"
            "def predict(model, data):\n    return model.value\n"
        )
        handlers.append(load_handler(str(folder), f"m{value}"))
    assert [h.predict(decode(b"null", None)) for h in handlers] == [1, 2]


@pytest.fixture
def taken_ports(monkeypatch):
    """``taken_ports(n)``: another socket binds each of the next ``n`` ports the manager
    picks, just after it picked it and before its server process can bind it (a lost race).

    Returns the ports taken so far (a list that grows as the manager picks ports).
    """
    from modelshelf.core.deploy import manager as manager_module

    real = manager_module._free_port
    sockets: list[socket.socket] = []
    taken: list[int] = []

    def start(count: int) -> list[int]:
        def pick(host: str) -> int:
            port = real(host)
            if len(taken) < count:
                sock = socket.socket()
                sock.bind((host, port))
                sock.listen()
                sockets.append(sock)
                taken.append(port)
            return port

        monkeypatch.setattr(manager_module, "_free_port", pick)
        return taken

    yield start
    for sock in sockets:
        sock.close()


def test_a_port_taken_before_the_server_binds_it_is_replaced(manager, taken_ports):
    taken = taken_ports(1)
    deployment = manager.deploy("linear", name="race")
    assert deployment.status == "ready", deployment.error
    assert len(taken) == 1 and deployment.url != f"http://127.0.0.1:{taken[0]}"


def test_losing_the_port_race_every_time_gives_up_with_what_to_do(manager, shelf, taken_ports):
    taken = taken_ports(PORT_ATTEMPTS + 5)
    with pytest.raises(DeploymentError, match=r"choose a port \(port=\.\.\., or --port"):
        manager.deploy("linear", name="race")
    assert len(taken) == PORT_ATTEMPTS  # bounded: no port picked after the last attempt
    failed = manager.get("race")
    assert failed.status == "failed" and "taken by another process" in failed.error
    assert not pid_alive(failed.pid)
    shelf.delete("linear:1")  # no lease was left behind by any attempt


def test_a_port_the_user_chose_is_not_replaced(manager, taken_ports):
    taken = taken_ports(1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        deployment = manager.deploy("linear", name="mine", port=port)
    assert deployment.status == "failed" and "address already in use" in deployment.error
    assert deployment.traceback is None  # the server's own failure: the reason is one line
    assert taken == []  # the manager picked no port of its own


def test_a_lease_that_cannot_be_released_is_logged_and_the_deployment_still_stops(
    manager, shelf, monkeypatch, caplog
):
    deployment = manager.deploy("linear", name="api", wait=False)

    def unreachable(lease):
        raise StorageError("the store cannot be reached")

    monkeypatch.setattr(shelf.leases, "release", unreachable)
    with caplog.at_level(logging.WARNING, logger="modelshelf.core.deploy.manager"):
        assert deployment.stop().status == "stopped"
    [logged] = [r for r in caplog.records if r.name == "modelshelf.core.deploy.manager"]
    assert logged.getMessage() == "could not release the lease on linear:1"
    assert logged.exc_info is not None and "cannot be reached" in caplog.text
