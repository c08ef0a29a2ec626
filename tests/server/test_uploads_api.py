"""Uploads from the user's computer over REST: announce, chunks, commit, cancel, expiry.

A real Jupyter server with the extension (refusing anonymous requests); the bytes go through
HTTP into the staging folder and, on commit, into the store the server serves.
"""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from modelshelf.core.store.digests import digest_bytes

CHUNK = 64 * 1024


@pytest.fixture
def uploads(jp_serverapp):
    """The running extension's UploadManager."""
    return jp_serverapp.web_app.settings["modelshelf"].uploads


def staged(uploads) -> list[str]:
    """Everything left under the staging root."""
    return [str(p) for p in Path(uploads.root).rglob("*")]


async def begin(api, name: str, files: dict[str, bytes], **extra):
    body = {"name": name, "files": [{"path": p, "size": len(b)} for p, b in files.items()],
            **extra}  # fmt: skip
    return await api("POST", "uploads", body=body)


async def send(api, upload_id: str, index: int, data: bytes, chunk: int = CHUNK) -> dict:
    answer: dict = {}
    for offset in range(0, len(data), chunk):
        status, answer = await api("PUT", "uploads", upload_id, "files", str(index),
                                   raw=data[offset : offset + chunk],
                                   params={"offset": str(offset)})  # fmt: skip
        assert status == 200, answer
    return answer


async def upload(api, wait_for, name: str, files: dict[str, bytes], **extra) -> dict:
    """The whole round: announce, send every file in chunks, commit, follow the task."""
    status, created = await begin(api, name, files, **extra)
    assert status == 201, created
    for index, data in enumerate(files.values()):
        await send(api, created["id"], index, data)
    status, task = await api("POST", "uploads", created["id"], "commit")
    assert status == 202 and task["kind"] == "save", task
    return await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")


async def test_a_folder_uploaded_in_chunks_becomes_a_version_with_the_same_bytes(
    api, wait_for, shelf, uploads
):
    files = {
        "weights.bin": os.urandom(300_000),  # several chunks, the last one short
        "sub/config.json": b'{"layers": 2}',
        "sub/empty.txt": b"",  # announced, never sent: no chunk is needed
    }
    status, created = await begin(api, "churn", files, message="from my laptop",
                                  tags=["upload"], params={"lr": 0.1})  # fmt: skip
    assert status == 201 and created["status"] == "receiving", created
    assert created["total_size"] == sum(map(len, files.values())) and created["received"] == 0
    assert created["chunk_size"] == uploads.chunk_size
    answer = await send(api, created["id"], 0, files["weights.bin"])
    assert answer == {"index": 0, "path": "weights.bin", "size": 300_000, "received": 300_000}
    await send(api, created["id"], 1, files["sub/config.json"])
    status, progress = await api("GET", "uploads", created["id"])
    assert status == 200 and progress["received"] == progress["total_size"]

    status, task = await api("POST", "uploads", created["id"], "commit")
    assert status == 202
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    version = shelf.show("churn:1")
    assert version.source == "upload: 3 files (weights.bin, sub/config.json, sub/empty.txt)"
    assert version.message == "from my laptop" and version.tags == ("upload",)
    assert version.params == {"lr": 0.1}
    for path, data in files.items():
        with shelf.open("churn:1", path) as fh:
            assert fh.read() == data, path
    assert staged(uploads) == []
    status, _ = await api("GET", "uploads", created["id"])
    assert status == 404


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_a_lone_archive_is_extracted_unless_asked_to_keep_it(api, wait_for, shelf):
    archive = _tar_gz({"model.pkl": b"pickled", "code/serve.py": b"def load(d): pass\n"})
    task = await upload(api, wait_for, "packed", {"model.tar.gz": archive})
    assert task["status"] == "succeeded", task
    assert sorted(f.path for f in shelf.show("packed:1").files) == ["code/serve.py", "model.pkl"]

    task = await upload(api, wait_for, "packed", {"model.tar.gz": archive}, extract=False)
    assert task["status"] == "succeeded", task
    kept = shelf.show("packed:2")
    assert [(f.path, f.size) for f in kept.files] == [("model.tar.gz", len(archive))]


async def test_an_unsafe_archive_fails_and_leaves_nothing(api, wait_for, shelf, uploads):
    archive = _tar_gz({"../../escape.txt": b"outside"})
    task = await upload(api, wait_for, "evil", {"evil.tar.gz": archive})
    assert task["status"] == "failed" and "escape.txt" in task["error"], task
    assert shelf.list() == [] and staged(uploads) == []


async def test_over_the_size_limit_is_refused_before_a_byte_is_kept(api, shelf, uploads):
    shelf.max_model_size = 1000
    files = [{"path": "a.bin", "size": 600}, {"path": "b.bin", "size": 401}]
    status, body = await api("POST", "uploads", body={"name": "big", "files": files})
    assert status == 413, body
    assert "1,001 bytes" in body["message"] and "max_model_size" in body["message"]
    assert staged(uploads) == [] and uploads.list() == []


UNSAFE = [
    "../etc/passwd",
    "sub/../../x",
    "/etc/passwd",
    "..\\windows\\x",
    "sub\\x",
    "C:/x",
    "%2e%2e/x",
    "%2e%2e%2fetc%2fpasswd",
    "%252e%252e/x",
    "sub/%2E%2E/%2E%2E/x",
    "a/./b",
    "a//b",
    "a\x00b",
    "",
]


@pytest.mark.parametrize("path", UNSAFE)
async def test_unsafe_paths_are_refused(api, uploads, path):
    files = [{"path": "ok.bin", "size": 1}, {"path": path, "size": 1}]
    status, body = await api("POST", "uploads", body={"name": "m", "files": files})
    assert status == 400, body
    assert staged(uploads) == [] and uploads.list() == []


@pytest.mark.parametrize(
    "files, problem",
    [
        ([{"path": "a", "size": 1}, {"path": "a", "size": 2}], "twice"),
        ([{"path": "a", "size": 1}, {"path": "a/b", "size": 2}], "as a file and as a folder"),
        ([], "files"),
        ([{"path": "a", "size": -1}], "size"),
    ],
)
async def test_bad_announcements_are_refused(api, uploads, files, problem):
    status, body = await api("POST", "uploads", body={"name": "m", "files": files})
    assert status == 400 and problem in body["message"], body
    assert staged(uploads) == []


async def test_bad_model_names_are_refused(api, uploads):
    for name in ("../x", "a/b", "%2e%2e"):
        status, _ = await api("POST", "uploads", body={"name": name, "files": [
            {"path": "a", "size": 1}]})  # fmt: skip
        assert status == 400, name
    assert staged(uploads) == []


async def test_chunks_must_come_in_order_and_within_the_announced_size(api, uploads):
    status, created = await begin(api, "m", {"a.bin": b"x" * 10})
    upload_id = created["id"]

    async def put(data: bytes, offset: str | None, index: str = "0"):
        params = {"offset": offset} if offset is not None else {}
        return await api("PUT", "uploads", upload_id, "files", index, raw=data, params=params)

    status, body = await put(b"xxxx", "4")
    assert status == 409 and "offset 0" in body["message"], body
    status, body = await put(b"xxxx", None)
    assert status == 400 and "offset" in body["message"], body
    assert (await put(b"xxxx", "0"))[0] == 200
    status, body = await put(b"x" * 7, "4")
    assert status == 413 and "announced as 10 bytes" in body["message"], body
    status, body = await put(b"x", "0", index="1")
    assert status == 404, body
    status, body = await api("POST", "uploads", upload_id, "commit")
    assert status == 409 and "4 of 10 bytes" in body["message"], body
    status, progress = await api("GET", "uploads", upload_id)
    assert progress["files"][0]["received"] == 4


async def test_cancel_removes_everything(api, shelf, uploads):
    status, created = await begin(api, "gone", {"a.bin": b"a" * 1000, "b.bin": b"b" * 10})
    await send(api, created["id"], 0, b"a" * 500)
    assert staged(uploads)
    status, body = await api("DELETE", "uploads", created["id"])
    assert status == 200 and body["status"] == "cancelled", body
    assert staged(uploads) == []
    for method, path in (("GET", ()), ("DELETE", ()), ("POST", ("commit",))):
        status, _ = await api(method, "uploads", created["id"], *path)
        assert status == 404, (method, path)
    status, _ = await api("PUT", "uploads", created["id"], "files", "0", raw=b"a",
                          params={"offset": "500"})  # fmt: skip
    assert status == 404
    assert shelf.list() == []


async def test_an_abandoned_upload_expires_and_leaves_nothing(api, shelf, uploads):
    uploads.idle_timeout = 0.6
    status, created = await begin(api, "left", {"a.bin": b"a" * 1000})
    await send(api, created["id"], 0, b"a" * 400)
    assert staged(uploads)
    deadline = time.monotonic() + 10
    while staged(uploads) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert staged(uploads) == []
    status, _ = await api("GET", "uploads", created["id"])
    assert status == 404
    assert shelf.list() == []


async def test_staging_left_by_a_stopped_server_is_swept(api, uploads):
    uploads.idle_timeout = 0.6
    leftover = Path(uploads.root) / "0123abcd"
    (leftover / "files").mkdir(parents=True)
    (leftover / "files" / "half.bin").write_bytes(b"x" * 100)
    old = time.time() - 60
    for path in (leftover, leftover / "files", leftover / "files" / "half.bin"):
        os.utime(path, (old, old))
    # Any new upload starts the sweeper, which finds the folder no live upload owns.
    status, _ = await begin(api, "fresh", {"a.bin": b"a"})
    assert status == 201
    deadline = time.monotonic() + 10
    while leftover.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not leftover.exists()


async def test_an_anonymous_chunk_writes_nothing(api, uploads, http_server_client, jp_base_url):
    _, created = await begin(api, "m", {"a.bin": b"x" * 10})
    url = f"{jp_base_url.rstrip('/')}/modelshelf/api/uploads/{created['id']}/files/0?offset=0"
    with pytest.raises(HTTPClientError) as refused:
        await http_server_client.fetch(url, method="PUT", body=b"x" * 10,
                                       headers={"Authorization": ""})  # fmt: skip
    assert refused.value.code == 403
    _, progress = await api("GET", "uploads", created["id"])
    assert progress["received"] == 0
    staged_file = Path(uploads.root) / created["id"] / "files" / "a.bin"
    assert staged_file.read_bytes() == b""


async def test_the_committed_version_matches_a_large_file_sent_in_server_sized_chunks(
    api, wait_for, shelf, uploads
):
    data = os.urandom(3 * 2**20 + 17)
    uploads.chunk_size = 2**20
    status, created = await begin(api, "large", {"big.bin": data})
    await send(api, created["id"], 0, data, chunk=created["chunk_size"])
    status, task = await api("POST", "uploads", created["id"], "commit")
    assert status == 202
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    stored = task["result"]["files"][0]
    assert stored["digest"] == digest_bytes(stored["algorithm"], data)


# Cut a few pieces in, or megabytes in; in the first chunk, or after one chunk counted (the
# file's hash then goes on from that chunk, not from what the cut-short one fed it).
@pytest.mark.parametrize(("before", "cut_at"), [(0, 300_000), (0, 5 * 2**20), (2**20, 3 * 2**20)])
async def test_a_chunk_cut_short_counts_for_nothing_and_can_be_sent_again(
    api, wait_for, shelf, uploads, jp_http_port, jp_auth_header, jp_base_url, before, cut_at
):
    data = os.urandom(6 * 2**20)
    _, created = await begin(api, "cut", {"big.bin": data})
    if before:
        await send(api, created["id"], 0, data[:before], chunk=before)
    path = (f"{jp_base_url.rstrip('/')}/modelshelf/api/uploads/{created['id']}/files/0"
            f"?offset={before}")  # fmt: skip
    _, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data) - before}\r\n"
            f"Authorization: {jp_auth_header['Authorization']}\r\n\r\n")  # fmt: skip
    writer.write(head.encode() + data[before : before + cut_at])
    await writer.drain()
    staged_file = Path(uploads.root) / created["id"] / "files" / "big.bin"
    deadline = time.monotonic() + 10
    while staged_file.stat().st_size < before + cut_at and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the server writes the bytes as they arrive
    assert staged_file.stat().st_size == before + cut_at
    writer.close()  # the page went away mid-chunk
    deadline = time.monotonic() + 10
    while staged_file.stat().st_size > before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert staged_file.stat().st_size == before  # rolled back to what was received
    _, progress = await api("GET", "uploads", created["id"])
    assert progress["received"] == before
    rest = data[before:]
    for offset in range(0, len(rest), 4 * 2**20):
        status, answer = await api("PUT", "uploads", created["id"], "files", "0",
                                   raw=rest[offset : offset + 4 * 2**20],
                                   params={"offset": str(before + offset)})  # fmt: skip
        assert status == 200, answer
    status, task = await api("POST", "uploads", created["id"], "commit")
    assert status == 202
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    stored = task["result"]["files"][0]
    assert stored["digest"] == digest_bytes(stored["algorithm"], data)
    with shelf.open("cut:1", "big.bin") as fh:
        assert fh.read() == data
