"""Helpers shared by the benchmarks under bench/: timing, machine facts, test data, report."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

MB = 2**20
GB = 2**30
_CHUNK = 16 * MB
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """Cores, RAM and Python of this machine, in one line."""
    ram_kb = 0
    try:
        with open("/proc/meminfo") as fh:
            ram_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} cores, {ram_kb / 2**20:.0f} GB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def revision() -> str:
    """The commit measured, ``-dirty`` when the work tree has changes."""
    cmd = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def today() -> str:
    return dt.date.today().isoformat()


def du_bytes(*paths: str | os.PathLike) -> int:
    """``du -sbc``: apparent bytes of ``paths`` together (hard links counted once)."""
    out = subprocess.run(
        ["du", "-sbc", *map(os.fspath, paths)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def write_random(path: Path, size: int) -> None:
    """A file of ``size`` random bytes, written 16 MB at a time (no two chunks alike)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            n = min(_CHUNK, left)
            fh.write(os.urandom(n))
            left -= n


def make_model_folder(
    folder: Path, total: int, small_files: int, large_files: int = 3, seed: int = 0
) -> list[Path]:
    """Build (or reuse, if built with the same spec) a folder like a saved model.

    ``large_files`` random files share what ``small_files`` random 1-64 KB files, spread over
    a few sub-folders, leave of ``total`` bytes. Returns the small files, sorted.
    """
    spec = {"total": total, "small_files": small_files, "large_files": large_files, "seed": seed}
    marker = folder.with_name(folder.name + ".json")
    rng = random.Random(seed)
    sizes = [rng.randint(1024, 64 * 1024) for _ in range(small_files)]
    subs = ["tokenizer", "config", "assets", "extra/eval"]
    small = [folder / subs[i % len(subs)] / f"part-{i:05d}.bin" for i in range(small_files)]
    if marker.exists() and json.loads(marker.read_text()) == spec and folder.is_dir():
        return sorted(small)
    if folder.exists():
        remove(folder)
    large_each = max(0, total - sum(sizes)) // max(1, large_files)
    for i in range(large_files):
        write_random(folder / f"model-{i + 1:05d}-of-{large_files:05d}.safetensors", large_each)
    for path, size in zip(small, sizes, strict=True):
        write_random(path, size)
    marker.write_text(json.dumps(spec))
    return sorted(small)


def prime_cache(folder: Path) -> None:
    """Read every file under ``folder`` so that it sits in the page cache (untimed).

    Needed where the kernel evicts idle page cache proactively (DAMON ``pageout`` on these
    VMs drops pages untouched for about 30 s), or "warm-cache" runs would read the disk.
    """
    buffer = bytearray(_CHUNK)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb", buffering=0) as fh:
                while fh.readinto(buffer):
                    pass


def newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def wait_until_older_than(folder: Path, seconds: float) -> None:
    """Sleep until every file under ``folder`` was last changed ``seconds`` ago or more."""
    left = newest_mtime(folder) + seconds - time.time()
    if left > 0:
        time.sleep(left)


def remove(path: str | os.PathLike) -> None:
    """``rm -rf`` (also read-only store files, which rmtree handles as root anyway)."""
    subprocess.run(["rm", "-rf", os.fspath(path)], check=True)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def row(
    what: str,
    setup: str,
    ours: str,
    peer: str = "-",
    ratio: float | None = None,
    aim: float | None = None,
    value: float | None = None,
) -> list[str]:
    """One table row; ``value`` (seconds; default: ``ratio``) is checked against ``aim``."""
    unit = "x" if value is None else " s"
    value = ratio if value is None else value
    cells = [what, setup, ours, peer, "-" if ratio is None else f"{ratio:.3f}x"]
    if aim is None or value is None:
        return [*cells, "-", "-"]
    met = "yes" if value <= aim else f"no: {value / aim:.1f}x the aim"
    return [*cells, f"<= {aim:g}{unit}", met]


def replace_section(md_path: Path, heading: str, body: str) -> None:
    """Put ``heading`` + ``body`` into ``md_path``, replacing only that ``## `` section."""
    text = md_path.read_text() if md_path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    section = [heading, "", *body.strip("\n").splitlines(), ""]
    try:
        start = lines.index(heading)
    except ValueError:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *section]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = section
    md_path.write_text("\n".join(lines).rstrip("\n") + "\n")


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_bytes(n: float) -> str:
    return f"{n / GB:.2f} GiB" if n >= GB else f"{n / MB:.1f} MiB"
