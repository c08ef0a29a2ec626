"""``%job``: real notebooks in real kernels (papermill), kept to two short jobs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from magic_helpers import magics_of

from modelshelf.core.jobs import Job
from modelshelf.magics.results import CommandResult, Listing

DATA = Path(__file__).parent.parent / "data"
TRAIN, SLEEPS = DATA / "train.ipynb", DATA / "sleeps.ipynb"


@pytest.fixture
def jobs_ip(ip):
    """The shell; afterwards no job of the test is left running (a failed test included)."""
    yield ip
    for job in magics_of(ip).jobs.list():
        if not job.finished:
            job.cancel()


def test_run_wait_then_ls_show_logs_wait_cancel_prune(jobs_ip, capsys) -> None:
    ip = jobs_ip
    ip.run_cell(f"job = %job run {TRAIN} --name trained -p epochs 3 -p label x --wait")
    job = ip.user_ns["job"]
    assert isinstance(job, Job)
    assert (job.status, job.outputs) == ("succeeded", ["Job - trained:1"])
    assert repr(job) == f"<Job trained {job.id}: succeeded -> Job - trained:1>"
    html = job._repr_html_()
    assert '<td style="text-align:left">succeeded</td>' in html
    assert "epochs = 3" in html and "label = x" in html

    listed = ip.run_line_magic("job", "ls")
    assert isinstance(listed, Listing) and [j.id for j in listed] == [job.id]
    assert re.search(rf"^{job.id}\s+trained\s+succeeded", repr(listed), re.M)
    assert job.id in listed._repr_html_()
    assert list(ip.run_line_magic("job", "ls --status running")) == []

    shown = ip.run_line_magic("job", f"show {job.id}")
    assert isinstance(shown, Job) and shown.spec.parameters["epochs"] == 3

    log = ip.run_line_magic("job", f"logs {job.id}")
    assert isinstance(log, CommandResult) and "trained weight=1.5 worker=1/1" in repr(log)
    assert "<pre>" in log._repr_html_() and log.job.id == job.id
    capsys.readouterr()
    assert ip.run_line_magic("job", f"logs {job.id} --follow") is None
    assert "trained weight=1.5" in capsys.readouterr().out  # printed as it came

    assert ip.run_line_magic("job", f"wait {job.id} --timeout 5").status == "succeeded"
    assert ip.run_line_magic("job", f"cancel {job.id}").status == "succeeded"  # had ended
    pruned = ip.run_line_magic("job", "prune --older-than 7d")
    assert repr(pruned) == "no jobs ended more than 7d ago" and pruned.removed == []

    # The job's model carries its lineage, shown by %model show.
    model = ip.run_line_magic("model", "show 'Job - trained'")
    assert model.job["id"] == job.id and model.params["epochs"] == 3
    assert f"trained ({job.id})" in model._repr_html_()


def test_run_returns_at_once_and_the_job_stays_usable(jobs_ip) -> None:
    ip = jobs_ip
    job = ip.run_line_magic("job", f"run {SLEEPS} -p seconds 60")
    assert isinstance(job, Job) and job.status in ("queued", "running")
    cancelled = ip.run_line_magic("job", f"cancel {job.id}")
    assert cancelled.status == "cancelled"
    # The Job returned earlier still reads its record: the magics keep their JobManager.
    assert job.refresh().status == "cancelled"
    assert job.wait(timeout=30).finished


def test_job_run_takes_the_pipeline_grammar_and_model_show_draws_the_score(
    jobs_ip, tmp_path
) -> None:
    package, data = tmp_path / "pkg", tmp_path / "data"
    package.mkdir()
    data.mkdir()
    (data / "rows.txt").write_text("1 2 3")
    (package / "train.py").write_text(
        "import os\n"
        "class Main:\n"
        "    def __init__(self): self.n = 0\n"
        "    def process_data(self, input_directory):\n"
        "        src = os.path.join(input_directory, 'rows.txt')\n"
        "        dst = os.path.join(os.environ['test_data_directory'], 'rows.txt')\n"
        "        open(dst, 'w').write(open(src).read())\n"
        "    def train(self, training_directory):\n"
        "        self.n = len(open(os.path.join(training_directory, 'rows.txt')).read().split())\n"
        "    def evaluate(self, evaluation_directory):\n"
        "        return self.n / 4\n"
        "    def save(self): open('n.txt', 'w').write(str(self.n))\n"
    )
    ip = jobs_ip
    job = ip.run_line_magic("job", f"run {package} --pipeline full --data {data} --wait")
    assert (job.status, job.outputs) == ("succeeded", ["Job - pkg:1"]), job.logs()
    assert "full (uipath)" in job._repr_html_()
    model = ip.run_line_magic("model", "show 'Job - pkg:1'")
    assert model.metrics == {"score": 0.75}
    assert [(e.score, e.pipeline) for e in model.evaluations] == [(0.75, "full")]
    assert "evaluations (1)" in model._repr_html_()
