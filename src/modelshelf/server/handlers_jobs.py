"""REST over jobs: list, submit, get, cancel, rerun, incremental logs, the executed notebook,
and the parameters a notebook declares (for the sidebar's "Run notebook as job" dialog)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado.web import HTTPError, authenticated

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.jobs.parameters import notebook_parameters
from modelshelf.server import schemas
from modelshelf.server.base import ModelshelfHandler
from modelshelf.server.paths import is_remote, notebook_path, program_path, source_or_url
from modelshelf.server.schemas import JobRequest

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _cursor(text: str) -> list[int]:
    try:
        cursor = [int(part) for part in text.split(",")] if text else []
    except ValueError:
        raise HTTPError(400, f"a log cursor is what the last answer gave, not {text!r}") from None
    if any(offset < 0 for offset in cursor):
        raise HTTPError(400, f"a log cursor is what the last answer gave, not {text!r}")
    return cursor


def checked_job_inputs(request: Any, app: Any) -> tuple[str, str | None, str | None]:
    """What a job (or a schedule's template) names, checked: the program under the server's
    root, its data and evaluation data (local paths under the roots, or URLs), its output."""
    notebook = program_path(request.notebook, app.root_dir)
    data, eval_data = (
        source_or_url(text, app.root_dir, app.source_roots) if text else None
        for text in (request.data, request.eval_data)
    )
    if request.output not in (None, "model") and not is_remote(request.output):
        raise HTTPError(400, "output is 'model', null, or an object-store URL (s3://, ...)")
    return notebook, data, eval_data


class JobsHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        status = self.get_query_argument("status", None) or None
        if status is not None and status not in JOB_STATUSES:
            raise HTTPError(400, f"status is one of {', '.join(JOB_STATUSES)}, not {status!r}")
        limit = self.int_argument("limit", 200, low=1, high=1000)
        jobs = await self.call(self.app.jobs.list, limit, status)
        self.reply(schemas.JobList, {"jobs": [job.describe() for job in jobs]})

    @authenticated
    @authorized
    async def post(self) -> None:
        request = self.body(JobRequest)
        app = self.app
        notebook, data, eval_data = checked_job_inputs(request, app)
        job = await self.call(
            app.jobs.submit,
            notebook,
            name=request.name or None,
            parameters=request.parameters,
            model=request.model or None,
            data=data,
            output=request.output,
            executor=app.executor,
            timeout=request.timeout,
            pipeline=request.pipeline,
            eval_data=eval_data,
        )
        self.reply(schemas.Job, job.describe(), status=201)


class JobHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply(schemas.Job, (await self.call(self.app.jobs.get, job_id)).describe())


class JobCancelHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.reply(schemas.Job, (await self.call(self.app.jobs.cancel, job_id)).describe())


class JobRerunHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        job = await self.call(self.app.jobs.resubmit, job_id)
        self.reply(schemas.Job, job.describe(), status=201)


class JobLogsHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        cursor = _cursor(self.get_query_argument("cursor", ""))
        job = await self.call(self.app.jobs.get, job_id)
        # Read the status first: a job seen finished has written all of its log.
        finished = job.finished
        text, cursor = await self.call(job.read_log, cursor)
        logs = {"text": text, "cursor": ",".join(map(str, cursor)), "finished": finished}
        self.reply(schemas.JobLogs, logs)


class JobNotebookHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = await self.call(self.app.jobs.get, job_id)
        worker = self.int_argument("worker", 1, low=1, high=job.spec.workers)
        path = job.executed_notebook(worker)

        def read() -> dict:
            try:
                with open(path, encoding="utf-8") as fh:
                    return json.load(fh)
            except FileNotFoundError:
                raise ModelNotFoundError(
                    f"job {job.name} ({job.id}) has no executed notebook yet: it is {job.status}"
                ) from None

        self.reply(None, await self.call(read))


class NotebookParametersHandler(ModelshelfHandler):
    @authenticated
    @authorized
    async def get(self) -> None:
        text = self.get_query_argument("path", "")
        path = notebook_path(text, self.app.root_dir)
        declared = await self.call(notebook_parameters, path)
        parameters = [asdict(p) for p in declared.values()]
        self.reply(schemas.NotebookParameters, {"path": text, "parameters": parameters})


_JOB = r"(?P<job_id>[^/]+)"
ROUTES = [
    (r"/jobs", JobsHandler),
    (rf"/jobs/{_JOB}", JobHandler),
    (rf"/jobs/{_JOB}/cancel", JobCancelHandler),
    (rf"/jobs/{_JOB}/rerun", JobRerunHandler),
    (rf"/jobs/{_JOB}/logs", JobLogsHandler),
    (rf"/jobs/{_JOB}/notebook", JobNotebookHandler),
    (r"/notebook-parameters", NotebookParametersHandler),
]
