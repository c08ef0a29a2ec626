"""Benchmark listing a large S3 store (a moto server) against a plain listing of its bucket.

Run with `make bench` or `.venv/bin/python bench/listing.py [--models 10000] [--runs 3]`.
The store is set up directly (manifests put with boto3, the summaries built from them by
the store's own repair), for speed; what is timed is the real `Shelf.list()` and the real
REST listing route of a Jupyter server running the extension, each against
`list_objects_v2` paging over the store's manifest keys on the same server.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import REPO, fmt_s, machine, median, replace_section, revision, row, table, today
from modelshelf import Shelf
from modelshelf.core.store.layout import STORE_FORMAT, manifest_key
from modelshelf.core.store.maintenance import summaries_of
from modelshelf.core.store.manifest import FileEntry, ModelVersion
from modelshelf.core.store.storeformat import StoreFormat

HEADING = "## Listing a large S3 store (bench/listing.py)"
BUCKET = "bench-listing"
ROOT = "store"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=10_000, help="models in the store (10000)")
    p.add_argument("--runs", type=int, default=3, help="runs per timing (default 3)")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    return p.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_moto() -> tuple[subprocess.Popen, str]:
    """A moto S3 server in a process of its own (its work must not share our GIL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(f"{endpoint}/moto-api/")
    return proc, endpoint


def storage_options(endpoint: str) -> dict:
    return {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }


def populate(client, shelf: Shelf, models: int) -> float:
    """Put ``models`` one-version manifests (two tags each), then build the summaries from
    them with the store's own repair; return the seconds it took."""
    start = time.perf_counter()
    client.create_bucket(Bucket=BUCKET)
    fmt = StoreFormat("blake3", summaries=True, recorded=True)
    client.put_object(Bucket=BUCKET, Key=f"{ROOT}/{STORE_FORMAT}", Body=fmt.to_json())
    entry = FileEntry("model.json", 17, "ab" * 32, 0o644, "blake3")
    drafts = [
        ModelVersion(
            name=f"model-{i:05d}",
            version=1,
            created_at="2026-12-01T12:00:00.000Z",
            source="/bench/tiny",
            files=(entry,),
            tags=("bench", f"group-{i % 10}"),
        )
        for i in range(models)
    ]

    def put(version: ModelVersion) -> None:
        key = f"{ROOT}/{manifest_key(version.name, version.version)}"
        client.put_object(Bucket=BUCKET, Key=key, Body=version.to_json())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, drafts))
    summaries = shelf.catalog.summaries
    assert summaries is not None, "the store's format should say it keeps summaries"
    truth = summaries_of({manifest_key(d.name, 1): d for d in drafts})
    assert summaries.repair(truth, lambda name, n: True) == models
    return time.perf_counter() - start


def plain_listing(client) -> int:
    """The peer: every manifest key of the store, by ``list_objects_v2`` pages."""
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{ROOT}/models/"
    ):
        count += len(page.get("Contents", []))
    return count


def start_jupyter(endpoint: str, work: Path) -> tuple[subprocess.Popen, str, str]:
    """A Jupyter server with the extension over the S3 store; (process, base URL, token)."""
    port, token = free_port(), secrets.token_hex(16)
    config = {
        "ServerApp": {
            "jpserver_extensions": {"modelshelf": True},
            "allow_unauthenticated_access": False,
            "open_browser": False,
            "allow_root": True,  # containers run as root; the server listens on loopback only
            "port": port,
            "ip": "127.0.0.1",
            "root_dir": str(work),
        },
        "IdentityProvider": {"token": token},
        "ModelshelfApp": {
            "root": f"s3://{BUCKET}/{ROOT}",
            "storage_options": storage_options(endpoint),
        },
    }
    path = work / "jupyter_server_config.json"
    path.write_text(json.dumps(config))
    env = {
        **os.environ,
        **CREDENTIALS,
        "JUPYTER_CONFIG_DIR": str(work),
        "JUPYTER_RUNTIME_DIR": str(work),
    }
    cmd = [sys.executable, "-m", "jupyter_server", f"--config={path}"]
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/status?token={token}")
    except OSError:
        proc.terminate()
        sys.exit("the Jupyter server did not start:\n" + (work / "server.log").read_text()[-3000:])
    return proc, base, token


def rest_page(base: str, token: str, query: str = "") -> dict:
    request = urllib.request.Request(
        f"{base}/modelshelf/api/models?limit=100{query}",
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def timed_value(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.update(CREDENTIALS)
    import boto3

    moto, endpoint = start_moto()
    jupyter = None
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        print(f"putting {args.models:,} manifests ...", flush=True)
        shelf = Shelf(f"s3://{BUCKET}/{ROOT}", storage_options=storage_options(endpoint))
        setup_s = populate(client, shelf, args.models)
        with tempfile.TemporaryDirectory() as tmp:
            jupyter, base, token = start_jupyter(endpoint, Path(tmp))
            ways = {
                "plain listing": lambda: plain_listing(client),
                "Shelf.list()": lambda: len(shelf.list()),
                "REST page": lambda: rest_page(base, token)["total"],
                "REST page, tag filter": lambda: rest_page(base, token, "&tag=group-3")["total"],
                "manifest-key listing (older stores)": lambda: len(shelf.catalog.scan()),
            }
            expected = {"REST page, tag filter": args.models // 10 + (args.models % 10 > 3)}
            times: dict[str, list[float]] = {name: [] for name in ways}
            names = list(ways)
            for run in range(args.runs + 1):
                for name in names[run % len(names) :] + names[: run % len(names)]:
                    took, count = timed_value(ways[name])
                    assert count == expected.get(name, args.models), (name, count)
                    label = f"run {run}/{args.runs}" if run else "warm-up"
                    print(f"  {label:<9} {name:<36} {fmt_s(took)}", flush=True)
                    if run:
                        times[name].append(took)
    finally:
        for proc in (jupyter, moto):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
    body = report(args, setup_s, times)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


def report(args: argparse.Namespace, setup_s: float, times: dict[str, list[float]]) -> str:
    n, m = args.runs, f"{args.models:,}"
    plain = median(times["plain listing"])
    med = f"median of {n}"
    rows = []
    for name, what in (
        ("Shelf.list()", f"`Shelf.list()`, {m} models"),
        ("REST page", f"`GET /modelshelf/api/models?limit=100`, {m} models"),
        ("REST page, tag filter", f"the same with `&tag=group-3` ({m} models' tags)"),
    ):
        t = median(times[name])
        rows.append(row(what, f"moto S3 server; {med}", fmt_s(t), fmt_s(plain), t / plain))
        rows.append(row(f"{what}: wall", med, fmt_s(t), aim=2.0, value=t))
    old = median(times["manifest-key listing (older stores)"])
    rows.append(
        row("listing by manifest keys (older stores)", med, fmt_s(old), fmt_s(plain), old / plain)
    )
    raw = "; ".join(f"{k}: {' / '.join(fmt_s(t) for t in v)}" for k, v in times.items())
    notes = [
        f"- Command: `make bench` (or `.venv/bin/python bench/listing.py --models {args.models}"
        f" --runs {n}`).",
        f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
        "",
        table(
            ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"], rows
        ),
        "",
        f"- Store: `s3://{BUCKET}/{ROOT}` on a moto server in its own process on 127.0.0.1;"
        f" {m} models of one version each (two tags), their manifests put with boto3 and the"
        f" summaries built from them by `SummaryBook.repair`, in {fmt_s(setup_s)} (untimed).",
        "- Peer: `list_objects_v2` paging (boto3) over the store's `models/` keys: the least"
        " any listing that reads one key per model pays. `Shelf.list()` reads the 16 summary"
        " shards in parallel instead; the REST route runs in a Jupyter server (its own"
        " process, token auth) over the same store, timed by the client per request.",
        "- Older stores (no summaries) list the manifest keys (`Catalog.scan`), and their REST"
        " page then reads one manifest per model shown for its tags.",
        f"- Runs (rotated order, after one discarded warm-up round): {raw}.",
    ]
    return "\n".join(notes)


if __name__ == "__main__":
    main()
