"""Request bodies in, responses out: the formats real inference clients send.

- JSON: an object or list as is; ``{"instances": [...]}`` and ``{"inputs": ...}`` (TF Serving,
  SageMaker, MLflow) unwrap to their rows; ``{"dataframe_split": {"columns", "data"}}``
  (MLflow, pandas' ``orient="split"``) becomes a list of row dicts.
- CSV (``text/csv``): rows of numbers (or strings where a cell is not a number).
- Anything else: the raw bytes, with their content type kept on the :class:`Payload`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from modelshelf.core.errors import PayloadError


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


def encode(result: Any, payload: Payload | None = None) -> tuple[bytes, str]:
    """The response body and its content type for what ``predict`` returned.

    Bytes and strings go back as they are; anything else as JSON. A request that wrapped
    its rows (``instances``, ``inputs``, ``dataframe_split``) gets ``{"predictions": ...}``
    back, as TF Serving, SageMaker and MLflow answer.
    """
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), "application/octet-stream"
    if isinstance(result, str):
        return result.encode(), "text/plain; charset=utf-8"
    body = jsonable(result)
    if payload is not None and payload.wrapped_in and not isinstance(body, dict):
        body = {"predictions": body}
    return json.dumps(body).encode(), "application/json"
