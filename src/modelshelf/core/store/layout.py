"""Where each record lives under the store root (one place, so no module guesses a key).

```
store.json                         the store's format: its digest, whether it keeps summaries
blobs/<digest>/ab/cdef...          content, written once, shared by every version
                                   (<digest> is blake3 in new stores, sha256 in older ones)
models/<name>/<n>.json             immutable manifest of version n (the commit point)
models/<name>/<n>.deleted          tombstone: version n was deleted; n is never reused
aliases/<name>/<alias>/<seq>.json  append-only alias history; the highest seq is current
summaries/<shard>.json             per-model summaries for listings (repairable from models/)
leases/<name>/<n>/<id>.json        a job or deployment using version n, with an expiry
evaluations/<name>/<n>/<id>.json   append-only scores of version n (it is immutable)
locks/<id>.json                    save (shared) and gc (exclusive) locks, with an expiry
tmp/                               partial uploads; never read, swept by gc
```
"""

from __future__ import annotations

import re

STORE_FORMAT = "store.json"
BLOBS_ROOT = "blobs"
MODELS = "models"
SUMMARIES = "summaries"
ALIASES = "aliases"
LEASES = "leases"
LOCKS = "locks"
EVALUATIONS = "evaluations"

_DIGEST = re.compile(r"[0-9a-f]{64}")


def blobs_dir(algorithm: str) -> str:
    return f"{BLOBS_ROOT}/{algorithm}"


def blob_key(digest: str, algorithm: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a {algorithm} hex digest: {digest!r}")
    return f"{blobs_dir(algorithm)}/{digest[:2]}/{digest[2:]}"


def digest_from_blob_key(key: str, algorithm: str) -> str | None:
    """Inverse of :func:`blob_key`; None for anything that is not a blob."""
    parts = key.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != blobs_dir(algorithm):
        return None
    digest = parts[2] + parts[3]
    return digest if _DIGEST.fullmatch(digest) else None


def manifest_key(name: str, version: int) -> str:
    return f"{MODELS}/{name}/{version}.json"


def tombstone_key(name: str, version: int) -> str:
    return f"{MODELS}/{name}/{version}.deleted"


def model_dir(name: str) -> str:
    return f"{MODELS}/{name}"


def alias_dir(name: str, alias: str) -> str:
    return f"{ALIASES}/{name}/{alias}"


def alias_key(name: str, alias: str, seq: int) -> str:
    return f"{alias_dir(name, alias)}/{seq:08d}.json"


def summary_key(shard: str) -> str:
    return f"{SUMMARIES}/{shard}.json"


def lease_dir(name: str, version: int) -> str:
    return f"{LEASES}/{name}/{version}"


def lease_key(name: str, version: int, lease_id: str) -> str:
    return f"{lease_dir(name, version)}/{lease_id}.json"


def model_evaluations_dir(name: str) -> str:
    return f"{EVALUATIONS}/{name}"


def evaluation_dir(name: str, version: int) -> str:
    return f"{model_evaluations_dir(name)}/{version}"


def evaluation_key(name: str, version: int, record_id: str) -> str:
    return f"{evaluation_dir(name, version)}/{record_id}.json"


def lock_key(lock_id: str) -> str:
    return f"{LOCKS}/{lock_id}.json"


def parse_version_file(filename: str) -> tuple[int, str] | None:
    """``"3.json"`` -> ``(3, "json")``; ``"3.deleted"`` -> ``(3, "deleted")``; else None."""
    stem, _, ext = filename.partition(".")
    if ext not in ("json", "deleted") or not stem.isdigit():
        return None
    return int(stem), ext
