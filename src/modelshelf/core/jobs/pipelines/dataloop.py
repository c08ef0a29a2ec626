"""Dataloop's model-adapter contract, trained in a job's executor process.

The model folder holds ``serve.py`` defining ``class ModelAdapter`` with ``load(local_path)``,
``save(local_path)``, ``train(data_path, output_path)`` and ``predict(batch)``: the very
class modelshelf serves (:mod:`modelshelf.core.deploy.loaders`). A ``train`` pipeline loads the
parent version (the job's input model, when given) into the adapter, trains it on the job's
data, and saves it into the model folder, which becomes the new version naming its parent:
Dataloop's fine-tuning lineage from a parent snapshot.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from modelshelf.core.deploy.user_code import forget, import_file, local_imports
from modelshelf.core.errors import PipelineError

log = logging.getLogger("modelshelf")


def run_dataloop(
    model_dir: str, parameters: dict[str, Any], worker_root: str, *, from_parent: bool
) -> None:
    """Train the folder's ``ModelAdapter`` (from the parent's weights if ``from_parent``)."""
    path = os.path.join(model_dir, "serve.py")
    with local_imports([model_dir], owned=[model_dir]):
        module = import_file(path, "modelshelf_adapter", "the model adapter")
    try:
        adapter_class = getattr(module, "ModelAdapter", None)
        if adapter_class is None:
            raise PipelineError(f"{path} defines no class ModelAdapter")
        adapter = adapter_class()
        for method in ("train", "save") + (("load",) if from_parent else ()):
            if not callable(getattr(adapter, method, None)):
                raise PipelineError(f"the train pipeline calls ModelAdapter.{method}(), which "
                                    f"{path} lacks")  # fmt: skip
        if parameters:  # Dataloop's adapters read their hyperparameters from configuration
            configuration = getattr(adapter, "configuration", None)
            merged = {**(configuration if isinstance(configuration, dict) else {}), **parameters}
            adapter.configuration = merged
        if from_parent:
            log.info("ModelAdapter.load(%s)", model_dir)
            adapter.load(model_dir)
        data, output = os.environ["ML_DATA_PATH"], os.path.join(worker_root, "output")
        os.makedirs(output, exist_ok=True)
        log.info("ModelAdapter.train(%s, %s)", data, output)
        adapter.train(data, output)
        log.info("ModelAdapter.save(%s)", model_dir)
        adapter.save(model_dir)
    finally:
        forget(module)
