"""BLAKE3 for new stores, sha256 stores kept as they are; copying files in and out."""

from __future__ import annotations

import hashlib
import json
import os

import blake3
import pytest
from store_helpers import blob_path, make_model, tree

from modelshelf import IntegrityError, InvalidNameError, Shelf, StorageError
from modelshelf.core.store.layout import STORE_FORMAT

# Sizes around the copy step and the small-file limit: the windowed hashing of large files
# must cover every byte exactly once, whatever the file's length.
SIZES = [0, 1, 2**20, 2**20 + 1, 3 * 2**20 + 4097, 32 * 2**20 + 5]


def digest_of(algorithm: str, data: bytes) -> str:
    hasher = blake3.blake3() if algorithm == "blake3" else hashlib.sha256()
    hasher.update(data)
    return hasher.hexdigest()


@pytest.fixture
def big_model(tmp_path):
    files = {f"f{size}.bin": os.urandom(size) for size in SIZES}
    return make_model(tmp_path / "model", files), files


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_every_file_is_keyed_by_the_stores_digest(tmp_path, big_model, algorithm):
    folder, files = big_model
    shelf = Shelf(tmp_path / "store", new_store_digest=algorithm)
    version = shelf.save("m", folder)
    for entry in version.files:
        expected = digest_of(algorithm, files[entry.path])
        assert (entry.algorithm, entry.digest, entry.size) == (
            algorithm,
            expected,
            len(files[entry.path]),
        )
        assert blob_path(tmp_path / "store", expected).read_bytes() == files[entry.path]
    stored = json.loads((tmp_path / "store" / "store.json").read_text())
    assert stored == {"format": 2, "digest": algorithm, "summaries": True}
    # The manifest names each digest by its algorithm; nothing else is recorded per file.
    manifest = json.loads((tmp_path / "store" / "models" / "m" / "1.json").read_text())
    assert {tuple(sorted(f)) for f in manifest["files"]} == {
        tuple(sorted(("path", "size", algorithm, "mode")))
    }
    assert tree(shelf.load("m", tmp_path / "out")) == files
    assert shelf.fsck().ok


def test_new_store_uses_blake3_by_default(tmp_path):
    folder = make_model(tmp_path / "model", {"w.bin": b"weights"})
    version = Shelf(tmp_path / "store").save("m", folder)
    assert version.files[0].algorithm == "blake3"
    assert (tmp_path / "store" / "blobs" / "blake3").is_dir()
    assert not (tmp_path / "store" / "blobs" / "sha256").exists()


def test_a_store_keeps_its_digest_whatever_the_setting(tmp_path):
    folder = make_model(tmp_path / "model", {"w.bin": b"weights"})
    Shelf(tmp_path / "store", new_store_digest="sha256").save("m", folder)
    again = Shelf(tmp_path / "store", new_store_digest="blake3")
    (folder / "w.bin").write_bytes(b"weights 2")
    assert again.save("m", folder).files[0].algorithm == "sha256"
    assert again.blobs.algorithm == "sha256"


def test_store_made_before_store_json_stays_sha256(tmp_path):
    """A store older than store.json: sha256 blobs, manifests as before, no new files."""
    root = tmp_path / "store"
    folder = make_model(tmp_path / "model", {"w.bin": b"weights v1", "c.json": "{}"})
    Shelf(root, new_store_digest="sha256").save("m", folder)
    (root / "store.json").unlink()
    for shard in (root / "summaries").iterdir():
        shard.unlink()
    (root / "summaries").rmdir()

    old = Shelf(root)  # the default for new stores is blake3; this one is not new
    assert (old.blobs.algorithm, old.catalog.summaries) == ("sha256", None)
    (folder / "w.bin").write_bytes(b"weights v2")
    v2 = old.save("m", folder, tags=["t"])
    assert {f.algorithm for f in v2.files} == {"sha256"}
    assert not (root / "store.json").exists() and not (root / "summaries").exists()
    raw = json.loads((root / "models" / "m" / "2.json").read_text())
    assert all(set(f) == {"path", "size", "sha256", "mode"} for f in raw["files"])
    # Dedup: the unchanged file shares its blob with version 1.
    assert len(old.blobs.list()) == 3
    assert [(s.name, s.latest, s.versions, s.tags) for s in old.list()] == [("m", 2, 2, None)]
    assert tree(old.load("m:1", tmp_path / "v1")) == {"w.bin": b"weights v1", "c.json": b"{}"}
    assert old.fsck().ok
    old.delete("m:1")
    assert old.gc().removed_blobs == 1
    assert old.fsck().ok and tree(old.load("m", tmp_path / "v2"))["w.bin"] == b"weights v2"


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_damaged_large_blob_is_refused_on_load_and_found_by_fsck(tmp_path, algorithm):
    data = os.urandom(3 * 2**20 + 11)
    folder = make_model(tmp_path / "model", {"big.bin": data})
    shelf = Shelf(tmp_path / "store", new_store_digest=algorithm)
    version = shelf.save("m", folder)
    blob = blob_path(tmp_path / "store", version.files[0].digest)
    blob.chmod(0o644)
    damaged = bytearray(data)
    damaged[2**20 + 7] ^= 0xFF  # past the first copy-and-hash step's first megabyte
    blob.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match=f"no longer match their {algorithm}"):
        shelf.load("m", tmp_path / "out")
    assert not (tmp_path / "out" / "big.bin").exists()
    with pytest.raises(IntegrityError, match=algorithm), shelf.open("m", "big.bin") as fh:
        fh.read()
    assert list(shelf.fsck().damaged) == [version.files[0].digest]


def test_manifest_of_another_digest_is_refused_on_load_and_open(tmp_path):
    folder = make_model(tmp_path / "model", {"w.bin": b"weights"})
    shelf = Shelf(tmp_path / "store")
    shelf.save("m", folder)
    path = tmp_path / "store" / "models" / "m" / "1.json"
    body = json.loads(path.read_text())
    for entry in body["files"]:
        entry["sha256"] = entry.pop("blake3")
    path.chmod(0o644)
    path.write_text(json.dumps(body))
    with pytest.raises(IntegrityError, match="recorded with a sha256 digest but this store"):
        shelf.load("m", tmp_path / "out")
    with pytest.raises(IntegrityError, match="recorded with a sha256 digest but this store"):
        shelf.open("m", "w.bin")


def test_store_json_from_a_newer_modelshelf_is_a_clear_error(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    (root / "store.json").write_text('{"format": 9, "digest": "blake9"}')
    with pytest.raises(StorageError, match="newer modelshelf"):
        Shelf(root).list()
    (root / "store.json").write_text("{not json")
    with pytest.raises(StorageError, match="damaged"):
        Shelf(root).list()


def test_dataset_fingerprint_names_the_file_digest(tmp_path):
    data = make_model(tmp_path / "data", {"train.csv": "x\n1\n"})
    new = Shelf(tmp_path / "new").fingerprint(str(data))
    old = Shelf(tmp_path / "old", new_store_digest="sha256").fingerprint(str(data))
    assert new["file_digest"] == "blake3" and "file_digest" not in old
    assert len(new["sha256"]) == len(old["sha256"]) == 64 and new["sha256"] != old["sha256"]


def test_load_refuses_a_symlinked_folder_in_the_destination(tmp_path):
    folder = make_model(tmp_path / "model", {"sub/a.bin": b"a", "sub/b.bin": b"b", "c": b"c"})
    shelf = Shelf(tmp_path / "store")
    shelf.save("m", folder)
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "sub").symlink_to(elsewhere)
    with pytest.raises(InvalidNameError, match="leads outside"):
        shelf.load("m", dest)
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in dest.iterdir()) == ["sub"]


def test_a_shelf_opened_on_an_empty_store_follows_the_first_save_elsewhere(tmp_path):
    early = Shelf(tmp_path / "store")  # the default: blake3 for a new store
    assert early.list() == []
    folder = make_model(tmp_path / "model", {"w.bin": b"weights"})
    Shelf(tmp_path / "store", new_store_digest="sha256").save("m", folder)
    assert early.blobs.algorithm == "sha256"
    assert tree(early.load("m", tmp_path / "out")) == {"w.bin": b"weights"}


def test_large_file_round_trip_on_every_backend(shelf, tmp_path):
    """Over 8 MiB an object store's blob streams through a temporary object first."""
    data = os.urandom(9 * 2**20 + 1)
    version = shelf.save("big", make_model(tmp_path / "model", {"w.bin": data}))
    assert version.files[0].digest == digest_of("blake3", data)
    assert tree(shelf.load("big", tmp_path / "out")) == {"w.bin": data}
    with shelf.open("big", "w.bin") as fh:
        assert fh.read() == data
    assert shelf.fsck().ok


def test_a_first_save_elsewhere_between_reading_and_listing_is_no_older_store(tmp_path):
    """The race eight processes saving into one new S3 store met: one missed store.json, then
    listed the blobs another had saved meanwhile, and took the store for a sha256 one."""
    root = tmp_path / "store"
    folder = make_model(tmp_path / "model", {"w.bin": b"weights"})
    late = Shelf(root)
    backend, read = late.backend, late.backend.read_bytes

    def read_then_the_other_saves(key: str) -> bytes:
        if key == STORE_FORMAT and not (root / STORE_FORMAT).exists():
            Shelf(root).save("m", folder)  # another process's first save, in between
            raise FileNotFoundError(key)  # what this process read before it
        return read(key)

    backend.read_bytes = read_then_the_other_saves  # type: ignore[method-assign]
    assert late.blobs.algorithm == "blake3"
    (folder / "w.bin").write_bytes(b"weights 2")
    assert {f.algorithm for f in late.save("m", folder).files} == {"blake3"}
    assert tree(Shelf(root).load("m:2", tmp_path / "out")) == {"w.bin": b"weights 2"}
    assert Shelf(root).fsck().ok
