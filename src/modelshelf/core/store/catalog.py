"""The read side of the store: which models and versions exist, and what they hold.

Versions are numbered by their manifests (``<n>.json``); a tombstone (``<n>.deleted``) hides a
version and keeps its number from being reused. Listing reads only names, never manifests,
so ``ls`` stays fast over thousands of models on any backend; a store that keeps summaries
(:mod:`.summaries`) is listed from those instead, a few reads whatever the number of models.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelshelf.core.errors import ModelNotFoundError
from modelshelf.core.facts import Card, Listed, Shown, Table
from modelshelf.core.names import Ref, parse_ref, validate_name
from modelshelf.core.sizes import format_time
from modelshelf.core.store import layout
from modelshelf.core.store.aliases import AliasBook
from modelshelf.core.store.backend import Backend
from modelshelf.core.store.manifest import ModelVersion
from modelshelf.core.store.storeformat import FormatBook
from modelshelf.core.store.summaries import Summaries, SummaryBook


@dataclass(frozen=True)
class ModelSummary(Listed):
    """One model in a listing: its newest version and how many versions it has."""

    ROW_HEADERS = ("name", "latest", "versions", "updated")

    name: str
    latest: int
    versions: int
    updated_at: float | None
    #: The newest version's tags, when the listing knows them (stores with summaries).
    tags: tuple[str, ...] | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.name, self.latest, self.versions, format_time(self.updated_at))

    def _repr_html_(self) -> str:
        return Table.of([self]).html()


@dataclass(frozen=True)
class VersionListing(Shown):
    """The live versions of one model and the aliases pointing at them."""

    name: str
    versions: list[ModelVersion]
    aliases: dict[str, int]

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def table(self) -> Table:
        """Its versions, oldest first, each with the aliases pointing at it."""
        rows = tuple((*v.row(), ", ".join(self.aliases_of(v.version))) for v in self.versions)
        headers = (*ModelVersion.ROW_HEADERS, "aliases")
        return Table(headers, rows, empty=f"{self.name} has no versions")

    def card(self) -> Card:
        return Card.of((), [self.table()])


class Catalog:
    """Find versions by reference and read their manifests."""

    def __init__(
        self, backend: Backend, aliases: AliasBook, workers: int, formats: FormatBook
    ) -> None:
        self.backend = backend
        self.aliases = aliases
        self._workers = workers
        self._formats = formats
        self._summaries = SummaryBook(backend, workers)

    @property
    def summaries(self) -> SummaryBook | None:
        """The store's listing summaries; None in stores older than them."""
        return self._summaries if self._formats.current.summaries else None

    def numbers(self, name: str) -> tuple[set[int], set[int]]:
        """(versions with a manifest, versions with a tombstone) of ``name``."""
        manifests, tombstones = set(), set()
        for entry in self.backend.list(layout.model_dir(name)):
            parsed = layout.parse_version_file(entry.key.rsplit("/", 1)[-1])
            if parsed:
                (manifests if parsed[1] == "json" else tombstones).add(parsed[0])
        return manifests, tombstones

    def highest_number(self, name: str) -> int:
        manifests, tombstones = self.numbers(name)
        return max(manifests | tombstones, default=0)

    def live_numbers(self, name: str) -> list[int]:
        manifests, tombstones = self.numbers(name)
        return sorted(manifests - tombstones)

    def resolve(self, ref: str | Ref) -> tuple[str, int]:
        """Turn ``name``, ``name:3`` or ``name@alias`` into ``(name, version)``."""
        parsed = parse_ref(ref)
        live = self.live_numbers(parsed.name)
        if parsed.alias is not None:
            version = self.aliases.current(parsed.name, parsed.alias)
            if version is None:
                raise ModelNotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}")
            if version not in live:
                raise ModelNotFoundError(
                    f"alias {parsed} points at version {version}, which was deleted"
                )
            return parsed.name, version
        if not live:
            raise ModelNotFoundError(
                f"no model named {parsed.name!r} in {self.backend.url}; `modelshelf ls` lists them"
            )
        if parsed.version is None:
            return parsed.name, live[-1]
        if parsed.version not in live:
            raise ModelNotFoundError(
                f"model {parsed.name!r} has no version {parsed.version} "
                f"(versions: {', '.join(map(str, live))})"
            )
        return parsed.name, parsed.version

    def show(self, ref: str | Ref) -> ModelVersion:
        """The manifest of one version."""
        name, version = self.resolve(ref)
        return self.read_manifest(name, version)

    def read_manifest(self, name: str, version: int) -> ModelVersion:
        try:
            return ModelVersion.from_json(
                self.backend.read_bytes(layout.manifest_key(name, version))
            )
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"model {name}:{version} does not exist") from exc

    def versions(self, name: str) -> list[ModelVersion]:
        """Every live version of ``name``, oldest first."""
        validate_name(name)
        numbers = self.live_numbers(name)
        if not numbers:
            raise ModelNotFoundError(f"no model named {name!r} in {self.backend.url}")
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return list(pool.map(lambda n: self.read_manifest(name, n), numbers))

    def list(self) -> list[ModelSummary]:
        """Every model with its newest version (no manifest is read).

        From the summaries when the store keeps them, else from one listing of manifest keys.
        """
        if self.summaries is not None:
            out = []
            for name, versions in sorted(self.summaries.read_all().items()):
                if versions:
                    latest = max(versions)
                    created, tags, _ = versions[latest]
                    out.append(ModelSummary(name, latest, len(versions), created, tags))
            return out
        return [
            ModelSummary(name, max(live), len(live), live[max(live)][0])
            for name, live in sorted(self.scan().items())
        ]

    def scan(self) -> Summaries:
        """Every live version by model from the manifest keys (with their mtime, no tags)."""
        found: dict[str, dict[int, float | None]] = defaultdict(dict)
        deleted: dict[str, set[int]] = defaultdict(set)
        for entry in self.backend.list(layout.MODELS, recursive=True):
            parts = entry.key.split("/")
            parsed = layout.parse_version_file(parts[-1]) if len(parts) == 3 else None
            if parsed is None:
                continue
            if parsed[1] == "json":
                found[parts[1]][parsed[0]] = entry.mtime
            else:
                deleted[parts[1]].add(parsed[0])
        out: Summaries = {}
        for name, numbers in found.items():
            live = {n: (t, (), None) for n, t in numbers.items() if n not in deleted[name]}
            if live:
                out[name] = live
        return out
