"""Per-model summaries kept in a few shard objects, so a listing is a few reads, not one
key (or one manifest) per model.

``summaries/<shard>.json`` holds, for every model whose name falls in the shard, each live
version's number, creation time, tags and parent (the ref it names, or null):

```
{"models": {"churn": {"1": [1764590000.0, ["baseline"], null], "2": [1764593600.0, [], "churn:1"]}}}
```

The parent lets "what uses a version" find versions of *other* models made from it (a job's
output model names its input) without reading every manifest. Entries written before it was
kept have two elements and read as "no parent": ``fsck`` counts those of versions that do have
one as behind, and ``gc`` fills their parents in.

Listing 10,000 models on an object store then costs 16 GETs (in parallel) instead of ten
sequential LIST pages of manifest keys plus one GET per model shown for its tags. The
manifests stay the truth: a save updates its shard right after creating its manifest, a
delete right after its tombstone, each with a compare-and-set (:meth:`Backend.rewrite`)
so concurrent saves never lose each other's entries. A crash between the two leaves the
shard behind the manifests; :meth:`SummaryBook.repair` (run by ``gc``) rebuilds it from
them, and ``fsck`` reports the difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from modelshelf.core.errors import StorageError
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.layout import summary_key

log = logging.getLogger(__name__)

SHARDS = 16
_ATTEMPTS = 200

#: name -> version -> (created, epoch seconds; tags; parent ref)
Entry = tuple[float | None, tuple[str, ...], str | None]
Versions = dict[int, Entry]
Summaries = dict[str, Versions]


def shard_of(name: str) -> str:
    return f"{hashlib.sha256(name.encode()).digest()[0] % SHARDS:02d}"


def epoch(created_at: str) -> float | None:
    """A manifest's ``created_at`` (ISO 8601, ``Z``) as epoch seconds."""
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SummaryBook:
    """Reads and updates the summary shards of one store."""

    def __init__(self, backend: Backend, workers: int) -> None:
        self.backend = backend
        self._workers = workers

    def record(
        self, name: str, version: int, created_at: str, tags: Iterable[str], parent: str | None
    ) -> None:
        """Add a new version (after its manifest was created)."""
        entry = [epoch(created_at), list(tags), parent]

        def add(models: dict) -> None:
            models.setdefault(name, {})[str(version)] = entry

        self._after_the_fact(f"{name}:{version}", lambda: self._change(shard_of(name), add))

    def forget(self, name: str, version: int) -> None:
        """Drop a deleted version (after its tombstone was written)."""

        def drop(models: dict) -> None:
            versions = models.get(name, {})
            versions.pop(str(version), None)
            if not versions:
                models.pop(name, None)

        self._after_the_fact(f"{name}:{version}", lambda: self._change(shard_of(name), drop))

    def _after_the_fact(self, ref: str, update: Callable[[], None]) -> None:
        # The manifest (or tombstone) already says what happened: a summary that cannot be
        # updated must not turn a done save or delete into an error. It only lags until gc.
        try:
            update()
        except StorageError as exc:
            log.warning(
                "the listing summary of %s is behind (%s); `modelshelf gc` repairs it", ref, exc
            )

    def read_all(self) -> Summaries:
        """Every model's live versions, from all shards read in parallel."""
        with ThreadPoolExecutor(max_workers=max(1, min(SHARDS, self._workers))) as pool:
            shards = list(pool.map(self._read, (f"{i:02d}" for i in range(SHARDS))))
        out: Summaries = {}
        for models in shards:
            for name, versions in models.items():
                out[name] = {int(n): _entry(e) for n, e in versions.items()}
        return out

    def repair(self, truth: Summaries, still_live: Callable[[str, int], bool]) -> int:
        """Make the shards agree with ``truth`` (read from the manifests); return how many
        versions had to be added or dropped.

        ``truth`` may be older than the shards: a version only in a shard is kept, and one
        only in ``truth`` added, if ``still_live(name, version)`` finds its manifest now (a
        save or a delete may have landed in between).
        """
        fixed = 0
        for i in range(SHARDS):
            shard = f"{i:02d}"
            wanted = {n: v for n, v in truth.items() if shard_of(n) == shard}
            try:
                stored = self._read(shard)
            except StorageError:  # damaged: rewritten whole from the manifests
                self.backend.write(summary_key(shard), _encode(_plain(wanted)))
                fixed += sum(len(v) for v in wanted.values()) or 1
                continue
            current = {
                name: {int(k): _entry(e) for k, e in versions.items()}
                for name, versions in stored.items()
            }
            extra = {
                (name, n)
                for name, versions in current.items()
                for n in versions
                if n not in wanted.get(name, {}) and not still_live(name, n)
            }
            missing = {
                (name, n)
                for name, versions in wanted.items()
                for n in versions
                if current.get(name, {}).get(n) != versions[n] and still_live(name, n)
            }
            if not extra and not missing:
                continue
            fixed += len(extra) + len(missing)

            def mend(models: dict, wanted=wanted, extra=extra, missing=missing) -> None:
                for name, n in extra:
                    models.get(name, {}).pop(str(n), None)
                for name, n in missing:
                    created, tags, parent = wanted[name][n]
                    models.setdefault(name, {})[str(n)] = [created, list(tags), parent]
                for name in [m for m, versions in models.items() if not versions]:
                    del models[name]

            self._change(shard, mend)
        return fixed

    def _read(self, shard: str) -> dict:
        try:
            return _decode(self.backend.url, shard, self.backend.read_bytes(summary_key(shard)))
        except FileNotFoundError:
            return {}

    def _change(self, shard: str, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the shard's models with a compare-and-set, retrying on races."""
        key = summary_key(shard)

        def update(data: bytes) -> bytes:
            models = _decode(self.backend.url, shard, data)
            change(models)
            return _encode(models)

        for attempt in range(_ATTEMPTS):
            if self.backend.rewrite(key, update):
                return
            models: dict = {}
            change(models)
            if self.backend.create(key, _encode(models)):
                return
            # Another writer changed the shard between our read and our write: read again,
            # after a short random pause so that racing writers spread out.
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 50)))
        raise StorageError(
            f"could not update {self.backend.url}/{key} after {_ATTEMPTS} tries (too many "
            "concurrent saves); `modelshelf gc` rebuilds the summaries from the manifests"
        )


def _encode(models: dict) -> bytes:
    return json.dumps({"models": models}, separators=(",", ":"), sort_keys=True).encode()


def _decode(url: str, shard: str, data: bytes) -> dict:
    try:
        models = json.loads(data)["models"]
        if not isinstance(models, dict):
            raise TypeError("'models' is not an object")
        return models
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(
            f"{url}/{summary_key(shard)} is damaged ({exc}); `modelshelf gc` rebuilds it "
            "from the manifests"
        ) from exc


def _entry(stored: list) -> Entry:
    """A stored entry as a tuple; a two-element one (written before parents were kept) reads
    as having none, which the manifests correct where they name one."""
    return (stored[0], tuple(stored[1]), stored[2] if len(stored) > 2 else None)


def _plain(summaries: Summaries) -> dict:
    """Summaries as stored: version numbers as strings, entries as lists."""
    return {
        name: {str(n): [created, list(tags), parent]
               for n, (created, tags, parent) in versions.items()}
        for name, versions in summaries.items()
    }  # fmt: skip
