"""REST over deployments: list, deploy (a task: it waits for the health check), get, stop,
logs, and a proxied test request."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado.web import authenticated

from modelshelf.core.errors import TaskFailed
from modelshelf.core.names import validate_name
from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler
from modelshelf.server.paths import find_links_location, handler_path, source_or_url
from modelshelf.server.schemas import DeployRequest, InvokeRequest


class DeploymentsHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        include_stopped = self.get_query_argument("all", "false").lower() in ("1", "true", "yes")
        mode = self.get_query_argument("mode", None) or None
        found = await self.call(self.app.deployments.list, include_stopped, mode)
        self.reply(schemas.DeploymentList, {"deployments": [d.describe() for d in found]})

    @authenticated
    @authorized
    async def post(self) -> None:
        request = self.body(DeployRequest)
        name = validate_name(request.name) if request.name else None
        app = self.app
        handler = (
            handler_path(request.handler, app.root_dir, app.source_roots)
            if request.handler
            else None
        )
        model_data = (
            source_or_url(request.model_data, app.root_dir, app.source_roots)
            if request.model_data
            else None
        )
        find_links = [
            find_links_location(link, app.root_dir, app.source_roots) for link in request.find_links
        ]
        manager = self.app.deployments
        # Fail fast on what can be checked at once (unknown refs are a 404, not a task).
        for ref in request.refs:
            await self.call(self.app.shelf.resolve, ref)

        def deploy(_progress: Any) -> dict[str, Any]:
            refs = request.refs if request.mode == "multi" else request.refs[0]
            deployment = manager.deploy(
                refs,
                request.mode,
                name=name,
                workers=request.workers,
                min_workers=request.min_workers,
                max_workers=request.max_workers,
                handler=handler,
                env=request.env,
                model_data=model_data,
                model_data_cache=request.model_data_cache or 0,
                batch_size=request.batch_size,
                max_batch_delay=request.max_batch_delay,
                env_manager=request.env_manager,
                find_links=find_links,
                offline=request.offline,
            )
            if deployment.status == "failed":
                raise TaskFailed(deployment.error or "the deployment failed", deployment.describe())
            return deployment.describe()

        what = name or ", ".join(request.refs)
        task = self.app.tasks.start("deploy", f"deploy {what} ({request.mode})", deploy)
        self.reply(schemas.Task, task.to_json(), status=202)


class DeploymentHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply(schemas.Deployment, await self.call(self.app.deployments.describe, name))


class DeploymentStopHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.reply(
            schemas.Deployment, (await self.call(self.app.deployments.stop, name)).describe()
        )


class DeploymentLogsHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply(
            schemas.DeploymentLogs, {"text": await self.call(self.app.deployments.logs, name)}
        )


class DeploymentInvokeHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, name: str) -> None:
        request = self.body(InvokeRequest)
        answer = await self.call(
            self.app.deployments.invoke,
            name,
            request.payload,
            request.content_type,
            model=request.model,
        )
        if isinstance(answer, bytes):
            answer = answer.decode("utf-8", errors="replace")
        self.reply(schemas.InvokeAnswer, {"answer": answer})


_DEPLOYMENT = r"(?P<name>[^/]+)"
ROUTES = [
    (r"/deployments", DeploymentsHandler),
    (rf"/deployments/{_DEPLOYMENT}", DeploymentHandler),
    (rf"/deployments/{_DEPLOYMENT}/stop", DeploymentStopHandler),
    (rf"/deployments/{_DEPLOYMENT}/logs", DeploymentLogsHandler),
    (rf"/deployments/{_DEPLOYMENT}/invoke", DeploymentInvokeHandler),
]
