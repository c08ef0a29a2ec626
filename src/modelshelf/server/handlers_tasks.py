"""REST over the server's tasks: the saves and deployments it is running or ran lately."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado.web import authenticated

from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler


class TasksHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        self.reply(schemas.TaskList, {"tasks": [t.to_json() for t in self.app.tasks.list()]})


class TaskHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, task_id: str) -> None:
        self.reply(schemas.Task, self.app.tasks.get(task_id).to_json())


ROUTES = [
    (r"/tasks", TasksHandler),
    (r"/tasks/(?P<task_id>[^/]+)", TaskHandler),
]
