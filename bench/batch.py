"""Benchmark batch on Dask: 4 worker processes against 1, over sleep-bound objects.

Run with `make bench` or `.venv/bin/python bench/batch.py [--objects 400] [--sleep 0.05]`.
One LocalCluster of 4 worker processes (one thread each) runs the same batch sharded across
all 4 and across 1 (``shards=1``), each model call one object at a time (``workers=1``);
the same batch on this machine, one thread, is the reference for what the executor costs.
Rewrites the "Batch on Dask" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import REPO, fmt_s, machine, median, replace_section, revision, row, table, today
from modelshelf import Shelf
from modelshelf.core.deploy.batch import BatchReport, batch
from serve import at_least

HEADING = "## Batch on Dask (bench/batch.py)"
DASK_WORKERS = 4
AIM = 3.5

# Each call sleeps as long as config.json says: a model waiting on a device or a remote
# service, so that the figure is the executor's, not the CPU's (2 cores here).
SLEEPING_SERVE = """
import json
import os
import time


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as fh:
        return json.load(fh)


def predict(model, data):
    time.sleep(model["sleep"])
    return {"y": 2 * data["x"] + 1}
"""


def sleeping_model(folder: Path, seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serve.py").write_text(SLEEPING_SERVE)
    (folder / "config.json").write_text(json.dumps({"sleep": seconds}))
    return folder


def write_inputs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"{n:05d}.json").write_text(json.dumps({"x": n}))


def timed_batch(run: Callable[[], BatchReport], count: int, out: Path) -> float:
    """Wall seconds of one batch run, after checking that it did every object right."""
    start = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - start
    if (report.processed, report.failed) != (count, 0):
        raise SystemExit(f"the benchmark batch went wrong: {report}")
    answer = json.loads((out / f"{count - 1:05d}.json.out").read_text())
    if answer != {"y": 2 * (count - 1) + 1}:
        raise SystemExit(f"wrong answer from the benchmark batch: {answer}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    from distributed import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=400)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds per model call")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"dask4": [], "dask1": [], "local": []}
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-batch-") as work:
        root = Path(work)
        # Set before the cluster starts: its worker processes inherit it.
        os.environ["MODELSHELF_STATE_DIR"] = str(root / "state")
        # A local folder is "shared" here: the LocalCluster's workers run on this machine.
        shelf = Shelf(root / "store", shared=True)
        shelf.save("sleeping", sleeping_model(root / "model", args.sleep))
        write_inputs(root / "in", args.objects)
        write_inputs(root / "warm", DASK_WORKERS * 2)
        with LocalCluster(
            n_workers=DASK_WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster:

            def run(side: str, source: Path, out: Path) -> BatchReport:
                if side == "local":
                    return batch(shelf, "sleeping", str(source), str(out), workers=1)
                return batch(
                    shelf, "sleeping", str(source), str(out), workers=1, executor="dask",
                    scheduler=cluster.scheduler_address, shards=int(side[-1]),
                )  # fmt: skip

            # Discarded: every worker process imports modelshelf and the model's code once.
            run("dask4", root / "warm", root / "warm-out")
            for i in range(args.runs):
                order = ["dask4", "dask1", "local"] if i % 2 == 0 else ["local", "dask1", "dask4"]
                for side in order:
                    out = root / f"out-{i}-{side}"
                    seconds = timed_batch(partial(run, side, root / "in", out), args.objects, out)
                    times[side].append(seconds)
                    print(f"run {i}: {side} {seconds:.2f} s", flush=True)
        shelf.close()
    load_after = os.getloadavg()
    d4, d1, local = (median(times[k]) for k in ("dask4", "dask1", "local"))
    ideal = args.objects * args.sleep
    setup = f"{args.objects} objects, {args.sleep * 1000:g} ms each; median of {args.runs}"
    rows = [
        at_least(
            f"{DASK_WORKERS} Dask worker processes vs 1, objects/s",
            setup,
            f"{args.objects / d4:.1f} obj/s",
            f"{args.objects / d1:.1f} obj/s",
            d1 / d4,
            AIM,
        ),
        row(
            f"{DASK_WORKERS} Dask workers, wall time vs the sleeps alone / {DASK_WORKERS}",
            setup,
            fmt_s(d4),
            fmt_s(ideal / DASK_WORKERS),
            d4 / (ideal / DASK_WORKERS),
        ),
        row("1 Dask worker vs this machine (1 thread)", setup, fmt_s(d1), fmt_s(local), d1 / local),
    ]
    header = ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"]
    runs = "; ".join(f"{k}: {', '.join(fmt_s(s) for s in v)}" for k, v in times.items())
    body = "\n".join(
        [
            f"- Command: `make bench` (or `.venv/bin/python bench/batch.py --objects "
            f"{args.objects} --sleep {args.sleep:g} --runs {args.runs}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}; load average "
            f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (a shared machine: other "
            "work ran meanwhile).",
            "",
            table(header, rows),
            "",
            f"- One `LocalCluster` of {DASK_WORKERS} worker processes, one thread each. The "
            "batch is `batch(shelf, ref, input, output, workers=1, executor='dask', "
            f"shards=N)`: the objects are split into N shards, one task per worker, each "
            "loading the model once and calling it one object at a time; `shards=1` is the "
            "single worker. Every call sleeps (a model waiting on a device or a remote store), "
            "so the figure is the executor's, not this machine's 2 cores'. Timed: the whole "
            "`batch()` call, from listing the input to the merged failures list, including "
            "connecting to the scheduler and loading the model on every worker.",
            "- The store, input and output are local folders, the store marked `shared` (the "
            "workers run on this machine); tests/deploy/test_batch_dask.py runs the same on a "
            "moto S3 server. One discarded warm-up run lets every worker import modelshelf "
            "first. Each run writes a fresh output folder and checks every object was done "
            "and one answer is right.",
            f"- Runs: {runs}.",
        ]
    )
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
