"""Zip entry names come back as their author wrote them, as Info-ZIP's ``unzip`` reads them."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from modelshelf.core.errors import UnsafeArchiveError
from modelshelf.core.sources import open_source
from modelshelf.core.sources.archives import extract_archive

# What a user on Linux names their files: accents, and characters outside any DOS code page.
NAMED = {"données.csv": b"a,b\n1,2\n", "répertoire/模型.txt": b"weights"}


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def info_zip(tmp_path) -> Path:
    """A zip of a folder holding :data:`NAMED`, made by Info-ZIP's ``zip`` as on a Linux box."""
    if shutil.which("zip") is None:
        pytest.fail(
            "Info-ZIP's zip is missing: `make test` installs it (apt-get install zip); "
            "install it with `apt-get update && apt-get install -y zip`"
        )
    folder = tmp_path / "folder"
    for name, data in NAMED.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    archive = tmp_path / "data.zip"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(["zip", "-qr", str(archive), "."], cwd=folder, env=env, check=True)
    # The case this file is about: UTF-8 bytes, no UTF-8 flag, so zipfile reads cp437.
    with zipfile.ZipFile(archive) as opened:
        infos = opened.infolist()
    assert not any(info.flag_bits & 0x800 for info in infos)
    assert "donn├⌐es.csv" in [info.filename for info in infos]
    return archive


def zip_with_raw_names(path: Path, entries: list[tuple[str, bytes, bytes, bytes]]) -> Path:
    """Entries are (name zipfile writes, raw header name, extra field, content).

    zipfile writes every non-ASCII name as flagged UTF-8, so the unflagged bytes other tools
    write are put in afterwards over an ASCII placeholder of the same length (in both of its
    headers). A name written as its raw bytes is left as zipfile wrote it.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for written, _, extra, data in entries:
            info = zipfile.ZipInfo(written)
            info.extra = extra
            archive.writestr(info, data)
    content = path.read_bytes()
    swaps = [(w.encode(), raw) for w, raw, _, _ in entries if w.encode() != raw]
    for placeholder, raw in swaps:
        assert len(raw) == len(placeholder) and content.count(placeholder) == 2
    for placeholder, raw in swaps:
        content = content.replace(placeholder, raw)
    path.write_bytes(content)
    return path


def unicode_path(header_name: bytes, name: str, *, crc: int | None = None) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075, version 1) naming ``name``."""
    data = struct.pack("<BI", 1, zlib.crc32(header_name) if crc is None else crc)
    data += name.encode("utf-8")
    return struct.pack("<HH", 0x7075, len(data)) + data


def extracted(archive: Path, tmp_path: Path) -> dict[str, bytes]:
    dest = tmp_path / "out"
    extract_archive(str(archive), str(dest))
    return files_under(dest)


def test_info_zip_utf8_names_extract_as_written(info_zip, tmp_path):
    assert extracted(info_zip, tmp_path) == NAMED
    assert (tmp_path / "out" / "répertoire").is_dir()


def test_info_zip_utf8_names_through_open_source_and_the_shelf(info_zip, local_shelf, tmp_path):
    with open_source(str(info_zip)) as tree:
        assert sorted(f.relpath for f in tree.files) == sorted(NAMED)
    version = local_shelf.save("data", info_zip)
    assert sorted(f.path for f in version.files) == sorted(NAMED)
    loaded = Path(local_shelf.load("data:1", tmp_path / "loaded"))
    assert files_under(loaded) == NAMED


def test_cp437_name_that_is_not_utf8_stays_cp437(tmp_path):
    # 0x82 is é in cp437 (a DOS or old Windows zip) and on its own is not valid UTF-8.
    archive = zip_with_raw_names(
        tmp_path / "dos.zip", [("donnXes.csv", b"donn\x82es.csv", b"", b"dos")]
    )
    assert extracted(archive, tmp_path) == {"données.csv": b"dos"}


def test_flagged_utf8_name_is_kept(tmp_path):
    archive = tmp_path / "python.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("répertoire/模型.txt", b"weights")  # zipfile sets the UTF-8 flag
    assert extracted(archive, tmp_path) == {"répertoire/模型.txt": b"weights"}


def test_unicode_path_field_gives_the_name(tmp_path):
    # Info-ZIP escapes characters the local charset lacks in the header name and keeps the
    # real name in the Unicode Path field.
    header = b"#U6a21#U578b.txt"
    archive = zip_with_raw_names(
        tmp_path / "up.zip", [(header.decode(), header, unicode_path(header, "模型.txt"), b"w")]
    )
    assert extracted(archive, tmp_path) == {"模型.txt": b"w"}


def test_unicode_path_field_with_a_wrong_crc_is_ignored(tmp_path):
    header = b"#U6a21#U578b.txt"
    stale = unicode_path(header, "renamed.txt", crc=zlib.crc32(b"something else"))
    archive = zip_with_raw_names(tmp_path / "stale.zip", [(header.decode(), header, stale, b"w")])
    assert extracted(archive, tmp_path) == {"#U6a21#U578b.txt": b"w"}


def test_safety_checks_see_the_corrected_name(tmp_path):
    # An innocent header name whose Unicode Path climbs out must be refused, not written.
    header = b"harmless.txt"
    climbing = unicode_path(header, "../evil.txt")
    archive = zip_with_raw_names(tmp_path / "evil.zip", [("harmless.txt", header, climbing, b"x")])
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil\.txt' climbs out"):
        extract_archive(str(archive), str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []
    assert not (tmp_path / "evil.txt").exists()


def test_the_same_name_in_two_encodings_appears_twice(tmp_path):
    archive = zip_with_raw_names(
        tmp_path / "twice.zip",
        [
            ("donnXXes.csv", "données.csv".encode(), b"", b"raw"),  # Info-ZIP's way, no flag
            ("données.csv", "données.csv".encode(), b"", b"flagged"),  # zipfile's, flagged
        ],
    )
    with pytest.raises(UnsafeArchiveError, match=r"'données\.csv' appears twice"):
        extract_archive(str(archive), str(tmp_path / "out"))
