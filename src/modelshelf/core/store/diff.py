"""Compare two versions: files added, removed and changed; params and metrics side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.facts import Card, Shown, Table, value_text
from modelshelf.core.store.manifest import ModelVersion


@dataclass(frozen=True)
class ModelDiff(Shown):
    """The difference from version ``a`` to version ``b``."""

    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    params: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    metrics: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def same_files(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def card(self) -> Card:
        """How many files changed, which ones (``+`` added, ``-`` removed, ``~`` changed),
        then params and metrics side by side, ``*`` marking the ones that differ."""
        counts = (
            f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"
            + (" (same files)" if self.same_files else "")
        )
        marks = [("+", self.added), ("-", self.removed), ("~", self.changed)]
        files = tuple((mark, path) for mark, paths in marks for path in paths)
        return Card.of(
            [("diff", f"{self.a} -> {self.b}"), ("files", counts)],
            [
                Table(("", "file"), files),
                self._side_by_side("param", self.params),
                self._side_by_side("metric", self.metrics),
            ],
        )

    def _side_by_side(self, title: str, pairs: dict[str, tuple[Any, Any]]) -> Table:
        rows = tuple(
            ("*" if a != b else "", key, value_text(a), value_text(b))
            for key, (a, b) in pairs.items()
        )
        return Table(("", title, self.a, self.b), rows, upper=False)


def _side_by_side(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b))}


def diff_versions(a: ModelVersion, b: ModelVersion) -> ModelDiff:
    files_a = {f.path: f for f in a.files}
    files_b = {f.path: f for f in b.files}
    return ModelDiff(
        a=a.ref,
        b=b.ref,
        added=sorted(set(files_b) - set(files_a)),
        removed=sorted(set(files_a) - set(files_b)),
        changed=sorted(
            p for p in set(files_a) & set(files_b) if files_a[p].digest != files_b[p].digest
        ),
        params=_side_by_side(a.params, b.params),
        metrics=_side_by_side(a.metrics, b.metrics),
    )
