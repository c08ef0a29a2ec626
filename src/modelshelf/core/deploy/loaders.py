"""How a model folder is served: its own ``serve.py``, or a built-in handler, unless the
endpoint has a handler service (:mod:`.handler_service`) that serves every model.

Looked for, in order:

1. ``serve.py`` defining ``load(model_dir)`` and ``predict(model, data)``, or a
   ``ModelAdapter`` class with ``load(model_dir)`` and ``predict(data)`` (and optional
   ``preprocess``/``postprocess``), as Dataloop's model adapters have;
2. a SageMaker inference script: ``code/inference.py`` (or ``inference.py``, or the module
   ``SAGEMAKER_PROGRAM`` names) with ``model_fn`` and ``predict_fn``/``transform_fn``,
   served under the inference toolkit's contract (:mod:`.sagemaker_script`); on an endpoint
   with a submit directory (``code_dir``), its script serves every folder that has none;
3. ``MLmodel``: an MLflow pyfunc folder, loaded with ``mlflow.pyfunc`` (if installed) and
   answered as ``mlflow models serve`` answers (:mod:`.mlflow_scoring`);
4. one ``*.joblib``, ``*.pkl`` or ``*.pickle`` file holding an object with ``.predict``
   (scikit-learn style).

A parameters file (``params.json`` or ``<name>-params.json``, as in SageMaker's multi-model
examples) is passed to ``load`` when it accepts a second argument or ``params=``.
"""

from __future__ import annotations

import inspect
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from modelshelf.core.deploy.handler_service import HandlerSpec, load_service
from modelshelf.core.deploy.mlflow_scoring import scoring_handle_fn
from modelshelf.core.deploy.model_handler import Loaded, ModelHandler, find_params, folder_size
from modelshelf.core.deploy.payloads import Payload
from modelshelf.core.deploy.requirements import check_met
from modelshelf.core.deploy.sagemaker_script import find_script, load_script
from modelshelf.core.deploy.user_code import call_user, forget, import_file, local_imports
from modelshelf.core.errors import HandlerNotFoundError, MissingDependencyError

PICKLES = (".joblib", ".pkl", ".pickle")


def load_handler(
    model_dir: str,
    name: str = "model",
    handler: HandlerSpec | None = None,
    code_dir: str | None = None,
    *,
    check_requirements: bool = False,
) -> ModelHandler:
    """Load the model in ``model_dir`` with the first handler that fits it, or with the
    endpoint's ``handler`` service when it has one; ``code_dir`` is the endpoint's submit
    directory, whose inference script serves a folder that has no serving code of its own.
    With ``check_requirements``, a folder whose requirements this interpreter does not meet
    is refused first (RequirementsNotMetError), not left to fail on an import.

    The folder is read, never written: it may be served in place.
    """
    if not os.path.isdir(model_dir):
        raise HandlerNotFoundError(f"{model_dir} is not a folder")
    if check_requirements:
        check_met(model_dir, name)
    if handler is not None:
        return load_service(model_dir, name, handler)
    params = find_params(model_dir, name)
    started = time.perf_counter()
    loaded = _load(model_dir, name, params, code_dir)
    return ModelHandler(
        name=name,
        kind=loaded.kind,
        model_dir=model_dir,
        model=loaded.model,
        predict_fn=loaded.predict_fn,
        load_seconds=time.perf_counter() - started,
        size_bytes=folder_size(model_dir),
        params=params,
        handle_fn=loaded.handle_fn,
        close_fn=loaded.close_fn,
        predict_batch_fn=loaded.predict_batch_fn,
        handle_batch_fn=loaded.handle_batch_fn,
    )


def _load(model_dir: str, name: str, params: dict, code_dir: str | None) -> Loaded:
    """The first way of serving the folder that fits it."""
    if os.path.isfile(os.path.join(model_dir, "serve.py")):
        return _load_serve_py(model_dir, name, params)
    script = find_script(model_dir, code_dir)
    if script is not None:
        return load_script(script, model_dir, name)
    if os.path.isfile(os.path.join(model_dir, "MLmodel")):
        return _load_mlflow(model_dir, name)
    pickled = sorted(f for f in os.listdir(model_dir) if f.endswith(PICKLES))
    if len(pickled) > 1:
        preferred = [f for f in pickled if f.rsplit(".", 1)[0] == "model"]
        pickled = preferred[:1] or pickled
    if len(pickled) == 1:
        return _load_pickle(os.path.join(model_dir, pickled[0]), name)
    found = ", ".join(sorted(os.listdir(model_dir))[:8]) or "nothing"
    raise HandlerNotFoundError(
        f"cannot serve {name}: its folder has no serve.py (load/predict or ModelAdapter), no "
        f"inference script (code/inference.py), no MLmodel (MLflow) and no single "
        f"*.joblib/*.pkl/*.pickle model; it holds: {found}"
    )


def _load_serve_py(model_dir: str, name: str, params: dict) -> Loaded:
    # serve.py may import modules that sit beside it: each model gets its own copies.
    with local_imports([model_dir], owned=[model_dir]):
        module = import_file(os.path.join(model_dir, "serve.py"), "modelshelf_serve", name)
    try:
        kind, model, predict_fn = _serve_py_entry(module, model_dir, name, params)
    except BaseException:
        forget(module)
        raise
    return Loaded(
        kind, model, predict_fn, close_fn=lambda: forget(module),
        predict_batch_fn=_predict_batch_entry(module, kind),
    )  # fmt: skip


def _predict_batch_entry(module: Any, kind: str) -> Callable | None:
    """How a batch of requests reaches the folder's code in one call (see batching.py):
    serve.py's ``predict_batch(model, payloads)`` if it defines one, each request's decoded
    data in a list; a ModelAdapter's ``predict`` on the batch's items (Dataloop's contract:
    a list of items in, one output per item out)."""
    if kind == "ModelAdapter":
        return _adapter_predict_batch
    predict_batch = getattr(module, "predict_batch", None)
    if kind != "serve.py" or not callable(predict_batch):
        return None

    def predict_batch_fn(model: Any, payloads: list[Payload]) -> list[Any]:
        return predict_batch(model, [payload.data for payload in payloads])

    return predict_batch_fn


def _serve_py_entry(
    module: Any, model_dir: str, name: str, params: dict
) -> tuple[str, Any, Callable]:
    adapter = getattr(module, "ModelAdapter", None)
    if inspect.isclass(adapter):
        instance = call_user(name, "ModelAdapter()", adapter)
        call_user(name, "load", lambda: _call_load(instance.load, model_dir, params))
        return "ModelAdapter", instance, _adapter_predict
    load, predict = getattr(module, "load", None), getattr(module, "predict", None)
    if not (callable(load) and callable(predict)):
        raise HandlerNotFoundError(
            f"{name}: serve.py must define load(model_dir) and predict(model, data), or a "
            "ModelAdapter class with load and predict"
        )
    model = call_user(name, "load", lambda: _call_load(load, model_dir, params))
    wants_type = "content_type" in inspect.signature(predict).parameters

    def predict_fn(model: Any, payload: Payload) -> Any:
        if wants_type:
            return predict(model, payload.data, content_type=payload.content_type)
        return predict(model, payload.data)

    return "serve.py", model, predict_fn


def _call_load(load: Callable, model_dir: str, params: dict) -> Any:
    parameters = inspect.signature(load).parameters
    positional = [
        p for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if "params" in parameters:
        return load(model_dir, params=params)
    if len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters.values()):
        return load(model_dir, params)
    return load(model_dir)


def _adapter_predict(adapter: Any, payload: Payload) -> Any:
    data = payload.data
    if hasattr(adapter, "preprocess"):
        data = adapter.preprocess(data)
    result = adapter.predict(data)
    if hasattr(adapter, "postprocess"):
        result = adapter.postprocess(result)
    return result


def _adapter_predict_batch(adapter: Any, payloads: list[Payload]) -> list[Any]:
    """The items of every request (a request's list of items, or its one item) in one
    ``predict`` call, its outputs split back per request; when the outputs are not one per
    item, each request is predicted on its own."""
    items = [p.data if isinstance(p.data, list) else [p.data] for p in payloads]
    flat = [item for request in items for item in request]
    outputs = _adapter_predict(adapter, replace(payloads[0], data=flat))
    if not isinstance(outputs, list) or len(outputs) != len(flat):
        return [_adapter_predict(adapter, payload) for payload in payloads]
    answers, at = [], 0
    for payload, request in zip(payloads, items, strict=True):
        part = outputs[at : at + len(request)]
        answers.append(part if isinstance(payload.data, list) else part[0])
        at += len(request)
    return answers


def _load_pickle(path: str, name: str) -> Loaded:
    if path.endswith(".joblib"):
        try:
            import joblib
        except ImportError as exc:
            raise MissingDependencyError(f"{name} is a joblib file: pip install joblib") from exc
        model = call_user(name, "joblib.load", lambda: joblib.load(path))
        kind = "joblib"
    else:
        with open(path, "rb") as fh:
            model = call_user(name, "unpickling", lambda: pickle.load(fh))
        kind = "pickle"
    if not callable(getattr(model, "predict", None)):
        raise HandlerNotFoundError(
            f"{name}: {os.path.basename(path)} holds a {type(model).__name__}, which has no "
            "predict(); add a serve.py to say how to call it"
        )
    return Loaded(kind, model, _estimator_predict)


def _estimator_predict(model: Any, payload: Payload) -> Any:
    return model.predict(_as_frame_if_records(payload.data))


def _as_frame_if_records(data: Any) -> Any:
    """Rows as dicts (``dataframe_split``) become a DataFrame when pandas is installed."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        try:
            import pandas
        except ImportError:
            return data
        return pandas.DataFrame(data)
    return data


def _load_mlflow(model_dir: str, name: str) -> Loaded:
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise MissingDependencyError(
            f"{name} is an MLflow model (MLmodel): pip install mlflow to serve it"
        ) from exc
    model = call_user(name, "mlflow load_model", lambda: mlflow.pyfunc.load_model(model_dir))
    # /invocations answers as `mlflow models serve` does (MLflow's own parsing and errors);
    # decoded rows (KServe V2 infer) still go straight to the pyfunc's predict.
    return Loaded("mlflow", model, _estimator_predict, handle_fn=scoring_handle_fn(model, name))
