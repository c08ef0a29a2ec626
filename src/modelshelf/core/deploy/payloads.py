"""Request bodies in, responses out: the formats real inference clients send.

- JSON: an object or list as is; ``{"instances": [...]}`` and ``{"inputs": ...}`` (TF Serving,
  SageMaker, MLflow) unwrap to their rows; ``{"dataframe_split": {"columns", "data"}}``
  (MLflow, pandas' ``orient="split"``) becomes a list of row dicts.
- CSV (``text/csv``): rows of numbers (or strings where a cell is not a number).
- Anything else: the raw bytes, with their content type kept on the :class:`Payload`.

Answers are JSON unless the request's Accept asks for CSV (``text/csv``) or NumPy's
``.npy`` format (``application/x-npy``), as SageMaker's framework containers answer.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from modelshelf.core.errors import NotAcceptableError, PayloadError

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
# What an Accept media range stands for: wildcards get the default, JSON.
ANSWERS = {JSON: JSON, CSV: CSV, NPY: NPY, "*/*": JSON, "application/*": JSON, "text/*": CSV}


@dataclass(frozen=True)
class Payload:
    """A decoded request: ``data`` for the model, plus what it was sent as."""

    data: Any
    content_type: str
    body: bytes
    wrapped_in: str | None = None  # "instances", "inputs", "dataframe_split" or None


def media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> Payload:
    """Decode a request body according to its content type."""
    kind = media_type(content_type)
    if kind == "application/json" or kind.endswith("+json"):
        return _decode_json(body, kind)
    if kind in ("text/csv", "application/csv"):
        return Payload(_decode_csv(body), kind, body)
    if kind.startswith("text/"):
        return Payload(body.decode("utf-8", errors="replace"), kind, body)
    return Payload(body, kind, body)


def _decode_json(body: bytes, kind: str) -> Payload:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        if "instances" in data:
            return Payload(data["instances"], kind, body, "instances")
        if "inputs" in data and not _is_v2(data):
            return Payload(data["inputs"], kind, body, "inputs")
        if "dataframe_split" in data:
            return Payload(_split_rows(data["dataframe_split"]), kind, body, "dataframe_split")
    return Payload(data, kind, body)


def _is_v2(data: dict) -> bool:
    """An Open Inference Protocol request: ``inputs`` is a list of named tensors."""
    inputs = data.get("inputs")
    return (
        isinstance(inputs, list)
        and bool(inputs)
        and all(isinstance(t, dict) and "name" in t and "data" in t for t in inputs)
    )


def _split_rows(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or "data" not in split:
        raise PayloadError('"dataframe_split" needs "columns" and "data" lists')
    columns = split.get("columns") or list(range(len(split["data"][0]) if split["data"] else 0))
    return [dict(zip(columns, row, strict=False)) for row in split["data"]]


def _decode_csv(body: bytes) -> list[list[Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the CSV body is not UTF-8: {exc}") from exc
    return [[_number(cell) for cell in row] for row in csv.reader(io.StringIO(text)) if row]


def _number(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell


def jsonable(value: Any) -> Any:
    """Make a prediction JSON-serialisable (numpy arrays and scalars, pandas objects)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict(orient="records") if _is_frame(value) else value.to_dict()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame"


def encode(
    result: Any, payload: Payload | None = None, *, accept: str | None = None
) -> tuple[bytes, str]:
    """The response body and its content type for what ``predict`` returned.

    Bytes and strings go back as they are: serving code that returns them chose its own
    format. Anything else goes back as the request's ``accept`` (an Accept header) asks:
    JSON (also for no Accept, or ``*/*``), CSV or ``.npy``; NotAcceptableError if it
    allows none of them, or the result cannot be written in the one it asks for. A JSON
    answer to a request that wrapped its rows (``instances``, ``inputs``,
    ``dataframe_split``) is ``{"predictions": ...}``, as TF Serving, SageMaker and MLflow
    answer.
    """
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), "application/octet-stream"
    if isinstance(result, str):
        return result.encode(), "text/plain; charset=utf-8"
    # The common Accepts need no parsing: the default path costs nothing more than before.
    kind = JSON if accept in (None, "", "*/*", JSON) else negotiate(accept)
    if kind == CSV:
        return _csv(jsonable(result)), CSV
    if kind == NPY:
        return _npy(result), NPY
    body = jsonable(result)
    if payload is not None and payload.wrapped_in and not isinstance(body, dict):
        body = {"predictions": body}
    return json.dumps(body).encode(), JSON


def negotiate(accept: str) -> str:
    """The answer format an Accept header asks for (highest ``q`` first, then in order)."""
    ranges = []
    for position, item in enumerate(accept.split(",")):
        kind, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight: as if the range were not there
        if kind and quality > 0:
            ranges.append((-quality, position, kind.lower()))
    for _, _, kind in sorted(ranges):
        if kind in ANSWERS:
            return ANSWERS[kind]
    raise NotAcceptableError(
        f"cannot answer in {accept!r}: this model answers {JSON} (the default), {CSV} or "
        f"{NPY}; send one of them (or */*) in Accept"
    )


def _csv(value: Any) -> bytes:
    """A CSV line per row (a list, or one value); rows of objects get a header line."""
    rows = value if isinstance(value, list) else [value]
    if rows and all(isinstance(row, dict) for row in rows):
        header = list(dict.fromkeys(key for row in rows for key in row))
        table = [header, *([row.get(key, "") for key in header] for row in rows)]
    else:
        table = [row if isinstance(row, list) else [row] for row in rows]
    if any(isinstance(cell, (list, dict)) for row in table for cell in row):
        raise NotAcceptableError(f"the prediction is not rows of values: ask for {JSON}")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(table)
    return out.getvalue().encode()


def _npy(result: Any) -> bytes:
    """``np.save`` bytes: a regular array of numbers, booleans or strings (no pickles)."""
    try:
        import numpy as np
    except ImportError:
        raise NotAcceptableError(f"{NPY} answers need numpy on the server") from None
    try:
        if isinstance(result, np.ndarray) and not result.dtype.hasobject:
            array = result  # its own dtype kept (float32 stays float32)
        else:
            array = np.asarray(jsonable(result))  # an object array of strings becomes text
    except ValueError as exc:  # ragged rows
        raise NotAcceptableError(f"the prediction is not an array: ask for {JSON}") from exc
    if array.dtype.hasobject:
        raise NotAcceptableError(f"the prediction holds objects, not an array: ask for {JSON}")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
