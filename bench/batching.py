"""Benchmark dynamic batching: the same model deployed with and without it, side by side.

Run with `make bench` or `.venv/bin/python bench/batching.py [--duration 5] [--runs 3]`. The
model's call costs a fixed 2 ms on its one device (a sleep under a lock: a device takes one
call at a time, whatever the batch) plus a matrix product per row, as models on accelerators
do; its serve.py has
`predict` for one request and `predict_batch` for many. Two real-time deployments of it,
`batch_size=1` and `batch_size=32, max_batch_delay="10ms"`, take the same closed-loop load
(wrk) at 64 connections, then at 1 connection (the lone-request rule: no waiting for a
batch that will not come).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import _loadgen
from _common import REPO, machine, replace_section, revision, row, table, today
from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager
from serve import Target, at_least, load_runs, ms, post, rps

HEADING = "## Dynamic batching (bench/batching.py)"
FEATURES = 64
BATCH_SIZE = 32
DELAY = 0.010
FIXED_SECONDS = 0.002

SERVE_PY = f'''"""bench model: a fixed {FIXED_SECONDS * 1000:g} ms per call, a product per row."""
import threading
import time

import numpy as np

FIXED_SECONDS = {FIXED_SECONDS}
# One device: it takes one call at a time, however many threads call it.
DEVICE = threading.Lock()


def load(model_dir):
    return np.random.default_rng(0).standard_normal(({FEATURES}, 4))


def _call(weights, rows):
    with DEVICE:
        time.sleep(FIXED_SECONDS)
        return (np.asarray(rows, dtype=float) @ weights).tolist()


def predict(model, data):
    return _call(model, data)


def predict_batch(model, payloads):
    rows = [row for data in payloads for row in data]
    out = _call(model, rows)
    answers, at = [], 0
    for data in payloads:
        answers.append(out[at:at + len(data)])
        at += len(data)
    return answers
'''
BODY = json.dumps([[round(0.01 * i, 2) for i in range(FEATURES)]]).encode()
HEADERS = {"Content-Type": "application/json"}
PLAIN, BATCHED = "no batching", f"batch_size={BATCH_SIZE}, max_batch_delay=10ms"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per timed run (5)")
    p.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each (2)")
    p.add_argument("--connections", type=int, default=64, help="concurrent connections (64)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per target (default 3)")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    return p.parse_args(argv)


def targets(deployments: dict[str, object]) -> list[Target]:
    return [Target(name, d.url + "/invocations", {}, d.pid) for name, d in deployments.items()]


def report(args: argparse.Namespace, many: dict[str, Target], one: dict[str, Target]) -> str:
    setup = f"{args.connections} conn., {args.duration:g} s; median of {args.runs}"
    single = f"1 conn., {args.duration:g} s; median of {args.runs}"
    b_rps, p_rps = many[BATCHED].median("rps"), many[PLAIN].median("rps")
    lone_p50, lone_plain = one[BATCHED].median("p50"), one[PLAIN].median("p50")
    # The bound: the batched p99 under load below the delay plus 3x a lone request.
    bound = DELAY + 3 * lone_plain
    b_p99 = many[BATCHED].median("p99")
    rows = [
        at_least(f"batching vs none, requests/s at {args.connections} connections", setup,
                 rps(b_rps), rps(p_rps), b_rps / p_rps, 5.0),
        row(f"batching, p99 at {args.connections} connections vs max_batch_delay + 3x the"
            " lone-request latency", setup, ms(b_p99), ms(bound), b_p99 / bound, 1.0),
        row("batching vs none, p50 latency at 1 connection (the lone-request rule)", single,
            ms(lone_p50), ms(lone_plain), lone_p50 / lone_plain, 1.1),
        row(f"batching vs none, p99 latency at {args.connections} connections", setup,
            ms(b_p99), ms(many[PLAIN].median("p99")), b_p99 / many[PLAIN].median("p99")),
    ]  # fmt: skip
    header = ["measurement", "setup", "batching", "baseline", "ratio", "aim", "met"]
    per_run = [
        [f"{t.name}, {conns}", *(f"{rps(x.rps)}, p50 {ms(x.p50)}, p99 {ms(x.p99)}"
                                 for x in t.loads)]
        for conns, group in ((f"{args.connections} conn.", many), ("1 conn.", one))
        for t in group.values()
    ]  # fmt: skip
    cmd = (f".venv/bin/python bench/batching.py --duration {args.duration:g} --warmup "
           f"{args.warmup:g} --connections {args.connections} --runs {args.runs}")  # fmt: skip
    return "\n".join(
        [
            f"- Command: `make bench` (or `{cmd}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}; load average at"
            f" the start {os.getloadavg()[0]:.2f}.",
            "",
            table(header, rows),
            "",
            f"- Model: `serve.py` whose every call sleeps {FIXED_SECONDS * 1000:g} ms (what a"
            " device or a remote call costs whatever the batch) then multiplies the rows by a"
            f" {FEATURES}x4 matrix (numpy); `predict` answers one request, `predict_batch` many"
            " (their rows stacked into one product). Each request is one row of"
            f" {FEATURES} numbers as JSON.",
            f"- Deployments: `DeploymentManager(shelf).deploy(ref, workers=1)` ({PLAIN}) and the"
            f' same with `batch_size={BATCH_SIZE}, max_batch_delay="10ms"` ({BATCHED}), one'
            " uvicorn worker each, on 127.0.0.1.",
            f"- Load: {_loadgen.tool_version()}, closed loop, {args.connections} keep-alive"
            f" connections then 1, {args.duration:g} s per timed run after a {args.warmup:g} s"
            " warm-up, the targets in turn, the order rotated every run; medians of"
            f" {args.runs} runs. The lone-request latency in the p99 bound is the 1-connection"
            " p50 without batching.",
            "",
            "Per run:",
            "",
            table(["target", *(f"run {i + 1}" for i in range(args.runs))], per_run),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"load generator: {_loadgen.tool_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-batching-") as tmp:
        work = Path(tmp)
        os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
        folder = work / "model"
        folder.mkdir()
        (folder / "serve.py").write_text(SERVE_PY)
        shelf = Shelf(work / "store")
        ref = shelf.save("batched", folder).ref
        manager = DeploymentManager(shelf)
        deployments = {}
        try:
            deployments[PLAIN] = manager.deploy(ref, name="bench-plain", workers=1)
            deployments[BATCHED] = manager.deploy(
                ref, name="bench-batched", workers=1, batch_size=BATCH_SIZE,
                max_batch_delay=DELAY,
            )  # fmt: skip
            for name, deployment in deployments.items():
                if deployment.status != "ready":
                    raise SystemExit(f"{name}: {deployment.logs()[-3000:]}")
                status, answer = post(deployment.url + "/invocations", HEADERS, BODY)
                if status != 200 or len(json.loads(answer)[0]) != 4:
                    raise SystemExit(f"{name} answered {status} {answer[:300]!r}")
            print(f"load at {args.connections} connections:", flush=True)
            many = {t.name: t for t in targets(deployments)}
            load_runs(list(many.values()), args, BODY, HEADERS)
            print("load at 1 connection:", flush=True)
            one = {t.name: t for t in targets(deployments)}
            load_runs(list(one.values()), argparse.Namespace(**{**vars(args), "connections": 1}),
                      BODY, HEADERS)  # fmt: skip
        finally:
            for deployment in deployments.values():
                with contextlib.suppress(Exception):
                    deployment.stop()
            manager.close()
            shelf.close()
    body = report(args, many, one)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
