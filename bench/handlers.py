"""Benchmark MMS handler services: against a folder's serve.py and the real Multi Model Server.

Run with `make bench` or `.venv/bin/python bench/handlers.py [--duration 5] [--runs 3]`. One
pure-Python linear model is served three ways at once, with the same predict code and the
same CSV request: by modelshelf through the folder's `serve.py`, by modelshelf through an
MMS-shaped `model_handler.py` (`deploy(ref, handler="model_handler.py:handle")`), and by
Multi Model Server (`multi-model-server`, Java frontend + Python worker) through the very
same `model_handler.py`. One load generator (`wrk`, else bench/_loadgen.py's asyncio
client) measures them in turn, rotating the order every run. Then the cold load of a
100 MB model: deploy to ready, minus the handler's own load time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _loadgen
from _common import (
    MB,
    REPO,
    machine,
    median,
    replace_section,
    revision,
    row,
    table,
    today,
    write_random,
)
from modelshelf import Shelf
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.manager import DeploymentManager
from serve import Servers, Target, at_least, load_runs, ms, post, rps, us

HEADING = "## Handler services (bench/handlers.py)"
HOST = "127.0.0.1"
MODEL = "lr"  # the model's name everywhere: lr-params.json, MMS's model name, the store's
FEATURES = 8
ROWS = 4
WEIGHTS = [0.5 * (i + 1) for i in range(FEATURES)]
BIAS = 0.25
# Every target gets this body: ROWS rows of FEATURES numbers.
BODY = "".join(
    ",".join(f"{(r + 1) * 0.1 + c:.1f}" for c in range(FEATURES)) + "\n" for r in range(ROWS)
).encode()
CSV_HEADERS = {"Content-Type": "text/csv"}
READY_TIMEOUT = 180.0

SERVE_PY, HANDLER, MMS = (
    "modelshelf serve.py",
    "modelshelf handler service",
    "Multi Model Server",
)

# The one predict logic both forms run: a linear model of rows of numbers.
PREDICT = """
def predict_rows(params, rows):
    weights, bias = params["w"], params["b"]
    return [sum(w * x for w, x in zip(weights, row)) + bias for row in rows]
"""

# The folder's own serving code: modelshelf decodes the CSV into rows, encodes the answer.
SERVE_PY_SRC = f'''"""bench model: load(model_dir, params) and predict(model, rows)."""
{PREDICT}

def load(model_dir, params):
    return params


def predict(model, data):
    return predict_rows(model, data)
'''

# An MMS handler service as SageMaker's multi-model examples write them: a module-level
# singleton initialised on the first call, `<name>-params.json` read from model_dir, CSV
# bodies parsed by the handler, one JSON answer per request. With ``weights.bin`` in the
# model (the cold-load model), it reads it whole, as a model's weights are read.
HANDLER_SRC = f'''"""bench model_handler.py: MMS's handle(data, context) contract."""
import glob
import json
import os
import sys
import time
{PREDICT}

class ModelHandler:
    def __init__(self):
        self.initialized = False
        self.params = None

    def initialize(self, context):
        started = time.perf_counter()
        properties = context.system_properties
        model_dir = properties["model_dir"]
        path = os.path.join(model_dir, context.model_name + "-params.json")
        if not os.path.exists(path):  # a model saved under another name
            (path,) = glob.glob(os.path.join(model_dir, "*-params.json"))
        with open(path) as fh:
            self.params = json.load(fh)
        weights = os.path.join(model_dir, "weights.bin")
        if os.path.exists(weights):
            with open(weights, "rb") as fh:
                self.weights = fh.read()
        self.initialized = True
        seconds = time.perf_counter() - started
        print(f"model_handler: loaded in {{seconds:.6f}} s", file=sys.stderr, flush=True)

    def preprocess(self, request):
        return [
            [[float(x) for x in line.split(",")] for line in item.get("body").decode().splitlines()]
            for item in request
        ]

    def inference(self, batches):
        return [predict_rows(self.params, rows) for rows in batches]

    def handle(self, data, context):
        return self.inference(self.preprocess(data))


_service = ModelHandler()


def handle(data, context):
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
'''


def expected() -> list[float]:
    rows = [[float(x) for x in line.split(",")] for line in BODY.decode().splitlines()]
    return [sum(w * x for w, x in zip(WEIGHTS, r, strict=True)) + BIAS for r in rows]


@dataclass
class ColdLoad:
    """One deploy of the big model: deploy() to ready, and the handler's own load time."""

    deploy_seconds: float
    load_seconds: float  # the handler's initialize, timed by itself in the server
    inproc_seconds: float  # load_service of the same version in the benchmark's process

    @property
    def overhead(self) -> float:
        return self.deploy_seconds - self.load_seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per timed run (5)")
    p.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each (2)")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per target (default 3)")
    p.add_argument("--cold-mb", type=int, default=100, help="cold-load model size (0: skip)")
    p.add_argument("--cold-runs", type=int, default=3, help="cold deploys (default 3)")
    p.add_argument("--mms", help="the multi-model-server command (default: beside this Python"
                   ", else on PATH; none: MMS is skipped)")  # fmt: skip
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    return p.parse_args(argv)


# ---- the model ---------------------------------------------------------------------------


def write_model(folder: Path, weights_mb: int = 0) -> Path:
    folder.mkdir(parents=True)
    params = {"name": MODEL, "w": WEIGHTS, "b": BIAS}
    (folder / f"{MODEL}-params.json").write_text(json.dumps(params))
    (folder / "serve.py").write_text(SERVE_PY_SRC)
    if weights_mb:
        write_random(folder / "weights.bin", weights_mb * MB)
    return folder


# ---- Multi Model Server ------------------------------------------------------------------


def mms_command(given: str | None) -> str | None:
    if given:
        return None if given == "none" else given
    beside = Path(sys.executable).with_name("multi-model-server")
    return str(beside) if beside.exists() else shutil.which("multi-model-server")


def low_port() -> int:
    """A free port below 32768: MMS 1.1.11 answers "Invalid port number" to higher ones
    (it reads them as a Java short)."""
    for _ in range(1000):
        port = random.randrange(20000, 32768)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port below 32768 for Multi Model Server")


def start_mms(servers: Servers, mms: str, model: Path, handler: Path, work: Path) -> str:
    """MMS serving ``model`` through ``handler``: a no-archive model made by model-archiver
    (the model's files plus the handler, MAR-INF/MANIFEST.json naming model_handler:handle),
    one worker, addresses on 127.0.0.1. Returns its inference URL."""
    src, store = work / "mms-src", work / "mms-store"
    shutil.copytree(model, src)
    shutil.copy(handler, src / "model_handler.py")
    store.mkdir()
    archiver = Path(mms).with_name("model-archiver")
    subprocess.run(
        [str(archiver) if archiver.exists() else "model-archiver", "--model-name", MODEL,
         "--model-path", str(src), "--handler", "model_handler:handle", "--runtime", "python3",
         "--export-path", str(store), "--archive-format", "no-archive", "-f"],
        check=True, capture_output=True,
    )  # fmt: skip
    port, admin = low_port(), low_port()
    while admin == port:
        admin = low_port()
    config = work / "mms-config.properties"
    config.write_text(
        f"inference_address=http://{HOST}:{port}\n"
        f"management_address=http://{HOST}:{admin}\n"
        f"model_store={store}\n"
        "default_workers_per_model=1\n"
        # As SageMaker's MMS config: asynchronous logs, the body handed over undecoded.
        "async_logging=true\n"
        "decode_input_request=false\n"
    )
    # MMS's worker runs the Python of its own installation (its `--python`, sys.executable).
    env = {**os.environ, "PATH": f"{Path(mms).parent}:{os.environ['PATH']}"}
    cmd = [mms, "--start", "--foreground", "--mms-config", str(config), "--model-store",
           str(store), "--models", f"{MODEL}={MODEL}"]  # fmt: skip
    cwd = os.getcwd()
    os.chdir(work)  # MMS writes its logs/ into the working folder
    try:
        servers.start(MMS, cmd, env)
    finally:
        os.chdir(cwd)
    return f"http://{HOST}:{port}"


def wait_answer(name: str, url: str, servers: Servers | None = None) -> None:
    """Until ``url`` answers the right prediction (MMS answers /ping before its worker
    has loaded the model)."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            status, body = post(url, CSV_HEADERS, BODY)
            last = (status, body[:300])
            if status == 200:
                check(name, body)
                return
        if servers is not None and servers.procs[name][0].poll() is not None:
            break
        time.sleep(0.2)
    tail = servers.log(name)[-3000:] if servers is not None else ""
    raise SystemExit(f"{name} never answered (last: {last}):\n{tail}")


def check(name: str, body: bytes) -> None:
    """The right predictions, before any timing (to 1e-9)."""
    got = json.loads(body)
    want = expected()
    if len(got) != len(want) or any(abs(g - w) > 1e-9 for g, w in zip(got, want, strict=True)):
        raise SystemExit(f"{name} answered {body[:300]!r}, not {want}")


# ---- measuring ---------------------------------------------------------------------------


def session_size(session: int) -> int:
    """How many live processes ``session`` has (MMS: its launcher, Java, the worker)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            count += int(stat.read_text().rsplit(")", 1)[1].split()[3]) == session
    return count


def cold_loads(manager: DeploymentManager, shelf: Shelf, ref: str, spec: HandlerSpec,
               runs: int, work: Path) -> list[ColdLoad]:  # fmt: skip
    """Deploy ``ref`` with the handler ``runs`` times, each from a cold start of its server
    (a new process), timing ``deploy()`` until it reports ready; stop it after each. The
    handler's own load time is its ``initialize``, timed by itself and logged by the server;
    ``load_service``'s ``load_seconds`` of the same version in this process is kept too."""
    results = []
    for i in range(runs):
        # A folder of its own per ref: Shelf.load into a used folder keeps the files there,
        # which the tiny model's handler would read (the 100 MB model's weights).
        folder = shelf.load(ref, work / f"cold-inproc-{ref.replace(':', '-')}-{i}")
        started = time.perf_counter()
        deployment = manager.deploy(ref, mode="realtime", name=f"bench-cold-{i}", workers=1,
                                    handler=spec)  # fmt: skip
        deploy_s = time.perf_counter() - started
        try:
            if deployment.status != "ready":
                raise SystemExit(f"{deployment}:\n{deployment.logs()[-3000:]}")
            status, body = post(deployment.url + "/invocations", CSV_HEADERS, BODY)
            if status != 200:
                raise SystemExit(f"cold deploy answered {status} {body[:300]!r}")
            check("cold deploy", body)
            logged = re.findall(r"model_handler: loaded in ([\d.]+) s", deployment.logs())
            if len(logged) != 1:
                raise SystemExit(f"cold deploy logged {logged} load times")
        finally:
            deployment.stop()
        handler = load_handler(str(folder), MODEL, spec)
        results.append(ColdLoad(deploy_s, float(logged[0]), handler.load_seconds))
        handler.close()
        print(f"  cold {i + 1}/{runs}: deploy to ready {deploy_s * 1e3:.0f} ms, handler's "
              f"load {float(logged[0]) * 1e3:.0f} ms (in-process load_service "
              f"{handler.load_seconds * 1e3:.0f} ms)", flush=True)  # fmt: skip
    return results


# ---- report ------------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def java_version() -> str:
    with contextlib.suppress(OSError):
        done = subprocess.run(["java", "-version"], capture_output=True, text=True)
        return (done.stderr or done.stdout).splitlines()[0].strip()
    return "no java"


def report(args: argparse.Namespace, targets: dict[str, Target], mms_note: str,
           colds: list[ColdLoad], tiny_colds: list[ColdLoad]) -> str:  # fmt: skip
    servepy, handler = targets[SERVE_PY], targets[HANDLER]
    mms = targets.get(MMS)
    setup = f"{args.connections} conn., {args.duration:g} s; median of {args.runs}"
    h_rps, h_cpu = handler.median("rps"), handler.median("cpu")
    s_rps, s_cpu = servepy.median("rps"), servepy.median("cpu")
    cpu = "server CPU per request"
    rows = [
        at_least("handler service vs serve.py, requests/s", setup, rps(h_rps), rps(s_rps),
                 h_rps / s_rps, 0.9),
        row(f"handler service vs serve.py, {cpu}", setup, us(h_cpu), us(s_cpu), h_cpu / s_cpu,
            1.1),
        row("handler service vs serve.py, p50 latency", setup, ms(handler.median("p50")),
            ms(servepy.median("p50")), handler.median("p50") / servepy.median("p50")),
        row("handler service vs serve.py, p99 latency", setup, ms(handler.median("p99")),
            ms(servepy.median("p99")), handler.median("p99") / servepy.median("p99")),
    ]  # fmt: skip
    if mms is not None:
        m_rps = mms.median("rps")
        rows += [
            at_least("handler service vs Multi Model Server, requests/s", setup, rps(h_rps),
                     rps(m_rps), h_rps / m_rps, 3.0),
            row("handler service vs Multi Model Server, p50 latency", setup,
                ms(handler.median("p50")), ms(mms.median("p50")),
                handler.median("p50") / mms.median("p50")),
            row("handler service vs Multi Model Server, p99 latency", setup,
                ms(handler.median("p99")), ms(mms.median("p99")),
                handler.median("p99") / mms.median("p99")),
            row(f"handler service vs Multi Model Server, {cpu}", setup, us(h_cpu),
                us(mms.median("cpu")), h_cpu / mms.median("cpu")),
        ]  # fmt: skip
    if colds:
        for what, loads in ((f"{args.cold_mb} MB", colds), ("tiny", tiny_colds)):
            rows.append(row(
                f"cold load, {what} model: deploy to ready - handler's load",
                f"median of {len(loads)} deploys", ms(median([c.overhead for c in loads])),
            ))  # fmt: skip
    header = ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"]
    per_run = [
        [t.name, *(f"{rps(x.rps)}, p50 {ms(x.p50)}, p99 {ms(x.p99)}, CPU {us(c)}/req"
                   for x, c in zip(t.loads, t.cpu, strict=True))]
        for t in targets.values()
    ]  # fmt: skip
    run_header = ["target", *(f"run {i + 1}" for i in range(args.runs))]
    cmd = (f".venv/bin/python bench/handlers.py --duration {args.duration:g} --warmup "
           f"{args.warmup:g} --connections {args.connections} --runs {args.runs} --cold-mb "
           f"{args.cold_mb} --cold-runs {args.cold_runs}")  # fmt: skip
    gen = "wrk -t1" if _loadgen.tool() == "wrk" else "an asyncio client in a process of its own"
    body_text = BODY.decode().replace("\n", "\\n")
    notes = [
        f"- Command: `make bench` (or `{cmd}`).",
        f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
        "",
        table(header, rows),
        "",
        f"- Model: pure Python, a linear model of {FEATURES} features whose weights sit in"
        f" `{MODEL}-params.json`; both forms run the same `predict_rows(params, rows)` (a"
        " dot product per row plus the bias). The folder's `serve.py` is `load(model_dir,"
        " params)` (the params) and `predict(model, rows)`: modelshelf decodes the CSV and"
        " encodes the JSON answer. `model_handler.py` is MMS-shaped (a module-level"
        " singleton initialised on the first `handle(None, context)`, which reads"
        " `<model_name>-params.json` from `model_dir`; it parses the CSV body itself, one"
        " list of predictions per request, JSON-encoded by the server as MMS does).",
        f"- Every request is `POST /invocations` with the same {len(BODY)}-byte CSV body"
        f" (`{body_text}`, {ROWS} rows, `Content-Type: text/csv`); every target's answer is"
        " checked to be the right predictions before any timing.",
        f"- Load generator: {_loadgen.tool_version()}, the same for every target: {gen},"
        f" {args.connections} keep-alive connections, closed loop, {args.duration:g} s per"
        f" timed run after a discarded {args.warmup:g} s warm-up (the JVM's JIT included);"
        " targets are measured one at a time, the order rotated every run; each figure is"
        f" the median of {args.runs} runs. Server CPU per request is the user + system CPU"
        " of all the server's processes (its session, from `/proc`) during the timed run"
        " over the requests answered.",
        f"- modelshelf, one process, one uvicorn worker on 127.0.0.1 (uvicorn"
        f" {version('uvicorn')}, starlette {version('starlette')}, httptools"
        f" {version('httptools')}, uvloop {version('uvloop')}): serve.py is"
        ' `DeploymentManager(shelf).deploy(ref, mode="realtime", workers=1)`; the handler'
        ' service is the same ref deployed with `handler="…/model_handler.py:handle"`'
        " (the handler file outside the model folder, so the folder's serve.py goes unused).",
        mms_note,
    ]
    if colds:
        notes.append(
            f"- Cold load: a model folder with the same files plus a {args.cold_mb} MB"
            " `weights.bin` that `initialize` reads whole, saved to the store; each run"
            " deploys it afresh (a new server process) with the handler service and times"
            " `deploy()` until it returns ready, then invokes it once (checked) and stops"
            " it. The handler's own load time is what its `initialize` takes, timed by"
            " itself with `time.perf_counter()` in the server and read from the"
            " deployment's log; `load_handler(folder, name, handler).load_seconds` of the"
            " same version in the benchmark's process is shown beside it (warm page cache"
            " both: the file was just written). The tiny model (no weights.bin) is the same"
            " measure, to show what does not depend on size: mostly the server process's"
            " start and imports."
        )
        cold_rows = [
            [what, str(i + 1), ms(c.deploy_seconds), ms(c.load_seconds), ms(c.overhead),
             ms(c.inproc_seconds)]
            for what, loads in ((f"{args.cold_mb} MB", colds), ("tiny", tiny_colds))
            for i, c in enumerate(loads)
        ]  # fmt: skip
        cold_header = ["model", "deploy", "deploy to ready", "handler's load (in the server)",
                       "overhead", "in-process `load_service`"]  # fmt: skip
        notes += ["", table(cold_header, cold_rows)]
    notes += ["", "Per run:", "", table(run_header, per_run)]
    return "\n".join(notes)


# ---- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"load generator: {_loadgen.tool_version()}", flush=True)
    mms = mms_command(args.mms)
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-handlers-") as tmp:
        work = Path(tmp)
        os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
        folder = write_model(work / "model")
        handler_file = work / "handler" / "model_handler.py"
        handler_file.parent.mkdir()
        handler_file.write_text(HANDLER_SRC)
        spec = HandlerSpec(str(handler_file), "handle")
        shelf = Shelf(work / "store")
        ref = shelf.save(MODEL, folder).ref
        servers = Servers(work)
        manager = DeploymentManager(shelf)
        deployments = []
        targets: dict[str, Target] = {}
        mms_note = "- Multi Model Server: not run (no `multi-model-server` found)."
        try:
            mms_url = None
            if mms and not shutil.which("java"):
                mms_note = f"- Multi Model Server: not run: {mms} is installed but no `java`."
            elif mms:
                mms_url = start_mms(servers, mms, folder, handler_file, work)
            print("starting servers ...", flush=True)
            plain = manager.deploy(ref, mode="realtime", name="bench-servepy", workers=1)
            deployments.append(plain)
            served = manager.deploy(ref, mode="realtime", name="bench-handler", workers=1,
                                    handler=spec)  # fmt: skip
            deployments.append(served)
            for deployment in deployments:
                if deployment.status != "ready":
                    raise SystemExit(f"{deployment}:\n{deployment.logs()[-3000:]}")
            targets[SERVE_PY] = Target(SERVE_PY, plain.url + "/invocations", {}, plain.pid)
            targets[HANDLER] = Target(HANDLER, served.url + "/invocations", {}, served.pid)
            if mms_url:
                url = mms_url + "/invocations"
                try:
                    wait_answer(MMS, url, servers)
                except SystemExit as failed:  # measure modelshelf all the same
                    mms_url = None
                    text = " ".join(str(failed).split())[-600:]
                    mms_note = f"- Multi Model Server: did not start or answer: `{text}`"
                    print(mms_note, flush=True)
            if mms_url:
                session = servers.pid(MMS)
                targets[MMS] = Target(MMS, url, {}, session)
                mms_note = (
                    f"- Multi Model Server {version('multi-model-server')} (model-archiver"
                    f" {version('model-archiver')}) on {java_version()}:"
                    " `multi-model-server --start --foreground --mms-config FILE"
                    f" --model-store STORE --models {MODEL}={MODEL}` (this version has no"
                    " `--ncs`), the model a no-archive folder made by `model-archiver"
                    " --handler model_handler:handle --runtime python3 --archive-format"
                    " no-archive` from the same model files and the same `model_handler.py`;"
                    " config: inference and management addresses on 127.0.0.1,"
                    " `default_workers_per_model=1`, `async_logging=true`,"
                    " `decode_input_request=false` (as SageMaker's MMS config), the rest"
                    " MMS's defaults (its access log and metrics log on, as shipped). Its"
                    " CPU counts all its session's processes (launcher, Java frontend,"
                    f" Python worker: {session_size(session)} processes)."
                )
            for target in targets.values():
                wait_answer(target.name, target.url)
            print("load:", flush=True)
            load_runs(list(targets.values()), args, BODY, CSV_HEADERS)
        finally:
            for deployment in deployments:
                with contextlib.suppress(Exception):
                    deployment.stop()
            servers.stop_all()
        colds: list[ColdLoad] = []
        tiny_colds: list[ColdLoad] = []
        try:
            if args.cold_mb:
                print("cold loads:", flush=True)
                big = shelf.save(f"{MODEL}-big", write_model(work / "big", args.cold_mb)).ref
                colds = cold_loads(manager, shelf, big, spec, args.cold_runs, work)
                tiny_colds = cold_loads(manager, shelf, ref, spec, args.cold_runs, work)
        finally:
            manager.close()
    body = report(args, targets, mms_note, colds, tiny_colds)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
