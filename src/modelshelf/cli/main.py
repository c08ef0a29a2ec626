"""The ``modelshelf`` command: parse, run the handler, print its view, exit with a code.

Only the grammar is imported up front: ``modelshelf --help`` needs nothing else, and each
command imports what it uses when it runs (``ls`` the store, never the job or deployment
machinery), so that commands which only read the store start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from modelshelf.cli.commands import build_parser
from modelshelf.core.errors import CommandLineError, ModelshelfError

if TYPE_CHECKING:
    from modelshelf.core.progress import ProgressCallback
    from modelshelf.core.store import Shelf


def make_shelf(args: argparse.Namespace) -> Shelf:
    """The Shelf named by ``--root`` and ``--storage-option`` (defaults when absent)."""
    from modelshelf.core.store import Shelf

    options = dict(args.storage_options) if args.storage_options else None
    return Shelf(args.root, storage_options=options)


def _fail(message: object, code: int) -> int:
    # One line, whatever the message holds, so scripts can grep it.
    text = " ".join(str(message).splitlines()) or type(message).__name__
    print(f"modelshelf: error: {text}", file=sys.stderr)
    return code


def _progress_bar(args: argparse.Namespace) -> AbstractContextManager[ProgressCallback | None]:
    if args.quiet or not sys.stderr.isatty():
        return nullcontext(None)
    from modelshelf.cli.progress import TqdmProgress  # tqdm: only for a terminal

    return TqdmProgress(sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from modelshelf.cli.exit_codes import exit_code
    from modelshelf.cli.views import render

    if hasattr(args, "on_log"):  # the commands that can follow a job's log set it
        from modelshelf.cli.views.jobs import log_printer

        args.on_log = log_printer(to_stderr=args.json)  # --follow; stdout keeps the JSON
    with _progress_bar(args) as progress, make_shelf(args) as shelf:
        args.progress = progress
        result = args.handler(shelf, args)
        text = render(result, args.json, args.command)
    if text:  # empty after a streamed log
        print(text, flush=True)
    return exit_code(result, args.command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # -h/--help and --version
            return exc.code if isinstance(exc.code, int) else 0
        return _run(args)
    except BrokenPipeError:
        # `modelshelf job logs ID | head`: the reader has gone; that is not an error.
        # Point stdout at devnull so Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except CommandLineError as exc:
        return _fail(exc, 2)
    except (ModelshelfError, OSError) as exc:
        return _fail(exc, 1)
    except KeyboardInterrupt:
        print("modelshelf: interrupted", file=sys.stderr)
        return 130
