"""Batch inference: real models from a real shelf over local folders and S3 (moto)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from async_batch_helpers import PICKY_SERVE, linear_model, rounded, serve_model

from modelshelf import Shelf, SourceError
from modelshelf.core.deploy.batch import (
    FAILURES,
    BatchReport,
    batch,
    batch_job_name,
    content_type_for,
    submit_batch_job,
)
from modelshelf.core.jobs import JobManager
from modelshelf.core.names import validate_name


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        store.save("linear", linear_model(tmp_path / "linear"))
        store.save("picky", serve_model(tmp_path / "picky", PICKY_SERVE))
        yield store


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def outputs(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path (temporary files would show up too)."""
    found = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = Path(base, name)
            found[path.relative_to(folder).as_posix()] = path.read_text()
    return found


INPUTS = {
    "a.json": "[[1.0], [2.0]]",
    "sub/b.csv": "1\n2\n",
    "c.jsonl": "[[1.0]]\n\n[[3.0]]\n",
}


def test_content_types_follow_the_extension():
    assert content_type_for("x/y.JSON") == "application/json"
    assert content_type_for("y.csv") == "text/csv"
    assert content_type_for("y.csv", per_line=True) == "text/csv"
    assert content_type_for("y.jsonl", per_line=True) == "application/json"
    assert content_type_for("y.parquet") == "application/octet-stream"


def test_batch_over_a_local_folder_splitting_lines(shelf, tmp_path):
    source = write_files(tmp_path / "in", INPUTS)
    seen = []
    report = batch(
        shelf, "linear", str(source), str(tmp_path / "out"), split_lines=True, progress=seen.append
    )
    assert report == BatchReport(3, 3, 0, 0, str(tmp_path / "out"))
    found = outputs(tmp_path / "out")
    assert sorted(found) == ["a.json.out", "c.jsonl.out", "sub/b.csv.out"]
    assert rounded(json.loads(found["a.json.out"])) == [3.0, 5.0]
    # One result per line, in order (the blank line is skipped).
    lines = [rounded(json.loads(line)) for line in found["c.jsonl.out"].splitlines()]
    assert lines == [[3.0], [7.0]]
    lines = [rounded(json.loads(line)) for line in found["sub/b.csv.out"].splitlines()]
    assert lines == [[3.0], [5.0]]
    assert seen[-1].phase == "batch"
    assert (seen[-1].done_files, seen[-1].total_files) == (3, 3)
    assert seen[-1].done_bytes == seen[-1].total_bytes == sum(len(t) for t in INPUTS.values())


def test_without_splitting_a_csv_is_one_request(shelf, tmp_path):
    source = write_files(tmp_path / "in", {"rows.csv": "1\n2\n4\n"})
    report = batch(shelf, "linear", str(source), str(tmp_path / "out"), workers=1)
    assert (report.processed, report.failed) == (1, 0)
    assert rounded(json.loads((tmp_path / "out" / "rows.csv.out").read_text())) == [3.0, 5.0, 9.0]


def test_batch_over_s3_prefixes_with_the_shelf_on_s3(tmp_path, s3_bucket):
    bucket, options, s3 = s3_bucket
    with Shelf(f"s3://{bucket}/models", storage_options=options) as remote:
        remote.save("linear", linear_model(tmp_path / "linear"))
        for key, text in INPUTS.items():
            s3.put_object(Bucket=bucket, Key=f"in/{key}", Body=text.encode())
        report = batch(
            remote, "linear:1", f"s3://{bucket}/in/", f"s3://{bucket}/out/", split_lines=True
        )
        assert (report.total, report.processed, report.skipped, report.failed) == (3, 3, 0, 0)
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
        assert sorted(o["Key"] for o in listed) == [
            "out/a.json.out",
            "out/c.jsonl.out",
            "out/sub/b.csv.out",
        ]
        body = s3.get_object(Bucket=bucket, Key="out/a.json.out")["Body"].read()
        assert rounded(json.loads(body)) == [3.0, 5.0]
        again = batch(remote, "linear", f"s3://{bucket}/in", f"s3://{bucket}/out")
        assert (again.processed, again.skipped) == (0, 3)


def test_a_second_run_resumes_and_redoes_only_what_is_missing(shelf, tmp_path):
    source = write_files(tmp_path / "in", {f"{n}.json": f"[[{n}.0]]" for n in range(5)})
    out = tmp_path / "out"
    assert batch(shelf, "linear", str(source), str(out)).processed == 5
    first = outputs(out)

    again = batch(shelf, "linear", str(source), str(out))
    assert (again.total, again.processed, again.skipped, again.failed) == (5, 0, 5, 0)

    (out / "3.json.out").unlink()
    (out / "1.json.out").write_text("kept as it is")  # done is done: never rewritten
    third = batch(shelf, "linear", str(source), str(out))
    assert (third.processed, third.skipped) == (1, 4)
    assert outputs(out) == {**first, "1.json.out": "kept as it is"}  # no temporary files


def test_a_failing_object_is_listed_and_the_others_go_on(shelf, tmp_path):
    source = write_files(
        tmp_path / "in",
        {
            "ok1.json": '{"v": 1}',
            "bad.json": '{"bad": true}',
            "ok2.json": '{"v": 2}',
            "rows.jsonl": '{"v": 3}\n{"bad": 1}\n',
        },
    )
    out = tmp_path / "out"
    report = batch(shelf, "picky", str(source), str(out), split_lines=True)
    assert (report.total, report.processed, report.failed) == (4, 2, 2)
    assert sorted(outputs(out)) == [FAILURES, "ok1.json.out", "ok2.json.out"]
    failures = {r["key"]: r for r in map(json.loads, (out / FAILURES).read_text().splitlines())}
    assert sorted(failures) == ["bad.json", "rows.jsonl"]
    assert "RuntimeError: cannot score this row" in failures["bad.json"]["error"]
    assert "serve.py" in failures["bad.json"]["traceback"]
    assert failures["rows.jsonl"]["error"].startswith("line 2: ")

    # A resume retries the failures only; once they are gone, so is the list.
    again = batch(shelf, "picky", str(source), str(out), split_lines=True)
    assert (again.processed, again.skipped, again.failed) == (0, 2, 2)
    (source / "bad.json").unlink()
    (source / "rows.jsonl").write_text('{"v": 3}\n')
    last = batch(shelf, "picky", str(source), str(out), split_lines=True)
    assert (last.total, last.processed, last.skipped, last.failed) == (3, 1, 2, 0)
    assert not (out / FAILURES).exists()


def test_an_output_folder_inside_the_input_is_not_read_as_input(shelf, tmp_path):
    source = write_files(tmp_path / "in", {"a.json": "[[1.0]]"})
    for _ in range(2):
        report = batch(shelf, "linear", str(source), str(source / "results"))
        assert report.total == 1
    with pytest.raises(SourceError, match="does not exist"):
        batch(shelf, "linear", str(tmp_path / "nowhere"), str(tmp_path / "out"))


def test_job_names_are_made_valid():
    assert batch_job_name("iris:3") == "batch iris-3"
    assert batch_job_name("iris@production") == "batch iris-production"
    long = batch_job_name("x" * 128 + ":12")
    validate_name(f"Job - {long}")


def test_a_batch_runs_as_a_notebook_job(shelf, tmp_path):
    source = write_files(tmp_path / "in", {"a.json": "[[1.0]]", "b.jsonl": "[[2.0]]\n[[3.0]]\n"})
    jobs = JobManager(shelf)
    try:
        job = submit_batch_job(jobs, "linear", str(source), str(tmp_path / "out"), split_lines=True)
        assert job.name == "batch linear"
        assert job.spec.parameters["ref"] == "linear:1"  # pinned at submission
        job.wait(120)
        logs = job.logs()
        assert job.status == "succeeded", (job.error, logs)
        assert "BatchReport(total=2, processed=2, skipped=0, failed=0" in logs
        assert job.outputs == []
        found = outputs(tmp_path / "out")
        assert rounded(json.loads(found["a.json.out"])) == [3.0]
        assert found["b.jsonl.out"].count("\n") == 2
        report = json.loads(Path(job.workspace, "artifacts", "batch_report.json").read_text())
        assert report["processed"] == 2
    finally:
        jobs.close()
