"""What a job runs, besides a notebook: a Python script, or a training pipeline over a package
folder (UiPath AI Center's ``train.py`` with ``class Main``, or Dataloop's ``ModelAdapter``).

The kind is told from the path once, at submit: ``.ipynb`` is a notebook, ``.py`` a script,
a folder with ``pipeline=`` a package (``train.py`` defining ``Main``: UiPath; else
``serve.py`` defining ``ModelAdapter``: Dataloop). The job machinery (record, workspace,
``ML_*`` environment, logs, outputs, ``_results.json``, rerun) is the notebook's; only the
snapshot and the executor process differ, and both are decided here.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import sys
from typing import Any

import fsspec

from modelshelf.core.errors import JobError, PipelineError, SourceError
from modelshelf.core.jobs.executor_start import executor_arguments
from modelshelf.core.jobs.parameters import literal_value
from modelshelf.core.jobs.spec import JobSpec
from modelshelf.core.jobs.workspace import WorkerPaths
from modelshelf.core.sources.tree import URL_PATTERN, expand_local

NOTEBOOK, SCRIPT, UIPATH, DATALOOP = "notebook", "script", "uipath", "dataloop"
PIPELINES = {UIPATH: ("train", "evaluate", "full"), DATALOOP: ("train",)}
#: The snapshot's name in the workspace and under ``runs/<job id>/`` in the store.
SNAPSHOTS = {
    NOTEBOOK: "notebook.ipynb",
    SCRIPT: "script.py",
    UIPATH: "package",
    DATALOOP: "package",
}
#: Folders of a package that are the run's own leftovers, never its code.
_NOT_CODE = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", ".git")


def program_kind(program: str, pipeline: str | None) -> str:
    """``notebook``, ``script``, ``uipath`` or ``dataloop``, or a :class:`PipelineError`
    saying what the path lacks."""
    is_url = bool(URL_PATTERN.match(program))
    path = program if is_url else expand_local(program)
    if not is_url and os.path.isdir(path):
        if pipeline is None:
            raise PipelineError(
                f"{path} is a folder: run it as a training pipeline with "
                "--pipeline train|evaluate|full (pipeline= in Python)"
            )
        if _defines(os.path.join(path, "train.py"), "Main"):
            return UIPATH
        if _defines(os.path.join(path, "serve.py"), "ModelAdapter"):
            return DATALOOP
        raise PipelineError(
            f"{path} is not a package: it needs train.py defining class Main (UiPath AI "
            "Center's contract) or serve.py defining class ModelAdapter (Dataloop's)"
        )
    if pipeline is not None:
        raise PipelineError(
            f"--pipeline {pipeline} runs a package folder (train.py with class Main, or "
            f"serve.py with class ModelAdapter), not {program}"
        )
    return SCRIPT if path.endswith(".py") else NOTEBOOK


def _defines(path: str, class_name: str) -> bool:
    """Does the Python file at ``path`` define ``class_name`` at its top level?"""
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), path)
    except FileNotFoundError:
        return False
    except SyntaxError as exc:
        raise PipelineError(f"{path} is not valid Python: {exc}") from exc
    return any(isinstance(n, ast.ClassDef) and n.name == class_name for n in tree.body)


def check_pipeline(
    kind: str, pipeline: str | None, *, model: str | None, data: Any, eval_data: Any, workers: int
) -> None:
    """Refuse, before anything runs, a pipeline its package cannot run or its inputs miss."""
    if kind in (NOTEBOOK, SCRIPT):
        if eval_data is not None:
            raise PipelineError("eval_data (--eval-data) is for --pipeline full only")
        return
    allowed = PIPELINES[kind]
    contract = "a UiPath package (train.py)" if kind == UIPATH else "a Dataloop ModelAdapter"
    if pipeline not in allowed:
        raise PipelineError(f"{contract} runs the pipelines {', '.join(allowed)}, not {pipeline!r}")
    if workers != 1:
        raise PipelineError(f"a {pipeline} pipeline runs as one worker, not {workers}")
    if data is None:
        what = "the data to score" if pipeline == "evaluate" else "the training data"
        raise PipelineError(f"the {pipeline} pipeline needs --data ({what})")
    if pipeline == "evaluate" and model is None:
        raise PipelineError("the evaluate pipeline scores a version: give --model REF")
    if eval_data is not None and pipeline != "full":
        raise PipelineError(
            f"--eval-data is for the full pipeline; {pipeline} takes its data from --data"
        )


def script_parameters(given: dict[str, Any], *, from_strings: bool) -> dict[str, Any]:
    """A script's parameters: any names (it has no parameters cell to check them against);
    command-line strings read as JSON or Python literals where they are one."""
    out = {}
    for name, value in given.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise PipelineError(f"{name!r} cannot be a parameter name (letters, digits, _ and -)")
        if from_strings and isinstance(value, str):
            with contextlib.suppress(ValueError, SyntaxError):  # a plain word stays text
                value = literal_value(value)
        out[name] = value
    return out


def argv_of(parameters: dict[str, Any]) -> list[str]:
    """``--name value`` for each parameter, as SageMaker hands hyperparameters to a script:
    text as it is, anything else as JSON (``true``, ``[1, 2]``)."""
    argv = []
    for name, value in parameters.items():
        argv += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    return argv


# ---- the snapshot ---------------------------------------------------------------------------


def snapshot_program(kind: str, program: str, workspace: str, storage_options: dict | None) -> str:
    """Copy the notebook, script or package into the workspace (the job runs this copy,
    whatever happens to the original afterwards, and ``rerun`` runs it again); return the
    snapshot's path."""
    target = os.path.join(workspace, SNAPSHOTS[kind])
    if kind in (UIPATH, DATALOOP):
        shutil.copytree(expand_local(program), target, ignore=_NOT_CODE, symlinks=False)
        return target
    what = "notebook" if kind == NOTEBOOK else "script"
    content = _read_program(program, storage_options, what)
    try:
        if kind == NOTEBOOK:
            json.loads(content)
        else:
            ast.parse(content, program)
    except ValueError as exc:
        raise JobError(f"{program} is not a notebook (.ipynb JSON): {exc}") from exc
    except SyntaxError as exc:
        raise PipelineError(f"{program} is not valid Python: {exc}") from exc
    with open(target, "wb") as fh:
        fh.write(content)
    return target


def _read_program(program: str, storage_options: dict | None, what: str) -> bytes:
    if URL_PATTERN.match(program):
        try:
            with fsspec.open(program, "rb", **(storage_options or {})) as src:
                return src.read()
        except Exception as exc:
            raise SourceError(f"cannot read the {what} {program}: {exc}") from exc
    path = expand_local(program)
    if not os.path.isfile(path):
        raise SourceError(f"the {what} {path} does not exist")
    with open(path, "rb") as fh:
        return fh.read()


def snapshot_files(snapshot: str) -> list[tuple[str, str]]:
    """``(local path, name under runs/<id>/)`` of every file of a snapshot."""
    base = os.path.basename(snapshot)
    if os.path.isfile(snapshot):
        return [(snapshot, base)]
    found = []
    for folder, _, names in os.walk(snapshot):
        for name in sorted(names):
            local = os.path.join(folder, name)
            found.append((local, f"{base}/{os.path.relpath(local, snapshot).replace(os.sep, '/')}"))
    return found


def place_package(spec: JobSpec, paths: WorkerPaths) -> None:
    """Copy a package snapshot into the worker's model folder: the folder the pipeline runs
    in and leaves behind as the new version (the input model is loaded over it after)."""
    if spec.kind in (UIPATH, DATALOOP):
        workspace = os.path.dirname(paths.notebook)
        shutil.copytree(os.path.join(workspace, SNAPSHOTS[spec.kind]), paths.models,
                        dirs_exist_ok=True)  # fmt: skip


# ---- the executor process -------------------------------------------------------------------


def worker_command(spec: JobSpec, paths: WorkerPaths) -> list[str] | None:
    """The executor process of a script or pipeline worker; None for a notebook (papermill)."""
    if spec.kind == NOTEBOOK:
        return None
    workspace = os.path.dirname(paths.notebook)
    command = [
        sys.executable,
        "-m",
        "modelshelf.core.jobs.script_process",
        spec.kind,
        os.path.join(workspace, SNAPSHOTS[spec.kind]) if spec.kind == SCRIPT else paths.models,
        *executor_arguments(spec.parameters, paths.error, paths.root),
    ]
    if spec.pipeline:
        command += ["--pipeline", spec.pipeline]
    if spec.model:
        command.append("--model-given")
    if spec.import_from:
        # Modules beside the original script stay importable, as `python train.py` finds them.
        command += ["--import-from", spec.import_from]
    return command
