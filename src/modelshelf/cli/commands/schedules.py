"""The schedule commands: ``schedule create|ls|show|pause|resume|rm|run`` and the
``scheduler`` daemon. Handlers take ``(shelf, args)`` and return results without printing.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelshelf.cli.commands.jobs import (
    parameter_option,
    see_through,
    template_kwargs,
    template_options,
    wait_options,
)
from modelshelf.cli.commands.parsing import (
    duration,
)
from modelshelf.cli.commands.results import JobRun

if TYPE_CHECKING:
    from modelshelf.core.jobs.scheduler import TickReport
    from modelshelf.core.jobs.schedules import ScheduleManager
    from modelshelf.core.store import Shelf


@dataclass(frozen=True)
class RemovedSchedule:
    """The schedule ``schedule rm`` deleted."""

    name: str


@dataclass(frozen=True)
class SchedulerPass:
    """What ``scheduler --once`` did, or that the daemon stopped (``report`` None)."""

    report: TickReport | None


@contextmanager
def schedule_manager(shelf: Shelf, args: argparse.Namespace) -> Iterator[ScheduleManager]:
    """``args.schedule_manager`` when the face gave one, else one closed afterwards."""
    from modelshelf.core.jobs.schedules import ScheduleManager

    given = getattr(args, "schedule_manager", None)
    if given is not None:
        yield given
        return
    manager = ScheduleManager(shelf, jobs=getattr(args, "job_manager", None))
    try:
        yield manager
    finally:
        manager.close()


def _create(shelf: Shelf, args: argparse.Namespace) -> Any:
    with schedule_manager(shelf, args) as schedules:
        return schedules.create(
            args.target,
            cron=args.cron,
            every=args.every,
            timezone=args.timezone,
            name=args.name,
            missed=args.missed,
            max_staleness=args.max_staleness,
            max_retries=args.max_retries,
            retry_backoff=args.retry_backoff,
            notify=args.notify,
            notify_on="always" if args.notify_always else "failure",
            paused=args.paused,
            **template_kwargs(args),
        )


def _update(shelf: Shelf, args: argparse.Namespace) -> Any:
    changes: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("cron", "every", "timezone", "missed", "max_retries", "retry_backoff",
                    "notify", "timeout", "max_staleness")
        if getattr(args, key) is not None
    }  # fmt: skip
    with schedule_manager(shelf, args) as schedules:
        if args.parameters:
            current = schedules.get(args.schedule).definition.template.get("parameters") or {}
            changes["parameters"] = {**current, **dict(args.parameters)}
            changes["parameters_from_strings"] = True
        if not changes:
            return schedules.get(args.schedule)
        return schedules.update(args.schedule, **changes)


def _ls(shelf: Shelf, args: argparse.Namespace) -> Any:
    with schedule_manager(shelf, args) as schedules:
        return schedules.list()


def _show(shelf: Shelf, args: argparse.Namespace) -> Any:
    with schedule_manager(shelf, args) as schedules:
        return schedules.get(args.schedule)


def _pause(shelf: Shelf, args: argparse.Namespace) -> Any:
    with schedule_manager(shelf, args) as schedules:
        return schedules.pause(args.schedule)


def _resume(shelf: Shelf, args: argparse.Namespace) -> Any:
    with schedule_manager(shelf, args) as schedules:
        return schedules.resume(args.schedule)


def _rm(shelf: Shelf, args: argparse.Namespace) -> RemovedSchedule:
    with schedule_manager(shelf, args) as schedules:
        schedules.delete(args.schedule)
        return RemovedSchedule(args.schedule)


def _run_now(shelf: Shelf, args: argparse.Namespace) -> JobRun:
    with schedule_manager(shelf, args) as schedules:
        job = schedules.run_now(
            args.schedule, dict(args.parameters or ()), parameters_from_strings=True
        )
        return see_through(job, args)


def _scheduler(shelf: Shelf, args: argparse.Namespace) -> SchedulerPass:
    from modelshelf.core.jobs import JobManager
    from modelshelf.core.jobs.scheduler import Scheduler

    own_jobs = None
    if args.job_manager is None and args.schedule_manager is None:
        # The daemon lives long, as a pool's owner must: its runs start on ready kernels.
        # `--once` exits at once, so a pool would start only to be thrown away.
        own_jobs = JobManager(shelf, kernel_pool=0 if args.once else args.kernel_pool)
        args.job_manager = own_jobs
    try:
        with schedule_manager(shelf, args) as schedules:
            scheduler = Scheduler(schedules, check_interval=args.check_interval)
            if args.once:
                return SchedulerPass(scheduler.run_once())
            _log_to_stderr()
            stop = threading.Event()
            if threading.current_thread() is threading.main_thread():
                # systemd and docker stop with SIGTERM: finish the pass, then exit 0.
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(
                f"modelshelf scheduler: watching {shelf.backend.url}", file=sys.stderr, flush=True
            )
            with suppress(KeyboardInterrupt):
                scheduler.run(stop)
            return SchedulerPass(None)
    finally:
        if own_jobs is not None:
            own_jobs.close()


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("modelshelf.core.jobs.scheduler")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def add_schedule_commands(
    command: Callable[[str, Any, str], argparse.ArgumentParser],
    output_options: Callable[..., None],
) -> None:
    """Add ``schedule ACTION`` and ``scheduler`` to the grammar of :func:`cli.build_parser`."""
    face = {"job_manager": None, "schedule_manager": None}

    schedule = command("schedule", None, "run notebooks or scripts on a timetable")
    actions = schedule.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(schedule)
    )

    def action(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        output_options(sub, top=False)
        sub.set_defaults(handler=handler, command=f"schedule {name}", **face)
        return sub

    create = action("create", _create, "schedule a notebook or script (a job template + when)")
    create.add_argument(
        "target",
        metavar="NOTEBOOK_OR_SCRIPT",
        help=".ipynb or .py path or URL, or a package folder with --pipeline",
    )
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="e.g. '0 3 * * 1' (03:00 on Mondays)")
    when.add_argument("--every", metavar="DURATION", help="a rate: 30s, 15m, 2h, rate(1 day)")
    create.add_argument("--timezone", metavar="TZ", help="of --cron, e.g. Europe/Paris (UTC)")
    create.add_argument("--name", metavar="N", help="schedule name (default: the file's stem)")
    template_options(create)
    create.add_argument(
        "--missed", choices=("skip", "once", "all"), default="skip",
        help="runs missed while no scheduler ran: skip (default), once, all",
    )  # fmt: skip
    create.add_argument(
        "--max-staleness", metavar="AGE", default="1d", help="--missed all: up to this old"
    )
    create.add_argument("--max-retries", metavar="N", type=int, default=0, help="default 0")
    create.add_argument(
        "--retry-backoff", metavar="DURATION", default="60s", help="first retry's wait, doubling"
    )
    create.add_argument("--notify", metavar="URL", help="webhook POSTed when a run fails")
    create.add_argument(
        "--notify-always", action="store_true", help="POST to --notify after every run"
    )
    create.add_argument("--paused", action="store_true", help="create it paused")

    update = action("update", _update, "change a schedule's timing, parameters or policies")
    update.add_argument("schedule", metavar="NAME")
    retime = update.add_mutually_exclusive_group()
    retime.add_argument("--cron", metavar="EXPR", help="a new cron expression (counts from now)")
    retime.add_argument("--every", metavar="DURATION", help="a new rate (counts from now)")
    update.add_argument("--timezone", metavar="TZ", help="of --cron")
    parameter_option(update)
    update.add_argument("--timeout", metavar="DURATION", type=duration, help="per run")
    update.add_argument("--missed", choices=("skip", "once", "all"))
    update.add_argument("--max-staleness", metavar="AGE")
    update.add_argument("--max-retries", metavar="N", type=int)
    update.add_argument("--retry-backoff", metavar="DURATION")
    update.add_argument("--notify", metavar="URL")

    action("ls", _ls, "list schedules: next run and last status")
    for name, handler, text in (
        ("show", _show, "a schedule's template, next run and last runs"),
        ("pause", _pause, "stop firing a schedule"),
        ("resume", _resume, "fire a paused schedule again (from its next due time)"),
        ("rm", _rm, "delete a schedule (its jobs and models stay)"),
    ):
        action(name, handler, text).add_argument("schedule", metavar="NAME")
    run = action("run", _run_now, "run a schedule's job now, with parameter overrides")
    run.add_argument("schedule", metavar="NAME")
    parameter_option(run)
    wait_options(run)

    daemon = command("scheduler", _scheduler, "fire due schedules (foreground daemon)")
    daemon.set_defaults(command="scheduler", **face)
    daemon.add_argument("--once", action="store_true", help="run what is due, then exit")
    daemon.add_argument(
        "--check-interval", metavar="SECONDS", type=float, default=5.0,
        help="how often to look for changed definitions (default 5)",
    )  # fmt: skip
    daemon.add_argument(
        "--kernel-pool", metavar="N", type=int, default=1,
        help="job runners kept ready with their kernels, so runs start at once (default 1; "
        "0: none)",
    )  # fmt: skip
