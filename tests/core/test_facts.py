"""Each object states its facts once: the CLI's text, IPython's plain text and the HTML
all come from the same card, user values are escaped, and unrecorded facts are left out."""

from __future__ import annotations

from IPython.lib.pretty import pretty

from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.deployment_book import DeploymentRecord
from modelshelf.core.facts import Card, Table, first_line, value_text
from modelshelf.core.jobs.job import Job
from modelshelf.core.jobs.job_book import JobRecord
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.store import FileEntry, ModelSummary, ModelVersion, VersionListing

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


def job(**spec_changes) -> Job:
    spec = JobSpec(notebook=EVIL, name=EVIL, parameters={EVIL: 1}, model="m:1", **spec_changes)
    record = JobRecord(
        id="j1",
        name=EVIL,
        status="failed",
        spec=spec.to_dict(),
        workspace="/tmp/ws",
        created_at=0.0,
        started_at=100.0,
        ended_at=175.0,
        error=f"{EVIL}\nsecond line",
        results={"run_summary": {"metrics": {"auc": 0.9}, "status": "failed"}},
        outputs=[EVIL],
    )
    return Job(None, record)  # type: ignore[arg-type]  # facts need no manager


def deployment(**changes) -> Deployment:
    base = {
        "name": EVIL,
        "mode": "realtime",
        "status": "failed",
        "refs": [EVIL],
        "url": 'http://127.0.0.1:1/"onmouseover="x',
        "folder": "/tmp/d",
        "workers": 1,
        "error": EVIL,
        "traceback": "Traceback (most recent call last):\n  boom",
    }
    return Deployment(None, DeploymentRecord(**{**base, **changes}))  # type: ignore[arg-type]


LINEAGE = {
    "parent": "churn:2",
    "params": {"lr": 0.1, "kind": "tree"},
    "metrics": {"auc": 0.91},
    "dataset": {
        "ref": "/data/train",
        "sha256": "0123456789abcdef" * 4,
        "size": 10,
        "file_count": 1,
    },
    "job": {"id": "20250101-000000-abcdef", "name": "nightly", "worker": 1, "workers": 1},
    "notebook": "/work/train.ipynb",
    "tags": ("candidate",),
    "message": "better",
}


def test_a_version_shows_the_same_lineage_as_text_and_html() -> None:
    v = version(**LINEAGE)
    expected = [
        ("ref", "churn:3"),
        ("created", "2025-01-31 12:00:00Z"),
        ("size", "2.1 KB (2 files)"),
        ("parent", "churn:2"),
        ("dataset", "/data/train (sha256 0123456789ab, 10 B, 1 file)"),
        ("job", "nightly (20250101-000000-abcdef)"),
        ("notebook", "/work/train.ipynb"),
        ("tags", "candidate"),
        ("message", "better"),
    ]
    html, text = v._repr_html_(), v.card().text()
    for label, value in expected:
        assert f"<tr>{header(label)}{cell(value)}</tr>" in html, label
        assert any(
            line.startswith(f"{label}:") and line.endswith(value) for line in text.splitlines()
        ), label
    assert f"<tr>{header('params')}{cell('lr = 0.1<br>kind = tree')}</tr>" in html
    assert "lr=0.1, kind=tree" in text and "auc=0.91" in text
    assert "<summary>2 files</summary>" in html
    assert cell("a&amp;b.txt") in html and cell("abababababab") in html
    assert "a&b.txt" in text and "abababababab" in text


def test_ipython_plain_text_is_the_cli_text_not_the_short_repr() -> None:
    """Bug: papermill's executed notebooks kept `<ModelVersion churn:1: 2 files, 37 B>`."""
    v = version(**LINEAGE)
    assert pretty(v) == v.card().text()
    assert "lr=0.1" in pretty(v) and "churn:2" in pretty(v)
    assert repr(v) == "<ModelVersion churn:3: 2 files, 2.1 KB>"  # logs and debuggers
    j = job()
    assert pretty(j) == j.card().text() and "input model:" in pretty(j)
    d = deployment()
    assert pretty(d) == d.card().text() and "traceback:" in pretty(d)


def test_what_was_not_recorded_is_left_out() -> None:
    html, text = version()._repr_html_(), version().card().text()
    for label in ("parent", "dataset", "job", "notebook", "params", "metrics", "message"):
        assert header(label) not in html
        assert f"\n{label}:" not in text


def test_user_values_are_escaped_everywhere() -> None:
    v = version(params={EVIL: EVIL}, metrics={"m": EVIL}, message=EVIL, notebook=EVIL, tags=(EVIL,))
    for html in (v._repr_html_(), job()._repr_html_(), deployment()._repr_html_()):
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    html = deployment()._repr_html_()
    assert '"onmouseover' not in html
    assert 'href="http://127.0.0.1:1/&quot;onmouseover=&quot;x"' in html
    assert "<pre>Traceback (most recent call last):\n  boom</pre>" in html
    listing = Table.of([job(), job()])
    assert "<script>" not in listing.html() and "and 1 more" in listing.html(max_rows=1)


def test_a_job_states_its_error_on_one_line_and_its_run_summary() -> None:
    j = job(timeout=90.0)
    card = j.card()
    assert card.value("elapsed") == "1m 15s" and card.value("timeout") == "1m 30s"
    assert card.value("error") == f"{EVIL} second line"
    text = card.text()
    assert "run summary (_results.json):" in text and "metrics.auc  0.9" in text
    assert j.row() == ("j1", EVIL, "failed", "1m 15s", EVIL)


def test_listings_and_their_empty_text() -> None:
    summary = ModelSummary("churn", 3, 2, 1738324800.0)
    table = Table.of([summary, ModelSummary("iris", 1, 1, None)], empty="no models yet")
    assert f"<tr>{cell('churn')}{cell('3')}{cell('2')}{cell('2025-01-31 12:00:00Z')}</tr>" in (
        table.html()
    )
    assert table.text().splitlines()[0].split() == ["NAME", "LATEST", "VERSIONS", "UPDATED"]
    assert cell("-") in table.html()  # no update time
    assert Table.of([], empty="no models yet").text() == "no models yet"
    assert Table.of([], empty="no models yet").html() == "<pre>no models yet</pre>"
    listing = VersionListing("churn", [version(), version(version=4)], {"production": 4})
    assert cell("production") in listing._repr_html_()
    assert listing.table().text().splitlines()[-1].endswith("production")


def test_one_rule_for_values_and_first_lines() -> None:
    assert value_text(None) == "-" and value_text("x") == "x"
    assert value_text([1, "x"]) == '[1, "x"]' and value_text(True) == "true"
    assert first_line("a" * 100) == "a" * 77 + "..." and first_line(" one\ntwo") == "one"
    assert Card.of([("a", None), ("b", ""), ("c", {}), ("d", 0)]).fields == (("d", 0),)
