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
from dataclasses import dataclass

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
    output_is_model = spec.output == "model"
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (spec.env or {}).items()})
    env.update(
        {
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
            "ML_PARAMETERS": json.dumps(spec.parameters),
        }
    )
    # A job must not inherit the launching kernel's identity (it would confuse ipykernel).
    for key in ("JPY_PARENT_PID", "JPY_SESSION_NAME"):
        env.pop(key, None)
    return env
