"""The content digests a store can key its blobs by: sha256 (older stores) and BLAKE3.

A store uses one digest for all of its blobs, named in its ``store.json`` (see
:mod:`.storeformat`); stores made before that file existed are sha256 stores. BLAKE3 is the
digest of new stores: about 4x sha256's speed per core here, and it can spread one large
file over several cores, which sha256 cannot.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import blake3

SHA256 = "sha256"
BLAKE3 = "blake3"
ALGORITHMS = (SHA256, BLAKE3)
#: What a store created today uses.
DEFAULT = BLAKE3
# Below this, starting BLAKE3's worker threads costs more than it saves.
_PARALLEL_FROM = 8 * 2**20


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Hasher: ...


def new_hasher(algorithm: str, size_hint: int = 0) -> Hasher:
    """A fresh hasher for ``algorithm``; ``size_hint`` lets BLAKE3 use every core on big files."""
    if algorithm == BLAKE3:
        if size_hint >= _PARALLEL_FROM:
            return blake3.blake3(max_threads=blake3.blake3.AUTO)
        return blake3.blake3()
    if algorithm == SHA256:
        return hashlib.sha256()
    raise ValueError(f"unknown digest {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def digest_bytes(algorithm: str, data: bytes) -> str:
    hasher = new_hasher(algorithm, len(data))
    hasher.update(data)
    return hasher.hexdigest()
