"""A job's workspace on disk and the ``ML_*`` environment its notebook sees.

```
<workspace>/notebook.ipynb          the snapshot that runs
<workspace>/input/data/             ML_DATA_PATH (shared by the job's workers)
<workspace>/[worker-<n>/]models/    ML_MODEL_PATH (and ML_OUTPUT_PATH when output="model")
<workspace>/[worker-<n>/]output/    ML_OUTPUT_PATH otherwise
<workspace>/[worker-<n>/]artifacts/ artifacts_directory
<workspace>/[worker-<n>/]executed.ipynb, job.log, error.json, kernel.pid
```
One worker works directly in the workspace; several get a ``worker-<n>`` folder each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelshelf.core.jobs.spec import JobSpec


@dataclass(frozen=True)
class WorkerPaths:
    """Where one worker of a job keeps its files."""

    index: int
    count: int
    root: str
    notebook: str
    data: str
    models: str
    output: str
    artifacts: str
    executed: str
    log: str
    error: str
    kernel_pid: str

    def create(self) -> WorkerPaths:
        for folder in (self.data, self.models, self.output, self.artifacts):
            os.makedirs(folder, exist_ok=True)
        return self


def worker_paths(workspace: str, index: int, count: int) -> WorkerPaths:
    """Paths of worker ``index`` (1-based) of ``count``."""
    root = workspace if count == 1 else os.path.join(workspace, f"worker-{index}")
    return WorkerPaths(
        index=index,
        count=count,
        root=root,
        notebook=os.path.join(workspace, "notebook.ipynb"),
        data=os.path.join(workspace, "input", "data"),
        models=os.path.join(root, "models"),
        output=os.path.join(root, "output"),
        artifacts=os.path.join(root, "artifacts"),
        executed=os.path.join(root, "executed.ipynb"),
        log=os.path.join(root, "job.log"),
        error=os.path.join(root, "error.json"),
        kernel_pid=os.path.join(root, "kernel.pid"),
    )


def job_environment(paths: WorkerPaths, spec: JobSpec, job_id: str) -> dict[str, str]:
    """The environment of a worker: the caller's, the user's ``env``, then the ``ML_*`` set."""
    return {**launch_environment(os.environ, spec), **job_variables(paths, spec, job_id)}


def job_variables(paths: WorkerPaths, spec: JobSpec, job_id: str) -> dict[str, str]:
    """The variables that name this job and its folders (the ``ML_*`` set and lineage).

    They are all a kernel started before its job lacks: a pooled kernel receives exactly
    these before its first cell (``pooled_worker.py``), the rest must already be equal.
    """
    output_is_model = spec.output == "model"
    return {
        **_schedule_variables(spec.schedule),
        "ML_MODEL_PATH": paths.models,
        "ML_OUTPUT_PATH": paths.models if output_is_model else paths.output,
        "ML_DATA_PATH": paths.data,
        "ML_JOB_ID": job_id,
        "ML_JOB_NAME": spec.name,
        "ML_WORKER_INDEX": str(paths.index),
        "ML_WORKER_COUNT": str(paths.count),
        "artifacts_directory": paths.artifacts,
        # The %model magic records the running job as lineage when it sees these.
        "MODELSHELF_JOB_ID": job_id,
        "MODELSHELF_JOB_PARAMETERS": json.dumps(spec.parameters),
        "ML_PARAMETERS": json.dumps(spec.parameters),  # the parameters as JSON (scripts read it)
        # Where the executor writes the kernel's pid, so a cancel can stop the kernel itself.
        "MODELSHELF_KERNEL_PID_FILE": paths.kernel_pid,
    }


def _schedule_variables(run: dict[str, Any] | None) -> dict[str, str]:
    """A scheduled run's variables: which schedule, which due time, which attempt."""
    if run is None:
        return {}
    return {
        "ML_SCHEDULE_NAME": str(run["name"]),
        "ML_SCHEDULED_TIME": f"{float(run['due']):.3f}",
        "ML_SCHEDULE_ATTEMPT": str(run["attempt"]),
    }


_ANY_RUN = {"name": "", "due": 0.0, "attempt": 1}
JOB_VARIABLES = frozenset(
    job_variables(worker_paths("", 1, 1), JobSpec("", "", schedule=_ANY_RUN), "")
)


def launch_environment(base: Mapping[str, str], spec: JobSpec) -> dict[str, str]:
    """``base`` (the runner's environment) with the user's ``env``, without any job's own
    variables: what a worker's kernel is started with before it is told which job it runs."""
    env = {k: v for k, v in base.items() if k not in JOB_VARIABLES}
    env.update({k: str(v) for k, v in (spec.env or {}).items()})
    # A job must not inherit the launching kernel's identity (it would confuse ipykernel).
    for key in ("JPY_PARENT_PID", "JPY_SESSION_NAME"):
        env.pop(key, None)
    # The executor's own output reaches the job's log line by line, as it happens.
    env["PYTHONUNBUFFERED"] = "1"
    return env
