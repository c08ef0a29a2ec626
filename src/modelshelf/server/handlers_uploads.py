"""REST for uploads from the user's computer: announce, send chunks, commit or cancel.

The shape is that of the resumable uploads people know (tus, S3 multipart): ``POST /uploads``
announces the files and answers the chunk size; ``PUT /uploads/{id}/files/{index}?offset=N``
carries raw bytes; ``POST /uploads/{id}/commit`` starts the save as a task (its result is the
new version); ``DELETE /uploads/{id}`` cancels. The rules live in
:mod:`modelshelf.core.sources.upload`; these handlers only translate.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado.web import HTTPError, authenticated, stream_request_body

from modelshelf.core.jsonable import to_jsonable
from modelshelf.core.sources.upload import Upload
from modelshelf.core.sources.upload_chunks import ChunkWriter
from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler
from modelshelf.server.schemas import UploadRequest


class UploadsBase(ModelshelfHandler):
    def status(self, upload: Upload) -> dict[str, Any]:
        uploads = self.app.uploads
        return upload.to_json(uploads.idle_timeout, uploads.chunk_size)


class UploadsHandler(UploadsBase):
    @authenticated
    @authorized
    async def post(self) -> None:
        request = self.body(UploadRequest)
        upload = await self.call(
            self.app.uploads.begin,
            request.name,
            [(f.path, f.size) for f in request.files],
            extract=request.extract,
            parent=request.parent,
            params=request.params,
            metrics=request.metrics,
            tags=request.tags,
            message=request.message,
        )
        self.reply(schemas.UploadStatus, self.status(upload), status=201)


class UploadHandler(UploadsBase):
    @authenticated
    @authorized
    async def get(self, upload_id: str) -> None:
        self.reply(schemas.UploadStatus, self.status(self.app.uploads.get(upload_id)))

    @authenticated
    @authorized
    async def delete(self, upload_id: str) -> None:
        upload = await self.call(self.app.uploads.cancel, upload_id)
        self.reply(schemas.UploadStatus, self.status(upload))


@stream_request_body
class UploadChunkHandler(UploadsBase):
    """One chunk, written to the staging file as it comes off the socket (no copy of the
    whole chunk in memory): tornado hands the body over piece by piece to
    :meth:`data_received`, between :meth:`prepare` and :meth:`put`."""

    _writer: ChunkWriter | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        # The body comes before put() runs: the same checks as its decorators, first, so
        # that no byte of a request that may not write is kept.
        await self._admitted()
        length = self.request.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HTTPError(411, "send the chunk with a Content-Length (no chunked encoding)")
        if self.get_query_argument("offset", None) is None:
            raise HTTPError(400, "say where the chunk starts: ?offset=N (bytes)")
        offset = self.int_argument("offset", 0, high=2**62)
        # On the event loop, not in a worker thread: opening a staging file is quick, and a
        # thread hop per chunk (two, with finish) is what a busy machine makes slow.
        self._writer = self.app.uploads.open_chunk(
            self.path_kwargs["upload_id"], int(self.path_kwargs["index"]), offset, int(length)
        )

    @authenticated
    @authorized
    async def _admitted(self) -> None:
        """Nothing but its decorators' checks (authenticated, and may write)."""

    def data_received(self, chunk: bytes) -> None:
        if self._writer is not None:
            self._writer.write(chunk)

    @authenticated
    @authorized
    async def put(self, upload_id: str, index: str) -> None:
        assert self._writer is not None  # prepare() opened it or answered the error
        written = self._writer.finish()  # quick, as opening it was
        self.reply(
            schemas.UploadFileStatus,
            {"index": int(index), "path": written.path, "size": written.size,
             "received": written.received},
        )  # fmt: skip

    def on_connection_close(self) -> None:
        self._forget_chunk()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._forget_chunk()  # an error answer: the chunk does not count
        super().on_finish()

    def _forget_chunk(self) -> None:
        if self._writer is not None:
            self._writer.abort()


class UploadCommitHandler(UploadsBase):
    @authenticated
    @authorized
    async def post(self, upload_id: str) -> None:
        uploads = self.app.uploads
        # Missing bytes or an unknown id are a 409/404 now, not a failed task later.
        upload = await self.call(uploads.seal, upload_id)

        def commit(progress: Any) -> Any:
            return to_jsonable(uploads.save_sealed(upload, progress))

        task = self.app.tasks.start("save", f"upload of {upload.name}", commit)
        self.reply(schemas.Task, task.to_json(), status=202)


_ID = r"(?P<upload_id>[^/]+)"
ROUTES = [
    (r"/uploads", UploadsHandler),
    (rf"/uploads/{_ID}", UploadHandler),
    (rf"/uploads/{_ID}/files/(?P<index>[0-9]{{1,9}})", UploadChunkHandler),
    (rf"/uploads/{_ID}/commit", UploadCommitHandler),
]
