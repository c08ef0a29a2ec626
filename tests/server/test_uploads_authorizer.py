"""Uploads obey the Authorizer: a user who may read but not write modelshelf cannot announce
an upload, and a chunk of one is refused before a byte of it is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer

from conftest import extension_config


class ReadOnlyModelshelf(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return not (resource == "modelshelf" and action == "write")


@pytest.fixture
def jp_server_config(store_root):
    return extension_config(str(store_root), authorizer_class=ReadOnlyModelshelf)


async def test_a_read_only_user_cannot_upload(api, jp_serverapp):
    uploads = jp_serverapp.web_app.settings["modelshelf"].uploads
    status, _ = await api("POST", "uploads", body={"name": "m", "files": [
        {"path": "a.bin", "size": 3}]})  # fmt: skip
    assert status == 403
    # An upload begun by someone who may write (here: the core directly) takes no chunk
    # from this user, and its file stays empty.
    upload = uploads.begin("m", [("a.bin", 3)])
    status, _ = await api("PUT", "uploads", upload.id, "files", "0", raw=b"abc",
                          params={"offset": "0"})  # fmt: skip
    assert status == 403
    assert (Path(uploads.root) / upload.id / "files" / "a.bin").read_bytes() == b""
    status, progress = await api("GET", "uploads", upload.id)
    assert status == 200 and progress["received"] == 0
    for method, path in (("DELETE", ()), ("POST", ("commit",))):
        status, _ = await api(method, "uploads", upload.id, *path)
        assert status == 403, method
    uploads.cancel(upload.id)
