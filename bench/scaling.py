"""Benchmark workers that scale with the load; rewrite the Scaling section of BENCHMARKS.md.

Run with `make bench` or `.venv/bin/python bench/scaling.py [--connections 16] [--seconds 15]`.
The model's call waits 20 ms on its device (a sleep under a lock, releasing the GIL: a device
takes one call at a time per process, as an accelerator or a remote store does), so one
worker answers about 50 requests/s however many wait. The same closed-loop load (keep-alive
connections, each sending again as soon as answered, every answer checked) goes to a
deployment of one worker, of four, and of `min_workers=1, max_workers=4`, which starts with
one and must reach 3.5x one worker's requests/s within 10 s of the load starting, then
return to one worker once the load stops.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from _common import REPO, machine, replace_section, revision, table, today
from modelshelf import Shelf
from modelshelf.core.deploy.manager import DeploymentManager

HEADING = "## Scaling (bench/scaling.py)"
CALL_SECONDS = 0.020
AIM_RATIO, AIM_SECONDS = 3.5, 10.0
HEADER = ["measurement", "setup", "modelshelf", "baseline", "ratio", "aim", "met"]
SERVE_PY = f'''"""bench model: {CALL_SECONDS * 1000:g} ms on a device taking one call at a time."""
import os
import threading
import time

DEVICE = threading.Lock()


def load(model_dir):
    return None


def predict(model, data):
    with DEVICE:
        time.sleep({CALL_SECONDS})
    return {{"id": data["id"], "pid": os.getpid()}}
'''


class Load:
    """``connections`` clients on keep-alive connections, each sending again as soon as
    answered; the time of every right answer, and every wrong one or failure."""

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        self.ids = itertools.count()
        self.done: list[float] = []  # perf_counter() of each right answer
        self.wrong: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(connections)]  # fmt: skip

    def __enter__(self) -> Load:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)
        self.stopped = time.perf_counter()

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stopping.is_set():
                n = next(self.ids)
                try:
                    answer = client.post("/invocations", json={"id": n})
                    if answer.status_code == 200 and answer.json()["id"] == n:
                        self.done.append(time.perf_counter())
                    else:
                        self.wrong.append(f"{answer.status_code} {answer.text[:200]}")
                except httpx.HTTPError as exc:
                    self.wrong.append(repr(exc))

    def rate(self, start: float, end: float) -> float:
        """Right answers per second between two perf_counter() times."""
        return sum(1 for t in self.done if start <= t < end) / (end - start)


def steady_rate(manager: DeploymentManager, ref: str, workers: int, args) -> float:
    """Requests/s of a fixed number of workers, after a warm-up."""
    deployment = ready(manager.deploy(ref, name=f"bench-{workers}", workers=workers))
    try:
        with Load(deployment.url, args.connections) as load:
            time.sleep(args.warmup)
            start = time.perf_counter()
            time.sleep(args.baseline)
            end = time.perf_counter()
        check(load, f"{workers} worker(s)")
        return load.rate(start, end)
    finally:
        deployment.stop()


def ready(deployment):
    if deployment.status != "ready":
        raise SystemExit(f"{deployment.name}: {deployment.error}\n{deployment.logs()[-3000:]}")
    return deployment


def check(load: Load, what: str) -> None:
    if load.wrong:
        raise SystemExit(f"{what}: {len(load.wrong)} wrong answers, e.g. {load.wrong[:3]}")


def scaling_run(manager: DeploymentManager, ref: str, args) -> dict:
    """The load on a deployment of 1 to 4 workers: answers and workers over time."""
    deployment = ready(manager.deploy(ref, name="bench-scaling", min_workers=1, max_workers=4))
    timeline: list[tuple[float, int, int]] = []  # (perf_counter, serving, starting)
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            census = deployment.census()
            if census is not None:
                timeline.append((time.perf_counter(), census.serving, census.starting))
            watching.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with Load(deployment.url, args.connections) as load:
            time.sleep(args.seconds)
        check(load, "1 to 4 workers")
        deadline = time.perf_counter() + args.down + 60
        while time.perf_counter() < deadline:
            census = deployment.census()
            if (census.serving, census.running, census.retiring) == (1, 1, 0):
                back = time.perf_counter()
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"not back to one worker: {deployment.census()}")
        log = deployment.logs()
    finally:
        watching.set()
        watcher.join()
        deployment.stop()
    return {"load": load, "timeline": timeline, "back": back, "log": log}


def first_reached(load: Load, rate: float) -> float | None:
    """Seconds from the load's start to the end of the first 1-s window at ``rate`` or more."""
    end = load.started + 1.0
    while end <= load.stopped:
        if load.rate(end - 1.0, end) >= rate:
            return end - load.started
        end += 0.1
    return None


def serving_at(timeline: list[tuple[float, int, int]], t: float) -> int:
    seen = [serving for at, serving, _ in timeline if at <= t]
    return seen[-1] if seen else 1


def report(args, single: float, fixed: float, run: dict) -> str:
    load, timeline = run["load"], run["timeline"]
    reached = first_reached(load, AIM_RATIO * single)
    last = min(5.0, args.seconds / 3)
    end_rate = load.rate(load.stopped - last, load.stopped)
    four = next((at - load.started for at, serving, _ in timeline
                 if serving == 4 and at >= load.started), None)  # fmt: skip
    back = run["back"] - load.stopped
    scale_ups = [line.split("scaling up ", 1)[1] for line in run["log"].splitlines()
                 if "scaling up " in line]  # fmt: skip
    met = "yes" if reached is not None and reached <= AIM_SECONDS else "no"
    rows = [
        ["requests/s, 1 worker", f"{args.connections} conn., {args.baseline:g} s",
         f"{single:,.1f} req/s", "-", "-", "-", "-"],
        ["requests/s, 4 workers (fixed)", f"{args.connections} conn., {args.baseline:g} s",
         f"{fixed:,.1f} req/s", f"{single:,.1f} req/s", f"{fixed / single:.2f}x", "-", "-"],
        [f"1 to 4 workers: first second at >= {AIM_RATIO:g}x one worker",
         "from the load's start", "-" if reached is None else f"{reached:.1f} s", "-", "-",
         f"<= {AIM_SECONDS:g} s", met],
        [f"1 to 4 workers: requests/s over the load's last {last:g} s",
         f"{args.connections} conn.", f"{end_rate:,.1f} req/s", f"{single:,.1f} req/s",
         f"{end_rate / single:.2f}x", f">= {AIM_RATIO:g}x",
         "yes" if end_rate >= AIM_RATIO * single else "no"],
        ["1 to 4 workers: 4 serving", "from the load's start",
         "-" if four is None else f"{four:.1f} s", "-", "-", "-", "-"],
        ["1 to 4 workers: back to 1 after the load stops",
         f"scale_down_after={args.down:g} s", f"{back:.1f} s", "-", "-", "returns to 1",
         "yes"],
    ]  # fmt: skip
    seconds = []
    for second in range(int(load.stopped - load.started)):
        start = load.started + second
        seconds.append([f"{second}-{second + 1} s", f"{load.rate(start, start + 1):,.0f}",
                        str(serving_at(timeline, start + 1))])  # fmt: skip
    cmd = (f".venv/bin/python bench/scaling.py --connections {args.connections} --seconds "
           f"{args.seconds:g} --baseline {args.baseline:g} --down {args.down:g}")  # fmt: skip
    return "\n".join(
        [
            f"- Command: `make bench` (or `{cmd}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}; shared with"
            f" other work while measured (1-minute load average {args.load_before:.2f} before,"
            f" {os.getloadavg()[0]:.2f} after).",
            "",
            table(HEADER, rows),
            "",
            f"- Model: `serve.py` whose `predict` sleeps {CALL_SECONDS * 1000:g} ms under a"
            " process-wide lock (a device taking one call at a time; the sleep releases the"
            " GIL), answering each request's id, which the load checks.",
            f"- Load: {args.connections} closed-loop clients in threads, each an `httpx.Client`"
            " (one keep-alive connection, opened again after a `Connection: close`), each"
            f" request checked (status 200, its own id): {len(load.done):,} answered in the"
            f" scaling run, {len(load.wrong)} wrong or failed. Fixed deployments: a"
            f" {args.warmup:g} s warm-up, then {args.baseline:g} s measured.",
            "- Scaling: `deploy(ref, min_workers=1, max_workers=4)` with the default"
            f" `scale_up_after` (3 s) and `scale_down_after={args.down:g}` (default 30 s), so"
            " the return is measured in the run; the load starts once the deployment is ready"
            " with its one worker. Its log's scale-ups: " + "; ".join(scale_ups) + ".",
            "",
            "Each second of the scaling run (requests/s answered, workers serving at its end):",
            "",
            table(["second", "requests/s", "workers"], seconds),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=16, help="closed-loop clients (16)")
    p.add_argument("--seconds", type=float, default=15.0, help="load on the scaling run (15)")
    p.add_argument("--baseline", type=float, default=5.0, help="measured s, fixed runs (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="discarded s, fixed runs (1)")
    p.add_argument("--down", type=float, default=5.0, help="scale_down_after, seconds (5)")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    args = p.parse_args(argv)
    args.load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-scaling-") as tmp:
        work = Path(tmp)
        os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
        (work / "model").mkdir()
        (work / "model" / "serve.py").write_text(SERVE_PY)
        shelf = Shelf(work / "store")
        ref = shelf.save("device", work / "model").ref
        manager = DeploymentManager(shelf, scale_down_after=args.down)
        try:
            single = steady_rate(manager, ref, 1, args)
            print(f"1 worker: {single:.1f} req/s", flush=True)
            fixed = steady_rate(manager, ref, 4, args)
            print(f"4 workers: {fixed:.1f} req/s", flush=True)
            run = scaling_run(manager, ref, args)
        finally:
            for deployment in manager.list():
                with contextlib.suppress(Exception):
                    deployment.stop()
            manager.close()
            shelf.close()
    body = report(args, single, fixed, run)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
