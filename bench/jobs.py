"""Benchmark jobs against the bare papermill CLI; rewrite the Jobs section of BENCHMARKS.md.

Run with ``make bench`` or ``.venv/bin/python bench/jobs.py [--runs 5]``. Both sides execute
the same trivial notebook in a fresh python3 kernel; the job also snapshots the notebook,
runs it from a detached runner, keeps the executed notebook and saves the output folder as
a model. Runs alternate between the two, after one discarded warm-up of each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from _common import REPO, fmt_s, machine, median, replace_section, revision, row, table, today
from modelshelf import Shelf
from modelshelf.core.jobs import JobManager

HEADING = "## Jobs (bench/jobs.py)"


def trivial_notebook(path: Path) -> None:
    """A parameterised notebook whose first cell records when it started running."""
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("marker = ''")
    params.metadata["tags"] = ["parameters"]
    first = nbformat.v4.new_code_cell(
        "import time\nif marker:\n    open(marker, 'w').write(repr(time.time()))"
    )
    book.cells = [params, first, nbformat.v4.new_code_cell("x = 1 + 1")]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, path)


def run_papermill(notebook: Path, out: Path) -> float:
    papermill = Path(sys.executable).with_name("papermill")
    start = time.perf_counter()
    subprocess.run(
        [str(papermill), str(notebook), str(out / "out.ipynb"), "--no-progress-bar"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def run_job(jobs: JobManager, notebook: Path, out: Path) -> tuple[float, float]:
    """Wall time of submit + wait, and the time from submit to the first cell running."""
    marker = out / "first-cell"
    start_wall = time.time()
    start = time.perf_counter()
    job = jobs.submit(notebook, name="bench", parameters={"marker": str(marker)}).wait()
    elapsed = time.perf_counter() - start
    if job.status != "succeeded":
        raise SystemExit(f"the benchmark job failed: {job.error}\n{job.logs()}")
    return elapsed, float(marker.read_text()) - start_wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-jobs-") as work:
        root = Path(work)
        os.environ["MODELSHELF_STATE_DIR"] = str(root / "state")
        notebook = root / "trivial.ipynb"
        trivial_notebook(notebook)
        jobs = JobManager(Shelf(root / "store"))
        paper, ours, first_cell = [], [], []
        for i in range(args.runs + 1):
            out = root / f"run{i}"
            out.mkdir()
            order = [0, 1] if i % 2 else [1, 0]
            for side in order:
                if side == 0:
                    seconds = run_papermill(notebook, out)
                    if i:
                        paper.append(seconds)
                else:
                    seconds, to_first = run_job(jobs, notebook, out)
                    if i:  # run 0 warms both up and is discarded
                        ours.append(seconds)
                        first_cell.append(to_first)
            print(f"run {i}: papermill {paper[-1:]}, job {ours[-1:]}", flush=True)
        jobs.close()
    p, o = median(paper), median(ours)
    rows = [
        row(
            "trivial notebook, job vs `papermill` CLI",
            f"median of {args.runs}",
            fmt_s(o),
            fmt_s(p),
            o / p,
            1.2,
        ),
        row("submit to first cell running", f"median of {args.runs}", fmt_s(median(first_cell))),
    ]
    body = "\n".join(
        [
            f"- Command: `make bench` (or `.venv/bin/python bench/jobs.py --runs {args.runs}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
            "",
            table(["measurement", "setup", "modelshelf", "peer", "ratio", "aim", "met"], rows),
            "",
            "- Both run the same 3-cell notebook in a fresh `python3` kernel. The job is"
            " `JobManager.submit(...).wait()` in-process: notebook snapshot, detached runner,"
            " papermill in its own process, executed notebook and log kept in the store, the"
            " output folder saved as the model `Job - bench`. papermill is its CLI as a"
            " subprocess. Runs alternate order after one discarded warm-up of each.",
            f"- papermill: {', '.join(fmt_s(s) for s in paper)}; job: "
            f"{', '.join(fmt_s(s) for s in ours)}; to first cell: "
            f"{', '.join(fmt_s(s) for s in first_cell)}.",
        ]
    )
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
