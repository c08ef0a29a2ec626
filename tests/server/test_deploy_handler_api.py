"""REST deploy with a handler service (a file under the server's root) and env."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)

HANDLER = """\
import os


def serve(data, context):
    if data is None:
        return None
    return [{"echo": data[0]["body"].decode(), "greeting": os.environ.get("GREETING"),
             "model": context.model_name}]
"""


@pytest.fixture
def saved(shelf, tmp_path, jp_root_dir):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    shelf.save("plain", folder)
    (jp_root_dir / "handlers").mkdir()
    (jp_root_dir / "handlers" / "mms.py").write_text(HANDLER)


async def test_deploy_with_a_handler_and_env(api, saved, wait_for):
    body = {"refs": ["plain"], "name": "mms-api", "handler": "handlers/mms.py:serve",
            "env": {"GREETING": "hello"}}  # fmt: skip
    status, task = await api("POST", "deployments", body=body)
    assert status == 202, task
    try:
        task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
        assert task["status"] == "succeeded", task
        status, answer = await api("POST", "deployments", "mms-api", "invoke",
                                   body={"payload": [1, 2]})  # fmt: skip
        assert status == 200
        assert answer == {"answer": {"echo": "[1, 2]", "greeting": "hello", "model": "plain"}}
    finally:
        await api("POST", "deployments", "mms-api", "stop")


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({"handler": "/etc/passwd.py"}, 400, "outside the folders"),
        ({"handler": "handlers/none.py"}, 404, "none.py"),
        ({"handler": "handlers"}, 400, "not a Python file"),
        ({"env": {"1X": "y"}}, 400, "env"),
    ],
)
async def test_bad_handler_or_env_is_refused_at_once(api, saved, extra, status, fragment):
    code, error = await api("POST", "deployments", body={"refs": ["plain"], **extra})
    assert code == status, error
    assert fragment in error["message"]
