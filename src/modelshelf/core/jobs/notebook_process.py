"""The process that executes one worker's notebook with papermill.

Run as ``python -m modelshelf.core.jobs.notebook_process``; the supervisor gives it the ``ML_*``
environment and reads what it leaves behind: the executed notebook, the log (cell progress
and outputs), ``error.json`` on failure and ``kernel.pid`` so that a cancel or a timeout can
stop the kernel itself, not only this process.

A notebook whose metadata names no kernel (as ``nbformat.v4.new_notebook()`` writes it) runs on
the default ``python3`` kernel, as nbclient runs it; papermill alone would refuse it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from traitlets import default

from modelshelf.core.jobs.executor_start import add_executor_options, go_received, start_executor

log = logging.getLogger("modelshelf")


class RecordingKernelManager(AsyncKernelManager):
    """Writes the kernel's pid to ``MODELSHELF_KERNEL_PID_FILE`` once it has started.

    It also talks to the kernel over IPC sockets instead of TCP ports: parallel jobs then
    never race for a free port, and nothing listens on the network.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    async def _async_post_start_kernel(self, **kwargs) -> None:  # type: ignore[override]
        await super()._async_post_start_kernel(**kwargs)
        target = os.environ.get("MODELSHELF_KERNEL_PID_FILE")
        pid = getattr(self.provisioner, "pid", None)
        if target and pid:
            with open(target, "w") as fh:
                fh.write(str(pid))


def kernel_and_language(nb: NotebookNode, kernel: str | None) -> tuple[str, str | None]:
    """The kernel to run ``nb`` on, and its language if the notebook itself names none.

    An explicit ``kernel`` wins, then the notebook's kernelspec, then ``python3``. papermill
    also needs a language to inject parameters; a bare notebook names none, so it is the
    kernel's own (``None``: papermill reads the notebook's). Raises
    :class:`jupyter_client.kernelspec.NoSuchKernel` for a kernel that is not installed.
    """
    metadata = nb.get("metadata", {})
    spec = metadata.get("kernelspec", {})
    if not kernel and not spec.get("name"):
        log.info("the notebook names no kernel; running it on %s", NATIVE_KERNEL_NAME)
    chosen = chosen_kernel(nb, kernel)
    if metadata.get("language_info", {}).get("name") or spec.get("language"):
        return chosen, None
    # An unknown kernel raises NoSuchKernel here, as starting it would (not "no language").
    return chosen, KernelSpecManager().get_kernel_spec(chosen).language


def chosen_kernel(nb: NotebookNode, kernel: str | None) -> str:
    """The name of the kernel ``nb`` runs on: ``kernel``, the notebook's, else ``python3``."""
    return kernel or nb.get("metadata", {}).get("kernelspec", {}).get("name") or NATIVE_KERNEL_NAME


def error_record(exc: BaseException) -> dict:
    """What ``error.json`` holds about the exception that failed a notebook."""
    record = {
        "ename": getattr(exc, "ename", type(exc).__name__),
        "evalue": getattr(exc, "evalue", str(exc)),
        "cell_index": getattr(exc, "cell_index", None),
        "exec_count": getattr(exc, "exec_count", None),
    }
    tb = getattr(exc, "traceback", None)
    record["traceback"] = (
        "\n".join(tb) if isinstance(tb, list) else "".join(traceback.format_exception(exc))
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelshelf-execute")
    parser.add_argument("notebook")
    parser.add_argument("executed")
    parser.add_argument("--kernel", default=None)
    add_executor_options(parser, cwd_required=False)
    args = parser.parse_args(argv)

    start_executor()
    import papermill
    from papermill.iorw import load_notebook_node

    # Imported while the runner prepares the inputs; now wait until they are in place.
    if not go_received(args.wait_for_go):
        return 3

    try:
        kernel, language = kernel_and_language(load_notebook_node(args.notebook), args.kernel)
        papermill.execute_notebook(
            args.notebook,
            args.executed,
            parameters=json.loads(args.parameters),
            kernel_name=kernel,
            language=language,
            progress_bar=False,
            log_output=True,
            cwd=args.cwd,
            kernel_manager_class=f"{__name__}.RecordingKernelManager",
        )
    except BaseException as exc:
        with open(args.error_file, "w") as fh:
            json.dump(error_record(exc), fh)
        log.error("the notebook failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
