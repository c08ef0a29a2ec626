"""Benchmark serving against `mlflow models serve` and a bare Starlette app; rewrite its section.

Run with `make bench` or `.venv/bin/python bench/serve.py [--duration 5] [--runs 3]`. One
tiny scikit-learn model is served by every target at once; one load generator (`wrk`, else
bench/_loadgen.py's asyncio client) measures them in turn, rotating the order every run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import _loadgen
from _common import REPO, machine, median, replace_section, revision, row, table, today
from _loadgen import Load
from modelshelf import Shelf
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.manager import DeploymentManager

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
HEADING = "## Serving (bench/serve.py)"
HOST = "127.0.0.1"
BODY = b'{"instances": [[1.0]]}'
ANSWER = b'{"predictions": [3.0]}'  # y = 2x + 1 at x = 1
TARGET = "X-Amzn-SageMaker-Target-Model"
JSON_HEADERS = {"Content-Type": "application/json"}
READY_TIMEOUT = 180.0

OURS, MULTI, MLFLOW, MLFLOW_QUIET, BARE, BARE_MODEL = (
    "modelshelf real-time",
    "modelshelf multi-model, warm",
    "mlflow models serve",
    "mlflow models serve, no access log",
    "bare Starlette",
    "bare Starlette + predict",
)


@dataclass
class Target:
    """One server under load: where to POST, with which headers, and what it measured."""

    name: str
    url: str
    headers: dict[str, str]
    session: int  # the server's session: all its processes, whose CPU time is counted
    loads: list[Load] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # server CPU seconds per request, per run

    def median(self, attr: str) -> float:
        if attr == "cpu":
            return median(self.cpu)
        return median([getattr(load, attr) for load in self.loads])


@dataclass
class Cold:
    """First invoke of one cold ref on the multi-model endpoint, and its own load time."""

    ref: str
    first: float
    second: float
    load_seconds: float
    copy_seconds: float

    @property
    def overhead(self) -> float:
        return self.first - self.load_seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per timed run (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="discarded seconds before each (1)")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per target (default 3)")
    p.add_argument("--cold", type=int, default=7, help="distinct refs loaded cold (default 7)")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    p.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--bare-model", metavar="PKL", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---- the bare baseline (run as `serve.py --bare-server PORT`) -----------------------------


def bare_server(port: int, model_pkl: str | None = None) -> None:
    """A Starlette app answering a constant JSON, on uvicorn with our server's options.

    With ``model_pkl``, it answers the pickled model's ``predict`` of the request's
    ``instances`` instead: the least a server calling the model has to do.
    """
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def invocations(request: Request) -> Response:
        await request.body()
        return Response(ANSWER, media_type="application/json")

    if model_pkl:
        with open(model_pkl, "rb") as fh:
            model = pickle.load(fh)

        async def invocations(request: Request) -> Response:
            rows = json.loads(await request.body())["instances"]
            answer = {"predictions": model.predict(rows).tolist()}
            return Response(json.dumps(answer), media_type="application/json")

    async def ping(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)]
    # As modelshelf.core.deploy.serve runs uvicorn: http and loop "auto" pick httptools
    # and uvloop when installed; one worker, so uvicorn serves from this very process.
    uvicorn.run(
        Starlette(routes=routes),
        host=HOST,
        port=port,
        workers=1,
        log_level="info",
        access_log=False,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


# ---- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def post(url: str, headers: dict[str, str], body: bytes = BODY) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


class Servers:
    """Every server process this benchmark starts, each in a session of its own."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = self.work / f"{name.replace(' ', '-').replace(',', '')}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh,
                                    env=env, start_new_session=True)  # fmt: skip
        self.procs[name] = (proc, log)

    def wait_ready(self, name: str, base: str) -> None:
        proc, log = self.procs[name]
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(base + "/ping", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.1)

    def pid(self, name: str) -> int:
        return self.procs[name][0].pid

    def log(self, name: str) -> str:
        return self.procs[name][1].read_text(errors="replace")

    def stop_all(self) -> None:
        for proc, _ in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def fit_model():
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LinearRegression().fit(x, 2 * x.ravel() + 1)


def mlflow_model(model, folder: Path) -> None:
    """The same fitted model as an MLflow model folder (pickle, as ours; skops needs extras)."""
    import mlflow.sklearn

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its "pickle is unsafe" warning
    mlflow.sklearn.save_model(model, str(folder), serialization_format="pickle")


def check_answer(target: Target) -> None:
    """The right prediction, before any timing: ``{"predictions": [3.0]}`` (to 1e-9)."""
    status, body = post(target.url, {**JSON_HEADERS, **target.headers})
    try:
        value = json.loads(body)["predictions"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        value = None
    if status != 200 or not isinstance(value, float) or abs(value - 3.0) > 1e-9:
        raise SystemExit(f"{target.name} answered {status} {body[:300]!r}, not {ANSWER!r}")


# ---- measuring ---------------------------------------------------------------------------


def session_cpu(session: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of ``session``."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == session:  # fields[0] is the state (field 3 of proc(5))
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def load_runs(
    targets: list[Target],
    args: argparse.Namespace,
    body: bytes = BODY,
    headers: dict[str, str] = JSON_HEADERS,
) -> None:
    """Each target ``runs`` times, the order rotated every run; a discarded warm-up first.

    Besides what the load generator sees, the server's own CPU time per request is kept:
    unlike requests/s it hardly depends on what else runs on the machine meanwhile.
    """
    for run in range(args.runs):
        k = run % len(targets)
        for target in targets[k:] + targets[:k]:
            sent = {**headers, **target.headers}
            _loadgen.measure(target.url, body, sent, args.connections, args.warmup)
            cpu = session_cpu(target.session)
            load = _loadgen.measure(target.url, body, sent, args.connections, args.duration)
            cpu = session_cpu(target.session) - cpu
            if load.errors:
                raise SystemExit(f"{target.name}: {load.errors} errors in run {run + 1}")
            target.loads.append(load)
            target.cpu.append(cpu / load.requests)
            print(
                f"  run {run + 1}/{args.runs} {target.name:<36} {load.rps:8,.0f} req/s"
                f"  p50 {ms(load.p50):>9}  p99 {ms(load.p99):>9}"
                f"  server CPU {us(target.cpu[-1]):>8}/req",
                flush=True,
            )


def invoke_seconds(folder: Path, calls: int = 2000) -> float:
    """The model's own work per request: ``handler.invoke`` (decode, predict, encode) in-process.

    The median of 5 rounds of ``calls`` calls, after one discarded round.
    """
    handler = load_handler(str(folder), "bench-lr")
    rounds = []
    for _ in range(6):
        started = time.perf_counter()
        for _ in range(calls):
            handler.invoke(BODY, "application/json")
        rounds.append((time.perf_counter() - started) / calls)
    return median(rounds[1:])


def cold_loads(url: str, shelf: Shelf, refs: list[str], work: Path) -> list[Cold]:
    """Time the first (and second) invoke of each cold ref; load each in-process too."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.request("GET", "/ping")  # connect first: only the invoke is timed
    conn.getresponse().read()
    timings = []
    for ref in refs:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            conn.request("POST", "/invocations", BODY, {**JSON_HEADERS, TARGET: ref})
            answer = conn.getresponse()
            body = answer.read()
            times.append(time.perf_counter() - started)
            if answer.status != 200 or json.loads(body) != json.loads(ANSWER):
                raise SystemExit(f"cold {ref} answered {answer.status} {body[:300]!r}")
        timings.append(times)
    conn.close()
    # The model's own load time, measured the same way in this process (where scikit-learn
    # is imported, as it is on the endpoint, which loaded the warm model first).
    inproc = work / "in-process"
    load_handler(shelf.load(refs[0], inproc / "warm-up"), "warm-up")
    results = []
    for ref, (first, second) in zip(refs, timings, strict=True):
        started = time.perf_counter()
        folder = shelf.load(ref, inproc / ref)
        copy_seconds = time.perf_counter() - started
        handler = load_handler(folder, ref)
        results.append(Cold(ref, first, second, handler.load_seconds, copy_seconds))
    return results


# ---- report ------------------------------------------------------------------------------


def at_least(what: str, setup: str, ours: str, peer: str, ratio: float, aim: float) -> list[str]:
    """A table row whose ``ratio`` must be ``aim`` or more (``row`` checks at most)."""
    met = "yes" if ratio >= aim else f"no: {ratio / aim:.2f}x the aim"
    return [what, setup, ours, peer, f"{ratio:.3f}x", f">= {aim:.3g}x", met]


def rps(value: float) -> str:
    return f"{value:,.0f} req/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def versions() -> str:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    found = {m: importlib.util.find_spec(m) is not None for m in ("httptools", "uvloop")}
    return (
        f"uvicorn {version('uvicorn')} (http: "
        f"{'httptools ' + version('httptools') if found['httptools'] else 'h11'}, loop: "
        f"{'uvloop ' + version('uvloop') if found['uvloop'] else 'asyncio'}), starlette "
        f"{version('starlette')}, mlflow-skinny {version('mlflow-skinny')}, fastapi "
        f"{version('fastapi')}, scikit-learn {version('scikit-learn')}"
    )


def report(args: argparse.Namespace, targets: dict[str, Target], colds: list[Cold],
           access_lines: dict[str, int], invoke_s: float) -> str:  # fmt: skip
    ours, multi, ml, quiet, bare, bare_model = (
        targets[k] for k in (OURS, MULTI, MLFLOW, MLFLOW_QUIET, BARE, BARE_MODEL)
    )
    setup = f"{args.connections} conn., {args.duration:g} s; median of {args.runs}"
    o_rps, o_p50, o_p99 = ours.median("rps"), ours.median("p50"), ours.median("p99")
    overhead = median([c.overhead for c in colds])
    o_cpu, b_cpu = ours.median("cpu"), bare.median("cpu")
    cpu = "server CPU per request"
    rows = [
        at_least("requests/s vs `mlflow models serve`", setup, rps(o_rps),
                 rps(ml.median("rps")), o_rps / ml.median("rps"), 2.0),
        row("p50 latency vs `mlflow models serve`", setup, ms(o_p50), ms(ml.median("p50")),
            o_p50 / ml.median("p50")),
        row("p99 latency vs `mlflow models serve`", setup, ms(o_p99), ms(ml.median("p99")),
            o_p99 / ml.median("p99")),
        row(f"{cpu} vs `mlflow models serve`", setup, us(o_cpu), us(ml.median("cpu")),
            o_cpu / ml.median("cpu")),
        at_least("requests/s vs MLflow with its access log off", setup, rps(o_rps),
                 rps(quiet.median("rps")), o_rps / quiet.median("rps"), 2.0),
        at_least("requests/s vs bare Starlette (constant JSON)", setup, rps(o_rps),
                 rps(bare.median("rps")), o_rps / bare.median("rps"), 0.7),
        row("p50 latency vs bare Starlette", setup, ms(o_p50), ms(bare.median("p50")),
            o_p50 / bare.median("p50")),
        row(f"{cpu} vs bare Starlette", setup, us(o_cpu), us(b_cpu), o_cpu / b_cpu),
        row(f"{cpu} vs bare Starlette's + the model's own work", "bare + in-process"
            " `invoke`", us(o_cpu), us(b_cpu + invoke_s), o_cpu / (b_cpu + invoke_s)),
        row("requests/s vs bare Starlette + `predict`", setup, rps(o_rps),
            rps(bare_model.median("rps")), o_rps / bare_model.median("rps")),
        row(f"{cpu} vs bare Starlette + `predict`", setup, us(o_cpu),
            us(bare_model.median("cpu")), o_cpu / bare_model.median("cpu")),
        at_least("multi-model (warm) vs real-time, requests/s", setup, rps(multi.median("rps")),
                 rps(o_rps), multi.median("rps") / o_rps, 1 / 1.1),
        row("multi-model (warm) vs real-time, p50 latency", setup, ms(multi.median("p50")),
            ms(o_p50), multi.median("p50") / o_p50, 1.1),
        row(f"multi-model (warm) vs real-time, {cpu}", setup, us(multi.median("cpu")),
            us(o_cpu), multi.median("cpu") / o_cpu),
        row("cold-load overhead: first invoke - model's load time",
            f"median of {len(colds)} refs", ms(overhead), "-", aim=0.05, value=overhead),
    ]  # fmt: skip
    rows[-1][5] = "<= 50 ms"
    header = ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"]
    per_run = [
        [
            t.name,
            *(
                f"{rps(x.rps)}, p50 {ms(x.p50)}, p99 {ms(x.p99)}, CPU {us(c)}/req"
                for x, c in zip(t.loads, t.cpu, strict=True)
            ),
        ]
        for t in targets.values()
    ]
    run_header = ["target", *(f"run {i + 1}" for i in range(args.runs))]
    cold_rows = [
        [c.ref, ms(c.first), ms(c.load_seconds), ms(c.overhead), ms(c.copy_seconds),
         ms(c.second)]
        for c in colds
    ]  # fmt: skip
    cold_header = ["ref", "first invoke", "load_seconds", "overhead", "in-process `shelf.load`",
                   "second invoke"]  # fmt: skip
    cmd = (f".venv/bin/python bench/serve.py --duration {args.duration:g} --warmup "
           f"{args.warmup:g} --connections {args.connections} --runs {args.runs} "
           f"--cold {args.cold}")  # fmt: skip
    gen = "wrk -t1" if _loadgen.tool() == "wrk" else "an asyncio client in a process of its own"
    notes = [
        f"- Command: `make bench` (or `{cmd}`).",
        f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
        "",
        table(header, rows),
        "",
        f"- Model: scikit-learn `LinearRegression` fitted on 4 points (y = 2x + 1), pickled"
        f" into a folder saved to a fresh local `Shelf` in a temporary folder. Every request"
        f" is `POST /invocations` with `{BODY.decode()}` (`Content-Type: application/json`);"
        f" every target's answer is checked to be `{ANSWER.decode()}` before any timing.",
        f"- Load generator: {_loadgen.tool_version()}, the same for every target: {gen},"
        f" {args.connections} keep-alive connections, closed loop, {args.duration:g} s per timed"
        f" run after a discarded {args.warmup:g} s warm-up; targets are measured one at a"
        f" time, the order rotated every run; each figure is the median of {args.runs} runs."
        " On 2 cores the load generator takes most of one core: each single-worker server"
        " gets about the other one. Nothing is pinned; absolute numbers are this VM's, the"
        " ratios are what compare. Server CPU per request is the user + system CPU time of"
        " all the server's processes (its session, from `/proc`) during the timed run over"
        " the requests answered: unlike requests/s, it hardly changes with whatever else"
        " runs on the machine meanwhile.",
        f"- Servers, all one process with one uvicorn worker on 127.0.0.1: {versions()}."
        ' modelshelf real-time: `DeploymentManager(shelf).deploy(ref, mode="realtime",'
        " workers=1)` (uvicorn with http and loop `auto`, access log off). Bare Starlette:"
        " a function endpoint that reads the body and returns the constant answer, on"
        ' `uvicorn.run` with the same options; "+ `predict`" answers'
        ' `json.dumps({"predictions": model.predict(json.loads(body)["instances"])'
        ".tolist()})` of the same pickle instead, no checks, no content types."
        " MLflow: `mlflow models serve -m DIR -p PORT"
        " -h 127.0.0.1 --env-manager local --workers 1` on the same model saved with"
        ' `mlflow.sklearn.save_model(..., serialization_format="pickle")` (its scoring'
        " server: FastAPI on the uvicorn CLI, which logs every request by default);"
        ' "no access log" is the same command with `UVICORN_ACCESS_LOG=false`.'
        f" Access-log lines written: MLflow {access_lines[MLFLOW]:,}, MLflow no access log"
        f" {access_lines[MLFLOW_QUIET]:,}.",
        f"- The model's own work per request, `load_handler(folder).invoke(body, ...)`"
        f" (JSON decode, `predict`, JSON encode) in the benchmark's process: {invoke_s * 1e6:.1f}"
        " µs (median of 5 rounds of 2,000 calls). The bare app does none of it; the bare"
        " app's CPU per request plus this is about the least a server on the same framework"
        " could spend per request on this model.",
        '- Multi-model: `deploy([], mode="multi")`, the model loaded once with `POST /models'
        ' {"model_name": "warm", "url": <ref>}`, then the same load with'
        f" `{TARGET}: warm`.",
        f"- Cold load: the model saved under {len(colds)} more names; for each, the first"
        f" `POST /invocations` with `{TARGET}: <name>` on the multi-model endpoint (after the"
        " warm runs, so scikit-learn is imported there), timed by the client on an open"
        " keep-alive connection. It copies the version from the store, leases it and loads"
        " it; the model's own load time is `load_handler(folder, name).load_seconds` of the"
        " same version, loaded the same way in the benchmark's process.",
        "",
        table(cold_header, cold_rows),
        "",
        "Per run:",
        "",
        table(run_header, per_run),
    ]
    return "\n".join(notes)


# ---- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bare_server:
        return bare_server(args.bare_server, args.bare_model)
    print(f"load generator: {_loadgen.tool_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-serve-") as tmp:
        work = Path(tmp)
        os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
        os.environ["MLFLOW_TRACKING_URI"] = (work / "mlruns").as_uri()
        model = fit_model()
        folder = work / "model"
        folder.mkdir()
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump(model, fh)
        mlflow_model(model, work / "mlflow-model")
        invoke_s = invoke_seconds(folder)  # before any server runs: a quiet machine
        print(f"in-process invoke: {invoke_s * 1e6:.1f} µs per call", flush=True)
        shelf = Shelf(work / "store")
        ref = shelf.save("bench-lr", folder).ref
        cold_refs = [shelf.save(f"cold-{i}", folder).ref for i in range(args.cold)]
        servers = Servers(work)
        manager = DeploymentManager(shelf)
        deployments = []
        try:
            ports = {name: free_port() for name in (MLFLOW, MLFLOW_QUIET, BARE, BARE_MODEL)}
            # `mlflow models serve` runs `uvicorn` from PATH: this venv's.
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            for name, extra in ((MLFLOW, {}), (MLFLOW_QUIET, {"UVICORN_ACCESS_LOG": "false"})):
                cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
                       str(work / "mlflow-model"), "-p", str(ports[name]), "-h", HOST,
                       "--env-manager", "local", "--workers", "1"]  # fmt: skip
                servers.start(name, cmd, {**env, **extra})
            bare = [sys.executable, __file__, "--bare-server"]
            servers.start(BARE, [*bare, str(ports[BARE])])
            pkl = str(folder / "model.pkl")
            servers.start(BARE_MODEL, [*bare, str(ports[BARE_MODEL]), "--bare-model", pkl])
            print("starting servers ...", flush=True)
            realtime = manager.deploy(ref, mode="realtime", name="bench-rt", workers=1)
            deployments.append(realtime)
            multi = manager.deploy([], mode="multi", name="bench-mme", workers=1)
            deployments.append(multi)
            for deployment in deployments:
                if deployment.status != "ready":
                    raise SystemExit(f"{deployment}:\n{deployment.logs()[-3000:]}")
            spec = json.dumps({"model_name": "warm", "url": ref}).encode()
            status, body = post(multi.url + "/models", JSON_HEADERS, spec)
            if status != 200:
                raise SystemExit(f"POST /models answered {status}: {body[:300]!r}")
            for name, port in ports.items():
                servers.wait_ready(name, f"http://{HOST}:{port}")
            # Each server leads a session of its own (the deployment launcher's too).
            targets = {
                OURS: Target(OURS, realtime.url + "/invocations", {}, realtime.pid),
                MULTI: Target(MULTI, multi.url + "/invocations", {TARGET: "warm"}, multi.pid),
            }
            for name in (MLFLOW, MLFLOW_QUIET, BARE, BARE_MODEL):
                url = f"http://{HOST}:{ports[name]}/invocations"
                targets[name] = Target(name, url, {}, servers.pid(name))
            for target in targets.values():
                check_answer(target)
            print("load:", flush=True)
            load_runs(list(targets.values()), args)
            print("cold loads:", flush=True)
            colds = cold_loads(multi.url, shelf, cold_refs, work)
            for c in colds:
                print(f"  {c.ref:<10} first {ms(c.first)}, load_seconds {ms(c.load_seconds)},"
                      f" overhead {ms(c.overhead)}", flush=True)  # fmt: skip
            access = {
                name: servers.log(name).count('"POST /invocations')
                for name in (MLFLOW, MLFLOW_QUIET)
            }
        finally:
            for deployment in deployments:
                with contextlib.suppress(Exception):
                    deployment.stop()
            servers.stop_all()
            manager.close()
    body = report(args, targets, colds, access, invoke_s)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
