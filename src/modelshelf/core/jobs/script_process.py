"""The process that executes one worker's script or training pipeline (no notebook, no kernel).

Run as ``python -m modelshelf.core.jobs.script_process KIND PROGRAM``, the script-job twin of
:mod:`.notebook_process`: the supervisor gives it the ``ML_*`` environment, its stdout and
stderr are the worker's log, and on failure it leaves ``error.json`` (the error and the
traceback from the user's own first frame on). A script runs as ``__main__`` with its
parameters as ``--name value`` arguments (as SageMaker passes hyperparameters) and as
``ML_PARAMETERS`` (JSON) in the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import runpy
import sys
import traceback

from modelshelf.core.jobs.executor_start import add_executor_options, go_received, start_executor
from modelshelf.core.jobs.programs import DATALOOP, SCRIPT, UIPATH, argv_of

log = logging.getLogger("modelshelf")


def run_script(script: str, parameters: dict, import_from: list[str]) -> None:
    """Run ``script`` as ``python script.py --name value ...`` would, in this process."""
    sys.argv = [script, *argv_of(parameters)]
    sys.path[:0] = [os.path.dirname(script), *import_from]
    runpy.run_path(script, run_name="__main__")


def _error_record(exc: BaseException) -> dict:
    from modelshelf.core.deploy.user_code import user_traceback

    if isinstance(exc, SystemExit):
        return {"ename": "SystemExit", "evalue": f"the script exited with status {exc.code}",
                "traceback": ""}  # fmt: skip
    return {
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": user_traceback(exc) or "".join(traceback.format_exception(exc)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelshelf-run-script")
    parser.add_argument("kind", choices=(SCRIPT, UIPATH, DATALOOP))
    parser.add_argument("program", help="the script, or the package folder the pipeline runs")
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--model-given", action="store_true", help="an input model was loaded")
    parser.add_argument("--import-from", action="append", default=[])
    add_executor_options(parser, cwd_required=True)
    args = parser.parse_args(argv)

    start_executor()
    if not go_received(args.wait_for_go):
        return 3
    parameters = json.loads(args.parameters)
    os.environ["ML_PARAMETERS"] = json.dumps(parameters)
    os.chdir(args.cwd)
    try:
        if args.kind == SCRIPT:
            log.info("running %s %s", os.path.basename(args.program), " ".join(argv_of(parameters)))
            run_script(args.program, parameters, args.import_from)
        elif args.kind == UIPATH:
            from modelshelf.core.jobs.pipelines.uipath import run_uipath

            run_uipath(args.program, args.pipeline, parameters, args.cwd)
        else:
            from modelshelf.core.jobs.pipelines.dataloop import run_dataloop

            run_dataloop(args.program, parameters, args.cwd, from_parent=args.model_given)
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        record = _error_record(exc)
        with open(args.error_file, "w") as fh:
            json.dump(record, fh)
        sys.stdout.flush()
        print(record["traceback"], file=sys.stderr, end="")
        log.error("the %s failed: %s: %s", "script" if args.kind == SCRIPT else "pipeline",
                  record["ename"], record["evalue"])  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
