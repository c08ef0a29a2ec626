"""README.md's code blocks, as tests/test_readme.py runs them (a plain module).

A block is run by its language (``bash``: a shell, ``python``: a fresh interpreter, or a
notebook when it holds ``%`` magics) unless an HTML comment on the line before its fence
says otherwise: ``<!-- readme-test: KIND (why) -->``, where KIND is one of :data:`MARKS`.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
from dataclasses import dataclass

MARKS = {
    "moto": "runs as its language says, with S3 on the moto server (AWS_ENDPOINT_URL)",
    "jupyter-server": "a shell block run against a real Jupyter server with modelshelf in it",
    "make-dry-run": "each `make TARGET` line runs as `make -n TARGET`: the target exists",
    "synopsis": "the CLI's usage lines, checked against its grammar",
    "text": "not code (a map, a diagram): nothing to run",
}
SHELLS = ("bash", "sh", "shell")
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARK = re.compile(r"^<!--\s*readme-test:\s*(\S+)(.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: the line of its opening fence, its language, code and mark."""

    line: int
    language: str
    code: str
    mark: str | None = None

    @property
    def kind(self) -> str:
        """How the block runs: shell, python, notebook, or its mark's kind."""
        if self.mark not in (None, "moto"):
            return self.mark
        if self.language in SHELLS:
            return "shell"
        if self.language == "python":
            magic = any(line.lstrip().startswith("%") for line in self.code.splitlines())
            return "notebook" if magic else "python"
        return f"unmarked {self.language or 'untagged'} block"

    @property
    def id(self) -> str:
        moto = "+moto" if self.mark == "moto" else ""
        return f"README.md:{self.line}:{self.kind}{moto}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the mark on the line before its fence."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        mark = _MARK.match(lines[i - 1]) if i else None
        code = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(i + 1, fence.group(1), code, mark.group(1) if mark else None))
        i = end + 1
    return found


# ---- python: a result a comment states is checked ---------------------------------------------


def with_stated_results_checked(code: str) -> str:
    """``code`` where each expression line whose comment is a Python literal (``v.ref  #
    'churn:3'``) asserts that its value is that literal; other lines are kept as written.

    Comments that say more than a value (``# {'predictions': [...]}``, prose) are not checked.
    """
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(code).readline)
        if token.type == tokenize.COMMENT
    }
    lines = code.splitlines()
    for node in reversed(ast.parse(code).body):  # bottom up: line numbers stay right
        stated = comments.get(node.end_lineno or 0)
        if not isinstance(node, ast.Expr) or stated is None or not _is_value(stated):
            continue
        expression = ast.get_source_segment(code, node.value)
        says = f"README: {expression} should be {stated}, and is"
        check = f"__value = ({expression})\nassert __value == {stated}, ({says!r}, __value)"
        lines[node.lineno - 1 : node.end_lineno] = check.splitlines()
    return "\n".join(lines) + "\n"


def _is_value(text: str) -> bool:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return "Ellipsis" not in repr(value)  # `[...]` stands for "something like this"


# ---- the CLI's synopsis ---------------------------------------------------------------------


def synopsis_problems(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """What the usage lines say that the grammar does not have: commands and options.

    Lines start with ``modelshelf``; indented lines continue the one before; `` | ``
    outside brackets separates commands (``ls | versions NAME``); ``job show|logs ID`` names
    several actions of one command.
    """
    commands: list[str] = []
    for line in text.splitlines():
        if line.startswith("modelshelf "):
            commands.append(line.removeprefix("modelshelf "))
        elif line.strip() and commands:
            commands[-1] += " " + line.strip()
    problems = []
    for usage in commands:
        for segment in _top_level_alternatives(usage):
            words = segment.split()
            for sub, prog in _parsers_named(parser, words):
                if sub is None:
                    problems.append(f"no command `modelshelf {prog}` (in `{segment}`)")
                    continue
                for option in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", segment):
                    if option not in sub._option_string_actions:
                        problems.append(f"`modelshelf {prog}` has no option {option}")
    return problems


def _top_level_alternatives(usage: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for i, char in enumerate(usage):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "|" and depth == 0 and usage[i - 1 : i + 2] == " | ":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def _parsers_named(
    parser: argparse.ArgumentParser, words: list[str]
) -> list[tuple[argparse.ArgumentParser | None, str]]:
    """The sub-parsers ``words`` name (``job show|logs ID``: job show and job logs)."""
    commands = _choices(parser)
    top = commands.get(words[0])
    if top is None or not _choices(top):
        return [(top, words[0])]
    actions = _choices(top)
    return [
        (actions.get(a), f"{words[0]} {a}") for a in (words[1] if len(words) > 1 else "").split("|")
    ]


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for sub-commands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
