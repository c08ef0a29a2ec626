"""REST over schedules: list, create, show, change, delete, pause, resume and run now."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado.web import authenticated

from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler
from modelshelf.server.handlers_jobs import checked_job_inputs


class SchedulesHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        schedules = await self.call(self.app.schedules.list)
        self.reply(schemas.ScheduleList, {"schedules": [s.describe() for s in schedules]})

    @authenticated
    @authorized
    async def post(self) -> None:
        request = self.body(schemas.ScheduleRequest)
        app = self.app
        notebook, data, eval_data = checked_job_inputs(request, app)
        options = request.model_dump(exclude={"notebook", "data", "eval_data", "name", "model"})
        schedule = await self.call(
            app.schedules.create,
            notebook,
            name=request.name or None,
            model=request.model or None,
            data=data,
            eval_data=eval_data,
            executor=app.executor,
            **options,
        )
        self.reply(schemas.Schedule, schedule.describe(), status=201)


class ScheduleHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, schedule: str) -> None:
        found = await self.call(self.app.schedules.get, schedule)
        self.reply(schemas.Schedule, found.describe())

    @authenticated
    @authorized
    async def patch(self, schedule: str) -> None:
        changes = self.body(schemas.ScheduleUpdate).model_dump(exclude_unset=True)
        changed = await self.call(self.app.schedules.update, schedule, **changes)
        self.reply(schemas.Schedule, changed.describe())

    @authenticated
    @authorized
    async def delete(self, schedule: str) -> None:
        await self.call(self.app.schedules.delete, schedule)
        self.set_status(204)
        self.finish()


class SchedulePauseHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, schedule: str) -> None:
        self.reply(
            schemas.Schedule, (await self.call(self.app.schedules.pause, schedule)).describe()
        )


class ScheduleResumeHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, schedule: str) -> None:
        resumed = await self.call(self.app.schedules.resume, schedule)
        self.reply(schemas.Schedule, resumed.describe())


class ScheduleRunHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, schedule: str) -> None:
        request = self.body(schemas.RunNowRequest)
        job = await self.call(self.app.schedules.run_now, schedule, request.parameters)
        self.reply(schemas.Job, job.describe(), status=201)


_SCHEDULE = r"(?P<schedule>[^/]+)"
ROUTES = [
    (r"/schedules", SchedulesHandler),
    (rf"/schedules/{_SCHEDULE}", ScheduleHandler),
    (rf"/schedules/{_SCHEDULE}/pause", SchedulePauseHandler),
    (rf"/schedules/{_SCHEDULE}/resume", ScheduleResumeHandler),
    (rf"/schedules/{_SCHEDULE}/run", ScheduleRunHandler),
]
