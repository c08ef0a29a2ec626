"""REST deploy of a multi-model endpoint over a model-data prefix (a folder under the
server's root)."""

from __future__ import annotations

import io
import tarfile

import pytest

pytestmark = pytest.mark.timeout(180)

HANDLER = """\
def serve(data, context):
    if data is None:
        return None
    return [{"echo": data[0]["body"].decode(), "model": context.model_name}]
"""


@pytest.fixture
def saved(shelf, tmp_path, jp_root_dir):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    shelf.save("plain", folder)
    (jp_root_dir / "handlers").mkdir()
    (jp_root_dir / "handlers" / "mms.py").write_text(HANDLER)
    (jp_root_dir / "model-data").mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member = tarfile.TarInfo("DocSim-3-params.json")
        member.size = 2
        tar.addfile(member, io.BytesIO(b"{}"))
    (jp_root_dir / "model-data" / "DocSim-3.tar.gz").write_bytes(buffer.getvalue())


async def test_deploy_a_model_data_prefix_and_invoke_a_key(api, saved, wait_for):
    body = {"refs": ["plain"], "mode": "multi", "name": "mme-api",
            "handler": "handlers/mms.py:serve", "model_data": "model-data",
            "model_data_cache": "1MB"}  # fmt: skip
    status, task = await api("POST", "deployments", body=body)
    assert status == 202, task
    try:
        task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
        assert task["status"] == "succeeded", task
        invoke = {"payload": [1, 2], "model": "DocSim-3.tar.gz"}
        status, answer = await api("POST", "deployments", "mme-api", "invoke", body=invoke)
        assert status == 200, answer
        assert answer == {"answer": {"echo": "[1, 2]", "model": "DocSim-3"}}
    finally:
        await api("POST", "deployments", "mme-api", "stop")


async def test_a_model_data_folder_outside_the_server_s_roots_is_refused(api, saved):
    body = {"refs": ["plain"], "mode": "multi", "model_data": "/etc"}
    code, error = await api("POST", "deployments", body=body)
    assert code == 400, error
    assert "outside the folders" in error["message"]
