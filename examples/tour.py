"""A headless tour of modelshelf: the example notebooks, top to bottom, in a throw-away store.

Run with ``make demo``. Each numbered notebook of ``notebooks/`` (``train.ipynb`` is the one
notebook 2 runs as a job) is executed in a fresh kernel, on a store, state folder and
``ML_MODEL_PATH`` / ``ML_OUTPUT_PATH`` in a temporary folder; the tour prints each cell as it
runs, with its text output. Then the ``modelshelf`` command lists the same store.

    python examples/tour.py                  # the tour; nothing is kept
    python examples/tour.py --save DIR       # also keep the executed notebooks in DIR
    python examples/tour.py --save notebooks # refresh the outputs stored in the examples
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Variables that would make a kernel believe it runs as a job or under a Jupyter server.
FOREIGN = ("JPY_SESSION_NAME", "ML_JOB_ID", "ML_JOB_NAME", "MODELSHELF_JOB_PARAMETERS")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
RULE = "=" * 100


def tour_notebooks() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))


def output_text(output: Any) -> str:
    """An output as a terminal would show it: streams, text/plain, tracebacks."""
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain", "")
        return text + "\n" if text else ""
    if kind == "error":
        return ANSI.sub("", "\n".join(output.get("traceback", []))) + "\n"
    return ""


def show_headings(cell: Any, **_: Any) -> None:
    """Print the headings of a markdown cell: the tutorial's steps."""
    if cell.cell_type == "markdown":
        for line in cell.source.splitlines():
            if line.startswith("#"):
                print(f"\n{line}")


def show_cell(cell: Any, **_: Any) -> None:
    """Print a code cell once it has run: its code as ``In [n]``, then its output."""
    if cell.cell_type != "code" or not cell.source.strip():
        return
    prompt = f"In [{cell.get('execution_count') or ' '}]: "
    first, *rest = cell.source.splitlines()
    print(f"\n{prompt}{first}")
    for line in rest:
        print(f"{' ' * len(prompt)}{line}".rstrip())
    text = "".join(output_text(output) for output in cell.get("outputs", []))
    if text.strip():
        print(textwrap.indent(text.rstrip("\n"), "    "))
    sys.stdout.flush()


def isolate(work: Path) -> None:
    """Point the store and its state into ``work`` (kernels inherit the environment)."""
    os.environ["MODELSHELF_ROOT"] = str(work / "store")
    os.environ["MODELSHELF_STATE_DIR"] = str(work / "state")
    os.environ["IPYTHONDIR"] = str(work / "ipython")
    for key in FOREIGN:
        os.environ.pop(key, None)


def run_notebook(path: Path, work: Path, save: Path | None) -> bool:
    """Execute one notebook in a fresh kernel, printing each cell; True if no cell failed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    ml = work / path.stem
    os.environ["ML_MODEL_PATH"] = str(ml / "model")
    os.environ["ML_OUTPUT_PATH"] = str(ml / "output")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        timeout=600,
        kernel_name=book.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},  # the kernel runs beside it
        record_timing=False,
        on_cell_start=show_headings,  # every cell; on_cell_executed: code cells only
        on_cell_executed=show_cell,
    )
    print(f"\n{RULE}\n{path.name}\n{RULE}", flush=True)
    started = time.monotonic()
    ok = True
    kernel_log = ml / "kernel.log"  # the kernel's own chatter, shown only if something fails
    ml.mkdir(parents=True, exist_ok=True)
    with kernel_log.open("w") as log:
        try:
            client.execute(stderr=log)  # passed on to the kernel's Popen
        except CellExecutionError:
            ok = False  # show_cell printed the failing cell and its traceback
        except Exception as exc:  # the kernel died, or a cell timed out
            print(f"{type(exc).__name__}: {exc}")
            ok = False
    if not ok:
        print(textwrap.indent(kernel_log.read_text(errors="replace")[-4000:], "kernel| "))
    print(f"\n({path.name}: {'done' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s)")
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(book, save / path.name)
    return ok


def stop_leftovers() -> None:
    """Stop what a failed notebook left running: its deployments and jobs."""
    from modelshelf import Shelf
    from modelshelf.core.deploy.manager import DeploymentManager
    from modelshelf.core.jobs import JobManager

    with Shelf() as shelf:
        deployments, jobs = DeploymentManager(shelf), JobManager(shelf)
        try:
            for deployment in deployments.list():
                print(f"stopping {deployment.name}, left running")
                deployment.stop()
            for job in jobs.list():
                if not job.finished:
                    print(f"cancelling job {job.name}, left running")
                    job.cancel()
        finally:
            jobs.close()
            deployments.close()


def cli(*args: str) -> None:
    print(f"\n$ {shlex.join(['modelshelf', *args])}", flush=True)
    subprocess.run([sys.executable, "-m", "modelshelf", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", metavar="DIR", type=Path, help="keep the executed notebooks")
    args = parser.parse_args(argv)
    save = args.save.resolve() if args.save else None
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="modelshelf-tour-") as folder:
        work = Path(folder)
        isolate(work)
        print(f"store: {os.environ['MODELSHELF_ROOT']} (temporary)")
        try:
            for path in tour_notebooks():
                if not run_notebook(path, work, save):
                    failed.append(path.name)  # the others do not depend on it: go on
            print(f"\n{RULE}\nThe same store, from the command line\n{RULE}")
            cli("ls")
            cli("jobs")
            cli("deployments", "--all")
        finally:
            stop_leftovers()
    if failed:
        print(f"\nThe tour FAILED in {', '.join(failed)}.")
        return 1
    print("\nThe tour is over; its store was temporary and is gone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
