"""The Model browser's HTML: a version's card with what stops its delete, and a diff."""

from __future__ import annotations

from modelshelf.core.facts import Card
from modelshelf.core.store.diff import ModelDiff
from modelshelf.core.store.manifest import ModelVersion


def version_html(
    version: ModelVersion, aliases: list[str] | None = None, holders: list[str] | None = None
) -> str:
    """A version's card, with the ``aliases`` pointing at it and the ``holders`` of leases
    on it: they are what stops a delete."""
    fields = [
        *version.fields(),
        ("aliases", ", ".join(sorted(aliases or []))),
        ("in use by", ", ".join(sorted(holders or [])) or "nobody"),
    ]
    return Card.of(fields, [version.files_table()]).html()


def diff_html(diff: ModelDiff) -> str:
    """Files added, removed and changed; params and metrics side by side."""
    return diff.card().html()
