"""The ``context`` a SageMaker inference script's functions may take: the parts of Multi
Model Server's ``Context`` that scripts use (properties, the request's headers and id, the
response's status and headers)."""

from __future__ import annotations

from collections.abc import Mapping

from modelshelf._version import __version__
from modelshelf.core.deploy.invocation import Invocation


class ScriptRequestProcessor:
    """Multi Model Server's holder of one request's headers (names in lower case)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def get_request_property(self, key: str) -> str | None:
        return self._headers.get(key.lower())

    def get_request_properties(self) -> Mapping[str, str]:
        return self._headers


class ScriptContext:
    """The parts of Multi Model Server's ``Context`` that inference scripts use: its
    properties, the request's headers and id, and the response's status and headers."""

    def __init__(self, name: str, model_dir: str, invocation: Invocation | None = None) -> None:
        self.model_name = name
        self.manifest = {"model": {"modelName": name}}
        self.system_properties = {
            "model_dir": model_dir,
            "gpu_id": None,
            "batch_size": 1,
            "server_name": "modelshelf",
            "server_version": __version__,
        }
        self.metrics = None
        # None while the model loads, as Multi Model Server's are before the first request.
        self.request_ids = None if invocation is None else {0: invocation.request_id}
        self.request_processor = (
            None if invocation is None else [ScriptRequestProcessor(invocation.headers)]
        )
        self.status = 200
        self.response_headers: dict[str, str] = {}
        self.response_content_type: str | None = None

    def get_request_id(self, idx: int = 0) -> str | None:
        return self.request_ids.get(idx)

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_processor[idx].get_request_property(key)

    def get_all_request_header(self, idx: int) -> Mapping[str, str]:
        return self.request_processor[idx].get_request_properties()

    def set_response_content_type(self, idx: int, value: str) -> None:
        # Kept for the script to read back: the answer's type is Accept or output_fn's, as
        # the toolkit sets it after the script returns.
        self.response_content_type = value

    def get_response_content_type(self, idx: int) -> str | None:
        return self.response_content_type

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status = code

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = value
