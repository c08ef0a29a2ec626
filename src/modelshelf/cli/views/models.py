"""Text and JSON views of the model commands' results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelshelf.core.facts import Table, plural
from modelshelf.core.sizes import format_size
from modelshelf.core.store import (
    AliasMove,
    FsckReport,
    GcReport,
    ModelDiff,
    ModelSummary,
    ModelVersion,
    VersionListing,
)


def _saved(version: ModelVersion) -> str:
    return (
        f"saved {version.ref} ({plural(version.file_count, 'file')}, {format_size(version.size)})"
    )


def _deleted(version: ModelVersion) -> str:
    return f"deleted {version.ref} (its blobs are freed by `modelshelf gc`)"


def models_table(models: list[ModelSummary]) -> Table:
    """The ``ls`` table."""
    return Table.of(models, empty="no models yet (`modelshelf save NAME` adds one)")


def alias_history_table(moves: list[AliasMove]) -> Table:
    """The ``alias NAME@ALIAS --history`` table."""
    return Table.of(moves, empty="no history for this alias")


def _loaded(path: str) -> str:
    return f"loaded into {path}"


def _alias(result: AliasMove | list[AliasMove]) -> str:
    if isinstance(result, list):
        return alias_history_table(result).text()
    if result.version is None:
        return f"removed {result.name}@{result.alias}"
    return f"{result.name}@{result.alias} -> {result.name}:{result.version}"


def _gc(report: GcReport) -> str:
    blobs = plural(report.removed_blobs, "blob")
    temps = plural(report.removed_temporary, "temporary file")
    kept = plural(report.kept_blobs, "blob")
    summaries = f"the listing summaries of {plural(report.repaired_summaries, 'version')}"
    if report.dry_run:
        mend = f"; would repair {summaries}" if report.repaired_summaries else ""
        return (
            f"would remove {blobs} ({format_size(report.freed_bytes)}) and {temps}; "
            f"{kept} in use{mend} (dry run: nothing removed)"
        )
    evaluations = (
        f"; removed {plural(report.removed_evaluations, 'evaluation')} of deleted versions"
        if report.removed_evaluations
        else ""
    )
    mend = f"; repaired {summaries}" if report.repaired_summaries else ""
    return (
        f"removed {blobs}, freed {format_size(report.freed_bytes)}; removed {temps}; "
        f"kept {kept} in use{mend}{evaluations}"
    )


def _fsck(report: FsckReport) -> str:
    checked = (
        f"{plural(report.checked_blobs, 'blob')} in {plural(report.checked_versions, 'version')}"
    )
    stale = (
        f"listing summaries out of date for {plural(report.stale_summaries, 'version')} "
        "(a save or delete stopped half way; `modelshelf gc` repairs them)"
        if report.stale_summaries
        else ""
    )
    if report.ok:
        extra = (
            f" ({plural(report.unreferenced_blobs, 'unreferenced blob')}; `modelshelf gc` "
            "removes them)"
            if report.unreferenced_blobs
            else ""
        )
        return f"OK: checked {checked}{extra}" + (f"\n{stale}" if stale else "")
    lines = [f"damaged blob {d} used by {', '.join(refs)}" for d, refs in report.damaged.items()]
    lines += [f"missing blob {d} used by {', '.join(refs)}" for d, refs in report.missing.items()]
    lines += [f"unreadable manifest {key}: {why}" for key, why in report.bad_manifests.items()]
    lines += [stale] if stale else []
    lines.append(
        f"FAILED: {len(report.damaged)} damaged, {len(report.missing)} missing, "
        f"{plural(len(report.bad_manifests), 'unreadable manifest')}; checked {checked}"
    )
    return "\n".join(lines)


TEXT_VIEWS: dict[str, Callable[[Any], str]] = {
    "save": _saved,
    "ls": lambda models: models_table(models).text(),
    "versions": lambda listing: listing.card().text(),
    "show": lambda version: version.card().text(),
    "load": _loaded,
    "rm": _deleted,
    "alias": _alias,
    "diff": lambda diff: diff.card().text(),
    "gc": _gc,
    "fsck": _fsck,
}


# Only where the JSON is not simply the result's data.
JSON_VIEWS: dict[str, Callable[[Any], Any]] = {"load": lambda path: {"path": path}}


# The view that fits a result when the caller does not say (first match wins), and the view
# of a list of one type.
BY_TYPE: list[tuple[type, str]] = [
    (ModelVersion, "show"),
    (VersionListing, "versions"),
    (AliasMove, "alias"),
    (ModelDiff, "diff"),
    (GcReport, "gc"),
    (FsckReport, "fsck"),
    (str, "load"),
]
LISTED: dict[type, str] = {ModelSummary: "ls", AliasMove: "alias"}
