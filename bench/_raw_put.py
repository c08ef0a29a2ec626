"""The benchmark's peer for uploads: one plain streamed ``PUT`` of raw bytes to a file.

A Jupyter server extension that bench/upload.py alone enables, in the same server process as
modelshelf's routes: ``PUT /bench/raw-put/{name}`` writes the request body, as it arrives, to
``$MODELSHELF_BENCH_PUT_DIR/{name}``. It is what an upload costs with nothing on top (no
chunks, no hashing, no store): the same server, the same authentication, the same disk.
"""

from __future__ import annotations

import os
import re
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web


@web.stream_request_body
class RawPutHandler(JupyterHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.current_user is None:  # the token is checked before a byte is written
            raise web.HTTPError(403)
        name = self.path_kwargs["name"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise web.HTTPError(400, "a plain file name")
        # Open across tornado's callbacks (prepare, data_received, put): no `with` can span them.
        self._out = open(os.path.join(os.environ["MODELSHELF_BENCH_PUT_DIR"], name), "wb")  # noqa: SIM115
        self._size = 0

    def data_received(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self._size += len(chunk)

    @web.authenticated
    async def put(self, name: str) -> None:
        self._out.close()
        self.finish({"name": name, "size": self._size})


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "_raw_put"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    base = serverapp.web_app.settings["base_url"]
    route = url_path_join(base, r"/bench/raw-put/(?P<name>[^/]+)")
    serverapp.web_app.add_handlers(".*$", [(route, RawPutHandler)])
