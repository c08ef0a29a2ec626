"""``store.json``: how a store is laid out, written once when its first version is saved.

```
{"format": 2, "digest": "blake3", "summaries": true}
```

- ``digest``: the digest every blob of the store is keyed by (``blobs/<digest>/...``) and
  every manifest entry records. A store never mixes two.
- ``summaries``: the store has kept its model summaries (:mod:`.summaries`) since it was
  created, so a listing may read them instead of every manifest key.

A store without the file was made before it existed: a sha256 store without summaries,
read and written exactly as before. An empty store without the file is a new store; it
gets the file (created if absent, so two first saves agree) before its first blob.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from modelshelf.core.errors import StorageError
from modelshelf.core.store import digests
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.layout import BLOBS_ROOT, MODELS, STORE_FORMAT

FORMAT = 2


@dataclass(frozen=True)
class StoreFormat:
    """What ``store.json`` says (or what a store without one is)."""

    digest: str
    summaries: bool
    recorded: bool

    @property
    def pending(self) -> bool:
        """A new (empty) store whose ``store.json`` is not written yet."""
        return self.summaries and not self.recorded

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "digest": self.digest, "summaries": self.summaries}
        return json.dumps(body, indent=1).encode()


def read_format(backend: Backend, new_digest: str = digests.DEFAULT) -> StoreFormat:
    """The store's format; for a store without ``store.json``, legacy or new (not yet written)."""
    try:
        return _parse(backend, backend.read_bytes(STORE_FORMAT))
    except FileNotFoundError:
        pass
    if set(backend.list_dirs("")) & {MODELS, BLOBS_ROOT}:
        # A first save in another process may have written store.json, then its blobs,
        # between the read above and the listing: what it saved is no older store's.
        # store.json always comes before a new store's first blob, so it is there now.
        try:
            return _parse(backend, backend.read_bytes(STORE_FORMAT))
        except FileNotFoundError:
            return StoreFormat(digests.SHA256, summaries=False, recorded=False)
    return StoreFormat(new_digest, summaries=True, recorded=False)


def ensure_format(backend: Backend, current: StoreFormat) -> StoreFormat:
    """Write ``store.json`` for a new store before anything else; return what holds."""
    if not current.pending:
        return current  # recorded, or a store older than the file: leave it as it is
    if backend.create(STORE_FORMAT, current.to_json()):
        return StoreFormat(current.digest, current.summaries, recorded=True)
    return _parse(backend, backend.read_bytes(STORE_FORMAT))  # another first save won


def _parse(backend: Backend, data: bytes) -> StoreFormat:
    try:
        body = json.loads(data)
        number, digest = int(body["format"]), body["digest"]
        summaries = bool(body.get("summaries", False))
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(
            f"{backend.url}/{STORE_FORMAT} is damaged ({exc}); it should read like "
            '{"format": 2, "digest": "blake3", "summaries": true}: restore or rewrite it'
        ) from exc
    if number > FORMAT or digest not in digests.ALGORITHMS:
        raise StorageError(
            f"the store {backend.url} was written by a newer modelshelf (format {number}, "
            f"digest {digest!r}); upgrade modelshelf to use it"
        )
    return StoreFormat(digest, summaries, recorded=True)


class FormatBook:
    """A store's format, read on first use: opening a Shelf touches no storage, so a store
    that is down fails the first operation with a clear error, not the Shelf itself."""

    def __init__(self, backend: Backend, new_digest: str = digests.DEFAULT) -> None:
        self.backend = backend
        self.new_digest = new_digest
        self._lock = threading.Lock()
        self._format: StoreFormat | None = None

    @property
    def current(self) -> StoreFormat:
        with self._lock:
            # A store still empty when last looked at may have been given its store.json by
            # another process since (perhaps with another digest): look again until it has.
            if self._format is None or self._format.pending:
                self._format = read_format(self.backend, self.new_digest)
            return self._format

    def record(self) -> StoreFormat:
        """Write a new store's ``store.json`` (before its first blob); a no-op afterwards."""
        current = self.current
        if current.recorded:
            return current
        with self._lock:
            self._format = ensure_format(self.backend, current)
            return self._format
