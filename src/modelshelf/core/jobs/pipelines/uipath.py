"""UiPath AI Center's training-pipeline contract, run in a job's executor process.

The package folder holds ``train.py`` defining ``class Main`` with ``__init__()``,
``train(training_directory)``, ``evaluate(evaluation_directory)`` returning a score,
``save()`` and optionally ``process_data(input_directory)``. As AI Center does, the code runs
from the package's root (``save()`` writes there, where ``main.py`` will load from), the
pipeline's parameters are environment variables, and the folders are named by
``data_directory``, ``training_data_directory``, ``evaluation_data_directory`` and
``test_data_directory``. The package folder, as the run leaves it, is the new version.

- ``train``: ``train(data)``, ``save()``.
- ``evaluate``: ``evaluate(data)`` on an existing version: the score only.
- ``full``: ``process_data(data)`` if defined, ``train(what it wrote to
  training_data_directory, else data)``, ``evaluate(test_data_directory: --eval-data and/or
  what process_data wrote there)``, ``save()``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from typing import Any

from modelshelf.core.errors import PipelineError
from modelshelf.core.jobs.pipelines import has_files, pipeline_paths, write_result
from modelshelf.core.store.evaluations import checked_score

log = logging.getLogger("modelshelf")


def _load_main(package: str) -> Any:
    path = os.path.join(package, "train.py")
    # Imported as `train`, as AI Center imports it, with the package's own modules beside it.
    sys.path.insert(0, package)
    spec = importlib.util.spec_from_file_location("train", path)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train"] = module
    spec.loader.exec_module(module)
    main = getattr(module, "Main", None)
    if main is None:
        raise PipelineError(f"{path} defines no class Main")
    return main


def _method(main: Any, name: str, pipeline: str) -> Any:
    method = getattr(main, name, None)
    if not callable(method):
        raise PipelineError(f"the {pipeline} pipeline calls Main.{name}(), which train.py lacks")
    return method


def run_uipath(package: str, pipeline: str, parameters: dict[str, Any], worker_root: str) -> None:
    """Run ``pipeline`` over the package at ``package``; leave the score for the runner."""
    paths = pipeline_paths(worker_root).create()
    data = os.environ["ML_DATA_PATH"]
    os.environ.update(
        {
            "data_directory": data,
            "training_data_directory": paths.training,
            "evaluation_data_directory": paths.evaluation,
            "test_data_directory": paths.evaluation,
        }
    )
    for name, value in parameters.items():  # AI Center hands parameters over as env vars
        os.environ[name] = value if isinstance(value, str) else json.dumps(value)
    sys.dont_write_bytecode = True  # no __pycache__ in the package, hence in the new version
    os.chdir(package)
    main = _load_main(package)()
    result: dict[str, Any] = {"pipeline": pipeline}
    if pipeline == "train":
        log.info("Main.train(%s)", data)
        _method(main, "train", pipeline)(data)
        log.info("Main.save()")
        _method(main, "save", pipeline)()
    elif pipeline == "evaluate":
        result.update(_evaluate(main, data, pipeline))
    else:
        process = getattr(main, "process_data", None)
        if callable(process):
            log.info("Main.process_data(%s)", data)
            process(data)
        training = paths.training if has_files(paths.training) else data
        log.info("Main.train(%s)", training)
        _method(main, "train", pipeline)(training)
        result.update(_evaluate(main, paths.evaluation, pipeline))
        log.info("Main.save()")
        _method(main, "save", pipeline)()
        result["trained_on"] = training
    write_result(paths, result)


def _evaluate(main: Any, folder: str, pipeline: str) -> dict[str, Any]:
    log.info("Main.evaluate(%s)", folder)
    returned = _method(main, "evaluate", pipeline)(folder)
    score = checked_score(returned)
    log.info("score: %s", score)
    return {"score": score, "evaluated_on": folder}
