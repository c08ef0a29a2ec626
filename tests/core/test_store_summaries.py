"""Listing summaries: a few shard objects instead of one key or manifest per model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from store_helpers import make_model

from modelshelf import Shelf, StorageError
from modelshelf.core.store.layout import summary_key
from modelshelf.core.store.summaries import SHARDS, shard_of


@pytest.fixture
def folder(tmp_path):
    return make_model(tmp_path / "model", {"w.bin": b"weights"})


def listed(shelf: Shelf) -> list[tuple]:
    return [(s.name, s.latest, s.versions, s.tags) for s in shelf.list()]


def test_listing_gives_newest_versions_and_their_tags(shelf, folder):
    shelf.save("a", folder, tags=["old"])
    shelf.save("a", folder, tags=["new", "prod"])
    shelf.save("b", folder)
    assert listed(shelf) == [("a", 2, 2, ("new", "prod")), ("b", 1, 1, ())]
    updated = {s.name: s.updated_at for s in shelf.list()}
    assert abs(updated["a"] - shelf.catalog.scan()["a"][2][0]) < 5  # creation vs mtime
    shelf.delete("a:2")
    assert listed(shelf) == [("a", 1, 1, ("old",)), ("b", 1, 1, ())]
    shelf.delete("b:1")
    assert listed(shelf) == [("a", 1, 1, ("old",))]
    assert shelf.fsck().stale_summaries == 0


def test_listing_reads_no_manifest(local_shelf, folder, tmp_path):
    """Manifests made unreadable: the listing (and its tags) still answers from summaries."""
    local_shelf.save("a", folder, tags=["x"])
    manifest = tmp_path / "store" / "models" / "a" / "1.json"
    manifest.chmod(0o644)
    manifest.write_text("not json")
    assert listed(local_shelf) == [("a", 1, 1, ("x",))]


def test_concurrent_saves_never_lose_an_entry(shelf, folder):
    """Many saves at once land in few shards: each compare-and-set retries, none is lost."""
    names = [f"m{i:02d}" for i in range(24)]
    assert len({shard_of(n) for n in names}) < len(names)  # some share a shard
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: shelf.save(n, folder, tags=[n]), names))
    assert listed(shelf) == [(n, 1, 1, (n,)) for n in names]


def test_gc_repairs_summaries_behind_the_manifests(local_shelf, folder, tmp_path):
    local_shelf.save("a", folder)
    local_shelf.save("b", folder, tags=["t"])
    # A crash between a manifest and its summary, and a summary lost altogether.
    shards = tmp_path / "store" / "summaries"
    lost = shards / f"{shard_of('b')}.json"
    lost.unlink()
    stale = shards / f"{shard_of('a')}.json"
    body = json.loads(stale.read_text())
    body["models"]["a"]["7"] = [0.0, []]
    body["models"]["ghost"] = {"1": [0.0, []]}
    assert shard_of("a") != shard_of("b")
    stale.write_text(json.dumps(body))
    assert [s.name for s in local_shelf.list()] == ["a", "ghost"]
    assert local_shelf.fsck().stale_summaries == 3
    assert local_shelf.gc(dry_run=True).repaired_summaries == 3
    assert local_shelf.gc().repaired_summaries == 3
    assert listed(local_shelf) == [("a", 1, 1, ()), ("b", 1, 1, ("t",))]
    assert local_shelf.fsck().stale_summaries == 0


def test_versions_of_other_models_made_from_a_version_are_found_once_gc_knows_parents(
    local_shelf, folder, tmp_path
):
    """Summaries written before parents were kept (two-element entries) do not name them:
    fsck counts those as behind, gc fills the parents in, and the usage finds the child."""
    from modelshelf.core.store.usage import version_usage

    base = local_shelf.save("base", folder)
    local_shelf.save("tuned", folder, parent=base.ref)

    def children() -> list[str]:
        shelf = local_shelf
        return version_usage(shelf.catalog, shelf.aliases, shelf.leases, "base", 1).children

    assert children() == ["tuned:1"]
    shard = tmp_path / "store" / "summaries" / f"{shard_of('tuned')}.json"
    body = json.loads(shard.read_text())
    assert body["models"]["tuned"]["1"][2] == "base:1"
    body["models"]["tuned"]["1"] = body["models"]["tuned"]["1"][:2]  # as older versions wrote
    shard.write_text(json.dumps(body))
    assert children() == [] and listed(local_shelf)[1] == ("tuned", 1, 1, ())
    assert local_shelf.fsck().stale_summaries == 1
    assert local_shelf.gc().repaired_summaries == 1
    assert children() == ["tuned:1"] and local_shelf.fsck().stale_summaries == 0


def test_summaries_live_in_a_fixed_number_of_shards(local_shelf, folder, tmp_path):
    for i in range(40):
        local_shelf.save(f"model {i}", folder)
    files = {p.name for p in (tmp_path / "store" / "summaries").iterdir()}
    assert files <= {summary_key(f"{i:02d}").split("/")[1] for i in range(SHARDS)}
    assert len(local_shelf.list()) == 40


def test_a_damaged_shard_is_named_saves_still_succeed_and_gc_rewrites_it(
    local_shelf, folder, tmp_path
):
    local_shelf.save("a", folder)
    shard = tmp_path / "store" / "summaries" / f"{shard_of('a')}.json"
    shard.write_text("{truncated")
    with pytest.raises(StorageError, match=r"is damaged .*`modelshelf gc` rebuilds it"):
        local_shelf.list()
    assert local_shelf.save("a", folder).version == 2  # the version is made all the same
    assert local_shelf.fsck().stale_summaries == 2
    local_shelf.gc()
    assert listed(local_shelf) == [("a", 2, 2, ())]
