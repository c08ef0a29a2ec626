"""Benchmark the model store against `cp -r` and MLflow; rewrite its section of BENCHMARKS.md.

Run with `make bench` or `.venv/bin/python bench/store.py [--size-gb 0.5] [--keep]`.
Saves and loads are timed against `cp -r` of the same bytes in the same run; the peak
resident memory of a process saving (then loading) a `--rss-size-gb` folder is measured
in a fresh process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from _common import (
    BENCH_DIR,
    GB,
    REPO,
    du_bytes,
    fmt_bytes,
    fmt_s,
    machine,
    make_model_folder,
    median,
    prime_cache,
    remove,
    replace_section,
    revision,
    row,
    table,
    timed,
    today,
    wait_until_older_than,
)
from _store_loads import cpu_seconds, loads, peak_memory
from modelshelf import Shelf

# MLflow 3 refuses its file store unless asked; it is the peer's serverless local setup.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
HEADING = "## Store (bench/store.py)"
VERSIONS = 10


@dataclass
class Results:
    """Every timing the report needs, in seconds (bytes for sizes)."""

    first: dict[str, list[float]] = field(default_factory=dict)
    first_cpu: dict[str, list[float]] = field(default_factory=dict)
    loads: dict[str, list[float]] = field(default_factory=dict)
    loads_cpu: dict[str, list[float]] = field(default_factory=dict)
    rss_bytes: int = 0
    rss_save: tuple[float, int] = (0.0, 0)
    rss_load: tuple[float, int] = (0.0, 0)
    resaves: list[float] = field(default_factory=list)
    store_bytes: int = 0
    version_bytes: int = 0
    create_s: float = 0.0
    lists: list[float] = field(default_factory=list)
    cli: list[float] | None = None
    cli_note: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-gb", type=float, default=2.0, help="folder size in GiB (default 2)")
    p.add_argument("--small-files", type=int, default=1000, help="1-64 KB files (default 1000)")
    p.add_argument("--models", type=int, default=10_000, help="models for list() (10000)")
    p.add_argument("--runs", type=int, default=3, help="runs per timing (default 3)")
    p.add_argument(
        "--rss-size-gb", type=float, default=5.0, help="folder for the peak-memory run (5)"
    )
    p.add_argument("--work", type=Path, default=BENCH_DIR / ".work", help="scratch folder")
    p.add_argument("--keep", action="store_true", help="keep the scratch data at the end")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    return p.parse_args(argv)


# ---- the ways to make a first copy -----------------------------------------------------------


def run_cp(folder: Path, out: Path) -> float:
    return timed(lambda: subprocess.run(["cp", "-r", str(folder), str(out / "copy")], check=True))


def run_ours(folder: Path, out: Path, digest: str = "blake3") -> float:
    """A first save: fresh store and fresh state dir, so no stat cache helps."""
    os.environ["MODELSHELF_STATE_DIR"] = str(out / "state")
    return timed(lambda: Shelf(out / "store", new_store_digest=digest).save("bench", folder))


def run_ours_sha256(folder: Path, out: Path) -> float:
    """The same first save into a store keyed by sha256, as stores made before BLAKE3."""
    return run_ours(folder, out, "sha256")


def run_mlflow(folder: Path, out: Path) -> float:
    """``mlflow.log_artifacts`` into a run of a fresh local file store (only the log timed)."""
    import mlflow

    uri = (out / "mlruns").as_uri()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        return timed(lambda: mlflow.log_artifacts(str(folder)))


TOOLS = {
    "cp -r": run_cp,
    "modelshelf": run_ours,
    "modelshelf sha256": run_ours_sha256,
    "mlflow": run_mlflow,
}


def first_saves(
    folder: Path, work: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each tool ``runs`` times, the order rotated every run; outputs deleted between runs.

    A first, discarded round warms up the VM's memory: whatever first fills fresh page
    cache runs several times slower here.
    """
    names = list(TOOLS)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    previous: Path | None = None
    for run in range(runs + 1):
        order = names[run % len(names) :] + names[: run % len(names)]
        for name in order:
            out = work / f"out-{run}-{names.index(name)}"  # MLflow caches stores by URI
            out.mkdir(parents=True)
            os.sync()  # flush (never drop) the page cache, so no run pays another's writeback
            prime_cache(folder)
            if previous is not None:
                remove(previous)  # just before the run: see loads() on freed memory
            before = cpu_seconds()
            took = TOOLS[name](folder, out)
            spent = cpu_seconds() - before
            previous = out
            label = f"run {run}/{runs}" if run else "warm-up"
            print(f"  {label:<9} {name:<17} {fmt_s(took)} (CPU {fmt_s(spent)})", flush=True)
            if run:
                times[name].append(took)
                cpu[name].append(spent)
    if previous is not None:
        remove(previous)
    return times, cpu


# ---- re-saves and versions -----------------------------------------------------------------


def versions(folder: Path, small: list[Path], work: Path, res: Results) -> None:
    """Save ``VERSIONS`` versions into one store, changing one small file before each re-save."""
    out = work / "versions"
    remove(out)
    os.environ["MODELSHELF_STATE_DIR"] = str(out / "state")
    shelf = Shelf(out / "store")
    wait_until_older_than(folder, 3.0)  # as in real use: the folder was written a while ago
    shelf.save("bench", folder)
    for i in range(1, VERSIONS):
        changed = small[(i * 97) % len(small)]
        changed.write_bytes(os.urandom(changed.stat().st_size))
        os.sync()
        res.resaves.append(timed(lambda: shelf.save("bench", folder)))
        print(f"  re-save {i}/{VERSIONS - 1} {fmt_s(res.resaves[-1])}", flush=True)
        diff = shelf.diff(f"bench:{i}", f"bench:{i + 1}")
        assert len(diff.changed) == 1 and not diff.added and not diff.removed, diff
    res.store_bytes = du_bytes(out / "store" / "blobs", out / "store" / "models")
    res.version_bytes = du_bytes(folder)
    remove(out)


# ---- listing ---------------------------------------------------------------------------------


def _models_and_lists(store: str, tiny: str, models: int, runs: int) -> tuple[float, list[float]]:
    """In a process of its own: save ``models`` models of ``tiny``, then time ``list()``.

    One process saving in turn is the fastest way here: two processes contend on the
    store's lock records. Importing only modelshelf keeps the heap (and GC) a user's size.
    """
    shelf = Shelf(store)
    create_s = timed(lambda: [shelf.save(f"m{i:05d}", tiny) for i in range(models)])
    count = len(shelf.list())
    assert count == models, f"listed {count} models, expected {models}"
    return create_s, [timed(shelf.list) for _ in range(runs)]


def listing(work: Path, models: int, runs: int, res: Results) -> None:
    """Create ``models`` models of one tiny folder (they dedupe), then time listing them."""
    out = work / "many"
    remove(out)
    tiny = work / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)
    (tiny / "model.json").write_text('{"kind": "tiny"}\n')
    wait_until_older_than(tiny, 2.5)
    store = str(out / "store")
    os.environ["MODELSHELF_STATE_DIR"] = str(out / "state")
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        job = pool.submit(_models_and_lists, store, str(tiny), models, runs)
        res.create_s, res.lists = job.result()
    res.cli, res.cli_note = cli_ls(store, runs)
    remove(out)


def cli_ls(store: str, runs: int) -> tuple[list[float] | None, str]:
    """Wall times of ``modelshelf ls --root STORE``, or None and why not."""
    if importlib.util.find_spec("modelshelf.cli") is None:
        return None, "src/modelshelf/cli/ does not exist yet"
    script = Path(sys.executable).with_name("modelshelf")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "modelshelf.cli"]
    env = {**os.environ, "MODELSHELF_ROOT": store}
    for form in (["ls", "--root", store], ["--root", store, "ls"]):
        cmd = base + form
        probe = subprocess.run(cmd, capture_output=True, env=env)
        if probe.returncode == 0:
            times = [
                timed(lambda c=cmd: subprocess.run(c, stdout=subprocess.DEVNULL, env=env))
                for _ in range(runs)
            ]
            return times, "modelshelf " + " ".join(form).replace(store, "DIR")
    return None, f"`modelshelf ls` failed: {probe.stderr.decode(errors='replace')[-200:]}"


# ---- report --------------------------------------------------------------------------------


def cpu_row(what: str, cpu: dict[str, list[float]], ours: str, peer: str, med: str) -> list[str]:
    mine, theirs = median(cpu[ours]), median(cpu[peer])
    return row(
        what, f"user + system, all threads; {med}", fmt_s(mine), fmt_s(theirs), mine / theirs
    )


def memory_row(what: str, setup: str, peak: int, aim: int) -> list[str]:
    met = "yes" if peak <= aim else f"no: {peak / aim:.1f}x the aim"
    return [what, setup, fmt_bytes(peak), "-", "-", f"<= {fmt_bytes(aim)}", met]


def report(args: argparse.Namespace, folder_bytes: int, res: Results) -> str:
    n = args.runs
    cp, ours, ml = (median(res.first[k]) for k in ("cp -r", "modelshelf", "mlflow"))
    ours_sha = median(res.first["modelshelf sha256"])
    load_b3, cp_b3 = median(res.loads["load blake3"]), median(res.loads["cp -r blake3"])
    load_sha, cp_sha = median(res.loads["load sha256"]), median(res.loads["cp -r sha256"])
    rss_setup = f"{fmt_bytes(res.rss_bytes)}: 3 large + {args.small_files:,} small files"
    resave, lst = median(res.resaves), median(res.lists)
    sb, vb = res.store_bytes, res.version_bytes
    size = f"{fmt_bytes(folder_bytes)}: 3 large + {args.small_files:,} small files"
    med, t = f"median of {n}", fmt_s
    rows = [
        row("first save vs `cp -r`", f"{size}; BLAKE3 store; {med}", t(ours), t(cp), ours / cp,
            1.3),
        row("first save, sha256 store, vs `cp -r`", f"as stores before BLAKE3; {med}",
            t(ours_sha), t(cp), ours_sha / cp),
        row("`shelf.load` vs `cp -r` of the blobs", f"into an empty folder, every hash "
            f"verified; BLAKE3 store; {med}", t(load_b3), t(cp_b3), load_b3 / cp_b3, 1.2),
        row("`shelf.load`, sha256 store, vs `cp -r`", f"the same; {med}", t(load_sha),
            t(cp_sha), load_sha / cp_sha),
        cpu_row("first save, CPU seconds vs `cp -r`'s", res.first_cpu, "modelshelf", "cp -r", med),
        cpu_row("`shelf.load`, CPU seconds vs `cp -r`'s", res.loads_cpu, "load blake3",
                "cp -r blake3", med),
        memory_row("peak RSS of the saving process", f"{rss_setup}; save in a fresh process"
                   f" ({fmt_s(res.rss_save[0])})", res.rss_save[1], 256 * 2**20),
        memory_row("peak RSS after loading it back", f"the same process, then `load`"
                   f" ({fmt_s(res.rss_load[0])})", res.rss_load[1], 256 * 2**20),
        row("first save vs MLflow", f"`log_artifacts`; {med}", t(ours), t(ml), ours / ml),
        row("re-save, 1 small file changed", f"vs first save; median of {len(res.resaves)}",
            t(resave), t(ours), resave / ours, 0.1),
        row(f"store size, {VERSIONS} versions", "`du -sb` blobs+models vs 1 version",
            fmt_bytes(sb), fmt_bytes(vb), sb / vb, 1.1),
        row(f"`shelf.list()`, {args.models:,} models", med, t(lst), aim=0.5, value=lst),
    ]  # fmt: skip
    if res.cli is not None:
        cli = f"`{res.cli_note}`, {args.models:,} models"
        rows.append(row(cli, f"wall, median of {n}", fmt_s(median(res.cli))))
    header = ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"]
    raw = ", ".join(f"{k}: {' / '.join(fmt_s(t) for t in v)}" for k, v in res.first.items())
    notes = [
        f"- Command: `make bench` (or `.venv/bin/python bench/store.py --size-gb "
        f"{args.size_gb:g} --small-files {args.small_files} --models {args.models} --runs {n}"
        f" --rss-size-gb {args.rss_size_gb:g}`).",
        f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
        "- All runs are warm-cache: the page cache is never dropped, and the folder is read once"
        " (untimed) right before every timed run, as this VM's kernel evicts idle page cache"
        " after ~30 s (DAMON `pageout`). `os.sync()` runs before every timed run (flushing, not"
        " dropping, the cache), and each"
        " run rotates the order of `cp -r`, modelshelf and MLflow, after one discarded warm-up"
        " round (on this VM whatever first fills fresh memory runs several times slower)."
        " Every first save gets a fresh store and a fresh `MODELSHELF_STATE_DIR`.",
        "- Freed memory: each run's output is deleted right before the next timed run (after"
        " the sync and the cache read), not right after its own. Memory this VM's guest frees"
        " is handed back to the host (virtio-balloon free page reporting) a few seconds"
        " later, and whatever next fills it pays for the host to back it again: deleting 2 GiB"
        " and then syncing and reading the folder made alternate `cp -r` runs take 2.2-5.1 s"
        " instead of 0.82-0.86 s. Deleted last, the freed pages are reused while still backed,"
        " for every tool alike.",
        "- Timed: `cp -r` as a subprocess; `Shelf(root).save(...)` in-process; MLflow's"
        " `log_artifacts` alone, inside `start_run()` on a fresh `file://` tracking URI"
        " (`MLFLOW_ALLOW_FILE_STORE=true`, no server). Durability is equal: nobody fsyncs.",
        f"- First-save runs: {raw}.",
        "- Loads: one version saved once per store, then `Shelf.load` into an empty folder"
        " (a fresh one each run; every file's digest checked while it is copied out) and"
        " `cp -r` of that store's `blobs/` folder, alternating order after one discarded"
        " warm-up round, the blobs read once (untimed) before every run. Runs: "
        + ", ".join(f"{k}: {' / '.join(fmt_s(t) for t in v)}" for k, v in res.loads.items())
        + ".",
        "- CPU: user + system seconds of every thread of the benchmark's process and of its"
        " finished children (`cp`) across each timed call: on a shared machine it moves less"
        " than wall time with the load, though time the hypervisor steals still counts.",
        "- Peak RSS: `VmHWM` of a fresh process (spawned, importing only modelshelf) that"
        " saves the folder into a new store, then loads it back; mapped page-cache pages"
        " count, so hashing a whole file through one `mmap` would show here.",
        f"- Re-saves: the folder is 3 s old or more, as in real use; the stat cache re-reads only"
        f" the changed file. Runs: {' / '.join(fmt_s(t) for t in res.resaves)}.",
        f"- The {args.models:,} models were created through `Shelf.save` of one tiny folder in"
        f" {fmt_s(res.create_s)} ({args.models / res.create_s:,.0f} saves/s), in a process that"
        " imports only modelshelf; only its `list()` is timed.",
    ]
    if res.cli is None:
        notes.append(f"- CLI row skipped: {res.cli_note}.")
    return "\n".join([*notes[:2], "", table(header, rows), "", *notes[2:]])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = args.work.resolve() / "store-bench"
    total = int(args.size_gb * GB)
    work.mkdir(parents=True, exist_ok=True)
    # The folder, one copy or store at a time, the versions store; then the memory run's
    # folder, store and loaded copy (the first folder is kept meanwhile).
    need = max(3 * total, total + 3 * int(args.rss_size_gb * GB)) + GB
    if shutil.disk_usage(work).free < need:
        sys.exit(f"need {fmt_bytes(need)} free under {work}")
    try:
        print(f"building {fmt_bytes(total)} folder under {work} ...", flush=True)
        folder = work / "folder"
        small = make_model_folder(folder, total, args.small_files)
        folder_bytes = du_bytes(folder)
        res = Results()
        warm = work / "warm"  # imports and lazy set-up of every tool, untimed
        (warm / "src").mkdir(parents=True, exist_ok=True)
        (warm / "src" / "a.txt").write_text("warm-up\n")
        for name, tool in TOOLS.items():
            (warm / name).mkdir(exist_ok=True)
            tool(warm / "src", warm / name)
        remove(warm)
        print("first saves:", flush=True)
        res.first, res.first_cpu = first_saves(folder, work, args.runs)
        print("loads:", flush=True)
        res.loads, res.loads_cpu = loads(folder, work, args.runs)
        print(f"peak memory, {args.rss_size_gb:g} GiB:", flush=True)
        res.rss_bytes, res.rss_save, res.rss_load = peak_memory(
            work, int(args.rss_size_gb * GB), args.small_files
        )
        print("versions:", flush=True)
        versions(folder, small, work, res)
        print(f"listing {args.models:,} models:", flush=True)
        listing(work, args.models, args.runs, res)
    finally:
        if not args.keep:
            remove(work)
            with contextlib.suppress(OSError):
                work.parent.rmdir()  # only if empty
    body = report(args, folder_bytes, res)
    replace_section(args.out, HEADING, body)
    print(f"\n{HEADING}\n\n{body}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
