"""REST deploy of a model that names its requirements: wheels from a folder under the server's
root, offline, into the model's own environment; a bad find-links location is refused."""

from __future__ import annotations

import pytest

from support import write_wheel

pytestmark = pytest.mark.timeout(180)

SERVE_PY = """\
import tinydep


def load(model_dir):
    return tinydep.__version__


def predict(model, data):
    return {"tinydep": model}
"""


@pytest.fixture
def saved(shelf, tmp_path, jp_root_dir):
    folder = tmp_path / "pinned"
    folder.mkdir()
    (folder / "serve.py").write_text(SERVE_PY)
    (folder / "requirements.txt").write_text("tinydep==1.0\n")
    shelf.save("pinned", folder)
    write_wheel(jp_root_dir / "wheels", "tinydep", "1.0")


async def test_deploy_into_the_models_environment(api, saved, wait_for):
    body = {"refs": ["pinned"], "name": "env-api", "env_manager": "uv",
            "find_links": ["wheels"], "offline": True}  # fmt: skip
    status, task = await api("POST", "deployments", body=body)
    assert status == 202, task
    try:
        task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
        assert task["status"] == "succeeded", task
        python_env = task["result"]["serving"]["python_env"]
        assert python_env["installer"] == "uv" and python_env["requirements"] == ["tinydep==1.0"]
        status, answer = await api("POST", "deployments", "env-api", "invoke",
                                   body={"payload": [1]})  # fmt: skip
        assert (status, answer) == (200, {"answer": {"tinydep": "1.0"}})
    finally:
        await api("POST", "deployments", "env-api", "stop")


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({"find_links": ["/etc"]}, 400, "outside the folders"),
        ({"find_links": ["no-such-folder"]}, 404, "no find-links folder"),
        ({"env_manager": "conda"}, 400, "env_manager"),
    ],
)
async def test_bad_environment_options_are_refused_at_once(api, saved, extra, status, fragment):
    code, error = await api("POST", "deployments", body={"refs": ["pinned"], **extra})
    assert code == status, error
    assert fragment in error["message"]
