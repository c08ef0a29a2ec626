"""``%model``: every subcommand through a testing shell, on a real local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from magic_helpers import TestingShell, magics_of
from traitlets.config import Config

from modelshelf import Shelf
from modelshelf.core.store import ModelSummary, ModelVersion
from modelshelf.magics import results
from modelshelf.magics.results import CommandResult, Listing, VersionList


def test_save_from_a_folder_returns_the_version(ip, folder: Path, store: Path) -> None:
    version = ip.run_line_magic(
        "model",
        f"save churn --from {folder} --param lr=0.1 --param kind=tree --metric auc=0.9 "
        "--tag first -m 'a first try'",
    )
    assert isinstance(version, ModelVersion)
    assert version.ref == "churn:1" and version.file_count == 2
    assert version.params == {"lr": 0.1, "kind": "tree"} and version.metrics == {"auc": 0.9}
    assert version.tags == ("first",) and version.message == "a first try"
    assert repr(version) == "<ModelVersion churn:1: 2 files, 213 B>"
    with Shelf(store) as shelf:
        assert shelf.show("churn").ref == "churn:1"


def test_save_takes_its_source_as_a_positional_too(ip, folder: Path) -> None:
    """`%model save NAME SOURCE`, as `modelshelf save NAME SOURCE`: the same as --from."""
    saved = ip.run_line_magic("model", f"save churn {folder} -m first")
    assert (saved.ref, saved.source, saved.file_count) == ("churn:1", str(folder), 2)
    again = ip.run_line_magic("model", f"save churn -m second {folder} --param lr=0.1")
    assert (again.ref, again.source, again.params) == ("churn:2", str(folder), {"lr": 0.1})


def test_save_by_assignment_in_a_cell(ip, folder: Path) -> None:
    ip.run_cell(f"m = %model save churn --from {folder}")
    assert ip.user_ns["m"].ref == "churn:1"
    ip.run_cell(f"m = %model save churn --from {folder} --parent churn:1")
    assert (ip.user_ns["m"].ref, ip.user_ns["m"].parent) == ("churn:2", "churn:1")


def test_save_defaults_to_ml_model_path_and_output(ip, tmp_path: Path) -> None:
    (tmp_path / "_ml_model").mkdir()
    (tmp_path / "_ml_model" / "model.pkl").write_bytes(b"model")
    (tmp_path / "_ml_output").mkdir()
    (tmp_path / "_ml_output" / "report.txt").write_text("output")
    saved = ip.run_line_magic("model", "save trained")
    assert [f.path for f in saved.files] == ["model.pkl"]
    assert saved.source.endswith("_ml_model")
    output = ip.run_line_magic("model", "save trained --output")
    assert [f.path for f in output.files] == ["report.txt"]


def test_ls_versions_show(ip, folder: Path) -> None:
    assert repr(ip.run_line_magic("model", "ls")).startswith("no models yet")
    ip.run_line_magic("model", f"save churn --from {folder} --metric auc=0.8")
    ip.run_line_magic("model", f"save churn --from {folder} --metric auc=0.9 -m better")
    ip.run_line_magic("model", f"save iris --from {folder}")

    models = ip.run_line_magic("model", "ls")
    assert isinstance(models, Listing) and isinstance(models, list)
    assert [(m.name, m.latest, m.versions) for m in models] == [("churn", 2, 2), ("iris", 1, 1)]
    assert all(isinstance(m, ModelSummary) for m in models)
    text = repr(models).splitlines()
    assert text[0].split() == ["NAME", "LATEST", "VERSIONS", "UPDATED"]
    assert text[1].split()[:3] == ["churn", "2", "2"]
    html = models._repr_html_()
    assert "<td" in html and ">churn</td>" in html and ">iris</td>" in html

    versions = ip.run_line_magic("model", "versions churn")
    assert isinstance(versions, VersionList) and versions.name == "churn"
    assert [v.ref for v in versions] == ["churn:1", "churn:2"]
    assert "better" in repr(versions).splitlines()[2]
    assert "auc = 0.9" in versions._repr_html_()

    shown = ip.run_line_magic("model", "show churn:1")
    assert shown.ref == "churn:1" and shown.metrics == {"auc": 0.8}
    assert ip.run_line_magic("model", "show churn").ref == "churn:2"


def test_load_rm_diff(ip, folder: Path, tmp_path: Path) -> None:
    ip.run_line_magic("model", f"save churn --from {folder} --param lr=0.1")
    (folder / "weights.bin").write_bytes(b"changed")
    (folder / "extra.txt").write_text("new")
    ip.run_line_magic("model", f"save churn --from {folder} --param lr=0.2")

    target = tmp_path / "loaded"
    path = ip.run_line_magic("model", f"load churn:1 --to {target}")
    assert path == str(target)
    assert (target / "sub" / "config.json").read_text() == '{"layers": 2}'
    default = ip.run_line_magic("model", "load churn")
    assert default == str(tmp_path / "_ml_model")
    assert (tmp_path / "_ml_model" / "extra.txt").read_text() == "new"

    diff = ip.run_line_magic("model", "diff churn:1 churn:2")
    assert isinstance(diff, CommandResult)
    assert diff.added == ["extra.txt"] and diff.changed == ["weights.bin"]  # passed through
    assert repr(diff).startswith("diff:  churn:1 -> churn:2\nfiles: 1 added, 0 removed, 1 changed")
    assert "<table" in diff._repr_html_() and "lr" in diff._repr_html_()

    deleted = ip.run_line_magic("model", "rm churn:1")
    assert deleted.ref == "churn:1"
    assert [v.ref for v in ip.run_line_magic("model", "versions churn")] == ["churn:2"]


def test_alias_move_history_and_remove(ip, folder: Path) -> None:
    ip.run_line_magic("model", f"save churn --from {folder}")
    ip.run_line_magic("model", f"save churn --from {folder}")
    moved = ip.run_line_magic("model", "alias churn@production 1")
    assert repr(moved) == "churn@production -> churn:1"
    ip.run_line_magic("model", "alias churn@production 2")
    assert ip.run_line_magic("model", "show churn@production").ref == "churn:2"
    history = ip.run_line_magic("model", "alias churn@production --history")
    assert [m.version for m in history] == [1, 2]
    assert "<th" in history._repr_html_()
    assert repr(ip.run_line_magic("model", "alias churn@production --rm")) == (
        "removed churn@production"
    )
    assert "production" not in ip.run_line_magic("model", "versions churn").aliases


def test_gc_and_fsck(ip, folder: Path) -> None:
    ip.run_line_magic("model", f"save churn --from {folder}")
    report = ip.run_line_magic("model", "fsck")
    assert report.ok and repr(report).startswith("OK: checked 2 blobs")
    assert "removed 0 blobs" in repr(ip.run_line_magic("model", "gc"))


def test_json_returns_plain_data(ip, folder: Path) -> None:
    ip.run_line_magic("model", f"save churn --from {folder} --param lr=0.1")
    listed = ip.run_line_magic("model", "ls --json")
    assert [m["name"] for m in listed] == ["churn"]
    shown = ip.run_line_magic("model", "show churn --json")
    assert shown["params"] == {"lr": 0.1} and len(shown["files"]) == 2
    json.dumps(shown)  # plain data


def test_help_prints_and_returns_none(ip, capsys) -> None:
    assert ip.run_line_magic("model", "-h") is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %model SUBCOMMAND")
    for word in ("save", "ls", "versions", "show", "load", "rm", "diff", "alias"):
        assert f"\n  {word} " in out
    assert ip.run_line_magic("model", "save --help") is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %model save ") and "--from PATH|URL" in out
    assert ip.run_line_magic("job", "show -h") is None
    assert capsys.readouterr().out.startswith("usage: %job show ")
    assert ip.run_line_magic("deploy", "-h") is None
    assert "%deploy REF [REF ...]" in capsys.readouterr().out


def test_max_rows_limits_what_is_shown(ip, folder: Path) -> None:
    for name in ("a", "b", "c"):
        ip.run_line_magic("model", f"save {name} --from {folder}")
    ip.run_line_magic("config", "ModelshelfMagics.max_rows = 2")
    models = ip.run_line_magic("model", "ls")
    assert len(models) == 3  # the list holds them all
    text = repr(models)
    assert "... and 1 more" in text and "\nc " not in text
    html = models._repr_html_()
    assert ">a</td>" in html and ">c</td>" not in html and "and 1 more" in html
    ip.run_line_magic("config", "ModelshelfMagics.max_rows = 0")
    assert "\nc " in repr(ip.run_line_magic("model", "ls"))


def test_config_root_changes_the_store(ip, folder: Path, tmp_path: Path) -> None:
    ip.run_line_magic("model", f"save churn --from {folder}")
    other = tmp_path / "other-store"
    ip.run_line_magic("config", f"ModelshelfMagics.root = {str(other)!r}")
    assert magics_of(ip).shelf.backend.url.endswith("other-store")
    assert list(ip.run_line_magic("model", "ls")) == []
    ip.run_line_magic("model", f"save iris --from {folder}")
    with Shelf(other) as shelf:
        assert [m.name for m in shelf.list()] == ["iris"]
    with pytest.raises(UsageError, match="no model named 'churn'"):
        ip.run_line_magic("model", "show churn")


def test_config_from_the_shells_config(folder: Path, tmp_path: Path, monkeypatch) -> None:
    # c.ModelshelfMagics.root in ipython_config.py: read when %load_ext makes the magics.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "_ipython"))
    config = Config()
    config.HistoryManager.enabled = False
    config.ModelshelfMagics.root = str(tmp_path / "configured")
    shell = TestingShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "modelshelf")
        shell.run_line_magic("model", f"save churn --from {folder}")
        assert magics_of(shell).storage_options == {}
    finally:
        magics_of(shell).close()
        TestingShell.clear_instance()
    with Shelf(tmp_path / "configured") as shelf:
        assert shelf.show("churn").ref == "churn:1"


def test_progress_bars_when_someone_watches(ip, folder: Path, monkeypatch, capsys) -> None:
    # In a test nobody watches (no TTY, no frontend): no bars, and the run stays quiet.
    ip.run_line_magic("model", f"save churn --from {folder}")
    assert capsys.readouterr().err == ""
    from modelshelf.magics import magics as module

    monkeypatch.setattr(module, "is_watched", lambda user_ns: True)
    ip.run_line_magic("model", f"save churn --from {folder}")
    assert "save" in capsys.readouterr().err  # tqdm's text bar, on stderr
    ip.run_line_magic("model", f"save churn --from {folder} --quiet")
    assert capsys.readouterr().err == ""
    ip.run_line_magic("config", "ModelshelfMagics.progress = False")
    ip.run_line_magic("model", f"load churn --to {folder.parent / 'out'}")
    assert capsys.readouterr().err == ""


def test_present_keeps_core_objects(folder: Path, store: Path) -> None:
    with Shelf(store) as shelf:
        version = shelf.save("churn", folder)
    assert results.present(version, "save", None) is version
    assert results.present("/tmp/x", "load", None) == "/tmp/x"
