"""The ``context`` a handler service is given, as Multi Model Server's ``mms/context.py``
defines it (TorchServe's ``ts/context.py`` is the same with a few additions, included).

One :class:`Context` per loaded model, made at load; before each batch the service sets
``request_ids`` and ``request_processor`` (one :class:`RequestProcessor` per request), and
after it reads each request's response status and headers back. The signatures are MMS's,
``idx`` arguments included: ``set_response_status(code, phrase, idx)`` but
``set_response_content_type(idx, value)``.
"""

from __future__ import annotations

from typing import Any

from modelshelf._version import __version__

Dims = list[Any] | None
Idx = int | None
SERVER_NAME = "MMS"  # what MMS and TorchServe both report; handlers may check it


class RequestProcessor:
    """One request's headers in, and its response status and headers out."""

    def __init__(self, request_header: dict[str, Any]) -> None:
        self._status_code = 200
        self._reason_phrase: str | None = None
        self._response_header: dict[str, str] = {}
        self._request_header = request_header

    def get_request_property(self, key: str) -> Any:
        return self._request_header.get(key)

    def report_status(self, code: int, reason_phrase: str | None = None) -> None:
        self._status_code = code
        self._reason_phrase = reason_phrase

    def get_response_status_code(self) -> int:
        return self._status_code

    def get_response_status_phrase(self) -> str | None:
        return self._reason_phrase

    def add_response_property(self, key: str, value: str) -> None:
        self._response_header[key] = value

    def get_response_headers(self) -> dict[str, str]:
        return self._response_header

    def get_response_header(self, key: str) -> str | None:
        return self._response_header.get(key)

    def get_request_properties(self) -> dict[str, Any]:
        return self._request_header


class Metrics:
    """``context.metrics``: MMS's MetricsStore methods, so handlers that record metrics run.

    A fresh one per batch, as MMS makes; the values are kept in ``store`` (not exported).
    """

    def __init__(self, request_ids: dict[int, str] | None, model_name: str) -> None:
        self.request_ids = request_ids
        self.model_name = model_name
        self.store: list[dict[str, Any]] = []

    def add_metric(
        self,
        name: str,
        value: Any,
        idx: Idx = None,
        unit: str | None = None,
        dimensions: Dims = None,
    ) -> None:
        self.store.append(
            {"name": name, "value": value, "idx": idx, "unit": unit, "dimensions": dimensions}
        )

    def add_counter(self, name: str, value: Any, idx: Idx = None, dimensions: Dims = None) -> None:
        self.add_metric(name, value, idx, "count", dimensions)

    def add_time(
        self, name: str, value: Any, idx: Idx = None, unit: str = "ms", dimensions: Dims = None
    ) -> None:
        self.add_metric(name, value, idx, unit, dimensions)

    def add_size(
        self, name: str, value: Any, idx: Idx = None, unit: str = "MB", dimensions: Dims = None
    ) -> None:
        self.add_metric(name, value, idx, unit, dimensions)

    def add_percent(self, name: str, value: Any, idx: Idx = None, dimensions: Dims = None) -> None:
        self.add_metric(name, value, idx, "percent", dimensions)

    def add_error(self, name: str, value: Any, dimensions: Dims = None) -> None:
        self.add_metric(name, value, None, None, dimensions)


class Context:
    """Model information fixed at load, and the current batch's requests."""

    def __init__(
        self,
        model_name: str,
        model_dir: str,
        manifest: dict[str, Any] | None,
        batch_size: int,
        gpu: int | None,
        mms_version: str = __version__,
    ) -> None:
        self.model_name = model_name
        self.manifest = manifest
        self._system_properties: dict[str, Any] = {
            "model_dir": model_dir,
            "gpu_id": gpu,
            "batch_size": batch_size,
            "server_name": SERVER_NAME,
            "server_version": mms_version,
            "limit_max_image_pixels": True,  # TorchServe's vision handlers read it
        }
        self.request_ids: dict[int, str] | None = None
        self.request_processor: list[RequestProcessor] | None = None
        self.metrics: Metrics | None = Metrics(None, model_name)
        self.model_yaml_config: dict[str, Any] = {}  # TorchServe's; no model-config.yaml here

    @property
    def system_properties(self) -> dict[str, Any]:
        return self._system_properties

    def get_request_id(self, idx: int = 0) -> str | None:
        if self.request_ids is None:
            return None
        return self.request_ids.get(idx)

    def get_request_header(self, idx: int, key: str) -> Any:
        return self._processor(idx).get_request_property(key)

    def get_all_request_header(self, idx: int) -> dict[str, Any]:
        return self._processor(idx).get_request_properties()

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.set_response_header(idx, "content-type", value)

    def get_response_content_type(self, idx: int) -> str | None:
        return self.get_response_headers(idx).get("content-type")

    def get_response_status(self, idx: int) -> tuple[int, str | None]:
        processor = self._processor(idx)
        return processor.get_response_status_code(), processor.get_response_status_phrase()

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        """Set the status of the request at ``idx`` in the batch's ``data``."""
        if self.request_processor is not None and self.request_processor[idx] is not None:
            self.request_processor[idx].report_status(code, reason_phrase=phrase)

    def set_all_response_status(self, code: int = 200, phrase: str = "") -> None:
        for processor in self.request_processor or []:
            processor.report_status(code, reason_phrase=phrase)

    def get_response_headers(self, idx: int) -> dict[str, str]:
        return self._processor(idx).get_response_headers()

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self._processor(idx).add_response_property(key, value)

    def _processor(self, idx: int) -> RequestProcessor:
        if self.request_processor is None:
            # MMS fails here too; the message says why (a call made while loading).
            raise RuntimeError("there is no request: this context is not handling a batch")
        return self.request_processor[idx]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and self.__dict__ == other.__dict__
