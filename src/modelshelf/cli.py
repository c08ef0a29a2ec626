"""The ``modelshelf`` command line: one grammar shared with the ``%model`` IPython magics.

:func:`build_parser` holds the grammar; every sub-command's handler takes ``(shelf, args)``
and returns a core object without printing; :func:`~modelshelf.cli_render.render` turns that
object into text or JSON. :func:`main` is the CLI face: it adds the Shelf, a tqdm progress
bar, printing and exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NoReturn

from tqdm import tqdm

from modelshelf._version import __version__
from modelshelf.cli_deploy import add_deploy_commands, deploy_exit_code
from modelshelf.cli_jobs import add_job_commands, job_exit_code, log_printer
from modelshelf.cli_render import VersionListing, render
from modelshelf.core.errors import ModelshelfError
from modelshelf.core.names import parse_ref
from modelshelf.core.progress import Progress, ProgressCallback
from modelshelf.core.store import (
    AliasMove,
    FsckReport,
    Shelf,
    default_model_path,
    default_output_path,
)

__all__ = [
    "CommandLineError",
    "CommandParser",
    "TqdmProgress",
    "build_parser",
    "exit_code",
    "main",
    "make_shelf",
    "parse_key_value",
    "parse_value",
    "render",
]


class CommandLineError(ModelshelfError):
    """The command line does not follow the grammar (the magics raise it as a UsageError)."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`CommandLineError` instead of exiting.

    Only ``-h/--help`` still exits (SystemExit 0) after printing the help.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(f"{message} (see `{self.prog} -h`)")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # exit_on_error=False makes argparse raise ArgumentError for some mistakes (bad
        # choice, bad type) and call error() for others; both become CommandLineError.
        try:
            return super().parse_known_args(args, namespace)
        except argparse.ArgumentError as exc:
            self.error(str(exc))


# ---- values -----------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON: keep them as the strings the user typed.
    raise ValueError(name)


def parse_value(text: str) -> Any:
    """``1`` -> 1, ``0.5`` -> 0.5, ``true``/``True`` -> True, ``[1,2]`` -> [1, 2]; else the
    string. Python's spellings count too: in a notebook people write ``True`` and ``None``."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError:
        pass
    if text in _PYTHON_CONSTANTS:
        return _PYTHON_CONSTANTS[text]
    return text


_PYTHON_CONSTANTS = {"True": True, "False": False, "None": None}


def parse_key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, parsed VALUE)``; an argparse ``type`` for --param and friends."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(raw)


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a version is a whole number from 1, got {text!r}")
    return int(text)


# ---- handlers: (shelf, args) -> core object; they never print -----------------------------


def _save(shelf: Shelf, args: argparse.Namespace) -> object:
    if args.source is not None:
        source = args.source
    else:
        source = default_output_path() if args.output else default_model_path()
    # The magics set args.lineage: the kernel's notebook and, inside a job, the job and its
    # parameters (what the user typed with --param wins over the job's).
    lineage = getattr(args, "lineage", None)
    return shelf.save(
        args.name,
        source,
        parent=args.parent,
        params={**(lineage.params if lineage else {}), **dict(args.params or ())},
        metrics=dict(args.metrics or ()),
        tags=args.tags,
        dataset=args.dataset,
        message=args.message,
        notebook=lineage.notebook if lineage else None,
        job=lineage.job if lineage else None,
        progress=args.progress,
    )


def _ls(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.list()


def _versions(shelf: Shelf, args: argparse.Namespace) -> object:
    # versions() validates the name before the alias book turns it into a path.
    versions = shelf.versions(args.name)
    return VersionListing(args.name, versions, shelf.aliases.of_model(args.name))


def _show(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.show(args.ref)


def _load(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.load(args.ref, args.to, progress=args.progress)


def _rm(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.delete(args.ref)


def _alias(shelf: Shelf, args: argparse.Namespace) -> AliasMove | list[AliasMove]:
    ref = parse_ref(args.target)
    if ref.alias is None:
        raise CommandLineError(f"expected NAME@ALIAS, got {args.target!r} (e.g. churn@production)")
    if args.history:
        return shelf.alias_history(ref.name, ref.alias)
    if args.rm:
        return shelf.remove_alias(ref.name, ref.alias)
    return shelf.set_alias(ref.name, ref.alias, args.version)


def _diff(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.diff(args.a, args.b)


def _gc(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.gc(dry_run=args.dry_run)


def _fsck(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.fsck()


# ---- the grammar ------------------------------------------------------------------------------


def _output_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--json and --quiet, accepted before and after the command (``ls --json``)."""
    # Below the top, SUPPRESS keeps an absent flag from resetting one given before the command.
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress bar"
    )


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
    _output_options(parser, top=True)
    parser.set_defaults(progress=None)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _output_options(sub, top=False)
        sub.set_defaults(handler=handler)
        return sub

    save = command("save", _save, "save a folder or URL as the next version of NAME")
    save.add_argument("name", metavar="NAME")
    where = save.add_mutually_exclusive_group()
    where.add_argument(
        "--from",
        dest="source",
        metavar="PATH|URL",
        help="what to save (default: $ML_MODEL_PATH or /opt/ml/models)",
    )
    where.add_argument(
        "--output", action="store_true", help="save $ML_OUTPUT_PATH (default /opt/ml/output)"
    )
    for flag, dest in (("--param", "params"), ("--metric", "metrics")):
        save.add_argument(
            flag,
            dest=dest,
            metavar="K=V",
            type=parse_key_value,
            action="append",
            help="value parsed as JSON when it parses, else a string (repeatable)",
        )
    save.add_argument("--parent", metavar="REF", help="the version this one derives from")
    save.add_argument("--tag", dest="tags", metavar="T", action="append", help="(repeatable)")
    save.add_argument("--dataset", metavar="PATH|URL", help="data it was trained on (hashed)")
    save.add_argument("-m", "--message", help="what changed")

    command("ls", _ls, "list models")

    versions = command("versions", _versions, "list the versions of NAME")
    versions.add_argument("name", metavar="NAME")

    show = command("show", _show, "show one version's manifest")
    show.add_argument("ref", metavar="REF", help="NAME, NAME:N or NAME@ALIAS")

    load = command("load", _load, "copy a version's files into a folder")
    load.add_argument("ref", metavar="REF", help="NAME, NAME:N or NAME@ALIAS")
    load.add_argument("--to", metavar="DIR", help="default: $ML_MODEL_PATH or /opt/ml/models")

    rm = command("rm", _rm, "delete one version")
    rm.add_argument("ref", metavar="REF", help="NAME:N or NAME@ALIAS")

    alias = command("alias", _alias, "move, remove or show the history of an alias")
    alias.add_argument("target", metavar="NAME@ALIAS")
    what = alias.add_mutually_exclusive_group(required=True)
    what.add_argument("version", metavar="VERSION", nargs="?", type=_version_number)
    what.add_argument("--rm", action="store_true", help="remove the alias")
    what.add_argument("--history", action="store_true", help="every move of the alias")

    diff = command("diff", _diff, "compare two versions")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")

    gc = command("gc", _gc, "remove blobs no version uses")
    gc.add_argument("--dry-run", action="store_true", help="report only")

    command("fsck", _fsck, "re-hash every blob and report damage")
    add_job_commands(command, _output_options)  # run, jobs, job ACTION
    add_deploy_commands(command)  # deploy, deployments, undeploy, invoke
    return parser


# ---- the CLI face -----------------------------------------------------------------------------


class TqdmProgress:
    """A ProgressCallback drawing one tqdm bar per phase (``save``, ``load``) on stderr."""

    def __init__(self, file: Any = None, bar_class: Any = None, **options: Any) -> None:
        """``options`` go to each tqdm bar (e.g. ``mininterval``); ``bar_class`` replaces
        tqdm (the magics pass tqdm.auto's, a widget in Jupyter)."""
        self._file = file
        self._bar_class = bar_class or tqdm
        self._options = options
        self._bar: tqdm | None = None
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        if self._bar is None or progress.phase != self._phase:
            self.close()
            self._phase = progress.phase
            self._bar = self._bar_class(
                total=progress.total_bytes,
                desc=progress.phase,
                unit="B",
                unit_scale=True,
                file=self._file if self._file is not None else sys.stderr,
                leave=False,  # the result line that follows says the same, for good
                **self._options,
            )
        # No refresh here: update() redraws at most every mininterval, even for tiny files.
        self._bar.set_postfix_str(
            f"{progress.done_files}/{progress.total_files} files", refresh=False
        )
        self._bar.update(progress.done_bytes - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_shelf(args: argparse.Namespace) -> Shelf:
    """The Shelf named by ``--root`` and ``--storage-option`` (defaults when absent)."""
    options = dict(args.storage_options) if args.storage_options else None
    return Shelf(args.root, storage_options=options)


def exit_code(result: object) -> int:
    """1 when the result is a failed check (fsck found damage) or a job waited for that did
    not succeed, else 0."""
    if isinstance(result, FsckReport):
        return 0 if result.ok else 1
    return job_exit_code(result) or deploy_exit_code(result)


def _fail(message: object, code: int) -> int:
    # One line, whatever the message holds, so scripts can grep it.
    text = " ".join(str(message).splitlines()) or type(message).__name__
    print(f"modelshelf: error: {text}", file=sys.stderr)
    return code


def _progress_bar(args: argparse.Namespace) -> AbstractContextManager[ProgressCallback | None]:
    if args.quiet or not sys.stderr.isatty():
        return nullcontext(None)
    return TqdmProgress(sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # -h/--help and --version
            return exc.code if isinstance(exc.code, int) else 0
        with _progress_bar(args) as progress, make_shelf(args) as shelf:
            args.progress = progress
            args.on_log = log_printer(to_stderr=args.json)  # --follow; stdout keeps the JSON
            result = args.handler(shelf, args)
            text = render(result, args.json, args.command)
        if text:  # empty after a streamed log
            print(text, flush=True)
        return exit_code(result)
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
