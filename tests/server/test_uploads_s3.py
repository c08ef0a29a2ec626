"""An upload into a store on S3 (a moto server on 127.0.0.1): the staged files are copied
to the bucket by the save's transfers (no link into a remote store), then staging is empty."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import extension_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(s3_bucket):
    bucket, options, _ = s3_bucket
    return extension_config(f"s3://{bucket}/store", options)


async def test_an_upload_into_an_s3_store(api, wait_for, shelf, jp_serverapp):
    uploads = jp_serverapp.web_app.settings["modelshelf"].uploads
    files = {"weights.bin": os.urandom(200_000), "sub/config.json": b'{"layers": 2}'}
    body = {"name": "to-s3", "files": [{"path": p, "size": len(b)} for p, b in files.items()]}
    status, created = await api("POST", "uploads", body=body)
    assert status == 201, created
    for index, data in enumerate(files.values()):
        status, _ = await api("PUT", "uploads", created["id"], "files", str(index), raw=data,
                              params={"offset": "0"})  # fmt: skip
        assert status == 200
    status, task = await api("POST", "uploads", created["id"], "commit")
    assert status == 202
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    assert shelf.backend.url.startswith("s3://")
    for path, data in files.items():
        with shelf.open("to-s3:1", path) as fh:
            assert fh.read() == data
    assert list(Path(uploads.root).iterdir()) == []
