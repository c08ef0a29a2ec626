"""Benchmark MMS handler services: against a folder's serve.py and the real Multi Model Server.

Run with `make bench` or `.venv/bin/python bench/handlers.py [--duration 5] [--runs 3]`. One
pure-Python linear model is served three ways at once, with the same predict code and the
same CSV request: by modelshelf through the folder's `serve.py`, by modelshelf through an
MMS-shaped `model_handler.py` (`deploy(ref, handler="model_handler.py:handle")`), and by
Multi Model Server (`multi-model-server`, Java frontend + Python worker) through the very
same `model_handler.py`. One load generator (`wrk`, else bench/_loadgen.py's asyncio
client) measures them in turn, rotating the order every run. Then the cold load of a
100 MB model: deploy to ready, minus the handler's own load time; and the first request for
it on a multi-model endpoint serving a moto S3 prefix of `.tar.gz` archives (SageMaker's
TargetModel), minus the same.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _loadgen
from _cold_loads import ColdLoad, PrefixColdLoads, cold_loads, prefix_cold_loads
from _common import (
    REPO,
    machine,
    median,
    replace_section,
    revision,
    row,
    table,
    today,
)
from _handler_model import (
    BODY,
    CSV_HEADERS,
    FEATURES,
    HANDLER_SRC,
    MODEL,
    ROWS,
    check,
    write_model,
)
from modelshelf import Shelf
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.manager import DeploymentManager
from serve import Servers, Target, at_least, load_runs, ms, post, rps, us

HEADING = "## Handler services (bench/handlers.py)"
HOST = "127.0.0.1"
READY_TIMEOUT = 180.0

SERVE_PY, HANDLER, MMS = (
    "modelshelf serve.py",
    "modelshelf handler service",
    "Multi Model Server",
)


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


# ---- measuring ---------------------------------------------------------------------------


def session_size(session: int) -> int:
    """How many live processes ``session`` has (MMS: its launcher, Java, the worker)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            count += int(stat.read_text().rsplit(")", 1)[1].split()[3]) == session
    return count


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
           colds: list[ColdLoad], tiny_colds: list[ColdLoad],
           prefix: PrefixColdLoads | None) -> str:  # fmt: skip
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
    if prefix is not None:
        overhead = median([c.overhead for c in prefix.loads])
        rows.append(row(
            f"cold load, {args.cold_mb} MB model from a moto S3 prefix: first invoke -"
            " handler's load", f"median of {len(prefix.loads)} new keys", ms(overhead),
            aim=1.0, value=overhead,
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
    if prefix is not None:
        notes += ["", *prefix_notes(args, prefix)]
    notes += ["", "Per run:", "", table(run_header, per_run)]
    return "\n".join(notes)


def prefix_notes(args: argparse.Namespace, prefix: PrefixColdLoads) -> list[str]:
    """How the cold loads from the S3 prefix were measured, and their table."""
    note = (
        "- Cold load from a model-data prefix: a moto S3 server (`ThreadedMotoServer` on"
        " 127.0.0.1, in the benchmark's process) holds the same model files plus a"
        f" {args.cold_mb} MB `weights.bin` as `.tar.gz` archives ({prefix.archive_bytes:,}"
        f" bytes, gzip level 1) under {len(prefix.loads)} keys, and a tiny model's archive."
        ' One deployment, `deploy([], mode="multi", handler=…, model_data="s3://…/models/")`,'
        " serves them all. Its first request (the tiny model:"
        f" {ms(prefix.endpoint_first_seconds)}) sets up its S3 client; then, for each big key,"
        " the first `POST /invocations` with `X-Amzn-SageMaker-Target-Model: <key>` is timed"
        " by the client to its checked answer: the download, the safe extraction into the"
        " disk cache, the handler's load and the answer. The handler's own load is what its"
        " `initialize` logs; the download and extraction (streamed: the archive is unpacked"
        " as it arrives, never written whole) is what the deployment's log says it took."
    )
    header = ["key", "first invoke", "handler's load (in the server)", "overhead",
              "second invoke", "download + extraction"]  # fmt: skip
    rows = [
        [c.key, ms(c.first_seconds), ms(c.load_seconds), ms(c.overhead), ms(c.second_seconds),
         ms(c.fetch_seconds)]
        for c in prefix.loads
    ]  # fmt: skip
    return [note, "", table(header, rows)]


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
        prefix: PrefixColdLoads | None = None
        try:
            if args.cold_mb:
                print("cold loads:", flush=True)
                big = shelf.save(f"{MODEL}-big", write_model(work / "big", args.cold_mb)).ref
                colds = cold_loads(manager, shelf, big, spec, args.cold_runs, work)
                tiny_colds = cold_loads(manager, shelf, ref, spec, args.cold_runs, work)
                print("cold loads from a moto S3 prefix:", flush=True)
                prefix = prefix_cold_loads(manager, spec, args.cold_mb, args.cold_runs, work)
        finally:
            manager.close()
    body = report(args, targets, mms_note, colds, tiny_colds, prefix)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
