"""Serving a SageMaker inference script (``code/inference.py``) under the toolkit's contract.

The script is the one the SageMaker inference toolkit would import: the module named by
``SAGEMAKER_PROGRAM`` (``name`` or ``name.py``), else ``inference.py``, looked for in the
folder's ``code/`` and then at its top. An endpoint given a submit directory (the folder
``SAGEMAKER_SUBMIT_DIRECTORY`` names, or made from its archive: :mod:`.submit_directory`)
serves every model with that directory's script, as the toolkit imports the one user module
for every model; a model's own script still wins, and so does its ``code/inference.py``, the
script a SageMaker model archive carries. It is served as the toolkit serves it:

- ``model_fn(model_dir)`` loads the model, after ``pre_model_fn(model_dir)`` and before
  ``model_warmup_fn(model_dir, model)`` when the script defines them;
- a request runs ``transform_fn(model, input_data, content_type, accept)`` or else
  ``input_fn(input_data, content_type)``, ``predict_fn(data, model)`` and
  ``output_fn(prediction, accept)``; defining transform_fn and any of the three is refused;
- each function may take one more parameter, ``context``, counted as the toolkit counts
  (every parameter, those with defaults too): a Multi Model Server style context holding
  ``system_properties["model_dir"]`` and the request's headers;
- ``input_data`` is str for exactly ``application/json`` or ``text/csv`` and bytes for any
  other type (``; charset=...`` included); an Accept header that is missing or ``*/*``
  means ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (``application/json`` if unset); the answer's
  type is that Accept, or the second item of a ``(body, content_type)`` tuple; a body that
  is not str (sent as UTF-8) or bytes goes as JSON, as Multi Model Server sends it;
- a missing input_fn or output_fn is the toolkit's default (:mod:`.sagemaker_codecs`), and
  the scikit-learn container's input_fn (flat rows as one row, float32) when model_fn returns
  a scikit-learn estimator. model_fn has no default, and a missing predict_fn is the
  scikit-learn container's ``model.predict(data)`` (the toolkit's own only raises
  NotImplementedError), so a script without model_fn, or whose model has no predict(), is
  refused at load.

An unsupported Content-Type answers 415, an unsupported Accept 406; the toolkit's own error
types raised by the script keep their meaning (a ``BaseInferenceToolkitError`` its
``status_code``); anything else the script raises is a ServingError (500, traceback logged).

The script's folder and ``code/`` are on sys.path while it is imported and its load-time
functions run; the modules it imports from there are then forgotten, so that the next model
on a multi-model endpoint imports its own (import them at the top of the script, not inside
a function that runs per request). ``code/requirements.txt``, which the toolkit pip-installs
before starting its server, is installed by the deployment manager into the model's own
environment when this interpreter lacks what it names (:mod:`.serving_python`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelshelf.core.deploy import sagemaker_codecs as codecs
from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.deploy.model_handler import Loaded
from modelshelf.core.deploy.payloads import Payload
from modelshelf.core.deploy.sagemaker_batch import answer_batch
from modelshelf.core.deploy.sagemaker_context import ScriptContext
from modelshelf.core.deploy.user_code import forget, import_file, local_imports, user_traceback
from modelshelf.core.errors import (
    HandlerNotFoundError,
    ModelshelfError,
    PayloadError,
    ServingError,
    UnsupportedFormatError,
)

log = logging.getLogger("modelshelf.serve")

PROGRAM_ENV = "SAGEMAKER_PROGRAM"
SUBMIT_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
DEFAULT_PROGRAM = "inference.py"
# What the toolkit passes each function, before the context a function may also take.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "pre_model_fn": ("model_dir",),
    "model_fn": ("model_dir",),
    "model_warmup_fn": ("model_dir", "model"),
    "transform_fn": ("model", "input_data", "content_type", "accept"),
    "input_fn": ("input_data", "content_type"),
    "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"),
}
IO_FUNCTIONS = ("input_fn", "predict_fn", "output_fn")


def find_script(model_dir: str, code_dir: str | None = None) -> str | None:
    """The path of the inference script the toolkit would import for ``model_dir``: the
    model's own, else the endpoint's submit directory's (``code_dir``)."""
    program = os.environ.get(PROGRAM_ENV) or DEFAULT_PROGRAM
    module = program[:-3] if program.endswith(".py") else program
    code = os.path.join(model_dir, "code")
    candidates = [os.path.join(code, module + ".py"), os.path.join(model_dir, module + ".py")]
    if code_dir is not None:
        candidates += [os.path.join(code, DEFAULT_PROGRAM), os.path.join(code_dir, module + ".py")]
    return next((path for path in candidates if os.path.isfile(path)), None)


def load_script(path: str, model_dir: str, name: str) -> Loaded:
    """Import the script at ``path`` (a module of this model's own) and load its model."""
    folder = os.path.dirname(path)
    own = os.path.realpath(path).startswith(os.path.join(os.path.realpath(model_dir), ""))
    label = os.path.relpath(path, model_dir) if own else f"{os.path.basename(path)} ({SUBMIT_ENV})"
    folders = list(dict.fromkeys([folder, os.path.join(model_dir, "code")]))
    # First on sys.path while it loads, as the toolkit puts code/ first on PYTHONPATH.
    with local_imports(folders, owned=[model_dir]):
        module = import_file(path, "modelshelf_script", name)
        try:
            script = InferenceScript(name, model_dir, label, module)
            model = script.load()
        except BaseException:
            forget(module)
            raise
    return Loaded(
        label, model, script.predict, script.answer, lambda: forget(module),
        handle_batch_fn=script.answer_batch,
    )  # fmt: skip


_UNSET = object()  # no prediction given: finish() runs predict_fn itself


@dataclass(frozen=True)
class _Step:
    """One function of the script, or a default, and whether it is given ``context``."""

    name: str
    fn: Callable[..., Any]
    takes_context: bool = False
    default: bool = False

    def __call__(self, context: ScriptContext, *args: Any) -> Any:
        return self.fn(*args, context) if self.takes_context else self.fn(*args)


def _user_step(label: str, name: str, fn: Any) -> _Step:
    """``fn`` as ``name``; refused at load when no call the toolkit makes could fit it."""
    expected = PARAMETERS[name]
    try:
        count = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as exc:
        raise HandlerNotFoundError(f"{label}: cannot read the parameters of {name}: {exc}") from exc
    if count not in (len(expected), len(expected) + 1):
        raise HandlerNotFoundError(
            f"{label}: {name} takes {count} parameters, but the toolkit calls it with "
            f"{len(expected)} ({', '.join(expected)}) or, to pass context, {len(expected) + 1}"
        )
    return _Step(name, fn, takes_context=count == len(expected) + 1)


class InferenceScript:
    """An inference script's functions, run as the toolkit's ``Transformer`` runs them."""

    def __init__(self, name: str, model_dir: str, label: str, module: Any) -> None:
        self.name = name
        self.model_dir = model_dir
        self.label = label
        # Read once, at load, as the toolkit's Environment is.
        self.default_accept = os.environ.get(ACCEPT_ENV, codecs.JSON)
        defined = {key: getattr(module, key, None) for key in PARAMETERS}
        # A function set to None (or anything false) counts as absent, as in the toolkit.
        found = {key: fn for key, fn in defined.items() if fn}
        _check_functions(label, found)
        self.steps = {key: _user_step(label, key, fn) for key, fn in found.items()}
        if "transform_fn" not in found:
            if not ("input_fn" in found and "output_fn" in found):
                codecs.require_numpy(label)
            defaults = {"input_fn": codecs.default_input_fn, "output_fn": codecs.default_output_fn}
            for key, fn in defaults.items():
                self.steps.setdefault(key, _Step(f"default {key}", fn, default=True))

    def load(self) -> Any:
        """``pre_model_fn``, ``model_fn`` and ``model_warmup_fn``: the loaded model."""
        context = ScriptContext(self.name, self.model_dir)
        if "pre_model_fn" in self.steps:
            self._run("pre_model_fn", context, self.model_dir)
        model = self._run("model_fn", context, self.model_dir)
        if "transform_fn" not in self.steps:
            if "predict_fn" not in self.steps:
                self.steps["predict_fn"] = self._default_predict(model)
            if self.steps["input_fn"].default and codecs.is_scikit_learn(model):
                fn = codecs.scikit_learn_input_fn
                self.steps["input_fn"] = _Step("scikit-learn's input_fn", fn, default=True)
        if "model_warmup_fn" in self.steps:
            self._run("model_warmup_fn", context, self.model_dir, model)
        return model

    def _default_predict(self, model: Any) -> _Step:
        """The scikit-learn container's default, ``model.predict(data)``, for a model that
        has one; the toolkit's own default only raises NotImplementedError."""
        if not callable(getattr(model, "predict", None)):
            raise HandlerNotFoundError(
                f"{self.label} defines neither predict_fn(data, model) nor transform_fn, and "
                f"the {type(model).__name__} its model_fn returns has no predict(): define "
                "predict_fn"
            )
        return _Step("default predict_fn", lambda data, model: model.predict(data), default=True)

    def answer(self, model: Any, invocation: Invocation) -> Answer:
        """One ``/invocations`` request, as the toolkit's ``transform`` answers it."""
        context = ScriptContext(self.name, self.model_dir, invocation)
        content_type = invocation.content_type
        accept = self._accept(invocation)
        try:
            data = _input_data(invocation.body, content_type)
            if "transform_fn" in self.steps:
                result = self._run("transform_fn", context, model, data, content_type, accept)
            else:
                data = self._run("input_fn", context, data, content_type)
                prediction = self._run("predict_fn", context, data, model)
                result = self._run("output_fn", context, prediction, accept)
        except (UnsupportedFormatError, _Refused) as exc:
            return _refusal(exc)
        return self._respond(context, result, accept)

    def answer_batch(self, model: Any, invocations: list[Invocation]) -> list[Answer | Exception]:
        """Many requests in one call: one ``predict_fn`` where their inputs stack (see
        :mod:`.sagemaker_batch`)."""
        return answer_batch(self, model, invocations)

    # ---- the steps of a batch (sagemaker_batch.py) --------------------------------------

    def decode(self, invocation: Invocation) -> tuple[ScriptContext, Any] | Answer | Exception:
        """``input_fn`` of one request of a batch: its context and data, or its refusal."""
        context = ScriptContext(self.name, self.model_dir, invocation)
        try:
            data = _input_data(invocation.body, invocation.content_type)
            return context, self._run("input_fn", context, data, invocation.content_type)
        except (UnsupportedFormatError, _Refused) as exc:
            return _refusal(exc)
        except Exception as exc:
            return exc

    def predict_stacked(self, data: Any, model: Any) -> Any:
        """``predict_fn`` on a batch's stacked inputs."""
        return self._run("predict_fn", ScriptContext(self.name, self.model_dir), data, model)

    def finish(
        self, context: ScriptContext, invocation: Invocation, model: Any, *, data: Any = None,
        prediction: Any = _UNSET,
    ) -> Answer | Exception:  # fmt: skip
        """``predict_fn`` (unless its ``prediction`` is given) and ``output_fn`` of one
        request of a batch."""
        accept = self._accept(invocation)
        try:
            if prediction is _UNSET:
                prediction = self._run("predict_fn", context, data, model)
            result = self._run("output_fn", context, prediction, accept)
            return self._respond(context, result, accept)
        except (UnsupportedFormatError, _Refused) as exc:
            return _refusal(exc)
        except Exception as exc:
            return exc

    def _accept(self, invocation: Invocation) -> str:
        accept = invocation.accept
        return self.default_accept if not accept or accept == codecs.ANY else accept

    def _respond(self, context: ScriptContext, result: Any, accept: str) -> Answer:
        body, media = (result[0], result[1]) if isinstance(result, tuple) else (result, accept)
        return Answer(
            self._body(body), str(media or accept), context.status, context.response_headers
        )

    def predict(self, model: Any, payload: Payload) -> Any:
        """``predict_fn`` on a payload decoded already (the V2 route, ``check``); errors
        propagate for the handler to wrap."""
        step = self.steps.get("predict_fn")
        if step is None:
            raise HandlerNotFoundError(
                f"{self.label} answers whole requests only (transform_fn): use /invocations"
            )
        return step(ScriptContext(self.name, self.model_dir), payload.data, model)

    def _run(self, key: str, context: ScriptContext, *args: Any) -> Any:
        step = self.steps[key]
        try:
            return step(context, *args)
        except Exception as exc:
            if step.default and isinstance(exc, ModelshelfError):
                raise  # a default's 400/406/415: the request's fault, not the model's
            raise _failure(f"{self.name}: {step.name}", key, exc) from exc

    def _body(self, body: Any) -> bytes:
        if isinstance(body, str):
            return body.encode()
        if isinstance(body, (bytes, bytearray)):
            return bytes(body)
        try:
            return json.dumps(body, indent=2).encode()
        except TypeError as exc:
            raise ServingError(
                f"{self.name}: the script answered a {type(body).__name__}, which is not str, "
                f"bytes or JSON-serialisable: {exc}",
                user_traceback(exc),
            ) from exc


def _check_functions(label: str, found: Mapping[str, Any]) -> None:
    """The toolkit's rule (transform_fn alone), and the functions that have no default."""
    combined = [key for key in IO_FUNCTIONS if key in found]
    if "transform_fn" in found and combined:
        raise HandlerNotFoundError(
            f"{label} defines transform_fn and {', '.join(combined)}: the toolkit cannot use "
            "transform_fn in conjunction with input_fn, predict_fn and/or output_fn; keep "
            "transform_fn alone, or remove it"
        )
    if "model_fn" not in found:
        raise HandlerNotFoundError(
            f"{label} defines no model_fn(model_dir): the toolkit has no default to load a model"
        )


def _input_data(body: bytes, content_type: str | None) -> str | bytes:
    if content_type not in codecs.UTF8_TYPES:
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the {content_type} body is not UTF-8: {exc}") from exc


class _Refused(Exception):
    """A script's toolkit error that carries its own HTTP status."""

    def __init__(self, status: int, message: str, user_traceback: str) -> None:
        super().__init__(message)
        self.status = status
        self.user_traceback = user_traceback


def _failure(where: str, key: str, exc: Exception) -> Exception:
    """What an exception the script raised answers. The toolkit's types are known by name:
    the toolkit need not be installed here, and a script written for it may use them."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "UnsupportedFormatError" in kinds:
        return UnsupportedFormatError(str(exc), 406 if key == "output_fn" else 415)
    status = getattr(exc, "status_code", None)
    if "BaseInferenceToolkitError" in kinds and isinstance(status, int) and 400 <= status < 600:
        message = str(getattr(exc, "message", exc))
        return _Refused(status, f"{where}: {message}", user_traceback(exc))
    return _serving_error(where, exc)


def _serving_error(where: str, exc: Exception) -> ServingError:
    return ServingError(f"{where} failed: {type(exc).__name__}: {exc}", user_traceback(exc))


def _refusal(exc: UnsupportedFormatError | _Refused) -> Answer:
    if isinstance(exc, _Refused) and exc.status >= 500:
        log.error("%s\n%s", exc, exc.user_traceback)
    return Answer(json.dumps({"error": str(exc)}).encode(), codecs.JSON, exc.status)
