"""Rich (HTML) and short text views of core objects, for notebooks and terminals.

The core objects' ``_repr_html_`` methods delegate here, so a version, job or deployment
shown in Jupyter is a small table whichever face returned it. Everything here returns plain
strings: no IPython or ipywidgets import, so the core stays usable without them. Every value
that came from a user or a store (names, params, paths, errors) is escaped with
:func:`html.escape`; only this module's own markup is trusted (:class:`Markup`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelshelf.core.sizes import format_duration, format_size, format_time

if TYPE_CHECKING:
    from modelshelf.core.deploy.deployment import Deployment
    from modelshelf.core.jobs.job import Job
    from modelshelf.core.store.catalog import ModelSummary
    from modelshelf.core.store.manifest import ModelVersion

__all__ = [
    "Markup",
    "deployment_html",
    "deployments_html",
    "escape",
    "fields_table",
    "job_html",
    "jobs_html",
    "models_html",
    "summary_html",
    "table_html",
    "text_html",
    "version_html",
    "version_repr",
    "versions_html",
]

_TABLE = '<table class="modelshelf">'
_LEFT = ' style="text-align:left"'  # Jupyter right-aligns cells by default; text reads left


class Markup(str):
    """HTML made by this module: inserted as is, where any other value is escaped."""


def escape(value: Any) -> str:
    """A cell's HTML: Markup as is, strings escaped, None as ``-``, the rest as JSON."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return "-"
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    return html.escape(value, quote=True)


# ---- plain formatting (the CLI face has its own; the core may not import it) -------------------


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _first_line(text: str | None, width: int = 80) -> str:
    lines = (text or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= width else first[: width - 3] + "..."


# ---- building blocks ----------------------------------------------------------------------------


def table_html(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str | None = None,
    more: int = 0,
) -> Markup:
    """A table with a header row; ``more`` rows left out are counted in a last row."""
    parts = [_TABLE]
    if caption:
        parts.append(f"<caption{_LEFT}>{escape(caption)}</caption>")
    parts.append("<thead><tr>")
    parts += [f"<th{_LEFT}>{escape(h)}</th>" for h in headers]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td{_LEFT}>{escape(c)}</td>" for c in row) + "</tr>")
    if more > 0:
        parts.append(
            f'<tr><td colspan="{len(headers)}"{_LEFT}><i>... and {more} more</i></td></tr>'
        )
    parts.append("</tbody></table>")
    return Markup("".join(parts))


def fields_table(fields: Sequence[tuple[str, Any]], *, caption: str | None = None) -> Markup:
    """A two-column table of ``(label, value)`` rows, the labels as row headers."""
    parts = [_TABLE]
    if caption:
        parts.append(f"<caption{_LEFT}>{escape(caption)}</caption>")
    parts.append("<tbody>")
    for label, value in fields:
        parts.append(f"<tr><th{_LEFT}>{escape(label)}</th><td{_LEFT}>{escape(value)}</td></tr>")
    parts.append("</tbody></table>")
    return Markup("".join(parts))


def _mapping(values: Mapping[str, Any]) -> Markup:
    """``key = value`` lines; strings bare, other values as JSON (as the CLI prints them)."""
    lines = [
        f"<code>{escape(k)}</code> = {escape(v if isinstance(v, str) else json.dumps(v))}"
        for k, v in values.items()
    ]
    return Markup("<br>".join(lines))


def text_html(text: str) -> Markup:
    """Preformatted text (a log, a report) as HTML."""
    return Markup(f"<pre>{html.escape(text)}</pre>")


def _link(url: str | None) -> Markup | str | None:
    if url and url.startswith(("http://", "https://")):
        return Markup(f'<a href="{escape(url)}" target="_blank">{escape(url)}</a>')
    return url


def _limited(items: Sequence[Any], max_rows: int | None) -> tuple[Sequence[Any], int]:
    if max_rows is None or max_rows <= 0 or len(items) <= max_rows:
        return items, 0
    return items[:max_rows], len(items) - max_rows


# ---- model versions -----------------------------------------------------------------------------


def version_repr(version: ModelVersion) -> str:
    """``<ModelVersion churn:3: 2 files, 1.2 MB>``: short, for terminals and papermill logs."""
    size = format_size(version.size)
    return f"<ModelVersion {version.ref}: {_files(version.file_count)}, {size}>"


def _dataset(dataset: Mapping[str, Any]) -> Any:
    if "sha256" not in dataset:
        return dict(dataset)
    return (
        f"{dataset.get('ref', '?')} (sha256 {str(dataset['sha256'])[:12]}, "
        f"{format_size(int(dataset.get('size', 0)))}, {_files(int(dataset.get('file_count', 0)))})"
    )


def _job(job: Mapping[str, Any]) -> str:
    text = f"{job.get('name', '?')} ({job.get('id', '?')})"
    if int(job.get("workers") or 1) > 1:
        text += f", worker {job.get('worker')} of {job.get('workers')}"
    return text


def version_html(version: ModelVersion) -> Markup:
    """One version: what it holds and its lineage (parent, dataset, job, notebook, params)."""
    fields: list[tuple[str, Any]] = [
        ("version", version.ref),
        ("created", format_time(version.created_at)),
        ("size", f"{format_size(version.size)} ({_files(version.file_count)})"),
        ("source", version.source or None),
    ]
    optional: list[tuple[str, Any]] = [
        ("parent", version.parent),
        ("dataset", _dataset(version.dataset) if version.dataset else None),
        ("job", _job(version.job) if version.job else None),
        ("notebook", version.notebook),
        ("params", _mapping(version.params) if version.params else None),
        ("metrics", _mapping(version.metrics) if version.metrics else None),
        ("tags", ", ".join(version.tags) or None),
        ("message", version.message),
    ]
    # Unset lineage is left out: the table shows what was recorded, not a form to fill.
    fields += [(label, value) for label, value in optional if value]
    files = table_html(
        ("path", "size", "sha256"),
        [(f.path, format_size(f.size), f.sha256[:12]) for f in version.files],
    )
    return Markup(
        fields_table(fields)
        + f"<details><summary>{escape(_files(version.file_count))}</summary>{files}</details>"
    )


def versions_html(
    versions: Sequence[ModelVersion], aliases: Mapping[str, int], max_rows: int | None = None
) -> Markup:
    """The versions of one model, newest last as ``versions`` lists them, with their aliases."""
    shown, more = _limited(versions, max_rows)
    rows = [
        (
            v.version,
            format_time(v.created_at),
            format_size(v.size),
            v.file_count,
            _mapping(v.metrics),
            _first_line(v.message),
            ", ".join(sorted(a for a, n in aliases.items() if n == v.version)),
        )
        for v in shown
    ]
    headers = ("version", "created", "size", "files", "metrics", "message", "aliases")
    caption = versions[0].name if versions else None
    return table_html(headers, rows, caption=caption, more=more)


def summary_html(summary: ModelSummary) -> Markup:
    """One model of a listing."""
    return models_html([summary])


def models_html(models: Sequence[ModelSummary], max_rows: int | None = None) -> Markup:
    """The models of a store: name, newest version, count, last update."""
    if not models:
        return text_html("no models yet")
    shown, more = _limited(models, max_rows)
    rows = [(m.name, m.latest, m.versions, format_time(m.updated_at)) for m in shown]
    return table_html(("name", "latest", "versions", "updated"), rows, more=more)


# ---- jobs ---------------------------------------------------------------------------------------


def job_html(job: Job) -> Markup:
    """One job: status, notebook, parameters, inputs and the models it saved."""
    spec = job.spec
    fields: list[tuple[str, Any]] = [
        ("job", f"{job.name} ({job.id})"),
        ("status", job.status),
        ("elapsed", format_duration(job.elapsed)),
        ("notebook", spec.notebook),
        ("parameters", _mapping(spec.parameters) if spec.parameters else None),
    ]
    optional: list[tuple[str, Any]] = [
        ("input model", spec.model),
        ("input data", spec.data),
        ("workers", f"{spec.workers} ({spec.executor})" if spec.workers > 1 else None),
        ("outputs", ", ".join(job.outputs)),
        ("error", _first_line(job.error, 200) if job.error else None),
    ]
    fields += [(label, value) for label, value in optional if value]
    return fields_table(fields)


def jobs_html(jobs: Sequence[Job], max_rows: int | None = None) -> Markup:
    """Jobs, newest first as ``jobs`` lists them."""
    if not jobs:
        return text_html("no jobs")
    shown, more = _limited(jobs, max_rows)
    rows = [
        (j.id, j.name, j.status, format_duration(j.elapsed), ", ".join(j.outputs) or "-")
        for j in shown
    ]
    return table_html(("id", "name", "status", "elapsed", "outputs"), rows, more=more)


# ---- deployments --------------------------------------------------------------------------------


def deployment_html(deployment: Deployment) -> Markup:
    """One deployment: mode, status, URL, the versions it serves, and why it failed."""
    fields: list[tuple[str, Any]] = [
        ("deployment", deployment.name),
        ("mode", deployment.mode),
        ("status", deployment.status),
        ("url", _link(deployment.url)),
        ("models", ", ".join(deployment.refs) or None),
        ("workers", deployment.workers),
    ]
    if deployment.error:
        fields.append(("error", deployment.error))
    return fields_table(fields)


def deployments_html(deployments: Sequence[Deployment], max_rows: int | None = None) -> Markup:
    """Deployments, as ``deployments`` lists them."""
    if not deployments:
        return text_html("no deployments")
    shown, more = _limited(deployments, max_rows)
    rows = [(d.name, d.mode, d.status, _link(d.url), ", ".join(d.refs), d.workers) for d in shown]
    return table_html(("name", "mode", "status", "url", "models", "workers"), rows, more=more)
