"""Benchmark jobs against the bare papermill CLI; rewrite the Jobs section of BENCHMARKS.md.

Run with ``make bench`` or ``.venv/bin/python bench/jobs.py [--runs 5]``. All sides execute
the same trivial notebook in a fresh python3 kernel: the papermill CLI, a cold job and a job
on a warm kernel pool; a job also snapshots the notebook, keeps the executed notebook and
saves the output folder as a model. The order rotates every run, after one discarded round.
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
    out.mkdir()
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
    out.mkdir()
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
        shelf = Shelf(root / "store")
        cold_jobs = JobManager(shelf, kernel_pool=0)
        warm_jobs = JobManager(shelf, kernel_pool=1)
        sides = {"papermill": [], "cold": [], "warm": []}
        first = {"cold": [], "warm": []}
        for i in range(args.runs + 1):
            out = root / f"run{i}"
            out.mkdir()
            for side in _rotated(list(sides), i):
                # Nothing else runs while a side is timed: the pool has replaced the runner
                # the last warm job took (which takes a core for a second or so).
                if not warm_jobs.pool.wait_ready(120):
                    raise SystemExit("the kernel pool did not get ready")
                time.sleep(0.5)
                if side == "papermill":
                    seconds, to_first = run_papermill(notebook, out / side), None
                else:
                    jobs = warm_jobs if side == "warm" else cold_jobs
                    seconds, to_first = run_job(jobs, notebook, out / side)
                if i:  # run 0 warms every side up and is discarded
                    sides[side].append(seconds)
                    if to_first is not None:
                        first[side].append(to_first)
            print(f"run {i}: " + ", ".join(f"{k} {v[-1:]}" for k, v in sides.items()), flush=True)
        cold_jobs.close()
        warm_jobs.close()
    paper, cold, warm = (median(sides[k]) for k in ("papermill", "cold", "warm"))
    first_cold, first_warm = median(first["cold"]), median(first["warm"])
    setup = f"median of {args.runs}"
    rows = [
        row(
            "trivial notebook, job on a warm pool vs `papermill` CLI",
            setup,
            fmt_s(warm),
            fmt_s(paper),
            warm / paper,
            1.0,
        ),
        row(
            "trivial notebook, cold job vs `papermill` CLI",
            setup,
            fmt_s(cold),
            fmt_s(paper),
            cold / paper,
            1.2,
        ),
        row(
            "submit to first cell, warm pool vs cold job",
            setup,
            fmt_s(first_warm),
            fmt_s(first_cold),
            first_warm / first_cold,
            0.15,
            first_warm,
        ),
    ]
    body = "\n".join(
        [
            f"- Command: `make bench` (or `.venv/bin/python bench/jobs.py --runs {args.runs}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
            "",
            table(["measurement", "setup", "modelshelf", "peer", "ratio", "aim", "met"], rows),
            "",
            "- All run the same 3-cell notebook in a fresh `python3` kernel. A job is"
            " `JobManager.submit(...).wait()` in-process: notebook snapshot, runner, papermill,"
            " executed notebook and log kept in the store, the output folder saved as the model"
            " `Job - bench`. Cold: `kernel_pool=0`, a detached runner starts, then an executor"
            " process, then the kernel. Warm pool: `kernel_pool=1`, the job is handed to a"
            " runner started beforehand with its kernel running (used once, then replaced);"
            " the pool is full again before every timed run of any side. papermill is its CLI"
            " as a subprocess. The order of the three rotates every run, after one discarded"
            " warm-up round. The first-cell aim is absolute (150 ms).",
            f"- papermill: {', '.join(fmt_s(s) for s in sides['papermill'])}; cold job: "
            f"{', '.join(fmt_s(s) for s in sides['cold'])}; warm job: "
            f"{', '.join(fmt_s(s) for s in sides['warm'])}.",
            f"- To first cell, cold: {', '.join(fmt_s(s) for s in first['cold'])}; warm: "
            f"{', '.join(fmt_s(s) for s in first['warm'])}.",
        ]
    )
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


def _rotated(items: list[str], i: int) -> list[str]:
    k = i % len(items)
    return items[k:] + items[:k]


if __name__ == "__main__":
    main()
