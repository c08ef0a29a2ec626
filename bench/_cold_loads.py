"""Cold loads for bench/handlers.py: a model deployed afresh from the store, and a model
first asked for on a multi-model endpoint serving a moto S3 prefix of ``.tar.gz`` archives."""

from __future__ import annotations

import contextlib
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _handler_model import BODY, CSV_HEADERS, MODEL, check, write_model
from modelshelf import Shelf
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.manager import DeploymentManager
from serve import free_port, post


@dataclass
class ColdLoad:
    """One deploy of the big model: deploy() to ready, and the handler's own load time."""

    deploy_seconds: float
    load_seconds: float  # the handler's initialize, timed by itself in the server
    inproc_seconds: float  # load_service of the same version in the benchmark's process

    @property
    def overhead(self) -> float:
        return self.deploy_seconds - self.load_seconds


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


# ---- from a moto S3 prefix -----------------------------------------------------------------

TARGET = "X-Amzn-SageMaker-Target-Model"
BUCKET = "bench-model-data"
PREFIX = "models"
LOADED = re.compile(r"model_handler: loaded in ([\d.]+) s")
FETCHED = r"model data: {}: downloaded and extracted \d+ bytes in ([\d.]+) s"


@dataclass
class PrefixColdLoad:
    """The first request naming one new key of the model-data prefix, and its parts."""

    key: str
    first_seconds: float  # POST /invocations with the key as TargetModel, to its answer
    second_seconds: float  # the same request again: the model now loaded
    load_seconds: float  # the handler's initialize, timed by itself in the server
    fetch_seconds: float  # the server's download and extraction (streamed), from its log

    @property
    def overhead(self) -> float:
        return self.first_seconds - self.load_seconds


@dataclass
class PrefixColdLoads:
    archive_bytes: int
    endpoint_first_seconds: float  # the endpoint's very first request (a tiny model)
    loads: list[PrefixColdLoad]


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[dict[str, Any], Any]]:
    """A moto S3 server on 127.0.0.1 (as the tests use) with BUCKET: its s3fs options and a
    boto3 client."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        client.create_bucket(Bucket=BUCKET)
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing",
                   "client_kwargs": {"region_name": "us-east-1"}}  # fmt: skip
        yield options, client
    finally:
        server.stop()


def write_archive(folder: Path, weights_mb: int) -> Path:
    """The model's files as ``<folder>.tar.gz`` (gzip level 1: random weights do not shrink)."""
    write_model(folder, weights_mb)
    archive = folder.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def prefix_cold_loads(manager: DeploymentManager, spec: HandlerSpec, weights_mb: int,
                      runs: int, work: Path) -> PrefixColdLoads:  # fmt: skip
    """A multi-model endpoint over an S3 prefix (moto) holding ``runs`` copies of a
    ``weights_mb`` model's archive under new keys; for each key, the first request naming
    it (download, extraction, load, answer), timed by the client on a running endpoint
    whose first request (a tiny model's) has already set up its S3 client."""
    big, tiny = write_archive(work / "s3-big", weights_mb), write_archive(work / "s3-tiny", 0)
    with moto_s3() as (options, s3):
        keys = [f"{MODEL}-cold-{i}.tar.gz" for i in range(runs)]
        s3.upload_file(str(tiny), BUCKET, f"{PREFIX}/{MODEL}-tiny.tar.gz")
        for key in keys:
            s3.upload_file(str(big), BUCKET, f"{PREFIX}/{key}")
        deployment = manager.deploy([], mode="multi", name="bench-model-data", handler=spec,
                                    model_data=f"s3://{BUCKET}/{PREFIX}/",
                                    model_data_options=options)  # fmt: skip
        try:
            if deployment.status != "ready":
                raise SystemExit(f"{deployment}:\n{deployment.logs()[-3000:]}")
            url = deployment.url + "/invocations"
            endpoint_first = invoke(url, f"{MODEL}-tiny.tar.gz")
            loads = []
            for i, key in enumerate(keys):
                first = invoke(url, key)
                second = invoke(url, key)
                logged = LOADED.findall(deployment.logs())
                if len(logged) != i + 2:  # the tiny model's, then one per key
                    raise SystemExit(f"the endpoint logged {logged} load times")
                fetched = re.findall(FETCHED.format(re.escape(key)), deployment.logs())
                if len(fetched) != 1:
                    raise SystemExit(f"the endpoint logged {fetched} downloads of {key}")
                fetch = float(fetched[0])
                loads.append(PrefixColdLoad(key, first, second, float(logged[-1]), fetch))
                print(f"  s3 cold {i + 1}/{runs}: first invoke {first * 1e3:.0f} ms, handler's"
                      f" load {float(logged[-1]) * 1e3:.0f} ms (download and extraction"
                      f" {fetch * 1e3:.0f} ms)",
                      flush=True)  # fmt: skip
        finally:
            deployment.stop()
    return PrefixColdLoads(big.stat().st_size, endpoint_first, loads)


def invoke(url: str, key: str) -> float:
    """Seconds from sending the request naming ``key`` to its checked answer."""
    started = time.perf_counter()
    status, body = post(url, {**CSV_HEADERS, TARGET: key}, BODY)
    seconds = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"{key} answered {status} {body[:300]!r}")
    check(key, body)
    return seconds
