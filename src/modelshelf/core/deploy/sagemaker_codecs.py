"""The SageMaker inference toolkit's default ``input_fn`` and ``output_fn``.

What an inference script that leaves out ``input_fn`` or ``output_fn`` gets, as the
toolkit's ``decoder``, ``encoder`` and ``DefaultInferenceHandler`` do it:

- in: ``application/json`` -> ``numpy.array(json.loads(...))``; ``text/csv`` ->
  ``numpy.genfromtxt(..., dtype=None, delimiter=",")``; ``application/x-npy`` ->
  ``numpy.load``; ``application/x-npz`` -> ``scipy.sparse.load_npz``. The content type is
  looked up exactly as sent: ``application/json; charset=utf-8`` is not one of them.
- out: the first type of the Accept header (split on commas, spaces removed, no
  ``q=`` weights, no wildcards) among ``application/json``, ``text/csv`` and
  ``application/x-npy``, returned as ``(body, content_type)``.

A model that is a scikit-learn estimator is read as the scikit-learn container reads it
(its ``DefaultSKLearnUserModuleInferenceHandler``, :func:`scikit_learn_input_fn`): the
decoded array reshaped to one row when it is flat (``0.0, 0.0, 0.0`` as CSV is one sample),
and cast to float32 when the body was JSON or CSV.

Two differences, on purpose: an NPY request is loaded without pickle (the toolkit allows
it, which lets any client run code on the server), and a body its content type cannot
describe is a PayloadError (400) rather than a 500, since the client sent it.

numpy is not a modelshelf dependency: it is imported when a default first runs, and a
script that needs a default is refused at load without it (:func:`require_numpy`).
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable
from typing import Any

from modelshelf.core.errors import MissingDependencyError, PayloadError, UnsupportedFormatError

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
ANY = "*/*"
# The only request types whose body reaches the script as str; any other (a ``; charset=``
# suffix included) stays bytes, as the toolkit's transformer decides.
UTF8_TYPES = (JSON, CSV)


def require_numpy(script: str) -> None:
    """MissingDependencyError unless numpy, which every default uses, is installed."""
    if importlib.util.find_spec("numpy") is None:
        raise MissingDependencyError(
            f"{script} leaves input_fn or output_fn to the toolkit's defaults, which need "
            "numpy: pip install numpy"
        )


def _json_to_numpy(text: str) -> Any:
    import numpy

    return numpy.array(json.loads(text))


def _csv_to_numpy(text: str) -> Any:
    import numpy

    # dtype=None as the toolkit passes it: each column's type from its cells, not float.
    return numpy.genfromtxt(io.StringIO(text), dtype=None, delimiter=",")


def _npy_to_numpy(data: bytes) -> Any:
    import numpy

    # No pickle: an object array in a request would run the client's code on the server.
    return numpy.load(io.BytesIO(data), allow_pickle=False)


def _npz_to_sparse(data: bytes) -> Any:
    import scipy.sparse  # a scikit-learn dependency; only NPZ requests need it

    return scipy.sparse.load_npz(io.BytesIO(data))


_DECODERS: dict[str, Callable[[Any], Any]] = {
    NPY: _npy_to_numpy,
    CSV: _csv_to_numpy,
    JSON: _json_to_numpy,
    NPZ: _npz_to_sparse,
}


def _to_json(array_like: Any) -> str:
    def default(value: Any) -> Any:
        if hasattr(value, "tolist"):
            return value.tolist()
        return json.JSONEncoder().default(value)

    return json.dumps(array_like, default=default)


def _to_npy(array_like: Any) -> bytes:
    import numpy

    buffer = io.BytesIO()
    numpy.save(buffer, array_like)
    return buffer.getvalue()


def _to_csv(array_like: Any) -> str:
    import numpy

    stream = io.StringIO()
    numpy.savetxt(stream, array_like, delimiter=",", fmt="%s")
    return stream.getvalue()


_ENCODERS: dict[str, Callable[[Any], str | bytes]] = {NPY: _to_npy, CSV: _to_csv, JSON: _to_json}


def default_input_fn(input_data: str | bytes, content_type: str | None) -> Any:
    """``default_input_fn`` (``decoder.decode``): the body as an array; 415 for a type it
    does not know, 400 for a body that is not what its type says."""
    decoder = _DECODERS.get(content_type or "")
    if decoder is None:
        raise UnsupportedFormatError(_unsupported(content_type, "input_fn", "deserialize"))
    try:
        return decoder(input_data)
    except (ValueError, OSError, EOFError, KeyError) as exc:
        raise PayloadError(f"the body is not valid {content_type}: {exc}") from exc


def scikit_learn_input_fn(input_data: str | bytes, content_type: str | None) -> Any:
    """The scikit-learn container's ``default_input_fn``: :func:`default_input_fn`'s array as
    one row when it is flat, float32 when it came from JSON or CSV."""
    array = default_input_fn(input_data, content_type)
    if len(array.shape) == 1:
        array = array.reshape(1, -1)
    return array.astype("float32") if content_type in UTF8_TYPES else array


def is_scikit_learn(model: Any) -> bool:
    """Whether ``model`` is a scikit-learn estimator (anything built on its BaseEstimator),
    the models the scikit-learn container serves. scikit-learn is imported already if so."""
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def default_output_fn(prediction: Any, accept: str) -> tuple[str | bytes, str]:
    """``default_output_fn`` (``encoder.encode``): the prediction in the first Accept type
    it can write, with that type; 406 when it can write none of them."""
    for content_type in accept.replace(" ", "").split(","):
        encoder = _ENCODERS.get(content_type)
        if encoder is not None:
            return encoder(prediction), content_type
    raise UnsupportedFormatError(_unsupported(accept, "output_fn", "serialize"), 406)


def _unsupported(content_type: str | None, function: str, verb: str) -> str:
    known = ", ".join(sorted(_DECODERS if function == "input_fn" else _ENCODERS))
    return (
        f"content type {content_type!r} is not supported by the default {function} "
        f"(it knows {known}); define {function} in the inference script to {verb} others"
    )
