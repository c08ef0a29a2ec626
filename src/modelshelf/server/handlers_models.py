"""REST over the model store: list, versions, manifests, save, delete, aliases (and their
history), files, diff, and what uses a version."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado.web import HTTPError, authenticated

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.jsonable import to_jsonable
from modelshelf.core.names import validate_alias, validate_name, validate_relpath
from modelshelf.core.store import ModelSummary, Shelf, VersionListing
from modelshelf.core.store.usage import version_usage
from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler
from modelshelf.server.paths import source_or_url
from modelshelf.server.schemas import AliasRequest, SaveRequest

#: Bytes per chunk when streaming a file: big enough to be cheap, small enough to interleave.
CHUNK = 1 << 20


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise HTTPError(400, f"a version is a number from 1 on, not {text!r}")
    return int(text)


def _ref(name: str, version: str) -> str:
    return f"{validate_name(name)}:{_version_number(version)}"


def models_page(shelf: Shelf, query: str, tag: str, offset: int, limit: int) -> dict[str, Any]:
    """One page of models whose name contains ``query`` and whose newest version has ``tag``.

    A store that keeps summaries lists every model with its tags in a few reads; in an older
    store names are filtered from the listing alone, and only a tag filter, and the page
    shown, read manifests (in parallel), so the page stays fast over thousands of models.
    """
    found = [m for m in shelf.list() if query.lower() in m.name.lower()]
    found.sort(key=lambda m: m.name.lower())

    def with_tags(summary: ModelSummary) -> dict[str, Any] | None:
        if summary.tags is not None:
            return to_jsonable(summary)
        try:
            latest = shelf.show(f"{summary.name}:{summary.latest}")
        except ModelNotFoundError:  # deleted since the listing: not on this page either
            return None
        return {**to_jsonable(summary), "tags": list(latest.tags)}

    with ThreadPoolExecutor(8) as pool:
        # Threads only when manifests must be read; summaries are at hand.
        each = map if all(m.tags is not None for m in found) else pool.map
        if tag:
            rows = [r for r in each(with_tags, found) if r is not None and tag in r["tags"]]
            page, total = rows[offset : offset + limit], len(rows)
        else:
            page = [r for r in each(with_tags, found[offset : offset + limit]) if r]
            total = len(found)
    return {"models": page, "total": total, "offset": offset, "limit": limit}


class ModelsHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        page = await self.call(
            models_page,
            self.app.shelf,
            self.get_query_argument("q", ""),
            self.get_query_argument("tag", ""),
            self.int_argument("offset", 0),
            self.int_argument("limit", 100, low=1, high=1000),
        )
        self.reply(schemas.ModelPage, page)

    @authenticated
    @authorized
    async def post(self) -> None:
        request = self.body(SaveRequest)
        name = validate_name(request.name)
        source = source_or_url(request.source, self.app.root_dir, self.app.source_roots)
        dataset = (
            source_or_url(request.dataset, self.app.root_dir, self.app.source_roots)
            if request.dataset
            else None
        )
        shelf = self.app.shelf

        def save(progress: Any) -> Any:
            version = shelf.save(
                name,
                source,
                parent=request.parent,
                params=request.params,
                metrics=request.metrics,
                tags=request.tags,
                dataset=dataset,
                message=request.message,
                progress=progress,
            )
            return to_jsonable(version)

        task = self.app.tasks.start("save", f"save {request.source} as {name}", save)
        self.reply(schemas.Task, task.to_json(), status=202)


class ModelHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str) -> None:
        shelf = self.app.shelf
        validate_name(name)

        def listing() -> VersionListing:
            versions = shelf.versions(name, evaluations=True)
            if not versions:
                raise ModelNotFoundError(f"no model named {name!r}")
            return VersionListing(name, versions, shelf.aliases.of_model(name))

        self.reply(schemas.VersionListing, to_jsonable(await self.call(listing)))


class VersionHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        found = await self.call(self.app.shelf.show, _ref(name, version), evaluations=True)
        self.reply(schemas.ModelVersion, to_jsonable(found))

    @authenticated
    @authorized
    async def delete(self, name: str, version: str) -> None:
        deleted = await self.call(self.app.shelf.delete, _ref(name, version))
        self.reply(schemas.ModelVersion, to_jsonable(deleted))


class VersionUsageHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        shelf = self.app.shelf
        usage = await self.call(
            version_usage,
            shelf.catalog,
            shelf.aliases,
            shelf.leases,
            validate_name(name),
            _version_number(version),
        )
        self.reply(schemas.VersionUsage, to_jsonable(usage))


class FileHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str, version: str, path: str) -> None:
        ref = _ref(name, version)
        validate_relpath(path)
        manifest = await self.call(self.app.shelf.show, ref)
        entry = manifest.file(path)
        if entry is None:
            raise ModelNotFoundError(f"{ref} has no file {path!r}")
        handle = await self.call(self.app.shelf.open, ref, path)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(entry.size))
        filename = path.rsplit("/", 1)[-1].replace('"', "")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        try:
            # The store checks the sha256 at EOF: a damaged blob ends the stream with an
            # error instead of handing out wrong bytes as if they were the model.
            while chunk := await self.call(handle.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            handle.close()
        self.finish()


class AliasesHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str) -> None:
        aliases = await self.call(self.app.shelf.aliases.of_model, validate_name(name))
        self.reply(schemas.Aliases, {"name": name, "aliases": dict(sorted(aliases.items()))})


class AliasHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str, alias: str) -> None:
        history = await self.call(
            self.app.shelf.alias_history, validate_name(name), validate_alias(alias)
        )
        if not history:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        body = {"name": name, "alias": alias, "moves": to_jsonable(history)}
        self.reply(schemas.AliasHistory, body)

    @authenticated
    @authorized
    async def put(self, name: str, alias: str) -> None:
        request = self.body(AliasRequest)
        move = await self.call(
            self.app.shelf.set_alias, validate_name(name), validate_alias(alias), request.version
        )
        self.reply(schemas.AliasMove, to_jsonable(move))

    @authenticated
    @authorized
    async def delete(self, name: str, alias: str) -> None:
        move = await self.call(
            self.app.shelf.remove_alias, validate_name(name), validate_alias(alias)
        )
        self.reply(schemas.AliasMove, to_jsonable(move))


class DiffHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        a, b = self.get_query_argument("a", ""), self.get_query_argument("b", "")
        if not a or not b:
            raise HTTPError(400, "give the two versions to compare as ?a=name:1&b=name:2")
        self.reply(schemas.ModelDiff, to_jsonable(await self.call(self.app.shelf.diff, a, b)))


_NAME = r"(?P<name>[^/]+)"
_VERSION = r"(?P<version>[^/]+)"
ROUTES = [
    (r"/models", ModelsHandler),
    (rf"/models/{_NAME}", ModelHandler),
    (rf"/models/{_NAME}/versions/{_VERSION}", VersionHandler),
    (rf"/models/{_NAME}/versions/{_VERSION}/usage", VersionUsageHandler),
    (rf"/models/{_NAME}/versions/{_VERSION}/files/(?P<path>.+)", FileHandler),
    (rf"/models/{_NAME}/aliases", AliasesHandler),
    (rf"/models/{_NAME}/aliases/(?P<alias>[^/]+)", AliasHandler),
    (r"/diff", DiffHandler),
]
