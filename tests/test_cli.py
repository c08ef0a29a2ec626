"""The ``modelshelf`` command: grammar, rendering, exit codes, on a real store in tmp_path."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modelshelf import FsckReport, ModelVersion, Shelf
from modelshelf.cli import main
from modelshelf.cli.commands import build_parser
from modelshelf.cli.commands.parsing import parse_key_value, parse_value
from modelshelf.cli.progress import TqdmProgress
from modelshelf.cli.views import render
from modelshelf.core.errors import CommandLineError
from modelshelf.core.progress import Progress
from modelshelf.core.store import VersionListing


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def model_dir() -> Path:
    """ML_MODEL_PATH (set by conftest) with two small files in it."""
    folder = Path(os.environ["ML_MODEL_PATH"])
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights v1")
    (folder / "sub" / "config.json").write_text('{"layers": 2}')
    return folder


@pytest.fixture
def cli(root: Path, capsys: pytest.CaptureFixture[str]):
    """Run ``modelshelf --root <root> ARGS...`` in-process; return (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--root", str(root), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def two_versions(cli, model_dir: Path) -> Path:
    """churn:1 and churn:2 (one file changed, one added, params and metrics differ)."""
    assert cli("save", "churn", "--param", "C=1", "--metric", "auc=0.9", "-m", "first")[0] == 0
    (model_dir / "model.bin").write_bytes(b"weights v2")
    (model_dir / "extra.txt").write_text("new")
    code, _, _ = cli(
        "save", "churn", "--param", "C=2", "--param", "opt=adam", "--metric", "auc=0.95"
    )
    assert code == 0
    return model_dir


def assert_one_line_error(err: str) -> None:
    assert err.startswith("modelshelf: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


# ---- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ("[1,2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("adam", "adam"),
        ("", ""),
        ("1e-3", 0.001),
        ("NaN", "NaN"),  # not JSON: kept as typed so manifests stay valid JSON
        ("Infinity", "Infinity"),
        ('"quoted"', "quoted"),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_key_value_splits_at_the_first_equals() -> None:
    assert parse_key_value("url=http://x?a=b") == ("url", "http://x?a=b")
    assert parse_key_value(" k =2") == ("k", 2)


# ---- save -------------------------------------------------------------------------------------


def test_save_without_from_saves_ml_model_path(cli, model_dir: Path) -> None:
    code, out, err = cli("save", "churn")
    assert (code, err) == (0, "")
    assert out == "saved churn:1 (2 files, 23 B)\n"
    code, out, _ = cli("--json", "show", "churn:1")
    assert json.loads(out)["source"] == str(model_dir)


def test_save_output_saves_ml_output_path(cli) -> None:
    output = Path(os.environ["ML_OUTPUT_PATH"])
    output.mkdir()
    (output / "report.txt").write_text("done")
    assert cli("save", "results", "--output")[1] == "saved results:1 (1 file, 4 B)\n"
    manifest = json.loads(cli("show", "results", "--json")[1])
    assert manifest["source"] == str(output)
    assert [f["path"] for f in manifest["files"]] == ["report.txt"]


def test_save_records_everything_given(cli, model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    source = tmp_path / "elsewhere"
    source.mkdir()
    (source / "w.bin").write_bytes(b"x")
    assert cli("save", "churn")[0] == 0
    code, out, _ = cli(
        "save", "churn", "--from", str(source), "--parent", "churn:1",
        "--param", "C=1", "--param", "lr=0.5", "--param", "early=true",
        "--param", "layers=[1,2]", "--param", "opt=adam",
        "--metric", "auc=0.91", "--tag", "baseline", "--tag", "gpu",
        "--dataset", str(data), "-m", "second try",
    )  # fmt: skip
    assert (code, out) == (0, "saved churn:2 (1 file, 1 B)\n")
    manifest = json.loads(cli("show", "churn:2", "--json")[1])
    assert manifest["source"] == str(source)
    assert manifest["parent"] == "churn:1"
    assert manifest["params"] == {"C": 1, "lr": 0.5, "early": True, "layers": [1, 2], "opt": "adam"}
    assert manifest["metrics"] == {"auc": 0.91}
    assert manifest["tags"] == ["baseline", "gpu"]
    assert manifest["dataset"]["ref"] == str(data)
    assert manifest["dataset"]["file_count"] == 1
    assert manifest["message"] == "second try"


def test_save_takes_its_source_as_git_add_and_dvc_add_do(cli, tmp_path: Path, monkeypatch) -> None:
    """`modelshelf save demo ./my-model`: the first thing a newcomer types."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"abc")
    monkeypatch.chdir(tmp_path)
    assert cli("save", "demo", "./my-model") == (0, "saved demo:1 (1 file, 3 B)\n", "")
    assert json.loads(cli("show", "demo:1", "--json")[1])["source"] == str(folder)
    # The same as --from, options before or after it.
    assert cli("save", "demo", "--from", "my-model", "-m", "again")[0] == 0
    assert cli("save", "demo", "-m", "third", "my-model", "--tag", "t")[0] == 0
    listing = json.loads(cli("versions", "demo", "--json")[1])
    assert [v["source"] for v in listing["versions"]] == [str(folder)] * 3


@pytest.mark.parametrize(
    "extra", [["--from", "my-model"], ["--output"]], ids=["with --from", "with --output"]
)
def test_save_source_given_twice_is_a_usage_error(cli, tmp_path: Path, monkeypatch, extra) -> None:
    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("save", "demo", "my-model", *extra)
    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert "both say what to save: give one of them" in err
    assert cli("ls")[1].startswith("no models yet")  # nothing was saved


def test_save_json_prints_the_manifest(cli, model_dir: Path) -> None:
    code, out, _ = cli("save", "churn", "--json")
    assert code == 0
    manifest = json.loads(out)
    assert (manifest["name"], manifest["version"], manifest["file_count"]) == ("churn", 1, 2)


# ---- reading --------------------------------------------------------------------------------


def test_ls(cli, two_versions: Path) -> None:
    code, out, _ = cli("ls")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "LATEST", "VERSIONS", "UPDATED"]
    assert row.split()[:3] == ["churn", "2", "2"]
    listed = json.loads(cli("ls", "--json")[1])
    assert [(m["name"], m["latest"], m["versions"]) for m in listed] == [("churn", 2, 2)]


def test_ls_empty_store(cli) -> None:
    assert cli("ls") == (0, "no models yet (`modelshelf save NAME` adds one)\n", "")
    assert json.loads(cli("--json", "ls")[1]) == []


def test_versions_shows_aliases(cli, two_versions: Path) -> None:
    assert cli("alias", "churn@production", "1")[0] == 0
    code, out, _ = cli("versions", "churn")
    assert code == 0
    lines = out.splitlines()
    headers = ["VERSION", "CREATED", "SIZE", "FILES", "METRICS", "MESSAGE", "ALIASES"]
    assert lines[0].split() == headers
    assert lines[1].startswith("1 ") and "first" in lines[1] and lines[1].endswith("production")
    assert lines[2].startswith("2 ") and "production" not in lines[2]
    listing = json.loads(cli("versions", "churn", "--json")[1])
    assert listing["aliases"] == {"production": 1}
    assert [(v["version"], v["aliases"]) for v in listing["versions"]] == [
        (1, ["production"]),
        (2, []),
    ]


def test_show(cli, two_versions: Path) -> None:
    code, out, _ = cli("show", "churn")
    assert code == 0
    assert re.search(r"^ref: +churn:2$", out, re.M)
    assert re.search(r"^params: +C=2, opt=adam$", out, re.M)
    assert re.search(r"^metrics: +auc=0.95$", out, re.M)
    assert "message" not in out  # unset fields are left out
    files = out.split("\n\n")[1].splitlines()
    assert files[0] == "3 files:"
    assert files[1].split() == ["PATH", "SIZE", "BLAKE3"]  # a new store keys blobs by BLAKE3
    assert [line.split()[0] for line in files[2:]] == ["extra.txt", "model.bin", "sub/config.json"]
    manifest = json.loads(cli("show", "churn:1", "--json")[1])
    assert manifest["version"] == 1 and "environment" in manifest and "files" in manifest


def test_load_to_folder_and_default(cli, two_versions: Path, tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "loaded"
    assert cli("load", "churn:1", "--to", str(dest)) == (0, f"loaded into {dest}\n", "")
    assert (dest / "model.bin").read_bytes() == b"weights v1"
    assert not (dest / "extra.txt").exists()
    default = tmp_path / "serving"
    monkeypatch.setenv("ML_MODEL_PATH", str(default))
    code, out, _ = cli("--json", "load", "churn")
    assert (code, json.loads(out)) == (0, {"path": str(default)})
    assert (default / "extra.txt").read_text() == "new"


def test_diff(cli, two_versions: Path) -> None:
    code, out, _ = cli("diff", "churn:1", "churn:2")
    assert code == 0
    assert out.startswith("diff:  churn:1 -> churn:2\nfiles: 1 added, 0 removed, 1 changed\n")
    changes = out.split("\n\n")[1].splitlines()
    assert [line.split() for line in changes] == [["FILE"], ["+", "extra.txt"], ["~", "model.bin"]]
    params = out.split("\n\n")[2].splitlines()
    assert params[0].split() == ["param", "churn:1", "churn:2"]
    assert params[1].split() == ["*", "C", "1", "2"]
    assert params[2].split() == ["*", "opt", "-", "adam"]
    diff = json.loads(cli("diff", "churn:1", "churn:2", "--json")[1])
    assert (diff["added"], diff["changed"], diff["removed"]) == (["extra.txt"], ["model.bin"], [])
    assert diff["metrics"] == {"auc": {"a": 0.9, "b": 0.95}}


# ---- aliases and deleting -------------------------------------------------------------------


def test_alias_move_history_and_remove(cli, two_versions: Path) -> None:
    assert cli("alias", "churn@prod", "1")[1] == "churn@prod -> churn:1\n"
    assert cli("alias", "churn@prod", "2")[1] == "churn@prod -> churn:2\n"
    assert json.loads(cli("show", "churn@prod", "--json")[1])["version"] == 2
    code, out, _ = cli("alias", "churn@prod", "--history")
    assert code == 0
    rows = [line.split()[:2] for line in out.splitlines()]
    assert rows == [["SEQ", "VERSION"], ["1", "1"], ["2", "2"]]
    assert cli("alias", "churn@prod", "--rm")[1] == "removed churn@prod\n"
    history = json.loads(cli("alias", "churn@prod", "--history", "--json")[1])
    assert [m["version"] for m in history] == [1, 2, None]
    code, _, err = cli("show", "churn@prod")
    assert code == 1
    assert_one_line_error(err)


def test_alias_json(cli, two_versions: Path) -> None:
    move = json.loads(cli("--json", "alias", "churn@prod", "1")[1])
    assert (move["name"], move["alias"], move["version"], move["seq"]) == ("churn", "prod", 1, 1)


def test_rm(cli, two_versions: Path) -> None:
    assert cli("rm", "churn:1")[1].startswith("deleted churn:1")
    listing = json.loads(cli("versions", "churn", "--json")[1])
    assert [v["version"] for v in listing["versions"]] == [2]


def test_rm_refuses_leased_and_aliased_versions(cli, two_versions: Path, root: Path) -> None:
    Shelf(root).lease("churn:1", "job 7")
    code, out, err = cli("rm", "churn:1")
    assert (code, out) == (1, "")
    assert_one_line_error(err)
    assert "job 7" in err
    cli("alias", "churn@prod", "2")
    code, _, err = cli("rm", "churn@prod")
    assert code == 1
    assert "alias prod" in err


# ---- upkeep -----------------------------------------------------------------------------------


def test_gc(cli, two_versions: Path) -> None:
    cli("rm", "churn:1")
    code, out, _ = cli("gc", "--dry-run")
    assert code == 0 and out.startswith("would remove 1 blob (10 B)")
    report = json.loads(cli("gc", "--json")[1])
    assert (report["removed_blobs"], report["freed_bytes"], report["dry_run"]) == (1, 10, False)
    assert cli("gc")[1].startswith("removed 0 blobs, freed 0 B")


def test_fsck_ok_then_damaged(cli, two_versions: Path, root: Path) -> None:
    code, out, _ = cli("fsck")
    assert (code, out) == (0, "OK: checked 4 blobs in 2 versions\n")
    # Flip one byte of the blob holding "weights v1" (only churn:1 uses it).
    blobs = (p for p in (root / "blobs").rglob("*") if p.is_file())
    blob = next(p for p in blobs if p.read_bytes() == b"weights v1")
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    code, out, err = cli("fsck")
    assert (code, err) == (1, "")
    assert f"damaged blob {blob.parent.name}{blob.name} used by churn:1" in out
    assert out.splitlines()[-1].startswith("FAILED: 1 damaged, 0 missing")
    code, out, _ = cli("fsck", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert list(report["damaged"].values()) == [["churn:1"]]


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["save"],
        ["show"],
        ["diff", "a:1"],
        ["save", "x", "--param", "novalue"],
        ["save", "x", "--metric", "=1"],
        ["save", "x", "--from", "somewhere", "--output"],
        ["ls", "extra"],
        ["alias", "churn@prod"],
        ["alias", "churn@prod", "0"],
        ["alias", "churn@prod", "1", "--rm"],
        ["alias", "churn", "1"],
        ["--storage-option", "nokey", "ls"],
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, argv: list[str]) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert_one_line_error(err)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["show", "nope"], "no model named 'nope'"),
        (["versions", "nope"], "no model named 'nope'"),
        (["show", "churn:9"], "has no version 9"),
        (["show", "../x"], "invalid model name '../x'"),
        (["versions", "../x"], "invalid model name '../x'"),
        (["save", ""], "cannot be empty"),
        (["save", "x", "--from", "/no/such/folder"], "does not exist"),
        (["rm", "churn"], "say which version to delete"),
        (["alias", "churn@prod", "7"], "has no version 7"),
        (["alias", "churn@prod", "--rm"], "has no alias 'prod'"),
        (["diff", "churn:1", "nope:1"], "no model named 'nope'"),
    ],
)
def test_user_errors_exit_1_with_one_clear_line(cli, two_versions, argv, says) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (1, "")
    assert_one_line_error(err)
    assert says in err


def test_save_missing_default_source(cli) -> None:
    code, _, err = cli("save", "churn")  # ML_MODEL_PATH was never created
    assert code == 1
    assert_one_line_error(err)
    assert os.environ["ML_MODEL_PATH"] in err


def test_os_error_is_one_line(cli, two_versions: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = cli("load", "churn", "--to", str(blocker / "inside"))
    assert code == 1
    assert_one_line_error(err)


def test_keyboard_interrupt_exits_130(cli, monkeypatch) -> None:
    def interrupted(self: Shelf) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Shelf, "list", interrupted)
    assert cli("ls") == (130, "", "modelshelf: interrupted\n")


def test_help_still_works(cli) -> None:
    code, out, err = cli("save", "--help")
    assert (code, err) == (0, "")
    assert out.startswith("usage: modelshelf save")
    assert "--from" in out


# ---- the grammar the magics reuse -----------------------------------------------------------


def test_parser_raises_instead_of_exiting() -> None:
    parser = build_parser(prog="%model")
    with pytest.raises(CommandLineError, match=r"required: NAME \(see `%model save -h`\)"):
        parser.parse_args(["save"])
    with pytest.raises(CommandLineError, match="invalid choice"):
        parser.parse_args(["nope"])


def test_handlers_return_core_objects_and_never_print(root, model_dir, capsys) -> None:
    parser = build_parser()
    shelf = Shelf(root)
    args = parser.parse_args(["save", "churn", "--param", "C=1", "--json"])
    saved = args.handler(shelf, args)
    assert isinstance(saved, ModelVersion) and saved.params == {"C": 1}
    assert args.json is True and args.command == "save"
    listing = (args := parser.parse_args(["versions", "churn"])).handler(shelf, args)
    assert isinstance(listing, VersionListing)
    report = (args := parser.parse_args(["fsck"])).handler(shelf, args)
    assert isinstance(report, FsckReport)
    assert capsys.readouterr() == ("", "")
    # Without a command, the view follows the result's type.
    assert render(saved, as_json=False).startswith("ref:")
    assert render(saved, as_json=False, command="save") == "saved churn:1 (2 files, 23 B)"
    assert json.loads(render([saved], as_json=True))[0]["version"] == 1


def test_output_options_before_or_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["--json", "ls"]).json is True
    assert parser.parse_args(["ls", "--json"]).json is True
    assert parser.parse_args(["ls"]).json is False
    assert parser.parse_args(["-q", "gc"]).quiet is True
    args = parser.parse_args(["--storage-option", "anon=true", "--storage-option", "x=1", "ls"])
    assert args.storage_options == [("anon", True), ("x", 1)]


# ---- progress -------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_unless_quiet(root, model_dir, monkeypatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["--root", str(root), "save", "churn"]) == 0
    # tqdm redraws at most every 0.1 s, so only the first frame of a tiny save is certain.
    assert "\rsave:   0%" in terminal.getvalue() and "/23.0 " in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["--root", str(root), "save", "churn", "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_tqdm_progress_one_bar_per_phase() -> None:
    out = io.StringIO()
    with TqdmProgress(out, mininterval=0, miniters=1) as bar:
        bar(Progress("save", 0, 100, 0, 2))
        bar(Progress("save", 100, 100, 2, 2))
        bar(Progress("load", 50, 100, 1, 2))
    text = out.getvalue()
    assert "save: 100%" in text and "load:  50%" in text and "1/2 files" in text


# ---- the installed entry point ----------------------------------------------------------------


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_entry_point_end_to_end(root: Path, model_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("modelshelf")
    done = _run(str(script), "--root", str(root), "save", "churn", "-m", "from a shell")
    assert (done.returncode, done.stdout, done.stderr) == (0, "saved churn:1 (2 files, 23 B)\n", "")
    dest = tmp_path / "out"
    done = _run(
        sys.executable, "-m", "modelshelf", "--root", str(root), "load", "churn", "--to", str(dest)
    )
    assert done.returncode == 0 and (dest / "model.bin").read_bytes() == b"weights v1"
    done = _run(str(script), "--root", str(root), "--json", "ls")
    assert json.loads(done.stdout)[0]["name"] == "churn"
    done = _run(str(script), "--root", str(root), "show", "../x")
    assert done.returncode == 1 and done.stdout == ""
    assert_one_line_error(done.stderr)
    done = _run(sys.executable, "-m", "modelshelf", "frobnicate")
    assert done.returncode == 2
    assert_one_line_error(done.stderr)


def test_python_spellings_of_constants_are_values():
    from modelshelf.cli.commands.parsing import parse_value

    assert [parse_value(t) for t in ("True", "False", "None", "true")] == [True, False, None, True]
    assert parse_value("NaN") == "NaN" and parse_value("yes") == "yes"


def test_fsck_reports_and_gc_repairs_listing_summaries(cli, two_versions: Path, root: Path) -> None:
    for shard in (root / "summaries").iterdir():
        shard.unlink()  # as if every save had stopped between its manifest and its summary
    code, out, _ = cli("fsck")
    assert code == 0  # the models are whole; only their listing is behind
    assert out.splitlines()[-1] == (
        "listing summaries out of date for 2 versions (a save or delete stopped half way; "
        "`modelshelf gc` repairs them)"
    )
    assert "churn" not in cli("ls")[1]
    assert cli("gc")[1].rstrip().endswith("; repaired the listing summaries of 2 versions")
    assert "churn" in cli("ls")[1] and cli("fsck")[1].count("\n") == 1
