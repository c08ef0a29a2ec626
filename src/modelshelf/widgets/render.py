"""HTML views of the core's results (a version, a diff), escaped, for HTML widgets."""

from __future__ import annotations

import html
import json
from typing import Any

from modelshelf.core.sizes import format_size
from modelshelf.core.store.diff import ModelDiff
from modelshelf.core.store.manifest import ModelVersion
from modelshelf.widgets._common import table_html


def value_text(value: Any) -> str:
    """A param or metric value as one short line (strings bare, the rest as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _section(title: str, body: str) -> str:
    return f"<h4 style='margin: 0.6em 0 0.2em 0'>{html.escape(title)}</h4>{body}"


def _lineage_rows(version: ModelVersion) -> list[tuple[str, Any]]:
    """Where the version came from: its parent, the job and notebook, the data, the source."""
    rows: list[tuple[str, Any]] = [("parent", version.parent or "none")]
    if version.job:
        job = version.job
        rows.append(("job", f"{job.get('name', '?')} ({job.get('id', '?')})"))
        if job.get("parameters"):
            rows.append(("job parameters", value_text(job["parameters"])))
        if job.get("model"):
            rows.append(("job input model", job["model"]))
    if version.notebook:
        rows.append(("notebook", version.notebook))
    if version.dataset:
        data = version.dataset
        rows.append(
            (
                "dataset",
                f"{data.get('ref', '?')} (sha256 {str(data.get('sha256', ''))[:12]}, "
                f"{format_size(int(data.get('size') or 0))}, {data.get('file_count', '?')} files)",
            )
        )
    rows.append(("source", version.source or "-"))
    return rows


def version_html(
    version: ModelVersion, aliases: list[str] | None = None, holders: list[str] | None = None
) -> str:
    """A version's metadata, params, metrics and lineage.

    ``aliases`` pointing at it and the ``holders`` of leases on it are shown because they
    are what stops a delete.
    """
    meta: list[tuple[str, Any]] = [
        ("ref", version.ref),
        ("created", version.created_at),
        ("size", f"{format_size(version.size)} in {version.file_count} files"),
        ("message", version.message or "-"),
        ("tags", ", ".join(version.tags) or "-"),
        ("aliases", ", ".join(sorted(aliases or [])) or "-"),
        ("in use by", ", ".join(sorted(holders or [])) or "nobody"),
    ]
    parts = [
        _section("Version", table_html(meta)),
        _section(
            "Params",
            table_html((k, value_text(v)) for k, v in version.params.items())
            if version.params
            else "<i>none</i>",
        ),
        _section(
            "Metrics",
            table_html((k, value_text(v)) for k, v in version.metrics.items())
            if version.metrics
            else "<i>none</i>",
        ),
        _section("Lineage", table_html(_lineage_rows(version))),
        _section("Files", _files_html(version)),
    ]
    return "".join(parts)


def _files_html(version: ModelVersion, limit: int = 50) -> str:
    # A model may hold thousands of files: list the first ones, say how many are left.
    rows = [(f.path, format_size(f.size)) for f in sorted(version.files, key=lambda f: f.path)]
    more = len(rows) - limit
    tail = f"<i>... and {more} more</i>" if more > 0 else ""
    return table_html(rows[:limit]) + tail


def _pairs_html(pairs: dict[str, tuple[Any, Any]], a: str, b: str) -> str:
    changed = {k: v for k, v in pairs.items() if v[0] != v[1]}
    if not changed:
        return "<i>the same</i>"
    head = (
        f"<tr><th></th><th style='text-align: left'>{html.escape(a)}</th>"
        f"<th style='text-align: left'>{html.escape(b)}</th></tr>"
    )
    rows = "".join(
        f"<tr><th style='text-align: left; padding-right: 1em'>{html.escape(k)}</th>"
        f"<td style='padding-right: 1em'>{html.escape(value_text(old))}</td>"
        f"<td>{html.escape(value_text(new))}</td></tr>"
        for k, (old, new) in changed.items()
    )
    return f"<table>{head}{rows}</table>"


def diff_html(diff: ModelDiff) -> str:
    """Files added, removed and changed from ``diff.a`` to ``diff.b``; params and metrics
    that differ, side by side."""
    title = f"{diff.a} → {diff.b}"
    if diff.same_files:
        files = "<i>same files</i>"
    else:
        marks = (("added", "+", diff.added), ("removed", "-", diff.removed))
        items = [
            f"<li><code>{sign} {html.escape(path)}</code> ({kind})</li>"
            for kind, sign, paths in marks
            for path in paths
        ]
        items += [f"<li><code>~ {html.escape(p)}</code> (changed)</li>" for p in diff.changed]
        files = f"<ul style='margin: 0'>{''.join(items)}</ul>"
    return (
        _section(f"Diff {title}", files)
        + _section("Params", _pairs_html(diff.params, diff.a, diff.b))
        + _section("Metrics", _pairs_html(diff.metrics, diff.a, diff.b))
    )
