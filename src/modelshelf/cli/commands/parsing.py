"""The grammar's building blocks: a parser that raises instead of exiting, and value types.

Every argparse ``type`` here raises :class:`argparse.ArgumentTypeError` with a message that
says what was expected; :class:`CommandParser` turns it into a :class:`CommandLineError`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, NoReturn

from modelshelf.core.errors import CommandLineError, ModelshelfError
from modelshelf.core.jobs.spec import EXECUTORS
from modelshelf.core.sizes import parse_duration


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`CommandLineError` instead of exiting.

    Only ``-h/--help`` still exits (SystemExit 0) after printing the help. A sub-command's
    positionals may stand anywhere among its options (``save NAME -m MSG SOURCE``), as
    ``git add -v PATH`` takes them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)
        self._intermixing = False

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(f"{message} (see `{self.prog} -h`)")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # exit_on_error=False makes argparse raise ArgumentError for some mistakes (bad
        # choice, bad type) and call error() for others; both become CommandLineError.
        try:
            if self._intermixing or not self._can_intermix():
                return super().parse_known_args(args, namespace)
            # Plain argparse fills an optional positional (SOURCE in `save NAME [SOURCE]`)
            # with nothing as soon as NAME is read, so `save demo -m x ./dir` would leave
            # ./dir unrecognized. The intermixed parse reads the options first, then the
            # positionals; it calls back into parse_known_args, hence the flag.
            self._intermixing, usage = True, self.usage
            if usage is None:
                # The intermixed parse freezes the usage text, which argparse %-formats when
                # it prints it: the % of a magic's prog (`%model save`) must be doubled.
                self.usage = self.format_usage().removeprefix("usage: ").replace("%", "%%")
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._intermixing, self.usage = False, usage
        except argparse.ArgumentError as exc:
            self.error(str(exc))

    def _can_intermix(self) -> bool:
        # What parse_known_intermixed_args refuses: sub-commands below this parser, a
        # REMAINDER positional, a positional in a mutually exclusive group (alias VERSION).
        positionals = self._get_positional_actions()
        grouped = {id(a) for group in self._mutually_exclusive_groups for a in group._group_actions}
        return not any(
            a.nargs in (argparse.PARSER, argparse.REMAINDER) or id(a) in grouped
            for a in positionals
        )


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


def version_number(text: str) -> int:
    """A version: a whole number from 1."""
    return whole_number(text, "a version is a whole number from 1")


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ModelshelfError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def checked_duration(text: str) -> str:
    duration(text)
    return text  # kept as typed, so the result can say "older than 7d"


def whole_number(text: str, expected: str = "expected a whole number from 1") -> int:
    """A count (workers, a limit): a whole number from 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
    return int(text)


def env_pair(text: str) -> tuple[str, str]:
    """``--env KEY=VALUE`` (the name is checked by the job or deployment manager)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value  # environment values stay strings


def output_target(text: str) -> str | None:
    return None if text.lower() == "none" else text


def executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--scheduler``: where a job (or a batch job's objects) runs."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="default local")
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address")


def output_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--json and --quiet, accepted before and after the command (``ls --json``)."""
    # Below the top, SUPPRESS keeps an absent flag from resetting one given before the command.
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress bar"
    )
