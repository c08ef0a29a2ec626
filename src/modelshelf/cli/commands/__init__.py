"""The grammar of ``modelshelf``, shared with the IPython magics: one definition, two faces.

:func:`build_parser` holds the grammar; every sub-command's handler takes ``(shelf, args)``
and returns a core object without printing. The CLI (:mod:`modelshelf.cli.main`) and the
magics (:mod:`modelshelf.magics`) parse with it and format the result with
:func:`modelshelf.cli.views.render`.
"""

from __future__ import annotations

import argparse
from typing import Any

from modelshelf._version import __version__
from modelshelf.cli.commands.deploy import add_deploy_commands
from modelshelf.cli.commands.jobs import add_job_commands
from modelshelf.cli.commands.models import add_model_commands
from modelshelf.cli.commands.parsing import CommandParser, output_options, parse_key_value
from modelshelf.cli.commands.schedules import add_schedule_commands

__all__ = ["CommandParser", "build_parser"]


def build_parser(prog: str = "modelshelf") -> CommandParser:
    """The full grammar; each sub-command sets ``handler`` and ``command`` defaults.

    A face parses, sets ``args.progress`` (a ProgressCallback or None), builds a Shelf and
    calls ``args.handler(shelf, args)``, then ``render(result, args.json, args.command)``.
    """
    parser = CommandParser(prog=prog, description="Versioned models on any folder or URL.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--root", metavar="URL", help="store root (default: $MODELSHELF_ROOT or ~/.modelshelf)"
    )
    parser.add_argument(
        "--storage-option",
        dest="storage_options",
        metavar="KEY=VALUE",
        type=parse_key_value,
        action="append",
        help="fsspec option for the root URL, e.g. endpoint_url=http://minio:9000 (repeatable)",
    )
    output_options(parser, top=True)
    parser.set_defaults(progress=None)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        output_options(sub, top=False)
        sub.set_defaults(handler=handler)
        return sub

    add_model_commands(command)  # save, ls, versions, show, ...
    add_job_commands(command)  # run, jobs, job ACTION
    add_deploy_commands(command)  # deploy, deployments, undeploy, invoke
    add_schedule_commands(command, output_options)  # schedule ACTION, scheduler
    return parser
