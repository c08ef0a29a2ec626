"""Benchmark the CLI's start-up against `python -c pass` and its peers' CLIs; rewrite the CLI
start-up section of BENCHMARKS.md.

Run with `make bench` or `.venv/bin/python bench/cli_startup.py [--runs 21]`. Each command is
a fresh process, as a user's shell starts it: `modelshelf ls` on an empty store and
`modelshelf --help` beside `python -c pass` (the interpreter's own start-up) and, where the
bench extras installed them, `mlflow --help` and `dvc --version`. Runs rotate the order of
the commands after one discarded warm-up round; the figure is the median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, fmt_s, machine, median, replace_section, revision, row, table, today

HEADING = "## CLI start-up (bench/cli_startup.py)"
AIM_S = 0.25  # issue 17: commands that only read the store start in under 0.25 s wall


def _beside_python(name: str) -> str | None:
    """The console script ``name`` of this interpreter's environment, else one on PATH."""
    script = Path(sys.executable).with_name(name)
    return str(script) if script.exists() else shutil.which(name)


def commands() -> tuple[dict[str, list[str]], list[str]]:
    """What is timed, by label, and what was left out (a peer that is not installed)."""
    modelshelf = _beside_python("modelshelf")
    base = [modelshelf] if modelshelf else [sys.executable, "-m", "modelshelf"]
    timed = {
        "`modelshelf ls` (empty store)": [*base, "ls"],
        "`modelshelf --help`": [*base, "--help"],
        "`python -c pass`": [sys.executable, "-c", "pass"],
    }
    missing = []
    for peer, argv in (("mlflow", ["--help"]), ("dvc", ["--version"])):
        script = _beside_python(peer)
        if script is None:
            missing.append(f"`{peer} {' '.join(argv)}`: {peer} is not installed here")
        else:
            timed[f"`{peer} {' '.join(argv)}`"] = [script, *argv]
    return timed, missing


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``argv``, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def import_ms(argv: list[str], env: dict[str, str]) -> float:
    """Milliseconds ``python -X importtime`` counts for the imports of a modelshelf command."""
    cmd = [sys.executable, "-X", "importtime", "-m", "modelshelf", *argv]
    err = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env).stderr
    selfs = [
        int(line.split("|")[0].split(":")[1])
        for line in err.decode(errors="replace").splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    ]
    return sum(selfs) / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    timed, missing = commands()
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-cli-") as work:
        env = {
            **os.environ,
            "MODELSHELF_ROOT": str(Path(work) / "store"),
            "MODELSHELF_STATE_DIR": str(Path(work) / "state"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        labels = list(timed)
        times: dict[str, list[float]] = {label: [] for label in labels}
        for i in range(args.runs + 1):
            shift = i % len(labels)
            for label in labels[shift:] + labels[:shift]:
                seconds = wall(timed[label], env)
                if i:  # run 0 warms the page cache and the .pyc files, and is discarded
                    times[label].append(seconds)
            print(f"run {i}: " + ", ".join(f"{k} {fmt_s(v[-1])}" for k, v in times.items() if v))
        imports = {"ls": import_ms(["ls"], env), "--help": import_ms(["--help"], env)}
    python = median(times["`python -c pass`"])
    rows = []
    for label in labels:
        value = median(times[label])
        ours = label.startswith("`modelshelf")
        rows.append(
            row(
                label,
                f"wall, median of {args.runs}",
                fmt_s(value),
                fmt_s(python) if label != "`python -c pass`" else "-",
                value / python if label != "`python -c pass`" else None,
                AIM_S if ours else None,
                value if ours else None,
            )
        )
    header = ["command", "setup", "wall", "`python -c pass`", "ratio", "aim", "met"]
    notes = [
        f"- Command: `make bench` (or `.venv/bin/python bench/cli_startup.py --runs {args.runs}`).",
        f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}.",
        "- Each command is a fresh process started from Python's `subprocess`, output to"
        " /dev/null, in a fresh empty store; the order rotates every run, after one discarded"
        " warm-up round. The aim (0.25 s, issue 17) is for the modelshelf commands; the ratio is"
        " to the interpreter's own start-up. The peers are their CLIs as installed by the bench"
        " extras (mlflow-skinny).",
        f"- Imports, summed by `python -X importtime -m modelshelf`: `ls` {imports['ls']:.0f} ms,"
        f" `--help` {imports['--help']:.0f} ms.",
        *(f"- Not measured: {why}." for why in missing),
        "- Runs: "
        + "; ".join(f"{k}: {', '.join(fmt_s(t) for t in v)}" for k, v in times.items())
        + ".",
    ]
    body = "\n".join([*notes[:2], "", table(header, rows), "", *notes[2:]])
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
