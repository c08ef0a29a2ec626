"""The model commands: save, ls, versions, show, load, rm, alias, diff, gc, fsck.

Every handler takes ``(shelf, args)`` and returns a core object without printing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelshelf.cli.commands.parsing import parse_key_value, version_number
from modelshelf.core.errors import CommandLineError
from modelshelf.core.names import parse_ref

if TYPE_CHECKING:  # the store is imported when a command runs (the face makes the Shelf)
    from modelshelf.core.store import AliasMove, Shelf


def _source(args: argparse.Namespace) -> str:
    """What ``save`` stores: SOURCE, --from, --output's folder, else ML_MODEL_PATH."""
    # --from with --output is a usage error of argparse's own (a mutually exclusive group).
    if args.source is not None:
        if args.source_option is not None or args.output:
            other = "--from" if args.source_option is not None else "--output"
            raise CommandLineError(
                f"SOURCE {args.source!r} and {other} both say what to save: give one of them"
            )
        return args.source
    if args.source_option is not None:
        return args.source_option
    from modelshelf.core.store import default_model_path, default_output_path

    return default_output_path() if args.output else default_model_path()


def _save(shelf: Shelf, args: argparse.Namespace) -> object:
    source = _source(args)
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
    from modelshelf.core.store import VersionListing

    # versions() validates the name before the alias book turns it into a path.
    versions = shelf.versions(args.name)
    return VersionListing(args.name, versions, shelf.aliases.of_model(args.name))


def _show(shelf: Shelf, args: argparse.Namespace) -> object:
    return shelf.show(args.ref, evaluations=True)


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


def add_model_commands(command: Callable[[str, Any, str], argparse.ArgumentParser]) -> None:
    """Add save, ls, versions, show, load, rm, alias, diff, gc and fsck to the grammar."""
    save = command("save", _save, "save a folder or URL as the next version of NAME")
    save.add_argument("name", metavar="NAME")
    # SOURCE as `git add PATH` and `dvc add PATH` take it, or --from (one of them: _source).
    save.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="folder, URL or archive to save (default: $ML_MODEL_PATH or /opt/ml/models)",
    )
    where = save.add_mutually_exclusive_group()
    where.add_argument(
        "--from", dest="source_option", metavar="PATH|URL", help="the same as SOURCE"
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
    what.add_argument("version", metavar="VERSION", nargs="?", type=version_number)
    what.add_argument("--rm", action="store_true", help="remove the alias")
    what.add_argument("--history", action="store_true", help="every move of the alias")

    diff = command("diff", _diff, "compare two versions")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")

    gc = command("gc", _gc, "remove blobs no version uses")
    gc.add_argument("--dry-run", action="store_true", help="report only")

    command("fsck", _fsck, "re-hash every blob and report damage")
