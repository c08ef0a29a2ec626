"""The names in a zip archive as their authors wrote them, whatever tool wrote the archive."""

from __future__ import annotations

import struct
import zipfile
import zlib
from contextlib import suppress

_ZIP_UTF8_FLAG = 0x800  # general purpose bit 11: the name is UTF-8
_ZIP_UNICODE_PATH = 0x7075  # Info-ZIP's Unicode Path extra field


def zip_entry_name(info: zipfile.ZipInfo) -> str:
    """An entry's name as its author wrote it, read as Info-ZIP's ``unzip`` reads it.

    zipfile decodes names without the UTF-8 flag as cp437, but Info-ZIP's ``zip`` on Linux
    stores UTF-8 there (``données.csv`` came out as ``donn├⌐es.csv``). So: the Unicode Path
    field if valid (a stale one, left by a tool that renamed the entry, fails its CRC of the
    header's name), else UTF-8 if the bytes are UTF-8, else cp437 (DOS and old Windows tools).
    """
    if info.flag_bits & _ZIP_UTF8_FLAG:
        return info.filename
    # cp437 maps every byte, so encoding zipfile's decoding gives back the header's bytes.
    raw = info.orig_filename.encode("cp437")
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        field, size = struct.unpack_from("<HH", extra, pos)
        data, pos = extra[pos + 4 : pos + 4 + size], pos + 4 + size
        if field == _ZIP_UNICODE_PATH and len(data) == size > 5 and data[0] == 1:
            if struct.unpack_from("<I", data, 1)[0] == zlib.crc32(raw):
                with suppress(UnicodeDecodeError):
                    return data[5:].decode("utf-8")
            break
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeDecodeError:
        return info.filename
