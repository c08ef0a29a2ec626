"""The magics' words map onto the CLI grammar; usage lines name the magic."""

from __future__ import annotations

import shlex

import pytest

from modelshelf.core.errors import CommandLineError
from modelshelf.magics.grammar import COMMANDS, MagicGrammar

MAPPED = [
    ("model", "ls", ["ls"], "ls"),
    (
        "model",
        "save m --from d --param a=1",
        ["save", "m", "--from", "d", "--param", "a=1"],
        "save",
    ),
    ("model", "alias m@prod 2", ["alias", "m@prod", "2"], "alias"),
    ("job", "ls --status running", ["jobs", "--status", "running"], "jobs"),
    ("job", "show ID", ["job", "show", "ID"], "job show"),
    ("job", "logs ID --follow", ["job", "logs", "ID", "--follow"], "job logs"),
    ("job", "cancel ID", ["job", "cancel", "ID"], "job cancel"),
    ("job", "wait ID", ["job", "wait", "ID"], "job wait"),
    ("job", "rerun m:1", ["job", "rerun", "m:1"], "job rerun"),
    ("job", "prune", ["job", "prune"], "job prune"),
    (
        "job",
        "run nb.ipynb -p lr 0.1 --wait",
        ["run", "nb.ipynb", "-p", "lr", "0.1", "--wait"],
        "run",
    ),
    ("deploy", "m:1 --port 8080", ["deploy", "m:1", "--port", "8080"], "deploy"),
    ("deploy", "a b --mode multi", ["deploy", "a", "b", "--mode", "multi"], "deploy"),
    ("deploy", "--mode multi", ["deploy", "--mode", "multi"], "deploy"),
    ("deploy", "-- ls", ["deploy", "--", "ls"], "deploy"),  # a model named like a word
    ("deploy", "ls --all", ["deployments", "--all"], "deployments"),
    ("deploy", "stop m", ["undeploy", "m"], "undeploy"),
    ("deploy", "invoke m '{\"x\": 1}'", ["invoke", "m", '{"x": 1}'], "invoke"),
    ("deploy", "batch m in out", ["batch", "m", "in", "out"], "batch"),
]


@pytest.mark.parametrize(("magic", "line", "argv", "command"), MAPPED)
def test_words_map_onto_the_cli(magic: str, line: str, argv: list[str], command: str) -> None:
    grammar = MagicGrammar(magic)
    assert grammar.to_argv(shlex.split(line)) == argv
    parsed = grammar.parse(line)
    assert parsed.args is not None and parsed.args.command == command
    assert callable(parsed.args.handler)


def test_a_model_named_like_a_word_is_deployed_after_a_double_dash() -> None:
    args = MagicGrammar("deploy").parse("-- ls").args
    assert args is not None and args.refs == ["ls"]


def test_usage_lines_name_the_magic() -> None:
    for magic, words in COMMANDS.items():
        grammar = MagicGrammar(magic)
        for word, cli_words in words.items():
            parser = grammar._cli_parser(cli_words)
            assert parser.format_usage().startswith(f"usage: %{magic} {word} ")
    assert (
        MagicGrammar("deploy")
        ._cli_parser(["deploy"])
        .format_usage()
        .startswith("usage: %deploy [-h]")
    )


def test_errors_point_at_the_magic_help() -> None:
    with pytest.raises(CommandLineError, match=r"\(see `%job wait -h`\)"):
        MagicGrammar("job").parse("wait")
    with pytest.raises(CommandLineError, match=r"needs a subcommand: one of REF, ls, stop"):
        MagicGrammar("deploy").parse("  ")


def test_help_lists_each_word_with_the_cli_help() -> None:
    text = MagicGrammar("job").help()
    assert "  run       run a notebook, a script or a training pipeline as a job" in text
    assert "  ls        list jobs, newest first" in text
    assert "  schedule  run notebooks or scripts on a timetable" in text


@pytest.mark.parametrize(
    ("line", "params", "message"),
    [
        ("save m --param C=1  # the first try", [("C", 1)], None),
        ("save m --param tag=#1 # a tag with a hash", [("tag", "#1")], None),
        ("save m -m 'fix # 3' #", None, "fix # 3"),
        (r"save m --param note=\#x", [("note", "#x")], None),
    ],
)
def test_a_comment_ends_the_line_as_in_a_shell(line, params, message) -> None:
    """IPython hands a line magic its whole line: `%model save churn  # why` in the README."""
    args = MagicGrammar("model").parse(line).args
    assert args is not None and args.name == "m"
    assert args.params == params and args.message == message
