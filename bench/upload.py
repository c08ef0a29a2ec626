"""Benchmark uploads from a user's computer against one plain PUT of the same bytes.

Run with ``.venv/bin/python bench/upload.py [--size-mb 500] [--runs 3]``. One real
``jupyter server`` runs the modelshelf extension over a fresh local store, and, in the same
process, bench/_raw_put.py: a streamed ``PUT`` that writes the body to a file as it arrives
(the peer: what moving the bytes costs with nothing on top). The upload is the sidebar's own
protocol from Python (httpx, one keep-alive connection): ``POST /uploads``, the file in
sequential chunks of the size the server asks for, ``POST .../commit``, and polling the task
until the version exists (hashed, stored, its manifest committed). Both read the same file
from the page cache; runs alternate order after one discarded warm-up of each, and each
upload's version is deleted and gc'ed before the next, so every upload stores its bytes anew.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from _common import (
    BENCH_DIR,
    MB,
    REPO,
    fmt_s,
    machine,
    median,
    prime_cache,
    replace_section,
    revision,
    row,
    table,
    today,
    write_random,
)
from modelshelf import Shelf
from modelshelf.core.sources.upload import UploadManager
from serve import free_port, session_cpu

HEADING = "## Uploads from the user's computer (bench/upload.py)"
TOKEN = "modelshelf-bench-upload"
MODEL = "bench-upload"


def start_server(work: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    config = work / "jupyter-config"
    config.mkdir()
    extensions = {"modelshelf": True, "_raw_put": True}
    settings = {"ServerApp": {"jpserver_extensions": extensions}}
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
        "MODELSHELF_ROOT": str(work / "store"),
        "MODELSHELF_STATE_DIR": str(work / "state"),
        "MODELSHELF_BENCH_PUT_DIR": str(work / "put"),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
    }
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={work}", *extra,
    ]  # fmt: skip
    if os.getuid() == 0:
        command.append("--allow-root")
    with open(work / "server.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/status?token={TOKEN}").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"jupyter server did not start:\n{(work / 'server.log').read_text()}")


def file_pieces(path: Path, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``offset`` on (to its end by default), read 1 MiB at a
    time while the bytes before travel: how both the plain ``PUT`` and every chunk are sent,
    as a browser streams a ``Blob`` slice."""
    left = path.stat().st_size - offset if length is None else length
    with open(path, "rb") as fh:
        fh.seek(offset)
        while left > 0 and (piece := fh.read(min(MB, left))):
            left -= len(piece)
            yield piece


def plain_put(client: httpx.Client, base: str, path: Path, name: str) -> float:
    size = path.stat().st_size
    start = time.perf_counter()
    answer = client.put(f"{base}/bench/raw-put/{name}", content=file_pieces(path),
                        headers={"Content-Length": str(size)})  # fmt: skip
    elapsed = time.perf_counter() - start
    answer.raise_for_status()
    assert answer.json()["size"] == size, answer.text
    return elapsed


def upload(client: httpx.Client, base: str, path: Path) -> tuple[float, float]:
    """Seconds to a committed version, and of those the seconds until the last chunk."""
    api = f"{base}/modelshelf/api"
    size = path.stat().st_size
    start = time.perf_counter()
    created = client.post(f"{api}/uploads", json={
        "name": MODEL, "files": [{"path": path.name, "size": size}]})  # fmt: skip
    created.raise_for_status()
    upload_id, chunk = created.json()["id"], created.json()["chunk_size"]
    for offset in range(0, size, chunk):
        length = min(chunk, size - offset)
        client.put(f"{api}/uploads/{upload_id}/files/0", params={"offset": offset},
                   content=file_pieces(path, offset, length),
                   headers={"Content-Length": str(length)}).raise_for_status()  # fmt: skip
    sent = time.perf_counter() - start
    task = client.post(f"{api}/uploads/{upload_id}/commit").json()
    while task["status"] == "running":
        time.sleep(0.01)
        task = client.get(f"{api}/tasks/{task['id']}").json()
    elapsed = time.perf_counter() - start
    if task["status"] != "succeeded":
        raise SystemExit(f"the upload failed: {task['error']}")
    return elapsed, sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=500, help="MiB uploaded per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-mb", type=int, default=0, help="UploadManager.chunk_size")
    args = parser.parse_args(argv)
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-upload-") as tmp:
        work = Path(tmp)
        (work / "put").mkdir()
        data = work / "data" / "weights.bin"
        write_random(data, size)
        os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
        extra = [f"--UploadManager.chunk_size={args.chunk_mb * MB}"] if args.chunk_mb else []
        process, base = start_server(work, *extra)
        shelf = Shelf(work / "store")
        plain, ours, chunks_only = [], [], []
        plain_cpu, ours_cpu = [], []  # the server's CPU seconds per transfer
        try:
            # TCP_NODELAY as browsers set it: without it, each request's small last segment
            # waits for the server's delayed ACK (40 ms), once per chunk.
            transport = httpx.HTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
            auth = {"Authorization": f"token {TOKEN}"}
            with httpx.Client(headers=auth, timeout=None, transport=transport) as client:
                for i in range(args.runs + 1):  # run 0 warms both up and is discarded
                    for side in [0, 1] if i % 2 else [1, 0]:
                        prime_cache(data.parent)
                        cpu = session_cpu(process.pid)
                        if side == 0:
                            seconds = plain_put(client, base, data, f"run{i}")
                            cpu = session_cpu(process.pid) - cpu
                            (work / "put" / f"run{i}").unlink()
                            if i:
                                plain.append(seconds)
                                plain_cpu.append(cpu)
                        else:
                            seconds, sent = upload(client, base, data)
                            cpu = session_cpu(process.pid) - cpu
                            for version in shelf.versions(MODEL):
                                shelf.delete(version.ref)
                            shelf.gc()
                            if i:
                                ours.append(seconds)
                                chunks_only.append(sent)
                                ours_cpu.append(cpu)
                    print(f"run {i}: plain PUT {plain[-1:]}, upload {ours[-1:]}", flush=True)
        finally:
            shelf.close()
            process.terminate()
            process.wait(timeout=30)
    p, o, c = median(plain), median(ours), median(chunks_only)
    chunk_mb = args.chunk_mb or UploadManager.chunk_size.default_value // MB
    chunk_option = f" --chunk-mb {args.chunk_mb}" if args.chunk_mb else ""
    setup = f"{args.size_mb} MiB, one file; median of {args.runs}"
    rows = [
        row(
            "upload to a committed version vs one plain `PUT`, time",
            setup,
            fmt_s(o),
            fmt_s(p),
            o / p,
            2.0,
        ),
        row(
            "speed: upload vs plain `PUT`",
            setup,
            f"{size / o / MB:,.0f} MiB/s",
            f"{size / p / MB:,.0f} MiB/s",
            p / o,
        ),
        row("of which: the chunks alone vs plain `PUT`, time", setup, fmt_s(c), fmt_s(p), c / p),
        row(
            "server CPU: upload vs plain `PUT`",
            setup,
            fmt_s(median(ours_cpu)),
            fmt_s(median(plain_cpu)),
            median(ours_cpu) / median(plain_cpu),
        ),
    ]
    body = "\n".join(
        [
            f"- Command: `.venv/bin/python bench/upload.py --size-mb {args.size_mb} "
            f"--runs {args.runs}{chunk_option}`.",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
            "",
            table(["measurement", "setup", "modelshelf", "peer", "ratio", "aim", "met"], rows),
            "",
            "- Aim: at least half the speed of a plain `PUT` (a time ratio of 2x at most). The"
            " peer is bench/_raw_put.py, a streamed `PUT` handler in the same jupyter server"
            " process that writes the body to a file as it arrives: the cost of moving the"
            " bytes alone. JupyterLab's own chunked contents upload is no fair peer: it sends"
            " base64 inside JSON. The upload is the sidebar's protocol from Python (httpx, one"
            " keep-alive connection, token auth): announce, sequential chunks of the server's"
            f" chunk size ({chunk_mb} MiB), commit, then polling the save task every 10 ms until"
            " the version exists. Each request body, the plain `PUT` and every chunk alike, is"
            " read from the file 1 MiB at a time while the bytes before travel, as a browser"
            " streams a `Blob` slice (reading a whole 16 MiB chunk before sending it made the"
            " server wait for the client on every chunk). The server streams each chunk into"
            " its staging file as it arrives (as the peer does) and hashes every piece with the"
            " store's digest (BLAKE3) right before writing it, on the same thread; the commit"
            " links the staged file into the local store under that digest, so no byte is read"
            " or copied twice: what remains over the peer is the hashing, the per-chunk round"
            " trips and the commit. The server's CPU time (user + system of its process, from"
            " `/proc`) hardly depends on what else runs on the machine.",
            f"- Plain PUT: {', '.join(fmt_s(s) for s in plain)}; upload: "
            f"{', '.join(fmt_s(s) for s in ours)}; its chunks alone: "
            f"{', '.join(fmt_s(s) for s in chunks_only)}; server CPU, plain PUT: "
            f"{', '.join(fmt_s(s) for s in plain_cpu)}; upload: "
            f"{', '.join(fmt_s(s) for s in ours_cpu)}.",
        ]
    )
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
