"""The extension over a store on S3 (a moto server on 127.0.0.1), saving from an S3 URL."""

from __future__ import annotations

import pytest

from conftest import extension_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(s3_bucket):
    bucket, options, _ = s3_bucket
    return extension_config(f"s3://{bucket}/store", options)


async def test_save_from_an_s3_prefix_into_an_s3_store(api, s3_bucket, model_folder, wait_for):
    import s3fs

    bucket, options, _ = s3_bucket
    s3fs.S3FileSystem(**options).put(str(model_folder), f"{bucket}/exported", recursive=True)
    status, task = await api("POST", "models", body={
        "name": "from-s3", "source": f"s3://{bucket}/exported/", "tags": ["s3"]})  # fmt: skip
    assert status == 202
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    _, page = await api("GET", "models", params={"tag": "s3"})
    assert [m["name"] for m in page["models"]] == ["from-s3"]
    status, content = await api("GET", "models", "from-s3", "versions", "1", "files", "sub",
                                "config.json")  # fmt: skip
    assert status == 200 and content == b'{"layers": 2}'
