"""The Deployments panel: a real scikit-learn model served, invoked and stopped by clicks."""

from __future__ import annotations

import json
import pickle

import pytest
from widget_helpers import text

from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.store.expiring import pid_alive
from modelshelf.widgets import DeployPanel
from support import session_members


@pytest.fixture
def deployments(shelf, tmp_path):
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "linear"
    folder.mkdir()
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])  # y = 2x + 1
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    shelf.save("linear", folder)
    manager = DeploymentManager(shelf, ready_timeout=60)
    yield manager
    for deployment in manager.list():
        deployment.stop()
    manager.close()


@pytest.fixture
def panel(deployments):
    widget = DeployPanel(deployments, auto_refresh=False)
    yield widget
    widget.wait()
    widget.close()


def test_deploy_invoke_and_stop_a_linear_regression(panel, deployments, shelf):
    assert list(panel.ref.options) == ["linear"]
    assert list(panel.mode.options) == ["realtime", "multi", "async"]
    panel.ref.value = "linear"
    panel.workers.value = 1
    panel.deploy_button.click()
    assert panel.deploy_button.disabled  # the deploy runs in a thread
    assert panel.wait(120)

    deployment = deployments.get("linear")
    assert deployment.status == "ready", deployment.logs()
    assert f"linear is ready at {deployment.url}" in text(panel.deploy_status)
    assert deployment.url.startswith("http://127.0.0.1:")
    assert panel.selected() == "linear"
    assert "ready" in panel.deployment_list.options[0][0]
    assert deployment.url in panel.details.value

    panel.payload.value = json.dumps({"instances": [[3.0], [4.0]]})
    panel.send_button.click()
    assert panel.wait(60)
    answer = json.loads(text(panel.answer))
    assert [round(x, 6) for x in answer["predictions"]] == [7.0, 9.0]

    panel.payload.value = "{not json"
    panel.send_button.click()
    assert "the payload is not JSON" in text(panel.answer)

    pid = deployment.pid
    assert session_members(pid)
    panel.stop_button.click()
    assert panel.wait(60)
    assert "linear is stopped" in text(panel.status)
    assert not pid_alive(pid) and session_members(pid) == []
    assert deployments.get("linear").status == "stopped"
    assert "stopped" in panel.deployment_list.options[0][0]
    # Its lease went with it: the version can be deleted again.
    shelf.delete("linear:1")

    panel.payload.value = "[[1.0]]"
    panel.send_button.click()
    assert panel.wait(60)
    assert "deployment linear is stopped, not ready" in text(panel.answer)


def test_deploy_errors_are_shown(panel, deployments):
    panel.ref.value = "no-such-model"
    panel.deploy_button.click()
    assert panel.wait(60)
    assert "no model named 'no-such-model'" in text(panel.deploy_status)
    assert not panel.deploy_button.disabled

    panel.ref.value = "linear, linear:1"
    panel.deploy_button.click()
    assert "use mode multi" in text(panel.deploy_status)
    assert deployments.list() == []
