"""``/invocations`` for MLflow models, answered as ``mlflow models serve`` answers them.

MLflow's scoring protocol (CSV read by ``pandas.read_csv`` against the signature's dtypes;
JSON as ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, with
``params``; 415 for other content types; MLflow's JSON error bodies and their statuses) is
MLflow's own code: :func:`mlflow.pyfunc.scoring_server.invocations` does the parsing, the
predict call and the ``{"predictions": ...}`` answer, and ``MlflowException`` carries the
error's status and body. Calling that function, rather than copying it, keeps modelshelf's
answers the same as MLflow's in every version that has it (2.16 and later).

Where the versions differ, :func:`scoring_handle_fn` adapts:

* MLflow 2.x's server is Flask: its ``invocations`` takes the body as text and, for a 415,
  reads the content type from Flask's current request, so it runs in a request context;
* MLflow 3.x's server is FastAPI: its ``invocations`` takes the body as bytes and needs
  no framework.

One deliberate difference: a request with no ``Content-Type`` makes MLflow's servers fail
with a 500 (``invocations`` splits ``None``); here it is the 415 of an unsupported type.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from modelshelf.core.deploy.invocation import Answer, Invocation
from modelshelf.core.errors import MissingDependencyError

# Set by MLflow's own server when it starts: models with type-hint signatures convert
# their JSON input only in a serving environment (mlflow.types.type_hints).
SERVING_ENVIRONMENT = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"


def scoring_handle_fn(model: Any, name: str = "model") -> Callable[[Any, Invocation], Answer]:
    """A ``handle_fn`` answering requests for the pyfunc ``model`` with MLflow's scoring code.

    Raises MissingDependencyError when MLflow's scoring server cannot be imported (MLflow
    2.x's needs Flask).
    """
    server = _scoring_server(name)
    input_schema = model.metadata.get_input_schema()
    call = _flask_call if _is_flask_server(server) else _plain_call
    os.environ.setdefault(SERVING_ENVIRONMENT, "true")

    def handle_fn(model: Any, invocation: Invocation) -> Answer:
        from mlflow.exceptions import MlflowException

        content_type = invocation.content_type or ""
        try:
            result = call(server, invocation.body, content_type, model, input_schema)
        except MlflowException as exc:
            # What both servers' exception wrappers answer: the error's JSON, its status.
            body = exc.serialize_as_json().encode("utf-8")
            return Answer(body, "application/json", exc.get_http_status_code())
        text = result.response
        data = text.encode("utf-8") if isinstance(text, str) else text
        return Answer(data, _with_charset(result.mimetype), result.status)

    return handle_fn


def _scoring_server(name: str) -> Any:
    try:
        from mlflow.pyfunc import scoring_server
    except ImportError as exc:
        raise MissingDependencyError(
            f"{name} is an MLflow model, served by MLflow's scoring server, which cannot be "
            f"imported ({exc}): pip install mlflow (MLflow 2.x's also needs flask)"
        ) from exc
    if not callable(getattr(scoring_server, "invocations", None)):
        raise MissingDependencyError(
            f"{name}: this MLflow's scoring server has no invocations(); pip install 'mlflow>=2.16'"
        )
    return scoring_server


def _is_flask_server(server: Any) -> bool:
    # MLflow 2.x's module imports Flask's exception wrapper; 3.x's has an async one instead.
    return hasattr(server, "catch_mlflow_exception")


def _plain_call(server: Any, body: bytes, content_type: str, model: Any, schema: Any) -> Any:
    return server.invocations(body, content_type, model, schema)


def _flask_call(server: Any, body: bytes, content_type: str, model: Any, schema: Any) -> Any:
    from mlflow.utils.proto_json_utils import MlflowInvalidInputException

    try:
        text = body.decode("utf-8")  # as MLflow 2.x's route decodes before calling it
    except UnicodeDecodeError as exc:
        raise MlflowInvalidInputException(
            f"Ensure that input is a valid UTF-8 encoded string. Error: '{exc!r}'"
        ) from exc
    headers = {"Content-Type": content_type} if content_type else {}
    with _flask_app().test_request_context(method="POST", headers=headers):
        return server.invocations(text, content_type, model, schema)


@functools.cache
def _flask_app() -> Any:
    import flask

    return flask.Flask(__name__)


def _with_charset(mimetype: str) -> str:
    # Both MLflow servers' frameworks (Flask, Starlette) send text types with their charset.
    if mimetype.startswith("text/") and "charset" not in mimetype:
        return f"{mimetype}; charset=utf-8"
    return mimetype
