"""Text and JSON views of the model commands' results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelshelf.cli.views.text import mapping_text, one_line, plural, table, value_text
from modelshelf.core.jsonable import VersionListing
from modelshelf.core.sizes import format_size
from modelshelf.core.sizes import format_time as when
from modelshelf.core.store import (
    AliasMove,
    FsckReport,
    GcReport,
    ModelDiff,
    ModelSummary,
    ModelVersion,
)


def _saved(version: ModelVersion) -> str:
    return (
        f"saved {version.ref} ({plural(version.file_count, 'file')}, {format_size(version.size)})"
    )


def _deleted(version: ModelVersion) -> str:
    return f"deleted {version.ref} (its blobs are freed by `modelshelf gc`)"


def _models(models: list[ModelSummary]) -> str:
    if not models:
        return "no models yet (`modelshelf save NAME` adds one)"
    rows = [(m.name, m.latest, m.versions, when(m.updated_at)) for m in models]
    return table(("NAME", "LATEST", "VERSIONS", "UPDATED"), rows)


def _versions(listing: VersionListing) -> str:
    rows = [
        (
            v.version,
            when(v.created_at),
            format_size(v.size),
            v.file_count,
            one_line(v.message),
            ", ".join(listing.aliases_of(v.version)),
        )
        for v in listing.versions
    ]
    return table(("VERSION", "CREATED", "SIZE", "FILES", "MESSAGE", "ALIASES"), rows)


def _dataset_text(dataset: dict[str, Any]) -> str:
    if "sha256" not in dataset:
        return json.dumps(dataset)
    return (
        f"{dataset.get('ref', '?')} (sha256 {str(dataset['sha256'])[:12]}, "
        f"{format_size(int(dataset.get('size', 0)))}, "
        f"{plural(int(dataset.get('file_count', 0)), 'file')})"
    )


def _show(version: ModelVersion) -> str:
    fields: list[tuple[str, str]] = [
        ("ref", version.ref),
        ("created", when(version.created_at)),
        ("size", f"{format_size(version.size)} ({plural(version.file_count, 'file')})"),
        ("source", version.source or "-"),
    ]
    optional = [
        ("parent", version.parent),
        ("params", mapping_text(version.params)),
        ("metrics", mapping_text(version.metrics)),
        ("tags", ", ".join(version.tags)),
        ("dataset", _dataset_text(version.dataset) if version.dataset else ""),
        ("message", version.message),
        ("job", json.dumps(version.job) if version.job else ""),
        ("notebook", version.notebook),
    ]
    # Unset fields are left out: a manifest shows what was recorded, not a form to fill.
    fields += [(k, v) for k, v in optional if v]
    width = max(len(k) for k, _ in fields) + 2
    head = "\n".join(f"{k + ':':<{width}}{v}" for k, v in fields)
    files = table(
        ("PATH", "SIZE", "SHA256"),
        [(f.path, format_size(f.size), f.sha256[:12]) for f in version.files],
    )
    return f"{head}\n\n{files}"


def _loaded(path: str) -> str:
    return f"loaded into {path}"


def _alias(result: AliasMove | list[AliasMove]) -> str:
    if isinstance(result, list):
        if not result:
            return "no history for this alias"
        rows = [
            (m.seq, "(removed)" if m.version is None else m.version, when(m.moved_at), m.moved_by)
            for m in result
        ]
        return table(("SEQ", "VERSION", "MOVED", "BY"), rows)
    if result.version is None:
        return f"removed {result.name}@{result.alias}"
    return f"{result.name}@{result.alias} -> {result.name}:{result.version}"


def _side_by_side(title: str, diff: ModelDiff, pairs: dict[str, tuple[Any, Any]]) -> str:
    # The marker column makes the changed rows stand out in a long list.
    rows = [("*" if a != b else "", k, value_text(a), value_text(b)) for k, (a, b) in pairs.items()]
    return table(("", title, diff.a, diff.b), rows)


def _diff(diff: ModelDiff) -> str:
    parts = [
        f"{diff.a} -> {diff.b}: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed" + (" (same files)" if diff.same_files else "")
    ]
    marks = [("+", diff.added), ("-", diff.removed), ("~", diff.changed)]
    lines = [f"  {mark} {path}" for mark, paths in marks for path in paths]
    if lines:
        parts.append("\n".join(lines))
    for title, pairs in (("PARAM", diff.params), ("METRIC", diff.metrics)):
        if pairs:
            parts.append(_side_by_side(title, diff, pairs))
    return "\n\n".join(parts)


def _gc(report: GcReport) -> str:
    blobs = plural(report.removed_blobs, "blob")
    temps = plural(report.removed_temporary, "temporary file")
    kept = plural(report.kept_blobs, "blob")
    if report.dry_run:
        return (
            f"would remove {blobs} ({format_size(report.freed_bytes)}) and {temps}; "
            f"{kept} in use (dry run: nothing removed)"
        )
    return (
        f"removed {blobs}, freed {format_size(report.freed_bytes)}; removed {temps}; "
        f"kept {kept} in use"
    )


def _fsck(report: FsckReport) -> str:
    checked = (
        f"{plural(report.checked_blobs, 'blob')} in {plural(report.checked_versions, 'version')}"
    )
    if report.ok:
        extra = (
            f" ({plural(report.unreferenced_blobs, 'unreferenced blob')}; `modelshelf gc` "
            "removes them)"
            if report.unreferenced_blobs
            else ""
        )
        return f"OK: checked {checked}{extra}"
    lines = [f"damaged blob {d} used by {', '.join(refs)}" for d, refs in report.damaged.items()]
    lines += [f"missing blob {d} used by {', '.join(refs)}" for d, refs in report.missing.items()]
    lines += [f"unreadable manifest {key}: {why}" for key, why in report.bad_manifests.items()]
    lines.append(
        f"FAILED: {len(report.damaged)} damaged, {len(report.missing)} missing, "
        f"{plural(len(report.bad_manifests), 'unreadable manifest')}; checked {checked}"
    )
    return "\n".join(lines)


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "save": _saved,
    "ls": _models,
    "versions": _versions,
    "show": _show,
    "load": _loaded,
    "rm": _deleted,
    "alias": _alias,
    "diff": _diff,
    "gc": _gc,
    "fsck": _fsck,
}


# Only where the JSON is not simply the result's data.
JSON_VIEWS: dict[str, Callable[[Any], Any]] = {"load": lambda path: {"path": path}}


def view_of(result: object) -> str | None:
    """The model view that fits ``result`` when the caller does not say; None if not ours."""
    by_type: list[tuple[type | tuple[type, ...], str]] = [
        (ModelVersion, "show"),
        (VersionListing, "versions"),
        ((ModelSummary, list), "ls"),
        (AliasMove, "alias"),
        (ModelDiff, "diff"),
        (GcReport, "gc"),
        (FsckReport, "fsck"),
        (str, "load"),
    ]
    for kind, command in by_type:
        if isinstance(result, kind):
            return command
    return None
