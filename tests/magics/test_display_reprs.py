"""The HTML reprs of core objects: the expected cells, and every user value escaped."""

from __future__ import annotations

from types import SimpleNamespace

from modelshelf.core import display
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.store import FileEntry, ModelSummary, ModelVersion

EVIL = "<script>alert('x')</script>"


def cell(text: str) -> str:
    return f'<td style="text-align:left">{text}</td>'


def header(text: str) -> str:
    return f'<th style="text-align:left">{text}</th>'


def version(**changes) -> ModelVersion:
    base = {
        "name": "churn",
        "version": 3,
        "created_at": "2025-01-31T12:00:00.000Z",
        "source": "/data/model",
        "files": (FileEntry("model.pkl", 2048, "ab" * 32), FileEntry("a&b.txt", 3, "cd" * 32)),
    }
    return ModelVersion(**{**base, **changes})


def test_version_html_shows_its_lineage() -> None:
    v = version(
        parent="churn:2",
        params={"lr": 0.1, "kind": "tree"},
        metrics={"auc": 0.91},
        dataset={
            "ref": "/data/train",
            "sha256": "0123456789abcdef" * 4,
            "size": 10,
            "file_count": 1,
        },
        job={"id": "20250101-000000-abcdef", "name": "nightly", "worker": 1, "workers": 1},
        notebook="/work/train.ipynb",
        tags=("candidate",),
        message="better",
    )
    html = v._repr_html_()
    for label, value in [
        ("version", "churn:3"),
        ("created", "2025-01-31 12:00:00Z"),
        ("size", "2.1 KB (2 files)"),
        ("parent", "churn:2"),
        ("dataset", "/data/train (sha256 0123456789ab, 10 B, 1 file)"),
        ("job", "nightly (20250101-000000-abcdef)"),
        ("notebook", "/work/train.ipynb"),
        ("params", "<code>lr</code> = 0.1<br><code>kind</code> = tree"),
        ("metrics", "<code>auc</code> = 0.91"),
        ("tags", "candidate"),
        ("message", "better"),
    ]:
        assert f"<tr>{header(label)}{cell(value)}</tr>" in html, label
    assert "<summary>2 files</summary>" in html
    assert cell("a&amp;b.txt") in html and cell("abababababab") in html


def test_version_html_leaves_out_what_was_not_recorded() -> None:
    html = version()._repr_html_()
    for label in ("parent", "dataset", "job", "notebook", "params", "metrics", "message"):
        assert header(label) not in html


def test_user_values_are_escaped() -> None:
    v = version(params={EVIL: EVIL}, metrics={"m": EVIL}, message=EVIL, notebook=EVIL, tags=(EVIL,))
    html = v._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html

    job = SimpleNamespace(
        id="j1",
        name=EVIL,
        status="failed",
        elapsed=75.0,
        outputs=[EVIL],
        error=f"{EVIL}\nsecond line",
        spec=JobSpec(notebook=EVIL, name=EVIL, parameters={EVIL: 1}, model="m:1"),
    )
    html = display.job_html(job)  # type: ignore[arg-type]
    assert "<script>" not in html and cell("1m 15s") in html and header("input model") in html
    assert "second line" not in html  # the first line of an error is enough in a table
    html = display.jobs_html([job, job], max_rows=1)  # type: ignore[list-item]
    assert "<script>" not in html and "and 1 more" in html

    deployment = SimpleNamespace(
        name=EVIL,
        mode="realtime",
        status="ready",
        url='http://127.0.0.1:1/"onmouseover="x',
        refs=[EVIL],
        workers=1,
        error=EVIL,
    )
    html = display.deployment_html(deployment)  # type: ignore[arg-type]
    assert "<script>" not in html and '"onmouseover' not in html
    assert 'href="http://127.0.0.1:1/&quot;onmouseover=&quot;x"' in html
    assert "<script>" not in display.deployments_html([deployment])  # type: ignore[list-item]


def test_listings_and_empty_listings() -> None:
    summary = ModelSummary("churn", 3, 2, 1738324800.0)
    assert cell("churn") in summary._repr_html_()
    html = display.models_html([summary, ModelSummary("iris", 1, 1, None)])
    assert f"<tr>{cell('churn')}{cell('3')}{cell('2')}{cell('2025-01-31 12:00:00Z')}</tr>" in html
    assert cell("-") in html  # no update time
    assert display.models_html([]) == "<pre>no models yet</pre>"
    assert display.jobs_html([]) == "<pre>no jobs</pre>"
    assert display.deployments_html([]) == "<pre>no deployments</pre>"
    html = display.versions_html([version(), version(version=4)], {"production": 4})
    assert "<caption" in html and cell("production") in html


def test_text_views() -> None:
    assert repr(version()) == "<ModelVersion churn:3: 2 files, 2.1 KB>"
    assert display.text_html("a < b\n") == "<pre>a &lt; b\n</pre>"
    assert display.escape(None) == "-"
    assert display.escape([1, "x"]) == "[1, &quot;x&quot;]"
