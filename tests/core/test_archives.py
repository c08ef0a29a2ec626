"""Safe extraction: a corpus of malicious archives is refused, good archives extract fully."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
from archive_helpers import make_tar

from modelshelf.core.errors import SizeLimitError, SourceError, UnsafeArchiveError
from modelshelf.core.sources import open_source
from modelshelf.core.sources.archives import (
    DEFAULT_EXTRACT_LIMIT,
    archive_kind,
    extract_archive,
    temporary_folder,
)

MB = 1 << 20


# -- building archives -------------------------------------------------------------------------


def make_zip(path: Path, entries: list[tuple[str, str, bytes | str]]) -> Path:
    """Entries are (name, kind, payload): kind is file, exe, dir, sym or chr."""
    modes = {
        "file": stat.S_IFREG | 0o644,
        "exe": stat.S_IFREG | 0o755,
        "dir": stat.S_IFDIR | 0o755,
        "sym": stat.S_IFLNK | 0o777,
        "chr": stat.S_IFCHR | 0o600,
        "plain": 0,  # no unix mode, as zips made on Windows
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, kind, payload in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = modes[kind] << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, payload)
    return path


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def area(tmp_path, monkeypatch):
    """An input folder, a private MODELSHELF_TMP_DIR and a tempting 'outside' folder."""
    (tmp_path / "in").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("do not touch")
    monkeypatch.setenv("MODELSHELF_TMP_DIR", str(tmp_path / "tmp"))
    return tmp_path


def refuse(area: Path, archive: Path, error: type[Exception], max_size: int = 0) -> str:
    """Open ``archive`` as a source, expect ``error``, check nothing was written anywhere."""
    before = snapshot(area)
    with pytest.raises(error) as caught, open_source(str(archive), max_size=max_size):
        pytest.fail("the archive should have been refused")
    after = snapshot(area)
    # Only the (now empty) MODELSHELF_TMP_DIR may have appeared.
    assert after - before <= {"tmp"}
    assert os.listdir(area / "tmp") == []
    assert (area / "outside" / "secret.txt").read_text() == "do not touch"
    assert sorted(os.listdir(area / "outside")) == ["secret.txt"]
    return str(caught.value)


# -- malicious tar -----------------------------------------------------------------------------


def test_tar_zip_slip_refused(area):
    archive = make_tar(
        area / "in" / "slip.tar", [("ok.txt", "file", "x"), ("../evil.txt", "file", "e")]
    )
    message = refuse(area, archive, UnsafeArchiveError)
    assert "../evil.txt" in message and "slip.tar" in message and ".." in message
    assert not (area / "evil.txt").exists() and not (area / "in" / "evil.txt").exists()


def test_tar_absolute_path_refused(area):
    target = area / "outside" / "abs.txt"
    archive = make_tar(area / "in" / "abs.tar.gz", [(str(target), "file", "e")], mode="w:gz")
    message = refuse(area, archive, UnsafeArchiveError)
    assert "absolute path" in message
    assert not target.exists()


def test_tar_symlink_escape_refused(area):
    archive = make_tar(
        area / "in" / "sym.tar",
        [("link", "sym", "../../outside"), ("data.txt", "file", "x")],
    )
    assert "outside" in refuse(area, archive, UnsafeArchiveError)


def test_tar_symlink_chain_escape_refused(area):
    # Each link looks harmless on its own; together l leads to the parent of the folder.
    archive = make_tar(area / "in" / "chain.tar", [("x", "sym", "."), ("l", "sym", "x/..")])
    message = refuse(area, archive, UnsafeArchiveError)
    assert "'l'" in message


def test_tar_write_through_symlink_refused(area):
    archive = make_tar(
        area / "in" / "through.tar",
        [("sub", "dir", ""), ("d", "sym", "sub"), ("d/evil.txt", "file", "e")],
    )
    assert "beneath the symbolic link" in refuse(area, archive, UnsafeArchiveError)


def test_tar_hardlink_escape_refused(area):
    archive = make_tar(area / "in" / "hard.tar", [("grab", "lnk", "../outside/secret.txt")])
    refuse(area, archive, UnsafeArchiveError)


def test_tar_hardlink_to_symlink_refused(area):
    archive = make_tar(
        area / "in" / "hardsym.tar",
        [("a/s", "sym", "../b.txt"), ("b.txt", "file", "b"), ("h", "lnk", "a/s")],
    )
    assert "hard link to the symbolic link" in refuse(area, archive, UnsafeArchiveError)


@pytest.mark.parametrize("kind", ["chr", "fifo"])
def test_tar_device_and_fifo_refused(area, kind):
    archive = make_tar(area / "in" / f"{kind}.tar", [("dev", kind, "")])
    assert "device" in refuse(area, archive, UnsafeArchiveError)


def test_tar_size_bomb_refused(area):
    archive = make_tar(area / "in" / "bomb.tar.gz", [("zeros", "file", bytes(10 * MB))], "w:gz")
    assert archive.stat().st_size < MB // 10  # the compressed file is tiny
    message = refuse(area, archive, SizeLimitError, max_size=MB)
    assert "10,485,760" in message


def test_tar_refused_before_writing_anything(tmp_path):
    # A good member first, then a bad one: the folder must never have been touched.
    archive = make_tar(tmp_path / "mixed.tar", [("ok.txt", "file", "ok"), ("../bad", "file", "b")])
    dest = tmp_path / "dest"
    dest.mkdir()
    time.sleep(0.05)  # so that any write would move the folder's mtime past the coarse clock
    mtime = dest.stat().st_mtime_ns
    with pytest.raises(UnsafeArchiveError):
        extract_archive(str(archive), str(dest))
    assert dest.stat().st_mtime_ns == mtime
    assert os.listdir(dest) == []


# -- malicious zip -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "a/../../evil.txt", "..\\evil.txt", "/abs/evil.txt", "C:/evil.txt", "C:\\e"],
)
def test_zip_bad_names_refused(area, name):
    archive = make_zip(area / "in" / "slip.zip", [("ok.txt", "file", "x"), (name, "file", "e")])
    message = refuse(area, archive, UnsafeArchiveError)
    assert repr(name) in message and "slip.zip" in message
    assert not (area / "evil.txt").exists() and not (area / "in" / "evil.txt").exists()


def test_zip_symlink_escape_refused(area):
    archive = make_zip(
        area / "in" / "sym.zip",
        [("link", "sym", "../../outside/secret.txt"), ("ok.txt", "file", "x")],
    )
    assert "outside" in refuse(area, archive, UnsafeArchiveError)


def test_zip_absolute_symlink_refused(area):
    archive = make_zip(area / "in" / "abs.zip", [("link", "sym", "/etc/passwd")])
    assert "absolute" in refuse(area, archive, UnsafeArchiveError)


def test_zip_write_through_symlink_refused(area):
    archive = make_zip(
        area / "in" / "through.zip", [("d", "sym", "sub"), ("d/evil.txt", "file", "e")]
    )
    assert "beneath the symbolic link" in refuse(area, archive, UnsafeArchiveError)


def test_zip_device_refused(area):
    archive = make_zip(area / "in" / "dev.zip", [("dev", "chr", "")])
    assert "device" in refuse(area, archive, UnsafeArchiveError)


def test_zip_duplicate_entry_refused(area):
    archive = area / "in" / "dup.zip"
    with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("a.txt", "one")
        zf.writestr("a.txt", "two")
    assert "twice" in refuse(area, archive, UnsafeArchiveError)


def test_zip_size_bomb_refused(area):
    archive = make_zip(area / "in" / "bomb.zip", [("zeros", "file", bytes(10 * MB))])
    assert archive.stat().st_size < MB // 10
    assert "over the limit" in refuse(area, archive, SizeLimitError, max_size=MB)


def _patch_zip(path: Path, local_offset: int, central_offset: int, value: bytes) -> None:
    """Overwrite a field in every local and central header of a zip."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = data.find(signature)
        while start != -1:
            data[start + offset : start + offset + len(value)] = value
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_zip_lying_header_refused(area):
    # The headers declare 10 bytes, the entry inflates to 1 MB.
    archive = make_zip(area / "in" / "liar.zip", [("zeros", "file", bytes(MB))])
    _patch_zip(archive, 22, 24, (10).to_bytes(4, "little"))
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 10
    message = refuse(area, archive, UnsafeArchiveError, max_size=100)
    assert "zeros" in message and "header" in message


def test_zip_encrypted_refused(area):
    archive = make_zip(area / "in" / "secret.zip", [("a.txt", "file", "x")])
    _patch_zip(archive, 6, 8, b"\x01")  # general purpose flag bit 0: encrypted
    message = refuse(area, archive, SourceError)
    assert "encrypted" in message


def test_zip_refused_before_writing_anything(tmp_path):
    archive = make_zip(tmp_path / "mixed.zip", [("ok.txt", "file", "ok"), ("../bad", "file", "b")])
    dest = tmp_path / "dest"
    dest.mkdir()
    time.sleep(0.05)
    mtime = dest.stat().st_mtime_ns
    with pytest.raises(UnsafeArchiveError):
        extract_archive(str(archive), str(dest))
    assert dest.stat().st_mtime_ns == mtime


def test_not_an_archive_is_a_source_error(area):
    fake = area / "in" / "fake.zip"
    fake.write_text("not a zip")
    assert "not a readable zip" in refuse(area, fake, SourceError)
    broken = area / "in" / "broken.tar.gz"
    broken.write_bytes(gzip.compress(b"not a tar at all"))
    refuse(area, broken, SourceError)


# -- good archives -----------------------------------------------------------------------------

GOOD = [
    ("README.md", "file", "# model"),
    ("weights", "dir", ""),
    ("weights/layer.bin", "file", b"\x00\x01\x02" * 100),
    ("weights/deep/more.txt", "file", "more"),
]
EXPECTED = {
    "README.md": b"# model",
    "weights/layer.bin": b"\x00\x01\x02" * 100,
    "weights/deep/more.txt": b"more",
}


def read_tree(tree) -> dict[str, bytes]:
    out = {}
    for item in tree.files:
        with item.open() as handle:
            out[item.relpath] = handle.read()
    return out


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("model.tar", "w"),
        ("model.tar.gz", "w:gz"),
        ("model.tgz", "w:gz"),
        ("model.tar.bz2", "w:bz2"),
        ("model.tbz2", "w:bz2"),
        ("model.bz2", "w:bz2"),  # a tar behind a bare .bz2
        ("model.tar.xz", "w:xz"),
    ],
)
def test_good_tar_archives(area, name, mode):
    archive = make_tar(area / "in" / name, GOOD, mode)
    with open_source(str(archive)) as tree:
        assert tree.description == str(archive)
        assert read_tree(tree) == EXPECTED
        assert all(f.local_path.startswith(str(area / "tmp")) for f in tree.files)
    assert os.listdir(area / "tmp") == []


def test_good_zip_archive(area):
    entries = [
        *GOOD,
        ("bin/run.sh", "exe", "#!/bin/sh\n"),
        ("win\\style.txt", "file", "w"),
        ("winfolder\\", "plain", ""),
        ("winfolder\\f.txt", "plain", "f"),
    ]
    archive = make_zip(area / "in" / "model.zip", entries)
    with open_source(str(archive)) as tree:
        files = {f.relpath: f for f in tree.files}
        assert read_tree(tree) == {
            **EXPECTED,
            "bin/run.sh": b"#!/bin/sh\n",
            "win/style.txt": b"w",  # backslashes are separators in zips made on Windows
            "winfolder/f.txt": b"f",
        }
        assert files["bin/run.sh"].mode & 0o100
        assert not files["README.md"].mode & 0o100


def test_internal_symlinks_are_kept(area):
    # Internal links are created as links; the tree follows links to files.
    tar = make_tar(
        area / "in" / "links.tar", [("real.txt", "file", "r"), ("l.txt", "sym", "real.txt")]
    )
    zipped = make_zip(
        area / "in" / "links.zip", [("real.txt", "file", "r"), ("l.txt", "sym", "real.txt")]
    )
    for archive in (tar, zipped):
        with open_source(str(archive)) as tree:
            assert read_tree(tree) == {"l.txt": b"r", "real.txt": b"r"}
            link = next(f for f in tree.files if f.relpath == "l.txt")
            assert os.path.islink(link.local_path)


@pytest.mark.parametrize(
    ("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_single_compressed_file(area, suffix, compress):
    archive = area / "in" / f"weights.bin{suffix}"
    archive.write_bytes(compress(b"w" * 5000))
    with open_source(str(archive)) as tree:
        assert read_tree(tree) == {"weights.bin": b"w" * 5000}


def test_single_compressed_bomb_stops_at_limit(area):
    archive = area / "in" / "zeros.gz"
    archive.write_bytes(gzip.compress(bytes(10 * MB)))
    refuse(area, archive, SizeLimitError, max_size=MB)


def test_extract_archive_directly(tmp_path):
    archive = make_zip(tmp_path / "m.zip", GOOD)
    dest = tmp_path / "out"
    extract_archive(str(archive), str(dest), limit=MB)
    assert snapshot(dest) == {
        "README.md",
        "weights",
        "weights/layer.bin",
        "weights/deep",
        "weights/deep/more.txt",
    }
    with pytest.raises(ValueError, match="empty"):
        extract_archive(str(archive), str(dest))


def test_archive_kind_and_default_limit():
    assert archive_kind("a.ZIP") == "zip"
    assert archive_kind("a.tar.gz") == archive_kind("a.tbz2") == "tar"
    assert archive_kind("a.bin.gz") == "compressed"
    assert archive_kind("a.bin") is None
    assert DEFAULT_EXTRACT_LIMIT == 50 * 10**9


def test_temporary_folder_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHELF_TMP_DIR", str(tmp_path / "t"))
    with temporary_folder() as folder:
        assert Path(folder).parent == tmp_path / "t"
        (Path(folder) / "ro").mkdir()
        (Path(folder) / "ro" / "f").write_text("x")
        os.chmod(Path(folder) / "ro", 0o500)  # a read-only folder does not block clean-up
    assert not os.path.exists(folder)
