"""Behaviour every backend must share (memory://, a local folder, s3:// on a moto server)."""

from __future__ import annotations

import pytest
from store_helpers import make_model, tree

from modelshelf import (
    InvalidNameError,
    ModelInUseError,
    ModelNotFoundError,
    Shelf,
    SizeLimitError,
    SourceError,
)
from modelshelf.core.store.usage import version_usage


@pytest.fixture(params=["blake3", "sha256"])
def shelf(request, shelf):
    """Each backend twice: a new store (BLAKE3) and one keyed by sha256 like older stores."""
    if request.param == shelf.new_store_digest:
        return shelf
    return Shelf(shelf.root, storage_options=shelf.storage_options, new_store_digest=request.param)


@pytest.fixture
def model_dir(tmp_path):
    return make_model(
        tmp_path / "model",
        {"weights.bin": b"\x00\x01" * 5000, "config.json": '{"C": 1}', "sub/vocab.txt": "a\nb\n"},
    )


def test_save_creates_version_one_with_metadata(shelf, model_dir):
    v = shelf.save(
        "churn",
        model_dir,
        params={"C": 1.0},
        metrics={"auc": 0.91},
        tags=["baseline"],
        message="first try",
        dataset={"ref": "s3://data/train.csv", "sha256": "ab" * 32},
    )
    assert (v.name, v.version, v.ref) == ("churn", 1, "churn:1")
    assert v.file_count == 3 and v.size == 10000 + 8 + 4
    assert sorted(f.path for f in v.files) == ["config.json", "sub/vocab.txt", "weights.bin"]
    assert v.params == {"C": 1.0} and v.metrics == {"auc": 0.91} and v.tags == ("baseline",)
    assert v.source == str(model_dir)
    assert v.created_at.endswith("Z")
    assert v.environment["python"] and "fsspec" in v.environment["packages"]
    shown = shelf.show("churn")
    assert shown == v


def test_versions_count_up_and_refs_resolve(shelf, model_dir):
    first = shelf.save("m", model_dir)
    (model_dir / "config.json").write_text('{"C": 2}')
    second = shelf.save("m", model_dir, parent="m:1")
    assert [v.version for v in shelf.versions("m")] == [1, 2]
    assert shelf.show("m").version == 2
    assert shelf.show("m:1") == first
    assert second.parent == "m:1"
    assert [(s.name, s.latest, s.versions) for s in shelf.list()] == [("m", 2, 2)]


def test_identical_content_shares_blobs(shelf, model_dir):
    shelf.save("a", model_dir)
    before = shelf.blobs.list()
    shelf.save("b", model_dir)
    shelf.save("a", model_dir)
    assert shelf.blobs.list().keys() == before.keys()


def test_load_copies_verified_files_and_copy_is_independent(shelf, model_dir, tmp_path):
    shelf.save("m", model_dir)
    dest = tmp_path / "loaded"
    assert shelf.load("m:1", dest) == str(dest)
    assert tree(dest) == tree(model_dir)
    (dest / "weights.bin").write_bytes(b"changed by the job")
    again = shelf.load("m:1", tmp_path / "again")
    assert tree(tmp_path / "again") == tree(model_dir), again


def test_load_defaults_to_ml_model_path(shelf, model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ML_MODEL_PATH", str(tmp_path / "ml"))
    shelf.save("m", model_dir)
    shelf.load("m")
    assert tree(tmp_path / "ml") == tree(model_dir)


def test_open_reads_one_file(shelf, model_dir):
    shelf.save("m", model_dir)
    with shelf.open("m", "sub/vocab.txt") as fh:
        assert fh.read() == b"a\nb\n"
    with pytest.raises(ModelNotFoundError, match="no file"):
        shelf.open("m", "nope.txt")
    with pytest.raises(InvalidNameError):
        shelf.open("m", "../etc/passwd")


def test_diff_lists_files_and_params(shelf, model_dir):
    shelf.save("m", model_dir, params={"C": 1}, metrics={"auc": 0.8})
    (model_dir / "config.json").write_text('{"C": 2}')
    (model_dir / "sub" / "vocab.txt").unlink()
    (model_dir / "new.txt").write_text("new")
    shelf.save("m", model_dir, params={"C": 2}, metrics={"auc": 0.9, "f1": 0.7})
    d = shelf.diff("m:1", "m:2")
    assert (d.added, d.removed, d.changed) == (["new.txt"], ["sub/vocab.txt"], ["config.json"])
    assert d.params == {"C": (1, 2)}
    assert d.metrics == {"auc": (0.8, 0.9), "f1": (None, 0.7)}


def test_aliases_move_with_history(shelf, model_dir):
    shelf.save("m", model_dir)
    shelf.save("m", model_dir)
    shelf.set_alias("m", "production", 1)
    assert shelf.show("m@production").version == 1
    shelf.set_alias("m", "production", 2)
    assert shelf.show("m@production").version == 2
    shelf.remove_alias("m", "production")
    history = shelf.alias_history("m", "production")
    assert [h.version for h in history] == [1, 2, None]
    with pytest.raises(ModelNotFoundError, match="no alias"):
        shelf.show("m@production")
    with pytest.raises(ModelNotFoundError):
        shelf.set_alias("m", "staging", 7)


def test_delete_refused_while_leased_then_allowed(shelf, model_dir):
    shelf.save("m", model_dir)
    lease = shelf.lease("m:1", owner="job 42")
    with pytest.raises(ModelInUseError, match="job 42"):
        shelf.delete("m:1")
    shelf.leases.release(lease)
    shelf.delete("m:1")
    with pytest.raises(ModelNotFoundError):
        shelf.show("m:1")
    # The number is never reused: the next save is version 2.
    assert shelf.save("m", model_dir).version == 2


def test_expired_lease_does_not_block(shelf, model_dir):
    shelf.save("m", model_dir)
    shelf.lease("m:1", owner="crashed job", ttl=-1)
    shelf.delete("m:1")


def test_usage_names_aliases_live_holders_and_children(shelf, model_dir):
    first = shelf.save("m", model_dir)
    shelf.save("m", model_dir, parent=first.ref)
    tuned = shelf.save("Job - tune", model_dir, parent=first.ref)  # another model made from it
    shelf.set_alias("m", "production", 1)
    held = shelf.lease("m:1", owner="deployment api")
    shelf.lease("m:1", owner="job gone (x)", ttl=-1)  # expired: uses it no more
    usage = version_usage(shelf.catalog, shelf.aliases, shelf.leases, "m", 1)
    assert usage.ref == "m:1" and usage.aliases == ["production"]
    assert [(h.kind, h.owner) for h in usage.holders] == [("deployment", "deployment api")]
    assert usage.children == ["Job - tune:1", "m:2"]
    shelf.delete(tuned.ref)
    assert version_usage(shelf.catalog, shelf.aliases, shelf.leases, "m", 1).children == ["m:2"]
    shelf.leases.release(held)
    assert version_usage(shelf.catalog, shelf.aliases, shelf.leases, "m", 1).holders == []
    with pytest.raises(ModelNotFoundError):
        version_usage(shelf.catalog, shelf.aliases, shelf.leases, "m", 3)


def test_delete_refused_while_alias_points_at_version(shelf, model_dir):
    shelf.save("m", model_dir)
    shelf.set_alias("m", "production", 1)
    with pytest.raises(ModelInUseError, match="production"):
        shelf.delete("m:1")


def test_delete_needs_an_explicit_version(shelf, model_dir):
    shelf.save("m", model_dir)
    with pytest.raises(InvalidNameError, match="m:N"):
        shelf.delete("m")


def test_gc_removes_only_unreferenced_blobs(shelf, model_dir):
    shelf.save("keep", model_dir)
    (model_dir / "extra.bin").write_bytes(b"only in doomed")
    shelf.save("doomed", model_dir)
    assert len(shelf.blobs.list()) == 4
    shelf.delete("doomed:1")
    assert shelf.gc(dry_run=True).removed_blobs == 1
    assert len(shelf.blobs.list()) == 4
    report = shelf.gc()
    assert (report.removed_blobs, report.freed_bytes) == (1, len(b"only in doomed"))
    assert len(shelf.blobs.list()) == 3
    assert shelf.fsck().ok


def test_fsck_clean_store(shelf, model_dir):
    shelf.save("m", model_dir)
    report = shelf.fsck()
    assert report.ok and report.checked_blobs == 3 and report.checked_versions == 1


def test_progress_is_reported(shelf, model_dir, tmp_path):
    events = []
    shelf.save("m", model_dir, progress=events.append)
    assert events[-1].done_bytes == events[-1].total_bytes == 10012
    assert events[-1].done_files == 3
    loads = []
    shelf.load("m", tmp_path / "out", progress=loads.append)
    assert loads[-1].done_bytes == 10012 and loads[-1].phase == "load"


def test_size_limit_checked_before_writing(shelf, model_dir):
    shelf.max_model_size = 100
    with pytest.raises(SizeLimitError, match="limit"):
        shelf.save("big", model_dir)
    assert shelf.list() == [] and shelf.blobs.list() == {}


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "x:1:2", ".hidden", "a..b", "%2e%2e", " x"])
def test_bad_names_are_refused(shelf, model_dir, bad):
    with pytest.raises(InvalidNameError):
        shelf.save(bad, model_dir)


def test_unknown_model_and_missing_source(shelf, tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model named"):
        shelf.show("ghost")
    with pytest.raises(SourceError, match="does not exist"):
        shelf.save("m", tmp_path / "nowhere")


def test_dataset_folder_is_fingerprinted(shelf, model_dir, tmp_path):
    data = make_model(tmp_path / "data", {"train.csv": "x,y\n1,2\n"})
    v1 = shelf.save("m", model_dir, dataset=str(data))
    v2 = shelf.save("m", model_dir, dataset=str(data))
    (data / "train.csv").write_text("x,y\n1,3\n")
    v3 = shelf.save("m", model_dir, dataset=str(data))
    assert v1.dataset["ref"] == str(data) and len(v1.dataset["sha256"]) == 64
    assert v1.dataset["sha256"] == v2.dataset["sha256"] != v3.dataset["sha256"]
