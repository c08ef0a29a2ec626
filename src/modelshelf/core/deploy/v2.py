"""The Open Inference Protocol (KServe V2 / Triton) over HTTP: infer requests and answers.

An infer request names tensors: ``{"id"?, "parameters"?, "inputs": [{"name", "shape",
"datatype", "data"}], "outputs"?}``. The handler gets rows, as from ``/invocations``:

- one input of shape ``[N, M]`` -> N rows of M values; ``[N]`` -> N values;
- several inputs -> N rows of ``{input name: value}`` (``[N, 1]`` inputs give scalars).

Triton's binary tensor extension is read too (``Inference-Header-Content-Length`` and
``parameters.binary_data_size``), so ``tritonclient`` works with its defaults. Answers are
always JSON, which every V2 client accepts.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelshelf._version import __version__
from modelshelf.core.deploy.http import json_response
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.deploy.payloads import Payload, jsonable
from modelshelf.core.errors import V2Error

PLATFORM = "modelshelf"
HEADER_LENGTH = "inference-header-content-length"
# struct codes of the fixed-size datatypes, for binary tensor data (little-endian).
FIXED = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
DATATYPES = frozenset(FIXED) | {"BYTES"}


def routes(
    *,
    infer: Callable,
    metadata: Callable,
    model_ready: Callable,
    ready: Callable,
    server: Callable,
) -> list[Route]:
    """The protocol's HTTP paths, once for every app that speaks it; infer first (hot).

    Liveness is the same everywhere (:func:`live`); the other endpoints are the app's own.
    """
    return [
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server, methods=["GET"]),
        Route("/v2/models/{name}", metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
    ]


async def live(request: Request) -> Response:
    """``GET /v2/health/live``: answering at all is being live."""
    return json_response({"live": True})


def server_metadata(extensions: list[str]) -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": PLATFORM, "version": __version__, "extensions": extensions}


def model_metadata(name: str, versions: list[str]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs and outputs are not declared by modelshelf models."""
    return {"name": name, "versions": versions, "platform": PLATFORM, "inputs": [], "outputs": []}


def infer(
    handler: ModelHandler,
    body: bytes,
    header_length: int | None,
    model_name: str,
    model_version: str | None,
) -> bytes:
    """Run one infer request through ``handler``; the JSON response body."""
    request, rows = parse_request(body, header_length)
    result = handler.predict(Payload(rows, "application/json", body))
    answer: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        answer["model_version"] = str(model_version)
    if "id" in request:
        answer["id"] = request["id"]
    answer["outputs"] = select_outputs(build_outputs(result), request.get("outputs"))
    return json.dumps(answer).encode()


def header_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The JSON part's length when the body carries binary tensors, else None."""
    for key, value in headers:
        if key == b"inference-header-content-length":
            try:
                return int(value)
            except ValueError:
                raise V2Error("Inference-Header-Content-Length is not a number") from None
    return None


# ---- requests ----------------------------------------------------------------------------


def parse_request(body: bytes, json_length: int | None = None) -> tuple[dict[str, Any], Any]:
    """The request object and the rows for the handler."""
    binary = b""
    if json_length is not None:
        if not 0 < json_length <= len(body):
            raise V2Error("Inference-Header-Content-Length is outside the body")
        body, binary = body[:json_length], body[json_length:]
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise V2Error(f"the infer request is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise V2Error('an infer request is a JSON object with an "inputs" list')
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error('an infer request needs a non-empty "inputs" list of tensors')
    offset = 0
    tensors = []
    for tensor in inputs:
        name, shape, flat, offset = _read_tensor(tensor, binary, offset)
        tensors.append((name, shape, flat))
    if offset != len(binary):
        raise V2Error(f"{len(binary) - offset} bytes of binary data belong to no input")
    return request, _rows(tensors)


def _read_tensor(tensor: Any, binary: bytes, offset: int) -> tuple[str, list[int], list, int]:
    if not isinstance(tensor, dict):
        raise V2Error("each input is an object with name, shape, datatype and data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise V2Error('each input needs a "name"')
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise V2Error(f'input {name!r}: "shape" must be a list of non-negative integers')
    if datatype not in DATATYPES:
        raise V2Error(f"input {name!r}: unknown datatype {datatype!r}")
    count = math.prod(shape)
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise V2Error(f"input {name!r}: binary_data_size runs past the body")
        flat = _unpack(name, datatype, binary[offset : offset + size], count)
        offset += size
    elif "data" in tensor:
        flat = _flatten(tensor["data"])
        if datatype == "BYTES":
            flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat]
    else:
        raise V2Error(f'input {name!r} has no "data"')
    if len(flat) != count:
        raise V2Error(f"input {name!r}: shape {shape} needs {count} values, got {len(flat)}")
    return name, shape, flat, offset


def _flatten(data: Any) -> list:
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list = []
    for item in data:
        out.extend(_flatten(item))
    return out


def _unpack(name: str, datatype: str, raw: bytes, count: int) -> list:
    if datatype == "BYTES":  # each element: a 4-byte little-endian length, then the bytes
        out, pos = [], 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise V2Error(f"input {name!r}: truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, pos)
            out.append(raw[pos + 4 : pos + 4 + length].decode("utf-8", "replace"))
            pos += 4 + length
        return out
    code = FIXED[datatype]
    width = struct.calcsize(code)
    if len(raw) != count * width:
        raise V2Error(f"input {name!r}: {len(raw)} bytes of {datatype} for {count} values")
    return list(struct.unpack(f"<{count}{code}", raw))


def _reshape(flat: list, shape: list[int]) -> Any:
    if len(shape) <= 1:
        return flat
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _rows(tensors: list[tuple[str, list[int], list]]) -> Any:
    if len(tensors) == 1:
        _, shape, flat = tensors[0]
        return _reshape(flat, shape)
    counts = {shape[0] if shape else 1 for _, shape, _ in tensors}
    if len(counts) != 1:
        raise V2Error("several inputs must have the same first dimension (one row each)")
    columns = {}
    for name, shape, flat in tensors:
        if len(shape) <= 1 or shape[1:] == [1]:
            columns[name] = flat  # [N] and [N, 1]: one scalar per row
        else:
            columns[name] = _reshape(flat, shape)
    rows = zip(*columns.values(), strict=True)
    return [dict(zip(columns, values, strict=True)) for values in rows]


# ---- answers -----------------------------------------------------------------------------


def build_outputs(result: Any) -> list[dict[str, Any]]:
    """Output tensors for what predict returned: one per key of a dict, else ``predict``."""
    if isinstance(result, dict):
        return [tensor(str(key), value) for key, value in result.items()]
    return [tensor("predict", result)]


def select_outputs(outputs: list[dict[str, Any]], requested: Any) -> list[dict[str, Any]]:
    """Keep the outputs a request asked for; a single output takes the single name asked."""
    if not requested:
        return outputs
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise V2Error('"outputs" must be a list of {"name": ...} objects')
    names = [o["name"] for o in requested]
    if len(names) == 1 and len(outputs) == 1:
        # Clients written for another server ask for its output name (e.g. "output-0").
        return [{**outputs[0], "name": names[0]}]
    by_name = {o["name"]: o for o in outputs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise V2Error(f"the model has no output {missing[0]!r}; it has {sorted(by_name)}")
    return [by_name[n] for n in names]


def tensor(name: str, value: Any) -> dict[str, Any]:
    """One output tensor ``{"name", "shape", "datatype", "data"}`` (data flattened)."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and hasattr(value, "shape") and hasattr(value, "ravel"):
        datatype = _numpy_datatype(dtype)
        data = value.ravel().tolist()
        if datatype == "BYTES":
            data = [_text(v) for v in data]
        return {"name": name, "shape": list(value.shape), "datatype": datatype, "data": data}
    value = jsonable(value)
    if not isinstance(value, list):
        value = [value]
    shape = _shape(value)
    if shape is None:  # ragged, or rows of objects: one JSON text per row
        data = [_text(v) for v in value]
        return {"name": name, "shape": [len(value)], "datatype": "BYTES", "data": data}
    flat = _flatten(value) if len(shape) > 1 else value
    datatype = _python_datatype(flat)
    if datatype == "BYTES":
        flat = [_text(v) for v in flat]
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def _shape(value: list) -> list[int] | None:
    """The shape of a regular nested list, or None if it is ragged or holds objects."""
    if not value or not isinstance(value[0], list):
        if any(isinstance(v, (list, dict)) for v in value):
            return None
        return [len(value)]
    inner = _shape(value[0])
    if inner is None:
        return None
    for item in value[1:]:
        if not isinstance(item, list) or _shape(item) != inner:
            return None
    return [len(value), *inner]


def _python_datatype(flat: list) -> str:
    if flat and all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return "FP64"
    return "BYTES"


def _numpy_datatype(dtype: Any) -> str:
    kind, size = getattr(dtype, "kind", "O"), getattr(dtype, "itemsize", 8)
    if kind == "b":
        return "BOOL"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{'U' if kind == 'u' else ''}INT{size * 8}"
    return "BYTES"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(jsonable(value))
