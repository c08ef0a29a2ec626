"""How a model folder is served: its own ``serve.py``, or a built-in handler.

Looked for, in order:

1. ``serve.py`` defining ``load(model_dir)`` and ``predict(model, data)``, or a
   ``ModelAdapter`` class with ``load(model_dir)`` and ``predict(data)`` (and optional
   ``preprocess``/``postprocess``), as Dataloop's model adapters have;
2. a SageMaker inference script: ``code/inference.py`` (or ``inference.py``, or the module
   ``SAGEMAKER_PROGRAM`` names) with ``model_fn`` and ``predict_fn``/``transform_fn``,
   served under the inference toolkit's contract (:mod:`.sagemaker_script`);
3. ``MLmodel``: an MLflow pyfunc folder, loaded with ``mlflow.pyfunc`` (if installed);
4. one ``*.joblib``, ``*.pkl`` or ``*.pickle`` file holding an object with ``.predict``
   (scikit-learn style).

A parameters file (``params.json`` or ``<name>-params.json``, as in SageMaker's multi-model
examples) is passed to ``load`` when it accepts a second argument or ``params=``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.deploy.payloads import Payload, decode, encode
from modelshelf.core.deploy.sagemaker_script import find_script, load_script
from modelshelf.core.errors import HandlerNotFoundError, MissingDependencyError, ServingError

PICKLES = (".joblib", ".pkl", ".pickle")


@dataclass
class ModelHandler:
    """A loaded model and the way to call it."""

    name: str
    kind: str
    model_dir: str
    model: Any
    predict_fn: Callable[[Any, Payload], Any]
    load_seconds: float = 0.0
    # The folder's size on disk: what a multi-model endpoint's memory budget counts (an
    # estimate of memory that needs no measuring, and is the same on every worker).
    size_bytes: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    # Serving code that answers whole requests itself (status, content type, headers), as
    # handler services written for other servers do; None: decode, predict, encode.
    handle_fn: Callable[[Any, Invocation], Answer] | None = None

    def predict(self, payload: Payload) -> Any:
        """Run the model on a decoded payload; the model's errors become ServingError."""
        try:
            return self.predict_fn(self.model, payload)
        except Exception as exc:
            raise ServingError(
                f"{self.name}: predict failed: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            ) from exc

    def handle(self, invocation: Invocation) -> Answer:
        """Answer one request: what ``/invocations`` does."""
        if self.handle_fn is not None:
            return self.handle_fn(self.model, invocation)
        payload = decode(invocation.body, invocation.content_type)
        body, media = encode(self.predict(payload), payload)
        return Answer(body, media)

    def invoke(self, body: bytes, content_type: str | None) -> tuple[bytes, str]:
        """The answer's body and content type, for callers with no HTTP to answer (batch,
        the async queue): an error status becomes a ServingError."""
        answer = self.handle(Invocation(body, content_type))
        if answer.status >= 400:
            text = answer.body[:500].decode("utf-8", errors="replace")
            raise ServingError(f"{self.name}: answered {answer.status}: {text}")
        return answer.body, answer.content_type


def find_params(model_dir: str, name: str) -> dict[str, Any]:
    """The model's parameters file, if it has one."""
    for candidate in ("params.json", f"{name}-params.json"):
        path = os.path.join(model_dir, candidate)
        if os.path.isfile(path):
            with open(path) as fh:
                return json.load(fh)
    extra = [f for f in os.listdir(model_dir) if f.endswith("-params.json")]
    if len(extra) == 1:
        with open(os.path.join(model_dir, extra[0])) as fh:
            return json.load(fh)
    return {}


def load_handler(model_dir: str, name: str = "model") -> ModelHandler:
    """Load the model in ``model_dir`` with the first handler that fits it."""
    if not os.path.isdir(model_dir):
        raise HandlerNotFoundError(f"{model_dir} is not a folder")
    params = find_params(model_dir, name)
    started = time.perf_counter()
    kind, model, predict_fn, handle_fn = _load(model_dir, name, params)
    return ModelHandler(
        name=name,
        kind=kind,
        model_dir=model_dir,
        model=model,
        predict_fn=predict_fn,
        load_seconds=time.perf_counter() - started,
        size_bytes=_folder_size(model_dir),
        params=params,
        handle_fn=handle_fn,
    )


def _load(model_dir: str, name: str, params: dict) -> tuple[str, Any, Callable, Callable | None]:
    """``(kind, model, predict_fn, handle_fn)`` from the first way of serving that fits; the
    handle_fn of serving code that answers whole requests, else None."""
    if os.path.isfile(os.path.join(model_dir, "serve.py")):
        return (*_load_serve_py(model_dir, name, params), None)
    script = find_script(model_dir)
    if script is not None:
        return load_script(script, model_dir, name, _forget_local_modules)
    if os.path.isfile(os.path.join(model_dir, "MLmodel")):
        return (*_load_mlflow(model_dir, name), None)
    pickled = sorted(f for f in os.listdir(model_dir) if f.endswith(PICKLES))
    if len(pickled) > 1:
        preferred = [f for f in pickled if f.rsplit(".", 1)[0] == "model"]
        pickled = preferred[:1] or pickled
    if len(pickled) == 1:
        return (*_load_pickle(os.path.join(model_dir, pickled[0]), name), None)
    found = ", ".join(sorted(os.listdir(model_dir))[:8]) or "nothing"
    raise HandlerNotFoundError(
        f"cannot serve {name}: its folder has no serve.py (load/predict or ModelAdapter), no "
        f"inference script (code/inference.py), no MLmodel (MLflow) and no single "
        f"*.joblib/*.pkl/*.pickle model; it holds: {found}"
    )


def _user_code(name: str, what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        raise ServingError(
            f"{name}: {what} failed: {type(exc).__name__}: {exc}", traceback.format_exc()
        ) from exc


def _load_serve_py(model_dir: str, name: str, params: dict) -> tuple[str, Any, Callable]:
    path = os.path.join(model_dir, "serve.py")
    module_name = "modelshelf_serve_" + hashlib.sha256(path.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered like any imported module: dataclasses and pickle look classes up there.
    sys.modules[module_name] = module
    before = set(sys.modules)
    sys.path.insert(0, model_dir)  # serve.py may import modules that sit beside it
    try:
        _user_code(name, "serve.py", lambda: spec.loader.exec_module(module))
    finally:
        sys.path.remove(model_dir)
        _forget_local_modules(model_dir, before)
    adapter = getattr(module, "ModelAdapter", None)
    if inspect.isclass(adapter):
        instance = _user_code(name, "ModelAdapter()", adapter)
        _user_code(name, "load", lambda: _call_load(instance.load, model_dir, params))
        return "ModelAdapter", instance, _adapter_predict
    load, predict = getattr(module, "load", None), getattr(module, "predict", None)
    if not (callable(load) and callable(predict)):
        raise HandlerNotFoundError(
            f"{name}: serve.py must define load(model_dir) and predict(model, data), or a "
            "ModelAdapter class with load and predict"
        )
    model = _user_code(name, "load", lambda: _call_load(load, model_dir, params))
    wants_type = "content_type" in inspect.signature(predict).parameters

    def predict_fn(model: Any, payload: Payload) -> Any:
        if wants_type:
            return predict(model, payload.data, content_type=payload.content_type)
        return predict(model, payload.data)

    return "serve.py", model, predict_fn


def _forget_local_modules(model_dir: str, before: set[str]) -> None:
    """Drop modules that serve.py imported from its own folder from the import cache.

    serve.py keeps its references; the next model's ``import helpers`` then loads that
    model's own helpers.py instead of getting this one's (several models share a
    multi-model server). Import such modules at the top of serve.py, not inside predict.
    """
    prefix = os.path.join(os.path.abspath(model_dir), "")
    for key in set(sys.modules) - before:
        origin = getattr(sys.modules[key], "__file__", None) or ""
        if os.path.abspath(origin).startswith(prefix):
            del sys.modules[key]


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


def _load_pickle(path: str, name: str) -> tuple[str, Any, Callable]:
    if path.endswith(".joblib"):
        try:
            import joblib
        except ImportError as exc:
            raise MissingDependencyError(f"{name} is a joblib file: pip install joblib") from exc
        model = _user_code(name, "joblib.load", lambda: joblib.load(path))
        kind = "joblib"
    else:
        with open(path, "rb") as fh:
            model = _user_code(name, "unpickling", lambda: pickle.load(fh))
        kind = "pickle"
    if not callable(getattr(model, "predict", None)):
        raise HandlerNotFoundError(
            f"{name}: {os.path.basename(path)} holds a {type(model).__name__}, which has no "
            "predict(); add a serve.py to say how to call it"
        )
    return kind, model, _estimator_predict


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


def _load_mlflow(model_dir: str, name: str) -> tuple[str, Any, Callable]:
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise MissingDependencyError(
            f"{name} is an MLflow model (MLmodel): pip install mlflow to serve it"
        ) from exc
    model = _user_code(name, "mlflow load_model", lambda: mlflow.pyfunc.load_model(model_dir))
    return "mlflow", model, _estimator_predict


def _folder_size(folder: str) -> int:
    total = 0
    for base, _, names in os.walk(folder):
        for item in names:
            try:
                total += os.path.getsize(os.path.join(base, item))
            except OSError:
                continue
    return total
