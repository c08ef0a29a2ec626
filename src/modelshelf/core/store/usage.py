"""What uses a version now: the aliases pointing at it, the jobs and deployments leasing it,
and the versions that name it as their parent: of the same model (from its manifests), and of
other models (a job's output model names the model it started from), from the listing
summaries of stores that keep them.

The model page's lineage graph draws this; `delete` refuses for the same leases and aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelshelf.core.facts import Card, Shown, Table
from modelshelf.core.store.aliases import AliasBook
from modelshelf.core.store.catalog import Catalog
from modelshelf.core.store.leases import LeaseBook

#: The words lease owners start with (``job train (ab12)``, ``deployment api``).
HOLDER_KINDS = ("job", "deployment")


@dataclass(frozen=True)
class Holder:
    """A live lease on the version: who holds it, of which kind, until when."""

    kind: str
    owner: str
    expires_at: float


@dataclass(frozen=True)
class VersionUsage(Shown):
    """The users of ``ref``: aliases, lease holders (jobs, deployments) and children."""

    ref: str
    aliases: list[str] = field(default_factory=list)
    holders: list[Holder] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def card(self) -> Card:
        rows = tuple((h.kind, h.owner) for h in self.holders)
        return Card.of(
            [("ref", self.ref), ("aliases", ", ".join(self.aliases)),
             ("children", ", ".join(self.children))],
            [Table(("kind", "held by"), rows, empty="no job or deployment uses it")],
        )  # fmt: skip


def _kind(owner: str) -> str:
    first = owner.split(" ", 1)[0]
    return first if first in HOLDER_KINDS else "other"


def version_usage(
    catalog: Catalog, aliases: AliasBook, leases: LeaseBook, name: str, version: int
) -> VersionUsage:
    """Who uses ``name:version`` now (raises ModelNotFoundError when it does not exist)."""
    ref = catalog.show(f"{name}:{version}").ref
    pointing = sorted(a for a, v in aliases.of_model(name).items() if v == version)
    holders = sorted(
        (Holder(_kind(lease.owner), lease.owner, lease.expires_at)
         for lease in leases.live(name, version)),
        key=lambda h: (h.kind, h.owner),
    )  # fmt: skip
    children = {v.ref for v in catalog.versions(name) if v.parent == ref}
    if catalog.summaries is not None:
        children.update(
            f"{other}:{number}"
            for other, versions in catalog.summaries.read_all().items()
            if other != name
            for number, (_, _, parent) in versions.items()
            if parent == ref
        )
    return VersionUsage(ref, pointing, holders, sorted(children, key=_by_name_and_number))


def _by_name_and_number(ref: str) -> tuple[str, int]:
    name, _, number = ref.rpartition(":")
    return name, int(number)
