"""Aliases (``name@production``): movable pointers with an append-only history.

Each move is a new record ``aliases/<name>/<alias>/<seq>.json`` created with create-if-absent,
so two concurrent moves never overwrite each other: one gets ``seq``, the other retries with
``seq + 1``. The current target is the newest record; the history is all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelshelf.core.facts import Listed
from modelshelf.core.names import validate_alias, validate_name
from modelshelf.core.sizes import format_time
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.expiring import HOST
from modelshelf.core.store.layout import ALIASES, alias_dir, alias_key
from modelshelf.core.store.manifest import utcnow_iso


@dataclass(frozen=True)
class AliasMove(Listed):
    """One entry of an alias's history; ``version`` None means the alias was removed."""

    ROW_HEADERS = ("seq", "version", "moved", "by")

    name: str
    alias: str
    seq: int
    version: int | None
    moved_at: str
    moved_by: str

    def row(self) -> tuple[Any, ...]:
        version = "(removed)" if self.version is None else self.version
        return (self.seq, version, format_time(self.moved_at), self.moved_by)


class AliasBook:
    """Read and move aliases."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def move(self, name: str, alias: str, version: int | None, by: str = "") -> AliasMove:
        """Point ``name@alias`` at ``version`` (or remove it with None), keeping history."""
        while True:
            history = self.history(name, alias)
            seq = history[-1].seq + 1 if history else 1
            move = AliasMove(name, alias, seq, version, utcnow_iso(), by or HOST)
            body = {"version": version, "moved_at": move.moved_at, "moved_by": move.moved_by}
            if self.backend.create(alias_key(name, alias, seq), json.dumps(body).encode()):
                return move

    def history(self, name: str, alias: str) -> list[AliasMove]:
        """Every move of ``name@alias``, oldest first."""
        validate_name(name)
        validate_alias(alias)
        moves = []
        for entry in self.backend.list(alias_dir(name, alias)):
            stem = entry.key.rsplit("/", 1)[-1].removesuffix(".json")
            if not stem.isdigit():
                continue
            try:
                body = json.loads(self.backend.read_bytes(entry.key))
            except (FileNotFoundError, ValueError):
                continue
            moves.append(
                AliasMove(
                    name,
                    alias,
                    int(stem),
                    body.get("version"),
                    body.get("moved_at", ""),
                    body.get("moved_by", ""),
                )
            )
        moves.sort(key=lambda m: m.seq)
        return moves

    def current(self, name: str, alias: str) -> int | None:
        history = self.history(name, alias)
        return history[-1].version if history else None

    def of_model(self, name: str) -> dict[str, int]:
        """The model's live aliases and the versions they point at."""
        validate_name(name)
        out = {}
        for alias in self.backend.list_dirs(f"{ALIASES}/{name}"):
            version = self.current(name, alias)
            if version is not None:
                out[alias] = version
        return out
