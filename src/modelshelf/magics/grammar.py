"""Magic lines onto the ``modelshelf`` CLI grammar: one definition, two faces.

``%model ls`` is the CLI's ``ls``, ``%job show ID`` its ``job show ID``, ``%deploy REF`` its
``deploy REF``. Each magic keeps its own copy of :func:`modelshelf.cli.commands.build_parser`, with
the sub-parsers' ``prog`` renamed after the magic's words, so that usage lines and errors
read ``%job show`` rather than ``modelshelf job show``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from modelshelf.cli.commands import CommandParser, build_parser
from modelshelf.core.errors import CommandLineError

__all__ = ["COMMANDS", "MagicGrammar", "ParsedLine"]

# For each magic: its word -> the CLI's words. Order is the order of the magic's help.
COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "model": {
        "save": ("save",),
        "ls": ("ls",),
        "versions": ("versions",),
        "show": ("show",),
        "load": ("load",),
        "rm": ("rm",),
        "diff": ("diff",),
        "alias": ("alias",),
        "gc": ("gc",),
        "fsck": ("fsck",),
    },
    "job": {
        "run": ("run",),
        "ls": ("jobs",),
        "show": ("job", "show"),
        "logs": ("job", "logs"),
        "cancel": ("job", "cancel"),
        "wait": ("job", "wait"),
        "rerun": ("job", "rerun"),
        "prune": ("job", "prune"),
        "schedule": ("schedule",),
    },
    "deploy": {
        "ls": ("deployments",),
        "stop": ("undeploy",),
        "invoke": ("invoke",),
        "batch": ("batch",),
    },
}

# `%deploy REF ...` has no word of its own: anything that is not one of the words above.
_DEFAULT = {"deploy": ("deploy",)}
_DESCRIPTIONS = {
    "model": "Save, list, show, load, compare and delete versioned models.",
    "job": "Run notebooks, scripts and training pipelines as jobs; list, show, follow, wait for "
    "and cancel them; schedule them.",
    "deploy": "Serve models over HTTP; list, invoke and stop deployments; batch jobs.",
}
_HELP = ("-h", "--help")


@dataclass(frozen=True)
class ParsedLine:
    """A magic line parsed by the CLI grammar: the namespace, or the help that was printed."""

    args: argparse.Namespace | None

    @property
    def helped(self) -> bool:
        return self.args is None


def without_comment(line: str) -> str:
    """``line`` up to a ``#`` that starts a word outside quotes, as a shell reads it:
    ``%model save churn  # the first try`` saves churn; ``--param tag=#1`` keeps its ``#``.

    IPython hands a line magic the whole rest of its line, comment included.
    """
    quote, escaped = "", False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse keeps sub-commands in its private action class; there is no public accessor.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class MagicGrammar:
    """The CLI grammar as seen through one magic (``model``, ``job`` or ``deploy``)."""

    def __init__(self, magic: str) -> None:
        if magic not in COMMANDS:
            raise ValueError(f"no magic named {magic!r}")
        self.magic = magic
        self.prog = f"%{magic}"
        self.words = COMMANDS[magic]
        self.parser: CommandParser = build_parser(prog=self.prog)
        self._rename_progs()

    def _cli_parser(self, words: Sequence[str]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.parser
        for word in words:
            parser = _subparsers(parser)[word]
        return parser

    def _rename_progs(self) -> None:
        for word, cli_words in self.words.items():
            self._cli_parser(cli_words).prog = f"{self.prog} {word}"
        if self.magic in _DEFAULT:
            self._cli_parser(_DEFAULT[self.magic]).prog = self.prog

    def to_argv(self, tokens: Sequence[str]) -> list[str] | None:
        """The CLI arguments for a magic's tokens; None for ``-h`` of the magic itself.

        Raises :class:`CommandLineError` for an empty line or an unknown word.
        """
        if not tokens or tokens[0] in _HELP:
            if tokens:
                return None
            raise CommandLineError(f"{self.prog} needs a subcommand: {self._choices()}")
        word, rest = tokens[0], list(tokens[1:])
        if word in self.words:
            return [*self.words[word], *rest]
        if self.magic in _DEFAULT:
            # `%deploy REF [REF ...] [--mode ...]`, `%deploy --mode multi`, `%deploy -- ls`.
            return [*_DEFAULT[self.magic], *tokens]
        raise CommandLineError(
            f"unknown subcommand {word!r} of {self.prog}: {self._choices()} (see `{self.prog} -h`)"
        )

    def _choices(self) -> str:
        words = list(self.words)
        if self.magic in _DEFAULT:
            words.insert(0, "REF")
        return "one of " + ", ".join(words)

    def parse(self, line: str) -> ParsedLine:
        """Parse a magic's line; ``-h`` anywhere prints help and gives ``ParsedLine(None)``.

        Raises :class:`CommandLineError` (one line) on any mistake.
        """
        try:
            tokens = shlex.split(without_comment(line), posix=True)
        except ValueError as exc:  # an unclosed quote
            raise CommandLineError(f"cannot split {line!r}: {exc}") from None
        argv = self.to_argv(tokens)
        if argv is None:
            print(self.help())
            return ParsedLine(None)
        try:
            return ParsedLine(self.parser.parse_args(argv))
        except SystemExit as exc:  # -h of a subcommand: argparse printed the help
            if exc.code not in (0, None):
                raise CommandLineError(f"{self.prog}: bad usage (see `{self.prog} -h`)") from None
            return ParsedLine(None)

    def help(self) -> str:
        """The help of the magic itself: its subcommands, from the CLI's help texts."""
        rows: list[tuple[str, str]] = []
        if self.magic in _DEFAULT:
            default = self._cli_parser(_DEFAULT[self.magic])
            rows.append(("REF [REF ...]", default.description or ""))
        for word, cli_words in self.words.items():
            rows.append((word, self._cli_parser(cli_words).description or ""))
        width = max(len(word) for word, _ in rows) + 2
        usage = f"usage: {self.prog} SUBCOMMAND [ARGS ...]"
        if self.magic in _DEFAULT:
            usage = (
                f"usage: {self.prog} REF [REF ...] [OPTIONS]\n"
                f"   or: {self.prog} SUBCOMMAND [ARGS ...]"
            )
        lines = [
            usage,
            "",
            _DESCRIPTIONS[self.magic],
            "",
            "subcommands:",
            *(f"  {word:<{width}}{text}" for word, text in rows),
            "",
            f"`{self.prog} SUBCOMMAND -h` shows the options of one subcommand;",
            "`%config ModelshelfMagics` shows the settings (root, max_rows, progress).",
        ]
        return "\n".join(lines)
