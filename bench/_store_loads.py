"""Loads and memory for bench/store.py: `shelf.load` against `cp -r` of the blobs, and the
peak resident memory of a process saving and loading a large folder."""

from __future__ import annotations

import os
import resource
import subprocess
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import du_bytes, fmt_bytes, fmt_s, make_model_folder, prime_cache, remove, timed
from modelshelf import Shelf


def cpu_seconds() -> float:
    """User + system CPU of this process (all its threads) and of its finished children.

    It moves less than wall time with what else runs on a shared machine (though time the
    hypervisor steals still counts), so it shows the work each way does when walls are noisy.
    """
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def loads(
    folder: Path, work: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``shelf.load`` of one version into an empty folder (every hash verified) against
    ``cp -r`` of the store's blobs folder: the same bytes, from the same place.

    Each run's copy is deleted right before the next timed run, not right after its own:
    this VM hands memory the guest freed back to the host a few seconds later (free page
    reporting), and whatever fills it next waits for the host to back it again. Deleted
    just before, the 2 GiB freed are reused while still backed, by either way alike.
    """
    out = work / "loads"
    remove(out)
    os.environ["MODELSHELF_STATE_DIR"] = str(out / "state")
    results: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for digest in ("blake3", "sha256"):
        shelf = Shelf(out / digest, new_store_digest=digest)
        shelf.save("bench", folder)
        blobs = out / digest / "blobs"
        ways = {
            f"cp -r {digest}": lambda dst, b=blobs: run_cp_to(b, dst),
            f"load {digest}": lambda dst, s=shelf: s.load("bench", dst),
        }
        for name in ways:
            results.setdefault(name, [])
            cpu.setdefault(name, [])
        names = list(ways)
        previous: Path | None = None
        for run in range(runs + 1):
            for name in names[run % 2 :] + names[: run % 2]:
                dst = out / f"dst-{run}-{names.index(name)}"
                os.sync()
                prime_cache(blobs)
                if previous is not None:
                    remove(previous)  # last: see above
                before = cpu_seconds()
                took = timed(lambda n=name, d=dst, w=ways: w[n](d))
                spent = cpu_seconds() - before
                previous = dst
                label = f"run {run}/{runs}" if run else "warm-up"
                print(f"  {label:<9} {name:<12} {fmt_s(took)} (CPU {fmt_s(spent)})", flush=True)
                if run:
                    results[name].append(took)
                    cpu[name].append(spent)
        if previous is not None:
            remove(previous)
        remove(out / digest)
    remove(out)
    return results, cpu


def run_cp_to(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)


def peak_rss() -> int:
    """This process's peak resident set (``VmHWM``), in bytes.

    Not ``ru_maxrss``: Linux carries that across ``exec``, so a spawned child would report
    its parent's size at the fork.
    """
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kb * 1024


def _peak_rss(folder: str, root: str, state: str) -> tuple[float, int, float, int]:
    """In a fresh process: save ``folder``, note the peak RSS; load it, note it again."""
    os.environ["MODELSHELF_STATE_DIR"] = state
    shelf = Shelf(root)
    saved = timed(lambda: shelf.save("bench", folder))
    after_save = peak_rss()
    loaded = timed(lambda: shelf.load("bench", os.path.join(os.path.dirname(root), "loaded")))
    return saved, after_save, loaded, peak_rss()


def peak_memory(
    work: Path, size: int, small_files: int
) -> tuple[int, tuple[float, int], tuple[float, int]]:
    """Peak resident memory of one process saving, then loading, a ``size`` folder:
    ``(folder bytes, (save seconds, peak), (load seconds, peak))``."""
    folder = work / "rss-folder"
    make_model_folder(folder, size, small_files)
    folder_bytes = du_bytes(folder)
    out = work / "rss"
    remove(out)
    out.mkdir(parents=True)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        job = pool.submit(_peak_rss, str(folder), str(out / "store"), str(out / "state"))
        saved, save_rss, loaded, load_rss = job.result()
    print(f"  save {fmt_s(saved)} peak RSS {fmt_bytes(save_rss)}; "
          f"load {fmt_s(loaded)} peak RSS {fmt_bytes(load_rss)}", flush=True)  # fmt: skip
    remove(out)
    remove(folder)
    return folder_bytes, (saved, save_rss), (loaded, load_rss)
