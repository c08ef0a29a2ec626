"""Training pipelines over a package folder: UiPath AI Center's ``train.py`` (:mod:`.uipath`)
and Dataloop's ``ModelAdapter`` (:mod:`.dataloop`), run inside a job's executor process.

Both leave what the runner needs in the worker's folder (:func:`pipeline_paths`): the score
``evaluate()`` returned, kept as an evaluation record and, for a new version, as its metric.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PipelinePaths:
    """Where a pipeline worker's data goes, beside (never inside) the package it runs."""

    training: str  # training_data_directory: what process_data writes for train()
    evaluation: str  # evaluation_data_directory, test_data_directory: --eval-data and/or
    # what process_data wrote there
    result: str  # pipeline.json: the score and what was scored

    def create(self) -> PipelinePaths:
        os.makedirs(self.training, exist_ok=True)
        os.makedirs(self.evaluation, exist_ok=True)
        return self


def pipeline_paths(worker_root: str) -> PipelinePaths:
    """The pipeline folders of the worker whose folder is ``worker_root``."""
    return PipelinePaths(
        training=os.path.join(worker_root, "training_data"),
        evaluation=os.path.join(worker_root, "evaluation_data"),
        result=os.path.join(worker_root, "pipeline.json"),
    )


def write_result(paths: PipelinePaths, result: dict[str, Any]) -> None:
    with open(paths.result, "w") as fh:
        json.dump(result, fh)


def read_result(worker_root: str) -> dict[str, Any]:
    """What the pipeline left (``{"score": ...}``); empty for scripts and train pipelines."""
    try:
        with open(pipeline_paths(worker_root).result) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}


def has_files(folder: str) -> bool:
    """True if anything was written under ``folder``."""
    return any(names for _, _, names in os.walk(folder))
