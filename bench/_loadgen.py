"""One HTTP load generator for every serving target: ``wrk`` if installed, else asyncio.

Both are closed-loop: ``connections`` keep-alive HTTP/1.1 connections each send the same
POST again as soon as the previous answer arrived, for ``duration`` seconds; the result is
requests/s and the latency distribution. ``wrk`` (Debian package ``wrk``, C, one thread)
leaves the server most of the CPU; the asyncio fallback (run as ``python _loadgen.py``, a
process of its own) is slower and so takes a larger share of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class Load:
    """What one timed run measured."""

    rps: float
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # non-2xx answers, socket errors and timeouts


def tool() -> str:
    """``wrk`` when it is on PATH, else ``asyncio``."""
    return "wrk" if shutil.which("wrk") else "asyncio"


def tool_version() -> str:
    if tool() == "wrk":
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        return (done.stdout + done.stderr).split(" Copyright")[0].strip()
    return f"bench/_loadgen.py (asyncio, Python {sys.version.split()[0]})"


def measure(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration: float
) -> Load:
    """POST ``body`` to ``url`` over ``connections`` connections for ``duration`` seconds.

    ``wrk`` rounds ``duration`` up to whole seconds.
    """
    if tool() == "wrk":
        return _wrk(url, body, headers, connections, duration)
    args = json.dumps({"url": url, "body": body.decode(), "headers": headers,
                       "connections": connections, "duration": duration})  # fmt: skip
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), args],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    )  # fmt: skip
    return Load(**json.loads(done.stdout))


# ---- wrk ---------------------------------------------------------------------------------


def _lua(body: bytes, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_str(body.decode())}"]
    lines += [f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def _lua_str(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def _wrk(url: str, body: bytes, headers: dict[str, str], connections: int, duration: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_lua(body, headers))
    try:
        seconds = max(1, math.ceil(duration))  # wrk takes whole seconds only
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "--latency", "-s", fh.name, url]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             timeout=duration + 60).stdout  # fmt: skip
    finally:
        os.unlink(fh.name)
    return parse_wrk(out)


def parse_wrk(out: str) -> Load:
    """Requests/s, p50, p99 and errors from ``wrk --latency`` output."""

    def seconds(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(number) * _UNITS[unit]

    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(map(int, socket.groups()))
    return Load(rps, seconds(pct["50"]), seconds(pct["99"]), requests, errors)


# ---- asyncio fallback (runs in its own process) -------------------------------------------


async def _connection(host: str, port: int, request: bytes, until: float,
                      latencies: list[float], errors: list[int]) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - started)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors[0] += 1
    finally:
        writer.close()


async def _run(url: str, body: bytes, headers: dict[str, str], connections: int,
               duration: float) -> Load:  # fmt: skip
    parts = urlsplit(url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}",
            f"Content-Length: {len(body)}"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    until = started + duration
    await asyncio.gather(
        *(_connection(parts.hostname, parts.port, request, until, latencies, errors)
          for _ in range(connections))
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Load(len(latencies) / elapsed, cuts[49], cuts[98], len(latencies), errors[0])


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio load generator (JSON in, JSON out)")
    parser.add_argument("spec", help='{"url", "body", "headers", "connections", "duration"}')
    spec = json.loads(parser.parse_args().spec)
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    load = run(_run(spec["url"], spec["body"].encode(), spec["headers"],
                    spec["connections"], spec["duration"]))  # fmt: skip
    print(json.dumps(asdict(load)))


if __name__ == "__main__":
    main()
