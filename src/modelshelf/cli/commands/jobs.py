"""The job commands: run a notebook, script or training pipeline as a job; list, show,
follow, cancel, wait for, rerun and prune jobs. Handlers take ``(shelf, args)`` and return
results without printing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelshelf.cli.commands.managers import job_manager
from modelshelf.cli.commands.parsing import (
    checked_duration,
    duration,
    env_pair,
    executor_options,
    output_options,
    output_target,
    whole_number,
)
from modelshelf.cli.commands.results import JobLog, JobRun, PrunedJobs
from modelshelf.core.jobs.job_book import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

if TYPE_CHECKING:
    from modelshelf.core.jobs import Job
    from modelshelf.core.store import Shelf

STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)


def _followed_lines(job: Job, args: argparse.Namespace) -> tuple[str, bool]:
    """Read the log until the job ends, handing each line to ``args.on_log`` if set."""
    sink: Callable[[str], None] | None = getattr(args, "on_log", None)
    lines = []
    for line in job.logs(follow=True):
        lines.append(line)
        if sink is not None:
            sink(line)
    return "".join(lines), sink is not None


def see_through(job: Job, args: argparse.Namespace) -> JobRun:
    """Return at once, or (``--wait``/``--follow``) when the job has ended."""
    if args.follow and getattr(args, "on_log", None) is not None:
        _followed_lines(job, args)  # ends when the job does; the job is refreshed
        return JobRun(job, waited=True)
    if args.wait or args.follow:
        return JobRun(job.wait(), waited=True)
    return JobRun(job, waited=False)


def template_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``JobManager.submit``'s keyword arguments from :func:`template_options`' options."""
    return {
        "parameters": dict(args.parameters or ()),
        "parameters_from_strings": True,
        "model": args.model,
        "data": args.data,
        "output": args.output,
        "workers": args.workers,
        "executor": args.executor,
        "scheduler": args.scheduler,
        "kernel": args.kernel,
        "timeout": args.timeout,
        "env": dict(args.env or ()),
        "save_training_data": args.save_training_data,
        "pipeline": args.pipeline,
        "eval_data": args.eval_data,
    }


def _run(shelf: Shelf, args: argparse.Namespace) -> JobRun:
    with job_manager(shelf, args) as jobs:
        job = jobs.submit(args.notebook, name=args.name, **template_kwargs(args))
        return see_through(job, args)


def _jobs(shelf: Shelf, args: argparse.Namespace) -> list[Job]:
    with job_manager(shelf, args) as jobs:
        return jobs.list(limit=args.limit, status=args.status)


def _job_show(shelf: Shelf, args: argparse.Namespace) -> Job:
    with job_manager(shelf, args) as jobs:
        return jobs.get(args.id)


def _job_logs(shelf: Shelf, args: argparse.Namespace) -> JobLog:
    with job_manager(shelf, args) as jobs:
        job = jobs.get(args.id)
        if not args.follow:
            return JobLog(job, str(job.logs()))
        text, streamed = _followed_lines(job, args)
        return JobLog(job, text, streamed)


def _job_cancel(shelf: Shelf, args: argparse.Namespace) -> Job:
    with job_manager(shelf, args) as jobs:
        return jobs.cancel(args.id)


def _job_wait(shelf: Shelf, args: argparse.Namespace) -> JobRun:
    with job_manager(shelf, args) as jobs:
        return JobRun(jobs.get(args.id).wait(args.timeout), waited=True)


def _job_rerun(shelf: Shelf, args: argparse.Namespace) -> JobRun:
    with job_manager(shelf, args) as jobs:
        return see_through(jobs.rerun(args.ref), args)


def _job_prune(shelf: Shelf, args: argparse.Namespace) -> PrunedJobs:
    with job_manager(shelf, args) as jobs:
        return PrunedJobs(jobs.prune(args.older_than), args.older_than)


def wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="wait for the job to end (exit 1 unless it succeeded)"
    )
    parser.add_argument(
        "--follow", action="store_true", help="print the job's log as it runs, then as --wait"
    )


def parameter_option(parser: argparse.ArgumentParser) -> None:
    """``-p NAME VALUE``, repeatable: a job's parameters as the command line gives them."""
    parser.add_argument(
        "-p",
        "--param",
        dest="parameters",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a parameter: of the notebook's parameters cell (converted to its type), or of a "
        "script or pipeline (as --NAME VALUE and ML_PARAMETERS) (repeatable)",
    )


def template_options(parser: argparse.ArgumentParser) -> None:
    """What a job runs with (``run``'s options, and a schedule's job template)."""
    parameter_option(parser)
    parser.add_argument(
        "--pipeline",
        choices=("train", "evaluate", "full"),
        help="run PACKAGE_DIR as a training pipeline: train.py's class Main (UiPath AI Center) "
        "or serve.py's ModelAdapter (Dataloop, train only)",
    )
    parser.add_argument(
        "--eval-data",
        metavar="PATH|URL",
        help="the full pipeline's evaluation data (its test_data_directory)",
    )
    parser.add_argument("--model", metavar="REF", help="model loaded into ML_MODEL_PATH first")
    parser.add_argument("--data", metavar="PATH|URL", help="data copied into ML_DATA_PATH first")
    parser.add_argument("--workers", metavar="K", type=whole_number, default=1, help="default 1")
    executor_options(parser)
    parser.add_argument("--kernel", metavar="K", help="kernel name (default: the notebook's)")
    parser.add_argument("--timeout", metavar="DURATION", type=duration, help="e.g. 90s, 30m, 2h")
    parser.add_argument(
        "--env",
        metavar="K=V",
        type=env_pair,
        action="append",
        help="environment variable for the notebook (repeatable)",
    )
    parser.add_argument(
        "--save-training-data", action="store_true", help="save --data as a model too"
    )
    parser.add_argument(
        "--output",
        metavar="model|none|URL",
        type=output_target,
        default="model",
        help="keep ML_MODEL_PATH as model 'Job - NAME' (default), nothing, or copy "
        "ML_OUTPUT_PATH to URL",
    )


def add_job_commands(
    command: Callable[[str, Any, str], argparse.ArgumentParser],
) -> None:
    """Add ``run``, ``jobs`` and ``job ACTION`` to the grammar of :func:`cli.build_parser`.

    ``command(name, handler, help)`` adds a sub-command with the output options;
    ``output_options(parser, top=False)`` adds them to the ``job`` actions.
    """
    face = {"job_manager": None, "on_log": None}  # set by the face after parsing, if at all

    run = command(
        "run", _run, "run a notebook, a script or a training pipeline as a job, in its own process"
    )
    run.set_defaults(**face)
    run.add_argument(
        "notebook",
        metavar="NOTEBOOK|SCRIPT|PACKAGE_DIR",
        help=".ipynb or .py path or URL, or a package folder to run with --pipeline",
    )
    run.add_argument("--name", metavar="N", help="job name (default: the notebook's name)")
    template_options(run)
    wait_options(run)

    jobs = command("jobs", _jobs, "list jobs, newest first")
    jobs.set_defaults(**face)
    jobs.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    jobs.add_argument("--limit", metavar="N", type=whole_number, default=200, help="default 200")

    job = command("job", None, "show, follow, cancel, wait for, rerun or prune jobs")
    actions = job.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(job)
    )

    def action(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        output_options(sub, top=False)
        sub.set_defaults(handler=handler, command=f"job {name}", **face)
        return sub

    show = action("show", _job_show, "status, parameters, inputs, outputs and run summary")
    show.add_argument("id", metavar="ID")

    logs = action("logs", _job_logs, "print a job's log")
    logs.add_argument("id", metavar="ID")
    logs.add_argument("--follow", action="store_true", help="keep printing until the job ends")

    cancel = action("cancel", _job_cancel, "stop a job (a queued one never starts)")
    cancel.add_argument("id", metavar="ID")

    wait = action("wait", _job_wait, "wait for a job to end (exit 1 unless it succeeded)")
    wait.add_argument("id", metavar="ID")
    wait.add_argument("--timeout", metavar="SECONDS", type=duration, help="give up after this")

    rerun = action("rerun", _job_rerun, "run again the job that produced a model version")
    rerun.add_argument("ref", metavar="MODEL_REF", help="NAME, NAME:N or NAME@ALIAS")
    wait_options(rerun)

    prune = action("prune", _job_prune, "remove the workspaces and records of old jobs")
    prune.add_argument(
        "--older-than",
        metavar="AGE",
        type=checked_duration,
        default="7d",
        help="jobs that ended longer ago than this (default 7d); their models stay",
    )
