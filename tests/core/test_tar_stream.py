"""Extraction of a tar read once from a stream: the malicious corpus of test_archives is
refused and leaves the folder empty; good archives extract as extract_archive extracts them."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from archive_helpers import make_tar

from modelshelf.core.errors import SizeLimitError, SourceError, UnsafeArchiveError
from modelshelf.core.sources.archives import extract_archive
from modelshelf.core.sources.tar_stream import extract_tar_stream

MB = 1 << 20


class OneWay(io.RawIOBase):
    """A stream that can only be read forward, as a download is: no seek, no tell."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 64 * 1024))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def stream_of(archive: Path) -> io.BufferedReader:
    return io.BufferedReader(OneWay(archive.read_bytes()))


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: files by content, links by target, folders as "dir"."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


MALICIOUS = {
    "slip": ([("ok.txt", "file", "x"), ("../evil.txt", "file", "e")], "'..'"),
    "absolute": ([("/tmp/modelshelf-abs.txt", "file", "e")], "absolute path"),
    "symlink escape": ([("link", "sym", "../../outside"), ("d.txt", "file", "x")], "outside"),
    "symlink chain": ([("x", "sym", "."), ("l", "sym", "x/..")], "'l'"),
    "through a link": (
        [("sub", "dir", ""), ("d", "sym", "sub"), ("d/evil.txt", "file", "e")],
        "beneath the symbolic link",
    ),
    "hard link escape": ([("grab", "lnk", "../outside/secret.txt")], "outside"),
    "hard link to a link": (
        [("a/s", "sym", "../b.txt"), ("b.txt", "file", "b"), ("h", "lnk", "a/s")],
        "hard link to the symbolic link",
    ),
    "device": ([("dev", "chr", "")], "device"),
    "fifo": ([("pipe", "fifo", "")], "FIFO"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_a_malicious_stream_is_refused_and_leaves_nothing(tmp_path, case, mode):
    entries, why = MALICIOUS[case]
    archive = make_tar(tmp_path / "evil.tar", entries, mode)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("do not touch")
    dest = tmp_path / "model"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_tar_stream(stream_of(archive), str(dest), name="s3://bucket/evil.tar")
    assert why in str(caught.value) and "s3://bucket/evil.tar" in str(caught.value)
    assert os.listdir(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar", "model", "outside"]
    assert os.listdir(tmp_path / "outside") == ["secret.txt"]
    assert (tmp_path / "outside" / "secret.txt").read_text() == "do not touch"
    assert not Path("/tmp/modelshelf-abs.txt").exists()


def test_a_size_bomb_stops_at_the_limit_and_leaves_nothing(tmp_path):
    archive = make_tar(
        tmp_path / "bomb.tar.gz",
        [("small", "file", b"x" * 100), ("zeros", "file", bytes(10 * MB))],
        "w:gz",
    )
    assert archive.stat().st_size < MB // 10
    dest = tmp_path / "model"
    with pytest.raises(SizeLimitError, match="10,485,860"):
        extract_tar_stream(stream_of(archive), str(dest), limit=MB)
    assert os.listdir(dest) == []


def test_a_damaged_stream_is_a_source_error(tmp_path):
    data = make_tar(tmp_path / "m.tar.gz", [("a", "file", os.urandom(50_000))], "w:gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data.read_bytes()[:20_000])
    with pytest.raises(SourceError):
        extract_tar_stream(stream_of(cut), str(tmp_path / "model"))
    assert os.listdir(tmp_path / "model") == []
    with pytest.raises(SourceError):
        extract_tar_stream(io.BytesIO(b"not a tar at all" * 100), str(tmp_path / "other"))


GOOD = [
    ("README.md", "file", "# model"),
    ("weights", "dir", ""),
    ("weights/layer.bin", "file", b"\x00\x01\x02" * 100_000),
    ("weights/deep/more.txt", "file", "more"),
    ("latest", "sym", "weights/layer.bin"),
    ("weights/copy.bin", "lnk", "weights/layer.bin"),
    ("./dotted.txt", "file", "d"),
]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_a_good_stream_extracts_as_extract_archive_does(tmp_path, mode):
    suffix = {"w": ".tar", "w:gz": ".tar.gz", "w:bz2": ".tar.bz2", "w:xz": ".tar.xz"}[mode]
    archive = make_tar(tmp_path / f"model{suffix}", GOOD, mode)
    extract_archive(str(archive), str(tmp_path / "from-file"))
    extract_tar_stream(stream_of(archive), str(tmp_path / "from-stream"))
    got = tree(tmp_path / "from-stream")
    assert got == tree(tmp_path / "from-file")
    assert got["latest"] == "-> weights/layer.bin"
    copy, layer = (
        tmp_path / "from-stream/weights/copy.bin",
        tmp_path / "from-stream/weights/layer.bin",
    )
    assert os.stat(copy).st_ino == os.stat(layer).st_ino  # a hard link, not a second copy


def test_modes_are_the_data_filters_and_the_folder_must_be_empty(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, mode in (("run.sh", 0o4775), ("data.txt", 0o666)):
            info = tarfile.TarInfo(name)
            info.mode, info.size = mode, 2
            tar.addfile(info, io.BytesIO(b"ok"))
    dest = tmp_path / "model"
    extract_tar_stream(io.BytesIO(buffer.getvalue()), str(dest))
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755  # no setuid, no g/o write
    assert stat.S_IMODE((dest / "data.txt").stat().st_mode) == 0o644
    with pytest.raises(ValueError, match="must be empty"):
        extract_tar_stream(io.BytesIO(buffer.getvalue()), str(dest))
