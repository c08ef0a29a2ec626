"""The core of browser uploads (UploadManager), on every store backend, without a server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelshelf.core.errors import InvalidNameError, ModelNotFoundError, UploadStateError
from modelshelf.core.names import validate_client_relpath
from modelshelf.core.sources.upload import UploadManager


def _upload(manager: UploadManager, name: str, files: dict[str, bytes], chunk: int = 1000):
    upload = manager.begin(name, [(path, len(data)) for path, data in files.items()])
    for index, data in enumerate(files.values()):
        for offset in range(0, len(data), chunk):
            manager.write(upload.id, index, offset, data[offset : offset + chunk])
    return upload


def test_an_upload_becomes_a_version_on_every_backend(shelf):
    manager = UploadManager(shelf)
    files = {"w.bin": os.urandom(5000), "sub/c.json": b"{}", "empty": b""}
    upload = _upload(manager, "m", files)
    version = manager.commit(upload.id)
    assert version.ref == "m:1" and version.source.startswith("upload: 3 files")
    for path, data in files.items():
        with shelf.open("m:1", path) as fh:
            assert fh.read() == data
    assert os.listdir(manager.root) == []
    manager.close()


def test_identical_files_are_one_blob(local_shelf):
    manager = UploadManager(local_shelf)
    data = os.urandom(3000)
    manager.commit(_upload(manager, "twins", {"a.bin": data, "b.bin": data}).id)
    assert len(local_shelf.blobs.list()) == 1
    again = manager.commit(_upload(manager, "twins", {"a.bin": data}).id)  # already stored
    assert len(local_shelf.blobs.list()) == 1 and again.files[0].digest in local_shelf.blobs.list()
    with local_shelf.open(again.ref, "a.bin") as fh:
        assert fh.read() == data
    manager.close()


def test_an_idle_upload_expires_after_its_timeout_only(local_shelf):
    manager = UploadManager(local_shelf, idle_timeout=100)
    upload = manager.begin("m", [("a.bin", 10)])
    manager.write(upload.id, 0, 0, b"12345")
    assert manager.expire(now=time.time() + 50) == []
    assert manager.expire(now=time.time() + 101) == [upload.id]
    assert os.listdir(manager.root) == []
    with pytest.raises(ModelNotFoundError):
        manager.get(upload.id)
    manager.close()


def test_one_chunk_at_a_time_and_no_commit_while_one_arrives(local_shelf):
    manager = UploadManager(local_shelf)
    upload = manager.begin("m", [("a.bin", 10)])
    writer = manager.open_chunk(upload.id, 0, 0, 10)
    writer.write(b"12345")
    with pytest.raises(UploadStateError, match="being received"):
        manager.open_chunk(upload.id, 0, 0, 10)
    with pytest.raises(UploadStateError, match="still being received"):
        manager.seal(upload.id)
    writer.write(b"67890")
    assert writer.finish().received == 10
    assert manager.commit(upload.id).size == 10
    manager.close()


def test_a_cancel_while_a_chunk_arrives_keeps_nothing(local_shelf):
    manager = UploadManager(local_shelf)
    upload = manager.begin("m", [("a.bin", 10)])
    writer = manager.open_chunk(upload.id, 0, 0, 10)
    writer.write(b"12345")
    manager.cancel(upload.id)
    writer.write(b"67890")
    with pytest.raises(ModelNotFoundError):
        writer.finish()
    assert os.listdir(manager.root) == [] and local_shelf.list() == []
    manager.close()


def test_a_short_chunk_does_not_count(local_shelf):
    manager = UploadManager(local_shelf)
    upload = manager.begin("m", [("a.bin", 10)])
    writer = manager.open_chunk(upload.id, 0, 0, 10)
    writer.write(b"123")
    with pytest.raises(UploadStateError, match="carried 3 bytes, not the 10"):
        writer.finish()
    staged = Path(manager.root) / upload.id / "files" / "a.bin"
    assert staged.read_bytes() == b"" and manager.get(upload.id).received == 0
    manager.write(upload.id, 0, 0, b"0123456789")
    with local_shelf.open(manager.commit(upload.id).ref, "a.bin") as fh:
        assert fh.read() == b"0123456789"
    manager.close()


@pytest.mark.parametrize("bad", ["%2e%2e/x", "a/%2e%2e/%2e%2e/x", "%252e%252e/x", "%2fetc",
                                 "a%5c..%5cb", "..", "/x"])  # fmt: skip
def test_client_paths_are_checked_after_decoding(bad):
    with pytest.raises(InvalidNameError):
        validate_client_relpath(bad)


@pytest.mark.parametrize("good", ["model.pkl", "100%.txt", "a b/c%20d.bin", "ümlaut"])
def test_client_paths_that_decode_to_safe_paths_are_kept_as_sent(good):
    assert validate_client_relpath(good) == good
