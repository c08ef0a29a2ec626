"""Many processes at once, a save killed half way, and damaged blobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from store_helpers import blob_path, make_model, tree

from modelshelf import IntegrityError, Shelf

SAVER = textwrap.dedent(
    """
    import json, sys
    from modelshelf import Shelf
    root, options, source, go = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    import os, time
    while not os.path.exists(go):
        time.sleep(0.005)
    shelf = Shelf(root, storage_options=options or None)
    v = shelf.save("shared", source, params={"pid": os.getpid()})
    print(v.version)
    """
)


def _run_savers(root: str, options: dict, sources: list, tmp_path) -> list[int]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, root, json.dumps(options), str(src), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in sources
    ]
    time.sleep(0.5)  # let every interpreter start, then release them together
    go.touch()
    versions = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        versions.append(int(out.strip()))
    return versions


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_eight_processes_saving_one_name_get_eight_versions(backend, tmp_path, request):
    if backend == "local":
        root, options = str(tmp_path / "store"), {}
    else:
        bucket, options, _ = request.getfixturevalue("s3_bucket")
        options = {k: v for k, v in options.items() if k != "client_kwargs"}
        root = f"s3://{bucket}/root"
    sources = [
        make_model(tmp_path / f"src{i}", {"model.txt": f"model {i}", "common.bin": b"x" * 4096})
        for i in range(8)
    ]
    versions = _run_savers(root, options, sources, tmp_path)
    assert sorted(versions) == list(range(1, 9))
    shelf = Shelf(root, storage_options=options or None)
    saved = shelf.versions("shared")
    assert [v.version for v in saved] == list(range(1, 9))
    # Each version holds exactly what its own process saved: nothing lost or overwritten.
    contents = set()
    for v in saved:
        with shelf.open(v.ref, "model.txt") as fh:
            contents.add(fh.read())
    assert contents == {f"model {i}".encode() for i in range(8)}
    assert shelf.fsck().ok


KILLABLE = textwrap.dedent(
    """
    import sys, time, pathlib
    from modelshelf import Shelf
    root, source, marker = sys.argv[1:4]
    def progress(p):
        if p.done_bytes > 0:
            pathlib.Path(marker).touch()
            time.sleep(60)  # stay half way until killed
    Shelf(root, workers=1).save("victim", source, progress=progress)
    """
)


def test_save_killed_half_way_leaves_nothing_and_can_rerun(tmp_path):
    root = tmp_path / "store"
    source = make_model(tmp_path / "src", {f"part{i}.bin": os.urandom(5 * 2**20) for i in range(4)})
    marker = tmp_path / "halfway"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(root), str(source), str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the save ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    shelf = Shelf(root)
    assert shelf.list() == []
    assert shelf.fsck().ok
    # The dead save's lock does not block gc: its process is gone.
    shelf.gc()
    v = shelf.save("victim", source)
    assert v.version == 1 and v.file_count == 4
    shelf.load("victim", tmp_path / "out")
    assert tree(tmp_path / "out") == tree(source)


def _flip_byte(path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_byte_is_found_by_fsck_and_refused_by_load(local_shelf, tmp_path):
    source = make_model(tmp_path / "src", {"a.bin": os.urandom(100_000), "b.txt": "fine"})
    v = local_shelf.save("m", source)
    local_shelf.save("other", source)
    damaged = v.file("a.bin").digest
    _flip_byte(blob_path(tmp_path / "store", damaged))

    report = local_shelf.fsck()
    assert not report.ok
    assert report.damaged == {damaged: ["m:1", "other:1"]}

    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError, match="damaged"):
        local_shelf.load("m", dest)
    # Nothing half-written: not the damaged file, not even the good one.
    assert tree(dest) == {}
    with pytest.raises(IntegrityError), local_shelf.open("m", "a.bin") as fh:
        fh.read()


def test_missing_blob_is_reported(local_shelf, tmp_path):
    source = make_model(tmp_path / "src", {"a.bin": b"abc"})
    v = local_shelf.save("m", source)
    blob_path(tmp_path / "store", v.files[0].digest).unlink()
    report = local_shelf.fsck()
    assert report.missing == {v.files[0].digest: ["m:1"]}
    with pytest.raises(IntegrityError, match="missing"):
        local_shelf.load("m", tmp_path / "dest")


def test_stored_files_are_read_only_on_disk(local_shelf, tmp_path):
    v = local_shelf.save("m", make_model(tmp_path / "src", {"a.txt": "x"}))
    blob = blob_path(tmp_path / "store", v.files[0].digest)
    manifest = tmp_path / "store" / "models" / "m" / "1.json"
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0
    assert oct(blob.stat().st_mode & 0o777) == "0o444"
    assert oct(manifest.stat().st_mode & 0o777) == "0o444"


def test_gc_waits_for_a_live_save_lock(local_shelf):
    local_shelf.lock_wait = 0.3
    local_shelf.locks.wait = 0.3
    with local_shelf.locks.shared("save x"):
        from modelshelf import StoreBusyError

        with pytest.raises(StoreBusyError, match="save x"):
            local_shelf.gc()
    local_shelf.gc()


def test_resave_unchanged_folder_reads_no_file(local_shelf, tmp_path, monkeypatch):
    source = make_model(tmp_path / "src", {f"f{i}.bin": os.urandom(1000) for i in range(20)})
    # Files changed within the racy margin of their hashing are hashed again; shrink it.
    monkeypatch.setattr("modelshelf.core.store.statcache._RACY_MARGIN_NS", 50_000_000)
    time.sleep(0.1)
    local_shelf.save("m", source)
    (source / "f0.bin").write_bytes(b"changed")
    opened = []
    real_open, real_os_open = open, os.open

    def spy(real):
        def spying(path, *args, **kwargs):
            if str(path).startswith(str(source)):
                opened.append(os.path.basename(path))
            return real(path, *args, **kwargs)

        return spying

    with monkeypatch.context() as patch:
        patch.setattr("builtins.open", spy(real_open))
        patch.setattr("os.open", spy(real_os_open))
        v2 = local_shelf.save("m", source)
    assert opened == ["f0.bin"]
    assert local_shelf.diff("m:1", v2.ref).changed == ["f0.bin"]


def test_unique_names_do_not_collide(local_shelf, tmp_path):
    src = make_model(tmp_path / "src", {"a": "1"})
    names = [f"m-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:
        local_shelf.save(name, src)
    assert [s.name for s in local_shelf.list()] == sorted(names)
