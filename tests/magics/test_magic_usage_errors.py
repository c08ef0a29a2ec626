"""Every kind of user mistake is one line of UsageError, never a traceback."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

MISTAKES = [
    # (magic, line, a piece of the message)
    ("model", "", "%model needs a subcommand: one of save, ls"),
    ("model", "frobnicate", "unknown subcommand 'frobnicate' of %model"),
    ("job", "start x.ipynb", "unknown subcommand 'start' of %job"),
    ("model", "save", "the following arguments are required: NAME (see `%model save -h`)"),
    ("model", "diff churn", "required: B"),
    ("job", "show", "(see `%job show -h`)"),
    ("deploy", "invoke", "(see `%deploy invoke -h`)"),
    ("model", "save m --param lr", "expected KEY=VALUE, got 'lr'"),
    ("model", "save m --metric =1", "expected KEY=VALUE"),
    ("model", "save m --from 'unclosed", "cannot split"),
    ("model", "alias churn 2", "expected NAME@ALIAS"),
    ("model", "alias churn@prod zero", "a version is a whole number"),
    ("model", "show ghost", "no model named 'ghost'"),
    ("model", "versions ghost", "no model named 'ghost'"),
    ("model", "load ghost:3", "no model named 'ghost'"),
    ("model", "save bad/name --from .", "invalid model name 'bad/name'"),
    ("model", "show 'a b@-x'", "invalid alias"),
    ("model", "save m --from /no/such/folder", "/no/such/folder"),
    ("model", "save m /no/such/folder", "/no/such/folder"),
    ("model", "save m ./a --from ./b", "SOURCE './a' and --from both say what to save"),
    ("model", "save m ./a --output", "SOURCE './a' and --output both say what to save"),
    ("model", "save m ./a ./b", "unrecognized arguments: ./b"),
    ("job", "show 20250101-000000-abcdef", "20250101-000000-abcdef"),
    ("job", "run nb.ipynb --workers 0", "expected a whole number from 1"),
    ("job", "run /no/such.ipynb", "/no/such.ipynb"),
    ("deploy", "ghost", "ghost"),
    ("deploy", "m --mode lambda", "invalid choice: 'lambda'"),
    ("deploy", "stop nobody", "nobody"),
    ("deploy", "invoke nobody {}", "nobody"),
]


@pytest.mark.parametrize(("magic", "line", "message"), MISTAKES)
def test_mistake_is_one_line_usage_error(ip, magic: str, line: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic(magic, line)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text and "Traceback" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_user_sees_one_line(ip, capsys) -> None:
    ip.run_cell("%model show ghost", raise_on_error=False)
    captured = capsys.readouterr()
    shown = (captured.out + captured.err).strip()
    assert shown.startswith("UsageError: no model named 'ghost'")
    assert "\n" not in shown and "Traceback" not in shown


def test_invalid_json_payload(ip, monkeypatch) -> None:
    # The payload is read after the deployment is found: a stand-in manager finds any name.
    from modelshelf.magics.magics import ModelshelfMagics

    class Manager:
        def get(self, name: str) -> object:
            return object()

    monkeypatch.setattr(ModelshelfMagics, "deployments", property(lambda self: Manager()))
    with pytest.raises(UsageError, match="PAYLOAD is not JSON"):
        ip.run_line_magic("deploy", "invoke linear '{not json'")
